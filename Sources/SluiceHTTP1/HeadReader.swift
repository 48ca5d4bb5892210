import SluiceHTTP
import SluiceIO

/// The peer closed the connection in the middle of a message.
public struct UnexpectedEndOfStream: Error, Sendable, CustomStringConvertible {
    public var while_: String
    public init(while what: String) { while_ = what }
    public var description: String { "connection closed while \(while_)" }
}

/// Reads message heads from a socket into a connection's buffer, parsing as bytes arrive.
public enum HeadReader {
    /// The next request head, or nil when the client closed cleanly between requests.
    /// Pipelined bytes after the head stay in `buffer`.
    public static func readRequest(from connection: any ByteStream, buffer: ByteBuffer,
                                   parser: inout RequestHeadParser, deadline: Deadline?) async throws -> ParsedRequestHead? {
        parser.reset()
        while true {
            if !buffer.isEmpty, case .complete(let parsed, let consumed) = try parser.parse(buffer.readableBytes) {
                buffer.consume(consumed)
                return parsed
            }
            let count = try await connection.read(into: buffer, deadline: deadline)
            if count == 0 {
                if buffer.isEmpty { return nil }
                throw UnexpectedEndOfStream(while: "reading a request head")
            }
        }
    }

    /// The next final (non-1xx) response head from an upstream.
    public static func readResponse(from connection: any ByteStream, buffer: ByteBuffer, parser: inout ResponseHeadParser,
                                    requestMethod: String, deadline: Deadline?) async throws -> ParsedResponseHead {
        while true {
            parser.reset()
            let parsed = try await readOneResponse(from: connection, buffer: buffer, parser: &parser,
                                                   requestMethod: requestMethod, deadline: deadline)
            // 1xx informational heads (e.g. a 100 Continue the backend sends on its own) are dropped.
            // Not a 101: the gateway never forwards Upgrade, so a switch is one nobody asked for
            // (RFC 9110 §15.2.2), and the bytes after it are another protocol's, not this
            // request's response (read as one, they were relayed and stored as its answer).
            if parsed.head.status == 101 {
                throw HTTP1Error(status: 502, reason: "upstream_unrequested_upgrade",
                                 message: "upstream response: 101 Switching Protocols to a request that asked for no upgrade")
            }
            if parsed.head.status >= 200 { return parsed }
        }
    }

    private static func readOneResponse(from connection: any ByteStream, buffer: ByteBuffer, parser: inout ResponseHeadParser,
                                        requestMethod: String, deadline: Deadline?) async throws -> ParsedResponseHead {
        while true {
            if !buffer.isEmpty,
               case .complete(let parsed, let consumed) = try parser.parse(buffer.readableBytes, requestMethod: requestMethod) {
                buffer.consume(consumed)
                return parsed
            }
            let count = try await connection.read(into: buffer, deadline: deadline)
            if count == 0 { throw UnexpectedEndOfStream(while: "reading a response head") }
        }
    }
}
