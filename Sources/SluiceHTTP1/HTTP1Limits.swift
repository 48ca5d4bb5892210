/// Size and count limits the HTTP/1.1 head parsers enforce before any field is extracted.
public struct HTTP1Limits: Sendable {
    /// The whole head, from the first byte through the final CRLFCRLF. Beyond it: 431.
    public var maxHeaderBytes: Int = 32768
    /// The request target. A request line that cannot fit a target this long: 414.
    public var maxURIBytes: Int = 8192
    /// Field lines in one head. More: 431.
    public var maxHeaderCount: Int = 100

    public init(maxHeaderBytes: Int = 32768, maxURIBytes: Int = 8192, maxHeaderCount: Int = 100) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxURIBytes = maxURIBytes
        self.maxHeaderCount = maxHeaderCount
    }
}
