import SluicePolicy

/// The shared Redis that holds guard state (rate-limit counters, nonces, idempotency records):
/// the `redis` section, which at most one policy file may hold.
public struct RedisSettings: Sendable, Equatable {
    public var address: EndpointAddress
    /// Sent with AUTH when not empty.
    public var password: String
    public var database: Int
    /// Each Redis call's deadline: no request waits longer for a rate-limit decision.
    public var deadline: Duration
    /// Consecutive failures that open the breaker around Redis, and how long it stays open.
    public var breakerFailures: Int
    public var breakerOpenFor: Duration

    public static let defaultDeadline = Duration.milliseconds(5)
    public static let defaultBreakerFailures = 5
    public static let defaultBreakerOpenFor = Duration.seconds(2)

    public init(address: EndpointAddress, password: String = "", database: Int = 0,
                deadline: Duration = RedisSettings.defaultDeadline,
                breakerFailures: Int = RedisSettings.defaultBreakerFailures,
                breakerOpenFor: Duration = RedisSettings.defaultBreakerOpenFor) {
        self.address = address
        self.password = password
        self.database = database
        self.deadline = deadline
        self.breakerFailures = breakerFailures
        self.breakerOpenFor = breakerOpenFor
    }
}
