/// What a downstream HTTP/2 connection may do: the SETTINGS Sluice advertises, and the abuse
/// limits that end a connection with GOAWAY(ENHANCE_YOUR_CALM) instead of letting it eat CPU.
///
/// The abuse limits are token buckets: `maxXPerWindow` tokens, refilled evenly over
/// `abuseWindow` (200 per 10 s = a burst of 200, then 20 a second sustained).
public struct HTTP2Settings: Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS. nghttp2 refuses streams beyond it (REFUSED_STREAM).
    public var maxConcurrentStreams: Int = 128
    /// SETTINGS_INITIAL_WINDOW_SIZE: the per-stream receive window (request bodies).
    public var initialWindowSize: Int = 65_535 * 4
    /// The connection-level receive window, opened with a WINDOW_UPDATE at start.
    public var connectionWindowSize: Int = 1 << 20
    /// SETTINGS_MAX_FRAME_SIZE we accept.
    public var maxFrameSize: Int = 16_384
    /// SETTINGS_MAX_HEADER_LIST_SIZE, enforced by Sluice (nghttp2 only advertises it): a request
    /// head larger than this (RFC 9113 size: name + value + 32 per field) gets a 431 reply.
    public var maxHeaderListSize: Int = 32 * 1024

    /// Length of the window the budgets below refill over.
    public var abuseWindow: Duration = .seconds(10)
    /// Streams reset before they completed: RST_STREAM from the client, and resets nghttp2 sends
    /// because of the client's own errors (malformed headers, refused streams: the
    /// "MadeYouReset" variant). Resets the application asks for do not count.
    /// 200 per 10 s: browsers cancel a handful of streams per page; CVE-2023-44487 floods run
    /// at thousands per second and are cut off after 200.
    public var maxResetsPerWindow: Int = 200
    /// PING, SETTINGS (not ACKs) and PRIORITY frames from the client. A client needs one
    /// SETTINGS and an occasional keep-alive PING; 500 per 10 s leaves room for chatty
    /// BDP-probing clients (gRPC) and stops a flood within 500 frames.
    public var maxControlFramesPerWindow: Int = 500
    /// DATA frames with no payload and no END_STREAM: they carry nothing and cost a frame's
    /// processing each (CVE-2019-9518). 100 per 10 s.
    public var maxEmptyDataFramesPerWindow: Int = 100
    /// PING ACKs, PRIORITY_UPDATE, frames of types this server does not know (which RFC 9113
    /// §5.5 says to ignore), and WINDOW_UPDATE frames beyond two per DATA frame sent (a client
    /// reading a download sends one per frame it reads, and those are free): frames that move no
    /// request forward. A flood of them ran at millions a second and, counted by nothing, kept a
    /// loop busy with one connection's input.
    public var maxInertFramesPerWindow: Int = 50_000
    /// nghttp2's outbound ACK queue (SETTINGS ACK + PING ACK) before it calls the peer a flooder:
    /// catches a client that sends PINGs but does not read its socket.
    public var maxControlFramesQueued: Int = 1_000
    /// SETTINGS entries per SETTINGS frame (nghttp2: more is a flood).
    public var maxSettingsEntries: Int = 32
    /// CONTINUATION frames after one HEADERS frame (CVE-2024-28182; nghttp2's default 8).
    /// With 16 KiB frames that is 144 KiB per header block at most, and the header list limit
    /// above still answers 431 to anything past 32 KiB of fields.
    public var maxContinuationFrames: Int = 8
    /// The stream-order and closed-stream checks in front of nghttp2 (`ClientFrameAudit`).
    public var streamChecks = true

    public init(maxConcurrentStreams: Int = 128, initialWindowSize: Int = 65_535 * 4,
                connectionWindowSize: Int = 1 << 20, maxFrameSize: Int = 16_384,
                maxHeaderListSize: Int = 32 * 1024) {
        self.maxConcurrentStreams = maxConcurrentStreams
        self.initialWindowSize = initialWindowSize
        self.connectionWindowSize = connectionWindowSize
        self.maxFrameSize = maxFrameSize
        self.maxHeaderListSize = maxHeaderListSize
    }
}
