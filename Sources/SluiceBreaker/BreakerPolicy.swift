import SluiceResilience

/// One circuit breaker as the policy gives it (`breakers:` list). A breaker with a `cluster`
/// guards every route to that cluster; a route may name a breaker of its own (`breaker: <name>`),
/// which then guards that route instead.
public struct BreakerPolicy: Sendable, Hashable {
    public typealias Window = BreakerSettings.Window

    /// What counts as a failure of the backend.
    public enum Failure: Sendable, Hashable {
        case connect
        case timeout
        case reset
        case status(Int)
    }

    public var name: String
    public var cluster: String?
    public var window = Window.count(50)
    /// No trip before this many calls are in the window.
    public var minimumCalls = 20
    /// Trip when at least this share of the window's calls failed (0...1).
    public var failureRate = 0.5
    /// A call slower than `slowCall` is slow; trip when at least `slowCallRate` of the window is.
    public var slowCall: Duration?
    public var slowCallRate = 1.0
    public var failures: Set<Failure> = [.connect, .timeout, .reset, .status(502), .status(503), .status(504)]
    /// Open this long after the first trip; each trip from half-open doubles it, up to `maxOpenFor`.
    public var openFor: Duration = .seconds(5)
    public var maxOpenFor: Duration = .seconds(60)
    /// Calls let through in half-open; all must succeed to close.
    public var halfOpenCalls = 3

    public init(name: String) { self.name = name }

    /// What the breaker machine needs of it.
    public var settings: BreakerSettings {
        var settings = BreakerSettings()
        settings.window = window
        settings.minimumCalls = minimumCalls
        settings.failureRate = failureRate
        settings.slowCall = slowCall
        settings.slowCallRate = slowCallRate
        settings.openFor = openFor
        settings.maxOpenFor = maxOpenFor
        settings.halfOpenCalls = halfOpenCalls
        return settings
    }
}

/// The breaker module's policy: the breakers, and the route-level choices.
public struct BreakersPolicy: Sendable {
    public var breakers: [BreakerPolicy]
    /// Route name → the breaker the route names itself.
    public var routeBreakers: [String: String]

    public func breaker(named name: String) -> BreakerPolicy? { breakers.first { $0.name == name } }
}
