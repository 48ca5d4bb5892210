import Foundation
import Yams

/// Reads a policy set into a validated `PolicySnapshot`, or reports every problem in it.
///
/// A set is several YAML files merged in file-name order: each file is a mapping of `server`,
/// `listeners`, `clusters` and `routes`; the lists are concatenated and `server` may appear in
/// one file only. Unknown keys are errors everywhere, so a typo can never silently disable a
/// setting.
public enum PolicyLoader {
    /// Every `*.yaml` and `*.yml` file in `directory` (not its subdirectories, not hidden files),
    /// sorted by file name.
    /// `sections` are the guard modules' parts of the format (the server's guard registry gives them).
    public static func load(directory: String, sections: [any GuardPolicySection] = []) throws(PolicyLoadError) -> PolicySnapshot {
        try build(try sourceTexts(directory: directory), origin: directory, sections: sections)
    }

    /// The policy files of `directory` and their texts, sorted by file name (what `load` reads).
    public static func sourceTexts(directory: String) throws(PolicyLoadError) -> [(path: String, text: String)] {
        let directoryError = { (message: String) in
            PolicyLoadError(errors: [PolicyError(file: directory, line: 1, column: 1, message: message)])
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw directoryError("cannot read policy directory")
        }
        let policyNames = names.filter(isPolicyFileName).sorted()
        guard !policyNames.isEmpty else { throw directoryError("no policy files (*.yaml, *.yml) in directory") }

        var sources: [(path: String, text: String)] = []
        var unreadable: [PolicyError] = []
        for name in policyNames {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            let bytes: [UInt8]
            switch FileBytes.read(path) {
            case .success(let read): bytes = read
            case .failure(let failure):
                unreadable.append(PolicyError(file: path, line: 1, column: 1, message: "cannot read file: \(failure.reason)"))
                continue
            }
            if let text = String(validating: bytes, as: UTF8.self) {
                sources.append((path, text))
            } else {
                let (line, column) = Self.firstInvalidUTF8(in: bytes)
                unreadable.append(PolicyError(file: path, line: line, column: column, message: "not UTF-8 text (a byte here is not valid UTF-8)"))
            }
        }
        guard unreadable.isEmpty else { throw PolicyLoadError(errors: unreadable) }
        return sources
    }

    /// Where the first byte that is not valid UTF-8 is (line and column, 1-based, columns in
    /// characters of the valid text before it).
    static func firstInvalidUTF8(in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1, column = 1, index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length = lead < 0x80 ? 1 : lead >= 0xC2 && lead < 0xE0 ? 2 : lead >= 0xE0 && lead < 0xF0 ? 3 : lead >= 0xF0 && lead < 0xF5 ? 4 : 0
            guard length > 0, index + length <= bytes.count,
                  String(validating: bytes[index..<index + length], as: UTF8.self) != nil else { return (line, column) }
            if lead == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
            index += length
        }
        return (line, column)
    }

    /// The same from texts in hand, in the order given (tests, reload from memory). Problems of
    /// the set as a whole are reported against the first file's directory.
    public static func load(sources: [(path: String, text: String)],
                            sections: [any GuardPolicySection] = []) throws(PolicyLoadError) -> PolicySnapshot {
        let origin = sources.first.map { directoryPart(of: $0.path) } ?? "."
        guard !sources.isEmpty else {
            throw PolicyLoadError(errors: [PolicyError(file: origin, line: 1, column: 1, message: "no policy files")])
        }
        return try build(sources, origin: origin, sections: sections)
    }

    private static func build(_ sources: [(path: String, text: String)], origin: String,
                              sections: [any GuardPolicySection]) throws(PolicyLoadError) -> PolicySnapshot {
        let diagnostics = Diagnostics()
        var fragments: [PolicyFragment] = []
        for source in sources {
            let reader = PolicyFileReader(path: source.path, diagnostics: diagnostics,
                                          ownedTopLevelKeys: sections.flatMap(\.topLevelKeys), ownedRouteKeys: sections.flatMap(\.routeKeys))
            if let problem = YAMLNesting.problem(in: source.text) {
                fragments.append(PolicyFragment(isUnderstood: false))
                diagnostics.report(problem.message, at: SourcePosition(file: source.path, line: problem.line, column: problem.column))
                continue
            }
            do {
                let root = try Yams.compose(yaml: source.text)
                fragments.append(reader.readFragment(root))
            } catch {
                let syntaxError = YAMLSyntaxError.policyError(for: error, file: source.path)
                fragments.append(PolicyFragment(isUnderstood: false))
                diagnostics.report(syntaxError.message,
                                   at: SourcePosition(file: syntaxError.file, line: syntaxError.line, column: syntaxError.column))
            }
        }
        let snapshot = PolicyAssembler(diagnostics: diagnostics, origin: origin, sections: sections)
            .assemble(fragments, sourceFiles: sources.map(\.path))
        guard diagnostics.errors.isEmpty else {
            throw PolicyLoadError(errors: diagnostics.sortedErrors(fileOrder: sources.map(\.path)))
        }
        return snapshot
    }

    /// Whether the loader reads a file of this name in the policy directory.
    public static func isPolicyFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
    }

    private static func directoryPart(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
