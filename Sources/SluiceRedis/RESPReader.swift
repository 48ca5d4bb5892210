internal import CHiredis

/// hiredis's reply parser (`redisReader`) fed with the bytes Sluice's own socket reads. Only the
/// parser is used: I/O, deadlines and readiness stay on Sluice's loop.
final class RESPReader: @unchecked Sendable {  // loop-confined
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        reader = redisReaderCreate()!
    }

    deinit { redisReaderFree(reader) }

    /// Hands bytes to the parser; false on a protocol error.
    func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK
    }

    enum Next { case reply(RedisReply), needMore, protocolError }

    /// Parses `bytes` and hands every complete reply to `deliver`, in order; false on a protocol
    /// error. The one-line replies a pipeline of SETs and counters mostly gets back (`+OK`, `$-1`,
    /// `:<n>`, `-<error>`) are read here directly while hiredis holds no unfinished reply, because
    /// hiredis would allocate a reply object and a string for each (the nonce SET of every signed
    /// request gets one). Anything else, and everything after it in these bytes, goes to hiredis,
    /// so the replies come out in order and hiredis still judges whatever is not plain.
    func read(_ bytes: UnsafeRawBufferPointer, deliver: (RedisReply) -> Void) -> Bool {
        var start = 0
        if hiredisHoldsNothing {
            while let (reply, length) = Self.lineReply(bytes, from: start) {
                deliver(reply)
                start += length
            }
        }
        guard start < bytes.count else { return true }
        guard feed(UnsafeRawBufferPointer(rebasing: bytes[start...])) else { return false }
        while true {
            switch next() {
            case .reply(let reply): deliver(reply)
            case .needMore: return true
            case .protocolError: return false
            }
        }
    }

    /// No reply begun (`ridx` is -1 between replies) and no byte fed but not yet parsed.
    private var hiredisHoldsNothing: Bool {
        reader.pointee.ridx == -1 && reader.pointee.pos == reader.pointee.len
    }

    /// A whole one-line reply at `start` and its length with CRLF; nil for anything else (an
    /// unfinished line, a bulk string or an array, an integer that is not plain decimal digits or
    /// could overflow), which is hiredis's to read.
    static func lineReply(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (RedisReply, Int)? {
        guard start + 3 <= bytes.count else { return nil }
        var end = start + 1
        while end + 1 < bytes.count, bytes[end] != UInt8(ascii: "\r") { end += 1 }
        guard end + 1 < bytes.count, bytes[end] == UInt8(ascii: "\r"), bytes[end + 1] == UInt8(ascii: "\n") else { return nil }
        let line = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<end])
        let length = end + 2 - start
        switch bytes[start] {
        case UInt8(ascii: "+"): return (.status(String(decoding: line, as: UTF8.self)), length)
        case UInt8(ascii: "-"): return (.error(String(decoding: line, as: UTF8.self)), length)
        case UInt8(ascii: "$") where line.count == 2 && line[0] == UInt8(ascii: "-") && line[1] == UInt8(ascii: "1"):
            return (.null, length)
        case UInt8(ascii: ":"): return integer(line).map { (.integer($0), length) }
        default: return nil
        }
    }

    /// Optional minus, then 1 to 18 digits (always within Int64).
    private static func integer(_ text: UnsafeRawBufferPointer) -> Int? {
        let negative = text.first == UInt8(ascii: "-")
        let digits = negative ? UnsafeRawBufferPointer(rebasing: text.dropFirst()) : text
        guard (1...18).contains(digits.count) else { return nil }
        var value = 0
        for byte in digits {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int(digit)
        }
        return negative ? -value : value
    }

    func next() -> Next {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { return .protocolError }
        guard let raw else { return .needMore }
        defer { freeReplyObject(raw) }
        return .reply(Self.convert(raw.assumingMemoryBound(to: redisReply.self)))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_INTEGER: return .integer(Int(value.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                if let element = value.element[index] { items.append(convert(element)) }
            }
            return .array(items)
        default:
            let bytes = UnsafeRawBufferPointer(start: value.str, count: value.str == nil ? 0 : Int(value.len))
            switch value.type {
            case REDIS_REPLY_STATUS: return .status(String(decoding: bytes, as: UTF8.self))
            case REDIS_REPLY_ERROR: return .error(String(decoding: bytes, as: UTF8.self))
            default: return .bulk(Array(bytes))
            }
        }
    }
}
