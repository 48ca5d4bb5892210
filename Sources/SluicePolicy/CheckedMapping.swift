import Yams

/// A YAML mapping whose keys have been checked: each is an allowed name and appears once.
/// Lookups on it therefore cannot miss a setting because of a typo.
public struct CheckedMapping {
    public let node: Node
    public let values: [String: Node]
    /// The key nodes themselves, for messages about a section as a whole.
    public let keys: [String: Node]

    public subscript(key: String) -> Node? { values[key] }
}

extension PolicyFileReader {
    /// Checks a mapping's keys against `allowed`, reporting unknown and duplicate keys (both
    /// would otherwise silently drop or override a setting). `what` names the mapping in
    /// messages: "listener", "route 'pay'". Returns nil, reported, when the node is no mapping.
    public func mapping(_ node: Node, what: String, allowed: [String]) -> CheckedMapping? {
        guard let mapping = node.mapping else {
            report("expected a mapping for \(what)", at: node)
            return nil
        }
        var values: [String: Node] = [:]
        var keys: [String: Node] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string else {
                report("expected a key name in \(what)", at: keyNode)
                continue
            }
            if let first = keys[key] {
                report("duplicate key '\(key)' (first defined at \(position(of: first)))", at: keyNode)
                continue
            }
            keys[key] = keyNode
            guard allowed.contains(key) else {
                report("unknown key '\(key)' in \(what) (allowed: \(allowed.joined(separator: ", ")))", at: keyNode)
                continue
            }
            values[key] = valueNode
        }
        return CheckedMapping(node: node, values: values, keys: keys)
    }

    /// "route 'pay'" when the item's name can be read, else just "route": messages about an
    /// item should say which one, even before its name has been checked.
    public func label(_ kind: String, of node: Node) -> String {
        guard let nameNode = node.mapping?["name"], !nameNode.isNull, let name = nameNode.scalar?.string else {
            return kind
        }
        return "\(kind) '\(name)'"
    }

    /// The value of a key that must be present; a missing one is reported at the mapping.
    public func required(_ key: String, in mapping: CheckedMapping, of what: String) -> Node? {
        if let value = mapping[key] { return value }
        report("\(what) is missing required key '\(key)'", at: mapping.node)
        return nil
    }
}
