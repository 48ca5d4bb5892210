import SluicePolicy
import SluiceHTTP
import SluiceRedis
import SluiceTLS
import Yams

extension PolicyFileReader {
    /// The `redis` mapping; nil when its nodes are missing or unreadable (already reported).
    func readRedis(_ node: Node) -> RedisSettings? {
        guard let fields = mapping(node, what: "redis",
                                   allowed: ["address", "cluster", "user", "password", "password_file", "tls", "database", "deadline",
                                            "breaker"]) else {
            return nil
        }
        // The other keys are checked even when the nodes are unusable, so one run reports all.
        let nodes = redisNodes(fields, at: node)
        var settings = RedisSettings(nodes: nodes ?? .single(EndpointAddress(host: "", port: 0)))
        if let node = fields["user"], let text = text(node, expected: "an ACL user name") {
            if text.isEmpty || text.contains(where: { $0 == " " || !$0.isASCII }) {
                report("user '\(text)' is not an ACL user name", at: node)
            } else {
                settings.user = text
            }
        }
        if let node = fields["password"] {
            // An empty password (`password: ""`) means no AUTH; `password:` with nothing is null.
            if node.isNull { settings.password = "" } else if let text = text(node, expected: "a password") { settings.password = text }
        }
        if let node = fields["password_file"], let path = filePath(node) {
            if fields["password"] != nil {
                report("redis has both 'password' and 'password_file': keep the file", at: node)
            } else if let secret = SecretFile.read(path), !secret.isEmpty {
                settings.password = String(decoding: secret, as: UTF8.self)
            } else {
                report("cannot read a password from '\(node.string ?? path)'", at: node)
            }
        }
        if let node = fields["tls"] { settings.tls = readRedisTLS(node) }
        if let userNode = fields["user"], settings.password.isEmpty, fields["password_file"] == nil {
            report("an ACL user needs a password (password_file)", at: userNode)
        }
        if let node = fields["database"], let value = count(node) {
            if value > 15 {
                report("database \(value) is out of range 0...15", at: node)
            } else if value != 0, settings.isCluster {
                report("a Redis Cluster has database 0 only", at: node)
            } else {
                settings.database = value
            }
        }
        if let node = fields["deadline"], let value = duration(node) { settings.deadline = value }
        if let node = fields["breaker"],
           let breaker = mapping(node, what: "breaker of redis", allowed: ["failures", "failing_for", "open_for"]) {
            if let node = breaker["failures"], let value = count(node) {
                if value == 0 { report("breaker failures must be at least 1", at: node) } else { settings.breakerFailures = value }
            }
            if let node = breaker["failing_for"], let value = duration(node) { settings.breakerFailingFor = value }
            if let node = breaker["open_for"], let value = duration(node) { settings.breakerOpenFor = value }
        }
        return nodes == nil ? nil : settings
    }

    /// `address` (one node) or `cluster` (seed nodes of a Redis Cluster): exactly one of them.
    private func redisNodes(_ fields: CheckedMapping, at section: Node) -> RedisSettings.Nodes? {
        switch (fields["address"], fields["cluster"]) {
        case (nil, nil):
            report("redis needs 'address' (one node) or 'cluster' (seed nodes of a Redis Cluster)", at: section)
            return nil
        case (.some, .some(let cluster)):
            report("redis has both 'address' and 'cluster': one node, or a cluster's seed nodes", at: cluster)
            return nil
        case (.some(let node), nil):
            return address(node, allowPortZero: false).map { .single($0) }
        case (nil, .some(let node)):
            guard let items = list(node, expected: "a list of seed addresses like [10.0.0.1:7000, 10.0.0.2:7000]") else { return nil }
            if items.isEmpty {
                report("cluster needs at least one seed address", at: node)
                return nil
            }
            var seeds: [EndpointAddress] = []
            for item in items {
                guard let seed = address(item, allowPortZero: false) else { return nil }
                if seeds.contains(seed) { report("seed \(seed) is listed twice", at: item) } else { seeds.append(seed) }
            }
            return .cluster(seeds: seeds)
        }
    }
}

extension PolicyFileReader {
    /// `tls: {ca, server_name, subject_cn_fallback, certificate, key}`: every node's certificate is verified (against
    /// `ca`, else the system's trust store) for `server_name`, else the address connected to.
    /// The files are loaded here, so `sluice check` reports a bad one.
    func readRedisTLS(_ node: Node) -> RedisTLSSettings? {
        guard let fields = mapping(node, what: "tls of redis", allowed: ["ca", "server_name", "subject_cn_fallback", "certificate", "key"]) else { return nil }
        var tls = RedisTLSSettings()
        if let node = fields["ca"], let path = filePath(node) { tls.certificateAuthorities = path }
        if let node = fields["subject_cn_fallback"], let value = flag(node) { tls.acceptsSubjectCommonName = value }
        if let node = fields["server_name"], let name = text(node, expected: "a host name") {
            if HostSyntax.isCertificateName(name) { tls.serverName = name } else {
                report("server_name '\(name)' is not a host name or IP address to check the certificate against", at: node)
            }
        }
        switch (fields["certificate"], fields["key"]) {
        case (nil, nil): break
        case (.some(let certificate), .some(let key)):
            if let chain = filePath(certificate), let privateKey = filePath(key) {
                tls.certificate = TLSCertificateFiles(certificateChain: chain, privateKey: privateKey)
            }
        case (.some(let lone), nil), (nil, .some(let lone)):
            report("a client certificate needs both 'certificate' and 'key'", at: lone)
            return nil
        }
        do throws(TLSError) {
            _ = try tls.makeContext()
        } catch {
            report("tls of redis: \(error)", at: node)
            return nil
        }
        return tls
    }
}
