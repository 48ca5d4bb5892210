import SluiceHTTP

/// The idempotency guard's own answers: problem+json with a stable `error` code, as the
/// Idempotency-Key draft recommends (400 missing, 409 in flight, 422 reused).
enum IdempotencyReplies {
    static func problem(_ status: Int, _ code: String, _ detail: String, retryAfter: Int? = nil) -> LocalReply {
        LocalReply.problem(status: status, error: code, detail: detail, retryAfter: retryAfter)
    }

    static func missingKey(_ rule: IdempotencyRulePolicy) -> LocalReply {
        problem(400, "idempotency_key_missing", "this operation requires an idempotency key (\(describe(rule.keys)))")
    }

    static func invalidKey(_ problem: IdempotencyKey.Problem) -> LocalReply {
        switch problem {
        case .invalidHeader(let name):
            return self.problem(400, "invalid_idempotency_key",
                                "\(name) must be a string of 1 to 255 printable ASCII characters (quoted as an RFC 9651 sf-string, or bare)")
        case .repeatedHeader(let name):
            return self.problem(400, "invalid_idempotency_key", "the request carries more than one \(name)")
        case .emptyBodyField(let path):
            return self.problem(400, "invalid_idempotency_key", "\(path) must be a non-empty string or number: it is the request's idempotency key")
        case .invalidBody(let error):
            return .invalidBody(error)
        }
    }

    static let reused = problem(422, "idempotency_key_reused",
                                "this idempotency key was used for a different request (method, path or body)")
    static let inFlight = problem(409, "request_in_flight",
                                  "a request with this idempotency key is still being processed; retry later", retryAfter: 1)
    static let outcomeUnknown = problem(409, "outcome_unknown",
                                        "a request with this idempotency key was sent and its outcome is unknown; query its status before retrying")
    static let notStored = problem(409, "response_not_stored",
                                   "a request with this idempotency key completed; its response was too large to store, query its status")
    static let unavailable = problem(503, "idempotency_unavailable",
                                     "duplicate protection is unavailable; retry shortly", retryAfter: 1)

    /// What a notifying provider reads as "received" (it stops resending).
    static func acknowledgement(_ replay: IdempotencyRulePolicy.Replay) -> LocalReply? {
        let (contentType, body): (String, String)
        switch replay {
        case .stored: return nil
        case .wechatpayV3: (contentType, body) = ("application/json", "{\"code\":\"SUCCESS\",\"message\":\"OK\"}")
        case .wechatpayV2:
            (contentType, body) = ("application/xml", "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>")
        case .alipay: (contentType, body) = ("text/plain", "success")
        }
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "content-type", value: contentType)
        headers.appendLowercased(name: "idempotent-replayed", value: "true")
        return LocalReply(status: 200, headers: headers, body: Array(body.utf8), reason: "idempotent_replay")
    }

    static func describe(_ sources: [IdempotencyRulePolicy.KeySource]) -> String {
        sources.map { source in
            switch source {
            case .header(let name): return "the \(name) header"
            case .body(let paths, let names):
                return "body fields " + paths.joined(separator: " + ") + (names.map { " (as " + $0.joined(separator: " + ") + ")" } ?? "")
            }
        }.joined(separator: ", or ")
    }
}
