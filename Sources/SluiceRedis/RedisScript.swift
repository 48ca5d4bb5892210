internal import COpenSSL

/// A Lua script called by EVALSHA. The SHA1 is computed here once, so a call never needs a
/// SCRIPT LOAD first; a NOSCRIPT reply (after a Redis restart or SCRIPT FLUSH) is answered by
/// the client with one EVAL of the source, which also caches the script again.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let bytes = Array(source.utf8)
        _ = bytes.withUnsafeBytes { raw in EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha1(), nil) }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        sha1 = String(decoding: digest.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// The start of every `EVALSHA` of this script with this many keys and arguments: the array
    /// header, `EVALSHA`, the SHA1 and the key count. Callers that send the script often format it
    /// once and append the keys and arguments as bulk strings (`RESPWriter.appendBulk`).
    public func evalshaHead(keys: Int, arguments: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        RESPWriter.appendArrayHeader(3 + keys + arguments, to: &bytes)
        RESPWriter.appendBulk("EVALSHA".utf8, to: &bytes)
        RESPWriter.appendBulk(sha1.utf8, to: &bytes)
        RESPWriter.appendBulk(keys, to: &bytes)
        return bytes
    }

    /// The same call as `evalsha` (a command starting with `evalshaHead`) as `EVAL source ...`,
    /// for a Redis that has lost the script; nil if `evalsha` is not such a command.
    func eval(fromEvalsha evalsha: [UInt8]) -> [UInt8]? {
        // `*<n>\r\n` stays; `$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n` becomes `$4\r\nEVAL\r\n$<len>\r\n<source>\r\n`.
        guard let headerEnd = evalsha.firstIndex(of: 10).map({ $0 + 1 }) else { return nil }
        var shaPart: [UInt8] = []
        RESPWriter.appendBulk("EVALSHA".utf8, to: &shaPart)
        RESPWriter.appendBulk(sha1.utf8, to: &shaPart)
        let restStart = headerEnd + shaPart.count
        guard restStart <= evalsha.count, evalsha[headerEnd..<restStart].elementsEqual(shaPart) else { return nil }
        var bytes = Array(evalsha[..<headerEnd])
        bytes.reserveCapacity(evalsha.count + source.utf8.count + 16)
        RESPWriter.appendBulk("EVAL".utf8, to: &bytes)
        RESPWriter.appendBulk(source.utf8, to: &bytes)
        bytes.append(contentsOf: evalsha[restStart...])
        return bytes
    }

    /// `EVALSHA sha numkeys keys... args...`.
    public func command(keys: [String], arguments: [String]) -> [UInt8] {
        var bytes = evalshaHead(keys: keys.count, arguments: arguments.count)
        bytes.reserveCapacity(bytes.count + (keys + arguments).reduce(0) { $0 + $1.utf8.count + 16 })
        for key in keys { RESPWriter.appendBulk(key.utf8, to: &bytes) }
        for argument in arguments { RESPWriter.appendBulk(argument.utf8, to: &bytes) }
        return bytes
    }
}
