import Foundation

/// A secret kept in a file of its own (never in the policy text): its bytes, without the final
/// line break an editor adds. Used by the policy readers (auth keys, the Redis password) and by
/// `sluice sign`, so all read a key file the same way.
public enum SecretFile {
    public static func read(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var secret = [UInt8](data)
        while let last = secret.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { secret.removeLast() }
        return secret
    }
}
