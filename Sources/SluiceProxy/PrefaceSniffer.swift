import SluiceIO

/// Tells HTTP/2 with prior knowledge (h2c) from HTTP/1.1 on a cleartext listener by the first
/// bytes a client sends: the fixed HTTP/2 connection preface (RFC 9113 §3.4).
enum PrefaceSniffer {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Reads until the bytes either match the whole preface or stop matching it; they stay in
    /// `buffer` for whichever protocol serves the connection. Throws at end of stream or timeout.
    static func startsWithHTTP2Preface(_ connection: any ByteStream, buffer: ByteBuffer, deadline: Deadline) async throws -> Bool {
        while true {
            let bytes = buffer.readableBytes
            let compared = min(bytes.count, preface.count)
            if !bytes.prefix(compared).elementsEqual(preface.prefix(compared)) { return false }
            if compared == preface.count { return true }
            if try await connection.read(into: buffer, deadline: deadline) == 0 {
                throw IOError(.closed, operation: "preface")
            }
        }
    }
}
