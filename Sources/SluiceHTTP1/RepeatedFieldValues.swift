import Glibc

/// The long field values of the previous head on one connection, by the field's position. The
/// heads a connection carries mostly repeat them (a backend's `Content-Type`, `Server`, and
/// `Date` within the same second), and a value equal to the one at the same position last time
/// is that string again, retained, instead of a new one allocated and copied. Only values a
/// Swift string cannot hold inline (over 15 bytes) are kept, at most `slots` of them and each at
/// most `longest` bytes, so what a connection holds stays small (backend connections keep them;
/// client connections, which may idle by the thousand, keep none).
struct RepeatedFieldValues {
    private var values: [String] = []
    private let slots: Int

    static let inlineLimit = 15
    static let longest = 256

    /// `slots` 0: keeps nothing (every value is a new string).
    init(slots: Int) {
        self.slots = slots
    }

    /// The value at `range`, for the field at `position` in its head.
    mutating func string(_ bytes: HeadBytes, _ range: Range<Int>, position: Int) -> String {
        guard range.count > Self.inlineLimit, position < slots, range.count <= Self.longest else { return bytes.string(range) }
        if position < values.count, Self.equal(values[position], bytes, range) { return values[position] }
        let made = bytes.string(range)
        if position >= values.count { values.append(contentsOf: repeatElement("", count: position - values.count + 1)) }
        values[position] = made
        return made
    }

    private static func equal(_ kept: String, _ bytes: HeadBytes, _ range: Range<Int>) -> Bool {
        guard kept.utf8.count == range.count else { return false }
        return kept.utf8.withContiguousStorageIfAvailable { stored in
            memcmp(stored.baseAddress!, bytes.bytes.baseAddress! + range.lowerBound, range.count) == 0
        } ?? false
    }
}
