/// Header fields in arrival order. Names are stored lower-cased (HTTP field names are
/// case-insensitive, and HTTP/2 requires lower case), so lookups are plain comparisons.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var fields: [Field]

    public init() { fields = [] }

    public init(reservingCapacity capacity: Int) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    public mutating func reserveCapacity(_ capacity: Int) { fields.reserveCapacity(capacity) }

    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { Field(name: $0.0.lowercased(), value: $0.1) }
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// Appends a field whose name the caller guarantees is already lower-case. The strings are
    /// taken, not borrowed: a caller done with them (a parser's fresh strings) hands them over
    /// without the retain and release a copy would cost.
    public mutating func appendLowercased(name: consuming String, value: consuming String) {
        fields.append(Field(name: name, value: value))
    }

    /// Inserts a field whose name is already lower-case at `index` (0: first).
    public mutating func insertLowercased(name: consuming String, value: consuming String, at index: Int) {
        fields.insert(Field(name: name, value: value), at: index)
    }

    public mutating func add(name: String, value: String) {
        fields.append(Field(name: Self.lowercase(name), value: value))
    }

    /// Replaces every field of that name with one field.
    public mutating func set(name: String, value: String) {
        let lower = Self.lowercase(name)
        remove(name: lower)
        fields.append(Field(name: lower, value: value))
    }

    public mutating func remove(name: String) {
        let lower = Self.lowercase(name)
        guard fields.contains(where: { Self.same($0.name, lower) }) else { return }
        fields.removeAll { Self.same($0.name, lower) }
    }

    /// Callers mostly pass lower-case literals: check before paying for `lowercased()`. The check
    /// reads the bytes in place (a loop over `utf8` costs about a hundred instructions a name).
    @inline(__always)
    static func lowercase(_ name: String) -> String {
        let hasUpper = name.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.contains { $0 &- UInt8(ascii: "A") < 26 }
        } ?? name.utf8.contains { $0 &- UInt8(ascii: "A") < 26 }
        return hasUpper ? name.lowercased() : name
    }

    /// Equal names. Most fields a lookup passes differ in length, and comparing the lengths
    /// first (known without reading the bytes) spares a call into String's comparison for each.
    @inline(__always)
    static func same(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a == b
    }

    /// True when `name` is `field` (lower-case letters, digits and `-`) as a CGI-style server
    /// sees it: CGI, WSGI, PHP and lighttpd's FastCGI turn every byte of a field name that is not
    /// a letter or digit into `_` (`HTTP_X_SLUICE_MERCHANT`), so `x_sluice_merchant`,
    /// `x.sluice.merchant` or `x+sluice~merchant` are that field to them.
    public static func sameAsVariable(_ name: String, _ field: String) -> Bool {
        name.utf8.count == field.utf8.count && name.utf8.elementsEqual(field.utf8) { byte, expected in
            expected == UInt8(ascii: "-") ? !isAlphanumeric(byte) : byte | (isLetter(byte) ? 0x20 : 0) == expected
        }
    }

    /// Whether `name` holds a byte other than a lower-case letter, a digit or `-`: only such a
    /// name can be another spelling of a field (a cheap test before `sameAsVariable`).
    public static func mayBeRespelled(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { $0.contains { !(($0 &- UInt8(ascii: "a") < 26) || isDigit($0) || $0 == UInt8(ascii: "-")) } }
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) &- UInt8(ascii: "a") < 26 }
    private static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }
    private static func isAlphanumeric(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) }

    /// Removes every field named `name` in any spelling `sameAsVariable` allows: for a field the
    /// gateway sets, which a backend must never take from a client.
    public mutating func removeAllSpellings(of name: String) {
        let lower = Self.lowercase(name)
        guard fields.contains(where: { Self.sameAsVariable($0.name, lower) }) else { return }
        fields.removeAll { Self.sameAsVariable($0.name, lower) }
    }

    /// Removes the fields that are `name` to a CGI-style backend (`sameAsVariable`) but not
    /// spelled `name` (`idempotency_key` for `idempotency-key`): a guard reads the one spelling,
    /// and a backend must not read another copy it did not check.
    public mutating func removeRespellings(of name: String) {
        let lower = Self.lowercase(name)
        guard fields.contains(where: { Self.mayBeRespelled($0.name) && !Self.same($0.name, lower) && Self.sameAsVariable($0.name, lower) })
        else { return }
        fields.removeAll { !Self.same($0.name, lower) && Self.sameAsVariable($0.name, lower) }
    }

    public mutating func removeAll(where shouldRemove: (Field) -> Bool) {
        fields.removeAll(where: shouldRemove)
    }

    /// The first value of that field, or nil.
    public subscript(name: String) -> String? {
        let lower = Self.lowercase(name)
        for field in fields where Self.same(field.name, lower) { return field.value }
        return nil
    }

    public func values(for name: String) -> [String] {
        let lower = Self.lowercase(name)
        return fields.compactMap { Self.same($0.name, lower) ? $0.value : nil }
    }

    public func contains(name: String) -> Bool { self[name] != nil }

    /// How many fields have that name (no value copied).
    public func count(of name: String) -> Int {
        let lower = Self.lowercase(name)
        var count = 0
        for field in fields where Self.same(field.name, lower) { count += 1 }
        return count
    }

    /// The comma-separated tokens of every field of that name, lower-cased and trimmed
    /// (for `Connection`, `Transfer-Encoding`, `Expect`).
    public func tokens(for name: String) -> [String] {
        var tokens: [String] = []
        forEachToken(for: name) { token in
            tokens.append(String(unsafeUninitializedCapacity: token.count) { buffer in
                for (index, byte) in token.enumerated() { buffer[index] = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte }
                return token.count
            })
        }
        return tokens
    }

    /// The same tokens as `tokens(for:)`, trimmed but as they were spelled (compare them with
    /// `Self.token(_:equals:)`), read on the field's bytes without making strings or arrays:
    /// every response with `Connection: keep-alive` comes through here.
    public func forEachToken(for name: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        let lower = Self.lowercase(name)
        for field in fields where Self.same(field.name, lower) {
            var value = field.value
            value.withUTF8 { bytes in
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
                    var (first, last) = (start, end)
                    while first < last && (bytes[first] == UInt8(ascii: " ") || bytes[first] == UInt8(ascii: "\t")) { first += 1 }
                    while last > first && (bytes[last - 1] == UInt8(ascii: " ") || bytes[last - 1] == UInt8(ascii: "\t")) { last -= 1 }
                    if first < last { body(UnsafeBufferPointer(rebasing: bytes[first..<last])) }
                    start = end + 1
                }
            }
        }
    }

    /// Whether a token equals a lower-case `expected`, ignoring ASCII case.
    public static func token(_ token: UnsafeBufferPointer<UInt8>, equals expected: StaticString) -> Bool {
        guard token.count == expected.utf8CodeUnitCount else { return false }
        for index in 0..<token.count {
            let byte = token[index]
            guard (byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte) == expected.utf8Start[index] else { return false }
        }
        return true
    }
}
