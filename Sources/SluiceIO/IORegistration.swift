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
    /// Set when epoll reports a hang-up or error: lets a pool drop an idle connection whose peer
    /// closed it, without a syscall.
    var peerHungUp = false
    /// False once a read found the socket drained; epoll's next readable edge sets it again (even
    /// when no task waits at that moment, so an edge is never lost).
    var readReady = true
    var writeWaiter: UnsafeContinuation<IOWaitResult, Never>?
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
        guard let waiter = readWaiter else { return }
        readWaiter = nil
        loop.timers.cancel(readTimer)
        waiter.resume(returning: result)
    }

    func resumeWrite(_ result: IOWaitResult) {
        guard let waiter = writeWaiter else { return }
        writeWaiter = nil
        loop.timers.cancel(writeTimer)
        waiter.resume(returning: result)
    }
}
