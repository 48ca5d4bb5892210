/// Where a byte string of a parsed body lives: a range of the body itself, or of the parser's
/// buffer of decoded strings (JSON escapes, XML entities and CDATA, form `%XX` and `+`).
struct ByteSpan: Sendable {
    var start: Int
    var end: Int
    var isDecoded: Bool

    static let empty = ByteSpan(start: 0, end: 0, isDecoded: false)

    var count: Int { end - start }
}

/// One field as the parser found it: no String, only where its name and value are.
struct FieldEntry: Sendable {
    var kind: PayloadValue.Kind
    /// The enclosing field (a JSON object or array), or -1 at the top level.
    var parent: Int
    /// An array element's position (its name is that number), or -1 for a named field.
    var element: Int
    var key: ByteSpan
    var value: ByteSpan
}

/// Field names as Strings, for the parser (error messages) and the finished payload alike.
protocol FieldNaming {
    var entries: [FieldEntry] { get }
    func string(_ span: ByteSpan) -> String
}

extension FieldNaming {
    /// The field's own name: its key, or its position in an array.
    func name(_ k: Int) -> String {
        let entry = entries[k]
        return entry.element >= 0 ? String(entry.element) : string(entry.key)
    }

    /// The field's full path (`amount.total`, `items.0.sku`); "" for -1, the top level.
    func path(_ k: Int) -> String {
        guard k >= 0 else { return "" }
        let entry = entries[k]
        return entry.parent < 0 ? name(k) : path(entry.parent) + "." + name(k)
    }
}

/// A parsed body: the bytes its names and values point into, the fields in document order, and
/// the index from folded path to field. Immutable once the parser hands it over, and shared by
/// every copy of the payload (one reference to retain, not a String per field).
final class PayloadStorage: Sendable, FieldNaming {
    let source: [UInt8]
    let decoded: [UInt8]
    let entries: [FieldEntry]
    let index: FoldedPathIndex

    init(source: [UInt8], decoded: [UInt8], entries: [FieldEntry], index: FoldedPathIndex) {
        self.source = source
        self.decoded = decoded
        self.entries = entries
        self.index = index
    }

    func bytes(_ span: ByteSpan) -> ArraySlice<UInt8> {
        (span.isDecoded ? decoded : source)[span.start..<span.end]
    }

    func value(_ k: Int) -> PayloadValue {
        let entry = entries[k]
        return PayloadValue(kind: entry.kind, bytes: bytes(entry.value))
    }

    func string(_ span: ByteSpan) -> String { String(decoding: bytes(span), as: UTF8.self) }

    /// Every field, named by full path, in document order. Parents come before their members,
    /// so each path extends one already built.
    func allFields() -> [PayloadField] {
        var paths: [String] = []
        paths.reserveCapacity(entries.count)
        var fields: [PayloadField] = []
        fields.reserveCapacity(entries.count)
        for k in entries.indices {
            let parent = entries[k].parent
            let path = parent < 0 ? name(k) : paths[parent] + "." + name(k)
            paths.append(path)
            fields.append(PayloadField(name: path, value: value(k)))
        }
        return fields
    }

    /// The field whose full path is exactly `path` (hashed as `hash`), or nil.
    func find(_ path: Bytes, hash: UInt64) -> Int? {
        entries.withUnsafeBufferPointer { entries in
            source.withUnsafeBufferPointer { source in
                decoded.withUnsafeBufferPointer { decoded in find(path, hash: hash, entries, source, decoded) }
            }
        }
    }

    /// `find` on the storage's arrays already opened (`PayloadFields` holds them open).
    func find(_ path: Bytes, hash: UInt64, _ entries: UnsafeBufferPointer<FieldEntry>, _ source: Bytes, _ decoded: Bytes) -> Int? {
        index.first(hash: hash) { k in Self.hasPath(k, path, entries, source, decoded) }
    }

    /// Whether field `k`'s full path is exactly `path`, compared segment by segment from the end
    /// without building it.
    private static func hasPath(_ k: Int, _ path: Bytes, _ entries: UnsafeBufferPointer<FieldEntry>,
                                _ source: Bytes, _ decoded: Bytes) -> Bool {
        var k = k
        var end = path.count
        while true {
            let entry = entries[k]
            let matched: Int
            if entry.element >= 0 {
                guard let digits = endsWithDecimal(path, end, entry.element) else { return false }
                matched = digits
            } else {
                let key = entry.key
                matched = key.count
                guard matched <= end,
                      UTF8Bytes.equal(Bytes(rebasing: (key.isDecoded ? decoded : source)[key.start..<key.end]),
                                      Bytes(rebasing: path[(end - matched)..<end])) else { return false }
            }
            end -= matched
            if entry.parent < 0 { return end == 0 }
            guard end > 0, path[end - 1] == UInt8(ascii: ".") else { return false }
            end -= 1
            k = entry.parent
        }
    }

    /// The length of `number`'s decimal digits if `path[..<end]` ends with them, else nil.
    private static func endsWithDecimal(_ path: UnsafeBufferPointer<UInt8>, _ end: Int, _ number: Int) -> Int? {
        var rest = number
        var position = end
        repeat {
            position -= 1
            guard position >= 0, path[position] == UInt8(ascii: "0") + UInt8(rest % 10) else { return nil }
            rest /= 10
        } while rest > 0
        return end - position
    }
}
