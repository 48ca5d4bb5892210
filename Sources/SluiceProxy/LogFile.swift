import Synchronization
import SluiceIO
#if canImport(Glibc)
import Glibc
#endif

/// One log's file descriptor (the access log or the transaction log), shared by every loop's
/// writer: a batch of whole lines goes in whole or not at all.
///
/// A disk that fills made the kernel take part of a batch: records were lost without a word,
/// and the cut line was glued to the next one written once space came back (a transaction log
/// line no JSON reader could parse). Writes are serialised here, and a batch that cannot go
/// in whole is cut back off a regular file (`ftruncate` to the size before it); its writer
/// keeps the lines and tries again (`AccessLogWriter`). Failures and records given up are
/// counted (/metrics) and said once per episode on stderr.
public final class LogFile: Sendable {
    /// "access log" or "transaction log".
    public let name: String
    let fd: Int32
    private let state = Mutex(State())

    struct State {
        var failing = false
        var failures = 0
        var dropped = 0
        var droppedInEpisode = 0
    }

    /// `access` or `transaction`: the metrics' label.
    public var label: String { name.split(separator: " ").first.map(String.init) ?? name }

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Failed writes since start, and lines given up (a writer's backlog over its bound).
    public var failures: Int { state.withLock { $0.failures } }
    public var dropped: Int { state.withLock { $0.dropped } }

    /// Appends `bytes` (whole lines) in full; false when they could not go in (nothing of them
    /// stays in a regular file).
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        state.withLock { state in
            var offset = 0
            var failure: Int32 = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    failure = written < 0 ? errno : ENOSPC
                    break
                }
            }
            guard failure != 0 else {
                if state.failing {
                    state.failing = false
                    printError("sluice: \(name): written again"
                               + (state.droppedInEpisode > 0 ? " (\(state.droppedInEpisode) records given up meanwhile)" : " (no record lost)"))
                    state.droppedInEpisode = 0
                }
                return true
            }
            // What went in is cut back off the end (no other writer runs meanwhile: the lock).
            // Asked only now, so a batch that goes in costs no seek; -1 on a pipe: nothing to cut.
            if offset > 0 {
                let end = lseek(fd, 0, SEEK_END)
                if end >= offset { _ = ftruncate(fd, end - off_t(offset)) }
            }
            state.failures += 1
            if !state.failing {
                state.failing = true
                printError("sluice: \(name): cannot write (\(String(cString: strerror(failure)))): records are kept and tried "
                           + "again (up to \(AccessLogWriter.maximumBacklog / 1024) KiB per event loop)")
            }
            return false
        }
    }

    /// Lines a writer gave up (its backlog passed its bound while the file could not be written).
    func noteDropped(_ lines: Int) {
        guard lines > 0 else { return }
        state.withLock {
            $0.dropped += lines
            $0.droppedInEpisode += lines
        }
    }

    /// Points the descriptor at `path` afresh (SIGUSR1, after logrotate moved the file), between
    /// two batches. Nil on success, else why not (the old file is still written).
    public func reopen(_ path: String) -> String? {
        state.withLock { _ in
            let fresh = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fresh >= 0 else { return String(cString: strerror(errno)) }
            _ = dup2(fresh, fd)
            close(fresh)
            return nil
        }
    }
}
