/// The cluster slot a pre-formatted RESP command must be sent to, read from its bytes.
///
/// Guards format their commands themselves (`RESPWriter`, `RedisScript.evalshaHead`), so the
/// cluster client finds the routing key in the bytes rather than asking every caller to name it:
/// the guards keep one client API for a single node and a cluster. The key is the first one the
/// command names: argument 1 for key commands (GET, SET, ...), argument 3 for scripts
/// (`EVAL[SHA] <script> <numkeys> <key>...`) when numkeys > 0. Scripts' other keys must share
/// its slot (hash tags); Redis refuses them with CROSSSLOT otherwise.
enum RedisCommandSlot {
    /// nil: the command names no key (PING, SCRIPT, CLUSTER, ..., a script without keys): any
    /// node may take it.
    static func of(_ command: [UInt8]) -> Int? {
        command.withUnsafeBufferPointer { bytes -> Int? in
            var cursor = Cursor(bytes: bytes)
            guard cursor.expect(UInt8(ascii: "*")), let count = cursor.number(), count >= 2,
                  let name = cursor.bulk() else { return nil }
            if isScript(bytes[name]) {
                guard count >= 4, cursor.bulk() != nil, let numkeys = cursor.bulk(),
                      let keys = Int(String(decoding: bytes[numkeys], as: UTF8.self)), keys > 0,
                      let key = cursor.bulk() else { return nil }
                return RedisHashSlot.of(bytes[key])
            }
            if isKeyless(bytes[name]) { return nil }
            guard let key = cursor.bulk() else { return nil }
            return RedisHashSlot.of(bytes[key])
        }
    }

    private static let scripts: [[UInt8]] = ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"].map { Array($0.utf8) }
    private static let keyless: [[UInt8]] = ["PING", "ECHO", "SCRIPT", "CLUSTER", "INFO", "TIME", "ASKING", "AUTH", "SELECT", "ACL",
                                             "HELLO", "CLIENT", "COMMAND", "CONFIG", "DBSIZE", "FLUSHALL", "FLUSHDB",
                                             "FUNCTION", "READONLY", "READWRITE", "DEBUG", "WAIT"].map { Array($0.utf8) }

    private static func isScript(_ name: UnsafeBufferPointer<UInt8>.SubSequence) -> Bool {
        scripts.contains { equalsIgnoringCase(name, $0) }
    }

    private static func isKeyless(_ name: UnsafeBufferPointer<UInt8>.SubSequence) -> Bool {
        keyless.contains { equalsIgnoringCase(name, $0) }
    }

    private static func equalsIgnoringCase(_ name: UnsafeBufferPointer<UInt8>.SubSequence, _ upper: [UInt8]) -> Bool {
        name.count == upper.count && zip(name, upper).allSatisfy { ($0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0) == $1 }
    }

    /// Reads RESP array headers and bulk strings from a command's bytes.
    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        mutating func expect(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// Digits up to CRLF.
        mutating func number() -> Int? {
            var value = 0
            var digits = 0
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39, digits < 10 {
                value = value * 10 + Int(bytes[position] - 0x30)
                position += 1
                digits += 1
            }
            guard digits > 0, expect(13), expect(10) else { return nil }
            return value
        }

        /// The range of the next bulk string's content.
        mutating func bulk() -> Range<Int>? {
            guard expect(UInt8(ascii: "$")), let length = number(), position + length + 2 <= bytes.count else { return nil }
            let range = position..<(position + length)
            position += length
            guard expect(13), expect(10) else { return nil }
            return range
        }
    }
}
