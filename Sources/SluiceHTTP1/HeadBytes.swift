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

    /// Whether every byte in `range` may appear in a field value (`ASCII.isFieldValueByte`).
    /// Eight bytes at a time: a word with no byte below 0x20 and none equal to 0x7F is fine as it
    /// is (bytes from 0x80 are obs-text, allowed), and only a word with a tab or a bad byte is
    /// looked at byte by byte. Values are most of a head's bytes.
    func allFieldValueBytes(_ range: Range<Int>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var index = range.lowerBound
        while index + 8 <= range.upperBound {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let control = (word &- ones &* 0x20) & ~word & highs
            let delete = ((word ^ (ones &* 0x7F)) &- ones) & ~(word ^ (ones &* 0x7F)) & highs
            if control | delete != 0 {
                for offset in index..<index + 8 where !ASCII.isFieldValueByte(bytes[offset]) { return false }
            }
            index += 8
        }
        while index < range.upperBound {
            if !ASCII.isFieldValueByte(bytes[index]) { return false }
            index += 1
        }
        return true
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
