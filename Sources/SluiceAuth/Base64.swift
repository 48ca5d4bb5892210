import SluiceGuards

/// Standard base64 (RFC 4648 §4, with padding), strict on decode: a signature spelled two ways
/// must not verify two ways.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0f) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil unless `text` is canonical padded base64 (length a multiple of 4, padding only at the
    /// end, the bits the padding leaves unused zero).
    static func decode(_ text: Substring) -> [UInt8]? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { decode($0) }
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var valid = false
        let out = [UInt8](unsafeUninitializedCapacity: bytes.count / 4 * 3) { buffer, count in
            if let decoded = decode(bytes, into: buffer) { count = decoded; valid = true } else { count = 0 }
        }
        return valid ? out : nil
    }

    /// A canonical base64 of exactly 32 bytes (an HMAC-SHA256 tag), decoded without allocating.
    static func decodeDigest(_ bytes: UnsafeBufferPointer<UInt8>) -> SHA256Digest? {
        guard bytes.count == 44 else { return nil }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 33) { out in
            decode(bytes, into: out) == 32 ? SHA256Digest(UnsafeRawBufferPointer(out)) : nil
        }
    }

    /// Decodes into `out` (at least `bytes.count / 4 * 3` long): the number of bytes, or nil.
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count % 4 == 0, out.count >= bytes.count / 4 * 3 else { return nil }
        let equals = UInt8(ascii: "=")
        var padding = 0
        if bytes[bytes.count - 1] == equals { padding += 1 }
        if bytes[bytes.count - 2] == equals { padding += 1 }
        if padding == 1 && bytes[bytes.count - 2] == equals { return nil }
        return values.withUnsafeBufferPointer { values in  // once, not a lazy-global check per character
            var written = 0
            var index = 0
            while index < bytes.count {
                let last = index + 4 == bytes.count
                var group: UInt32 = 0
                for offset in 0..<4 {
                    group <<= 6
                    if last && offset >= 4 - padding { continue }
                    let value = values[Int(bytes[index + offset])]
                    guard value != 0xff else { return nil }
                    group |= UInt32(value)
                }
                // Canonical: what the padding leaves of the last character must be zero.
                if last && padding == 1 && group & 0xff != 0 { return nil }
                if last && padding == 2 && group & 0xffff != 0 { return nil }
                out[written] = UInt8(truncatingIfNeeded: group >> 16)
                out[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
                out[written + 2] = UInt8(truncatingIfNeeded: group)
                written += 3
                index += 4
            }
            return written - padding
        }
    }
}
