import SluiceGuards
import SluiceHTTP
import SluiceIO
import Synchronization

/// At the chain's very start, on every route: counts the request in flight (and a core route's
/// latency when it ends), and sheds a non-core request at once when the instance is at `shed`,
/// before any signature or body is read. Core routes are never refused here.
final class DegradeGate: RequestGuard {
    let name = "degrade"
    let counters = GuardCounters()
    private let engine: DegradeEngine
    private let isCore: Bool
    /// One per loop: told when the request ends (no allocation per request).
    private let observers: [InFlightRelease]

    init(engine: DegradeEngine, isCore: Bool, loops: Int) {
        self.engine = engine
        self.isCore = isCore
        observers = (0..<max(loops, 1)).map { InFlightRelease(engine: engine, loopIndex: $0, isCore: isCore) }
    }

    func explain(_ request: GuardRequest) -> String {
        isCore ? "core route: counted in the pressure, never shed" : "non-core route: shed at once (503 degraded) at level shed"
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        engine.inFlight.wrappingAdd(1, ordering: .relaxed)
        request.observeOutcome(observers[min(request.loopIndex, observers.count - 1)])
        if !isCore && engine.level == .shed { return .reject(DegradeReplies.shed(.shed)) }
        return .proceed
    }
}

final class InFlightRelease: OutcomeObserver {
    let engine: DegradeEngine
    let loopIndex: Int
    let isCore: Bool

    init(engine: DegradeEngine, loopIndex: Int, isCore: Bool) {
        self.engine = engine
        self.loopIndex = loopIndex
        self.isCore = isCore
    }

    func requestFinished(_ outcome: RequestOutcome) {
        engine.inFlight.wrappingAdd(-1, ordering: .relaxed)
        // Only answers that went upstream say how the backend path is doing.
        // The backend's answer time: a client's slow upload is not pressure on this instance.
        if isCore, let answer = outcome.upstreamAnswerNanoseconds { engine.recordCoreLatency(answer, loopIndex: loopIndex) }
    }

    func answerAwaited(since: UInt64) {
        if isCore, loopIndex < engine.signals.count { engine.signals[loopIndex].answerAwaited(since: since) }
    }

    func answerWaitEnded(since: UInt64) {
        if isCore, loopIndex < engine.signals.count { engine.signals[loopIndex].answerWaitEnded(since: since) }
    }
}

/// After auth, on non-core routes: at `throttle` forwards the route's share and answers the rest
/// from the fallback; at `fallback` answers everything from it. The fallback is the route's
/// cached recent answer to the same merchant and GET target (no older than `max_stale`), else
/// its static answer, else 503 `degraded`. It runs after auth so that a cached answer only ever
/// goes to the merchant it was made for.
final class FallbackGuard: RequestGuard {
    /// Not "degrade": the gate holds that name on the same route, and two guards of one name
    /// gave two metric series with one label set (Prometheus keeps one of them).
    let name = "degrade_fallback"
    let counters = GuardCounters()
    private let engine: DegradeEngine
    private let settings: RouteDegrade
    private let cache: FallbackCache?
    private let admitted = Atomic<UInt64>(0)
    private let maxStaleNanoseconds: UInt64
    private let cacheStore: CacheStore?

    init(engine: DegradeEngine, settings: RouteDegrade, cache: FallbackCache?) {
        self.engine = engine
        self.settings = settings
        self.cache = cache
        maxStaleNanoseconds = settings.maxStale.nanosecondsClamped
        cacheStore = cache.map { CacheStore(cache: $0) }
    }

    func explain(_ request: GuardRequest) -> String {
        "at throttle \(Int(settings.throttleShare * 100))% forwarded; fallback: "
            + (settings.cachedFallback ? "the last 2xx answer to this merchant and GET target (max stale \(settings.maxStale))" : "none")
            + (settings.staticFallback.map { ", else a fixed \($0.status)" } ?? "") + ", else 503 degraded"
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        let level = engine.level
        let forwarded: Bool
        switch level {
        case .normal: forwarded = true
        case .throttle: forwarded = takeShare()
        case .fallback, .shed: forwarded = false
        }
        let cacheKey = request.head.method == "GET" && cache != nil
            ? FallbackCache.key(merchant: request.merchantID, target: request.head.target) : nil
        if forwarded {
            if let cacheKey, let cacheStore { request.observeOutcome(cacheStore.observer(for: cacheKey)) }
            return .proceed
        }
        if let cacheKey, let entry = cache?.fresh(cacheKey, now: Deadline.now.nanoseconds, maxStaleNanoseconds: maxStaleNanoseconds) {
            return .reject(DegradeReplies.cached(entry, level: level))
        }
        if let fallback = settings.staticFallback { return .reject(DegradeReplies.fixed(fallback, level: level)) }
        return .reject(DegradeReplies.shed(level))
    }

    /// Whether this request is in the forwarded share (`throttle_share` of them, evenly spread).
    private func takeShare() -> Bool {
        let n = admitted.wrappingAdd(1, ordering: .relaxed).oldValue
        let share = settings.throttleShare
        return Int(Double(n + 1) * share) > Int(Double(n) * share)
    }
}

/// Keeps a route's 2xx GET answers for its fallback.
final class CacheStore: Sendable {
    let cache: FallbackCache
    init(cache: FallbackCache) { self.cache = cache }

    func observer(for key: String) -> CacheEntryObserver { CacheEntryObserver(cache: cache, key: key) }
}

final class CacheEntryObserver: OutcomeObserver {
    let cache: FallbackCache
    let key: String

    init(cache: FallbackCache, key: String) {
        self.cache = cache
        self.key = key
    }

    var responseBodyCapture: Int { FallbackCache.maximumBody + 1 }

    func requestFinished(_ outcome: RequestOutcome) {
        guard outcome.failure == nil, let head = outcome.responseHead, (200..<300).contains(head.status),
              let body = outcome.responseBody, body.count <= FallbackCache.maximumBody else { return }
        cache.store(FallbackCache.Entry(status: head.status, contentType: head.headers["content-type"], body: body,
                                        storedAt: Deadline.now.nanoseconds), for: key)
    }
}

enum DegradeReplies {
    /// The 503 for each level, made once: at `shed` every non-core request gets one.
    static func shed(_ level: DegradeLevel) -> LocalReply { shedReplies[level.rawValue] }

    private static let shedReplies = DegradeLevel.allCases.map(makeShed)

    private static func makeShed(_ level: DegradeLevel) -> LocalReply {
        var reply = LocalReply.problem(status: 503, type: LocalReply.reducedCapacityType, error: "degraded",
                                       detail: "the gateway is under pressure and keeps its capacity for payments; retry shortly",
                                       members: ["\"level\":\"\(level)\""], retryAfter: 2, reason: "degraded:" + level.description)
        reply.headers.appendLowercased(name: "x-sluice-degraded", value: level.description)
        return reply
    }

    static func cached(_ entry: FallbackCache.Entry, level: DegradeLevel) -> LocalReply {
        var headers = HTTPHeaders()
        if let contentType = entry.contentType { headers.appendLowercased(name: "content-type", value: contentType) }
        let age = (Deadline.now.nanoseconds &- entry.storedAt) / 1_000_000_000
        headers.appendLowercased(name: "age", value: String(age))
        headers.appendLowercased(name: "x-sluice-degraded", value: "fallback-cached")
        return LocalReply(status: entry.status, headers: headers, body: entry.body, reason: "degraded_fallback:" + level.description)
    }

    static func fixed(_ fallback: StaticFallback, level: DegradeLevel) -> LocalReply {
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "content-type", value: fallback.contentType)
        headers.appendLowercased(name: "x-sluice-degraded", value: "fallback-static")
        return LocalReply(status: fallback.status, headers: headers, body: Array(fallback.body.utf8),
                          reason: "degraded_fallback:" + level.description)
    }
}
