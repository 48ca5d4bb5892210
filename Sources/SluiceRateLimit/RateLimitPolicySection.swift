import SluicePolicy
import SluiceSharedRedis
import Yams

/// The rate-limit module's policy: the rules, and which routes use which. (Counters live in the
/// shared Redis: the `redis` section, read by `RedisPolicySection`.)
public struct RateLimitPolicy: Sendable {
    /// In declaration order.
    public var rules: [LimitRulePolicy]
    /// Route name → the rules it names in its `limits`, in order (all must pass).
    public var routeRules: [String: [String]]
    /// Each route's rules keyed by `merchant`, where the route names them: they need the route's
    /// auth to verify a merchant (SluiceServer checks that, knowing the auth section).
    public var merchantDependences: [MerchantDependence] = []

    public func rule(named name: String) -> LimitRulePolicy? {
        rules.first { $0.name == name }
    }
}

/// Reads `limits` at the top level of any policy file, and `limits: [rule, ...]` in routes.
/// Rule names are unique across files; a route naming an unknown rule, or rules without a
/// `redis` section, are errors at the line that says so.
public struct RateLimitPolicySection: GuardPolicySection {
    public let name = RateLimitModule.moduleName
    public let topLevelKeys = ["limits"]
    public let routeKeys = ["limits"]

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        let (declaredRules, rules) = input.namedItems("limits", kind: "limit") { reader, node in reader.readLimit(node) }
        let ruleNames = Set(rules.map(\.name))

        var routeRules: [String: [String]] = [:]
        var dependences: [MerchantDependence] = []
        for (route, nodes) in input.routeKeys {
            guard let node = nodes.first(where: { $0.key == "limits" }) else { continue }
            let reader = node.reader
            guard let items = reader.list(node.value, expected: "a list of limit rule names") else { continue }
            var names: [String] = []
            for item in items {
                guard let name = reader.name(item) else { continue }
                if names.contains(name) {
                    reader.report("limit rule '\(name)' listed twice in route '\(route)'", at: item)
                } else if input.isComplete && !ruleNames.contains(name) {
                    reader.report("route '\(route)' refers to unknown limit rule '\(name)'", at: item)
                } else {
                    names.append(name)
                    if let rule = rules.first(where: { $0.name == name }), rule.key.contains(.merchant) {
                        dependences.append(MerchantDependence(
                            route: route, position: reader.position(of: item),
                            what: "limit rule '\(name)' is keyed by merchant (without one, all its clients share one counter)"))
                    }
                }
            }
            if routeRules[route] == nil { routeRules[route] = names }
        }
        if input.isComplete, !input.presentTopLevelKeys.contains(SharedRedis.sectionName), let first = declaredRules.first {
            input.report("limit rules need a 'redis' section (the Redis that holds their counters)", at: first.position)
        }
        guard !rules.isEmpty || !routeRules.isEmpty else { return nil }
        return RateLimitPolicy(rules: rules, routeRules: routeRules, merchantDependences: dependences)
    }
}

extension LimitRulePolicy: NamedPolicy {}
