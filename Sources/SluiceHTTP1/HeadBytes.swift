/// Read-only helpers over the bytes of one head: comparisons and String extraction on index
/// ranges, so that a String is made only for a field that is kept.
struct HeadBytes {
    let bytes: UnsafeRawBufferPointer

    @inline(__always)
    subscript(index: Int) -> UInt8 { bytes[index] }

    /// `range` without leading and trailing SP / HTAB.
    func trimmed(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, ASCII.isWhitespace(bytes[lower]) { lower += 1 }
        while upper > lower, ASCII.isWhitespace(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    /// Whether the bytes in `range` equal `literal` exactly.
    func equals(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        compare(range, literal, fold: false)
    }

    /// Whether the bytes in `range` equal the lower-case `literal`, ignoring ASCII case.
    func equalsIgnoringCase(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        compare(range, literal, fold: true)
    }

    private func compare(_ range: Range<Int>, _ literal: StaticString, fold: Bool) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        var offset = 0
        for index in range {
            let byte = fold ? ASCII.lowercased(bytes[index]) : bytes[index]
            if byte != expected[offset] { return false }
            offset += 1
        }
        return true
    }

    /// The bytes as a String (invalid UTF-8, only possible as obs-text in values, is repaired).
    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// The bytes of a token, ASCII lower-cased, written straight into the new String.
    func lowercasedString(_ range: Range<Int>) -> String {
        String(unsafeUninitializedCapacity: range.count) { buffer in
            var offset = 0
            for index in range {
                buffer[offset] = ASCII.lowercased(bytes[index])
                offset += 1
            }
            return offset
        }
    }

    /// Calls `body` with each comma-separated element of `range`, trimmed; empty elements skipped.
    func forEachListElement(_ range: Range<Int>, _ body: (Range<Int>) throws(HTTP1Error) -> Void) throws(HTTP1Error) {
        var start = range.lowerBound
        var index = range.lowerBound
        while index <= range.upperBound {
            if index == range.upperBound || bytes[index] == ASCII.comma {
                let element = trimmed(start..<index)
                if !element.isEmpty { try body(element) }
                start = index + 1
            }
            index += 1
        }
    }
}
