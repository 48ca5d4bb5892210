import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of dedicated OS threads for work that must never run on an event loop (RSA
/// verification, large-body canonicalisation): a bulkhead. A loop hands work in and awaits the
/// result without blocking; the result is delivered back on that loop. When `queueLimit` jobs
/// already wait, `run` refuses at once (nil): the caller answers 503 instead of queueing without
/// bound, and a flood of expensive requests cannot grow memory or starve the loops. A job that
/// has not started within `queueTimeout` is dropped (nil, on the caller's loop at that time,
/// whatever the pool's threads are doing), so no request waits on a saturated pool longer than
/// that. Pools are separate: saturating one never slows another or a loop.
///
/// Making a pool starts nothing (a policy being compiled may still be rejected): its threads
/// start with `start()`, and end when it is shut down or released.
public final class WorkerPool: Sendable {
    public let name: String
    public let threads: Int
    public let queueLimit: Int
    /// Nil: a queued job waits for a thread however long it takes.
    public let queueTimeout: Duration?
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var stopping = false
        var waiting: Int { jobs.count - head }
    }
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let refused = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let expired = Atomic<Int>(0)
    private let started = Atomic<Bool>(false)

    public init(name: String, threads: Int, queueLimit: Int, queueTimeout: Duration? = nil) {
        self.name = name
        self.threads = max(threads, 1)
        self.queueLimit = max(queueLimit, 1)
        self.queueTimeout = queueTimeout
    }

    /// Starts the threads (once; later calls do nothing).
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for _ in 0..<threads { startThread() }
    }

    /// Runs `work` on a pool thread and returns its result on `loop` (the caller's); nil when the
    /// queue is full (nothing was run).
    public func run<Result: Sendable>(on loop: EventLoop, _ work: @escaping @Sendable () -> Result) async -> Result? {
        let accepted = state.withLock { state -> Bool in
            state.waiting < queueLimit && !state.stopping
        }
        guard accepted else {
            refused.wrappingAdd(1, ordering: .relaxed)
            return nil
        }
        // Who takes the job first: a pool thread (runs it) or the caller's queue-timeout timer
        // (drops it). Exactly one resumes the caller.
        let claim = JobClaim()
        var timer: TimerNode?
        let result = await suspendOnLoop { (continuation: UnsafeContinuation<Result?, Never>) in
            let job: @Sendable () -> Void = { [self] in
                guard claim.take() else { return }
                let result = work()
                self.completed.wrappingAdd(1, ordering: .relaxed)
                loop.execute { continuation.resume(returning: result) }
            }
            let queued = state.withLock { state -> Bool in
                guard state.waiting < queueLimit && !state.stopping else { return false }
                state.jobs.append(job)
                return true
            }
            guard queued else {
                refused.wrappingAdd(1, ordering: .relaxed)
                continuation.resume(returning: nil)
                return
            }
            if let queueTimeout {
                let node = TimerNode { [self] in
                    guard claim.take() else { return }
                    self.expired.wrappingAdd(1, ordering: .relaxed)
                    continuation.resume(returning: nil)
                }
                loop.schedule(node, at: loop.deadline(after: queueTimeout))
                timer = node
            }
            available.signal()
        }
        if let timer { loop.cancel(timer) }
        return result
    }

    /// Jobs refused because the queue was full, and jobs run: for metrics and tests.
    public var refusedCount: Int { refused.load(ordering: .relaxed) }
    public var completedCount: Int { completed.load(ordering: .relaxed) }
    /// Jobs dropped because no thread took them within the queue timeout.
    public var expiredCount: Int { expired.load(ordering: .relaxed) }
    public var waitingCount: Int { state.withLock { $0.waiting } }

    /// Lets the threads end once the queue is empty (no new work is accepted).
    public func shutdown() {
        state.withLock { $0.stopping = true }
        for _ in 0..<threads { available.signal() }
    }

    deinit {
        shutdown()
    }

    private func next() -> (@Sendable () -> Void)? {
        state.withLock { state -> (@Sendable () -> Void)? in
            guard state.head < state.jobs.count else { return nil }
            let job = state.jobs[state.head]
            state.head += 1
            if state.head > 1024 && state.head * 2 > state.jobs.count {
                state.jobs.removeFirst(state.head)
                state.head = 0
            }
            return job
        }
    }

    private func startThread() {
        // The thread holds the semaphore and the state through an unretained box of the pool's
        // parts, so the pool itself can be released (its deinit stops the threads).
        let worker = Worker(next: { [weak self] in self?.next() }, isStopping: { [weak self] in
            self?.state.withLock { $0.stopping && $0.waiting == 0 } ?? true
        }, available: available)
        let box = Unmanaged.passRetained(worker).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let worker = Unmanaged<Worker>.fromOpaque(argument!).takeRetainedValue()
            worker.run()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        pthread_detach(thread)
    }
}

/// Decides once who owns a queued job: the pool thread that starts it, or the timer that drops it.
private final class JobClaim: Sendable {
    private let taken = Atomic<Bool>(false)

    /// True for the first caller only.
    func take() -> Bool {
        !taken.exchange(true, ordering: .acquiringAndReleasing)
    }
}

/// One pool thread's loop: wait for a job, run it, until the pool stops.
private final class Worker: @unchecked Sendable {
    let next: () -> (@Sendable () -> Void)?
    let isStopping: () -> Bool
    let available: DispatchSemaphore

    init(next: @escaping () -> (@Sendable () -> Void)?, isStopping: @escaping () -> Bool, available: DispatchSemaphore) {
        self.next = next
        self.isStopping = isStopping
        self.available = available
    }

    func run() {
        while true {
            available.wait()
            if let job = next() {
                job()
            } else if isStopping() {
                return
            }
        }
    }
}
