import SluiceGuards
import SluiceIO
import SluiceSharedPools
import SluiceHTTP
import SluicePayload

/// The validation guard of one route (after auth, before idempotency: a malformed payment is
/// refused before it claims a record or costs the backend anything). A failed check answers 400
/// naming the rule, the field and a stable code; nothing reaches the backend.
final class ValidationGuard: RequestGuard {
    let name = "validation"
    let counters = GuardCounters()
    let needsBody = true
    let rule: ValidationPolicy
    /// Where bodies over `rule.offload.overBytes` are checked (nil: on the loop).
    private let pool: WorkerPool?
    private let loops: [EventLoop]

    init(rule: ValidationPolicy, pool: WorkerPool? = nil, loops: [EventLoop] = []) {
        self.rule = rule
        self.pool = pool
        self.loops = loops
    }

    func explain(_ request: GuardRequest) -> String {
        var settings = "rule \(rule.name): \(rule.fields.count) fields\(rule.strict ? ", strict" : "")"
        guard let body = request.body else { return settings + " (give --body-file to check a body)" }
        // `explain` verifies no signature, so no merchant is known: the fields bound to the
        // verified merchant are left out of this check, and said so.
        var checked = rule
        if request.merchantID == nil, rule.fields.contains(where: \.isMerchant) {
            checked.fields = rule.fields.map { field in
                var field = field
                field.isMerchant = false
                return field
            }
            settings += " (" + rule.fields.filter(\.isMerchant).map(\.path).joined(separator: ", ") + " must be the verified merchant: not checked here)"
        }
        do {
            let payload = try body.payload()
            guard let violation = PayloadValidator.validate(payload, checked, merchant: request.merchantID) else { return settings + "; the body passes" }
            return settings + "; the body would be refused: 400 \(violation.code) (\(violation.detail))"
        } catch {
            return settings + "; the body would be refused: 400 invalid_body (\(error))"
        }
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        guard let body = request.body else { return .proceed }
        if let pool, let offload = rule.offload, body.bytes.count > offload.overBytes, request.loopIndex < loops.count {
            return await evaluateOnPool(pool, body: body, merchant: request.merchantID, loop: loops[request.loopIndex])
        }
        let payload: PaymentPayload
        do { payload = try body.payload() } catch { return .reject(.invalidBody(error)) }
        guard let violation = PayloadValidator.validate(payload, rule, merchant: request.merchantID) else { return .proceed }
        return .reject(ValidationReplies.refusal(violation, rule: rule))
    }
}

extension ValidationGuard {
    /// A large body is parsed and checked on the rule's thread pool (a copy of the bytes: the
    /// loop goes on serving others meanwhile); a saturated pool answers 503 `bulkhead_full`.
    private func evaluateOnPool(_ pool: WorkerPool, body: RequestBody, merchant: String?, loop: EventLoop) async -> GuardVerdict {
        let bytes = body.bytes
        let contentType = body.contentType
        let rule = rule
        let outcome = await pool.run(on: loop) { () -> Result<Violation?, PayloadError> in
            Result { () throws(PayloadError) -> Violation? in
                PayloadValidator.validate(try RequestBody(bytes: bytes, contentType: contentType).payload(), rule, merchant: merchant)
            }
        }
        switch outcome {
        case nil: return .reject(WorkerPool.saturatedReply("payload validation"))
        case .failure(let error)?: return .reject(.invalidBody(error))
        case .success(nil)?: return .proceed
        case .success(let violation?)?: return .reject(ValidationReplies.refusal(violation, rule: rule))
        }
    }
}

enum ValidationReplies {
    static func refusal(_ violation: Violation, rule: ValidationPolicy) -> LocalReply {
        var headers = HTTPHeaders()
        let body: String
        switch rule.style {
        case .problem:
            headers.appendLowercased(name: "content-type", value: "application/problem+json")
            body = "{\"type\":\"about:blank\",\"title\":\"Bad Request\",\"status\":400,\"error\":\"PARAM_ERROR\","
                + "\"code\":\"\(violation.code)\",\"field\":\"\(jsonEscaped(violation.field))\",\"rule\":\"\(jsonEscaped(rule.name))\","
                + "\"detail\":\"\(jsonEscaped(violation.detail))\"}\n"
        case .wechatpay:
            headers.appendLowercased(name: "content-type", value: "application/json")
            body = "{\"code\":\"PARAM_ERROR\",\"message\":\"\(jsonEscaped(violation.detail))\","
                + "\"detail\":{\"field\":\"\(jsonEscaped(violation.field))\",\"location\":\"body\",\"issue\":\"\(violation.code)\"}}\n"
        case .wechatpayV2:
            headers.appendLowercased(name: "content-type", value: "application/xml")
            body = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>\(LocalReply.cdata(violation.detail))</return_msg>"
                + "<err_code>\(LocalReply.cdata("PARAM_ERROR"))</err_code><err_code_des>\(LocalReply.cdata(violation.code))</err_code_des></xml>\n"
        }
        return LocalReply(status: 400, headers: headers, body: Array(body.utf8), reason: "invalid_param:" + violation.code)
    }
}
