/// Hands received bytes to nghttp2 so that no call ends inside a 9-byte frame header: a header
/// cut by a read is held back (at most 8 bytes) and passed on whole with the next read.
///
/// Why: nghttp2 1.52 as Debian ships it (with the backported limit on CONTINUATION frames,
/// CVE-2024-28182) counts a CONTINUATION each time a `nghttp2_session_mem_recv` call ends inside
/// its frame header, so a legitimate header block of a few CONTINUATIONs that arrives in small
/// reads (TCP segments cut anywhere, a slow link) was taken for a flood and the connection
/// ended with ENHANCE_YOUR_CALM (found by the sluice-fuzz-http2 target: the same bytes passed
/// whole, failed when a read ended inside a CONTINUATION's header). Cuts inside a payload are
/// harmless, so only headers are held back.
struct WholeFrameHeaders {
    private static let frameHeaderLength = 9

    /// Bytes of the connection preface (client magic) not yet passed: not a frame.
    private var prefaceRemaining: Int
    /// Payload bytes of the current frame not yet passed.
    private var payloadRemaining = 0
    /// The first bytes of a frame header cut by the end of the last read.
    private var heldBack: [UInt8] = []

    /// - Parameter prefaceLength: 24 on a server (the client sends its magic before frames),
    ///   0 on a client (the server starts with a SETTINGS frame).
    init(prefaceLength: Int) {
        prefaceRemaining = prefaceLength
    }

    /// Passes `bytes` (the next bytes read, in order) to `receive` in at most two calls, none
    /// ending inside a frame header. Stops at the first negative result of `receive` (an
    /// nghttp2 error) and returns it; 0 otherwise.
    mutating func pass(_ bytes: UnsafeRawBufferPointer, to receive: (UnsafeRawBufferPointer) -> Int) -> Int {
        var position = 0
        if !heldBack.isEmpty {
            let needed = Self.frameHeaderLength - heldBack.count
            guard bytes.count >= needed else {
                heldBack.append(contentsOf: bytes)
                return 0
            }
            heldBack.append(contentsOf: bytes[0 ..< needed])
            position = needed
            payloadRemaining = Self.payloadLength(of: heldBack)
            let result = heldBack.withUnsafeBytes { receive($0) }
            heldBack.removeAll(keepingCapacity: true)
            if result < 0 { return result }
        }
        let start = position
        var end = bytes.count
        if prefaceRemaining > 0 {
            let taken = min(prefaceRemaining, bytes.count - position)
            prefaceRemaining -= taken
            position += taken
        }
        while position < bytes.count {
            if payloadRemaining > 0 {
                let taken = min(payloadRemaining, bytes.count - position)
                payloadRemaining -= taken
                position += taken
            } else if bytes.count - position >= Self.frameHeaderLength {
                payloadRemaining = Self.payloadLength(of: UnsafeRawBufferPointer(rebasing: bytes[position...]))
                position += Self.frameHeaderLength
            } else {
                heldBack.append(contentsOf: bytes[position...])
                end = position
                break
            }
        }
        guard start < end else { return 0 }
        let result = receive(UnsafeRawBufferPointer(rebasing: bytes[start ..< end]))
        return min(result, 0)
    }

    private static func payloadLength<Bytes: Collection<UInt8>>(of header: Bytes) -> Int where Bytes.Index == Int {
        let base = header.startIndex
        return Int(header[base]) << 16 | Int(header[base + 1]) << 8 | Int(header[base + 2])
    }
}
