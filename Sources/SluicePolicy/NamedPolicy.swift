/// A policy item whose name must be unique among its kind (listeners, clusters, routes, and
/// guard modules' rules).
public protocol NamedPolicy {
    var name: String { get }
}

extension ListenerPolicy: NamedPolicy {}
extension ClusterPolicy: NamedPolicy {}
extension RoutePolicy: NamedPolicy {}

/// A policy item as read from one file, with the positions later cross-file checks point at.
public struct Declared<Value> {
    public var value: Value
    /// Where the item's name (or, for `server`, its key) is written.
    public var position: SourcePosition
    /// Where a route names its cluster; nil when the route names none (already reported).
    public var clusterReference: SourcePosition? = nil
    /// A route's keys that guard modules own (`limits: [...]`), for their owners to read.
    var ownedNodes: [OwnedPolicyNode] = []

    public init(value: Value, position: SourcePosition, clusterReference: SourcePosition? = nil) {
        self.value = value
        self.position = position
        self.clusterReference = clusterReference
    }
}
