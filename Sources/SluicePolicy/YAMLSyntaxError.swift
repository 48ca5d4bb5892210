import Yams

/// Turns what Yams throws for malformed YAML into a positioned policy error.
enum YAMLSyntaxError {
    static func policyError(for error: any Error, file: String) -> PolicyError {
        func at(_ line: Int, _ column: Int, _ message: String) -> PolicyError {
            PolicyError(file: file, line: line, column: column, message: "invalid YAML: \(message)")
        }
        guard let yamlError = error as? YamlError else { return at(1, 1, "\(error)") }
        switch yamlError {
        case .scanner(let context, let problem, let mark, let yaml),
             .parser(let context, let problem, let mark, let yaml),
             .composer(let context, let problem, let mark, let yaml):
            // libyaml's context reads as the start of the sentence: "while scanning a simple
            // key, could not find expected ':'".
            let message = context.map { "\($0.text), \(problem)" } ?? problem
            // libyaml moves the end of a stream that lacks a final line break to a line of its
            // own, one past the file's last: point at the end of the last line instead.
            let end = endOfText(yaml)
            if mark.line > end.line { return at(end.line, end.column, message) }
            return at(mark.line, mark.column, message)
        case .reader(let problem, let offset, _, let yaml):
            let (line, column) = lineAndColumn(ofCharacterOffset: offset ?? 0, in: yaml)
            return at(line, column, problem)
        default:
            return at(1, 1, "\(yamlError)")
        }
    }

    /// The line and column just past the last character, counted as libyaml counts: lines
    /// end at LF, CR LF, CR, NEL, LS or PS; columns are Unicode scalars.
    static func endOfText(_ text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n" where previous == "\r":
                break
            case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}":
                line += 1
                column = 1
            default:
                column += 1
            }
            previous = scalar
        }
        return (line, column)
    }

    private static func lineAndColumn(ofCharacterOffset offset: Int, in text: String) -> (Int, Int) {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
