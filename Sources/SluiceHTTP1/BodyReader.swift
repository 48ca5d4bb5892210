import SluiceHTTP
import SluiceIO

/// Streams one message body off a connection, whatever its framing, handing out slices of the
/// connection's buffer (no copy). Bytes after the body stay in the buffer for the next message.
public struct BodyReader {
    private enum State {
        case remaining(Int)
        case chunked
        case untilClose
        case finished
    }

    private var state: State
    private var decoder = ChunkedDecoder()
    /// Body bytes delivered so far (after de-chunking).
    public private(set) var bytesRead = 0
    /// Where decoded chunk data sits in the buffer, collected synchronously, delivered after.
    private var pieces: [(offset: Int, count: Int)] = []

    public init(framing: BodyFraming) {
        switch framing {
        case .none, .contentLength(0): state = .finished
        case .contentLength(let length): state = .remaining(length)
        case .chunked: state = .chunked
        case .untilClose: state = .untilClose
        }
    }

    /// Trailer fields of a chunked body, once it is finished (empty for other framings).
    public var trailers: HTTPHeaders { decoder.trailers }

    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Delivers the next available piece(s) of body to `deliver`, reading from the socket when the
    /// buffer holds none. Call until `isFinished`. The slices are valid only during `deliver`.
    public mutating func readNext(from connection: any ByteStream, buffer: ByteBuffer, deadline: Deadline?,
                                  deliver: (UnsafeRawBufferPointer) async throws -> Void) async throws {
        switch state {
        case .finished:
            return
        case .remaining(let remaining):
            if buffer.isEmpty { try await fill(connection, buffer, deadline) }
            if case .finished = state { return }
            let available = buffer.readableBytes
            let count = min(remaining, available.count)
            try await deliver(UnsafeRawBufferPointer(rebasing: available[0..<count]))
            buffer.consume(count)
            bytesRead += count
            state = remaining == count ? .finished : .remaining(remaining - count)
        case .untilClose:
            if buffer.isEmpty { try await fill(connection, buffer, deadline) }
            if case .finished = state { return }
            let available = buffer.readableBytes
            try await deliver(available)
            bytesRead += available.count
            buffer.consume(available.count)
        case .chunked:
            if buffer.isEmpty { try await fill(connection, buffer, deadline) }
            let available = buffer.readableBytes
            let base = available.baseAddress!
            pieces.removeAll(keepingCapacity: true)
            let (consumed, finished) = try decoder.decode(available) { slice in
                pieces.append((slice.baseAddress! - base, slice.count))
            }
            for piece in pieces {
                try await deliver(UnsafeRawBufferPointer(start: base + piece.offset, count: piece.count))
                bytesRead += piece.count
            }
            buffer.consume(consumed)
            if finished {
                state = .finished
            } else if pieces.isEmpty {
                // The decoder needs more bytes than the buffer holds (a split size line or CRLF).
                // Not after delivering pieces: the caller may be holding them to send together,
                // and waiting here for the backend's next bytes held them back (a chunk before a
                // pause reached the client only when the next one came).
                try await fill(connection, buffer, deadline)
            }
        }
    }

    private mutating func fill(_ connection: any ByteStream, _ buffer: ByteBuffer, _ deadline: Deadline?) async throws {
        let count = try await connection.read(into: buffer, deadline: deadline)
        if count == 0 {
            if case .untilClose = state {
                state = .finished
                return
            }
            throw UnexpectedEndOfStream(while: "reading a body")
        }
    }

    /// Reads and discards the rest of the body, up to `limit` bytes; returns false when the body
    /// is longer (the caller should then close the connection instead).
    public mutating func drain(from connection: any ByteStream, buffer: ByteBuffer, deadline: Deadline?, limit: Int) async throws -> Bool {
        let start = bytesRead
        while !isFinished {
            if bytesRead - start > limit { return false }
            try await readNext(from: connection, buffer: buffer, deadline: deadline) { _ in }
        }
        return true
    }
}
