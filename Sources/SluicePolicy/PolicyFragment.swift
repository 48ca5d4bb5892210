import Yams

/// What one policy file contributes before the files are merged.
struct PolicyFragment {
    /// With the position of the `server` key, to point at it if another file has one too.
    var server: Declared<ServerSettings>?
    var listeners: [Declared<ListenerPolicy>] = []
    var clusters: [Declared<ClusterPolicy>] = []
    var routes: [Declared<RoutePolicy>] = []
    /// Top-level keys guard modules own, for their owners to read.
    var ownedSections: [OwnedPolicyNode] = []
    /// Every top-level key the file writes.
    var topLevelKeys: [String] = []
    /// Whether the file has a non-empty `listeners` section, readable or not: a section with
    /// mistakes is reported for them, not as "no listeners".
    var listsListeners = false
    /// Whether the file parsed into a mapping at all. If one did not, what it defines is unknown,
    /// so the checks for missing things (listeners, referenced clusters) would only add false
    /// alarms.
    var isUnderstood = true
}

extension PolicyFileReader {
    /// A whole file's root node. An empty file (or one holding only comments) contributes nothing.
    func readFragment(_ root: Node?) -> PolicyFragment {
        var fragment = PolicyFragment()
        guard let root, !root.isNull else { return fragment }
        guard root.mapping != nil else {
            fragment.isUnderstood = false
            report("expected a mapping with keys " + (Self.coreKeys + ownedTopLevelKeys).joined(separator: ", "), at: root)
            return fragment
        }
        guard let fields = mapping(root, what: "the policy file", allowed: Self.coreKeys + ownedTopLevelKeys) else {
            return fragment
        }
        if let node = fields["server"], let key = fields.keys["server"] {
            fragment.server = Declared(value: readServer(node), position: position(of: key))
        }
        if let node = fields["listeners"] {
            fragment.listsListeners = !(node.isNull || node.sequence?.isEmpty == true)
            fragment.listeners = items(node, expected: "a list of listeners").compactMap(readListener)
        }
        if let node = fields["clusters"] {
            fragment.clusters = items(node, expected: "a list of clusters").compactMap(readCluster)
        }
        if let node = fields["routes"] {
            fragment.routes = items(node, expected: "a list of routes").compactMap(readRoute)
        }
        fragment.topLevelKeys = Array(fields.keys.keys)
        for key in ownedTopLevelKeys {
            if let node = fields[key], let keyNode = fields.keys[key] {
                fragment.ownedSections.append(OwnedPolicyNode(key: key, keyNode: keyNode, value: node, reader: self))
            }
        }
        return fragment
    }

    static let coreKeys = ["server", "listeners", "clusters", "routes"]

    /// A section written with nothing after it (`routes:`) is empty, not of the wrong type:
    /// handy while a policy is being built up file by file.
    private func items(_ node: Node, expected: String) -> [Node] {
        node.isNull ? [] : list(node, expected: expected) ?? []
    }
}
