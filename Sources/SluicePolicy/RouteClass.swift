/// Whether a route may be shed under pressure. `core` routes (paying, refunding, notifications
/// of payment) are kept; `noncore` routes (queries, health) are shed first. The policy has no
/// default for this on purpose: an operator must decide.
public enum RouteClass: String, Sendable, CaseIterable {
    case core
    case noncore
}
