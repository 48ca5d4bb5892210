internal import COpenSSL

/// A TLS set-up failure (loading a certificate, building a context), with OpenSSL's own error
/// text when it gave one.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What Sluice was doing, e.g. "cannot load certificate chain certs/gateway.pem".
    public var message: String
    /// OpenSSL's error queue at the time, e.g. "error:0A00018F:SSL routines::ee key too small".
    public var openSSLError: String?

    public init(_ message: String, openSSLError: String? = nil) {
        self.message = message
        self.openSSLError = openSSLError
    }

    /// `message` plus whatever OpenSSL queued for this thread (the queue is emptied).
    static func fromQueue(_ message: String) -> TLSError {
        TLSError(message, openSSLError: OpenSSLErrors.drain())
    }

    public var description: String {
        openSSLError.map { "\(message): \($0)" } ?? message
    }
}

/// OpenSSL's per-thread error queue. Every error path empties it, so a stale entry can never
/// make a later `SSL_get_error` on the same loop thread misreport another connection.
enum OpenSSLErrors {
    static func drain() -> String? {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            parts.append(text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    static func clear() { ERR_clear_error() }
}
