import SluiceHTTP
/// How the mock backend behaves right now: its latency, its error rate and the switches that
/// make it misbehave. Set from command-line flags at start and from `POST /__control` at run
/// time, through the same `set(_:to:)` so both accept the same names and values:
///
///   latency        a `LatencyDistribution` (`fixed:5ms`, `lognormal:median=5ms,sigma=1`, ...)
///   error_rate     0...1, the share of business requests answered with `error_status`
///   error_status   500 by default
///   mode           normal | slow (every answer waits `slow` more) | fail (every answer is
///                  `fail_status`) | stop (the connection is reset at the first request that is
///                  not an admin `/__*` one, so the switch can still be turned back)
///   slow           extra wait in slow mode, a duration (default 1s)
///   fail_status    503 by default
///   notify_url     where payment notifications go (http://host:port/path); empty: none
///   notify_retries attempts after the first one failed (default 3)
///   notify_backoff first wait before a retry, doubled each time (default 200ms)
///   notify_copies  deliveries of each notification (default 1), one after the other, each
///                  signed afresh: what a provider does when its SUCCESS answers go missing
///   notify_signing_key  a PEM RSA private key: notifications are signed as WeChat Pay v3
///                  callbacks (Wechatpay-* headers) with it; empty: unsigned
///   notify_serial  the Wechatpay-Serial sent with signed notifications (default MOCK)
public struct BackendBehaviour: Equatable, Sendable {
    public enum Mode: String, Sendable, CaseIterable { case normal, slow, fail, stop }

    public var mode: Mode = .normal
    public var latency: LatencyDistribution = .none
    public var errorRate: Double = 0
    public var errorStatus = 500
    public var slowMs: Double = 1000
    public var failStatus = 503
    public var notifyURL = ""
    public var notifyRetries = 3
    public var notifyBackoffMs: Double = 200
    public var notifyCopies = 1
    public var notifySigningKey = ""
    public var notifySerial = "MOCK"

    public init() {}

    public static let settingNames = ["latency", "error_rate", "error_status", "mode", "slow", "fail_status",
                                      "notify_url", "notify_retries", "notify_backoff",
                                      "notify_copies", "notify_signing_key", "notify_serial"]

    public struct SettingError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public mutating func set(_ name: String, to value: String) throws(SettingError) {
        func fail(_ what: String) -> SettingError { SettingError(message: "\(name): '\(value)' is not \(what)") }
        switch name {
        case "latency":
            do { latency = try LatencyDistribution.parse(value) } catch { throw SettingError(message: error.description) }
        case "error_rate":
            guard let rate = Double(value), rate >= 0, rate <= 1 else { throw fail("a number between 0 and 1") }
            errorRate = rate
        case "error_status", "fail_status":
            guard let status = Int(value), (100...599).contains(status) else { throw fail("an HTTP status") }
            if name == "error_status" { errorStatus = status } else { failStatus = status }
        case "mode":
            guard let m = Mode(rawValue: value) else { throw fail("one of normal, slow, fail, stop") }
            mode = m
        case "slow", "notify_backoff":
            guard let ms = LatencyDistribution.milliseconds(value) else { throw fail("a duration (500ms, 2s)") }
            if name == "slow" { slowMs = ms } else { notifyBackoffMs = ms }
        case "notify_url":
            guard value.isEmpty || NotifyTarget(url: value) != nil else { throw fail("an http://HOST:PORT/PATH URL") }
            notifyURL = value
        case "notify_retries":
            guard let n = Int(value), n >= 0, n <= 20 else { throw fail("a count from 0 to 20") }
            notifyRetries = n
        case "notify_copies":
            guard let n = Int(value), n >= 1, n <= 100 else { throw fail("a count from 1 to 100") }
            notifyCopies = n
        case "notify_signing_key":
            notifySigningKey = value
        case "notify_serial":
            guard (1...64).contains(value.utf8.count), value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw fail("a serial of 1 to 64 visible ASCII characters")
            }
            notifySerial = value
        default:
            throw SettingError(message: "unknown setting '\(name)' (known: \(Self.settingNames.joined(separator: ", ")))")
        }
    }

    /// Applies a `POST /__control` body: a JSON object of settings. Nothing changes unless every
    /// setting in it is valid.
    public mutating func apply(control body: [UInt8]) throws(SettingError) {
        let value: JSONValue
        do { value = try MiniJSON.parse(body) } catch { throw SettingError(message: error.description) }
        guard case .object(let fields) = value else { throw SettingError(message: "expected a JSON object of settings") }
        var next = self
        for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
            let text: String
            switch field {
            case .string(let s): text = s
            case .number(let n): text = n
            case .bool(let b): text = b ? "true" : "false"
            default: throw SettingError(message: "\(name): expected a string or a number")
            }
            try next.set(name, to: text)
        }
        self = next
    }

    /// What to do with one business request.
    public enum Plan: Equatable, Sendable {
        /// Wait this long, then answer normally.
        case answer(delayMs: Double)
        /// Wait this long, then answer with this status (an injected error).
        case fail(status: Int, delayMs: Double)
        /// Close the connection without an answer.
        case drop
    }

    public func plan<G: RandomNumberGenerator>(using rng: inout G) -> Plan {
        switch mode {
        case .stop:
            return .drop
        case .fail:
            return .fail(status: failStatus, delayMs: latency.sample(using: &rng))
        case .normal, .slow:
            let delay = latency.sample(using: &rng) + (mode == .slow ? slowMs : 0)
            if errorRate > 0 && Double.random(in: 0..<1, using: &rng) < errorRate {
                return .fail(status: errorStatus, delayMs: delay)
            }
            return .answer(delayMs: delay)
        }
    }

    public var json: String {
        "{\"mode\":\"\(mode.rawValue)\",\"latency\":\"\(latency)\",\"error_rate\":\(errorRate),\"error_status\":\(errorStatus)," +
            "\"slow_ms\":\(slowMs),\"fail_status\":\(failStatus),\"notify_url\":\"\(jsonEscaped(notifyURL))\"," +
            "\"notify_retries\":\(notifyRetries),\"notify_backoff_ms\":\(notifyBackoffMs),\"notify_copies\":\(notifyCopies)," +
            "\"notify_signing_key\":\"\(jsonEscaped(notifySigningKey))\",\"notify_serial\":\"\(jsonEscaped(notifySerial))\"}"
    }
}

/// `http://HOST:PORT/PATH`, the only kind of notify URL the mock sends to (loopback benches).
public struct NotifyTarget: Equatable, Sendable {
    public let host: String
    public let port: Int
    public let path: String

    public init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]),
              (1...65535).contains(port), colon > authority.startIndex else { return nil }
        host = String(authority[..<colon])
        self.port = port
        self.path = path.isEmpty ? "/" : String(path)
    }
}
