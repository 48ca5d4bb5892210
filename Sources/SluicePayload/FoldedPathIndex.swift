/// Field path -> position in a payload's field list, keyed by the case-folded path
/// (`String.duplicateFoldKey`), so that one table serves duplicate detection (exact or differing
/// only in case) and exact lookup (fold, then compare the exact name).
///
/// Why not `[String: Int]`: a payment body has about ten fields and is parsed once per request;
/// a Dictionary hashes every path with SipHash (twice: insert, then each guard's lookup) and
/// needs the folded path as a second String. Here the folded path is hashed on its bytes, as the
/// parser reads them, into a 64-bit value; the first few fields are found by a scan of those
/// values, and an open-addressing table is built only for larger bodies.
///
/// The hash is seeded per process, and a lookup compares the full 64-bit value before it compares
/// any string, so crafted colliding keys cost at most a scan of `PayloadLimits.maxFields` words.
struct FoldedPathIndex: Sendable {
    /// The folded-path hash of each field, in field order.
    private(set) var hashes: [UInt64] = []
    /// Open addressing over `hashes` (index + 1; 0 is empty); empty while the scan is cheaper.
    private var slots: [Int32] = []

    /// Bodies up to this many fields are looked up by scanning `hashes`.
    private static let scanLimit = 16

    init() { hashes.reserveCapacity(Self.scanLimit) }

    var count: Int { hashes.count }

    /// Calls `isMatch` with each position whose folded-path hash is `hash` until it returns true.
    func first(hash: UInt64, where isMatch: (Int) -> Bool) -> Int? {
        if slots.isEmpty {
            for k in hashes.indices where hashes[k] == hash && isMatch(k) { return k }
            return nil
        }
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] != 0 {
            let k = Int(slots[slot]) - 1
            if hashes[k] == hash && isMatch(k) { return k }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Records the next field's hash (its position is the current `count`).
    mutating func append(_ hash: UInt64) {
        hashes.append(hash)
        if slots.isEmpty {
            if hashes.count > Self.scanLimit { rebuild(capacity: 64) }
        } else if hashes.count * 2 > slots.count {
            rebuild(capacity: slots.count * 2)
        } else {
            place(hashes.count - 1)
        }
    }

    private mutating func rebuild(capacity: Int) {
        slots = [Int32](repeating: 0, count: capacity)
        for k in hashes.indices { place(k) }
    }

    private mutating func place(_ k: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hashes[k]) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(k + 1)
    }
}

/// The streaming hash of a case-folded field path: FNV-1a over the folded bytes from a per-process
/// seed, finished with a 64-bit mixer. Streaming, so the JSON parser extends a parent's state with
/// `.` and a key instead of hashing the whole path again.
struct FoldedPathHasher {
    private static let seed: UInt64 = UInt64.random(in: 1...UInt64.max)
    private(set) var state = FoldedPathHasher.seed

    init() {}

    /// Feeds bytes, folded as `String.duplicateFoldKey` folds them (ASCII letters lowered, U+212A
    /// to `k`, U+017F to `s`, U+0130 and U+0131 to `i`, `_` and `-` left out).
    @inline(__always)
    mutating func combine(folding bytes: UnsafeBufferPointer<UInt8>) {
        var k = 0
        let n = bytes.count
        while k < n {
            var b = bytes[k]
            if b &- 0x41 < 26 {
                b |= 0x20
            } else if b == 0xE2, k + 2 < n, bytes[k + 1] == 0x84, bytes[k + 2] == 0xAA {
                b = UInt8(ascii: "k")
                k += 2
            } else if b == 0xC5, k + 1 < n, bytes[k + 1] == 0xBF {
                b = UInt8(ascii: "s")
                k += 1
            } else if b == 0xC4, k + 1 < n, bytes[k + 1] == 0xB0 || bytes[k + 1] == 0xB1 {
                b = UInt8(ascii: "i")
                k += 1
            } else if b == 0x5F || b == 0x2D {
                k += 1
                continue
            }
            combine(b)
            k += 1
        }
    }

    @inline(__always)
    mutating func combine(_ byte: UInt8) {
        state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    /// The finished value (the state stays usable for extending the path).
    var value: UInt64 {
        var h = state
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    /// The hash of a whole path given as a String.
    static func hash(_ path: String) -> UInt64 {
        var hasher = FoldedPathHasher()
        if path.utf8.withContiguousStorageIfAvailable({ hasher.combine(folding: $0) }) == nil {
            Array(path.utf8).withUnsafeBufferPointer { hasher.combine(folding: $0) }
        }
        return hasher.value
    }
}

/// A field path prepared once for repeated lookups (a policy's rule or key names it):
/// `payload[key]` skips hashing the path on every request.
public struct PayloadPath: Sendable, Hashable, CustomStringConvertible {
    public let path: String
    let hash: UInt64
    /// The path's UTF-8 bytes, compared with a candidate field's path in place.
    let utf8: [UInt8]

    public init(_ path: String) {
        self.path = path
        hash = FoldedPathHasher.hash(path)
        utf8 = Array(path.utf8)
    }

    public static func == (lhs: PayloadPath, rhs: PayloadPath) -> Bool { lhs.path == rhs.path }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }

    public var description: String { path }
}
