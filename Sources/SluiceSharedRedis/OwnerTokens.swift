import Synchronization
import SluiceRedis

/// Unique owners for claims in the shared Redis (an idempotency record, a nonce): this
/// process's random prefix and a counter. A claim's value is its owner, so a release deletes it
/// only while it is still that claim.
public final class OwnerTokens: Sendable {
    private let prefix: String
    private let prefixBytes: [UInt8]
    private let counter = Atomic<UInt64>(0)

    public init() {
        prefix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        prefixBytes = Array(prefix.utf8)
    }

    public func next() -> String {
        prefix + ":" + String(counter.wrappingAdd(1, ordering: .relaxed).oldValue, radix: 36)
    }

    /// The next token as a RESP bulk string, appended to `command` without making a String (a
    /// nonce claim takes one per request); returns where the token's bytes are in `command`.
    public func appendNextBulk(to command: inout [UInt8]) -> Range<Int> {
        let value = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 13) { digits in   // 36^13 > 2^64
            var rest = value
            var count = 0
            repeat {
                let digit = UInt8(rest % 36)
                digits[count] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                rest /= 36
                count += 1
            } while rest > 0
            let length = prefixBytes.count + 1 + count
            RESPWriter.appendBulkHeader(length: length, to: &command)
            let start = command.count
            command.append(contentsOf: prefixBytes)
            command.append(UInt8(ascii: ":"))
            for index in stride(from: count - 1, through: 0, by: -1) { command.append(digits[index]) }
            command.append(UInt8(ascii: "\r"))
            command.append(UInt8(ascii: "\n"))
            return start..<(start + length)
        }
    }
}
