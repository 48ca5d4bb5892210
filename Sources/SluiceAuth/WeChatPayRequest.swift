import Foundation

/// WeChat Pay v3 request signatures, for merchants that already sign their calls the way
/// WeChat Pay wants them (spec §2):
///
/// ```
/// Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"
/// message   = METHOD \n URL \n TIMESTAMP \n NONCE \n BODY \n     (URL: path and query exactly as sent)
/// signature = SHA256withRSA(merchant API private key, message)
/// ```
///
/// Verified with the merchant's public key that `serial_no` names (its API certificate's). The
/// URL is the normalised path the router matched and the backend receives, with the query as
/// sent.
public enum WeChatPayRequest {
    public static let scheme = "WECHATPAY2-SHA256-RSA2048"
    private static let schemeBytes = Array(scheme.utf8)
    private static let parameterNames = ["mchid", "nonce_str", "timestamp", "serial_no", "signature"].map { Array($0.utf8) }

    struct Credentials {
        var merchant: String
        var nonce: String
        var timestamp: Int64
        var timestampText: String
        var serial: String
        var signature: [UInt8]
    }

    static func applies(toAuthorization header: String) -> Bool { AuthorizationParameters.hasScheme(header, schemeBytes) }

    static func parse(_ header: String) -> Credentials? {
        var header = header
        return header.withUTF8 { b -> Credentials? in
            guard let ranges = AuthorizationParameters.parse(b, scheme: schemeBytes, names: parameterNames) else { return nil }
            let (merchant, nonce, timestamp, serial, signature) = (ranges[0], ranges[1], ranges[2], ranges[3], ranges[4])
            guard (1...32).contains(merchant.count),
                  b[merchant].allSatisfy({ AuthorizationParameters.isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }),
                  (1...64).contains(nonce.count), b[nonce].allSatisfy(AuthorizationParameters.isAlphanumeric),
                  (1...64).contains(serial.count), b[serial].allSatisfy({ AuthorizationParameters.isAlphanumeric($0) || $0 == UInt8(ascii: "_") }),
                  let seconds = AuthorizationParameters.seconds(b, timestamp),
                  let signatureBytes = Base64.decode(UnsafeBufferPointer(rebasing: b[signature])),
                  (128...1024).contains(signatureBytes.count) else { return nil }
            return Credentials(merchant: AuthorizationParameters.text(b, merchant), nonce: AuthorizationParameters.text(b, nonce),
                               timestamp: seconds, timestampText: AuthorizationParameters.text(b, timestamp),
                               serial: AuthorizationParameters.text(b, serial), signature: signatureBytes)
        }
    }

    /// `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`.
    static func message(method: String, target: String, timestamp: String, nonce: String, body: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(method.utf8.count + target.utf8.count + timestamp.utf8.count + nonce.utf8.count + body.count + 5)
        for part in [method, target, timestamp, nonce] {
            bytes.append(contentsOf: part.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        bytes.append(contentsOf: body)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// The Authorization value for a request, signed with the merchant's private key (PEM file):
    /// what `sluice sign --scheme wechatpay-v3` prints.
    public static func authorization(privateKeyFile: String, serial: String, merchant: String, method: String, target: String,
                                     body: [UInt8], timestamp: Int64, nonce: String) -> String? {
        guard let key = RSAPrivateKey(pemFile: privateKeyFile),
              let signature = key.sign(message(method: method, target: target, timestamp: String(timestamp), nonce: nonce, body: body))
        else { return nil }
        return "\(scheme) mchid=\"\(merchant)\",nonce_str=\"\(nonce)\",timestamp=\"\(timestamp)\",serial_no=\"\(serial)\","
            + "signature=\"\(Base64.encode(signature))\""
    }
}
