/// Collects fields while a parser runs and enforces the rules every format shares: no duplicate
/// names (exact or differing only in letter case), at most `maxFields` fields.
///
/// Duplicates are found through the field paths: JSON keys may not contain `.`, so a path names
/// exactly one position in the document and a repeated path is a repeated key in the same object.
///
/// Nothing per field is a String: names and values are spans of the body or of `decoded`, where
/// a parser puts any string it had to decode.
struct FieldCollector: FieldNaming {
    let limits: PayloadLimits
    /// The body being parsed (valid while the parser runs).
    private let source: Bytes
    private(set) var entries: [FieldEntry] = []
    /// Strings that needed decoding, back to back; spans with `isDecoded` point here.
    var decoded: [UInt8] = []
    /// Case-folded path -> index in `entries`. One table serves both duplicate detection (exact
    /// or differing only in case) and lookup (fold, then compare the exact name).
    private var index = FoldedPathIndex()

    init(source: Bytes, limits: PayloadLimits) {
        self.source = source
        self.limits = limits
        entries.reserveCapacity(16)
    }

    func string(_ span: ByteSpan) -> String {
        if span.isDecoded { return String(decoding: decoded[span.start..<span.end], as: UTF8.self) }
        return UTF8Bytes.string(source, span.start..<span.end)
    }

    /// Records one field under `parent` (-1: top level): a key, or an array position
    /// (`element` ≥ 0); `pathHash` is the `FoldedPathHasher` value of its full path; `offset`
    /// is where its key starts, for errors.
    mutating func add(kind: PayloadValue.Kind, parent: Int, element: Int = -1, key: ByteSpan, value: ByteSpan,
                      pathHash: UInt64, offset: Int) throws(PayloadError) {
        guard entries.count < limits.maxFields else {
            throw PayloadError(.tooManyFields, "more than " + String(limits.maxFields) + " fields", offset: offset)
        }
        entries.append(FieldEntry(kind: kind, parent: parent, element: element, key: key, value: value))
        let added = entries.count - 1
        if let earlier = index.first(hash: pathHash, where: { k in path(k).duplicateFoldKey == path(added).duplicateFoldKey }) {
            let (other, path, name) = (path(earlier), path(added), name(added))
            if other == path {
                throw PayloadError(.duplicateKey, "duplicate key " + quoted(name), offset: offset, path: self.path(parent))
            }
            throw PayloadError(.duplicateKey,
                               "duplicate key " + quoted(name) + " (same as " + quoted(other) + " ignoring case)",
                               offset: offset, path: self.path(parent))
        }
        index.append(pathHash)
    }

    /// Records a top-level field of a flat format (XML, form) whose name and value were decoded
    /// into Strings.
    mutating func add(name: String, value: String, offset: Int) throws(PayloadError) {
        let key = appendDecoded(name.utf8)
        let text = appendDecoded(value.utf8)
        try add(kind: .text, parent: -1, key: key, value: text, pathHash: FoldedPathHasher.hash(name), offset: offset)
    }

    /// Appends bytes to `decoded` and says where they are.
    mutating func appendDecoded<S: Sequence<UInt8>>(_ bytes: S) -> ByteSpan {
        let start = decoded.count
        decoded.append(contentsOf: bytes)
        return ByteSpan(start: start, end: decoded.count, isDecoded: true)
    }

    /// Length and character checks on a name that all formats apply.
    func checkLength(_ name: String, offset: Int) throws(PayloadError) {
        try checkLength(byteCount: name.utf8.count, offset: offset) { name }
    }

    func checkLength(byteCount: Int, offset: Int, name: () -> String) throws(PayloadError) {
        if byteCount > limits.maxKeyLength {
            throw PayloadError(.keyTooLong, "key " + quoted(name()) + " longer than "
                               + String(limits.maxKeyLength) + " bytes", offset: offset)
        }
    }

    /// The payload, its spans into `body` (the array this parse read) and `decoded`.
    func finish(format: PayloadFormat, body: [UInt8]) -> PaymentPayload {
        PaymentPayload(format: format, storage: PayloadStorage(source: body, decoded: decoded, entries: entries, index: index))
    }
}
