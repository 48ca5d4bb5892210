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

    /// - Parameters:
    ///   - allowLeadingCRLF: tolerate one empty line before the start line (requests).
    ///   - startLineLimit: the longest start line without its CRLF; longer throws 414.
    mutating func scan(_ bytes: UnsafeRawBufferPointer, limits: HTTP1Limits, allowLeadingCRLF: Bool,
                       startLineLimit: Int) throws(HTTP1Error) -> Head? {
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
            let byte = bytes[index]
            if byte == ASCII.lf {
                guard index > lineStart, bytes[index - 1] == ASCII.cr else { throw .bareLF }
                let contentEnd = index - 1
                if startLineEnd < 0 {
                    if contentEnd == lineStart { throw .badRequestLine }
                    startLineEnd = contentEnd
                } else if contentEnd == lineStart {
                    let head = Head(start: start, startLineEnd: startLineEnd, end: index + 1)
                    reset()
                    return head
                } else {
                    fieldLines += 1
                    if fieldLines > limits.maxHeaderCount { throw .tooManyHeaders }
                }
                lineStart = index + 1
            } else if byte == ASCII.cr {
                if index + 1 == count { break }  // look again when the next byte is here
                if bytes[index + 1] != ASCII.lf { throw .bareCR }
            } else if startLineEnd < 0, index - lineStart >= startLineLimit {
                throw .uriTooLong  // checked per byte, so that any split of the input fails alike
            }
            index += 1
        }
        scanned = index
        if count >= limits.maxHeaderBytes { throw .headerTooLarge }
        return nil
    }
}
