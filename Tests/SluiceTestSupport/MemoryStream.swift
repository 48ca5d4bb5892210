import SluiceIO

/// One end of an in-memory byte stream pair on one event loop: what one end writes, the other
/// reads. No sockets, so the in-process pipeline tests run the proxy's real code paths against
/// a scripted upstream deterministically. Loop-confined, like the sockets it stands in for.
public final class MemoryStream: ByteStream, @unchecked Sendable {
    public let loop: EventLoop
    public var peer: SocketAddress? { SocketAddress(host: "127.0.0.1", port: 1) }
    private weak var other: MemoryStream?
    private var inbound: [UInt8] = []
    /// The other end will send nothing more (its shutdownWrite or close).
    private var inboundEnded = false
    public private(set) var isClosed = false
    public var peerHasHungUp: Bool { isClosed || inboundEnded }
    public var readPriority = ReadPriority.normal
    public func releaseIdleBuffers() {}
    public func hasUnreadInput() -> Bool { isClosed || inboundEnded || !inbound.isEmpty }
    private var reader: UnsafeContinuation<Void, Never>?

    private init(loop: EventLoop) { self.loop = loop }

    /// Two connected ends.
    public static func pair(on loop: EventLoop) -> (MemoryStream, MemoryStream) {
        let a = MemoryStream(loop: loop)
        let b = MemoryStream(loop: loop)
        a.other = b
        b.other = a
        return (a, b)
    }

    public func read(into buffer: ByteBuffer, deadline: Deadline?) async throws(IOError) -> Int {
        try await waitReadable(deadline: deadline, operation: "read")
        if isClosed { throw IOError(.closed, operation: "read") }
        if inbound.isEmpty { return 0 }
        let space = buffer.writableSpace(minimum: 1)
        let count = min(space.count, inbound.count)
        inbound.withUnsafeBytes { space.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        buffer.commitWritten(count)
        inbound.removeFirst(count)
        return count
    }

    /// A task of its own waits (a memory stream has no socket to register).
    public func whenReadable(deadline: Deadline, _ wake: @escaping (Bool) -> Void) {
        nonisolated(unsafe) let wake = wake
        loop.spawn { [self] in
            do {
                try await waitReadable(deadline: deadline, operation: "idle")
                wake(true)
            } catch {
                wake(false)
            }
        }
    }

    public func waitReadable(deadline: Deadline?, operation: String) async throws(IOError) {
        while inbound.isEmpty && !inboundEnded && !isClosed {
            var timedOut = false
            let timer = TimerNode { [unowned self] in
                timedOut = true
                self.wakeReader()
            }
            await withUnsafeContinuation { continuation in
                reader = continuation
                if let deadline { loop.schedule(timer, at: deadline) }
            }
            loop.cancel(timer)
            if timedOut { throw IOError(.timedOut, operation: operation) }
        }
    }

    public func write(_ bytes: [UInt8], deadline: Deadline?) async throws(IOError) {
        try deliver(bytes)
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError) {
        try deliver(Array(bytes))
    }

    public func write(head: [UInt8], body: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError) {
        try deliver(head + Array(body))
    }

    public func shutdownWrite() {
        other?.peerEnded()
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        other?.peerEnded()
        wakeReader()
    }

    private func deliver(_ bytes: [UInt8]) throws(IOError) {
        guard !isClosed, let other, !other.isClosed, !other.inboundEnded else { throw IOError(.closed, operation: "write") }
        other.inbound.append(contentsOf: bytes)
        other.wakeReader()
    }

    private func peerEnded() {
        inboundEnded = true
        wakeReader()
    }

    private func wakeReader() {
        if let waiter = reader {
            reader = nil
            waiter.resume()
        }
    }
}
