import Glibc

/// The `SCHEME name="value",name="value"` form that the merchant HMAC and WeChat Pay v3
/// Authorization headers share, read strictly on the header's bytes: the scheme, one space,
/// then exactly the expected parameters, each once, every value quoted; spaces around commas
/// allowed, nothing else.
enum AuthorizationParameters {
    /// The value ranges in `bytes` for `names`, in that order; nil when the header is not in
    /// this form, or lacks, repeats or adds a parameter.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, scheme: [UInt8], names: [[UInt8]]) -> [Range<Int>]? {
        var valid = false
        let ranges = [Range<Int>](unsafeUninitializedCapacity: names.count) { buffer, count in
            valid = parse(bytes, scheme: scheme, names: names, into: buffer)
            count = valid ? names.count : 0
        }
        return valid ? ranges : nil
    }

    /// The same into `found` (`names.count` long), without allocating: false when not in this form.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, scheme: [UInt8], names: [[UInt8]],
                      into found: UnsafeMutableBufferPointer<Range<Int>>) -> Bool {
        let space = UInt8(ascii: " ")
        guard bytes.count > scheme.count + 1, bytes[scheme.count] == space, found.count == names.count,
              startsWithScheme(bytes, scheme) else { return false }
        let absent = -1..<(-1)
        found.initialize(repeating: absent)
        var i = scheme.count + 1
        while i < bytes.count {
            while i < bytes.count && bytes[i] == space { i += 1 }
            let nameStart = i
            while i < bytes.count && (bytes[i] &- UInt8(ascii: "a") < 26 || bytes[i] == UInt8(ascii: "_")) { i += 1 }
            let name = bytes[nameStart..<i]
            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "="), bytes[i + 1] == UInt8(ascii: "\"") else { return false }
            i += 2
            let valueStart = i
            guard let base = bytes.baseAddress, i < bytes.count,
                  let quote = memchr(base + i, Int32(UInt8(ascii: "\"")), bytes.count - i) else { return false }
            i = base.distance(to: quote.assumingMemoryBound(to: UInt8.self))
            var slot = 0
            while slot < names.count && !(names[slot].count == name.count && names[slot].withUnsafeBufferPointer({ $0.elementsEqual(name) })) {
                slot += 1
            }
            guard slot < names.count, found[slot] == absent else { return false }
            found[slot] = valueStart..<i
            i += 1
            while i < bytes.count && bytes[i] == space { i += 1 }
            if i < bytes.count {
                guard bytes[i] == UInt8(ascii: ",") else { return false }
                i += 1
            }
        }
        return !found.contains(absent)
    }

    /// Whether `header` starts with `scheme` (the bytes, without a copy of the header).
    static func hasScheme(_ header: String, _ scheme: [UInt8]) -> Bool {
        var header = header
        return header.withUTF8 { startsWithScheme($0, scheme) }
    }

    /// The auth-scheme is case-insensitive (RFC 9110 §11.1): `mch-hmac-sha256` is
    /// `MCH-HMAC-SHA256`. (Schemes are letters, digits and `-`, so folding bit 0x20 of letters
    /// is enough.)
    private static func startsWithScheme(_ bytes: UnsafeBufferPointer<UInt8>, _ scheme: [UInt8]) -> Bool {
        guard bytes.count >= scheme.count else { return false }
        for index in scheme.indices {
            let (byte, expected) = (bytes[index], scheme[index])
            guard byte == expected || (isLetter(expected) && byte | 0x20 == expected | 0x20) else { return false }
        }
        return true
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) &- UInt8(ascii: "a") < 26 }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return false
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// A decimal number of 1 to 12 digits (Unix seconds).
    static func seconds(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
        guard (1...12).contains(range.count), bytes[range].allSatisfy(isDigit) else { return nil }
        return bytes[range].reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    }

    static func text(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }
}
