import SluiceHTTP

/// Process-wide settings: the `server` section, which at most one policy file may hold.
public struct ServerSettings: Sendable {
    /// Event-loop threads; 0 means one per core.
    public var workers: Int
    public var accessLog: AccessLogTarget
    /// One JSON line per call to a core (payment) route: merchant, order number, amount in fen,
    /// outcome, latency, request and trace ids. Off by default.
    public var transactionLog: AccessLogTarget = .off
    /// Count requests for /metrics (per loop, summed at scrape). On by default; off only to
    /// measure what counting costs.
    public var metrics = true
    /// How long a drain (SIGTERM, reload) waits for in-flight requests before closing.
    public var drainTimeout: Duration
    /// What an empty path segment (`/a//b`) means: merged away, or answered 400.
    public var duplicateSlashes: PathNormalization.DuplicateSlashes
    /// The most request-body bytes one event loop holds in memory for guards that read bodies;
    /// a request that would go over is answered 503 with Retry-After.
    public var bodyBufferPerLoop: Int

    public static let defaultWorkers = 0
    public static let defaultAccessLog = AccessLogTarget.stdout
    public static let defaultDrainTimeout = Duration.seconds(20)
    public static let defaultDuplicateSlashes = PathNormalization.DuplicateSlashes.merge
    public static let defaultBodyBufferPerLoop = 64 << 20

    public init(workers: Int = ServerSettings.defaultWorkers,
                accessLog: AccessLogTarget = ServerSettings.defaultAccessLog,
                drainTimeout: Duration = ServerSettings.defaultDrainTimeout,
                duplicateSlashes: PathNormalization.DuplicateSlashes = ServerSettings.defaultDuplicateSlashes,
                bodyBufferPerLoop: Int = ServerSettings.defaultBodyBufferPerLoop) {
        self.workers = workers
        self.accessLog = accessLog
        self.drainTimeout = drainTimeout
        self.duplicateSlashes = duplicateSlashes
        self.bodyBufferPerLoop = bodyBufferPerLoop
    }
}
