#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the end of a head in bytes that grow between calls, remembering how far it got, so
/// that repeated calls cost only the new bytes. On the way it enforces the line-ending rules
/// (CRLF only: no bare LF, no bare CR) and the size and count limits, so the parsers that run
/// once the head is complete can split lines on CR without further checks.
struct HeadScanner {
    struct Head {
        /// Where the start line begins (2 after a tolerated leading CRLF).
        var start: Int
        /// The index of the CR that ends the start line.
        var startLineEnd: Int
        /// One past the final CRLFCRLF.
        var end: Int
    }

    private var scanned = 0
    private var start = -1
    private var lineStart = 0
    private var startLineEnd = -1
    private var fieldLines = 0

    mutating func reset() { self = HeadScanner() }

    /// The start line without its CRLF, once it is complete (until the head is).
    var startLine: Range<Int>? { startLineEnd >= 0 ? start..<startLineEnd : nil }

    /// The index of the first `byte` in `range`, or nil.
    @inline(__always)
    static func find(_ byte: UInt8, in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, let base = bytes.baseAddress,
              let hit = memchr(base + range.lowerBound, Int32(byte), range.count) else { return nil }
        return UnsafeRawPointer(hit) - base
    }

    /// - Parameters:
    ///   - allowLeadingCRLF: tolerate one empty line before the start line (requests).
    ///   - startLineLimit: the longest start line without its CRLF; longer throws 414.
    ///   - pauseAfterStartLine: return nil as soon as the start line is complete, before any later
    ///     line is looked at (read it from `startLine`, then call again to go on), so that the
    ///     caller can check it first however the head is split, and before the rest arrives.
    // Not inlined: inlined into the async head readers, this loop crashes the 6.3.1 optimizer
    // (LLVM coroutine splitting, signal 11); one call per read costs nothing next to the scan.
    @inline(never)
    mutating func scan(_ bytes: UnsafeRawBufferPointer, limits: HTTP1Limits, allowLeadingCRLF: Bool, startLineLimit: Int,
                       pauseAfterStartLine: Bool = false) throws(HTTP1Error) -> Head? {
        let count = bytes.count
        if count < scanned { reset() }  // the caller started over with other bytes
        if start < 0 {
            if allowLeadingCRLF, count > 0, bytes[0] == ASCII.cr {
                guard count >= 2 else { return nil }
                guard bytes[1] == ASCII.lf else { throw .bareCR }
                start = 2
            } else if count > 0 || !allowLeadingCRLF {
                start = 0
            } else {
                return nil
            }
            scanned = start
            lineStart = start
        }

        let limit = min(count, limits.maxHeaderBytes)
        var index = scanned
        while index < limit {
            // memchr runs through the ordinary bytes many at a time; what follows checks the one
            // CR or LF it stops at exactly as a byte-by-byte scan would, so that any split of the
            // input fails with the same error.
            let cr = Self.find(ASCII.cr, in: bytes, index..<limit) ?? limit
            let special = Self.find(ASCII.lf, in: bytes, index..<cr) ?? cr
            if startLineEnd < 0, special - lineStart > startLineLimit { throw .uriTooLong }
            if special == limit {
                index = limit
                break
            }
            if special < cr { throw .bareLF }  // an LF before any CR of this line
            if cr + 1 == count {
                index = cr  // look again when the next byte is here
                break
            }
            if bytes[cr + 1] != ASCII.lf { throw .bareCR }
            if cr + 1 == limit {
                index = cr  // the LF lies beyond the size limit: 431 below
                break
            }
            if startLineEnd < 0 {
                if cr == lineStart { throw .badRequestLine }
                startLineEnd = cr
                if pauseAfterStartLine {
                    scanned = cr + 2
                    lineStart = cr + 2
                    return nil
                }
            } else if cr == lineStart {
                let head = Head(start: start, startLineEnd: startLineEnd, end: cr + 2)
                reset()
                return head
            } else {
                fieldLines += 1
                if fieldLines > limits.maxHeaderCount { throw .tooManyHeaders }
            }
            index = cr + 2
            lineStart = index
        }
        scanned = index
        if count >= limits.maxHeaderBytes { throw .headerTooLarge }
        return nil
    }
}
