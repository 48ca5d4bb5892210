#if canImport(Glibc)
import Glibc
#endif

/// Diagnostics go to fd 2 directly (Swift 6 treats the C `stderr` global as unsafe to share).
public func printError(_ message: String) {
    var line = message
    if !line.hasSuffix("\n") { line += "\n" }
    line.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}

/// Status lines for operators and test harnesses (listening, draining): to stderr with the
/// diagnostics, so that stdout carries the JSON access log alone (a log shipper reading it took
/// `sluice: listening on ...` for a malformed record).
public func printStatus(_ message: String) {
    printError(message)
}
