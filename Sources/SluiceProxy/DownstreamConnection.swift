import SluiceIO
import SluiceHTTP2
import SluicePolicy

/// A served client connection, as the loop's drain sees it.
protocol DownstreamConnection: AnyObject {
    /// The listener that accepted it.
    var listenerName: String { get }
    /// Stop taking new requests: close now if idle, otherwise after the requests in flight
    /// (HTTP/2: a graceful GOAWAY). On shutdown, and when a reload changes what the
    /// connection was set up with (its listener's certificates or HTTP/2 settings).
    func drain()
}

/// How a run of a session's task ended.
enum SessionRunEnd {
    /// The connection is closed: the session is over.
    case closed
    /// Idle (no request in progress) for `IdleGaps.parkAfter`: the task ends here, its buffers
    /// are given back, and the caller waits for the next bytes without a task
    /// (`ByteStream.whenReadable`), then runs the session again in a fresh one.
    case parked
}

/// A session that can wait for its next request with no task (HTTP/1.1 and HTTP/2 both).
protocol ParkableSession: DownstreamConnection, Sendable {
    var connection: any ByteStream { get }
    /// When the connection closes if nothing arrives (the listener's idle timeout).
    var idleDeadline: Deadline { get }
    /// Runs until the connection closes or the session parks.
    func run() async -> SessionRunEnd
    /// The idle timeout passed while parked.
    func closeIdle()
}

/// When an idle session parks: after twice its recent gap between requests, at least 100 ms and
/// at most 1 s. The average weighs the latest gap a quarter; each gap counts up to 1 s.
///
/// A task keeps the allocator slabs its deepest await chain needed (a request through the
/// pipeline: ~24 KiB, measured with heaptrack) until it ends, so a keep-alive connection that
/// waits for its next request in the task that served the last one holds them all the while.
/// Parked, its task has ended and it waits with none (a callback on its socket), with its read
/// buffers given back; its next request starts a new task, whose stack is allocated again.
/// - Memory: what many connections hold at once sets the heap's high-water mark, and freed
///   memory between the pages that idle connections still use stays in RSS. Parking after 1 s
///   left 17 KiB per idle connection (bench idle-h1: 9,000 opened in a burst, each after one
///   request); after 100 ms, 3.2 KiB. A connection quiet after its request parks after 100 ms.
/// - CPU: a connection sending a request every 200 ms that parked in every gap cost ~12 µs more
///   per request (400 such connections, 5 requests/s each: ~70 against ~57 µs), mostly malloc
///   and free of the new task's stack. Its average gap makes it wait 400 ms, so after its first
///   gap it no longer parks.
struct IdleGaps {
    static let shortest: UInt64 = 100_000_000
    static let longest: UInt64 = 1_000_000_000
    private var average: UInt64 = 0

    /// A gap between the end of one request and the start of the next (nanoseconds).
    mutating func record(_ gap: UInt64) {
        let gap = min(gap, Self.longest)
        average = average == 0 ? gap : (average &* 3 &+ gap) / 4
    }

    /// How long to wait idle before parking.
    var parkAfter: UInt64 { min(max(2 &* average, Self.shortest), Self.longest) }
}

extension ByteStream {
    /// True once the stream is readable; false when `deadline` passed first (time to park).
    func waitReadable(orTimeOutAt deadline: Deadline) async throws(IOError) -> Bool {
        do {
            try await waitReadable(deadline: deadline, operation: "idle")
            return true
        } catch {
            if error.isTimeout { return false }
            throw error
        }
    }
}

extension HTTP2Settings {
    init(_ limits: HTTP2Limits) {
        self.init()
        maxConcurrentStreams = limits.maxConcurrentStreams
        maxHeaderListSize = limits.maxHeaderListBytes
        initialWindowSize = limits.initialWindowBytes
        streamChecks = limits.streamChecks
    }
}
