import SluicePolicy
import Yams

/// Reads `bulkheads` (named concurrency limits) at the top level of any policy file, and
/// `bulkhead: <name>` in routes; every route naming a bulkhead shares its permits:
///
/// ```yaml
/// bulkheads:
///   - name: queries
///     max_concurrent: 64        # in-flight upstream requests of its routes, on this instance
///     queue: 128                # may wait beyond that (0: refused at once)
///     queue_timeout: 100ms      # a waiter is refused (503) after this
///     merchant_share: 0.25      # one merchant holds or waits for at most this share (429 beyond)
///     adaptive: {latency_target: 200ms, min_concurrent: 4, window: 1s}   # optional: see AdaptiveLimit
/// routes:
///   - {name: query-order, bulkhead: queries, ...}
/// ```
public struct BulkheadPolicySection: GuardPolicySection {
    public let name = BulkheadModule.moduleName
    public let topLevelKeys = ["bulkheads"]
    public let routeKeys = ["bulkhead"]

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        let bulkheads = input.namedItems("bulkheads", kind: "bulkhead") { reader, node in reader.readBulkhead(node) }.items
        let routeBulkheads = input.routeReferences("bulkhead", kind: "bulkhead", names: Set(bulkheads.map(\.name)))
        guard !bulkheads.isEmpty || !routeBulkheads.isEmpty else { return nil }
        return BulkheadsPolicy(bulkheads: bulkheads, routeBulkheads: routeBulkheads)
    }
}

extension BulkheadPolicy: NamedPolicy {}

extension PolicyFileReader {
    /// One item of `bulkheads`; nil without a usable name.
    func readBulkhead(_ node: Node) -> Declared<BulkheadPolicy>? {
        guard let item = namedItem(node, kind: "bulkhead", allowed: ["max_concurrent", "queue", "queue_timeout", "merchant_share", "adaptive"]) else {
            return nil
        }
        let (fields, what) = (item.fields, item.what)
        var bulkhead = BulkheadPolicy(name: item.name ?? "", maxConcurrent: 1)
        if let node = required("max_concurrent", in: fields, of: what), let value = count(node) {
            if (1...1_000_000).contains(value) { bulkhead.maxConcurrent = value } else { report("max_concurrent must be 1 to 1000000", at: node) }
        }
        if let node = fields["queue"], let value = count(node) {
            if value <= 1_000_000 { bulkhead.queue = value } else { report("queue must be at most 1000000", at: node) }
        }
        if let node = fields["queue_timeout"], let value = duration(node) {
            if value <= .seconds(60) { bulkhead.queueTimeout = value } else { report("queue_timeout must be at most 60s", at: node) }
        }
        if let node = fields["merchant_share"] {
            bulkhead.merchantShare = parsed(node, expected: "a share between 0 and 1, like 0.25") { text in
                guard let share = Double(text), share > 0, share <= 1, text.allSatisfy({ $0.isNumber || $0 == "." }) else {
                    return .failure(SyntaxProblem("merchant_share must be a number above 0 and at most 1, like 0.25"))
                }
                return .success(share)
            }
        }
        if let node = fields["adaptive"] { bulkhead.adaptive = readAdaptive(node, of: what, maxConcurrent: bulkhead.maxConcurrent) }
        return item.declared(bulkhead)
    }

    private func readAdaptive(_ node: Node, of what: String, maxConcurrent: Int) -> BulkheadPolicy.AdaptivePolicy? {
        guard let fields = mapping(node, what: "adaptive of \(what)", allowed: ["latency_target", "min_concurrent", "window"]) else { return nil }
        // (Every field is checked, so one `sluice check` names every mistake.)
        let target = required("latency_target", in: fields, of: "adaptive of \(what)").flatMap { duration($0) }
        var adaptive = BulkheadPolicy.AdaptivePolicy(latencyTarget: target ?? .seconds(1))
        if let node = fields["min_concurrent"], let value = count(node) {
            if (1...maxConcurrent).contains(value) { adaptive.minConcurrent = value } else {
                report("min_concurrent must be 1 to max_concurrent (\(maxConcurrent))", at: node)
            }
        }
        if let node = fields["window"], let value = duration(node) {
            if value >= .milliseconds(100) && value <= .seconds(60) { adaptive.window = value } else { report("window must be 100ms to 60s", at: node) }
        }
        return target == nil ? nil : adaptive
    }
}
