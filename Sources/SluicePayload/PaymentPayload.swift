/// The fields of one request body, extracted strictly, for guards (merchant signatures,
/// idempotency keys, amount checks) to read by name.
///
/// Field paths:
/// - JSON: member names joined with `.` through objects, array elements by decimal index with the
///   same separator: `amount.total`, `items.0.name`. Because `.` is the separator, a JSON key that
///   contains `.` is refused (`invalid_key`); otherwise `{"a.b":1,"a":{"b":2}}` would give one path
///   two values. Empty keys and keys with control characters are refused too.
/// - XML and form: flat; the path is the element or form name (`[A-Za-z0-9_-]` only).
///
/// The top-level object itself has no path; `payload[""]` is nil.
///
/// Duplicates: two keys in one object (or two XML children, two form names) that are equal, or
/// equal after ASCII case folding (plus U+212A→k, U+017F→s, U+0130/U+0131→i, and `_`/`-` ignored as fastjson ignores them), are refused as `duplicate_key`:
/// first-wins, last-wins and case-insensitive decoders (Go's encoding/json) would each pick a
/// different one. Lookup itself is exact.
public struct PaymentPayload: Sendable {
    public let format: PayloadFormat
    let storage: PayloadStorage

    init(format: PayloadFormat, storage: PayloadStorage) {
        self.format = format
        self.storage = storage
    }

    /// Every field in document order, named by full path. A JSON container appears (as an
    /// `.object` / `.array` marker) before its members. Built on each call (the parse keeps
    /// positions, not Strings); a guard that reads a few fields looks them up instead.
    public var fields: [PayloadField] { storage.allFields() }

    /// How many fields `fields` has.
    public var fieldCount: Int { storage.entries.count }

    /// The top-level name/value pairs in document order, named by their own key: every XML child
    /// of `<xml>`, every form pair, every member of the JSON top-level object (containers as
    /// markers). Signature canonicalisation (WeChat v2 and Alipay sort these) reads exactly this.
    public var topLevelFields: [PayloadField] {
        storage.entries.indices.filter { storage.entries[$0].parent < 0 }
            .map { PayloadField(name: storage.name($0), value: storage.value($0)) }
    }

    /// The value at a field path (`"mchid"`, `"amount.total"`, `"items.0.name"`), or nil.
    /// Exact match: `payload["MCHID"]` does not find `mchid`.
    public subscript(path: String) -> PayloadValue? {
        value(at: path, hash: FoldedPathHasher.hash(path))
    }

    /// The value at a path prepared once (`PayloadPath`), or nil. Exact match, as `self[path]`.
    public subscript(path: PayloadPath) -> PayloadValue? {
        guard let k = path.utf8.withUnsafeBufferPointer({ storage.find($0, hash: path.hash) }) else { return nil }
        return storage.value(k)
    }

    private func value(at path: String, hash: UInt64) -> PayloadValue? {
        // Paths are unique after folding, so at most one field has this hash and this path.
        guard let k = withUTF8Bytes(path, { storage.find($0, hash: hash) }) else { return nil }
        return storage.value(k)
    }

    /// Parses `bytes` as `format`. One pass over the bytes; names and values stay where they
    /// are in `bytes` (kept, not copied) unless they had to be decoded. Throws on anything a
    /// differently-lenient backend parser could read differently.
    public static func parse(_ bytes: [UInt8], format: PayloadFormat,
                             limits: PayloadLimits = .default) throws(PayloadError) -> PaymentPayload {
        try bytes.withUnsafeBufferPointer { p in
            Result { () throws(PayloadError) -> PaymentPayload in try parseBytes(p, of: bytes, format: format, limits: limits) }
        }.get()
    }

    /// Parses a copy of `bytes`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, format: PayloadFormat,
                             limits: PayloadLimits = .default) throws(PayloadError) -> PaymentPayload {
        try parse(Array(bytes), format: format, limits: limits)
    }

    /// Parses a copy of any byte collection (`String.UTF8View`, `ArraySlice<UInt8>`, …).
    public static func parse<C: Collection<UInt8>>(_ bytes: C, format: PayloadFormat,
                                                 limits: PayloadLimits = .default) throws(PayloadError) -> PaymentPayload {
        try parse(Array(bytes), format: format, limits: limits)
    }

    static func parseBytes(_ p: Bytes, of body: [UInt8], format: PayloadFormat, limits: PayloadLimits) throws(PayloadError) -> PaymentPayload {
        switch format {
        case .json:
            var parser = JSONParser(p, limits: limits)
            return try parser.parse().finish(format: .json, body: body)
        case .xml:
            var parser = XMLParser(p, limits: limits)
            return try parser.parse().finish(format: .xml, body: body)
        case .form:
            var parser = FormParser(p, limits: limits)
            return try parser.parse().finish(format: .form, body: body)
        }
    }
}

/// The UTF-8 bytes of a string, in place when it is stored contiguously, else from a copy.
@inline(__always)
func withUTF8Bytes<R>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
    return Array(text.utf8).withUnsafeBufferPointer(body)
}
