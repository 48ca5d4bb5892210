import SluiceHTTP

/// WeChat Pay v3 callbacks (payment result notifications), as WeChat signs them:
///
/// ```
/// Wechatpay-Timestamp, Wechatpay-Nonce, Wechatpay-Serial, Wechatpay-Signature (base64)
/// Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048   (optional)
/// message   = TIMESTAMP \n NONCE \n BODY \n      (the raw body bytes)
/// signature = SHA256withRSA(WeChat platform private key, message)
/// ```
///
/// Verified with the platform public key the serial names. Probe signatures WeChat sends to test
/// merchants (`WECHATPAY/SIGNTEST/…`) must fail and must not be processed: they are refused
/// before any cryptography. The window is strict (`|now − timestamp| < window`), as the SDK has it.
enum WeChatPayCallback {
    static let signatureType = "WECHATPAY2-SHA256-RSA2048"
    static let probePrefix = "WECHATPAY/SIGNTEST/"

    struct Credentials {
        var timestamp: Int64
        var timestampText: String
        var nonce: String
        var serial: String
        var signature: [UInt8]
    }

    /// Whether the request carries this scheme's signature at all.
    static func applies(to headers: HTTPHeaders) -> Bool { headers["wechatpay-signature"] != nil }

    /// The fields the scheme reads.
    static let fieldNames = ["wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial", "wechatpay-signature",
                             "wechatpay-signature-type"]

    /// The credentials, or why they are unusable. A field sent twice is malformed, as a repeated
    /// Authorization is: the first copy was verified and both went upstream, so a backend reading
    /// the last (PHP and CGI do; Node joins them) read values the gateway never checked.
    static func parse(_ headers: HTTPHeaders) -> Result<Credentials, AuthFailure> {
        guard fieldNames.allSatisfy({ headers.count(of: $0) <= 1 }) else { return .failure(.malformedAuthorization) }
        guard let timestampText = headers["wechatpay-timestamp"], let nonce = headers["wechatpay-nonce"],
              let serial = headers["wechatpay-serial"], let signatureText = headers["wechatpay-signature"] else {
            return .failure(.malformedAuthorization)
        }
        if let type = headers["wechatpay-signature-type"], type != signatureType { return .failure(.malformedAuthorization) }
        if signatureText.hasPrefix(probePrefix) { return .failure(.badSignature) }
        guard (1...12).contains(timestampText.utf8.count), timestampText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let timestamp = Int64(timestampText),
              // The nonce goes into the signed message between line breaks: nothing but visible ASCII.
              (1...64).contains(nonce.utf8.count), nonce.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }),
              (1...64).contains(serial.utf8.count), serial.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            return .failure(.malformedAuthorization)
        }
        guard let signature = Base64.decode(Substring(signatureText)), (128...1024).contains(signature.count) else {
            return .failure(.badSignature)
        }
        return .success(Credentials(timestamp: timestamp, timestampText: timestampText, nonce: nonce, serial: serial,
                                    signature: signature))
    }

    /// `TIMESTAMP\nNONCE\nBODY\n`.
    static func message(_ credentials: Credentials, body: [UInt8]) -> [UInt8] {
        message(timestamp: credentials.timestampText, nonce: credentials.nonce, body: body)
    }

    static func message(timestamp: String, nonce: String, body: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(timestamp.utf8.count + nonce.utf8.count + body.count + 3)
        bytes.append(contentsOf: timestamp.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: nonce.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: body)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}

/// Signs callbacks as WeChat Pay does, for the demo backend's notify sender and the bench
/// (the gateway itself only verifies). Each call has a fresh nonce and the current time, as
/// each of WeChat's resends of a notification has.
public final class WeChatPayCallbackSigner: @unchecked Sendable {
    private let key: RSAPrivateKey
    public let serial: String

    /// Nil when the file holds no usable RSA private key (PEM).
    public init?(privateKeyFile: String, serial: String) {
        guard let key = RSAPrivateKey(pemFile: privateKeyFile) else { return nil }
        self.key = key
        self.serial = serial
    }

    /// The `Wechatpay-*` fields for `body`, lower-cased names; nil if OpenSSL could not sign.
    public func headers(body: [UInt8], unixTime: Int64) -> [(String, String)]? {
        let timestamp = String(unixTime)
        let nonce = MerchantHMAC.freshNonce()
        guard let signature = key.sign(WeChatPayCallback.message(timestamp: timestamp, nonce: nonce, body: body)) else { return nil }
        return [("wechatpay-timestamp", timestamp), ("wechatpay-nonce", nonce), ("wechatpay-serial", serial),
                ("wechatpay-signature", Base64.encode(signature)), ("wechatpay-signature-type", WeChatPayCallback.signatureType)]
    }
}
