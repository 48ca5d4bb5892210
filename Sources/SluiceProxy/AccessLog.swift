import SluiceIO
import SluiceHTTP
#if canImport(Glibc)
import Glibc
#endif

/// One finished request, as written to the access log.
struct AccessLogRecord {
    var requestID: String
    var listener: String
    var client: String
    var method: String
    var path: Substring
    var route: String?
    var status: Int
    var upstream: String?
    var reason: String?
    /// A backend failure's full reason (address, errno, OpenSSL's words), which the client is
    /// not told.
    var detail: String? = nil
    /// The merchant the auth guard verified, when it did.
    var merchant: String? = nil
    /// The W3C trace the request belongs to.
    var traceID: String? = nil
    var durationNanos: UInt64
    var bytesIn: Int
    var bytesOut: Int
}

/// A per-loop buffered JSON-lines writer: requests append to memory; the buffer goes out in one
/// write(2) when it passes a few KiB (kept under PIPE_BUF-ish sizes so loops sharing stdout do
/// not interleave mid-line) and on a short timer, so the hot path does no syscall per request.
final class AccessLogWriter {
    private let file: LogFile
    private var buffer: [UInt8] = []
    private let flushThreshold = 3584
    private let loop: EventLoop
    private var flushTimer: TimerNode?
    /// Lines kept while the file cannot be written (a full disk), per loop; beyond it the
    /// oldest are given up (and counted).
    static let maximumBacklog = 1 << 20

    init(file: LogFile, loop: EventLoop) {
        self.file = file
        self.loop = loop
        buffer.reserveCapacity(8192)
    }

    func append(_ record: AccessLogRecord) {
        var line = "{\"time\":\(wallClockMillis()),\"request_id\":\"\(record.requestID)\",\"listener\":\"\(record.listener)\""
        line += ",\"client\":\"\(record.client)\",\"method\":\"\(jsonSafe(record.method))\",\"path\":\"\(jsonSafe(String(record.path)))\""
        line += ",\"route\":" + (record.route.map { "\"\($0)\"" } ?? "null")
        line += ",\"status\":\(record.status)"
        line += ",\"upstream\":" + (record.upstream.map { "\"\($0)\"" } ?? "null")
        if let reason = record.reason { line += ",\"reason\":\"\(reason)\"" }
        if let detail = record.detail { line += ",\"detail\":\"\(jsonSafe(detail))\"" }
        if let merchant = record.merchant { line += ",\"merchant\":\"\(merchant)\"" }
        if let traceID = record.traceID { line += ",\"trace_id\":\"\(traceID)\"" }
        let micros = record.durationNanos / 1000
        line += ",\"duration_ms\":\(micros / 1000).\(threeDigits(micros % 1000))"
        line += ",\"bytes_in\":\(record.bytesIn),\"bytes_out\":\(record.bytesOut)}\n"
        appendLine(line)
    }

    /// One transaction-log line (the payment call's own facts, see `TransactionRecord`).
    func append(_ record: TransactionRecord) {
        appendLine(record.jsonLine(time: wallClockMillis()))
    }

    /// Buffers a finished line; it goes out with the next flush.
    private func appendLine(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        if buffer.count >= flushThreshold {
            flush()
        } else if flushTimer == nil || !(flushTimer!.isScheduled) {
            let timer = flushTimer ?? TimerNode { [unowned self] in self.flush() }
            flushTimer = timer
            loop.schedule(timer, at: Deadline.now.adding(.milliseconds(200)))
        }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        if buffer.withUnsafeBytes({ file.append($0) }) {
            buffer.removeAll(keepingCapacity: true)
            return
        }
        // Not written (a full disk): the lines stay for the next try, a second from now; a log
        // that cannot be written never stops the proxy, so past the bound the oldest go.
        if buffer.count > Self.maximumBacklog {
            var cut = buffer.count - Self.maximumBacklog
            while cut < buffer.count && buffer[cut - 1] != UInt8(ascii: "\n") { cut += 1 }
            file.noteDropped(buffer[..<cut].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) })
            buffer.removeFirst(cut)
        }
        let timer = flushTimer ?? TimerNode { [unowned self] in self.flush() }
        flushTimer = timer
        if !timer.isScheduled { loop.schedule(timer, at: Deadline.now.adding(.seconds(1))) }
    }

    private func wallClockMillis() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    private func threeDigits(_ value: UInt64) -> String {
        value < 10 ? "00\(value)" : value < 100 ? "0\(value)" : "\(value)"
    }

    private func jsonSafe(_ text: String) -> String {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x22 && $0 != 0x5c } ? text : jsonEscaped(text)
    }
}
