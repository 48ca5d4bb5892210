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
        let (prefix, counter) = (prefix, counter)
        // Written straight into the string's storage: no intermediate array.
        return String(unsafeUninitializedCapacity: 24) { bytes in
            Self.writeHex(prefix, digits: 16, into: bytes, at: 0)
            Self.writeHex(UInt64(counter), digits: 8, into: bytes, at: 16)
            return 24
        }
    }

    private static func writeHex(_ value: UInt64, digits: Int, into bytes: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        let alphabet: StaticString = "0123456789abcdef"
        var value = value
        for i in stride(from: start + digits - 1, through: start, by: -1) {
            bytes[i] = alphabet.utf8Start[Int(value & 0xf)]
            value >>= 4
        }
    }
}
