/// Collects every problem found while reading a policy set. Readers report and carry on, so one
/// `sluice check` run lists all the mistakes, not just the first.
final class Diagnostics {
    private(set) var errors: [PolicyError] = []

    func report(_ message: String, at position: SourcePosition) {
        errors.append(PolicyError(file: position.file, line: position.line, column: position.column,
                                  message: Self.oneLine(message)))
    }

    /// Every error is one `file:line:column: message` line, also when the message quotes a
    /// value with a line break or another control character (a quoted YAML scalar can hold
    /// any): such characters are written as escapes, `\n`, `\r`, `\u{85}`. A tab stays.
    static func oneLine(_ message: String) -> String {
        func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.properties.generalCategory {
            case .control: scalar != "\t"
            case .lineSeparator, .paragraphSeparator: true
            default: false
            }
        }
        guard message.unicodeScalars.contains(where: needsEscape) else { return message }
        var escaped = ""
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case _ where needsEscape(scalar): escaped += "\\u{\(String(scalar.value, radix: 16))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// The errors in reading order: by file (as the files were merged), then line, then column.
    /// Problems found across files (duplicates, dangling references) are discovered late but
    /// belong beside their neighbours; problems of the whole set (a path outside `files`) go last.
    func sortedErrors(fileOrder files: [String]) -> [PolicyError] {
        let rank = Dictionary(files.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return errors.enumerated().sorted { left, right in
            let leftKey = (rank[left.element.file] ?? files.count, left.element.line, left.element.column, left.offset)
            let rightKey = (rank[right.element.file] ?? files.count, right.element.line, right.element.column, right.offset)
            return leftKey < rightKey
        }.map(\.element)
    }
}
