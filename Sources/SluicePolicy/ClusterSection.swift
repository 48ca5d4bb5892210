import Yams

extension PolicyFileReader {
    /// One item of `clusters`; nil without a usable name (see `NamedItem.declared`).
    func readCluster(_ node: Node) -> Declared<ClusterPolicy>? {
        guard let item = namedItem(node, kind: "cluster", allowed: [
            "endpoints", "balance", "connect_timeout", "max_idle_per_endpoint", "idle_timeout", "tls",
        ]) else { return nil }
        let fields = item.fields

        var cluster = ClusterPolicy(name: item.name ?? "", endpoints: [])
        if let node = required("endpoints", in: fields, of: item.what) {
            cluster.endpoints = endpoints(node, of: item.what)
        }
        if let node = fields["balance"], let value = choice(node, "balance", as: LoadBalancing.self) {
            cluster.balance = value
        }
        if let node = fields["connect_timeout"], let value = duration(node) { cluster.connectTimeout = value }
        if let node = fields["max_idle_per_endpoint"], let value = count(node) { cluster.maxIdlePerEndpoint = value }
        if let node = fields["idle_timeout"], let value = duration(node) { cluster.idleTimeout = value }
        if let node = fields["tls"] { cluster.tls = readClusterTLS(node, of: item.what) }

        return item.declared(cluster)
    }

    /// A non-empty list of upstream addresses: a cluster with none could only ever answer 503.
    private func endpoints(_ node: Node, of what: String) -> [EndpointAddress] {
        guard let items = list(node, expected: "a list of endpoints like [127.0.0.1:9001]") else { return [] }
        if items.isEmpty { report("\(what) has no endpoints", at: node) }
        var seen: [EndpointAddress: SourcePosition] = [:]
        var endpoints: [EndpointAddress] = []
        for item in items {
            guard let address = address(item, allowPortZero: false) else { continue }
            if let first = seen[address] {
                report("duplicate endpoint \(address) (first listed at \(first))", at: item)
                continue
            }
            seen[address] = position(of: item)
            endpoints.append(address)
        }
        return endpoints
    }
}
