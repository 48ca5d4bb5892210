import SluiceHTTP

/// `HTTP-version SP 3DIGIT SP reason-phrase`. The reason may be empty, and the SP before an
/// empty reason may be missing (`HTTP/1.1 200`): servers in the wild send both.
struct StatusLine {
    var version: HTTPVersion
    var status: Int
    var reason: String

    init(_ bytes: HeadBytes, _ line: Range<Int>) throws(HTTP1Error) {
        let start = line.lowerBound
        guard line.count >= 12, bytes[start + 8] == ASCII.space else { throw .badStatusLine }
        version = try RequestLine.version(bytes, start..<start + 8)
        var status = 0
        for index in start + 9..<start + 12 {
            let byte = bytes[index]
            guard ASCII.isDigit(byte) else { throw .badStatusLine }
            status = status * 10 + Int(byte &- ASCII.zero)
        }
        guard status >= 100, status <= 599 else { throw .badStatusLine }
        self.status = status
        guard line.count > 12 else {
            reason = ""
            return
        }
        guard bytes[start + 12] == ASCII.space else { throw .badStatusLine }
        let reasonRange = start + 13..<line.upperBound
        for index in reasonRange where !ASCII.isFieldValueByte(bytes[index]) { throw .badStatusLine }
        reason = bytes.string(reasonRange)
    }
}
