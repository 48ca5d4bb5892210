/// A parsed body's fields read in place, for a guard that checks many fields of every request
/// (validation): a field is found by its prepared path and its value read as bytes, with no
/// `PayloadValue` (and so no reference counting) per field.
///
/// Valid only inside `PaymentPayload.withFields`: it points into the payload's storage.
public struct PayloadFields {
    private let storage: PayloadStorage
    private let entries: UnsafeBufferPointer<FieldEntry>
    private let source: Bytes
    private let decoded: Bytes

    fileprivate init(storage: PayloadStorage, entries: UnsafeBufferPointer<FieldEntry>, source: Bytes, decoded: Bytes) {
        self.storage = storage
        self.entries = entries
        self.source = source
        self.decoded = decoded
    }

    /// The position of the field whose full path is exactly `path`, or nil.
    public func position(of path: PayloadPath) -> Int? {
        path.utf8.withUnsafeBufferPointer { storage.find($0, hash: path.hash, entries, source, decoded) }
    }

    /// Whether a field's path equals `path` but for letter case (`Amount.Currency` for
    /// `amount.currency`): call it when `position(of:)` found none. Backends that match names
    /// without case (Go's encoding/json, ASP.NET Core, case-insensitive Jackson) read such a
    /// field as the one a rule checks.
    public func hasCaseVariant(of path: PayloadPath) -> Bool {
        storage.index.first(hash: path.hash) { _ in true } != nil
    }

    public func kind(at position: Int) -> PayloadValue.Kind { entries[position].kind }

    /// The value's UTF-8 bytes (the decoded string, or the literal token as sent).
    public func bytes(at position: Int) -> UnsafeBufferPointer<UInt8> {
        let span = entries[position].value
        return UnsafeBufferPointer(rebasing: (span.isDecoded ? decoded : source)[span.start..<span.end])
    }

    /// The value as a `PayloadValue` (for messages: it copies nothing, but counts a reference).
    public func value(at position: Int) -> PayloadValue { storage.value(position) }
}

extension PaymentPayload {
    /// Calls `body` with the fields read in place.
    public func withFields<R>(_ body: (PayloadFields) throws -> R) rethrows -> R {
        try storage.entries.withUnsafeBufferPointer { entries in
            try storage.source.withUnsafeBufferPointer { source in
                try storage.decoded.withUnsafeBufferPointer { decoded in
                    try body(PayloadFields(storage: storage, entries: entries, source: source, decoded: decoded))
                }
            }
        }
    }
}
