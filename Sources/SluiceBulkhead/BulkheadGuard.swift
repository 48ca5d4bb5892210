import SluiceGuards
import SluiceHTTP
import SluiceIO

/// The bulkhead guard of one route (fifth in the chain, after rate limits): takes a permit of
/// the route's bulkhead before the request goes upstream, and gives it back when the request
/// ends, on every exit path (the outcome hook: response relayed, upstream failure, client gone,
/// stream reset, or a later guard's refusal).
final class BulkheadGuard: RequestGuard {
    let name = "bulkhead"
    let counters = GuardCounters()
    let bulkhead: Bulkhead
    private let loops: [EventLoop]

    init(bulkhead: Bulkhead, loops: [EventLoop]) {
        self.bulkhead = bulkhead
        self.loops = loops
    }

    func explain(_ request: GuardRequest) -> String {
        let p = bulkhead.policy
        return "\(p.name): \(p.maxConcurrent) in flight, queue \(p.queue) for up to \(p.queueTimeout)"
            + (p.merchantCap.map { ", at most \($0) per merchant" } ?? "")
            + (p.adaptive.map { ", adaptive: \(bulkhead.limit) now (\($0.minConcurrent) to \(p.maxConcurrent), answers under \($0.latencyTarget))" } ?? "")
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        guard request.loopIndex < loops.count else { return .proceed }
        let merchant = request.merchantID
        switch await bulkhead.acquire(merchant: merchant, on: loops[request.loopIndex]) {
        case .granted:
            request.observeOutcome(PermitRelease(bulkhead: bulkhead, merchant: merchant))
            return .proceed
        case .full:
            return .reject(BulkheadReplies.full(bulkhead.policy.name, "every permit is taken and the queue is full"))
        case .timedOut:
            return .reject(BulkheadReplies.full(bulkhead.policy.name, "no permit came free within \(bulkhead.policy.queueTimeout)"))
        case .merchantShareExceeded:
            return .reject(BulkheadReplies.merchantShare(bulkhead.policy.name))
        }
    }
}

/// Gives the request's permit back when it ends.
final class PermitRelease: OutcomeObserver {
    let bulkhead: Bulkhead
    let merchant: String?

    init(bulkhead: Bulkhead, merchant: String?) {
        self.bulkhead = bulkhead
        self.merchant = merchant
    }

    func requestFinished(_ outcome: RequestOutcome) {
        // Only an adaptive limit reads the answer and the clock: a fixed one is given back as is.
        guard bulkhead.policy.adaptive != nil else { return bulkhead.release(merchant: merchant) }
        bulkhead.release(merchant: merchant, answer: Self.answer(outcome), now: Deadline.now.nanoseconds)
    }

    /// What the request says about its backend's speed: its answer time, a timeout, or nothing
    /// (never sent, or ended by the client or the gateway before an answer could come).
    static func answer(_ outcome: RequestOutcome) -> Bulkhead.Answer? {
        if let answered = outcome.upstreamAnswerNanoseconds { return .answered(nanoseconds: answered) }
        return outcome.failure == .upstreamTimeout ? .timedOut : nil
    }
}

enum BulkheadReplies {
    static func full(_ name: String, _ detail: String) -> LocalReply {
        problem(503, "bulkhead_full", name, detail)
    }

    static func merchantShare(_ name: String) -> LocalReply {
        problem(429, "bulkhead_merchant_share", name,
                "this merchant holds its whole share of the permits; retry shortly")
    }

    private static func problem(_ status: Int, _ code: String, _ bulkhead: String, _ detail: String) -> LocalReply {
        LocalReply.problem(status: status, error: code, detail: detail, members: ["\"bulkhead\":\"\(jsonEscaped(bulkhead))\""],
                           retryAfter: 1, reason: code + ":" + bulkhead)
    }
}
