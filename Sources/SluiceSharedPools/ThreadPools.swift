import SluiceGuards
import SluiceHTTP
import SluiceIO
import SluicePolicy
import Yams

/// A named pool of dedicated OS threads (a thread-pool bulkhead) for work that must not run on
/// an event loop: RSA verification, validating large bodies, anything CPU-heavy a guard does.
///
/// ```yaml
/// thread_pools:
///   - {name: rsa, threads: 2, queue: 1024, queue_timeout: 100ms}
///   - {name: large-bodies, threads: 1, queue: 64, queue_timeout: 50ms}
/// ```
///
/// Guards name a pool (`auth: {crypto_pool: rsa}`, a validation rule's `offload: {pool: ...}`).
/// A full queue, or a job that has not started within `queue_timeout`, is answered 503
/// `bulkhead_full` with Retry-After. Pools are isolated: saturating one never slows another or a
/// loop. A pool is kept across reloads while its settings are unchanged.
public struct ThreadPoolPolicy: Sendable, Hashable, NamedPolicy {
    public var name: String
    public var threads = 2
    public var queue = 256
    /// Nil: a queued job waits for a thread however long it takes.
    public var queueTimeout: Duration?

    public init(name: String) { self.name = name }
}

public enum SharedThreadPools {
    public static let sectionName = "thread_pools"

    /// The pools a policy declares, by name.
    public static func policies(in policy: PolicySnapshot) -> [String: ThreadPoolPolicy] {
        let pools = policy.guardPolicy(sectionName, as: [ThreadPoolPolicy].self) ?? []
        return Dictionary(pools.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The pool `name` of this policy generation (the running one while its settings are
    /// unchanged), not started: whoever uses it starts it on activation. Nil: no such pool.
    public static func pool(named name: String, in policy: PolicySnapshot, state: GuardStateStage) -> WorkerPool? {
        guard let settings = policies(in: policy)[name] else { return nil }
        return state.state(sectionName, "pool:" + name, configuration: settings) {
            WorkerPool(name: name, threads: settings.threads, queueLimit: settings.queue, queueTimeout: settings.queueTimeout)
        }
    }
}

extension WorkerPool {
    /// What a request gets when this pool cannot take its job (queue full, or not started in
    /// time): 503 `bulkhead_full`, retry in a second.
    public static func saturatedReply(_ what: String) -> LocalReply {
        var reply = LocalReply.json(status: 503, reason: "bulkhead_full", message: "\(what) is saturated; retry shortly")
        reply.headers.appendLowercased(name: "retry-after", value: "1")
        return reply
    }
}

/// Reads `thread_pools` (a list, in any file).
public struct ThreadPoolsPolicySection: GuardPolicySection {
    public let name = SharedThreadPools.sectionName
    public let topLevelKeys = ["thread_pools"]
    public let routeKeys: [String] = []

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        let pools = input.namedItems("thread_pools", kind: "thread pool") { reader, node in reader.readThreadPool(node) }.items
        return pools.isEmpty ? nil : pools
    }
}

extension PolicyFileReader {
    func readThreadPool(_ node: Node) -> Declared<ThreadPoolPolicy>? {
        guard let item = namedItem(node, kind: "thread pool", allowed: ["threads", "queue", "queue_timeout"]) else { return nil }
        var pool = ThreadPoolPolicy(name: item.name ?? "")
        if let node = item.fields["threads"], let value = count(node) {
            if (1...64).contains(value) { pool.threads = value } else { report("threads must be 1 to 64", at: node) }
        }
        if let node = item.fields["queue"], let value = count(node) {
            if value >= 1 { pool.queue = value } else { report("queue must be at least 1", at: node) }
        }
        if let node = item.fields["queue_timeout"], let value = duration(node) { pool.queueTimeout = value }
        return item.declared(pool)
    }
}
