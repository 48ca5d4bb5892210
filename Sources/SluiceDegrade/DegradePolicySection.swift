import SluicePolicy
import Yams

/// Reads `degrade` (the instance's settings; one file) and `degrade:` in non-core routes:
///
/// ```yaml
/// degrade:
///   signals:                    # what reads as pressure 1.0 (leave one out to ignore it)
///     loop_lag: 50ms
///     in_flight: 2000
///     core_latency: 500ms
///     bulkhead_queues: 0.9      # what a full bulkhead queue reads as (true: 1.0)
///   levels: {throttle: 0.7, fallback: 0.85, shed: 1.0}
///   cooldown: 5s                # a level is left after the pressure stayed below it this long
///   sample_every: 100ms
/// routes:
///   - name: query
///     class: noncore
///     degrade:
///       throttle_share: 0.5     # at throttle, this share is forwarded, the rest gets the fallback
///       fallback: cached        # the last 2xx answer to the same merchant and GET target ...
///       max_stale: 30s          # ... no older than this
///       static: {status: 200, content_type: application/json, body: '{"code":"SYSTEM_BUSY"}'}
/// ```
public struct DegradePolicySection: GuardPolicySection {
    public let name = DegradeModule.moduleName
    public let topLevelKeys = ["degrade"]
    public let routeKeys = ["degrade"]

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        guard let section = input.single("degrade") else {
            if let first = input.routeKeys.first(where: { !$0.nodes.isEmpty }), input.isComplete, let node = first.nodes.first {
                node.reader.report("route '\(first.route)' sets degrade, and no file has a 'degrade' section", at: node.keyNode)
            }
            return nil
        }
        var policy = DegradePolicy()
        readSettings(section, into: &policy, hasRedis: !input.isComplete || input.presentTopLevelKeys.contains("redis"))
        for (route, nodes) in input.routeKeys {
            guard let node = nodes.first(where: { $0.key == "degrade" }) else { continue }
            if input.routes.first(where: { $0.name == route })?.routeClass == .core {
                node.reader.report("route '\(route)' is core: core routes are never degraded", at: node.keyNode)
                continue
            }
            if let settings = node.reader.readRouteDegrade(node.value, route: route) { policy.routes[route] = settings }
        }
        return policy
    }

    private func readSettings(_ section: OwnedPolicyNode, into policy: inout DegradePolicy, hasRedis: Bool) {
        let reader = section.reader
        guard let fields = reader.mapping(section.value, what: "degrade", allowed: ["signals", "levels", "cooldown", "sample_every", "fleet"]) else {
            return
        }
        if let node = fields["signals"],
           let signals = reader.mapping(node, what: "signals of degrade", allowed: ["loop_lag", "in_flight", "core_latency", "bulkhead_queues"]) {
            policy.loopLagLimit = signals["loop_lag"].flatMap(reader.duration)
            policy.inFlightLimit = signals["in_flight"].flatMap(reader.count).flatMap { value in
                value > 0 ? value : { reader.report("in_flight must be at least 1", at: signals["in_flight"]!); return nil }()
            }
            policy.coreLatencyLimit = signals["core_latency"].flatMap(reader.duration)
            policy.bulkheadQueues = signals["bulkhead_queues"].flatMap { node in
                node.scalar?.string == "true" ? 1.0 : node.scalar?.string == "false" ? 0.0 : reader.number(node, upTo: 10)
            } ?? 0
        }
        if let node = fields["levels"], let levels = reader.mapping(node, what: "levels of degrade", allowed: ["throttle", "fallback", "shed"]) {
            for (key, path) in [("throttle", \DegradePolicy.throttleAt), ("fallback", \.fallbackAt), ("shed", \.shedAt)] {
                if let node = levels[key], let value = reader.number(node, upTo: 10) { policy[keyPath: path] = value }
            }
            if !(policy.throttleAt < policy.fallbackAt && policy.fallbackAt < policy.shedAt) {
                reader.report("levels must rise: throttle < fallback < shed", at: node)
            }
        }
        if let node = fields["cooldown"], let value = reader.duration(node) { policy.cooldown = value }
        if let node = fields["fleet"], let fleet = reader.mapping(node, what: "fleet of degrade", allowed: ["key", "poll"]) {
            var pin = FleetPinPolicy()
            if let key = fleet["key"], let text = reader.text(key, expected: "a Redis key") { pin.key = text }
            if let poll = fleet["poll"], let value = reader.duration(poll) {
                if value >= .milliseconds(100) && value <= .seconds(60) {
                    pin.poll = value
                } else {
                    reader.report("poll must be 100ms to 60s", at: poll)
                }
            }
            if !hasRedis { reader.report("a fleet-wide pin lives in Redis: the policy needs a redis section", at: node) }
            policy.fleet = pin
        }
        if let node = fields["sample_every"], let value = reader.duration(node) {
            if value >= .milliseconds(10) && value <= .seconds(10) {
                policy.sampleEvery = value
            } else {
                reader.report("sample_every must be 10ms to 10s", at: node)
            }
        }
    }
}

extension PolicyFileReader {
    func readRouteDegrade(_ node: Node, route: String) -> RouteDegrade? {
        let what = "degrade of route '\(route)'"
        guard let fields = mapping(node, what: what, allowed: ["throttle_share", "fallback", "max_stale", "static"]) else { return nil }
        var settings = RouteDegrade()
        if let node = fields["throttle_share"], let value = number(node, upTo: 1) { settings.throttleShare = value }
        if let node = fields["fallback"] {
            switch text(node, expected: "cached or none") {
            case "cached": settings.cachedFallback = true
            case "none": settings.cachedFallback = false
            case let other?: report("unknown fallback '\(other)' (allowed: cached, none)", at: node)
            case nil: break
            }
        }
        if let node = fields["max_stale"], let value = duration(node) { settings.maxStale = value }
        if let node = fields["static"], let fixed = mapping(node, what: "static fallback of route '\(route)'",
                                                              allowed: ["status", "content_type", "body"]) {
            let status = required("status", in: fixed, of: "static fallback").flatMap(count)
            let body = required("body", in: fixed, of: "static fallback").flatMap { text($0, expected: "the answer's body") }
            let contentType = fixed["content_type"].flatMap { text($0, expected: "a content type") } ?? "application/json"
            if let status, !(200...599).contains(status) { report("\(status) is not an HTTP status for an answer", at: fixed["status"]!) }
            if let status, (200...599).contains(status), let body {
                settings.staticFallback = StaticFallback(status: status, contentType: contentType, body: body)
            }
        }
        return settings
    }
}
