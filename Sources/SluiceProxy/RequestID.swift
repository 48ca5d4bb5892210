/// Request ids: a random 64-bit prefix per loop and a counter, as 24 hex digits. Unique across
/// gateway instances with overwhelming probability, and cheap (no random number per request).
struct RequestIDGenerator {
    private let prefix: UInt64
    private var counter: UInt32 = 0

    init() {
        var generator = SystemRandomNumberGenerator()
        prefix = generator.next()
    }

    mutating func next() -> String {
        counter &+= 1
        var bytes = [UInt8](repeating: 0, count: 24)
        Self.writeHex(prefix, digits: 16, into: &bytes, at: 0)
        Self.writeHex(UInt64(counter), digits: 8, into: &bytes, at: 16)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func writeHex(_ value: UInt64, digits: Int, into bytes: inout [UInt8], at start: Int) {
        let alphabet: StaticString = "0123456789abcdef"
        var value = value
        for i in stride(from: start + digits - 1, through: start, by: -1) {
            bytes[i] = alphabet.utf8Start[Int(value & 0xf)]
            value >>= 4
        }
    }
}
