/// W3C Trace Context (`traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`): a
/// request that carries a valid one keeps its trace and flags, and the gateway forwards its own
/// span as the parent; any other request (none, malformed, all-zero ids, version ff) starts a
/// trace, marked sampled (01) so tracing backends keep the gateway's view of it. `tracestate`
/// passes through untouched.
struct TraceContext: Equatable {
    let traceID: String
    let spanID: String
    let flags: String

    var traceparent: String { "00-" + traceID + "-" + spanID + "-" + flags }

    /// The context to forward for a request whose `traceparent` is `incoming`.
    static func forwarding(_ incoming: String?, ids: inout TraceIDGenerator) -> TraceContext {
        let span = ids.spanID()
        if let incoming, let parsed = parse(incoming) {
            return TraceContext(traceID: parsed.traceID, spanID: span, flags: parsed.flags)
        }
        return TraceContext(traceID: ids.traceID(), spanID: span, flags: "01")
    }

    /// The trace id and flags of a valid version-00 (or later, read as 00) `traceparent`.
    static func parse(_ value: String) -> (traceID: String, flags: String)? {
        let bytes = Array(value.utf8)
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
              bytes.count == 55 || (bytes.count > 55 && bytes[55] == UInt8(ascii: "-") && !(bytes[0] == 0x30 && bytes[1] == 0x30)) else {
            return nil
        }
        func isHex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        }
        guard isHex(0..<2), !(bytes[0] == 0x66 && bytes[1] == 0x66), isHex(3..<35), isHex(36..<52), isHex(53..<55),
              !bytes[3..<35].allSatisfy({ $0 == 0x30 }), !bytes[36..<52].allSatisfy({ $0 == 0x30 }) else { return nil }
        return (String(decoding: bytes[3..<35], as: UTF8.self), String(decoding: bytes[53..<55], as: UTF8.self))
    }
}

/// Trace and span ids for one loop: a random 64-bit prefix and a counter for trace ids (unique,
/// not secret), xorshift for span ids. No system random call per request.
struct TraceIDGenerator {
    private let prefix: UInt64
    private var counter: UInt64 = 0
    private var state: UInt64

    init() {
        var generator = SystemRandomNumberGenerator()
        prefix = generator.next()
        state = generator.next() | 1
    }

    mutating func traceID() -> String {
        counter &+= 1
        return Self.hex(prefix) + Self.hex(counter &* 0x9E37_79B9_7F4A_7C15)
    }

    mutating func spanID() -> String {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Self.hex(state)
    }

    private static func hex(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { bytes in
            let alphabet: StaticString = "0123456789abcdef"
            var value = value
            for i in stride(from: 15, through: 0, by: -1) {
                bytes[i] = alphabet.utf8Start[Int(value & 0xf)]
                value >>= 4
            }
            return 16
        }
    }
}
