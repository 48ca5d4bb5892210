import SluiceHTTP
import Yams

extension PolicyFileReader {
    /// The `server` mapping. Unset or unreadable fields keep their defaults: a snapshot is only
    /// built when nothing at all was reported.
    func readServer(_ node: Node) -> ServerSettings {
        var settings = ServerSettings()
        guard let fields = mapping(node, what: "server", allowed: ["workers", "access_log", "transaction_log", "metrics", "drain_timeout",
                                                                        "duplicate_slashes", "body_buffer_per_loop"]) else {
            return settings
        }
        if let node = fields["workers"], let workers = count(node) { settings.workers = workers }
        if let node = fields["access_log"], let target = accessLogTarget(node) { settings.accessLog = target }
        if let node = fields["transaction_log"], let target = accessLogTarget(node) { settings.transactionLog = target }
        if let node = fields["metrics"], let on = flag(node) { settings.metrics = on }
        if let node = fields["drain_timeout"], let timeout = duration(node) { settings.drainTimeout = timeout }
        if let node = fields["duplicate_slashes"], let choice = choice(node, "duplicate_slashes choice", as: PathNormalization.DuplicateSlashes.self) {
            settings.duplicateSlashes = choice
        }
        if let node = fields["body_buffer_per_loop"], let bytes = size(node) { settings.bodyBufferPerLoop = bytes }
        return settings
    }

    private func accessLogTarget(_ node: Node) -> AccessLogTarget? {
        parsed(node, expected: "stdout, off or a file path") { text in
            switch text {
            case "stdout": return .success(.stdout)
            case "off": return .success(.off)
            case "": return .failure(SyntaxProblem("expected stdout, off or a file path"))
            // YAML tools rewrite `off` as `false`: a log file named "false" is never meant.
            case "true", "false", "yes", "no", "on":
                return .failure(SyntaxProblem("access_log '\(text)' reads as a yes/no: write off to turn the log off, or a path such as ./\(text)"))
            default: return .success(.file(text))
            }
        }
    }
}
