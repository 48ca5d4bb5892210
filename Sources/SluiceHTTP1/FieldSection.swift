import SluiceHTTP

/// The field lines of a complete head, parsed into `HTTPHeaders`, with the facts about the
/// fields that decide framing and connection reuse gathered from the bytes on the way
/// (Content-Length, Transfer-Encoding, Connection, Host, Expect).
struct FieldSection {
    enum Expectation { case none, continue100, unsupported }

    var headers = HTTPHeaders(reservingCapacity: 16)
    var contentLength: Int?
    /// Transfer-Encoding was present; the parser has already checked it is one `chunked`.
    var chunked = false
    var connectionClose = false
    var connectionKeepAlive = false
    var hostCount = 0
    var contentTypeCount = 0
    var expectation = Expectation.none

    /// Parses the field lines in `range`: each ends with CRLF (the scanner checked the line
    /// endings); the head's final empty line is not part of `range`.
    /// `repeated`: the connection's values from its previous head, reused where they repeat.
    init(_ bytes: HeadBytes, _ range: Range<Int>, repeated: inout RepeatedFieldValues) throws(HTTP1Error) {
        var lineStart = range.lowerBound
        var position = 0
        while lineStart < range.upperBound {
            let lineEnd = HeadScanner.find(ASCII.cr, in: bytes.bytes, lineStart..<range.upperBound) ?? range.upperBound
            try parseLine(bytes, lineStart..<lineEnd, position: position, repeated: &repeated)
            lineStart = lineEnd + 2
            position += 1
        }
    }

    private mutating func parseLine(_ bytes: HeadBytes, _ line: Range<Int>, position: Int,
                                    repeated: inout RepeatedFieldValues) throws(HTTP1Error) {
        if ASCII.isWhitespace(bytes[line.lowerBound]) { throw .obsFold }
        var colon = line.lowerBound
        while colon < line.upperBound, ASCII.isToken(bytes[colon]) { colon += 1 }
        guard colon < line.upperBound else { throw .invalidFieldName }
        let separator = bytes[colon]
        if separator != ASCII.colon {
            throw ASCII.isWhitespace(separator) ? .whitespaceBeforeColon : .invalidFieldName
        }
        if colon == line.lowerBound { throw .emptyFieldName }
        guard bytes.allFieldValueBytes(colon + 1..<line.upperBound) else { throw .invalidFieldValue }
        let name = line.lowerBound..<colon
        let value = bytes.trimmed(colon + 1..<line.upperBound)
        try observe(bytes, name: name, value: value)
        headers.appendLowercased(name: bytes.lowercasedString(name), value: repeated.string(bytes, value, position: position))
    }

    /// Records what a framing-relevant field says; other fields cost one length switch.
    private mutating func observe(_ bytes: HeadBytes, name: Range<Int>, value: Range<Int>) throws(HTTP1Error) {
        switch name.count {
        case 4 where bytes.equalsIgnoringCase(name, "host"):
            hostCount += 1
            if !ASCII.isHostValue(bytes, value) { throw .invalidHost }
        case 6 where bytes.equalsIgnoringCase(name, "expect"):
            try bytes.forEachListElement(value) { element throws(HTTP1Error) in
                if bytes.equalsIgnoringCase(element, "100-continue") {
                    if expectation == .none { expectation = .continue100 }
                } else {
                    expectation = .unsupported
                }
            }
        case 10 where bytes.equalsIgnoringCase(name, "connection"):
            try bytes.forEachListElement(value) { element throws(HTTP1Error) in
                if bytes.equalsIgnoringCase(element, "close") { connectionClose = true }
                if bytes.equalsIgnoringCase(element, "keep-alive") { connectionKeepAlive = true }
            }
        case 12 where bytes.equalsIgnoringCase(name, "content-type"):
            contentTypeCount += 1
        case 14 where bytes.equalsIgnoringCase(name, "content-length"):
            let length = try Self.contentLength(bytes, value)
            if let contentLength, contentLength != length { throw .conflictingContentLength }
            contentLength = length
        case 17 where bytes.equalsIgnoringCase(name, "transfer-encoding"):
            // Exactly one field holding exactly one coding, `chunked`: anything else is a
            // framing another hop may read differently.
            if chunked || !bytes.equalsIgnoringCase(value, "chunked") { throw .unsupportedTransferEncoding }
            chunked = true
        default:
            break
        }
    }

    /// `1*DIGIT`, or a comma list of equal `1*DIGIT` (RFC 9112 §6.3), without overflow.
    static func contentLength(_ bytes: HeadBytes, _ value: Range<Int>) throws(HTTP1Error) -> Int {
        var result: Int?
        var elementStart = value.lowerBound
        var index = value.lowerBound
        while index <= value.upperBound {
            if index == value.upperBound || bytes[index] == ASCII.comma {
                let element = bytes.trimmed(elementStart..<index)
                let number = try decimal(bytes, element)
                if let result, result != number { throw .conflictingContentLength }
                result = number
                elementStart = index + 1
            }
            index += 1
        }
        guard let result else { throw .invalidContentLength }
        return result
    }

    private static func decimal(_ bytes: HeadBytes, _ digits: Range<Int>) throws(HTTP1Error) -> Int {
        guard !digits.isEmpty else { throw .invalidContentLength }
        var number = 0
        for index in digits {
            let byte = bytes[index]
            guard ASCII.isDigit(byte) else { throw .invalidContentLength }
            let (times10, overflow1) = number.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte &- ASCII.zero))
            if overflow1 || overflow2 { throw .invalidContentLength }
            number = sum
        }
        return number
    }
}
