import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A secret kept in a file of its own (never in the policy text): its bytes, without the final
/// line break an editor adds. Used by the policy readers (auth keys, the Redis password) and by
/// `sluice sign`, so all read a key file the same way.
public enum SecretFile {
    public static func read(_ path: String) -> [UInt8]? {
        try? readWithReason(path).get()
    }

    /// The secret, or why it could not be read (the system's words: "No such file or directory").
    public static func readWithReason(_ path: String) -> Result<[UInt8], FileBytes.Failure> {
        FileBytes.read(path).map { bytes in
            var secret = bytes
            while let last = secret.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { secret.removeLast() }
            return secret
        }
    }
}

/// A whole file, read with open(2) and read(2) to its end: pipes, `/dev/stdin` and `<(...)`
/// too, which FileManager's `contents(atPath:)` does not read (`sluice sign --body-file
/// /dev/stdin` said it cannot read the file). A failure says why.
public enum FileBytes {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// strerror's words for the errno.
        public let reason: String
        public var description: String { reason }
    }

    public static func read(_ path: String) -> Result<[UInt8], Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Failure(reason: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return .success(bytes) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(Failure(reason: String(cString: strerror(errno))))
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }
}
