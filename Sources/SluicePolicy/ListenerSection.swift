import Yams

extension PolicyFileReader {
    /// One item of `listeners`; nil without a usable name (see `NamedItem.declared`).
    func readListener(_ node: Node) -> Declared<ListenerPolicy>? {
        guard let item = namedItem(node, kind: "listener", allowed: [
            "address", "protocol", "header_timeout", "idle_timeout", "max_header_bytes", "max_uri_bytes", "max_connections", "http2", "tls",
            "trusted_proxies", "max_connections_per_client", "new_connections_per_client", "body_timeout", "body_min_rate",
            "proxy_protocol",
        ]) else { return nil }
        let fields = item.fields

        var listener = ListenerPolicy(name: item.name ?? "", address: EndpointAddress(host: "", port: 0))
        if let node = required("address", in: fields, of: item.what), let address = address(node, allowPortZero: true) { listener.address = address }
        if let node = fields["protocol"], let value = choice(node, "protocol", as: ListenerProtocol.self) {
            listener.protocol = value
        }
        if let node = fields["header_timeout"], let value = duration(node) { listener.headerTimeout = value }
        if let node = fields["idle_timeout"], let value = duration(node) { listener.idleTimeout = value }
        if let node = fields["max_header_bytes"], let value = size(node) { listener.maxHeaderBytes = value }
        if let node = fields["max_uri_bytes"], let value = size(node) { listener.maxURIBytes = value }
        if let node = fields["max_connections"], let value = count(node) {
            if value >= 1 { listener.maxConnections = value } else { report("max_connections must be at least 1", at: node) }
        }
        if let node = fields["http2"], let limits = readHTTP2Limits(node, listener: item.what) { listener.http2 = limits }
        if let node = fields["tls"] { listener.tls = readListenerTLS(node, of: item.what) }
        if let node = fields["max_connections_per_client"], let value = count(node) { listener.maxConnectionsPerClient = value }
        if let node = fields["body_timeout"], let value = duration(node) { listener.bodyTimeout = value }
        if let node = fields["body_min_rate"],
           let value = parsed(node, expected: "a rate like 1KiB/s", { text in
               // `0` (off, the default) reads as itself; any other rate needs its `/s`.
               text == "0" ? .success(0)
                   : text.hasSuffix("/s") ? ByteSizeSyntax.parse(String(text.dropLast(2)), allowZero: true)
                   : .failure(SyntaxProblem("'\(text)' is not a rate like 1KiB/s (or 0: off)"))
           }) {
            listener.bodyMinimumRate = value
        }
        if let node = fields["proxy_protocol"],
           let proxy = mapping(node, what: "proxy_protocol of \(item.what)", allowed: ["from", "timeout"]) {
            if let node = required("from", in: proxy, of: "proxy_protocol of \(item.what)"),
               let items = list(node, expected: "a list of addresses or CIDR ranges") {
                listener.proxyProtocolFrom = items.compactMap { parsed($0, expected: "an address or CIDR range", IPRange.parse) }
            }
            if let node = proxy["timeout"], let value = duration(node) { listener.proxyProtocolTimeout = value }
        }
        if let node = fields["new_connections_per_client"],
           let value = parsed(node, expected: "a rate like 20/s", Self.perSecondRate) {
            listener.newConnectionsPerClientPerSecond = value
        }
        if let node = fields["trusted_proxies"], let items = list(node, expected: "a list of addresses or CIDR ranges") {
            listener.trustedProxies = items.compactMap { parsed($0, expected: "an address or CIDR range", IPRange.parse) }
        }

        return item.declared(listener)
    }

    /// `N/s`, N ≥ 1.
    static func perSecondRate(_ text: String) -> Result<Int, SyntaxProblem> {
        guard text.hasSuffix("/s"), let value = Int(text.dropLast(2)), value >= 1, text.dropLast(2).allSatisfy(\.isASCIIDigit) else {
            return .failure(SyntaxProblem("'\(text)' is not a rate like 20/s"))
        }
        return .success(value)
    }
}

extension PolicyFileReader {
    /// `http2: {max_concurrent_streams: 128, max_header_list_bytes: 32KiB, initial_window_bytes: 256KiB}`
    func readHTTP2Limits(_ node: Node, listener: String) -> HTTP2Limits? {
        guard let fields = mapping(node, what: "http2 of \(listener)", allowed: [
            "max_concurrent_streams", "max_header_list_bytes", "initial_window_bytes", "stream_checks",
        ]) else { return nil }
        var limits = HTTP2Limits()
        if let node = fields["max_concurrent_streams"], let value = count(node) {
            if (1...10_000).contains(value) {
                limits.maxConcurrentStreams = value
            } else {
                report("max_concurrent_streams must be between 1 and 10000", at: node)
            }
        }
        if let node = fields["max_header_list_bytes"], let value = size(node) { limits.maxHeaderListBytes = value }
        if let node = fields["initial_window_bytes"], let value = size(node) {
            if value <= Int(Int32.max) {
                limits.initialWindowBytes = value
            } else {
                report("initial_window_bytes must be at most 2147483647 (RFC 9113)", at: node)
            }
        }
        if let node = fields["stream_checks"], let value = flag(node) { limits.streamChecks = value }
        return limits
    }
}
