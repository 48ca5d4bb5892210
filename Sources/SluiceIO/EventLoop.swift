internal import CSys
import Synchronization
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One event loop: one thread, one epoll set, a timer heap and a run queue of task jobs.
///
/// The loop is the executor of the tasks that use its sockets: create them with
/// `Task(executorPreference: loop)` (see `EventLoop.spawn`), so a resumed continuation runs on
/// this thread without hopping through the global pool (measured: the hop costs 1.8x CPU).
/// Everything but `enqueue`, `execute` and `wake` must be called on the loop's own thread.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    public let index: Int
    private let epollFD: Int32
    private let wakeFD: Int32
    private var registrations: [IORegistration?] = []
    var timers = TimerQueue()
    private var runQueue: [UnownedJob] = []
    private var spareQueue: [UnownedJob] = []
    /// Low-priority sockets that became readable while a task waited on them, oldest first:
    /// their tasks resume a few per pass, after the work of the others (`resumeDeferredReads`).
    private var deferredReads: [IORegistration] = []
    private var deferredReadsHead = 0
    /// When a high-priority socket last became readable (the loop's clock).
    private var lastHighPriorityReadyAt: UInt64 = 0
    /// Jobs and closures handed over from other threads.
    private let inbox = Mutex<Inbox>(Inbox())
    /// The loop thread's pthread id (0 until it runs); read from any thread by isOnLoopThread.
    private let loopThread = Atomic<UInt>(0)
    private var joinHandle: pthread_t?
    private let stopping = Atomic<Bool>(false)
    /// The monotonic time read once per loop iteration.
    public private(set) var now: UInt64 = sluice_monotonic_nanos()

    struct Inbox {
        var jobs: [UnownedJob] = []
        var closures: [@Sendable () -> Void] = []
        /// True while the loop sleeps in epoll_wait (or is about to): only then is an eventfd
        /// write needed to wake it.
        var sleeping = false
    }

    public init(index: Int) throws(IOError) {
        self.index = index
        epollFD = try checkedSyscall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        wakeFD = try checkedSyscall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
        var event = epoll_event()
        event.events = sluice_EPOLLIN
        event.data.fd = wakeFD
        _ = try checkedSyscall("epoll_ctl") { epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) }
    }

    deinit {
        close(wakeFD)
        close(epollFD)
    }

    // MARK: - Executor

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if isOnLoopThread {
            runQueue.append(job)
        } else {
            let mustWake = inbox.withLock { inbox -> Bool in
                inbox.jobs.append(job)
                return inbox.sleeping
            }
            if mustWake { wake() }
        }
    }

    /// True on the loop's own thread.
    public var isOnLoopThread: Bool {
        let thread = loopThread.load(ordering: .acquiring)
        return thread != 0 && pthread_equal(pthread_self(), pthread_t(thread)) != 0
    }

    /// Runs `body` on the loop thread (soon, never inline). Safe from any thread.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        let mustWake = inbox.withLock { inbox -> Bool in
            inbox.closures.append(body)
            return inbox.sleeping || !isOnLoopThread
        }
        if mustWake { wake() }
    }

    /// Runs `body` on the loop thread and blocks the calling thread until it has run. For the
    /// control thread (shutdown, drain), never for a loop thread: it would wait for itself.
    public func executeAndWait(_ body: @escaping @Sendable () -> Void) {
        precondition(!isOnLoopThread, "executeAndWait from the loop's own thread would deadlock")
        let done = DispatchSemaphore(value: 0)
        execute {
            body()
            done.signal()
        }
        done.wait()
    }

    /// Starts a task whose executor is this loop.
    @discardableResult
    public func spawn(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task(executorPreference: self, operation: body)
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: - Registration

    func register(fd: Int32) throws(IOError) -> IORegistration {
        let registration = IORegistration(fd: fd)
        registration.loop = self
        let slot = Int(fd)
        if slot >= registrations.count {
            registrations.append(contentsOf: repeatElement(nil, count: slot - registrations.count + 1))
        }
        registrations[slot] = registration
        var event = epoll_event()
        event.events = sluice_EPOLLIN | sluice_EPOLLOUT | sluice_EPOLLRDHUP | sluice_EPOLLET
        event.data.fd = fd
        _ = try checkedSyscall("epoll_ctl") { epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) }
        return registration
    }

    /// Forgets the registration and wakes its waiters with `.closed`. The caller closes the fd.
    func deregister(_ registration: IORegistration) {
        let slot = Int(registration.fd)
        if slot < registrations.count, registrations[slot] === registration {
            registrations[slot] = nil
        }
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, registration.fd, &event)
        registration.resumeRead(.closed)
        registration.resumeWrite(.closed)
    }

    /// Suspends the current task until the fd is readable (or the deadline passes).
    @inline(__always)
    func waitReadable(_ registration: IORegistration, deadline: Deadline?) async -> IOWaitResult {
        await suspendOnLoop { continuation in
            registration.readWaiter = continuation
            if let deadline { timers.schedule(registration.readTimer, at: deadline.nanoseconds) }
        }
    }

    /// Calls `callback` once the fd is readable, the deadline passes or it is deregistered,
    /// with no task suspended meanwhile.
    func whenReadable(_ registration: IORegistration, deadline: Deadline, _ callback: @escaping (IOWaitResult) -> Void) {
        registration.readCallback = callback
        timers.schedule(registration.readTimer, at: deadline.nanoseconds)
    }

    func waitWritable(_ registration: IORegistration, deadline: Deadline?) async -> IOWaitResult {
        await suspendOnLoop { continuation in
            registration.writeWaiter = continuation
            if let deadline { timers.schedule(registration.writeTimer, at: deadline.nanoseconds) }
        }
    }

    // MARK: - Timers

    /// A deadline `duration` from the loop's clock, read once per iteration: cheaper than a
    /// clock_gettime per deadline, and at most one iteration stale. Loop thread only.
    public func deadline(after duration: Duration) -> Deadline {
        Deadline(nanoseconds: now).adding(duration)
    }

    /// The same with the duration already in nanoseconds: turning a `Duration` into nanoseconds
    /// divides a 128-bit number, so per-request callers convert their timeouts once.
    public func deadline(afterNanoseconds nanoseconds: UInt64) -> Deadline {
        Deadline(nanoseconds: now).adding(nanoseconds: nanoseconds)
    }

    /// Arms a timer node of the caller's (loop thread only).
    public func schedule(_ node: TimerNode, at deadline: Deadline) {
        timers.schedule(node, at: deadline.nanoseconds)
    }

    public func cancel(_ node: TimerNode) {
        timers.cancel(node)
    }

    /// Suspends the current task until the deadline (loop thread only).
    public func sleep(until deadline: Deadline) async {
        await suspendOnLoop { (continuation: UnsafeContinuation<Void, Never>) in
            let node = TimerNode { continuation.resume() }
            timers.schedule(node, at: deadline.nanoseconds)
        }
    }

    // MARK: - Running

    /// Starts the loop on a new thread.
    public func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let loop = Unmanaged<EventLoop>.fromOpaque(argument!).takeRetainedValue()
            loop.run()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        joinHandle = thread
    }

    /// Asks the loop to stop after its current iteration. Safe from any thread.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wake()
    }

    /// Waits for the loop thread to end (after `stop`).
    public func join() {
        guard let joinHandle else { return }
        pthread_join(joinHandle, nil)
    }

    private func run() {
        // Until this store, other threads' jobs go through the inbox, which is also correct.
        loopThread.store(UInt(pthread_self()), ordering: .releasing)
        let maxEvents: Int32 = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(maxEvents))
        defer { events.deallocate() }

        while !stopping.load(ordering: .acquiring) {
            drainInbox()
            resumeDeferredReads()
            runJobs()

            let timeout: Int32
            if !runQueue.isEmpty || deferredReadsHead < deferredReads.count {
                timeout = 0
            } else {
                let willSleep = inbox.withLock { inbox -> Bool in
                    if inbox.jobs.isEmpty && inbox.closures.isEmpty {
                        inbox.sleeping = true
                        return true
                    }
                    return false
                }
                // Work came in from another thread or a yielding task (`yieldToOtherWork`): poll
                // without waiting rather than go round at once, so that a task that yields
                // every pass cannot keep the sockets' events from being read.
                timeout = willSleep ? millisecondsUntilNextTimer() : 0
            }
            let count = epoll_wait(epollFD, events, maxEvents, timeout)
            inbox.withLock { $0.sleeping = false }
            now = sluice_monotonic_nanos()
            if count > 0 {
                for i in 0..<Int(count) {
                    dispatch(events[i])
                }
            }
            fireTimers()
        }
    }

    private func millisecondsUntilNextTimer() -> Int32 {
        guard let next = timers.nextDeadline else { return -1 }
        let current = sluice_monotonic_nanos()
        if next <= current { return 0 }
        // Round up so we never wake before the deadline and spin.
        let millis = (next - current + 999_999) / 1_000_000
        return Int32(min(millis, UInt64(Int32.max)))
    }

    private func dispatch(_ event: epoll_event) {
        let fd = event.data.fd
        if fd == wakeFD {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            return
        }
        let slot = Int(fd)
        guard slot < registrations.count, let registration = registrations[slot] else { return }
        let flags = event.events
        let failed = flags & (sluice_EPOLLERR | sluice_EPOLLHUP) != 0
        if failed || flags & sluice_EPOLLRDHUP != 0 { registration.peerHungUp = true }
        if failed || flags & (sluice_EPOLLIN | sluice_EPOLLRDHUP) != 0 {
            registration.readReady = true
            if registration.readPriority == .high { lastHighPriorityReadyAt = now }
            if registration.readPriority == .low && registration.readWaiter != nil && !failed {
                if !registration.readDeferred {
                    registration.readDeferred = true
                    deferredReads.append(registration)
                }
            } else {
                registration.resumeRead(.ready)
            }
        }
        if failed || flags & sluice_EPOLLOUT != 0 {
            registration.resumeWrite(.ready)
        }
    }

    private func fireTimers() {
        let current = sluice_monotonic_nanos()
        while let node = timers.popFirstExpired(now: current) {
            node.action()
        }
    }

    /// The next few deferred low-priority reads: their jobs queue behind those of this pass's
    /// other events. While high-priority sockets are active (one became readable in the last
    /// 100 ms) only 4 per pass, so that a payment arriving meanwhile waits behind at most ~4
    /// queries (well under a millisecond) before epoll is polled again; otherwise 64, to spend
    /// few polls where there is nothing to put first. A registration whose wait ended meanwhile
    /// (timeout, close) is skipped: resuming it again does nothing.
    private func resumeDeferredReads() {
        guard deferredReadsHead < deferredReads.count else { return }
        let perPass = now &- lastHighPriorityReadyAt < 100_000_000 ? 4 : 64
        let end = min(deferredReadsHead + perPass, deferredReads.count)
        for index in deferredReadsHead..<end {
            let registration = deferredReads[index]
            registration.readDeferred = false
            registration.resumeRead(.ready)
        }
        deferredReadsHead = end
        if deferredReadsHead == deferredReads.count {
            deferredReads.removeAll(keepingCapacity: true)
            deferredReadsHead = 0
        } else if deferredReadsHead >= 1024 && deferredReadsHead * 2 >= deferredReads.count {
            deferredReads.removeFirst(deferredReadsHead)
            deferredReadsHead = 0
        }
    }

    private func drainInbox() {
        let (jobs, closures) = inbox.withLock { inbox -> ([UnownedJob], [@Sendable () -> Void]) in
            if inbox.jobs.isEmpty && inbox.closures.isEmpty { return ([], []) }
            defer {
                inbox.jobs.removeAll(keepingCapacity: true)
                inbox.closures.removeAll(keepingCapacity: true)
            }
            return (inbox.jobs, inbox.closures)
        }
        runQueue.append(contentsOf: jobs)
        for closure in closures { closure() }
    }

    private func runJobs() {
        // Run the jobs queued so far; jobs they enqueue run in the next pass, after epoll has been
        // polled, so a busy connection cannot starve the others.
        guard !runQueue.isEmpty else { return }
        swap(&runQueue, &spareQueue)
        let executor = asUnownedTaskExecutor()
        for job in spareQueue {
            job.runSynchronously(on: executor)
        }
        spareQueue.removeAll(keepingCapacity: true)
    }
}
