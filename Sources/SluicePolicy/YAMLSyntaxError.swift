import Yams

/// Turns what Yams throws for malformed YAML into a positioned policy error.
enum YAMLSyntaxError {
    static func policyError(for error: any Error, file: String) -> PolicyError {
        func at(_ line: Int, _ column: Int, _ message: String) -> PolicyError {
            PolicyError(file: file, line: line, column: column, message: "invalid YAML: \(message)")
        }
        guard let yamlError = error as? YamlError else { return at(1, 1, "\(error)") }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            // libyaml's context reads as the start of the sentence: "while scanning a simple
            // key, could not find expected ':'".
            let message = context.map { "\($0.text), \(problem)" } ?? problem
            return at(mark.line, mark.column, message)
        case .reader(let problem, let offset, _, let yaml):
            let (line, column) = lineAndColumn(ofCharacterOffset: offset ?? 0, in: yaml)
            return at(line, column, problem)
        default:
            return at(1, 1, "\(yamlError)")
        }
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
