import SluiceHTTP

/// A response head with what the upstream connection needs to know about its body and reuse.
public struct ParsedResponseHead: Sendable {
    public var head: HTTPResponseHead
    public var framing: BodyFraming
    /// False for `.untilClose`, `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    public var keepAlive: Bool

    public init(head: HTTPResponseHead, framing: BodyFraming, keepAlive: Bool) {
        self.head = head
        self.framing = framing
        self.keepAlive = keepAlive
    }
}
