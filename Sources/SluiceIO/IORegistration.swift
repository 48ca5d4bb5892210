/// In which order a loop serves sockets that are readable at the same time. The proxy marks a
/// client connection `high` while its last request was on a core route and `low` while it was on
/// a non-core one, so that under pressure payments are read and answered before queries (the
/// reading and parsing of a request is work the loop does before it can know its route).
/// Everything else (upstream connections, new clients) is `normal`, served as `high` is.
public enum ReadPriority: Sendable {
    case high
    case normal
    case low
}

/// How a wait for readiness ended.
public enum IOWaitResult: Sendable {
    case ready
    case timedOut
    case closed
}

/// A file descriptor registered with a loop's epoll set (edge-triggered, read and write interest
/// registered once), and the tasks waiting on it. Only the owning loop's thread touches it.
final class IORegistration {
    let fd: Int32
    var readWaiter: UnsafeContinuation<IOWaitResult, Never>?
    /// Called instead of resuming a task when no task waits: an idle connection's wait for its
    /// next request (`ByteStream.whenReadable`) holds no task, and so no task's stack.
    var readCallback: ((IOWaitResult) -> Void)?
    /// Set when epoll reports a hang-up or error: lets a pool drop an idle connection whose peer
    /// closed it, without a syscall.
    var peerHungUp = false
    /// False once a read found the socket drained; epoll's next readable edge sets it again (even
    /// when no task waits at that moment, so an edge is never lost).
    var readReady = true
    var writeWaiter: UnsafeContinuation<IOWaitResult, Never>?
    /// Low: when the socket becomes readable, its waiting task resumes after the loop's other
    /// work of that pass, a few per pass (`EventLoop.resumeDeferredReads`).
    var readPriority = ReadPriority.normal
    /// True while the registration sits in the loop's deferred reads (so it is there once).
    var readDeferred = false
    /// Re-armed for every bounded wait; created once per registration.
    var readTimer: TimerNode!
    var writeTimer: TimerNode!

    init(fd: Int32) {
        self.fd = fd
        readTimer = TimerNode { [unowned self] in self.resumeRead(.timedOut) }
        writeTimer = TimerNode { [unowned self] in self.resumeWrite(.timedOut) }
    }

    /// Set by the loop so that resumes can disarm the timers.
    unowned(unsafe) var loop: EventLoop!

    func resumeRead(_ result: IOWaitResult) {
        if let waiter = readWaiter {
            readWaiter = nil
            loop.timers.cancel(readTimer)
            waiter.resume(returning: result)
        } else if let callback = readCallback {
            readCallback = nil
            loop.timers.cancel(readTimer)
            callback(result)
        }
    }

    func resumeWrite(_ result: IOWaitResult) {
        guard let waiter = writeWaiter else { return }
        writeWaiter = nil
        loop.timers.cancel(writeTimer)
        waiter.resume(returning: result)
    }
}
