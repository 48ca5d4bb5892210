import SluiceGuards
import SluiceHTTP

/// A route's guards in policy order (degrade, auth, idempotency, rate limit, bulkhead, breaker).
/// The first rejection ends the chain; shadow rejections are reported and the chain goes on.
struct GuardChain: Sendable {
    let guards: [any RequestGuard]
    /// The first guard that reads the body: the body phase runs just before it, so cheaper
    /// guards in front of it (degrade) refuse without waiting for a body.
    let firstBodyGuard: Int?

    /// Set when every guard only rewrites the head (a route with no real guard): the pipeline
    /// then calls `rewriteHead` instead of `evaluate`, and makes no `GuardRequest`.
    let headRewriters: [any HeadRewritingGuard]?

    init(guards: [any RequestGuard]) {
        self.guards = guards
        firstBodyGuard = guards.firstIndex { $0.needsBody }
        let rewriters = guards.compactMap { $0 as? any HeadRewritingGuard }
        headRewriters = rewriters.count == guards.count ? rewriters : nil
    }

    /// The chain of a route whose guards only rewrite the head (`headRewriters` is set): each
    /// rewrites it, in order.
    func rewriteHead(_ head: inout HTTPRequestHead) {
        for rewriter in headRewriters ?? [] {
            rewriter.rewrite(&head)
            rewriter.counters.record(.proceed)
        }
    }

    struct Outcome {
        var reply: LocalReply?
        var rejectedBy: String?
        var shadowRejections: [String] = []
        /// Fields guards asked to add to the response (forwarded or local).
        var responseHeaders = HTTPHeaders()
    }

    var isEmpty: Bool { guards.isEmpty }

    /// `readBody` is the body phase: it fills `request.body`, or returns the reply that ends
    /// the request instead (body too large, too slow, buffers full).
    func evaluate(_ request: inout GuardRequest, readBody: (inout GuardRequest) async -> LocalReply?) async -> Outcome {
        var outcome = Outcome()
        for (index, guardStep) in guards.enumerated() {
            if index == firstBodyGuard {
                // Refused on its head (no credentials at all): the body is never read.
                if let early = guardStep.refusalBeforeBody(request) {
                    guardStep.counters.record(.reject(early))
                    var reply = early
                    for field in outcome.responseHeaders { reply.headers.appendLowercased(name: field.name, value: field.value) }
                    outcome.reply = reply
                    outcome.rejectedBy = guardStep.name
                    return outcome
                }
                if let refusal = await readBody(&request) {
                    outcome.reply = refusal
                    outcome.rejectedBy = "body"
                    return outcome
                }
            }
            let verdict = await guardStep.evaluate(&request)
            guardStep.counters.record(verdict)
            switch verdict {
            case .proceed:
                continue
            case .annotate(let headers):
                for field in headers { outcome.responseHeaders.appendLowercased(name: field.name, value: field.value) }
            case .reject(var reply):
                for field in outcome.responseHeaders { reply.headers.appendLowercased(name: field.name, value: field.value) }
                outcome.reply = reply
                outcome.rejectedBy = guardStep.name
                return outcome
            case .shadowReject(let reason):
                outcome.shadowRejections.append("\(guardStep.name):\(reason)")
            }
        }
        return outcome
    }
}
