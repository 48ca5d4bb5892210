import SluicePolicy

/// What the forwarding of one request needs from its route, with the timeouts in nanoseconds:
/// made once per request instead of a copy of the whole `RoutePolicy` (its strings and arrays
/// retained) in every part of the exchange and a 128-bit `Duration` conversion at every deadline.
struct RouteLimits {
    let maxBodyBytes: Int
    let perTryTimeout: Duration
    let perTryTimeoutNanoseconds: UInt64
    let totalTimeoutNanoseconds: UInt64
    /// The shape of the gateway's own answers on the route (`replies:`).
    let replies: RoutePolicy.ReplyShape

    init(_ route: RoutePolicy) {
        maxBodyBytes = route.maxBodyBytes
        perTryTimeout = route.perTryTimeout
        perTryTimeoutNanoseconds = route.perTryTimeout.nanosecondsClamped
        totalTimeoutNanoseconds = route.totalTimeout.nanosecondsClamped
        replies = route.replies
    }
}
