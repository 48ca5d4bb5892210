/// Every problem found in a policy set. The loader reports all of them at once, so an operator
/// fixes a policy in one pass instead of one error per `sluice check`.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public var errors: [PolicyError]

    public init(errors: [PolicyError]) {
        self.errors = errors
    }

    /// One error per line, in file order.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
