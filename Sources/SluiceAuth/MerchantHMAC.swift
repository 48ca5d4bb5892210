import SluiceGuards
import SluiceHTTP

/// The Sluice merchant signature, `MCH-HMAC-SHA256` (spec §6), shaped like WeChat Pay v3 so
/// merchants know it:
///
/// ```
/// Authorization: MCH-HMAC-SHA256 mchid="1900000001",nonce="<16-32 [A-Za-z0-9]>",timestamp="<unix s>",signature="<b64>"
/// string_to_sign = METHOD \n CANONICAL_TARGET \n TIMESTAMP \n NONCE \n hex(SHA256(body)) \n
/// signature      = base64(HMAC-SHA256(merchant secret, string_to_sign))
/// ```
///
/// CANONICAL_TARGET is the normalised path the router matched (and the backend receives), then,
/// when the request has a query, `?` and its parameters sorted: each name and value
/// percent-decoded and re-encoded (RFC 3986: unreserved characters plain, every other byte as
/// upper-case `%XX`; `+` is a plain `+`, so it is encoded `%2B`), sorted by name then value,
/// joined with `&`. A parameter without `=` counts as an empty value. The body hash is over the
/// exact bytes forwarded.
public enum MerchantHMAC {
    public static let scheme = "MCH-HMAC-SHA256"

    /// What the Authorization header carries; the nonce and the timestamp's text as positions in
    /// the header's bytes (this runs for every request on an auth route: no copies).
    struct Credentials {
        /// At most 32 bytes; up to 15 (the demo's ten digits) a Swift string holds inline.
        var merchant: String
        var nonce: Range<Int>
        var timestamp: Int64
        var timestampText: Range<Int>
        var signature: SHA256Digest
    }

    /// Parses `MCH-HMAC-SHA256 k="v",...`: exactly the four parameters, each once, quoted.
    static func parse(_ header: String) -> Credentials? {
        var header = header
        return header.withUTF8 { parse(bytes: $0) }
    }

    static let schemeBytes = Array(scheme.utf8)
    private static let parameterNames = ["mchid", "nonce", "timestamp", "signature"].map { Array($0.utf8) }

    static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Credentials? {
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 4) { ranges -> Credentials? in
            guard AuthorizationParameters.parse(b, scheme: schemeBytes, names: parameterNames, into: ranges) else { return nil }
            let (merchant, nonce, timestamp, signature) = (ranges[0], ranges[1], ranges[2], ranges[3])
            guard (1...32).contains(merchant.count),
                  b[merchant].allSatisfy({ AuthorizationParameters.isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }),
                  (16...32).contains(nonce.count), b[nonce].allSatisfy(AuthorizationParameters.isAlphanumeric),
                  let seconds = AuthorizationParameters.seconds(b, timestamp),
                  let tag = Base64.decodeDigest(UnsafeBufferPointer(rebasing: b[signature])) else { return nil }
            return Credentials(merchant: AuthorizationParameters.text(b, merchant), nonce: nonce, timestamp: seconds,
                               timestampText: timestamp, signature: tag)
        }
    }

    /// The string the signature covers; nil when the query holds an invalid `%` escape.
    public static func stringToSign(method: String, target: String, timestamp: String, nonce: String, bodySHA256Hex: String) -> String? {
        guard let canonical = canonicalTarget(target) else { return nil }
        var bytes: [UInt8] = []
        var (timestamp, nonce) = (timestamp, nonce)
        timestamp.withUTF8 { timestamp in
            nonce.withUTF8 { nonce in
                forEachPart(method: method, canonicalTarget: canonical, timestamp: timestamp, nonce: nonce,
                            bodySHA256Hex: bodySHA256Hex) { bytes.append(contentsOf: $0) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The tag of the string to sign under `key`, fed to the MAC piece by piece (the guard's path:
    /// the string itself is never built).
    static func tag(_ key: HMACKey, method: String, canonicalTarget: String, timestamp: UnsafeBufferPointer<UInt8>,
                    nonce: UnsafeBufferPointer<UInt8>, bodySHA256Hex: String) -> SHA256Digest {
        key.authenticate { stream in
            forEachPart(method: method, canonicalTarget: canonicalTarget, timestamp: timestamp, nonce: nonce,
                        bodySHA256Hex: bodySHA256Hex) { stream.update($0) }
        }
    }

    /// The string to sign, in order: each part, then a line feed.
    private static func forEachPart(method: String, canonicalTarget: String, timestamp: UnsafeBufferPointer<UInt8>,
                                    nonce: UnsafeBufferPointer<UInt8>, bodySHA256Hex: String,
                                    _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        let lineFeed = UInt8(ascii: "\n")
        withUnsafeBytes(of: lineFeed) { newline in
            let newline = newline.assumingMemoryBound(to: UInt8.self)
            var (method, canonicalTarget, bodySHA256Hex) = (method, canonicalTarget, bodySHA256Hex)
            method.withUTF8 { body($0) }
            body(newline)
            canonicalTarget.withUTF8 { body($0) }
            body(newline)
            body(timestamp)
            body(newline)
            body(nonce)
            body(newline)
            bodySHA256Hex.withUTF8 { body($0) }
            body(newline)
        }
    }

    /// The path, and the sorted, re-encoded query when there is one.
    static func canonicalTarget(_ target: String) -> String? {
        let utf8 = target.utf8
        guard let mark = utf8.firstIndex(of: UInt8(ascii: "?")) else { return target }
        let path = target[..<mark]
        let query = target[utf8.index(after: mark)...]
        if query.isEmpty { return String(path) }
        var pairs: [(name: String, value: String)] = []
        for parameter in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = parameter.firstIndex(of: UInt8(ascii: "="))
            guard let name = reencoded(equals.map { parameter[..<$0] } ?? parameter[...]),
                  let value = reencoded(equals.map { parameter[parameter.index(after: $0)...] } ?? parameter[parameter.endIndex...]) else {
                return nil
            }
            pairs.append((name, value))
        }
        pairs.sort { ($0.name.utf8.lexicographicallyPrecedes($1.name.utf8))
            || ($0.name == $1.name && $0.value.utf8.lexicographicallyPrecedes($1.value.utf8)) }
        return String(path) + "?" + pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// Percent-decodes, then encodes every byte but the unreserved ones; nil on a bad escape.
    private static func reencoded(_ text: Substring.UTF8View.SubSequence) -> String? {
        let bytes = Array(text)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            var byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard let decoded = PercentEncoding.escapedByte(in: bytes, at: index) else { return nil }
                byte = decoded
                index += 2
            }
            index += 1
            if PercentEncoding.isUnreserved(byte) { out.append(byte) } else { PercentEncoding.appendEscaped(byte, to: &out) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The Authorization header value for a request (what `sluice sign` prints, and what tests
    /// and load scripts send). `target` is the path (normal form) and query as they will be sent.
    public static func authorization(secret: [UInt8], merchant: String, method: String, target: String, body: [UInt8],
                                     timestamp: Int64, nonce: String) -> String? {
        let bodyHash = Digests.sha256Hex(body)
        guard let message = stringToSign(method: method, target: target, timestamp: String(timestamp), nonce: nonce,
                                         bodySHA256Hex: bodyHash) else { return nil }
        let signature = HMACKey(secret: secret).authenticate(Array(message.utf8))
        return "\(scheme) mchid=\"\(merchant)\",nonce=\"\(nonce)\",timestamp=\"\(timestamp)\",signature=\"\(Base64.encode(signature.bytes))\""
    }

    /// A fresh nonce: 32 characters of [0-9a-f] from the system's random source.
    public static func freshNonce() -> String {
        Digests.hex(Crypto.randomBytes(16))
    }
}
