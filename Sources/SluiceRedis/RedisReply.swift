/// One RESP2 reply, copied out of hiredis's reply tree (no C type leaves this module).
public enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// The reply as an integer: integers as they are, bulk strings holding digits parsed.
    public var integer: Int? {
        switch self {
        case .integer(let value): return value
        case .bulk(let bytes): return Int(String(decoding: bytes, as: UTF8.self))
        case .status(let text): return Int(text)
        default: return nil
        }
    }

    public var string: String? {
        switch self {
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text), .error(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    public var elements: [RedisReply]? {
        if case .array(let items) = self { return items }
        return nil
    }
}

/// Why a call produced no reply. Every case but `server` means "Redis could not be asked": the
/// caller falls back (per rule: allow, deny or a local limit).
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No reply within the call's deadline.
    case timedOut
    /// Not connected (connecting, backing off after a failure, or the connection was lost).
    case unavailable(String)
    /// The breaker around Redis is open: Redis was not asked at all.
    case breakerOpen
    /// Too many calls already in flight on this connection.
    case overloaded
    /// Redis answered with an error reply.
    case server(String)

    public var description: String {
        switch self {
        case .timedOut: return "redis: timed out"
        case .unavailable(let why): return "redis: unavailable (\(why))"
        case .breakerOpen: return "redis: breaker open"
        case .overloaded: return "redis: too many calls in flight"
        case .server(let message): return "redis: \(message)"
        }
    }
}
