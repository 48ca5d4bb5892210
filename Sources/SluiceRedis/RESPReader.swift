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
            let bytes: [UInt8] = value.str.map { pointer in
                Array(UnsafeRawBufferPointer(start: pointer, count: Int(value.len)))
            } ?? []
            switch value.type {
            case REDIS_REPLY_STATUS: return .status(String(decoding: bytes, as: UTF8.self))
            case REDIS_REPLY_ERROR: return .error(String(decoding: bytes, as: UTF8.self))
            default: return .bulk(bytes)
            }
        }
    }
}
