import SluiceGuards
import SluicePolicy

/// The validation guard's entry in the server's guard registry (after auth, before idempotency).
public final class ValidationModule: GuardModule {
    public static let moduleName = "validation"
    public let name = ValidationModule.moduleName
    public var policySection: (any GuardPolicySection)? { ValidationPolicySection() }

    public init() {}

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let validations = policy.guardPolicy(name, as: ValidationsPolicy.self) else { return ValidationGeneration(guardsByRoute: [:]) }
        var guards: [String: ValidationGuard] = [:]
        for route in policy.routes {
            guard let ruleName = validations.routeRules[route.name], let rule = validations.rule(named: ruleName) else { continue }
            guards[route.name] = ValidationGuard(rule: rule)
        }
        return ValidationGeneration(guardsByRoute: guards)
    }
}

final class ValidationGeneration: GuardGeneration {
    let guardsByRoute: [String: ValidationGuard]

    init(guardsByRoute: [String: ValidationGuard]) { self.guardsByRoute = guardsByRoute }

    func guards(forRoute route: String) -> [any RequestGuard] { guardsByRoute[route].map { [$0] } ?? [] }

    func activate() {}
}
