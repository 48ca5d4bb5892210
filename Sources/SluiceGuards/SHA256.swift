internal import COpenSSL

/// SHA-256 fed piece by piece, as a plain value: no allocation, no provider lookup, and a state
/// that can be copied (an HMAC key keeps the states after its pads and copies them per message).
/// OpenSSL's low-level SHA-256 (see the shim for why not EVP): the same assembly, SHA-NI where
/// the CPU has it.
public struct SHA256Stream: Sendable {
    private var context = SHA256_CTX()

    public init() {
        sluice_SHA256_Init(&context)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        sluice_SHA256_Update(&context, base, bytes.count)
    }

    public mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        update(UnsafeRawBufferPointer(bytes))
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest; the stream is used up.
    public consuming func finish() -> SHA256Digest {
        var digest = SHA256Digest()
        withUnsafeMutableBytes(of: &digest.words) { out in
            _ = sluice_SHA256_Final(out.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
        }
        return digest
    }

    /// SHA-256 of `bytes` at once.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
        var stream = SHA256Stream()
        stream.update(bytes)
        return stream.finish()
    }
}

/// A SHA-256 digest or HMAC-SHA256 tag: 32 bytes held inline.
public struct SHA256Digest: Sendable {
    fileprivate var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}

    /// The first 32 bytes of `bytes`; nil when there are fewer.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 32 else { return nil }
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<32])) }
    }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var words = words
        return try Swift.withUnsafeBytes(of: &words, body)
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Lower-case hex, 64 characters.
    public var hex: String { withUnsafeBytes { Digests.hex($0) } }

    /// Equal in constant time (CRYPTO_memcmp): how a presented signature is compared.
    public func matches(_ other: SHA256Digest) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, 32) == 0 } }
    }
}
