import SluicePolicy
import Yams

/// Reads `breakers` at the top level of any policy file, and `breaker: <name>` in routes:
///
/// ```yaml
/// breakers:
///   - name: payments
///     cluster: payments              # guards every route to this cluster (a route may name another)
///     window: {calls: 50}            # the last 50 calls; or {duration: 10s}
///     minimum_calls: 20
///     failure_rate: 0.5              # trip at 50% failed
///     slow_call: {duration: 2s, rate: 0.8}
///     failures: [connect, timeout, reset, 502, 503, 504]
///     open_for: 5s                   # doubled on each trip from half-open ...
///     max_open_for: 60s              # ... up to this
///     half_open_calls: 3
/// ```
public struct BreakerPolicySection: GuardPolicySection {
    public let name = BreakerModule.moduleName
    public let topLevelKeys = ["breakers"]
    public let routeKeys = ["breaker"]

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        let (declared, breakers) = input.namedItems("breakers", kind: "breaker") { reader, node in reader.readBreaker(node) }
        let routeBreakers = input.routeReferences("breaker", kind: "breaker", names: Set(breakers.map(\.name)))
        if input.isComplete {
            let clusters = Set(input.clusters.map(\.name))
            var guarded: [String: String] = [:]
            for (item, breaker) in zip(declared, breakers) {
                guard let cluster = breaker.cluster else { continue }
                if !clusters.contains(cluster) {
                    input.report("breaker '\(breaker.name)' guards unknown cluster '\(cluster)'", at: item.position)
                } else if let other = guarded.updateValue(breaker.name, forKey: cluster) {
                    input.report("cluster '\(cluster)' already has breaker '\(other)'", at: item.position)
                }
            }
        }
        guard !breakers.isEmpty || !routeBreakers.isEmpty else { return nil }
        return BreakersPolicy(breakers: breakers, routeBreakers: routeBreakers)
    }
}

extension BreakerPolicy: NamedPolicy {}

extension PolicyFileReader {
    func readBreaker(_ node: Node) -> Declared<BreakerPolicy>? {
        guard let item = namedItem(node, kind: "breaker", allowed: [
            "cluster", "window", "minimum_calls", "failure_rate", "slow_call", "failures", "open_for", "max_open_for", "half_open_calls",
        ]) else { return nil }
        let (fields, what) = (item.fields, item.what)
        var breaker = BreakerPolicy(name: item.name ?? "")
        if let node = fields["cluster"] { breaker.cluster = name(node) }
        if let node = fields["window"], let window = mapping(node, what: "window of \(what)", allowed: ["calls", "duration"]) {
            if let calls = window["calls"].flatMap(count) {
                if (1...10_000).contains(calls) { breaker.window = .count(calls) } else { report("calls must be 1 to 10000", at: window["calls"]!) }
            } else if let duration = window["duration"].flatMap(duration) {
                breaker.window = .time(duration)
            }
            if window.values.count != 1 { report("a window is either {calls: N} or {duration: D}", at: node) }
        }
        if let node = fields["minimum_calls"], let value = count(node) {
            if value >= 1 { breaker.minimumCalls = value } else { report("minimum_calls must be at least 1", at: node) }
        }
        if let node = fields["failure_rate"], let value = number(node, upTo: 1) { breaker.failureRate = value }
        if let node = fields["slow_call"], let slow = mapping(node, what: "slow_call of \(what)", allowed: ["duration", "rate"]) {
            breaker.slowCall = required("duration", in: slow, of: "slow_call").flatMap(duration)
            if let node = slow["rate"], let value = number(node, upTo: 1) { breaker.slowCallRate = value }
        }
        if let node = fields["failures"], let items = list(node, expected: "a list like [connect, timeout, reset, 502, 503]") {
            breaker.failures = Set(items.compactMap { item in
                parsed(item, expected: "connect, timeout, reset or an HTTP status") { text in
                    switch text {
                    case "connect": return .success(.connect)
                    case "timeout": return .success(.timeout)
                    case "reset": return .success(.reset)
                    default:
                        guard let status = Int(text), (400...599).contains(status) else {
                            return .failure(SyntaxProblem("'\(text)' is not a failure (connect, timeout, reset, or a status 400-599)"))
                        }
                        return .success(.status(status))
                    }
                }
            })
        }
        if let node = fields["open_for"], let value = duration(node) { breaker.openFor = value }
        if let node = fields["max_open_for"], let value = duration(node) {
            if value >= breaker.openFor { breaker.maxOpenFor = value } else { report("max_open_for must be at least open_for", at: node) }
        }
        if let node = fields["half_open_calls"], let value = count(node) {
            if (1...1000).contains(value) { breaker.halfOpenCalls = value } else { report("half_open_calls must be 1 to 1000", at: node) }
        }
        return item.declared(breaker)
    }
}
