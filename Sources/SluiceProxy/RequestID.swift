/// Request ids: a random 60-bit prefix per loop and a 30-bit counter, as 15 characters of the
/// URL-safe base64 alphabet (`A-Z a-z 0-9 - _`). Fifteen ASCII characters fit in a Swift string
/// without a heap allocation, so the id costs no malloc and none of the retains and releases of
/// the many places it is copied to (headers both ways, the access log, the outcome). When the
/// counter wraps (2^30 requests on one loop) a new random prefix is drawn, so ids stay unique
/// across loops and gateway instances with overwhelming probability (two of a million prefixes
/// colliding: ~4e-7), at no random number per request.
struct RequestIDGenerator {
    private var prefix: UInt64
    private var counter: UInt32 = 0

    static let length = 15
    private static let counterBits: UInt32 = 30

    /// `counter`: where the counter starts (tests start it near the wrap).
    init(counter: UInt32 = 0) {
        prefix = Self.randomPrefix()
        self.counter = counter
    }

    mutating func next() -> String {
        counter &+= 1
        if counter >> Self.counterBits != 0 {
            counter = 1
            prefix = Self.randomPrefix()
        }
        let (prefix, counter) = (prefix, UInt64(counter))
        return String(unsafeUninitializedCapacity: Self.length) { bytes in
            Self.write(prefix, characters: 10, into: bytes, at: 0)
            Self.write(counter, characters: 5, into: bytes, at: 10)
            return Self.length
        }
    }

    private static func randomPrefix() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next() >> 4  // 60 bits: ten characters of six bits
    }

    /// `value`'s low `6 × characters` bits, most significant first.
    private static func write(_ value: UInt64, characters: Int, into bytes: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        var value = value
        for index in stride(from: start + characters - 1, through: start, by: -1) {
            bytes[index] = alphabet.utf8Start[Int(value & 0x3f)]
            value >>= 6
        }
    }
}
