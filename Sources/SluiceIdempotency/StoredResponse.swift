import SluiceHTTP

/// A completed request's response as its record keeps it: what a retry with the same key gets.
struct StoredResponse: Sendable, Equatable {
    var status: Int
    /// The policy's `store_headers` that the response had, in order.
    var headers: [HTTPHeaders.Field]
    var body: [UInt8]
    /// False when the body was larger than `max_stored_body`: the request completed, and its
    /// response cannot be replayed.
    var isReplayable: Bool

    /// Fields never stored, whatever the policy names: a replay must not hand out another
    /// session's cookie, and hop-by-hop fields belong to the original connection.
    static let neverStored: Set<String> = [
        "set-cookie", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length", "proxy-authenticate", "proxy-authorization",
    ]

    init(status: Int, headers: [HTTPHeaders.Field], body: [UInt8], isReplayable: Bool = true) {
        self.status = status
        self.headers = headers
        self.body = body
        self.isReplayable = isReplayable
    }

    /// The response to store from an upstream head and the captured body; `captureLimit` is
    /// the policy's cap (a capture longer than it means the body did not fit).
    init(head: HTTPResponseHead, body: [UInt8], storeHeaders: [String], captureLimit: Int) {
        status = head.status
        headers = head.headers.filter { field in
            storeHeaders.contains(field.name) && !Self.neverStored.contains(field.name)
        }
        isReplayable = body.count <= captureLimit
        self.body = isReplayable ? body : []
    }

    /// The fields as one Redis value: `name: value` lines (names are lower case; values hold no
    /// line breaks, HTTP forbids them).
    var encodedHeaders: String {
        headers.map { $0.name + ": " + $0.value + "\n" }.joined()
    }

    static func decodeHeaders(_ text: String) -> [HTTPHeaders.Field] {
        text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            return HTTPHeaders.Field(name: String(line[..<colon]), value: String(value))
        }
    }

    /// The replay: the stored status, fields and body, marked `Idempotent-Replayed: true`.
    var replay: LocalReply {
        var fields = HTTPHeaders()
        for field in headers { fields.appendLowercased(name: field.name, value: field.value) }
        fields.appendLowercased(name: "idempotent-replayed", value: "true")
        return LocalReply(status: status, headers: fields, body: body, reason: "idempotent_replay")
    }
}
