import Yams

/// One list item of `listeners`, `clusters` or `routes` with its keys checked and its name read:
/// the part every section shares.
public struct NamedItem {
    public let fields: CheckedMapping
    /// "route 'pay'", for messages about this item.
    public let what: String
    /// Nil when the name is missing or invalid (already reported).
    public let name: String?
    public let namePosition: SourcePosition?

    /// The item as a declaration, or nil when it has no usable name. Sections build their value
    /// with defaults standing in for anything unreadable, so that a file with mistakes still
    /// gets its duplicate names and dangling references checked.
    public func declared<Value>(_ value: Value, clusterReference: SourcePosition? = nil) -> Declared<Value>? {
        guard name != nil, let namePosition else { return nil }
        return Declared(value: value, position: namePosition, clusterReference: clusterReference)
    }
}

extension PolicyFileReader {
    /// Checks an item's keys (`name` is always allowed and required) and reads its name. Nil,
    /// reported, when the item is not a mapping.
    public func namedItem(_ node: Node, kind: String, allowed: [String]) -> NamedItem? {
        let what = label(kind, of: node)
        guard let fields = mapping(node, what: what, allowed: ["name"] + allowed) else { return nil }
        let nameNode = required("name", in: fields, of: what)
        return NamedItem(fields: fields, what: what, name: nameNode.flatMap(name), namePosition: nameNode.map(position))
    }
}
