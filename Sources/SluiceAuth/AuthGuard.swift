import SluiceGuards
import SluiceHTTP
import SluiceRedis

/// The auth guard of one route: verifies the request's signature against the merchant's
/// secrets, then makes sure its nonce was never used (this process's cache, then Redis, shared
/// by every gateway), and passes the merchant id on: to later guards (`GuardRequest.merchantID`:
/// rate-limit keys, per-merchant bulkheads, idempotency scope), to the access log, and to the
/// backend in the policy's merchant header (any client-sent copy removed first).
///
/// Cheap checks first: the header's shape, the merchant, the timestamp window, then the HMAC
/// (~0.5 µs), and only a request whose signature holds may touch the nonce stores, so forged
/// requests can neither burn nonces nor cost Redis calls.
final class AuthGuard: RequestGuard {
    let name = "auth"
    let counters = GuardCounters()
    let needsBody = true
    private let policy: AuthPolicy
    private let keys: [String: [HMACKey]]
    private let nonces: NonceCache
    private let redis: RedisConnectionSet?
    /// Unix seconds (wall clock: timestamps are compared with the client's).
    private let wallClock: @Sendable () -> Double

    init(policy: AuthPolicy, keys: [String: [HMACKey]], nonces: NonceCache, redis: RedisConnectionSet?,
         wallClock: @escaping @Sendable () -> Double) {
        self.policy = policy
        self.keys = keys
        self.nonces = nonces
        self.redis = redis
        self.wallClock = wallClock
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        request.head.headers.remove(name: policy.merchantHeader)
        guard let header = request.head.headers["authorization"] else { return .reject(AuthFailure.missingSignature.reply) }
        guard let credentials = MerchantHMAC.parse(header) else { return .reject(AuthFailure.malformedAuthorization.reply) }
        guard let merchantKeys = keys[credentials.merchant] else { return .reject(AuthFailure.unknownMerchant.reply) }
        let now = wallClock()
        let window = Double(policy.timestampWindow.components.seconds)
        guard abs(Double(credentials.timestamp) - now) <= window else { return .reject(AuthFailure.timestampOutOfWindow.reply) }

        let bodyHash = (request.body?.bytes ?? []).withUnsafeBytes { Crypto.sha256Hex($0) }
        guard let message = MerchantHMAC.stringToSign(method: request.head.method, target: request.head.target,
                                                      timestamp: credentials.timestampText, nonce: credentials.nonce,
                                                      bodySHA256Hex: bodyHash) else {
            return .reject(AuthFailure.malformedAuthorization.reply)
        }
        let bytes = Array(message.utf8)
        // Every active secret is tried (two while rotating), each in constant time.
        var verified = false
        for key in merchantKeys where Crypto.constantTimeEquals(key.authenticate(bytes, loopIndex: request.loopIndex), credentials.signature) {
            verified = true
        }
        guard verified else { return .reject(AuthFailure.badSignature.reply) }

        let nonceKey = "auth:nonce:{" + credentials.merchant + "}:" + credentials.nonce
        let ttl = Double(policy.nonceTTL.components.seconds)
        guard nonces.claim(nonceKey, now: now, ttl: ttl) else { return .reject(AuthFailure.replayedNonce.reply) }
        if let redis {
            let milliseconds = String(Int(ttl * 1000))
            switch await redis[request.loopIndex].send(["SET", nonceKey, "1", "NX", "PX", milliseconds]).reply() {
            case .success(.status):
                break
            case .success(.null):
                return .reject(AuthFailure.replayedNonce.reply)
            case .success, .failure:
                counters.recordError()
                switch policy.onRedisFailure {
                case .deny:
                    nonces.release(nonceKey)
                    var reply = LocalReply.json(status: 503, reason: "auth_unavailable",
                                                message: "replay protection is unavailable; retry shortly")
                    reply.headers.appendLowercased(name: "retry-after", value: "1")
                    return .reject(reply)
                case .allow, .local:
                    break
                }
            }
        }
        request.merchantID = credentials.merchant
        request.head.headers.appendLowercased(name: policy.merchantHeader, value: credentials.merchant)
        return .proceed
    }
}

/// On routes without auth: removes any client-sent merchant header, so that no backend ever
/// takes a client's word for who the merchant is.
struct MerchantHeaderStripper: RequestGuard {
    let name = "auth"
    let counters = GuardCounters()
    let merchantHeader: String

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        request.head.headers.remove(name: merchantHeader)
        return .proceed
    }
}
