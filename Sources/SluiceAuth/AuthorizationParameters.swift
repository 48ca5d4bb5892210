/// The `SCHEME name="value",name="value"` form that the merchant HMAC and WeChat Pay v3
/// Authorization headers share, read strictly on the header's bytes: the scheme, one space,
/// then exactly the expected parameters, each once, every value quoted; spaces around commas
/// allowed, nothing else.
enum AuthorizationParameters {
    /// The value ranges in `bytes` for `names`, in that order; nil when the header is not in
    /// this form, or lacks, repeats or adds a parameter.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, scheme: [UInt8], names: [[UInt8]]) -> [Range<Int>]? {
        let space = UInt8(ascii: " ")
        guard bytes.count > scheme.count + 1, bytes[scheme.count] == space else { return nil }
        for index in scheme.indices where bytes[index] != scheme[index] { return nil }
        var found = [Range<Int>?](repeating: nil, count: names.count)
        var i = scheme.count + 1
        while i < bytes.count {
            while i < bytes.count && bytes[i] == space { i += 1 }
            let nameStart = i
            while i < bytes.count && ((UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[i]) || bytes[i] == UInt8(ascii: "_")) { i += 1 }
            let name = UnsafeBufferPointer(rebasing: bytes[nameStart..<i])
            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "="), bytes[i + 1] == UInt8(ascii: "\"") else { return nil }
            i += 2
            let valueStart = i
            while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += 1 }
            guard i < bytes.count else { return nil }
            guard let slot = names.firstIndex(where: { $0.count == name.count && name.elementsEqual($0) }), found[slot] == nil else {
                return nil
            }
            found[slot] = valueStart..<i
            i += 1
            while i < bytes.count && bytes[i] == space { i += 1 }
            if i < bytes.count {
                guard bytes[i] == UInt8(ascii: ",") else { return nil }
                i += 1
            }
        }
        let ranges = found.compactMap { $0 }
        return ranges.count == names.count ? ranges : nil
    }

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
