/// Redis Cluster's key → slot function: CRC16 (XMODEM: polynomial 0x1021, initial 0) of the key,
/// or of its hash tag, modulo 16384. The hash tag is what lies between the first `{` and the
/// first `}` after it, when that is not empty: keys that share a tag share a slot, which is how
/// a multi-key script keeps its keys on one node.
public enum RedisHashSlot {
    public static let count = 16384

    public static func of<Key: Collection<UInt8>>(_ key: Key) -> Int {
        Int(crc16(hashedPart(of: key)) & UInt16(count - 1))
    }

    public static func of(_ key: String) -> Int { of(key.utf8) }

    /// The bytes the slot is computed from: the non-empty hash tag, else the whole key.
    public static func hashedPart<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = key.index(after: open)
            if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                return key[afterOpen..<close]
            }
        }
        return key[...]
    }

    static func crc16<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
