import SluiceHTTP

/// A request head with what the connection needs to know about its body and its lifetime.
public struct ParsedRequestHead: Sendable {
    public var head: HTTPRequestHead
    public var framing: BodyFraming
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool
    /// `Expect: 100-continue` on HTTP/1.1: send `100 Continue` before reading the body.
    public var expectsContinue: Bool

    public init(head: HTTPRequestHead, framing: BodyFraming, keepAlive: Bool, expectsContinue: Bool) {
        self.head = head
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }
}
