/// W3C Trace Context (`traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`): a
/// request that carries a valid one keeps its trace and flags, and the gateway forwards its own
/// span as the parent; any other request (none, malformed, all-zero ids, version ff) starts a
/// trace, marked sampled (01) so tracing backends keep the gateway's view of it. `tracestate`
/// passes through untouched.
struct TraceContext: Equatable {
    /// The header forwarded: `00-<trace id>-<span id>-<flags>`, written once into one string;
    /// the parts are read out of it only when something logs them.
    let traceparent: String

    var traceID: String { part(3..<35) }
    var spanID: String { part(36..<52) }
    var flags: String { part(53..<55) }

    private func part(_ range: Range<Int>) -> String {
        let utf8 = traceparent.utf8
        return String(decoding: utf8[utf8.index(utf8.startIndex, offsetBy: range.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: range.upperBound)],
                      as: UTF8.self)
    }

    /// The context to forward for a request whose `traceparent` is `incoming`.
    static func forwarding(_ incoming: String?, ids: inout TraceIDGenerator) -> TraceContext {
        let span = ids.spanID()
        if var incoming, incoming.utf8.count >= 55 {
            let kept = incoming.withUTF8 { bytes -> TraceContext? in
                guard isValid(bytes) else { return nil }
                return TraceContext(traceparent: String(unsafeUninitializedCapacity: 55) { out in
                    writePrefix(into: out)
                    out[3..<35].initialize(fromContentsOf: bytes[3..<35])  // the caller's trace id
                    writeSpan(span, flags: (bytes[53], bytes[54]), into: out)
                    return 55
                })
            }
            if let kept { return kept }
        }
        let trace = ids.traceID()
        return TraceContext(traceparent: String(unsafeUninitializedCapacity: 55) { out in
            writePrefix(into: out)
            TraceIDGenerator.writeHex(trace.high, into: out, at: 3)
            TraceIDGenerator.writeHex(trace.low, into: out, at: 19)
            writeSpan(span, flags: (UInt8(ascii: "0"), UInt8(ascii: "1")), into: out)
            return 55
        })
    }

    private static func writePrefix(into out: UnsafeMutableBufferPointer<UInt8>) {
        out[0] = UInt8(ascii: "0")
        out[1] = UInt8(ascii: "0")
        out[2] = UInt8(ascii: "-")
    }

    private static func writeSpan(_ span: UInt64, flags: (UInt8, UInt8), into out: UnsafeMutableBufferPointer<UInt8>) {
        out[35] = UInt8(ascii: "-")
        TraceIDGenerator.writeHex(span, into: out, at: 36)
        out[52] = UInt8(ascii: "-")
        out[53] = flags.0
        out[54] = flags.1
    }

    /// The trace id and flags of a valid version-00 (or later, read as 00) `traceparent`.
    static func parse(_ value: String) -> (traceID: String, flags: String)? {
        var value = value
        return value.withUTF8 { bytes in
            guard isValid(bytes) else { return nil }
            return (String(decoding: bytes[3..<35], as: UTF8.self), String(decoding: bytes[53..<55], as: UTF8.self))
        }
    }

    /// A `traceparent` we keep: version 00 exactly 55 bytes long (a later version may say more
    /// after a dash; ff is invalid), lower-case hex, trace and parent ids not all zero.
    private static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
              bytes.count == 55 || (bytes.count > 55 && bytes[55] == UInt8(ascii: "-") && !(bytes[0] == 0x30 && bytes[1] == 0x30)) else {
            return false
        }
        func isHex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        }
        return isHex(0..<2) && !(bytes[0] == 0x66 && bytes[1] == 0x66) && isHex(3..<35) && isHex(36..<52) && isHex(53..<55)
            && !bytes[3..<35].allSatisfy({ $0 == 0x30 }) && !bytes[36..<52].allSatisfy({ $0 == 0x30 })
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

    /// A fresh trace id (128 bits), as two halves.
    mutating func traceID() -> (high: UInt64, low: UInt64) {
        counter &+= 1
        return (prefix, counter &* 0x9E37_79B9_7F4A_7C15)
    }

    mutating func spanID() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// `value` as 16 lower-case hex digits at `start`.
    static func writeHex(_ value: UInt64, into bytes: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        let alphabet: StaticString = "0123456789abcdef"
        var value = value
        for i in stride(from: start + 15, through: start, by: -1) {
            bytes[i] = alphabet.utf8Start[Int(value & 0xf)]
            value >>= 4
        }
    }
}
