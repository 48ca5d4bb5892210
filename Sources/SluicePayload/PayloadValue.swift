/// One field's value, kept as the text that was sent plus what kind of token it was.
///
/// Numbers are never converted through `Double`: `100`, `100.0` and `1e2` are three different
/// literals, and a signature or amount check must see exactly what the backend will see. Ask for
/// `integerValue` when an integer is required; it refuses anything but a plain integer literal.
public struct PayloadValue: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A JSON string; `text` is the decoded string.
        case string
        /// A JSON number; `text` is the literal token exactly as sent (`"100"`, `"1e2"`, `"-0"`).
        case number
        /// A JSON `true` / `false`; `text` is the literal.
        case bool
        /// A JSON `null`; `text` is `"null"`.
        case null
        /// A JSON object; its members are separate fields under this path. `text` is empty.
        case object
        /// A JSON array; its elements are separate fields `path.0`, `path.1`, … `text` is empty.
        case array
        /// An XML element's or form pair's value: decoded text from a format without types.
        case text
    }

    public let kind: Kind
    /// The value's UTF-8 bytes: a slice of the body (or of the parser's buffer of decoded
    /// strings), so a parse makes no String per value; `text` makes one when asked.
    @usableFromInline let bytes: ArraySlice<UInt8>

    public init(kind: Kind, text: String) {
        self.kind = kind
        bytes = ArraySlice(text.utf8)
    }

    init(kind: Kind, bytes: ArraySlice<UInt8>) {
        self.kind = kind
        self.bytes = bytes
    }

    /// The decoded string, or the literal token for numbers, booleans and null. Made on each
    /// call; `withUTF8` reads the bytes without making one.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Whether `text` is empty (without making it).
    public var isEmpty: Bool { bytes.isEmpty }

    /// Calls `body` with the UTF-8 bytes of `text`, in place.
    @inlinable
    public func withUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer(body)
    }

    /// The value as an `Int64`, only for a number (or untyped XML/form text) spelled
    /// `-?(0|[1-9][0-9]*)` that fits. `100.0`, `1e2`, the JSON *string* `"100"`, `007`, ` 1` and
    /// `+1` are all `nil`: each could be read differently by some backend.
    public var integerValue: Int64? {
        guard kind == .number || kind == .text else { return nil }
        return parseCanonicalInt64(bytes)
    }

    /// `integerValue` of a value of `kind` spelled `bytes` (read in place, `PayloadFields`).
    public static func integer(_ kind: Kind, _ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard kind == .number || kind == .text else { return nil }
        return parseCanonicalInt64(bytes)
    }

    /// The text of a JSON string or of an untyped XML/form value; `nil` for other kinds, so a
    /// number or `null` is never mistaken for a string.
    public var stringValue: String? {
        kind == .string || kind == .text ? text : nil
    }

    /// `true` / `false` for a JSON boolean, otherwise `nil`.
    public var boolValue: Bool? {
        kind == .bool ? bytes.first == UInt8(ascii: "t") : nil
    }

    public var isNull: Bool { kind == .null }
    public var isContainer: Bool { kind == .object || kind == .array }

    public static func == (lhs: PayloadValue, rhs: PayloadValue) -> Bool {
        lhs.kind == rhs.kind && lhs.bytes.elementsEqual(rhs.bytes)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public var description: String {
        switch kind {
        case .string, .text: return quoted(text)
        case .number, .bool, .null: return text
        case .object: return "{…}"
        case .array: return "[…]"
        }
    }
}

/// A name and its value. In `PaymentPayload.fields` the name is the full path (`amount.total`); in
/// `topLevelFields` it is the top-level key or element name.
public struct PayloadField: Sendable, Hashable {
    public let name: String
    public let value: PayloadValue

    public init(name: String, value: PayloadValue) {
        self.name = name
        self.value = value
    }
}

/// `-?(0|[1-9][0-9]*)` within Int64 range, else nil. Accumulates negatively so Int64.min fits.
func parseCanonicalInt64<Digits: Sequence<UInt8>>(_ text: Digits) -> Int64? {
    var utf8 = text.makeIterator()
    guard var byte = utf8.next() else { return nil }
    var negative = false
    if byte == UInt8(ascii: "-") {
        negative = true
        guard let next = utf8.next() else { return nil }
        byte = next
    }
    guard byte >= 0x30 && byte <= 0x39 else { return nil }
    var value = -Int64(byte - 0x30)
    let leadingZero = byte == 0x30
    while let next = utf8.next() {
        guard next >= 0x30 && next <= 0x39, !leadingZero else { return nil }
        let (times, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times.subtractingReportingOverflow(Int64(next - 0x30))
        if o1 || o2 { return nil }
        value = sum
    }
    if negative { return value }
    return value == Int64.min ? nil : -value
}
