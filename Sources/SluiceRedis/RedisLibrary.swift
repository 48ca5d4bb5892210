internal import CHiredis

/// Facts about the hiredis that Sluice is built against.
public enum RedisLibrary {
    public static var version: String {
        "\(sluice_hiredis_major()).\(sluice_hiredis_minor()).\(sluice_hiredis_patch())"
    }

    /// Parses one RESP reply with hiredis's own reader (used to prove the library links and
    /// works; the async client of the rate-limit issue builds on the same reader).
    public static func parseReply(_ bytes: [UInt8]) -> String? {
        guard let reader = redisReaderCreate() else { return nil }
        defer { redisReaderFree(reader) }
        let fed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, buffer.count) }
        }
        guard fed == REDIS_OK else { return nil }
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK, let reply else { return nil }
        defer { freeReplyObject(reply) }
        let typed = reply.assumingMemoryBound(to: redisReply.self)
        guard let str = typed.pointee.str else { return nil }
        return String(cString: str)
    }
}
