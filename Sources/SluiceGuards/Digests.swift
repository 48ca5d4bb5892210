/// The digests guards share (auth's body hash, idempotency's request fingerprint), from OpenSSL
/// so that none is hand-rolled.
public enum Digests {
    /// SHA-256 as lower-case hex.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        SHA256Stream.digest(bytes).hex
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { sha256Hex($0) }
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { hex($0) }
    }

    /// Lower-case hex of `bytes`, written into the string's own storage.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = hexDigits[Int(byte >> 4)]
                out[2 * index + 1] = hexDigits[Int(byte & 15)]
            }
            return bytes.count * 2
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// SHA-256 of nothing: the hash of every empty body.
    public static let emptySHA256Hex = sha256Hex([])
}
