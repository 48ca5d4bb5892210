internal import CSys
#if canImport(Glibc)
import Glibc
#endif

/// A failed socket or system call, with the errno and the call that failed.
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The system call failed with this errno.
        case system(Int32)
        /// A deadline passed before the operation could complete.
        case timedOut
        /// The socket was closed (locally) while an operation waited on it.
        case closed
        /// A limit of the gateway's own (a cluster's `max_connections`) left no room before the
        /// deadline: nothing was tried.
        case limitReached
    }

    public var kind: Kind
    public var operation: String

    public init(_ kind: Kind, operation: String) {
        self.kind = kind
        self.operation = operation
    }

    public var errnoValue: Int32? {
        if case .system(let code) = kind { return code }
        return nil
    }

    public var isTimeout: Bool { kind == .timedOut }
    public var isLimitReached: Bool { kind == .limitReached }

    /// This process is out of descriptors or buffer memory (EMFILE, ENFILE, ENOBUFS, ENOMEM):
    /// its own shortage, not the peer's fault.
    public var isLocalResourceShortage: Bool {
        guard let code = errnoValue else { return false }
        return code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }

    /// Connection refused, reset or unreachable: the peer is not there (as opposed to slow).
    public var isPeerGone: Bool {
        guard let code = errnoValue else { return false }
        return code == ECONNREFUSED || code == ECONNRESET || code == EPIPE || code == EHOSTUNREACH
            || code == ENETUNREACH || code == ECONNABORTED
    }

    public var description: String {
        switch kind {
        case .system(let code): return "\(operation): \(String(cString: strerror(code))) (errno \(code))"
        case .timedOut: return "\(operation): timed out"
        case .closed: return "\(operation): socket closed"
        case .limitReached: return "\(operation): limit reached"
        }
    }
}

/// The outcome of a non-blocking system call.
@usableFromInline
enum SyscallResult<Value> {
    case done(Value)
    case wouldBlock
}

/// Runs a non-blocking system call: EINTR is retried, EAGAIN becomes `.wouldBlock`, anything
/// else throws with the call's name.
@inline(__always)
@usableFromInline
func syscall<Value: BinaryInteger>(_ name: StaticString, _ body: () -> Value) throws(IOError) -> SyscallResult<Value> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let code = sluice_errno()
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw IOError(.system(code), operation: "\(name)")
    }
}

/// Runs a system call that must not fail with EAGAIN (setup calls): EINTR retried, failures thrown.
@inline(__always)
func checkedSyscall<Value: BinaryInteger>(_ name: StaticString, _ body: () -> Value) throws(IOError) -> Value {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = sluice_errno()
        if code == EINTR { continue }
        throw IOError(.system(code), operation: "\(name)")
    }
}
