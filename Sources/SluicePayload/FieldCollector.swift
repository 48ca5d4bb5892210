/// Collects fields while a parser runs and enforces the rules every format shares: no duplicate
/// names (exact or differing only in letter case), at most `maxFields` fields.
///
/// Duplicates are found through the field paths: JSON keys may not contain `.`, so a path names
/// exactly one position in the document and a repeated path is a repeated key in the same object.
struct FieldCollector {
    let limits: PayloadLimits
    private(set) var fields: [PayloadField] = []
    /// Case-folded path -> index in `fields`. One table serves both duplicate detection (exact
    /// or differing only in case) and lookup (fold, then compare the exact name).
    private var index = FoldedPathIndex()

    init(limits: PayloadLimits) {
        self.limits = limits
        fields.reserveCapacity(16)
    }

    /// Records one field. `name` is the key within its parent, `path` the full path, `pathHash`
    /// the `FoldedPathHasher` value of `path`, `parentPath` the enclosing object's path ("" at
    /// the top), `offset` where the key starts.
    mutating func add(name: String, path: String, pathHash: UInt64, parentPath: String,
                      value: PayloadValue, offset: Int) throws(PayloadError) {
        if let earlier = index.first(hash: pathHash, where: { [fields] k in fields[k].name.duplicateFoldKey == path.duplicateFoldKey }) {
            let other = fields[earlier].name
            if other == path {
                throw PayloadError(.duplicateKey, "duplicate key " + quoted(name), offset: offset, path: parentPath)
            }
            throw PayloadError(.duplicateKey,
                               "duplicate key " + quoted(name) + " (same as " + quoted(other) + " ignoring case)",
                               offset: offset, path: parentPath)
        }
        guard fields.count < limits.maxFields else {
            throw PayloadError(.tooManyFields, "more than " + String(limits.maxFields) + " fields", offset: offset)
        }
        index.append(pathHash)
        fields.append(PayloadField(name: path, value: value))
    }

    /// Length and character checks on a name that all formats apply.
    func checkLength(_ name: String, offset: Int) throws(PayloadError) {
        if name.utf8.count > limits.maxKeyLength {
            throw PayloadError(.keyTooLong, "key " + quoted(name) + " longer than "
                               + String(limits.maxKeyLength) + " bytes", offset: offset)
        }
    }

    func finish(format: PayloadFormat) -> PaymentPayload {
        PaymentPayload(format: format, fields: fields, index: index)
    }
}
