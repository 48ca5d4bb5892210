public import SluiceHTTP

/// What the bytes fed to `HTTP2ServerSession.receive` meant, in order.
public enum HTTP2Event: Sendable, Equatable {
    /// A complete request head. `head.version` is `.http2`; `:authority` is in `host`,
    /// `:method`/`:path` are `method`/`target`; cookie fields are joined with "; ".
    case request(streamID: Int32, head: HTTPRequestHead, endStream: Bool)
    /// Request body bytes of one DATA frame. Call `consume` once they are forwarded: the
    /// stream's window only reopens then.
    case data(streamID: Int32, bytes: [UInt8], endStream: Bool)
    /// Request trailers; they end the request.
    case trailers(streamID: Int32, headers: HTTPHeaders)
    /// The stream ended abnormally: the client reset it, or it broke a rule (its request is void).
    case streamReset(streamID: Int32, errorCode: UInt32)
    /// The request broke a rule Sluice checks in the session (header list over the limit,
    /// CONNECT, Host differing from :authority): it never becomes a request. Answer it with
    /// `sendLocalReply(streamID:reply:)`, adding what every local reply carries (x-request-id);
    /// the stream is reset once the reply is out if the client was still sending a body.
    case rejected(streamID: Int32, reply: LocalReply)
    /// The client sent GOAWAY.
    case goAway(lastStreamID: Int32, errorCode: UInt32)
}

/// The connection must end. A GOAWAY carrying `code` is already queued: send it, then close.
public struct HTTP2ConnectionError: Error, Sendable, Equatable {
    public var code: UInt32
    /// A short machine-readable word for logs and metrics, e.g. "rapid_reset".
    public var reason: String

    public init(code: UInt32, reason: String) {
        self.code = code
        self.reason = reason
    }
}

/// HTTP/2 error codes (RFC 9113 section 7).
public enum HTTP2ErrorCode {
    public static let noError: UInt32 = 0x0
    public static let protocolError: UInt32 = 0x1
    public static let internalError: UInt32 = 0x2
    public static let flowControlError: UInt32 = 0x3
    public static let settingsTimeout: UInt32 = 0x4
    public static let streamClosed: UInt32 = 0x5
    public static let frameSizeError: UInt32 = 0x6
    public static let refusedStream: UInt32 = 0x7
    public static let cancel: UInt32 = 0x8
    public static let compressionError: UInt32 = 0x9
    public static let connectError: UInt32 = 0xa
    public static let enhanceYourCalm: UInt32 = 0xb
    public static let inadequateSecurity: UInt32 = 0xc
    public static let http11Required: UInt32 = 0xd
}
