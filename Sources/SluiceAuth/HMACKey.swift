internal import COpenSSL
import SluiceGuards

/// One HMAC-SHA256 key (RFC 2104), ready to sign many messages.
///
/// The SHA-256 states after the key's inner and outer pads are computed once; a message copies
/// them (112 bytes each) and hashes only itself and the inner digest: no allocation, no lock, no
/// per-loop context, so any thread may use a key at once. (The EVP_MAC context it replaces, reused
/// per loop, cost ~8.3k instructions and a malloc per tag under callgrind; this ~7k, nearly all of
/// it the three SHA-256 blocks, which valgrind runs without the CPU's SHA extensions.)
final class HMACKey: Sendable {
    private let inner: SHA256Stream
    private let outer: SHA256Stream

    init(secret: [UInt8]) {
        // A key longer than SHA-256's block is hashed first; a shorter one is zero-padded.
        var block = [UInt8](repeating: 0, count: 64)
        if secret.count > 64 {
            let digest = secret.withUnsafeBytes { SHA256Stream.digest($0) }
            block.replaceSubrange(0..<32, with: digest.bytes)
        } else {
            block.replaceSubrange(0..<secret.count, with: secret)
        }
        var inner = SHA256Stream()
        var outer = SHA256Stream()
        inner.update(block.map { $0 ^ 0x36 })
        outer.update(block.map { $0 ^ 0x5c })
        self.inner = inner
        self.outer = outer
    }

    /// The tag of the message that `write` feeds to the stream, in pieces as it likes.
    func authenticate(_ write: (inout SHA256Stream) -> Void) -> SHA256Digest {
        var stream = inner
        write(&stream)
        let innerDigest = stream.finish()
        var outerStream = outer
        innerDigest.withUnsafeBytes { outerStream.update($0) }
        return outerStream.finish()
    }

    func authenticate(_ message: [UInt8]) -> SHA256Digest {
        authenticate { $0.update(message) }
    }
}

/// Comparisons and randomness from OpenSSL (digests: `Digests`), so that none of them is hand-rolled.
enum Crypto {
    /// Equal in time that depends on the length only, never on where the bytes differ.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    /// Cryptographically random bytes (nonces for `sluice sign`).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        _ = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        return bytes
    }
}
