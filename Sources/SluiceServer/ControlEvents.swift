internal import CSys
#if canImport(Glibc)
import Glibc
#endif

/// What the control thread (the main thread) reacts to: signals through a signalfd, and changes
/// to the policy directory through inotify. Signals are blocked before any thread exists, so no
/// handler runs on a loop thread and no EINTR races exist (see the field notes, rule 6).
final class ControlEvents {
    enum Event: Equatable {
        case reload
        case drain
        case stop
        case policyChanged
        /// SIGUSR1: reopen the log files (after logrotate moved them away).
        case reopenLogs
        /// A signal we take so that its default action (ending the process mid-request) does not.
        case ignored(String)
    }

    private let signalFD: Int32
    private let inotifyFD: Int32
    private static let handledSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2]

    /// Call before any other thread is created.
    static func blockSignals() {
        _ = sluice_ignore_sigpipe()
        handledSignals.withUnsafeBufferPointer { _ = sluice_block_signals($0.baseAddress, Int32($0.count)) }
    }

    init(watching directory: String) {
        signalFD = Self.handledSignals.withUnsafeBufferPointer { sluice_signalfd($0.baseAddress, Int32($0.count)) }
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if inotifyFD >= 0 {
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)
            _ = inotify_add_watch(inotifyFD, directory, mask)
        }
    }

    deinit {
        close(signalFD)
        if inotifyFD >= 0 { close(inotifyFD) }
    }

    /// Waits up to `timeoutMillis` (-1 = forever) for the next event; nil on timeout.
    func next(timeoutMillis: Int32) -> Event? {
        var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, nfds_t(inotifyFD >= 0 ? 2 : 1), timeoutMillis)
        guard ready > 0 else { return nil }
        if fds[0].revents != 0 {
            var info = signalfd_siginfo()
            if read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                switch Int32(info.ssi_signo) {
                case SIGHUP: return .reload
                case SIGTERM: return .drain
                case SIGINT: return .stop
                case SIGUSR1: return .reopenLogs
                case SIGUSR2: return .ignored("SIGUSR2")
                default: return nil
                }
            }
        }
        if inotifyFD >= 0 && fds[1].revents != 0 {
            var scratch = [UInt8](repeating: 0, count: 4096)
            while read(inotifyFD, &scratch, scratch.count) > 0 {}
            return .policyChanged
        }
        return nil
    }
}
