import SluiceHTTP

/// What the proxy changes in heads on their way through.
enum HeaderRewriting {
    /// Hop-by-hop fields (RFC 9110 §7.6.1) apply to one connection and are never forwarded.
    /// Framing (Content-Length / Transfer-Encoding) is re-derived by the proxy itself.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
        "transfer-encoding", "content-length", "proxy-authenticate", "proxy-authorization",
    ]

    /// Removes hop-by-hop fields, and every field the `Connection` header names.
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        let named = headers.tokens(for: "connection")
        headers.removeAll { field in
            hopByHop.contains(field.name) || (!named.isEmpty && named.contains(field.name))
        }
    }

    /// The head sent upstream: hop-by-hop removed, `Expect` answered by us, forwarding fields added.
    static func upstreamRequest(from head: HTTPRequestHead, framing: UpstreamFraming, clientAddress: String,
                                requestID: String, scheme: String) -> HTTPRequestHead {
        var headers = head.headers
        stripHopByHop(&headers)
        headers.remove(name: "expect")
        if let existing = headers["x-forwarded-for"] {
            headers.set(name: "x-forwarded-for", value: existing + ", " + clientAddress)
        } else {
            headers.appendLowercased(name: "x-forwarded-for", value: clientAddress)
        }
        headers.set(name: "x-forwarded-proto", value: scheme)
        if headers["x-request-id"] == nil {
            headers.appendLowercased(name: "x-request-id", value: requestID)
        }
        appendVia(&headers, version: head.version)
        switch framing {
        case .none: break
        case .length(let length): headers.appendLowercased(name: "content-length", value: String(length))
        case .chunked: headers.appendLowercased(name: "transfer-encoding", value: "chunked")
        }
        return HTTPRequestHead(method: head.method, target: head.target, version: .http1_1, headers: headers)
    }

    /// The head sent downstream.
    static func downstreamResponse(from head: HTTPResponseHead, framing: UpstreamFraming, requestID: String,
                                   keepAlive: Bool, clientVersion: HTTPVersion) -> HTTPResponseHead {
        var headers = head.headers
        stripHopByHop(&headers)
        headers.set(name: "x-request-id", value: requestID)
        appendVia(&headers, version: head.version)
        switch framing {
        case .none: break
        case .length(let length): headers.appendLowercased(name: "content-length", value: String(length))
        case .chunked: headers.appendLowercased(name: "transfer-encoding", value: "chunked")
        }
        if !keepAlive {
            headers.appendLowercased(name: "connection", value: "close")
        } else if clientVersion == .http1_0 {
            headers.appendLowercased(name: "connection", value: "keep-alive")
        }
        return HTTPResponseHead(status: head.status, reason: head.reason, version: .http1_1, headers: headers)
    }

    private static func appendVia(_ headers: inout HTTPHeaders, version: HTTPVersion) {
        let entry = version == .http1_0 ? "1.0 sluice" : "1.1 sluice"
        if let existing = headers["via"] {
            headers.set(name: "via", value: existing + ", " + entry)
        } else {
            headers.appendLowercased(name: "via", value: entry)
        }
    }
}

/// How a body travels on the next hop.
enum UpstreamFraming: Equatable {
    case none
    case length(Int)
    case chunked
}
