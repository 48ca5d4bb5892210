import SluiceHTTP
import SluiceHTTP1

/// What the proxy changes in heads on their way through. Each direction is one pass over the
/// fields into a new list reserved once: this runs twice per request.
enum HeaderRewriting {
    /// Hop-by-hop fields (RFC 9110 §7.6.1) apply to one connection and are never forwarded.
    /// Framing (Content-Length / Transfer-Encoding) is re-derived by the proxy itself.
    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool {
        // By length first: every field of every request and response passes here, and a
        // String comparison with a name of another length is a call for nothing.
        switch name.utf8.count {
        case 2: return name == "te"
        case 7: return name == "trailer" || name == "upgrade"
        case 10: return name == "connection" || name == "keep-alive"
        case 14: return name == "content-length"
        case 16: return name == "proxy-connection"
        case 17: return name == "transfer-encoding"
        case 18: return name == "proxy-authenticate"
        case 19: return name == "proxy-authorization"
        default: return false
        }
    }

    /// The fields the forwarding rules treat specially, told apart by length first (see
    /// `isHopByHop`); every other name is `.other`.
    enum SpecialField {
        case expect, forwardedProto, forwardedFor, forwardedHost, forwarded, realIP, via, requestID, host, other

        init(_ name: String) {
            switch name.utf8.count {
            case 3 where name == "via": self = .via
            case 4 where name == "host": self = .host
            case 6 where name == "expect": self = .expect
            case 9 where name == "forwarded": self = .forwarded
            case 9 where name == "x-real-ip": self = .realIP
            case 12 where name == "x-request-id": self = .requestID
            case 15 where name == "x-forwarded-for": self = .forwardedFor
            case 16 where name == "x-forwarded-host": self = .forwardedHost
            case 17 where name == "x-forwarded-proto": self = .forwardedProto
            default: self = .other
            }
        }

        /// Whether a request field `.other` is one the gateway sets, spelled otherwise (`_`, `.`,
        /// `+` for `-`: see `HTTPHeaders.sameAsVariable`). Checked only for request fields, and
        /// only when the name holds such a byte at all: every field passes here.
        static func isGatewayFieldRespelled(_ name: String) -> Bool {
            switch name.utf8.count {
            case 9, 12, 15, 16, 17:
                guard HTTPHeaders.mayBeRespelled(name) else { return false }
                return gatewaySetFields.contains { HTTPHeaders.sameAsVariable(name, $0) }
            default:
                return false
            }
        }

        private static let gatewaySetFields = ["x-real-ip", "x-request-id", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]
    }

    /// Removes the fields a client's `Connection` names (RFC 9110 §7.6.1) from its request head,
    /// before any guard sees it. Were they removed on the way out instead, a client naming a
    /// field that a guard sets (the verified merchant) would have it removed after the guard set
    /// it. `TE` stays: HTTP/1.1 requires it to be named, and its own rule applies upstream.
    static func removeConnectionOptions(from headers: inout HTTPHeaders) {
        let named = connectionOptions(headers).filter { $0 != "te" }
        guard !named.isEmpty else { return }
        headers.removeAll { named.contains($0.name) }
    }

    /// Writes the HTTP/1.1 head sent upstream straight into `bytes` (no intermediate header list:
    /// this runs for every request); the fields are `forEachUpstreamField`'s. An HTTP/1.0 client
    /// may send no Host (a load balancer's health check often does), but every HTTP/1.1 request
    /// must carry one (RFC 9112 §3.2): then `endpointName` (the upstream's host:port) is sent.
    static func writeUpstreamRequest(_ head: HTTPRequestHead, framing: UpstreamFraming, clientAddress: String,
                                     peerIsTrusted: Bool = false, requestID: String, scheme: String, endpointName: String,
                                     into bytes: inout [UInt8]) {
        HTTP1Serializer.appendRequestLine(method: head.method, target: head.target, to: &bytes)
        let hasHost = forEachUpstreamField(head, framing: framing, clientAddress: clientAddress, peerIsTrusted: peerIsTrusted,
                                           requestID: requestID, scheme: scheme) { name, value in
            HTTP1Serializer.appendField(name: name, value: value, to: &bytes)
        }
        if !hasHost { HTTP1Serializer.appendField(name: "host", value: endpointName, to: &bytes) }
        HTTP1Serializer.appendEndOfHead(to: &bytes)
    }

    /// The same fields for an HTTP/2 upstream (the request line becomes pseudo-headers, `Host`
    /// becomes `:authority`, and no Transfer-Encoding: HTTP/2 frames the body itself). A client
    /// that accepts trailers (`TE: trailers`, which gRPC backends insist on) says so upstream too.
    static func upstreamHTTP2Fields(_ head: HTTPRequestHead, bodyLength: Int?, clientAddress: String, peerIsTrusted: Bool,
                                    requestID: String, scheme: String) -> HTTPHeaders {
        var fields = HTTPHeaders(reservingCapacity: head.headers.count + 5)
        _ = forEachUpstreamField(head, framing: bodyLength.map { .length($0) } ?? .none, clientAddress: clientAddress,
                                 peerIsTrusted: peerIsTrusted, requestID: requestID, scheme: scheme) { name, value in
            if name != "host" { fields.appendLowercased(name: name, value: value) }
        }
        if head.headers.tokens(for: "te").contains("trailers") { fields.appendLowercased(name: "te", value: "trailers") }
        return fields
    }

    /// Every field of the head sent upstream, in order, through `emit`: hop-by-hop fields removed
    /// (those `Connection` named were removed before the guards ran), `Expect` answered by us, `X-Forwarded-Proto`,
    /// `X-Request-Id` and `Via` set, framing re-derived. `X-Forwarded-For` is extended with the
    /// peer when the peer is a trusted proxy; from any other peer a client-sent `X-Forwarded-For`,
    /// `Forwarded` or `X-Real-IP` is dropped and `X-Forwarded-For` is the peer alone: a client
    /// cannot claim to be someone else. Returns whether a Host field was among them.
    @inline(__always)
    private static func forEachUpstreamField(_ head: HTTPRequestHead, framing: UpstreamFraming, clientAddress: String,
                                             peerIsTrusted: Bool, requestID: String, scheme: String,
                                             emit: (String, String) -> Void) -> Bool {
        var forwardedFor: String?
        var via: String?
        var hasHost = false
        // The fields `Connection` names are gone already (`removeConnectionOptions`).
        for field in head.headers {
            let name = field.name
            if isHopByHop(name) { continue }
            switch SpecialField(name) {
            case .expect, .forwardedProto:
                continue
            case .forwardedFor:
                if peerIsTrusted { forwardedFor = forwardedFor.map { $0 + ", " + field.value } ?? field.value }
                continue
            case .forwarded, .realIP, .forwardedHost:
                if !peerIsTrusted { continue }
            case .via:
                via = via.map { $0 + ", " + field.value } ?? field.value
                continue
            case .requestID:
                // `requestID` is the client's id when the pipeline accepted it, else the one it
                // made: the backend logs what the client and the access log see, once.
                continue
            case .host:
                hasHost = true
            case .other:
                // `x_forwarded_for`, `x.forwarded.for` and the like: CGI-style servers read them
                // as the field the gateway sets (a client-chosen address or id).
                if SpecialField.isGatewayFieldRespelled(name) { continue }
            }
            emit(name, field.value)
        }
        emit("x-forwarded-for", forwardedFor.map { $0 + ", " + clientAddress } ?? clientAddress)
        emit("x-forwarded-proto", scheme)
        emit("x-request-id", requestID)
        emit("via", viaValue(existing: via, version: head.version))
        switch framing {
        case .none: break
        case .length(let length): emit("content-length", String(length))
        case .chunked: emit("transfer-encoding", "chunked")
        }
        return hasHost
    }

    /// The head sent downstream, before the downstream protocol adds its framing: hop-by-hop
    /// removed, our request id and `Via`.
    static func downstreamResponse(from head: HTTPResponseHead, requestID: String) -> HTTPResponseHead {
        let incoming = head.headers
        let named = connectionOptions(incoming)
        var headers = HTTPHeaders(reservingCapacity: incoming.count + 5)
        var via: String?
        for field in incoming {
            let name = field.name
            if isHopByHop(name) || (!named.isEmpty && named.contains(name)) { continue }
            switch SpecialField(name) {
            case .requestID:
                continue
            case .via:
                via = via.map { $0 + ", " + field.value } ?? field.value
                continue
            default:
                headers.appendLowercased(name: name, value: field.value)
            }
        }
        headers.appendLowercased(name: "x-request-id", value: requestID)
        headers.appendLowercased(name: "via", value: viaValue(existing: via, version: head.version))
        return HTTPResponseHead(status: head.status, reason: head.reason, version: .http1_1, headers: headers)
    }

    /// Trailer fields relayed downstream: everything but hop-by-hop fields and those RFC 9110
    /// §6.5.1 forbids in trailers (framing, routing, authentication, cookies, caching, the
    /// content's own metadata), which a client could otherwise be tricked into applying late.
    static func downstreamTrailers(from trailers: HTTPHeaders) -> HTTPHeaders {
        guard !trailers.isEmpty else { return trailers }
        var kept = HTTPHeaders()
        for field in trailers where !isHopByHop(field.name) && !forbiddenInTrailers.contains(field.name) {
            kept.appendLowercased(name: field.name, value: field.value)
        }
        return kept
    }

    private static let forbiddenInTrailers: Set<String> = [
        "content-length", "content-type", "content-encoding", "content-range", "host", "authorization",
        "proxy-authenticate", "www-authenticate", "set-cookie", "cookie", "cache-control", "expires", "age",
        "date", "location", "retry-after", "vary", "x-request-id", "via", "trailer", "max-forwards", "expect",
    ]

    /// Field names listed in `Connection` (other than the standard options), which are hop-by-hop too.
    private static func connectionOptions(_ headers: HTTPHeaders) -> [String] {
        guard headers.contains(name: "connection") else { return [] }
        var options: [String] = []
        headers.forEachToken(for: "connection") { token in
            if HTTPHeaders.token(token, equals: "close") || HTTPHeaders.token(token, equals: "keep-alive") { return }
            options.append(String(decoding: token, as: UTF8.self).lowercased())
        }
        return options
    }

    private static func viaValue(existing: String?, version: HTTPVersion) -> String {
        let entry: String
        switch version {
        case .http1_0: entry = "1.0 sluice"
        case .http1_1: entry = "1.1 sluice"
        case .http2: entry = "2 sluice"
        }
        return existing.map { $0 + ", " + entry } ?? entry
    }
}

/// How a body travels on the next hop.
enum UpstreamFraming: Equatable {
    case none
    case length(Int)
    case chunked
}
