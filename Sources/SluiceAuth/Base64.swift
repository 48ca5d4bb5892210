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
        guard !bytes.isEmpty, bytes.count % 4 == 0 else { return nil }
        let equals = UInt8(ascii: "=")
        var padding = 0
        if bytes[bytes.count - 1] == equals { padding += 1 }
        if bytes[bytes.count - 2] == equals { padding += 1 }
        if padding == 1 && bytes[bytes.count - 2] == equals { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4 * 3)
        let values = Self.values  // once, not a lazy-global check per character
        var index = 0
        while index < bytes.count {
            let last = index + 4 == bytes.count
            var group: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
            for offset in 0..<4 {
                let byte = bytes[index + offset]
                if last && offset >= 4 - padding { continue }
                let value = values[Int(byte)]
                guard value != 0xff else { return nil }
                switch offset {
                case 0: group.0 = value
                case 1: group.1 = value
                case 2: group.2 = value
                default: group.3 = value
                }
            }
            if last {
                // Canonical: what the padding leaves of the last character must be zero.
                if padding == 1 && group.2 & 0x03 != 0 { return nil }
                if padding == 2 && group.1 & 0x0f != 0 { return nil }
            }
            out.append(group.0 << 2 | group.1 >> 4)
            out.append((group.1 & 0x0f) << 4 | group.2 >> 2)
            out.append((group.2 & 0x03) << 6 | group.3)
            index += 4
        }
        out.removeLast(padding)
        return out
    }
}
