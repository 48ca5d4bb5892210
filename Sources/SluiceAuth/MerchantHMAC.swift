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

    /// What the Authorization header carries.
    struct Credentials: Equatable {
        var merchant: String
        var nonce: String
        var timestamp: Int64
        var timestampText: String
        var signature: [UInt8]
    }

    /// Parses `MCH-HMAC-SHA256 k="v",...`: exactly the four parameters, each once, quoted.
    static func parse(_ header: String) -> Credentials? {
        let text = Substring(header)
        guard text.count > scheme.count + 1, text.hasPrefix(scheme), text.dropFirst(scheme.count).first == " " else { return nil }
        var parameters: [Substring: Substring] = [:]
        var rest = text.dropFirst(scheme.count + 1)
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let name = rest[..<equals]
            rest = rest[rest.index(after: equals)...]
            guard rest.first == "\"" else { return nil }
            rest = rest.dropFirst()
            guard let close = rest.firstIndex(of: "\"") else { return nil }
            let value = rest[..<close]
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
            guard parameters.updateValue(value, forKey: name) == nil else { return nil }
            if rest.first == "," { rest = rest.dropFirst() } else if !rest.isEmpty { return nil }
        }
        guard parameters.count == 4, let merchant = parameters["mchid"], let nonce = parameters["nonce"],
              let timestampText = parameters["timestamp"], let signatureText = parameters["signature"],
              (1...32).contains(merchant.count), merchant.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }),
              (16...32).contains(nonce.count), nonce.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
              (1...12).contains(timestampText.count), timestampText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let timestamp = Int64(timestampText),
              let signature = Base64.decode(signatureText), signature.count == 32 else { return nil }
        return Credentials(merchant: String(merchant), nonce: String(nonce), timestamp: timestamp,
                           timestampText: String(timestampText), signature: signature)
    }

    /// The string the signature covers; nil when the query holds an invalid `%` escape.
    public static func stringToSign(method: String, target: String, timestamp: String, nonce: String, bodySHA256Hex: String) -> String? {
        guard let canonical = canonicalTarget(target) else { return nil }
        return method + "\n" + canonical + "\n" + timestamp + "\n" + nonce + "\n" + bodySHA256Hex + "\n"
    }

    /// The path, and the sorted, re-encoded query when there is one.
    static func canonicalTarget(_ target: String) -> String? {
        guard let mark = target.firstIndex(of: "?") else { return target }
        let path = target[..<mark]
        let query = target[target.index(after: mark)...]
        if query.isEmpty { return String(path) }
        var pairs: [(name: String, value: String)] = []
        for parameter in query.split(separator: "&", omittingEmptySubsequences: true) {
            let equals = parameter.firstIndex(of: "=")
            guard let name = reencoded(equals.map { parameter[..<$0] } ?? parameter),
                  let value = reencoded(equals.map { parameter[parameter.index(after: $0)...] } ?? "") else { return nil }
            pairs.append((name, value))
        }
        pairs.sort { ($0.name.utf8.lexicographicallyPrecedes($1.name.utf8))
            || ($0.name == $1.name && $0.value.utf8.lexicographicallyPrecedes($1.value.utf8)) }
        return String(path) + "?" + pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// Percent-decodes, then encodes every byte but the unreserved ones; nil on a bad escape.
    private static func reencoded(_ text: Substring) -> String? {
        let hex = Array("0123456789ABCDEF".utf8)
        func value(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            var byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = value(bytes[index + 1]), let low = value(bytes[index + 2]) else { return nil }
                byte = high << 4 | low
                index += 2
            }
            index += 1
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The Authorization header value for a request (what `sluice sign` prints, and what tests
    /// and load scripts send). `target` is the path (normal form) and query as they will be sent.
    public static func authorization(secret: [UInt8], merchant: String, method: String, target: String, body: [UInt8],
                                     timestamp: Int64, nonce: String) -> String? {
        let bodyHash = body.withUnsafeBytes { Crypto.sha256Hex($0) }
        guard let message = stringToSign(method: method, target: target, timestamp: String(timestamp), nonce: nonce,
                                         bodySHA256Hex: bodyHash),
              let key = HMACKey(secret: secret, loops: 0) else { return nil }
        let signature = key.authenticate(Array(message.utf8), loopIndex: -1)
        guard !signature.isEmpty else { return nil }
        return "\(scheme) mchid=\"\(merchant)\",nonce=\"\(nonce)\",timestamp=\"\(timestamp)\",signature=\"\(Base64.encode(signature))\""
    }

    /// A fresh nonce: 32 characters of [0-9a-f] from the system's random source.
    public static func freshNonce() -> String {
        Crypto.hex(Crypto.randomBytes(16))
    }
}
