/// Collects fields while a parser runs and enforces the rules every format shares: no duplicate
/// names (exact or differing only in letter case), at most `maxFields` fields.
///
/// Duplicates are found through the field paths: JSON keys may not contain `.`, so a path names
/// exactly one position in the document and a repeated path is a repeated key in the same object.
struct FieldCollector {
    let limits: PayloadLimits
    private(set) var fields: [PayloadField] = []
    private(set) var topLevel: [PayloadField] = []
    /// Case-folded path -> index in `fields`. One table serves both duplicate detection (exact
    /// or differing only in case) and lookup (fold, then compare the exact name).
    private var folded: [String: Int]

    init(limits: PayloadLimits) {
        self.limits = limits
        folded = Dictionary(minimumCapacity: 32)
        fields.reserveCapacity(32)
    }

    /// Records one field. `name` is the key within its parent, `path` the full path,
    /// `foldedPath` its `duplicateFoldKey` or nil when that equals `path`, `parentPath` the
    /// enclosing object's path ("" at the top), `offset` where the key starts.
    mutating func add(name: String, path: String, foldedPath: String?, parentPath: String,
                      value: PayloadValue, topLevel isTop: Bool, offset: Int) throws(PayloadError) {
        let foldedPath = foldedPath ?? path
        if let earlier = folded[foldedPath] {
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
        let field = PayloadField(name: path, value: value)
        folded[foldedPath] = fields.count
        fields.append(field)
        if isTop { topLevel.append(PayloadField(name: name, value: value)) }
    }

    /// Length and character checks on a name that all formats apply.
    func checkLength(_ name: String, offset: Int) throws(PayloadError) {
        if name.utf8.count > limits.maxKeyLength {
            throw PayloadError(.keyTooLong, "key " + quoted(name) + " longer than "
                               + String(limits.maxKeyLength) + " bytes", offset: offset)
        }
    }

    func finish(format: PayloadFormat) -> PaymentPayload {
        PaymentPayload(format: format, fields: fields, topLevelFields: topLevel, foldedIndex: folded)
    }
}
