import SluiceGuards

/// Turns how a claimed request ended into what its record becomes. The money rule: a request
/// that may have executed is never released, so no retry can execute it a second time.
struct OutcomeClassifier {
    let storeHeaders: [String]
    let maxStoredBody: Int
    let releaseStatuses: Set<Int>
    /// Notification routes store only 2xx answers: any other answer means the backend did not
    /// take the notification, and the provider's next resend must reach it.
    let storeSuccessOnly: Bool

    func completion(for outcome: RequestOutcome) -> Completion {
        // Never sent (a later guard refused, the body failed, the client left first) or the
        // connection was never made: nothing can have executed.
        if outcome.attempt == 0 { return .release }
        switch outcome.failure {
        case .upstreamConnectFailed?, .upstreamConnectTimeout?, .clientBodyInvalid?, .localReply?: return .release
        default: break
        }
        guard let head = outcome.responseHead else {
            // Sent, and no answer: a timeout, a reset, a bad response, the client gone while waiting.
            return .unknown
        }
        if releaseStatuses.contains(head.status) || (storeSuccessOnly && !(200..<300).contains(head.status)) { return .release }
        let body = outcome.responseBody ?? []
        if outcome.failure != nil {
            // The answer started and did not finish being relayed (client gone, upstream cut the
            // body): kept only when the whole body is known to have been captured.
            guard let length = head.headers["content-length"].flatMap(Int.init), length == body.count else { return .unknown }
        }
        return .done(StoredResponse(head: head, body: body, storeHeaders: storeHeaders, captureLimit: maxStoredBody))
    }
}
