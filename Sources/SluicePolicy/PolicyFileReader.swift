import Yams

/// Reads the nodes of one policy file into policy values, reporting each problem at its node's
/// position. Every reading method returns nil for a value it could not read, after reporting why.
final class PolicyFileReader {
    let path: String
    let diagnostics: Diagnostics

    init(path: String, diagnostics: Diagnostics) {
        self.path = path
        self.diagnostics = diagnostics
    }

    func position(of node: Node) -> SourcePosition {
        SourcePosition(file: path, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    func report(_ message: String, at node: Node) {
        diagnostics.report(message, at: position(of: node))
    }

    /// The text of a scalar. An empty value (`key:` with nothing after it) resolves to YAML null
    /// and counts as missing, so it is reported as the wrong type rather than read as "".
    func text(_ node: Node, expected: String) -> String? {
        guard let scalar = node.scalar, !node.isNull else {
            report("expected \(expected)", at: node)
            return nil
        }
        return scalar.string
    }

    func list(_ node: Node, expected: String) -> [Node]? {
        guard let sequence = node.sequence else {
            report("expected \(expected)", at: node)
            return nil
        }
        return Array(sequence)
    }

    /// Unwraps a parse result of the scalar's text, reporting the failure at the node.
    func parsed<Value>(_ node: Node, expected: String,
                       _ parse: (String) -> Result<Value, SyntaxProblem>) -> Value? {
        guard let text = text(node, expected: expected) else { return nil }
        switch parse(text) {
        case .success(let value): return value
        case .failure(let problem):
            report(problem.message, at: node)
            return nil
        }
    }
}

extension Node {
    /// A resolved YAML null: `key:` with nothing after it, `~` or `null`, but not the quoted
    /// string "null".
    var isNull: Bool { scalar != nil && tag.description == Tag.Name.null.rawValue }
}
