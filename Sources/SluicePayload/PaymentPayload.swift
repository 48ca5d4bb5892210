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
/// equal after ASCII case folding (plus U+212A→k, U+017F→s), are refused as `duplicate_key`:
/// first-wins, last-wins and case-insensitive decoders (Go's encoding/json) would each pick a
/// different one. Lookup itself is exact.
public struct PaymentPayload: Sendable {
    public let format: PayloadFormat
    /// Every field in document order, named by full path. A JSON container appears (as an
    /// `.object` / `.array` marker) before its members.
    public let fields: [PayloadField]
    /// The top-level name/value pairs in document order, named by their own key: every XML child
    /// of `<xml>`, every form pair, every member of the JSON top-level object (containers as
    /// markers). Signature canonicalisation (WeChat v2 and Alipay sort these) reads exactly this.
    /// Made on each call: a top-level path is the only kind without a `.` (keys may not contain
    /// one; XML and form names are flat), so only the guards that sort fields pay for a list.
    public var topLevelFields: [PayloadField] {
        fields.filter { !$0.name.utf8.contains(UInt8(ascii: ".")) }
    }
    /// Case-folded path -> index in `fields` (paths are unique even after folding).
    private let index: FoldedPathIndex

    init(format: PayloadFormat, fields: [PayloadField], index: FoldedPathIndex) {
        self.format = format
        self.fields = fields
        self.index = index
    }

    /// The value at a field path (`"mchid"`, `"amount.total"`, `"items.0.name"`), or nil.
    /// Exact match: `payload["MCHID"]` does not find `mchid`.
    public subscript(path: String) -> PayloadValue? {
        value(at: path, hash: FoldedPathHasher.hash(path))
    }

    /// The value at a path prepared once (`PayloadPath`), or nil. Exact match, as `self[path]`.
    public subscript(path: PayloadPath) -> PayloadValue? {
        value(at: path.path, hash: path.hash)
    }

    private func value(at path: String, hash: UInt64) -> PayloadValue? {
        // Paths are unique after folding, so at most one position has this hash and this name.
        guard let k = index.first(hash: hash, where: { [fields] k in fields[k].name == path }) else { return nil }
        return fields[k].value
    }

    /// True if the path names a field.
    public func contains(_ path: String) -> Bool { self[path] != nil }

    /// Parses `bytes` as `format`. One pass over the bytes; strings are built from validated
    /// slices. Throws on anything a differently-lenient backend parser could read differently.
    public static func parse(_ bytes: UnsafeRawBufferPointer, format: PayloadFormat,
                             limits: PayloadLimits = .default) throws(PayloadError) -> PaymentPayload {
        let result = bytes.withMemoryRebound(to: UInt8.self) { p in
            Result { () throws(PayloadError) -> PaymentPayload in try parseBytes(p, format: format, limits: limits) }
        }
        return try result.get()
    }

    /// Parses any byte collection (`[UInt8]`, `String.UTF8View`, `ArraySlice<UInt8>`, …). Contiguous
    /// storage is read in place; anything else is copied once.
    public static func parse<C: Collection<UInt8>>(_ bytes: C, format: PayloadFormat,
                                                 limits: PayloadLimits = .default) throws(PayloadError) -> PaymentPayload {
        let inPlace = bytes.withContiguousStorageIfAvailable { p in
            Result { () throws(PayloadError) -> PaymentPayload in try parseBytes(p, format: format, limits: limits) }
        }
        if let inPlace { return try inPlace.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { p in
            Result { () throws(PayloadError) -> PaymentPayload in try parseBytes(p, format: format, limits: limits) }
        }.get()
    }

    static func parseBytes(_ p: Bytes, format: PayloadFormat, limits: PayloadLimits) throws(PayloadError) -> PaymentPayload {
        switch format {
        case .json:
            var parser = JSONParser(p, limits: limits)
            return try parser.parse()
        case .xml:
            var parser = XMLParser(p, limits: limits)
            return try parser.parse()
        case .form:
            var parser = FormParser(p, limits: limits)
            return try parser.parse()
        }
    }
}
