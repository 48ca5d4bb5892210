import SluicePolicy
import Yams

extension PolicyFileReader {
    /// The `redis` mapping; nil when its address is missing or unreadable (already reported).
    func readRedis(_ node: Node) -> RedisSettings? {
        guard let fields = mapping(node, what: "redis",
                                   allowed: ["address", "password", "database", "deadline", "breaker"]) else { return nil }
        // The other keys are checked even when the address is unusable, so one run reports all.
        let parsedAddress = required("address", in: fields, of: "redis").flatMap { self.address($0, allowPortZero: false) }
        var settings = RedisSettings(address: parsedAddress ?? EndpointAddress(host: "", port: 0))
        if let node = fields["password"] {
            // An empty password (`password: ""`) means no AUTH; `password:` with nothing is null.
            if node.isNull { settings.password = "" } else if let text = text(node, expected: "a password") { settings.password = text }
        }
        if let node = fields["database"], let value = count(node) {
            if value > 15 { report("database \(value) is out of range 0...15", at: node) } else { settings.database = value }
        }
        if let node = fields["deadline"], let value = duration(node) { settings.deadline = value }
        if let node = fields["breaker"],
           let breaker = mapping(node, what: "breaker of redis", allowed: ["failures", "open_for"]) {
            if let node = breaker["failures"], let value = count(node) {
                if value == 0 { report("breaker failures must be at least 1", at: node) } else { settings.breakerFailures = value }
            }
            if let node = breaker["open_for"], let value = duration(node) { settings.breakerOpenFor = value }
        }
        return parsedAddress == nil ? nil : settings
    }
}
