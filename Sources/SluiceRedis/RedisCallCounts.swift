/// A Redis client's call counters (loop thread): calls sent, replies received and the time they
/// took in all, scripts sent again as EVAL after NOSCRIPT.
public struct RedisCallCounts: Sendable, Equatable {
    public var callsSent = 0
    public var replies = 0
    public var replyNanoseconds: UInt64 = 0
    public var scriptReloads = 0

    public init(callsSent: Int = 0, replies: Int = 0, replyNanoseconds: UInt64 = 0, scriptReloads: Int = 0) {
        self.callsSent = callsSent
        self.replies = replies
        self.replyNanoseconds = replyNanoseconds
        self.scriptReloads = scriptReloads
    }

    public mutating func add(_ other: RedisCallCounts) {
        callsSent += other.callsSent
        replies += other.replies
        replyNanoseconds &+= other.replyNanoseconds
        scriptReloads += other.scriptReloads
    }
}
