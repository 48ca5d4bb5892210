internal import COpenSSL
import SluiceGuards
import SluicePayload

/// The two notify-era schemes that sign the body's own fields, sorted by name and joined as
/// `k=v&k=v` (raw UTF-8 values, no encoding), with the signature inside the body:
///
/// - **WeChat Pay v2** (spec §1), XML bodies (`/pay/unifiedorder`, v2 notifies): every field but
///   `sign`, empty values dropped; `stringSignTemp = stringA + "&key=" + merchant v2 key`;
///   `sign = upper(hex(MD5(stringSignTemp)))`, or with `sign_type=HMAC-SHA256`
///   `upper(hex(HMAC-SHA256(key, stringSignTemp)))`. The merchant is the body's `mch_id`.
/// - **Alipay RSA2 notify** (spec §3), form bodies: every field but `sign` and `sign_type`, empty
///   values dropped; `sign = base64(SHA256withRSA(Alipay private key, content))`, verified with
///   the Alipay public key of the body's `app_id`.
///
/// Neither carries a timestamp, and both providers resend a notification unchanged until it is
/// acknowledged, so a repeated nonce is a legitimate retry here, not a replay: duplicates are the
/// idempotency guard's to absorb (business keys), not auth's to refuse.
enum SortedFieldSignatures {
    /// `k=v&k=v` of the fields not `excluded`, empty values dropped, sorted by name bytes.
    static func content(_ payload: PaymentPayload, excluding excluded: Set<String>) -> [UInt8] {
        let fields = payload.topLevelFields
            .filter { !excluded.contains($0.name) && !$0.value.isEmpty && !$0.value.isContainer }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        var bytes: [UInt8] = []
        for (index, field) in fields.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: "&")) }
            bytes.append(contentsOf: field.name.utf8)
            bytes.append(UInt8(ascii: "="))
            field.value.withUTF8 { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    enum WeChatV2Algorithm: Equatable { case md5, hmacSHA256 }

    /// The v2 signature (upper-case hex) of `payload` with the merchant's v2 key.
    static func weChatV2Signature(_ payload: PaymentPayload, key: [UInt8], algorithm: WeChatV2Algorithm) -> String {
        var message = content(payload, excluding: ["sign"])
        message.append(contentsOf: "&key=".utf8)
        message.append(contentsOf: key)
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        switch algorithm {
        case .md5:
            _ = digest.withUnsafeMutableBufferPointer { out in
                message.withUnsafeBufferPointer { EVP_Digest($0.baseAddress, $0.count, out.baseAddress, &length, EVP_md5(), nil) }
            }
        case .hmacSHA256:
            _ = digest.withUnsafeMutableBufferPointer { out in
                key.withUnsafeBufferPointer { k in
                    message.withUnsafeBufferPointer { m in
                        HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, out.baseAddress, &length)
                    }
                }
            }
        }
        return Digests.hex(Array(digest.prefix(Int(length)))).uppercased()
    }

    /// The algorithm a v2 body asks for: its `sign_type`, else the signature's length (32 hex
    /// digits: MD5, 64: HMAC-SHA256), as WeChat's SDKs infer it. Nil for anything else.
    static func weChatV2Algorithm(signType: String?, signature: String) -> WeChatV2Algorithm? {
        switch (signType, signature.utf8.count) {
        case ("MD5", 32), (nil, 32): return .md5
        case ("HMAC-SHA256", 64), (nil, 64): return .hmacSHA256
        default: return nil
        }
    }
}
