/// A bidirectional byte stream on one event loop: a plain TCP connection, or TLS over one.
/// The HTTP codecs and the proxy read and write through this, so TLS slots in underneath them.
public protocol ByteStream: AnyObject, Sendable {
    var loop: EventLoop { get }
    var peer: SocketAddress? { get }
    var isClosed: Bool { get }
    /// The peer closed its side (or the connection failed): nothing more will come from it.
    var peerHasHungUp: Bool { get }
    /// The order in which the loop serves this stream's socket among others readable at once.
    var readPriority: ReadPriority { get set }

    /// Reads what is available into `buffer` (waiting if nothing is); 0 means end of stream.
    func read(into buffer: ByteBuffer, deadline: Deadline?) async throws(IOError) -> Int
    /// Returns once a read would not block (data, end of stream, or an error).
    func waitReadable(deadline: Deadline?, operation: String) async throws(IOError)
    /// Calls `wake` on the loop once a read may find bytes (true), or when `deadline` passes or
    /// the stream closes (false), with no task waiting meanwhile: how an idle keep-alive
    /// connection waits for its next request without keeping a task's stack. It may be called
    /// before this returns. `true` does not promise a whole request (or TLS record): the task
    /// it starts reads as usual.
    func whenReadable(deadline: Deadline, _ wake: @escaping (Bool) -> Void)
    func write(_ bytes: [UInt8], deadline: Deadline?) async throws(IOError)
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError)
    /// Writes a head and a body together (one writev for TCP, one TLS record batch for TLS).
    func write(head: [UInt8], body: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError)
    /// True when the stream holds input nobody has read: bytes (application data, for TLS) or
    /// the end of the stream. An idle keep-alive connection to a backend must hold none: bytes a
    /// backend sent after its framed response would be read as the next request's response.
    /// Costs no syscall while the socket is known drained (its last read came back short and no
    /// edge came since); otherwise one non-blocking peek.
    func hasUnreadInput() -> Bool
    /// Gives back buffers kept for speed while the stream is busy (an idle connection's):
    /// they are made again when needed.
    func releaseIdleBuffers()
    /// Sends end-of-stream (FIN, or close_notify for TLS) while still reading.
    func shutdownWrite()
    func close()
    /// Closes so that the peer sees an error, never a clean end (an RST, no close_notify): for
    /// a response cut off mid-body, which a client reading until close would take as whole.
    func abort()
}

extension ByteStream {
    public func abort() { close() }
}
