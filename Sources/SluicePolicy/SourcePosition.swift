/// Where something stands in a policy file, for messages that point at an earlier definition.
struct SourcePosition: Equatable, CustomStringConvertible {
    var file: String
    var line: Int
    var column: Int

    var description: String { "\(file):\(line):\(column)" }
}
