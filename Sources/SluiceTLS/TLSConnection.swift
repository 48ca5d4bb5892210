internal import COpenSSL
import SluiceIO
#if canImport(Glibc)
import Glibc
#endif

/// TLS over a non-blocking `TCPConnection`, as a `ByteStream`: OpenSSL reads and writes the
/// socket itself (SSL_set_fd); when it wants more bytes or socket space the task suspends on the
/// TCP connection's readiness, on the same loop. Loop thread only, like the TCP connection.
///
/// Costs per call: one SSL_read_ex / SSL_write_ex, no allocation. `write(head:body:)` coalesces
/// small head+body pairs into one TLS record through a per-connection scratch buffer.
public final class TLSConnection: ByteStream, @unchecked Sendable {
    public let tcp: TCPConnection
    private let ssl: OpaquePointer
    /// Keeps the SSL_CTX alive for as long as the SSL uses it.
    private let owner: AnyObject
    public private(set) var isClosed = false
    private var handshakeDone = false
    private var closeNotifySent = false
    private var scratch: UnsafeMutableRawPointer?
    private static let scratchCapacity = 16 * 1024

    /// Filled in when the handshake completes.
    public private(set) var negotiatedALPN: String?
    /// The SNI name the client sent (server side), or the one we sent (client side).
    public private(set) var serverName: String?
    /// The verified peer certificate's subject (RFC 2253, e.g. "CN=client-1,O=Acme"); on a
    /// server only with client verification, on a client the server's certificate.
    public private(set) var peerCertificateSubject: String?
    /// "TLSv1.2" or "TLSv1.3" after the handshake.
    public private(set) var protocolVersion = ""
    public private(set) var sessionReused = false
    public var peerHasHungUp: Bool { tcp.peerHasHungUp }
    /// Why `handshake` failed, when OpenSSL said (nil after a timeout or a local close).
    public private(set) var handshakeFailure: TLSHandshakeFailure?

    public var loop: EventLoop { tcp.loop }
    public var peer: SocketAddress? { tcp.peer }
    public var readPriority: ReadPriority {
        get { tcp.readPriority }
        set { tcp.readPriority = newValue }
    }

    private init(tcp: TCPConnection, ssl: OpaquePointer, owner: AnyObject) {
        self.tcp = tcp
        self.ssl = ssl
        self.owner = owner
    }

    /// Server side of an accepted connection; call `handshake(deadline:)` next.
    public convenience init(accepted tcp: TCPConnection, context: TLSServerContext) throws(TLSError) {
        guard let ssl = context.makeSSL() else { throw .fromQueue("cannot create an SSL connection") }
        guard SSL_set_fd(ssl, tcp.fd) == 1 else {
            SSL_free(ssl)
            throw .fromQueue("cannot attach the socket to TLS")
        }
        SSL_set_accept_state(ssl)
        self.init(tcp: tcp, ssl: ssl, owner: context)
    }

    /// Connects to `address` and completes the client handshake before `deadline`.
    public static func connect(to address: SocketAddress, on loop: EventLoop, context: TLSClientContext,
                               serverName: String?, deadline: Deadline?) async throws(IOError) -> TLSConnection {
        let tcp = try await TCPConnection.connect(to: address, on: loop, deadline: deadline)
        guard let ssl = context.makeSSL(serverName: serverName) else {
            tcp.close()
            throw IOError(.system(EPROTO), operation: "TLS connect: \(OpenSSLErrors.drain() ?? "no host name or IP address to check the certificate against ('\(serverName ?? "")')")")
        }
        guard SSL_set_fd(ssl, tcp.fd) == 1 else {
            SSL_free(ssl)
            tcp.close()
            throw IOError(.system(EPROTO), operation: "TLS connect: \(OpenSSLErrors.drain() ?? "SSL_set_fd failed")")
        }
        SSL_set_connect_state(ssl)
        let connection = TLSConnection(tcp: tcp, ssl: ssl, owner: context)
        do throws(IOError) {
            try await connection.handshake(deadline: deadline)
        } catch {
            connection.close()
            throw error
        }
        if connection.serverName == nil { connection.serverName = serverName }
        return connection
    }

    deinit {
        SSL_free(ssl)
        scratch?.deallocate()
    }

    /// Runs the handshake to completion, suspending while the socket is not ready. A failure
    /// (protocol error, refused version, missing client certificate) throws with OpenSSL's reason.
    public func handshake(deadline: Deadline?) async throws(IOError) {
        OpenSSLErrors.clear()
        while true {
            guard !isClosed else { throw IOError(.closed, operation: "TLS handshake") }
            let result = SSL_do_handshake(ssl)
            if result == 1 { break }
            let error = SSL_get_error(ssl, result)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: break
            case SSL_ERROR_SYSCALL, SSL_ERROR_ZERO_RETURN: handshakeFailure = .closed
            default: handshakeFailure = .classify(reason: ERR_GET_REASON(ERR_peek_error()))
            }
            try await wait(for: error, deadline: deadline, operation: "TLS handshake")
        }
        handshakeDone = true
        var alpn: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpn, &alpnLength)
        if let alpn, alpnLength > 0 {
            negotiatedALPN = String(decoding: UnsafeBufferPointer(start: alpn, count: Int(alpnLength)), as: UTF8.self)
        }
        if let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) { serverName = String(cString: name) }
        protocolVersion = String(cString: SSL_get_version(ssl))
        sessionReused = SSL_session_reused(ssl) == 1
        if let certificate = SSL_get0_peer_certificate(ssl), SSL_get_verify_result(ssl) == X509_V_OK {
            peerCertificateSubject = Self.subject(of: certificate)
        }
    }

    /// Suspends for what OpenSSL asked for, or throws for anything that is not a retry.
    /// `SSL_ERROR_ZERO_RETURN` (close_notify) is handled by the callers that can see EOF.
    private func wait(for error: Int32, deadline: Deadline?, operation: String) async throws(IOError) {
        switch error {
        case SSL_ERROR_WANT_READ:
            // OpenSSL's own read said EAGAIN: the socket is drained.
            try await tcp.waitReadableAfterWouldBlock(deadline: deadline, operation: operation)
        case SSL_ERROR_WANT_WRITE:
            try await tcp.waitWritable(deadline: deadline)
        case SSL_ERROR_SYSCALL:
            let code = errno
            OpenSSLErrors.clear()
            throw IOError(code == 0 ? .closed : .system(code), operation: operation)
        case SSL_ERROR_ZERO_RETURN:
            throw IOError(.closed, operation: operation)
        default:
            let reason = OpenSSLErrors.drain() ?? "TLS error \(error)"
            throw IOError(.system(EPROTO), operation: "\(operation): \(reason)")
        }
    }

    // MARK: ByteStream

    public func read(into buffer: ByteBuffer, deadline: Deadline?) async throws(IOError) -> Int {
        while true {
            guard !isClosed else { throw IOError(.closed, operation: "read") }
            let space = buffer.writableSpace(minimum: 4096)
            var count = 0
            let result = SSL_read_ex(ssl, space.baseAddress, space.count, &count)
            if result == 1 {
                buffer.commitWritten(count)
                return count
            }
            let error = SSL_get_error(ssl, result)
            if error == SSL_ERROR_ZERO_RETURN { return 0 }
            if error == SSL_ERROR_SYSCALL && errno == 0 {
                OpenSSLErrors.clear()
                return 0
            }
            try await wait(for: error, deadline: deadline, operation: "read")
        }
    }

    /// Bytes OpenSSL already holds wake at once; otherwise the socket's next bytes do (a part of
    /// a record included: the task that wakes reads on, as after any wait).
    public func whenReadable(deadline: Deadline, _ wake: @escaping (Bool) -> Void) {
        if isClosed { return wake(false) }
        if SSL_has_pending(ssl) == 1 { return wake(true) }
        tcp.whenReadable(deadline: deadline, wake)
    }

    /// Returns once a read would find application data (or the end, or an error, which the read
    /// then reports). OpenSSL reads the socket itself, so the socket's readiness alone says
    /// nothing: it stays "readable" after a request was read in full, and a keep-alive wait for
    /// the next request would return at once (then the header timeout, not the idle timeout,
    /// ended idle TLS connections). So it peeks: records that carry no application data (a
    /// session ticket, a key update) are processed and the wait goes on.
    public func waitReadable(deadline: Deadline?, operation: String) async throws(IOError) {
        while true {
            guard !isClosed else { throw IOError(.closed, operation: operation) }
            if SSL_has_pending(ssl) == 1 { return }
            var byte: UInt8 = 0
            var count = 0
            let result = SSL_peek_ex(ssl, &byte, 1, &count)
            if result == 1 { return }
            // End of stream or an error: the read that follows meets and reports it.
            guard SSL_get_error(ssl, result) == SSL_ERROR_WANT_READ else { return }
            try await tcp.waitReadableAfterWouldBlock(deadline: deadline, operation: operation)
        }
    }

    /// Application data OpenSSL holds or the socket brings; records without any (a late session
    /// ticket, a key update) are processed and do not count.
    public func hasUnreadInput() -> Bool {
        if isClosed || SSL_has_pending(ssl) == 1 { return true }
        guard tcp.hasUnreadInput() else { return false }
        var byte: UInt8 = 0
        var count = 0
        let result = SSL_peek_ex(ssl, &byte, 1, &count)
        if result == 1 { return true }
        guard SSL_get_error(ssl, result) == SSL_ERROR_WANT_READ else {
            OpenSSLErrors.clear()
            return true
        }
        tcp.noteDrained()
        return false
    }

    public func write(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError) {
        var offset = 0
        while offset < bytes.count {
            guard !isClosed else { throw IOError(.closed, operation: "write") }
            var written = 0
            let result = SSL_write_ex(ssl, bytes.baseAddress! + offset, bytes.count - offset, &written)
            if result == 1 {
                offset += written
            } else {
                try await wait(for: SSL_get_error(ssl, result), deadline: deadline, operation: "write")
            }
        }
    }

    /// The array is only touched inside synchronous calls (a retry may see it at a new address:
    /// SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
    public func write(_ bytes: [UInt8], deadline: Deadline?) async throws(IOError) {
        var offset = 0
        while offset < bytes.count {
            guard !isClosed else { throw IOError(.closed, operation: "write") }
            var written = 0
            let result = bytes.withUnsafeBytes { raw in
                SSL_write_ex(ssl, raw.baseAddress! + offset, raw.count - offset, &written)
            }
            if result == 1 {
                offset += written
            } else {
                try await wait(for: SSL_get_error(ssl, result), deadline: deadline, operation: "write")
            }
        }
    }

    /// The scratch buffer for coalesced writes (16 KiB) goes; OpenSSL's record buffers go by
    /// themselves (SSL_MODE_RELEASE_BUFFERS).
    public func releaseIdleBuffers() {
        scratch?.deallocate()
        scratch = nil
    }

    /// Head and the start of the body go out in one record (one syscall) through the scratch
    /// buffer; the rest of a large body follows directly.
    public func write(head: [UInt8], body: UnsafeRawBufferPointer, deadline: Deadline?) async throws(IOError) {
        let capacity = Self.scratchCapacity
        guard head.count < capacity else {
            try await write(head, deadline: deadline)
            try await write(body, deadline: deadline)
            return
        }
        let scratch = self.scratch ?? UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        self.scratch = scratch
        head.withUnsafeBytes { scratch.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let fromBody = min(body.count, capacity - head.count)
        if fromBody > 0 { (scratch + head.count).copyMemory(from: body.baseAddress!, byteCount: fromBody) }
        try await write(UnsafeRawBufferPointer(start: scratch, count: head.count + fromBody), deadline: deadline)
        if fromBody < body.count {
            try await write(UnsafeRawBufferPointer(rebasing: body[fromBody...]), deadline: deadline)
        }
    }

    /// Sends close_notify (best effort, never waits) and a FIN, while still reading.
    public func shutdownWrite() {
        guard !isClosed else { return }
        sendCloseNotify()
        tcp.shutdownWrite()
    }

    /// Without close_notify, and with an RST: the peer cannot take what it got for all of it.
    public func abort() {
        guard !isClosed else { return }
        isClosed = true
        tcp.abort()
    }

    /// Sends close_notify best-effort, then closes the socket. The SSL itself is freed with the
    /// object, so a task still suspended on this connection never touches freed memory.
    public func close() {
        guard !isClosed else { return }
        sendCloseNotify()
        isClosed = true
        tcp.close()
    }

    private func sendCloseNotify() {
        guard handshakeDone, !closeNotifySent else { return }
        closeNotifySent = true
        _ = SSL_shutdown(ssl)
        OpenSSLErrors.clear()
    }

    /// RFC 2253 form, e.g. "CN=client-1,O=Acme".
    static func subject(of certificate: OpaquePointer) -> String? {
        guard let name = X509_get_subject_name(certificate), let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, sluice_XN_FLAG_RFC2253) >= 0 else { return nil }
        var data: UnsafeMutablePointer<CChar>?
        let length = sluice_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}
