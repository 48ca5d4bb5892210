#if canImport(Glibc)
import Glibc
#endif
import SluiceGuards
import SluiceIO
import SluicePolicy
import SluiceSharedRedis
import SluiceSharedPools

/// The auth guard's entry in the server's guard registry (second in the chain, after degrade).
///
/// Across reloads: each merchant secret's HMAC key is kept while the secret is unchanged (its
/// per-loop contexts stay warm), the nonce cache lives as long as the module (a reload must not
/// forget which nonces were used), and the shared Redis connections are `SharedRedis`'s.
public final class AuthModule: GuardModule {
    public static let moduleName = "auth"
    public let name = AuthModule.moduleName
    public var policySection: (any GuardPolicySection)? { AuthPolicySection() }
    private let loops: [EventLoop]
    private let nonces = NonceCache()
    /// Per loop, kept across reloads like the nonce cache.
    private let backlogs: [NonceBacklog]
    private let wallClock: @Sendable () -> Double

    public init(loops: [EventLoop], wallClock: @escaping @Sendable () -> Double = AuthModule.unixSeconds) {
        self.loops = loops
        self.wallClock = wallClock
        backlogs = loops.map { _ in NonceBacklog() }
    }

    public static let unixSeconds: @Sendable () -> Double = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    public func compile(_ policy: PolicySnapshot, state: GuardStateStage) throws(GuardCompileError) -> any GuardGeneration {
        guard let auth = policy.guardPolicy(name, as: AuthPolicy.self) else {
            // No auth section: still no backend takes a client's word for who the merchant is.
            let stripper = MerchantHeaderStripper(merchantHeader: AuthPolicy().merchantHeader)
            return AuthGeneration(guards: Dictionary(policy.routes.map { ($0.name, stripper) }) { first, _ in first }, redis: nil)
        }
        // Cheap to make (two SHA-256 blocks each), so made afresh with every policy generation.
        let keys = auth.merchants.mapValues { merchant in merchant.hmacSecrets.map { HMACKey(secret: $0) } }
        let redis = SharedRedis.settings(in: policy).map { SharedRedis.connections($0, loops: loops, state: state) }
        // The crypto pool is made here but started only on activation; kept across reloads
        // while its size is unchanged.
        let needsPool = auth.routeSchemes.values.contains { $0.contains(.wechatpayCallback) || $0.contains(.wechatpayV3) || $0.contains(.alipayRSA2) }
        let poolSettings = CryptoPoolSettings(threads: auth.cryptoThreads, queue: auth.cryptoQueue, queueTimeout: auth.cryptoQueueTimeout)
        var pool: WorkerPool?
        if let shared = auth.cryptoPoolName {
            guard let named = SharedThreadPools.pool(named: shared, in: policy, state: state) else {
                throw GuardCompileError("crypto_pool '\(shared)' is not a thread pool (declare it under thread_pools)",
                                        at: auth.cryptoPoolNamePosition)
            }
            pool = needsPool ? named : nil
        } else if needsPool {
            pool = state.state(name, "crypto-pool", configuration: poolSettings) {
                WorkerPool(name: "auth-crypto", threads: auth.cryptoThreads, queueLimit: auth.cryptoQueue, queueTimeout: auth.cryptoQueueTimeout)
            }
        }
        var guards: [String: any RequestGuard] = [:]
        for route in policy.routes {
            if let schemes = auth.routeSchemes[route.name], !schemes.isEmpty {
                guards[route.name] = AuthGuard(policy: auth, schemes: schemes, keys: keys, nonces: nonces, backlogs: backlogs, redis: redis?.set,
                                               cryptoPool: pool, loops: loops, wallClock: wallClock)
            } else {
                guards[route.name] = MerchantHeaderStripper(merchantHeader: auth.merchantHeader)
            }
        }
        return AuthGeneration(guards: guards, redis: redis, cryptoPool: pool)
    }
}

/// What the crypto pool is kept across reloads for: a change makes a new pool.
struct CryptoPoolSettings: Hashable, Sendable {
    var threads: Int
    var queue: Int
    var queueTimeout: Duration
}

final class AuthGeneration: GuardGeneration {
    private let guardsByRoute: [String: any RequestGuard]
    private let redis: RedisConnections?
    private let cryptoPool: WorkerPool?

    init(guards: [String: any RequestGuard], redis: RedisConnections?, cryptoPool: WorkerPool? = nil) {
        guardsByRoute = guards
        self.redis = redis
        self.cryptoPool = cryptoPool
    }

    func guards(forRoute route: String) -> [any RequestGuard] {
        guardsByRoute[route].map { [$0] } ?? []
    }

    func activate() {
        redis?.startIfNew()
        cryptoPool?.start()
    }
}
