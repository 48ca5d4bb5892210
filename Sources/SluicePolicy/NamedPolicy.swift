/// A policy item whose name must be unique among its kind (listeners, clusters, routes).
protocol NamedPolicy {
    var name: String { get }
}

extension ListenerPolicy: NamedPolicy {}
extension ClusterPolicy: NamedPolicy {}
extension RoutePolicy: NamedPolicy {}
extension LimitRulePolicy: NamedPolicy {}

/// A policy item as read from one file, with the positions later cross-file checks point at.
struct Declared<Value> {
    var value: Value
    /// Where the item's name (or, for `server`, its key) is written.
    var position: SourcePosition
    /// Where a route names its cluster; nil when the route names none (already reported).
    var clusterReference: SourcePosition? = nil
    /// Where a route names each of its limit rules, in the order of `RoutePolicy.limits`.
    var limitReferences: [SourcePosition] = []
}
