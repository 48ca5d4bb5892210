import Yams

extension PolicyFileReader {
    /// One item of `clusters`; nil without a usable name (see `NamedItem.declared`).
    func readCluster(_ node: Node) -> Declared<ClusterPolicy>? {
        guard let item = namedItem(node, kind: "cluster", allowed: [
            "endpoints", "protocol", "balance", "connect_timeout", "max_connections", "max_idle_per_endpoint", "idle_timeout", "unsafe_reuse_idle", "tls", "outlier_detection", "retries",
            "health_check",
        ]) else { return nil }
        let fields = item.fields

        var cluster = ClusterPolicy(name: item.name ?? "", endpoints: [])
        if let node = required("endpoints", in: fields, of: item.what) {
            cluster.endpoints = endpoints(node, of: item.what)
        }
        if let node = fields["protocol"], let value = choice(node, "protocol", as: UpstreamProtocol.self) { cluster.protocol = value }
        if let node = fields["balance"], let value = choice(node, "balance", as: LoadBalancing.self) {
            cluster.balance = value
        }
        if let node = fields["connect_timeout"], let value = duration(node) { cluster.connectTimeout = value }
        if let node = fields["max_connections"], let value = count(node) {
            if value >= 1 { cluster.maxConnections = value } else { report("max_connections must be at least 1", at: node) }
        }
        if let node = fields["max_idle_per_endpoint"], let value = count(node) { cluster.maxIdlePerEndpoint = value }
        if let node = fields["idle_timeout"], let value = duration(node) { cluster.idleTimeout = value }
        // `0s`: a POST never takes a pooled connection.
        if let node = fields["unsafe_reuse_idle"], let value = node.string == "0s" ? .zero : duration(node) {
            cluster.unsafeReuseIdle = value
        }
        if let node = fields["tls"] { cluster.tls = readClusterTLS(node, of: item.what) }
        if let node = fields["outlier_detection"] { cluster.outlierDetection = readOutlierDetection(node, of: item.what) }
        if let node = fields["retries"] { cluster.retries = readRetries(node, of: item.what) }
        if let node = fields["health_check"] { cluster.healthCheck = readHealthCheck(node, of: item.what) }

        return item.declared(cluster)
    }

    private func readOutlierDetection(_ node: Node, of what: String) -> OutlierDetectionPolicy? {
        guard let fields = mapping(node, what: "outlier_detection of \(what)",
                                   allowed: ["consecutive_failures", "ejection_time", "max_ejection_time", "max_ejected_share",
                                             "success_rate"]) else { return nil }
        var policy = OutlierDetectionPolicy()
        if let node = fields["consecutive_failures"], let value = count(node) {
            if value >= 1 { policy.consecutiveFailures = value } else { report("consecutive_failures must be at least 1", at: node) }
        }
        if let node = fields["ejection_time"], let value = duration(node) { policy.ejectionTime = value }
        if let node = fields["max_ejection_time"], let value = duration(node) {
            if value >= policy.ejectionTime { policy.maxEjectionTime = value } else { report("max_ejection_time must be at least ejection_time", at: node) }
        }
        if let node = fields["max_ejected_share"], let value = number(node, upTo: 1) { policy.maxEjectedShare = value }
        if let node = fields["success_rate"], let rate = mapping(node, what: "success_rate of \(what)",
                                                                  allowed: ["interval", "minimum_requests", "minimum_endpoints", "stdev_factor"]) {
            var success = SuccessRatePolicy()
            if let node = rate["interval"], let value = duration(node) {
                if value >= .seconds(1) { success.interval = value } else { report("interval must be at least 1s", at: node) }
            }
            if let node = rate["minimum_requests"], let value = count(node) { success.minimumRequests = max(value, 1) }
            if let node = rate["minimum_endpoints"], let value = count(node) {
                if value >= 2 { success.minimumEndpoints = value } else { report("minimum_endpoints must be at least 2", at: node) }
            }
            if let node = rate["stdev_factor"], let value = number(node, upTo: 10) { success.stdevFactor = value }
            policy.successRate = success
        }
        return policy
    }

    private func readHealthCheck(_ node: Node, of what: String) -> HealthCheckPolicy? {
        guard let fields = mapping(node, what: "health_check of \(what)", allowed: ["path", "interval", "timeout", "healthy", "unhealthy"]) else {
            return nil
        }
        var policy = HealthCheckPolicy()
        if let node = fields["path"], let path = text(node, expected: "a path like /health") {
            if path.hasPrefix("/") && path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { policy.path = path } else {
                report("health_check path must start with / and hold no spaces", at: node)
            }
        }
        if let node = fields["interval"], let value = duration(node) {
            if value >= .milliseconds(100) { policy.interval = value } else { report("interval must be at least 100ms", at: node) }
        }
        if let node = fields["timeout"], let value = duration(node) { policy.timeout = value }
        if policy.timeout > policy.interval, let node = fields["timeout"] ?? fields["interval"] {
            report("health_check timeout must not exceed its interval", at: node)
        }
        for key in ["healthy", "unhealthy"] {
            guard let node = fields[key], let value = count(node) else { continue }
            guard value >= 1 else { report("\(key) must be at least 1", at: node); continue }
            if key == "healthy" { policy.healthy = value } else { policy.unhealthy = value }
        }
        return policy
    }

    private func readRetries(_ node: Node, of what: String) -> RetryPolicy? {
        guard let fields = mapping(node, what: "retries of \(what)", allowed: ["attempts", "budget", "minimum_retries"]) else { return nil }
        var policy = RetryPolicy()
        if let node = fields["attempts"], let value = count(node) {
            if (1...5).contains(value) { policy.attempts = value } else { report("attempts must be 1 to 5 (tries in all)", at: node) }
        }
        if let node = fields["budget"], let value = number(node, upTo: 1) { policy.budget = value }
        if let node = fields["minimum_retries"], let value = count(node) { policy.minimumRetries = value }
        return policy
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
