import Yams

extension PolicyFileReader {
    /// One item of `listeners`; nil without a usable name (see `NamedItem.declared`).
    func readListener(_ node: Node) -> Declared<ListenerPolicy>? {
        guard let item = namedItem(node, kind: "listener", allowed: [
            "address", "protocol", "header_timeout", "idle_timeout", "max_header_bytes", "max_uri_bytes", "tls",
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
        if let node = fields["tls"] { listener.tls = readListenerTLS(node, of: item.what) }

        return item.declared(listener)
    }
}
