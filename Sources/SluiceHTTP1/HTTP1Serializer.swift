import SluiceHTTP

/// Writes HTTP/1.1 heads and chunk framing into a caller's buffer. Sluice speaks HTTP/1.1 on
/// every hop it writes (RFC 9110 §6.2: an intermediary sends its own version), so the
/// `version` of the head is not written. Names are written as stored (lower-case); values are
/// trusted to be field values (the parsers and guards produce nothing else).
public enum HTTP1Serializer {
    /// `"\r\n"` after each chunk's data.
    public static let chunkTrailer: [UInt8] = [ASCII.cr, ASCII.lf]
    /// `"0\r\n\r\n"`: the last chunk with no trailer fields.
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// `"0\r\n"`, the trailer fields, CRLF: the last chunk carrying trailers.
    public static func appendLastChunk(trailers: HTTPHeaders, to buffer: inout [UInt8]) {
        appendStatic("0\r\n", to: &buffer)
        appendFields(trailers, to: &buffer)
    }

    /// `METHOD SP target SP HTTP/1.1 CRLF`, the fields, CRLF.
    public static func appendRequestHead(_ head: HTTPRequestHead, to buffer: inout [UInt8]) {
        appendUTF8(head.method, to: &buffer)
        buffer.append(ASCII.space)
        appendUTF8(head.target, to: &buffer)
        appendStatic(" HTTP/1.1\r\n", to: &buffer)
        appendFields(head.headers, to: &buffer)
    }

    /// `METHOD SP target SP HTTP/1.1 CRLF`: for callers that write the fields one by one.
    public static func appendRequestLine(method: String, target: String, to buffer: inout [UInt8]) {
        appendUTF8(method, to: &buffer)
        buffer.append(ASCII.space)
        appendUTF8(target, to: &buffer)
        appendStatic(" HTTP/1.1\r\n", to: &buffer)
    }

    /// `name: value CRLF`.
    @inline(__always)
    public static func appendField(name: String, value: String, to buffer: inout [UInt8]) {
        appendUTF8(name, to: &buffer)
        buffer.append(ASCII.colon)
        buffer.append(ASCII.space)
        appendUTF8(value, to: &buffer)
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    /// A string's bytes, copied in one go when they are contiguous (always, for the strings a
    /// head holds) rather than through the UTF-8 view's iterator.
    @inline(__always)
    static func appendUTF8(_ text: String, to buffer: inout [UInt8]) {
        if text.utf8.withContiguousStorageIfAvailable({ buffer.append(contentsOf: $0) }) == nil {
            buffer.append(contentsOf: text.utf8)
        }
    }

    /// The empty line that ends a head.
    public static func appendEndOfHead(to buffer: inout [UInt8]) {
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    /// `HTTP/1.1 SP 3DIGIT SP reason CRLF`, the fields, CRLF.
    public static func appendResponseHead(_ head: HTTPResponseHead, to buffer: inout [UInt8]) {
        appendStatusLineAndFields(head, to: &buffer)
        appendEndOfHead(to: &buffer)
    }

    /// The status line and the head's fields, without the final empty line: the caller adds
    /// fields of its own (framing) and then `appendEndOfHead`.
    public static func appendStatusLineAndFields(_ head: HTTPResponseHead, to buffer: inout [UInt8]) {
        appendStatic("HTTP/1.1 ", to: &buffer)
        let status = min(max(head.status, 0), 999)
        buffer.append(ASCII.zero &+ UInt8(status / 100))
        buffer.append(ASCII.zero &+ UInt8(status / 10 % 10))
        buffer.append(ASCII.zero &+ UInt8(status % 10))
        buffer.append(ASCII.space)
        appendUTF8(head.reason, to: &buffer)
        appendStatic("\r\n", to: &buffer)
        for field in head.headers {
            appendField(name: field.name, value: field.value, to: &buffer)
        }
    }

    /// The size line of a chunk: lower-case hex, CRLF (`26` → `"1a\r\n"`).
    public static func appendChunkHeader(size: Int, to buffer: inout [UInt8]) {
        precondition(size >= 0, "negative chunk size")
        var shift = 0
        while shift < Int.bitWidth - 4, size >> (shift + 4) != 0 { shift += 4 }
        while shift >= 0 {
            let digit = UInt8((size >> shift) & 0xF)
            buffer.append(digit < 10 ? ASCII.zero &+ digit : UInt8(ascii: "a") &+ digit &- 10)
            shift -= 4
        }
        buffer.append(ASCII.cr)
        buffer.append(ASCII.lf)
    }

    private static func appendFields(_ headers: HTTPHeaders, to buffer: inout [UInt8]) {
        for field in headers {
            appendField(name: field.name, value: field.value, to: &buffer)
        }
        appendEndOfHead(to: &buffer)
    }

    private static func appendStatic(_ text: StaticString, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
