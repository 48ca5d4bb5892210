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
        nonceTTLSeconds = Double(policy.nonceTTL.components.seconds)
        var tail: [UInt8] = []
        for argument in ["1", "NX", "PX", String(policy.nonceTTL.components.seconds * 1000)] { RESPWriter.appendBulk(argument.utf8, to: &tail) }
        nonceCommandTail = tail
    }

    private let nonceTTLSeconds: Double
    private static let emptyBodyHash = [UInt8]().withUnsafeBytes { Crypto.sha256Hex($0) }
    /// `1 NX PX <ttl ms>` as RESP bulk strings: the fixed end of every nonce's SET.
    private let nonceCommandTail: [UInt8]
    private static let nonceCommandHead: [UInt8] = {
        var head: [UInt8] = []
        RESPWriter.appendArrayHeader(6, to: &head)
        RESPWriter.appendBulk("SET".utf8, to: &head)
        return head
    }()

    /// `SET auth:nonce:{<merchant>}:<nonce> 1 NX PX <ttl>`: one key per nonce, hash-tagged by
    /// merchant (Redis Cluster keeps a merchant's nonces on one slot), expiring by itself.
    private func nonceCommand(_ credentials: MerchantHMAC.Credentials) -> [UInt8] {
        var command = Self.nonceCommandHead
        command.reserveCapacity(command.count + 64 + nonceCommandTail.count)
        RESPWriter.appendBulk(("auth:nonce:{" + credentials.merchant + "}:" + credentials.nonce).utf8, to: &command)
        command.append(contentsOf: nonceCommandTail)
        return command
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        request.head.headers.remove(name: policy.merchantHeader)
        guard let header = request.head.headers["authorization"] else { return .reject(AuthFailure.missingSignature.reply) }
        guard let credentials = MerchantHMAC.parse(header) else { return .reject(AuthFailure.malformedAuthorization.reply) }
        guard let merchantKeys = keys[credentials.merchant] else { return .reject(AuthFailure.unknownMerchant.reply) }
        let now = wallClock()
        let window = Double(policy.timestampWindow.components.seconds)
        guard abs(Double(credentials.timestamp) - now) <= window else { return .reject(AuthFailure.timestampOutOfWindow.reply) }

        let body = request.body?.bytes ?? []
        let bodyHash = body.isEmpty ? Self.emptyBodyHash : body.withUnsafeBytes { Crypto.sha256Hex($0) }
        guard let bytes = MerchantHMAC.message(method: request.head.method, target: request.head.target,
                                               timestamp: credentials.timestampText, nonce: credentials.nonce,
                                               bodySHA256Hex: bodyHash) else {
            return .reject(AuthFailure.malformedAuthorization.reply)
        }
        // Every active secret is tried (two while rotating), each in constant time.
        var verified = false
        for key in merchantKeys where Crypto.constantTimeEquals(key.authenticate(bytes, loopIndex: request.loopIndex), credentials.signature) {
            verified = true
        }
        guard verified else { return .reject(AuthFailure.badSignature.reply) }

        let localKey = NonceCache.key(merchant: credentials.merchant, nonce: credentials.nonce)
        guard nonces.claim(localKey, now: now, ttl: nonceTTLSeconds) else { return .reject(AuthFailure.replayedNonce.reply) }
        if let redis {
            switch await redis[request.loopIndex].send(nonceCommand(credentials)).reply() {
            case .success(.status):
                break
            case .success(.null):
                return .reject(AuthFailure.replayedNonce.reply)
            case .success, .failure:
                counters.recordError()
                switch policy.onRedisFailure {
                case .deny:
                    nonces.release(localKey)
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
