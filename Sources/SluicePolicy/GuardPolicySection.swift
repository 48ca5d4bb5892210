import Yams

/// A guard module's part of the policy format. SluicePolicy reads listeners, clusters and routes
/// and knows no guard's schema: each guard module declares the top-level keys it owns (`redis`,
/// `limits`) and the keys it owns inside a route (`limits: [rule, ...]`), and reads them with
/// the same `PolicyFileReader` (strict keys, `file:line:column` messages, durations, sizes).
/// The loader allows exactly these keys besides its own, so a typo is still an error.
public protocol GuardPolicySection: Sendable {
    /// The guard module's name: its policy is found under it (`PolicySnapshot.guardPolicy`).
    var name: String { get }
    var topLevelKeys: [String] { get }
    var routeKeys: [String] { get }
    /// Reads and validates the module's sections and route references; reports every problem
    /// through `input` or the nodes' readers. Returns the module's immutable policy, or nil when
    /// nothing of it is in the files (the module then has no guards).
    func read(_ input: GuardSectionInput) -> (any Sendable)?
}

/// One key a guard module owns, where it was written.
public struct OwnedPolicyNode {
    public let key: String
    public let keyNode: Node
    public let value: Node
    /// The reader of the file it is in: report problems at its nodes through this.
    public let reader: PolicyFileReader

    public var position: SourcePosition { reader.position(of: keyNode) }
}

/// What a guard module's section reader gets: its keys from every file, in merge order, and
/// the parts of the policy its references may point at.
public struct GuardSectionInput {
    /// Each occurrence of one of the module's top-level keys.
    public let sections: [OwnedPolicyNode]
    /// For each route (declaration order) the module's keys written in it.
    public let routeKeys: [(route: String, nodes: [OwnedPolicyNode])]
    public let routes: [RoutePolicy]
    public let clusters: [ClusterPolicy]
    public let listeners: [ListenerPolicy]
    /// False when a file did not parse: checks for something missing would only add false alarms.
    public let isComplete: Bool
    /// Every top-level key written in any file (a module may depend on another's section).
    public let presentTopLevelKeys: Set<String>
    let diagnostics: Diagnostics

    /// The occurrences of one top-level key.
    public func sections(_ key: String) -> [OwnedPolicyNode] { sections.filter { $0.key == key } }

    public func report(_ message: String, at position: SourcePosition) {
        diagnostics.report(message, at: position)
    }

    /// The first of a section only one file may hold; the others are reported against it.
    public func single(_ key: String) -> OwnedPolicyNode? {
        let candidates = sections(key)
        for candidate in candidates.dropFirst() {
            report("\(key) settings already defined at \(candidates[0].position) (only one file may hold '\(key)')",
                   at: candidate.position)
        }
        return candidates.first
    }

    /// The items of every top-level `key` list (`limits:`, `bulkheads:` ...), each read by `read`,
    /// as declared (with positions) and with later namesakes reported (`unique`).
    public func namedItems<Item: NamedPolicy>(_ key: String, kind: String,
                                              read: (PolicyFileReader, Node) -> Declared<Item>?) -> (declared: [Declared<Item>], items: [Item]) {
        var declared: [Declared<Item>] = []
        for section in sections(key) where !section.value.isNull {
            guard let items = section.reader.list(section.value, expected: "a list of \(kind) items") else { continue }
            declared += items.compactMap { read(section.reader, $0) }
        }
        return (declared, unique(declared, kind: kind))
    }

    /// For each route that names one item under `key` (`bulkhead: queries`), that name; a name
    /// not among `names` is reported at the route (when every file parsed).
    public func routeReferences(_ key: String, kind: String, names: Set<String>) -> [String: String] {
        positionedRouteReferences(key, kind: kind, names: names).mapValues(\.name)
    }

    /// `routeReferences`, with where each name is written (for checks that need other sections).
    public func positionedRouteReferences(_ key: String, kind: String,
                                          names: Set<String>) -> [String: (name: String, position: SourcePosition)] {
        var references: [String: (name: String, position: SourcePosition)] = [:]
        for (route, nodes) in routeKeys {
            guard let node = nodes.first(where: { $0.key == key }), let name = node.reader.name(node.value) else { continue }
            if isComplete && !names.contains(name) {
                node.reader.report("route '\(route)' refers to unknown \(kind) '\(name)'", at: node.value)
            } else if references[route] == nil {
                references[route] = (name, node.reader.position(of: node.value))
            }
        }
        return references
    }

    /// Items in order, each later namesake reported against the first (names key metrics and
    /// references, so two items with one name would make all of them ambiguous).
    public func unique<Item: NamedPolicy>(_ items: [Declared<Item>], kind: String) -> [Item] {
        PolicyAssembler.unique(items, kind: kind, diagnostics: diagnostics)
    }
}
