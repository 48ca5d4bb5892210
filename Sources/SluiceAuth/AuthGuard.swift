import SluiceGuards
import SluiceSharedPools
import SluiceHTTP
import SluiceIO
import SluicePayload
import SluiceRedis
import SluiceSharedRedis

/// The auth guard of one route: verifies the request's signature against the merchant's
/// secrets, then makes sure its nonce was never used (this process's cache, then Redis, shared
/// by every gateway), and passes the merchant id on: to later guards (`GuardRequest.merchantID`:
/// rate-limit keys, per-merchant bulkheads, idempotency scope), to the access log, and to the
/// backend in the policy's merchant header (any client-sent copy removed first).
///
/// Cheap checks first: the header's shape, the merchant, the timestamp window, then the HMAC
/// (~0.5 µs) or the RSA signature (on the crypto pool, never on the loop), and only a request
/// whose signature holds may touch the nonce stores, so forged requests can neither burn nonces
/// nor cost Redis calls. WeChat Pay callbacks carry no merchant: their nonces are scoped by the
/// platform key's serial.
final class AuthGuard: RequestGuard {
    let name = "auth"
    let counters = GuardCounters()
    let needsBody = true
    private let policy: AuthPolicy
    /// The route's schemes in policy order: the first whose signature the request carries decides.
    private let schemes: [AuthPolicy.Scheme]
    private let keys: [String: [HMACKey]]
    private let nonces: NonceCache
    /// Per loop: nonces accepted while Redis could not be asked, to write there later.
    private let backlogs: [NonceBacklog]
    private let redis: RedisConnectionSet?
    /// Where RSA verification runs (nil when no route verifies RSA signatures).
    private let cryptoPool: WorkerPool?
    private let loops: [EventLoop]
    /// Unix seconds (wall clock: timestamps are compared with the client's).
    private let wallClock: @Sendable () -> Double

    init(policy: AuthPolicy, schemes: [AuthPolicy.Scheme], keys: [String: [HMACKey]], nonces: NonceCache, backlogs: [NonceBacklog] = [],
         redis: RedisConnectionSet?, cryptoPool: WorkerPool?, loops: [EventLoop], wallClock: @escaping @Sendable () -> Double) {
        self.policy = policy
        self.schemes = schemes
        self.keys = keys
        self.nonces = nonces
        self.backlogs = backlogs
        self.redis = redis
        self.cryptoPool = cryptoPool
        self.loops = loops
        self.wallClock = wallClock
        // One second more than `nonce_ttl` (at least twice the window): the window is checked
        // against the clock's whole second, so a timestamp stays accepted until just under
        // `window` + 1 s past it. A nonce first seen with a timestamp a whole window ahead of
        // the clock expired that second too early, and a replay in it went through.
        nonceTTLSeconds = Double(policy.nonceTTL.components.seconds + 1)
        window = Double(policy.timestampWindow.components.seconds)
        let challenges = schemes.compactMap { scheme -> String? in
            switch scheme {
            case .merchantHMAC: return MerchantHMAC.scheme
            case .wechatpayV3: return WeChatPayRequest.scheme
            default: return nil
            }
        }
        challenge = challenges.isEmpty ? nil : challenges.joined(separator: ", ")
        var options: [UInt8] = []
        for argument in ["NX", "PX", String(Int64(nonceTTLSeconds) * 1000)] { RESPWriter.appendBulk(argument.utf8, to: &options) }
        nonceCommandOptions = options
    }

    private let nonceTTLSeconds: Double
    private let window: Double
    /// `WWW-Authenticate` on this route's 401s: the Authorization schemes it accepts (none for
    /// routes signed in headers of their own or in the body: no HTTP auth-scheme to name).
    private let challenge: String?

    private func refusal(_ failure: AuthFailure, _ message: String? = nil) -> LocalReply { failure.reply(challenge: challenge, message: message) }
    /// Where this route's signatures are carried, for a request that has none of them: a v2
    /// integrator told about an Authorization header looked for the wrong thing.
    private var missingSignatureMessage: String {
        var carriers: [String] = []
        for scheme in schemes {
            let carrier: String
            switch scheme {
            case .merchantHMAC, .wechatpayV3: carrier = "an Authorization header"
            case .wechatpayCallback: carrier = "Wechatpay-Signature headers"
            case .wechatpayV2, .alipayRSA2: carrier = "a sign field in the body"
            case .apiKey: carrier = "an API key in \(policy.apiKeyHeader)"
            case .mtls: carrier = "a client certificate"
            }
            if !carriers.contains(carrier) { carriers.append(carrier) }
        }
        return "the request carries no signature for this route's schemes (" + carriers.joined(separator: " or ") + ")"
    }
    private static let malformedBodySign = "the body's sign or sign_type field is not well-formed"
    /// `NX PX <ttl ms>` as RESP bulk strings: the fixed end of every nonce's SET.
    private let nonceCommandOptions: [UInt8]
    private static let unownedNonceValue: [UInt8] = { var value: [UInt8] = []; RESPWriter.appendBulk("1".utf8, to: &value); return value }()
    /// With `on_redis_failure: deny`, each nonce's value is its claim's owner, so that the claim
    /// of a request refused because Redis did not answer in time can be released (a stalled
    /// Redis runs the SET when it wakes, and the client's retry, the one Retry-After invites,
    /// was then refused as a replay for the nonce's whole TTL).
    private let owners = OwnerTokens()
    private static let releaseNonce = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
    private static let nonceCommandHead: [UInt8] = {
        var head: [UInt8] = []
        RESPWriter.appendArrayHeader(6, to: &head)
        RESPWriter.appendBulk("SET".utf8, to: &head)
        return head
    }()

    func explain(_ request: GuardRequest) -> String {
        "schemes \(schemes.map(\.rawValue).joined(separator: ", ")); timestamps within ±\(policy.timestampWindow), nonces kept "
            + "\(policy.nonceTTL) (Redis, on failure: \(policy.onRedisFailure.rawValue)); the verified merchant goes upstream in \(policy.merchantHeader)"
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        let verdict = await authenticate(&request)
        // Who signed must be who the request is for: a `mchid` in the query (WeChat Pay's query
        // and close APIs name the merchant there) naming another merchant let one merchant read
        // another's orders through a backend that looks orders up by it.
        if case .proceed = verdict, let merchant = request.merchantID, Self.queryNamesAnotherMerchant(request.head.target, merchant) {
            return .reject(refusal(.merchantMismatch))
        }
        return verdict
    }

    /// True when a query parameter named `mchid` (in any case, with `_` or `-`, escaped or not)
    /// holds anything but `merchant`. Read in place: a String is made only for an escaped name
    /// or value, which clients rarely send.
    static func queryNamesAnotherMerchant(_ target: String, _ merchant: String) -> Bool {
        let utf8 = target.utf8
        guard let question = utf8.firstIndex(of: UInt8(ascii: "?")) else { return false }
        for pair in utf8[utf8.index(after: question)...].split(separator: UInt8(ascii: "&")) {
            let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex
            guard isMerchantName(pair[..<equals]) else { continue }
            let value = equals == pair.endIndex ? pair[equals...] : pair[pair.index(after: equals)...]
            let same = value.contains(UInt8(ascii: "%")) ? PercentEncoding.decoded(Substring(value)) == merchant
                                                          : value.elementsEqual(merchant.utf8)
            if !same { return true }
        }
        return false
    }

    /// `mchid` in any letter case, escaped or not, with anything that is not a letter or a digit
    /// anywhere in it: `mch_id`, `mch-id`, and what frameworks rewrite to one of those or to
    /// `mchid` (PHP reads `mch.id`, `mch id` and `mch[id` as `mch_id`, ` mchid` and `mchid[]`
    /// as `mchid`; a NUL ends a C string).
    private static func isMerchantName(_ raw: Substring.UTF8View) -> Bool {
        if raw.contains(UInt8(ascii: "%")) { return isMerchantName(PercentEncoding.decoded(Substring(raw)).utf8[...]) }
        var expected = "mchid".utf8.makeIterator()
        for byte in raw where isLetterOrDigit(byte) {
            guard let wanted = expected.next(), byte | 0x20 == wanted else { return false }
        }
        return expected.next() == nil
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// A request that carries no credential of any of the route's schemes, when every one of
    /// them is read from the head (not signed inside the body, as WeChat Pay v2 and Alipay are),
    /// or a credential field sent twice: refused before the body is read. A client with no
    /// credentials made the gateway buffer (and, over HTTP/1.1, ask for with `100 Continue`)
    /// the bodies it then refused.
    func refusalBeforeBody(_ request: GuardRequest) -> LocalReply? {
        guard !schemes.contains(where: { $0 == .wechatpayV2 || $0 == .alipayRSA2 }) else { return nil }
        // One pass over the fields (names are lower-case): this runs for every signed request.
        var authorizations = 0, apiKeys = 0, callbackSignature = false
        let apiKeyHeader = policy.apiKeyHeader
        for field in request.head.headers {
            if field.name == "authorization" { authorizations += 1 }
            else if field.name == apiKeyHeader { apiKeys += 1 }
            else if field.name == "wechatpay-signature" { callbackSignature = true }
        }
        if authorizations > 1 || apiKeys > 1 { return refusal(.malformedAuthorization) }
        let hasCredential = authorizations + apiKeys > 0 || callbackSignature
            || (schemes.contains(.mtls) && request.clientCertificateSubject != nil)
        return hasCredential ? nil : refusal(.missingSignature, missingSignatureMessage)
    }

    private func authenticate(_ request: inout GuardRequest) async -> GuardVerdict {
        // The merchant header is ours to set, in any spelling a backend may read as it; the API
        // key is never forwarded, whichever scheme decides.
        request.head.headers.removeAllSpellings(of: policy.merchantHeader)
        let (authorization, repeatedAuthorization) = Self.singleValue(request.head.headers, "authorization")
        let (apiKey, repeatedAPIKey) = Self.singleValue(request.head.headers, policy.apiKeyHeader)
        if apiKey != nil { request.head.headers.remove(name: policy.apiKeyHeader) }
        // A credential sent twice is refused: which copy a backend (or a library) reads is anyone's guess.
        if repeatedAuthorization || repeatedAPIKey { return .reject(refusal(.malformedAuthorization)) }
        for scheme in schemes {
            switch scheme {
            case .merchantHMAC:
                guard let authorization, AuthorizationParameters.hasScheme(authorization, MerchantHMAC.schemeBytes) else { continue }
                return await verifyMerchantHMAC(authorization, &request)
            case .wechatpayV3 where authorization.map(WeChatPayRequest.applies(toAuthorization:)) ?? false:
                return await verifyWeChatPayRequest(&request)
            case .wechatpayCallback where WeChatPayCallback.applies(to: request.head.headers):
                // Only the spelling verified goes upstream (`wechatpay_nonce` is the same field to a CGI-style backend).
                for name in WeChatPayCallback.fieldNames { request.head.headers.removeRespellings(of: name) }
                return await verifyWeChatPayCallback(request)
            case .apiKey:
                guard let apiKey else { continue }
                return verifyAPIKey(apiKey, &request)
            case .mtls where request.clientCertificateSubject != nil:
                return identify(&request, as: policy.merchantsBySubject[request.clientCertificateSubject ?? ""])
            default:
                continue
            }
        }
        // Schemes signed inside the body apply when it is their format (XML, form).
        // A body in the scheme's format that cannot be read strictly (a repeated `sign`, a
        // DOCTYPE, a repeated form key) is 400 `invalid_body`, not a missing signature.
        let body = request.body?.bytes ?? []
        var unreadable: PayloadError?
        for scheme in schemes {
            do throws(PayloadError) {
                switch scheme {
                case .wechatpayV2 where Self.looksLikeXML(body):
                    return verifyWeChatPayV2(try PaymentPayload.parse(body, format: .xml), &request)
                case .alipayRSA2 where Self.isForm(request.head.headers["content-type"]) || !Self.looksLikeXML(body):
                    return await verifyAlipay(try PaymentPayload.parse(body, format: .form), &request)
                default:
                    continue
                }
            } catch {
                unreadable = unreadable ?? error
            }
        }
        if let unreadable, authorization == nil { return .reject(LocalReply.invalidBody(unreadable)) }
        // An Authorization header in none of the route's schemes is malformed, not missing.
        let expectsAuthorization = schemes.contains(.merchantHMAC) || schemes.contains(.wechatpayV3)
        return .reject(authorization != nil && expectsAuthorization ? refusal(.malformedAuthorization)
                                                                    : refusal(.missingSignature, missingSignatureMessage))
    }

    private func verifyWeChatPayRequest(_ request: inout GuardRequest) async -> GuardVerdict {
        guard let credentials = WeChatPayRequest.parse(request.head.headers["authorization"] ?? "") else {
            return .reject(refusal(.malformedAuthorization))
        }
        guard let merchant = policy.merchants[credentials.merchant] else { return .reject(refusal(.unknownMerchant)) }
        guard let key = merchant.rsaKeys[credentials.serial] else {
            return .reject(refusal(.unknownSerial, "no API public key of this merchant with this serial"))
        }
        let now = wallClock()
        guard Self.secondsApart(credentials.timestamp, now) <= window else { return .reject(refusal(.timestampOutOfWindow)) }
        let message = WeChatPayRequest.message(method: request.head.method, target: request.head.target,
                                               timestamp: credentials.timestampText, nonce: credentials.nonce,
                                               body: request.body?.bytes ?? [])
        switch await verifyRSA(key, message, credentials.signature, loopIndex: request.loopIndex) {
        case .saturated(let reply): return .reject(reply)
        case .refuted: return .reject(refusal(.badSignature))
        case .verified: break
        }
        if let refusal = await claimNonce(scope: credentials.merchant, nonce: credentials.nonce, now: now, loopIndex: request.loopIndex) {
            return .reject(refusal)
        }
        request.merchantID = credentials.merchant
        request.head.headers.appendLowercased(name: policy.merchantHeader, value: credentials.merchant)
        return .proceed
    }

    /// An API key: its SHA-256 names the merchant (the policy holds hashes only, so a leaked
    /// policy file leaks no key). The key header is never forwarded.
    private func verifyAPIKey(_ presented: String, _ request: inout GuardRequest) -> GuardVerdict {
        let hash = Array(presented.utf8).withUnsafeBytes { Digests.sha256Hex($0) }
        return identify(&request, as: policy.merchantsByAPIKeyHash[hash])
    }

    /// Proceeds as `merchant`, or refuses when there is none.
    private func identify(_ request: inout GuardRequest, as merchant: String?) -> GuardVerdict {
        guard let merchant else { return .reject(refusal(.unknownMerchant)) }
        request.merchantID = merchant
        request.head.headers.appendLowercased(name: policy.merchantHeader, value: merchant)
        return .proceed
    }

    /// WeChat Pay v2: the body's own `sign` over its sorted fields and the merchant's v2 key.
    private func verifyWeChatPayV2(_ payload: PaymentPayload, _ request: inout GuardRequest) -> GuardVerdict {
        guard let sign = payload["sign"]?.text, !sign.isEmpty else { return .reject(refusal(.missingSignature, "the body has no sign field")) }
        guard let merchant = payload["mch_id"]?.text, let key = policy.merchants[merchant]?.wechatpayV2Key else {
            return .reject(refusal(.unknownMerchant))
        }
        // An empty `sign_type` is left out of the signed string like any empty field: as if absent.
        let signType = payload["sign_type"]?.text
        guard let algorithm = SortedFieldSignatures.weChatV2Algorithm(signType: signType?.isEmpty == false ? signType : nil,
                                                                      signature: sign) else {
            return .reject(refusal(.malformedAuthorization, Self.malformedBodySign))
        }
        let expected = SortedFieldSignatures.weChatV2Signature(payload, key: key, algorithm: algorithm)
        guard Crypto.constantTimeEquals(Array(expected.utf8), Array(sign.uppercased().utf8)) else {
            return .reject(refusal(.badSignature))
        }
        request.merchantID = merchant
        request.head.headers.appendLowercased(name: policy.merchantHeader, value: merchant)
        return .proceed
    }

    /// Alipay RSA2 notify: the body's `sign` over its sorted fields (without `sign`, `sign_type`),
    /// with the Alipay public key of its `app_id`, on the crypto pool.
    private func verifyAlipay(_ payload: PaymentPayload, _ request: inout GuardRequest) async -> GuardVerdict {
        guard let signText = payload["sign"]?.text, !signText.isEmpty else {
            return .reject(refusal(.missingSignature, "the body has no sign field"))
        }
        guard let app = payload["app_id"]?.text, let key = policy.alipayKeys[app] else { return .reject(refusal(.unknownMerchant)) }
        guard payload["sign_type"]?.text == "RSA2", (payload["charset"]?.text.lowercased() ?? "utf-8") == "utf-8" else {
            return .reject(refusal(.malformedAuthorization, "the body's sign_type must be RSA2 and its charset utf-8"))
        }
        guard let signature = Base64.decode(Substring(signText)) else { return .reject(refusal(.badSignature)) }
        let content = SortedFieldSignatures.content(payload, excluding: ["sign", "sign_type"])
        switch await verifyRSA(key, content, signature, loopIndex: request.loopIndex) {
        case .saturated(let reply): return .reject(reply)
        case .refuted: return .reject(refusal(.badSignature))
        case .verified: break
        }
        request.merchantID = app
        request.head.headers.appendLowercased(name: policy.merchantHeader, value: app)
        return .proceed
    }

    private enum RSAOutcome { case verified, refuted, saturated(LocalReply) }

    /// A body that starts (after white space) with `<`: what a v2 XML body is.
    private static func looksLikeXML(_ body: [UInt8]) -> Bool {
        body.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
            == UInt8(ascii: "<")
    }

    private static func isForm(_ contentType: String?) -> Bool {
        contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") ?? false
    }

    /// How far a timestamp (whole seconds) is from now, in whole seconds: a window's edge is a
    /// whole second too (`|now − ts| > 300` refuses 301 s away, not 300.4).
    private static func secondsApart(_ timestamp: Int64, _ now: Double) -> Double {
        abs(Double(timestamp) - now.rounded(.down))
    }

    /// The first value of a field, and whether the field came more than once.
    private static func singleValue(_ headers: HTTPHeaders, _ name: String) -> (String?, repeated: Bool) {
        var first: String?
        for field in headers where field.name == name {
            if first != nil { return (first, true) }
            first = field.value
        }
        return (first, false)
    }

    /// RSA on the crypto pool: the verdict, or the 503 when the pool's queue is full.
    private func verifyRSA(_ key: RSAPublicKey, _ message: [UInt8], _ signature: [UInt8], loopIndex: Int) async -> RSAOutcome {
        guard let cryptoPool, loopIndex < loops.count,
              let verified = await cryptoPool.run(on: loops[loopIndex], { key.verify(message, signature: signature) }) else {
            return .saturated(WorkerPool.saturatedReply("signature verification"))
        }
        return verified ? .verified : .refuted
    }

    private func verifyMerchantHMAC(_ authorization: String, _ request: inout GuardRequest) async -> GuardVerdict {
        var authorization = authorization
        let now = wallClock()
        // The checks before the nonce, on the header's bytes: no copy of the nonce, no string to
        // sign built (the MAC is fed the parts).
        let checked = authorization.withUTF8 { header -> Result<(merchant: String, nonce: NonceClaim, signedTarget: String), AuthFailure> in
            guard let credentials = MerchantHMAC.parse(bytes: header) else { return .failure(.malformedAuthorization) }
            guard let merchantKeys = keys[credentials.merchant] else { return .failure(.unknownMerchant) }
            guard Self.secondsApart(credentials.timestamp, now) <= window else { return .failure(.timestampOutOfWindow) }
            guard let canonicalTarget = MerchantHMAC.canonicalTarget(request.head.target) else { return .failure(.malformedAuthorization) }
            let nonce = UnsafeBufferPointer(rebasing: header[credentials.nonce])
            let timestamp = UnsafeBufferPointer(rebasing: header[credentials.timestampText])
            let bodyHash = request.body?.sha256Hex ?? Digests.emptySHA256Hex
            // Every active secret is tried (two while rotating), each in constant time.
            var verified = false
            for key in merchantKeys where MerchantHMAC.tag(key, method: request.head.method, canonicalTarget: canonicalTarget,
                                                           timestamp: timestamp, nonce: nonce, bodySHA256Hex: bodyHash)
                .matches(credentials.signature) {
                verified = true
            }
            guard verified else { return .failure(.badSignature) }
            var scope = credentials.merchant
            return .success((credentials.merchant, scope.withUTF8 { nonceClaim(scope: $0, nonce: nonce) }, canonicalTarget))
        }
        let merchant: String
        switch checked {
        case .failure(let failure): return .reject(refusal(failure))
        case .success(let success):
            if let refusal = await claimNonce(success.nonce, now: now, loopIndex: request.loopIndex) { return .reject(refusal) }
            merchant = success.merchant
            // The query goes upstream as it was signed (sorted, one encoding): the raw one could
            // be reordered (`mchid=A&mchid=B`), or re-spelled (`+` for `%2B`, `;` for `%3B`), and
            // mean something else to the backend under the same signature.
            if success.signedTarget != request.head.target { request.head.target = success.signedTarget }
        }
        request.merchantID = merchant
        request.head.headers.appendLowercased(name: policy.merchantHeader, value: merchant)
        return .proceed
    }

    private func verifyWeChatPayCallback(_ request: GuardRequest) async -> GuardVerdict {
        let credentials: WeChatPayCallback.Credentials
        switch WeChatPayCallback.parse(request.head.headers) {
        case .success(let parsed): credentials = parsed
        case .failure(let failure): return .reject(refusal(failure))
        }
        guard let key = policy.platformKeys[credentials.serial] else {
            return .reject(refusal(.unknownSerial, "no WeChat Pay platform key with this serial"))
        }
        let now = wallClock()
        guard Self.secondsApart(credentials.timestamp, now) < window else { return .reject(refusal(.timestampOutOfWindow)) }
        let message = WeChatPayCallback.message(credentials, body: request.body?.bytes ?? [])
        switch await verifyRSA(key, message, credentials.signature, loopIndex: request.loopIndex) {
        case .saturated(let reply): return .reject(reply)
        case .refuted: return .reject(refusal(.badSignature))
        case .verified: break
        }
        if let refusal = await claimNonce(scope: "wechatpay:" + credentials.serial, nonce: credentials.nonce, now: now,
                                          loopIndex: request.loopIndex) {
            return .reject(refusal)
        }
        return .proceed
    }

    /// Nil when the nonce is new in this process and (when Redis answers) in the fleet; the
    /// refusal otherwise. Redis failing follows `on_redis_failure`.
    private func claimNonce(scope: String, nonce: String, now: Double, loopIndex: Int) async -> LocalReply? {
        var (scope, nonce) = (scope, nonce)
        let claim = scope.withUTF8 { scope in nonce.withUTF8 { nonceClaim(scope: scope, nonce: $0) } }
        return await claimNonce(claim, now: now, loopIndex: loopIndex)
    }

    private func claimNonce(_ claim: NonceClaim, now: Double, loopIndex: Int) async -> LocalReply? {
        guard nonces.claim(claim.localKey, now: now, ttl: nonceTTLSeconds) else { return refusal(.replayedNonce) }
        guard let redis, let command = claim.redisCommand else { return nil }
        switch await redis[loopIndex].send(command).reply() {
        case .success(.status):
            return nil
        case .success(.null):
            return refusal(.replayedNonce)
        case .success, .failure:
            counters.recordError()
            guard policy.onRedisFailure == .deny else {
                // Accepted without Redis: written there once it answers, so that this request
                // cannot be replayed through another gateway then.
                if loopIndex < backlogs.count {
                    backlogs[loopIndex].record(command, acceptedAt: now, ttl: nonceTTLSeconds, redis: redis[loopIndex], clock: wallClock)
                }
                return nil
            }
            nonces.release(claim.localKey)
            if let owner = claim.owner { release(claim, owner: owner, loopIndex: loopIndex, redis: redis) }
            var reply = LocalReply.json(status: 503, reason: "auth_unavailable", message: "replay protection is unavailable; retry shortly")
            reply.headers.appendLowercased(name: "retry-after", value: "1")
            return reply
        }
    }

    /// Releases a claim whose SET may still run (queued behind it on the same connection, so
    /// Redis runs it after the SET whenever it runs the SET at all), retried until Redis answers;
    /// it deletes the nonce only while its value is this claim's owner.
    private func release(_ claim: NonceClaim, owner: String, loopIndex: Int, redis: RedisConnectionSet) {
        let connection = redis[loopIndex]
        let command = Self.releaseNonce.command(keys: [claim.redisKey], arguments: [owner])
        let first = connection.evaluate(Self.releaseNonce, evalsha: command)
        _ = connection.loop.spawn {
            _ = await RedisScriptRetry.reply(first, resending: command, script: Self.releaseNonce, on: connection)
            withExtendedLifetime(redis) {}
        }
    }

    /// A nonce to claim: its key in this process's cache and, when Redis is configured,
    /// `SET auth:nonce:{<scope>}:<nonce> <value> NX PX <ttl>`: one key per nonce, hash-tagged by
    /// scope (the merchant: Redis Cluster keeps a merchant's nonces on one slot), expiring by
    /// itself. The value is `1`, or with `deny` the claim's owner.
    private struct NonceClaim {
        var localKey: UInt64
        var redisCommand: [UInt8]?
        /// With `deny`: where the key and the owner are in `redisCommand` (read only to release).
        var keyRange: Range<Int>?
        var ownerRange: Range<Int>?
        var owner: String? { ownerRange.flatMap { range in redisCommand.map { String(decoding: $0[range], as: UTF8.self) } } }
        var redisKey: String { keyRange.flatMap { range in redisCommand.map { String(decoding: $0[range], as: UTF8.self) } } ?? "" }
    }

    private func nonceClaim(scope: UnsafeBufferPointer<UInt8>, nonce: UnsafeBufferPointer<UInt8>) -> NonceClaim {
        let localKey = NonceCache.key(scope: scope, nonce: nonce)
        guard redis != nil else { return NonceClaim(localKey: localKey) }
        let keyLength = Self.nonceKeyPrefix.count + scope.count + 2 + nonce.count
        var command = Self.nonceCommandHead
        command.reserveCapacity(command.count + 48 + keyLength + nonceCommandOptions.count)
        RESPWriter.appendBulkHeader(length: keyLength, to: &command)
        let keyStart = command.count
        command.append(contentsOf: Self.nonceKeyPrefix)
        command.append(contentsOf: scope)
        command.append(UInt8(ascii: "}"))
        command.append(UInt8(ascii: ":"))
        command.append(contentsOf: nonce)
        var claim = NonceClaim(localKey: localKey)
        if policy.onRedisFailure == .deny {
            claim.keyRange = keyStart..<command.count
            command.append(UInt8(ascii: "\r"))
            command.append(UInt8(ascii: "\n"))
            claim.ownerRange = owners.appendNextBulk(to: &command)
        } else {
            command.append(UInt8(ascii: "\r"))
            command.append(UInt8(ascii: "\n"))
            command.append(contentsOf: Self.unownedNonceValue)
        }
        command.append(contentsOf: nonceCommandOptions)
        claim.redisCommand = command
        return claim
    }

    private static let nonceKeyPrefix = Array("auth:nonce:{".utf8)
}

/// On routes without auth: removes any client-sent merchant header, so that no backend ever
/// takes a client's word for who the merchant is.
struct MerchantHeaderStripper: HeadRewritingGuard {
    let name = "auth"
    let counters = GuardCounters()
    let merchantHeader: String

    func explain(_ request: GuardRequest) -> String { "no auth on this route; a client-sent \(merchantHeader) is removed" }

    func rewrite(_ head: inout HTTPRequestHead) {
        head.headers.removeAllSpellings(of: merchantHeader)
    }
}
