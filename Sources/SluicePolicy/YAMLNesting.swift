/// A bound on how deeply a policy file nests, checked on its text before Yams reads it: Yams
/// builds nodes recursively, and a file nested a few thousand levels deep (`x: [[[[...]]]]`, made
/// by a generator gone wrong) overflowed the stack: `sluice check` crashed, and so did a running
/// gateway reloading it, where the old policy must keep serving. No policy comes near the bounds.
enum YAMLNesting {
    /// Flow collections (`[`, `{`) open at once.
    static let maximumFlowDepth = 128
    /// Block nesting, as the column where a line's content starts (indentation and `- ` items).
    static let maximumIndentation = 512

    /// The first place the text goes past a bound, with what is wrong; nil when it stays within.
    /// A scan of the YAML's structure only, not a parser: quoted scalars and comments are
    /// skipped, and `[` or `{` counts where a flow collection can start (a value's first
    /// character, or anywhere inside a flow collection).
    static func problem(in text: String) -> (line: Int, column: Int, message: String)? {
        var line = 1
        var column = 0
        var flowDepth = 0
        var quote: UInt8?          // the quote of the scalar we are in
        var atValueStart = true    // the next non-space character starts a value
        var atLineStart = true     // still in the line's indentation or `- ` item markers
        var inComment = false
        var previous: UInt8 = UInt8(ascii: "\n")
        var escaped = false
        for byte in text.utf8 {
            column += 1
            defer { previous = byte }
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 0
                inComment = false
                atLineStart = true
                atValueStart = true
                continue
            }
            if inComment { continue }
            if let open = quote {
                if escaped { escaped = false } else if open == UInt8(ascii: "\"") && byte == UInt8(ascii: "\\") { escaped = true } else if byte == open { quote = nil }
                continue
            }
            let isSpace = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            let isItemMarker = byte == UInt8(ascii: "-") || byte == UInt8(ascii: "?")
            if atLineStart && !isSpace && !isItemMarker {
                atLineStart = false
                if column > maximumIndentation {
                    return (line, column, "nested deeper than \(maximumIndentation) columns: not read (a policy never needs this)")
                }
            }
            let mayOpen = atValueStart || flowDepth > 0
            if byte == UInt8(ascii: "#") && (previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t") || previous == UInt8(ascii: "\n")) {
                inComment = true
            } else if (byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")) && mayOpen {
                quote = byte
            } else if (byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{")) && mayOpen {
                flowDepth += 1
                if flowDepth > maximumFlowDepth {
                    return (line, column, "flow collections nested deeper than \(maximumFlowDepth): not read (a policy never needs this)")
                }
            } else if (byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}")) && flowDepth > 0 {
                flowDepth -= 1
            }
            // A value starts after `: `, `- `, `, ` and an opening bracket, and at a line's start.
            if isSpace {
                atValueStart = atValueStart || previous == UInt8(ascii: ":") || previous == UInt8(ascii: "-")
                    || previous == UInt8(ascii: ",") || previous == UInt8(ascii: "?")
            } else {
                atValueStart = flowDepth > 0 && (byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") || byte == UInt8(ascii: ","))
            }
        }
        return nil
    }
}
