import SluicePolicy
import Yams

/// One alert rule: a condition on the instance's state, checked every second; when it starts or
/// stops holding, one log line and, optionally, a webhook POST.
public struct AlertRule: Sendable, Equatable, NamedPolicy {
    public enum Condition: Sendable, Equatable {
        /// The named breaker is open (or forced open).
        case breakerOpen(String)
        /// The degradation level is at least this (by name: throttle, fallback, shed).
        case degradeLevel(String)
        /// The share of 5xx answers over the last `window` is above `share`, on at least `minimumRequests`.
        case errorRate(share: Double, window: Duration, minimumRequests: Int)
        /// No connection to the shared Redis is up.
        case redisUnreachable
    }

    public struct Webhook: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var path: String
        public var timeout: Duration = .seconds(2)
        public var retries = 3
    }

    public var name: String
    public var condition: Condition
    /// Where `breaker_open` names its breaker (`sluice check` finds names no breaker has).
    public var breakerReference: SourcePosition?
    public var webhook: Webhook?
}

public struct AlertsPolicy: Sendable {
    public var rules: [AlertRule]
    public static let sectionName = "alerts"

    /// `file:line:column: …` for each `breaker_open` naming no breaker of `breakers`: such an
    /// alert was taken and could never fire (the condition read "absent"), while the breaker
    /// it was meant for opened in silence.
    public func unknownBreakers(_ breakers: Set<String>) -> [String] {
        rules.compactMap { rule in
            guard case .breakerOpen(let name) = rule.condition, !breakers.contains(name), let position = rule.breakerReference else { return nil }
            let known = breakers.isEmpty ? "no breakers are defined" : "breakers: " + breakers.sorted().joined(separator: ", ")
            return "\(position): alert '\(rule.name)' watches unknown breaker '\(name)' (it could never fire; \(known))"
        }
    }
}

/// Reads `alerts` (one list, any file):
///
/// ```yaml
/// alerts:
///   - {name: payments-breaker, when: {breaker_open: payments}, webhook: {url: "http://127.0.0.1:9093/sluice"}}
///   - {name: degraded, when: {degrade_level: fallback}}
///   - {name: errors, when: {error_rate: {above: 0.05, window: 60s, min_requests: 50}}}
///   - {name: redis, when: {redis_unreachable: true}, webhook: {url: "http://alerts.internal/hook", timeout: 2s, retries: 3}}
/// ```
public struct AlertPolicySection: GuardPolicySection {
    public let name = AlertsPolicy.sectionName
    public let topLevelKeys = ["alerts"]
    public let routeKeys: [String] = []

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        let rules = input.namedItems("alerts", kind: "alert") { reader, node in reader.readAlert(node) }.items
        return rules.isEmpty ? nil : AlertsPolicy(rules: rules)
    }
}

extension PolicyFileReader {
    func readAlert(_ node: Node) -> Declared<AlertRule>? {
        guard let item = namedItem(node, kind: "alert", allowed: ["when", "webhook"]) else { return nil }
        var rule = AlertRule(name: item.name ?? "", condition: .redisUnreachable)
        if let whenNode = required("when", in: item.fields, of: item.what),
           let when = mapping(whenNode, what: "when of \(item.what)", allowed: ["breaker_open", "degrade_level", "error_rate", "redis_unreachable"]) {
            if when.values.count != 1 { report("an alert has exactly one condition", at: whenNode) }
            if let node = when["breaker_open"], let breaker = name(node) {
                rule.condition = .breakerOpen(breaker)
                rule.breakerReference = position(of: node)
            } else if let node = when["degrade_level"], let level = text(node, expected: "throttle, fallback or shed") {
                if ["throttle", "fallback", "shed"].contains(level) { rule.condition = .degradeLevel(level) } else {
                    report("unknown degrade level '\(level)' (allowed: throttle, fallback, shed)", at: node)
                }
            } else if let node = when["error_rate"],
                      let rate = mapping(node, what: "error_rate of \(item.what)", allowed: ["above", "window", "min_requests"]) {
                let share = rate["above"].flatMap { number($0, upTo: 1) } ?? 0.05
                let window = rate["window"].flatMap(duration) ?? .seconds(60)
                let minimum = rate["min_requests"].flatMap(count) ?? 20
                if window < .seconds(1) || window > .seconds(3600), let node = rate["window"] { report("window must be 1s to 1h", at: node) }
                rule.condition = .errorRate(share: share, window: window, minimumRequests: minimum)
            } else if let node = when["redis_unreachable"], let on = flag(node) {
                if !on { report("redis_unreachable: false never fires (remove the alert)", at: node) }
                rule.condition = .redisUnreachable
            }
        }
        if let node = item.fields["webhook"], let hook = mapping(node, what: "webhook of \(item.what)", allowed: ["url", "timeout", "retries"]) {
            if let urlNode = required("url", in: hook, of: "webhook"), let url = text(urlNode, expected: "an http:// URL") {
                if let parsed = Self.webhookURL(url) {
                    var webhook = AlertRule.Webhook(host: parsed.host, port: parsed.port, path: parsed.path)
                    if let node = hook["timeout"], let value = duration(node) { webhook.timeout = value }
                    if let node = hook["retries"], let value = count(node) { webhook.retries = min(value, 10) }
                    rule.webhook = webhook
                } else {
                    report("webhook url must be http://HOST:PORT/PATH with a numeric address (https is not supported yet)", at: urlNode)
                }
            }
        }
        return item.declared(rule)
    }

    static func webhookURL(_ text: String) -> (host: String, port: Int, path: String)? {
        guard text.hasPrefix("http://") else { return nil }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        return (String(authority[..<colon]), port, path.isEmpty ? "/" : String(path))
    }
}
