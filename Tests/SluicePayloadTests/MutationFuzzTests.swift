import SluicePayload
import XCTest

/// Feeds mutated valid documents to every parser. Each must either parse (and then give a
/// self-consistent payload) or throw `PayloadError`; a crash, trap or hang fails the run. The PRNG
/// is seeded, so a failure reproduces.
final class MutationFuzzTests: XCTestCase {
    /// SplitMix64: small, fast, deterministic.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let seeds: [(PayloadFormat, String)] = [
        (.json, #"{"appid":"wxd678efh567hg6787","mchid":"1900000001","amount":{"total":100,"currency":"CNY"},"#
            + #""items":[{"n":"\u4e2d\ud83d\ude00","q":-1.5e3},true,false,null],"e":"a\"\\\/\b\f\n\r\t"}"#),
        (.xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml><return_code><![CDATA[SUCCESS]]></return_code>"
            + "<total_fee>1</total_fee><attach>&lt;测试&#x4e2d;&amp;</attach><e/></xml>"),
        (.form, "gmt_create=2015-11-27+15%3A45%3A57&charset=utf-8&subject=%E6%B5%8B%E8%AF%95&sign=ab%2B%3D&empty="),
    ]

    /// Bytes that matter to one of the grammars, so mutations hit interesting paths often.
    static let interesting: [UInt8] = Array("{}[]\":,\\u0123456789eE+-.tfn<>/!?&;=%#xX[CDATA] \t\r\n".utf8)
        + [0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xFF]

    func testMutatedDocumentsNeverCrash() {
        var rng = SplitMix64(state: 0x5EED_0F_51_01CE)
        var parsed = 0
        var refused: [PayloadError.Reason: Int] = [:]
        for round in 0..<20_000 {
            let (format, seed) = Self.seeds[round % Self.seeds.count]
            var bytes = Array(seed.utf8)
            let mutations = Int.random(in: 1...4, using: &rng)
            for _ in 0..<mutations { mutate(&bytes, using: &rng) }
            // Also try each body as the other formats: parsers must not assume their own shape.
            let target = round % 7 == 0 ? PayloadFormat.allCases.randomElement(using: &rng)! : format
            do throws(PayloadError) {
                let payload = try PaymentPayload.parse(bytes, format: target,
                                                       limits: PayloadLimits(maxDepth: 8, maxFields: 64, maxKeyLength: 32))
                parsed += 1
                checkConsistent(payload)
            } catch {
                refused[error.reason, default: 0] += 1
                XCTAssertFalse(error.message.isEmpty)
                if let offset = error.offset {
                    XCTAssertTrue(offset >= 0 && offset <= bytes.count, "offset \(offset) outside body: \(error)")
                }
            }
        }
        XCTAssertGreaterThan(parsed, 0, "some mutations should stay valid")
        XCTAssertGreaterThan(refused.count, 10, "mutations should reach many distinct reasons: \(refused)")
    }

    func testRandomBytesNeverCrash() {
        var rng = SplitMix64(state: 42)
        for round in 0..<5_000 {
            let count = Int.random(in: 0...64, using: &rng)
            var bytes = (0..<count).map { _ in Self.interesting.randomElement(using: &rng)! }
            if round % 3 == 0 { bytes = Array("{\"".utf8) + bytes }
            if round % 3 == 1 { bytes = Array("<xml><a>".utf8) + bytes }
            for format in PayloadFormat.allCases {
                do throws(PayloadError) {
                    checkConsistent(try PaymentPayload.parse(bytes, format: format))
                } catch {
                    XCTAssertFalse(error.description.isEmpty)
                }
            }
        }
    }

    private func mutate(_ bytes: inout [UInt8], using rng: inout SplitMix64) {
        let pick = { (rng: inout SplitMix64) -> UInt8 in
            Bool.random(using: &rng) ? Self.interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        }
        switch Int.random(in: 0..<6, using: &rng) {
        case 0 where !bytes.isEmpty:  // replace a byte
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = pick(&rng)
        case 1:  // insert a byte
            bytes.insert(pick(&rng), at: Int.random(in: 0...bytes.count, using: &rng))
        case 2 where !bytes.isEmpty:  // delete a byte
            bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
        case 3 where bytes.count > 2:  // duplicate a chunk (duplicate keys, deeper nesting)
            let a = Int.random(in: 0..<bytes.count, using: &rng)
            let b = Int.random(in: a...min(bytes.count, a + 24), using: &rng)
            bytes.insert(contentsOf: bytes[a..<b], at: Int.random(in: 0...bytes.count, using: &rng))
        case 4 where !bytes.isEmpty:  // truncate
            bytes.removeLast(Int.random(in: 0...min(bytes.count, 8), using: &rng))
        default:  // flip one bit
            if !bytes.isEmpty {
                let k = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[k] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
        }
    }

    /// What every accepted payload must satisfy.
    private func checkConsistent(_ payload: PaymentPayload) {
        for field in payload.fields {
            XCTAssertEqual(payload[field.name], field.value, "lookup of \(field.name)")
            XCTAssertFalse(field.name.isEmpty)
            XCTAssertFalse(field.value.text.unicodeScalars.contains("\u{0}"))
        }
        XCTAssertEqual(Set(payload.fields.map(\.name)).count, payload.fields.count, "paths are unique")
        for field in payload.topLevelFields {
            XCTAssertEqual(payload[field.name], field.value)
        }
        if payload.format != .json { XCTAssertEqual(payload.fields, payload.topLevelFields) }
    }
}
