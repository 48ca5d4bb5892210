import SluicePolicy

/// The auth module's policy: how signatures are checked, each merchant's credentials, and which
/// routes require which schemes.
public struct AuthPolicy: Sendable {
    public enum Scheme: String, Sendable, CaseIterable {
        /// `MCH-HMAC-SHA256` with the merchant's secret (see `MerchantHMAC`).
        case merchantHMAC = "merchant_hmac"
        /// WeChat Pay v3 requests, signed with the merchant's API key (see `WeChatPayRequest`).
        case wechatpayV3 = "wechatpay_v3"
        /// WeChat Pay v3 callbacks (payment notifications), signed by WeChat's platform key
        /// (see `WeChatPayCallback`).
        case wechatpayCallback = "wechatpay_callback"
        /// WeChat Pay v2: MD5 / HMAC-SHA256 over the XML body's sorted fields, with the merchant's
        /// v2 key (see `SortedFieldSignatures`).
        case wechatpayV2 = "wechatpay_v2"
        /// Alipay RSA2 notifications: SHA256withRSA over the form body's sorted fields, with the
        /// Alipay public key of the body's `app_id`.
        case alipayRSA2 = "alipay_rsa2"
        /// An API key in `auth.api_key_header`, for internal callers; only its SHA-256 is in the policy.
        case apiKey = "api_key"
        /// The verified client certificate's subject (mTLS listeners), mapped to a merchant.
        case mtls
    }

    /// What a request gets when Redis cannot say whether its nonce is new.
    public enum FailureMode: String, Sendable, CaseIterable {
        /// 503 with Retry-After: no request without replay protection across the fleet.
        case deny
        /// Accepted on the signature alone (replays within the window possible; logged).
        case allow
        /// This process's nonce cache decides (replays through another gateway possible).
        case local
    }

    /// The header the authenticated merchant id is forwarded in; any client-sent copy is
    /// removed on every route.
    public var merchantHeader = "x-sluice-merchant"
    /// A signature's timestamp may be this far from now, either way.
    public var timestampWindow = Duration.seconds(300)
    /// How long a nonce is remembered: at least twice the window, so a timestamp still accepted
    /// cannot bring a forgotten nonce back.
    public var nonceTTL = Duration.seconds(600)
    public var onRedisFailure = FailureMode.local
    /// The threads and queue of the pool RSA verification runs on (never on an event loop).
    public var cryptoThreads = 2
    /// `crypto_pool: <name>`: verification runs on that `thread_pools` entry instead of a pool of
    /// auth's own (nil: auth's own, sized by `cryptoThreads` and `cryptoQueue`).
    public var cryptoPoolName: String?
    public var cryptoPoolNamePosition: SourcePosition?
    public var cryptoQueue = 1024
    /// A verification not started within this is answered 503 `bulkhead_full`.
    public var cryptoQueueTimeout: Duration = .seconds(1)
    /// WeChat Pay platform public keys by serial (`Wechatpay-Serial`: a certificate serial or a
    /// `PUB_KEY_ID_…`).
    var platformKeys: [String: RSAPublicKey] = [:]
    /// Whether the policy lists platform keys at all (a listed key that failed to load is
    /// reported at its own line, not again as "no keys").
    var listsPlatformKeys = false
    public var platformKeySerials: [String] { platformKeys.keys.sorted() }
    /// Alipay public keys by `app_id`, for `alipay_rsa2`.
    var alipayKeys: [String: RSAPublicKey] = [:]
    /// The header API keys come in.
    public var apiKeyHeader = "x-api-key"
    /// Merchant by the lower-case hex SHA-256 of its API keys, and by client certificate subject.
    var merchantsByAPIKeyHash: [String: String] = [:]
    var merchantsBySubject: [String: String] = [:]
    /// By merchant id.
    public var merchants: [String: MerchantCredentials] = [:]
    /// Route name → the schemes it requires (one of them must verify).
    public var routeSchemes: [String: [Scheme]] = [:]

    /// Whether every request the route lets through carries a verified merchant: it has auth,
    /// and none of its schemes verifies a sender that is not a merchant (WeChat's callbacks are
    /// signed by WeChat itself).
    public func identifiesMerchant(onRoute route: String) -> Bool {
        guard let schemes = routeSchemes[route], !schemes.isEmpty else { return false }
        return !schemes.contains(.wechatpayCallback)
    }

    /// Every merchant id a request can be verified as, by any scheme.
    public var knownMerchants: Set<String> {
        Set(merchants.keys).union(merchantsByAPIKeyHash.values).union(merchantsBySubject.values)
    }
}

/// One merchant's secrets: one, or two while a secret is being rotated (either verifies).
public struct MerchantCredentials: Sendable {
    public var id: String
    /// Never logged; read from the files the policy names.
    public var hmacSecrets: [[UInt8]]
    /// The merchant's API public keys by serial, for `wechatpay_v3` requests.
    var rsaKeys: [String: RSAPublicKey] = [:]
    /// The merchant's WeChat Pay v2 API key, for `wechatpay_v2`. Never logged.
    var wechatpayV2Key: [UInt8]?
    /// SHA-256 (lower-case hex) of the merchant's API keys: the keys themselves are never stored.
    var apiKeyHashes: [String] = []
    /// Client certificate subjects (RFC 2253) that are this merchant on mTLS listeners.
    var certificateSubjects: [String] = []
    public var rsaKeySerials: [String] { rsaKeys.keys.sorted() }
}
