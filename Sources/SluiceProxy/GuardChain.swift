import SluiceGuards
import SluiceHTTP

/// A route's guards in policy order (degrade, auth, idempotency, rate limit, bulkhead, breaker).
/// The first rejection ends the chain; shadow rejections are reported and the chain goes on.
struct GuardChain: Sendable {
    let guards: [any RequestGuard]

    struct Outcome {
        var reply: LocalReply?
        var rejectedBy: String?
        var shadowRejections: [String] = []
        /// Fields guards asked to add to the response (forwarded or local).
        var responseHeaders = HTTPHeaders()
    }

    var isEmpty: Bool { guards.isEmpty }

    func evaluate(_ request: inout GuardRequest) async -> Outcome {
        var outcome = Outcome()
        for guardStep in guards {
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
