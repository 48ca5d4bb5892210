/// A response Sluice makes itself instead of forwarding: a guard's rejection, a routing miss,
/// an upstream failure. `reason` is a short machine-readable word for logs and metrics.
public struct LocalReply: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var reason: String
    /// The problem's `error` code and `detail`, when the body is one (`problem`): what another
    /// shape of the same answer says (`inWeChatPayV2Shape`).
    public var problemError: String?
    public var problemDetail: String?

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], reason: String) {
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason
    }

    /// A problem details body (RFC 9457, `application/problem+json`): `type` about:blank, the
    /// status's `title`, `status`, and as extensions the stable `error` code and the `message`
    /// (also the `detail`) that every Sluice error has carried, so clients reading `error` or
    /// `message` keep working.
    public static func json(status: Int, reason: String, message: String, requestID: String? = nil) -> LocalReply {
        problem(status: status, error: reason, detail: message, members: requestID.map { ["\"request_id\":\"\(jsonEscaped($0))\""] } ?? [])
    }

    /// An RFC 9457 problem: `type`, `title`, `status`, `detail`, and the stable `error` code with
    /// `message` (the same text as `detail`) that every answer Sluice makes itself carries, then
    /// `members` (each a `"name":value` JSON fragment), with `Retry-After` when given.
    public static func problem(status: Int, type: String = "about:blank", error: String, detail: String,
                               members: [String] = [], retryAfter: Int? = nil, reason: String? = nil) -> LocalReply {
        let originalDetail = detail
        let detail = jsonEscaped(detail)
        var text = "{\"type\":\"\(type)\",\"title\":\"\(HTTPStatus.reasonPhrase(status))\",\"status\":\(status),"
            + "\"error\":\"\(jsonEscaped(error))\",\"detail\":\"\(detail)\",\"message\":\"\(detail)\""
        for member in members { text += "," + member }
        text += "}\n"
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "content-type", value: "application/problem+json")
        if let retryAfter { headers.appendLowercased(name: "retry-after", value: String(retryAfter)) }
        var reply = LocalReply(status: status, headers: headers, body: Array(text.utf8), reason: reason ?? error)
        reply.problemError = error
        reply.problemDetail = originalDetail
        return reply
    }

    /// The same answer as WeChat Pay v2 clients read errors (their SDKs parse `return_code`, not
    /// JSON): `<xml><return_code>FAIL</return_code><return_msg>…</return_msg><err_code>…</err_code></xml>`,
    /// with the same status and other header fields. Replies that are no problem (a stored
    /// response replayed, an answer already in XML) stay as they are.
    public func inWeChatPayV2Shape() -> LocalReply {
        guard let error = problemError, let detail = problemDetail else { return self }
        var reshaped = self
        reshaped.headers.remove(name: "content-type")
        reshaped.headers.appendLowercased(name: "content-type", value: "application/xml")
        let xml = "<xml><return_code>\(Self.cdata("FAIL"))</return_code><return_msg>\(Self.cdata(detail))</return_msg>"
            + "<err_code>\(Self.cdata(error))</err_code></xml>\n"
        reshaped.body = Array(xml.utf8)
        reshaped.problemError = nil
        reshaped.problemDetail = nil
        return reshaped
    }

    /// A CDATA section holding `text` (a `]]>` inside is split across two sections).
    public static func cdata(_ text: String) -> String {
        "<![CDATA[" + text.replacing("]]>", with: "]]]]><![CDATA[>") + "]]>"
    }

    /// RFC 9457 problem types registered with IANA that Sluice's answers use.
    public static let quotaExceededType = "https://iana.org/assignments/http-problem-types#quota-exceeded"
    public static let reducedCapacityType = "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity"
}

/// Escapes a string for the inside of a JSON string literal.
public func jsonEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
