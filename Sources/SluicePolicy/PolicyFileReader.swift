import Yams

/// Reads the nodes of one policy file into policy values, reporting each problem at its node's
/// position. Every reading method returns nil for a value it could not read, after reporting why.
///
/// Public so that guard modules read their own policy sections (`GuardPolicySection`) with the
/// same `file:line:column` diagnostics, strict keys and scalar forms as the rest of the policy.
public final class PolicyFileReader {
    public let path: String
    let diagnostics: Diagnostics
    /// Top-level and route keys that guard modules own: allowed, and handed to their owners.
    let ownedTopLevelKeys: [String]
    let ownedRouteKeys: [String]

    init(path: String, diagnostics: Diagnostics, ownedTopLevelKeys: [String] = [], ownedRouteKeys: [String] = []) {
        self.path = path
        self.diagnostics = diagnostics
        self.ownedTopLevelKeys = ownedTopLevelKeys
        self.ownedRouteKeys = ownedRouteKeys
    }

    public func position(of node: Node) -> SourcePosition {
        SourcePosition(file: path, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    public func report(_ message: String, at node: Node) {
        diagnostics.report(message, at: position(of: node))
    }

    /// The text of a scalar. An empty value (`key:` with nothing after it) resolves to YAML null
    /// and counts as missing, so it is reported as the wrong type rather than read as "".
    public func text(_ node: Node, expected: String) -> String? {
        guard let scalar = node.scalar, !node.isNull else {
            report("expected \(expected)", at: node)
            return nil
        }
        return scalar.string
    }

    public func list(_ node: Node, expected: String) -> [Node]? {
        guard let sequence = node.sequence else {
            report("expected \(expected)", at: node)
            return nil
        }
        return Array(sequence)
    }

    /// Unwraps a parse result of the scalar's text, reporting the failure at the node.
    public func parsed<Value>(_ node: Node, expected: String,
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
    public var isNull: Bool { scalar != nil && tag.description == Tag.Name.null.rawValue }
}
