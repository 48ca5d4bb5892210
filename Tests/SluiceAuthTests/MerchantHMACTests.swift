@testable import SluiceAuth
import SluiceGuards
import XCTest

/// The merchant HMAC scheme against the spec's vector (§6), and every part of it that a
/// one-byte change must break.
final class MerchantHMACTests: XCTestCase {
    // Spec §6, [S] vector.
    static let secret = Array("mch_secret_0123456789abcdef".utf8)
    static let body = Array(#"{"out_trade_no":"ORDER-20240101-0001","total_fee":100,"channel":"wechat"}"#.utf8)
    static let bodyHash = "5b6a03bd12af47d15b7354fb1b34cf8b90b22354f1e048a53724871f9d7edc8a"
    static let signature = "Jm32Ug9FSTpmTMM4OlZZOq65Gu3osiLZWGAixDc38UE="

    func sign(secret: [UInt8] = secret, method: String = "POST", target: String = "/v1/pay/orders", body: [UInt8] = body,
              timestamp: Int64 = 1704067200, nonce: String = "b7e2f0c4a1d94e3f") -> String? {
        MerchantHMAC.authorization(secret: secret, merchant: "M100001", method: method, target: target, body: body,
                                   timestamp: timestamp, nonce: nonce)
            .flatMap(MerchantHMAC.parse).map { Base64.encode($0.signature.bytes) }
    }

    func testSpecVector() {
        XCTAssertEqual(Digests.sha256Hex(Self.body), Self.bodyHash)
        XCTAssertEqual(MerchantHMAC.stringToSign(method: "POST", target: "/v1/pay/orders", timestamp: "1704067200",
                                                 nonce: "b7e2f0c4a1d94e3f", bodySHA256Hex: Self.bodyHash),
                       "POST\n/v1/pay/orders\n1704067200\nb7e2f0c4a1d94e3f\n\(Self.bodyHash)\n")
        XCTAssertEqual(sign(), Self.signature)
    }

    /// RFC 4231's HMAC-SHA256 cases: a short key, a key of one block's length and more
    /// (hashed first), and a message longer than a block.
    func testHMACKeyMatchesRFC4231() {
        let cases: [(key: [UInt8], message: [UInt8], tag: String)] = [
            ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            ([UInt8](repeating: 0xaa, count: 131),
             Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ]
        for (index, item) in cases.enumerated() {
            let key = HMACKey(secret: item.key)
            XCTAssertEqual(key.authenticate(item.message).hex, item.tag, "case \(index)")
            // Fed in pieces, and with the key used again: the same tag.
            let pieces = key.authenticate { stream in
                for chunk in stride(from: 0, to: item.message.count, by: 7) {
                    stream.update(Array(item.message[chunk..<min(chunk + 7, item.message.count)]))
                }
            }
            XCTAssertTrue(pieces.matches(key.authenticate(item.message)), "case \(index) in pieces")
        }
        let exactlyOneBlock = HMACKey(secret: [UInt8](repeating: 0x61, count: 64)).authenticate(Array("m".utf8))
        XCTAssertFalse(exactlyOneBlock.matches(HMACKey(secret: [UInt8](repeating: 0x61, count: 63)).authenticate(Array("m".utf8))))
    }

    func testAOneByteChangeOfAnyPartChangesTheSignature() {
        var secret = Self.secret
        secret[0] ^= 1
        var body = Self.body
        body[body.count - 2] ^= 1
        let variants = [sign(secret: secret), sign(method: "PUT"), sign(target: "/v1/pay/order"), sign(body: body),
                        sign(timestamp: 1704067201), sign(nonce: "b7e2f0c4a1d94e3e")]
        for (index, variant) in variants.enumerated() {
            XCTAssertNotNil(variant)
            XCTAssertNotEqual(variant, Self.signature, "variant \(index)")
        }
    }

    func testHeaderParsing() throws {
        let good = #"MCH-HMAC-SHA256 mchid="M100001",nonce="b7e2f0c4a1d94e3f",timestamp="1704067200",signature="\#(Self.signature)""#
        let credentials = try XCTUnwrap(MerchantHMAC.parse(good))
        XCTAssertEqual(credentials.merchant, "M100001")
        XCTAssertEqual(credentials.timestamp, 1704067200)
        XCTAssertNotNil(MerchantHMAC.parse(#"MCH-HMAC-SHA256 signature="\#(Self.signature)", timestamp="1", nonce="b7e2f0c4a1d94e3f", mchid="M""#),
                        "any order, spaces after commas")
        XCTAssertNotNil(MerchantHMAC.parse(#"mch-hmac-sha256 mchid="M",nonce="b7e2f0c4a1d94e3f",timestamp="1",signature="\#(Self.signature)""#),
                        "the auth-scheme is case-insensitive (RFC 9110 §11.1)")
        let malformed = [
            "", "MCH-HMAC-SHA256", "Bearer abc",
            #"MCH-HMAC-SHA257 mchid="M",nonce="b7e2f0c4a1d94e3f",timestamp="1",signature="\#(Self.signature)""#,
            #"MCH-HMAC-SHA256 mchid="M",nonce="b7e2f0c4a1d94e3f",timestamp="1""#,                        // no signature
            #"MCH-HMAC-SHA256 mchid="M",mchid="N",nonce="b7e2f0c4a1d94e3f",timestamp="1",signature="\#(Self.signature)""#,
            #"MCH-HMAC-SHA256 mchid=M,nonce="b7e2f0c4a1d94e3f",timestamp="1",signature="\#(Self.signature)""#,  // unquoted
            #"MCH-HMAC-SHA256 mchid="M",nonce="short",timestamp="1",signature="\#(Self.signature)""#,
            #"MCH-HMAC-SHA256 mchid="M",nonce="b7e2f0c4-1d94e3f0",timestamp="1",signature="\#(Self.signature)""#,
            #"MCH-HMAC-SHA256 mchid="M",nonce="b7e2f0c4a1d94e3f",timestamp="-1",signature="\#(Self.signature)""#,
            #"MCH-HMAC-SHA256 mchid="M",nonce="b7e2f0c4a1d94e3f",timestamp="1",signature="AAAA""#,  // 3 bytes
            #"MCH-HMAC-SHA256 mchid="M",nonce="b7e2f0c4a1d94e3f",timestamp="1",signature="\#(Self.signature)",extra="x""#,
            #"MCH-HMAC-SHA256 mchid="M",nonce="b7e2f0c4a1d94e3f",timestamp="1",signature="\#(Self.signature)" junk"#,
        ]
        for header in malformed { XCTAssertNil(MerchantHMAC.parse(header), header) }
    }

    func testCanonicalQueryIsSortedAndReencoded() {
        XCTAssertEqual(MerchantHMAC.canonicalTarget("/v3/pay?b=2&a=1&a=0"), "/v3/pay?a=0&a=1&b=2")
        XCTAssertEqual(MerchantHMAC.canonicalTarget("/p?x=%7e%41&y=a+b&z"), "/p?x=~A&y=a%2Bb&z=")
        XCTAssertEqual(MerchantHMAC.canonicalTarget("/p?"), "/p")
        XCTAssertEqual(MerchantHMAC.canonicalTarget("/p?%E4%BD%A0=1"), "/p?%E4%BD%A0=1")
        XCTAssertNil(MerchantHMAC.canonicalTarget("/p?a=%zz"))
    }

    func testBase64IsStrict() {
        XCTAssertEqual(Base64.decode("TWFu"), Array("Man".utf8))
        XCTAssertEqual(Base64.decode("TWE="), Array("Ma".utf8))
        XCTAssertEqual(Base64.decode("TQ=="), Array("M".utf8))
        for bad in ["", "TWF", "TW=u", "TWE", "TR==", "TWF*", "====", "TQ==TQ=="] {
            XCTAssertNil(Base64.decode(Substring(bad)), bad)
        }
    }

    func testNonceBookRemembersUntilExpiryWithinItsCapacity() {
        var book = NonceBook(capacity: 3)
        let (a, b, c, d) = (NonceCache.key(scope: "m", nonce: "a"), NonceCache.key(scope: "m", nonce: "b"),
                            NonceCache.key(scope: "m", nonce: "c"), NonceCache.key(scope: "m", nonce: "d"))
        XCTAssertNotEqual(NonceCache.key(scope: "m", nonce: "a"), NonceCache.key(scope: "n", nonce: "a"), "scoped by merchant")
        XCTAssertNotEqual(NonceCache.key(scope: "ab", nonce: "c"), NonceCache.key(scope: "a", nonce: "bc"), "scope and nonce kept apart")
        XCTAssertTrue(book.claim(a, now: 0, ttl: 10))
        XCTAssertFalse(book.claim(a, now: 9, ttl: 10), "a replay within the TTL")
        XCTAssertTrue(book.claim(a, now: 10, ttl: 10), "expired")
        XCTAssertTrue(book.claim(b, now: 10, ttl: 10))
        XCTAssertTrue(book.claim(c, now: 10, ttl: 10))
        XCTAssertTrue(book.claim(d, now: 10, ttl: 10))
        XCTAssertEqual(book.count, 3, "the oldest went first")
        XCTAssertTrue(book.claim(a, now: 11, ttl: 10), "a was evicted (its ring slot reused)")
        XCTAssertFalse(book.claim(d, now: 11, ttl: 10))
        book.release(d)
        XCTAssertTrue(book.claim(d, now: 11, ttl: 10))
    }
}
