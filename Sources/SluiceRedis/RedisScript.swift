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

    /// `EVALSHA sha numkeys keys... args...` (or `EVAL source ...` with `useSource`).
    func command(keys: [String], arguments: [String], useSource: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + (useSource ? source.utf8.count : 40) + (keys + arguments).reduce(0) { $0 + $1.utf8.count + 16 })
        RESPWriter.appendArrayHeader(3 + keys.count + arguments.count, to: &bytes)
        RESPWriter.appendBulk((useSource ? "EVAL" : "EVALSHA").utf8, to: &bytes)
        RESPWriter.appendBulk((useSource ? source : sha1).utf8, to: &bytes)
        RESPWriter.appendBulk(keys.count, to: &bytes)
        for key in keys { RESPWriter.appendBulk(key.utf8, to: &bytes) }
        for argument in arguments { RESPWriter.appendBulk(argument.utf8, to: &bytes) }
        return bytes
    }
}
