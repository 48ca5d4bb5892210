#if canImport(Glibc)
import Glibc
#endif
import SluiceDegrade
import SluiceHTTP
import SluiceHTTP1
import SluiceIO
import SluicePolicy

/// The policy's alert rules, checked every second on loop 0 (the rules of the running policy,
/// so a reload takes effect at the next check). When a condition starts or stops holding: one
/// log line (`sluice: alert <name> firing: …` / `resolved`) and, when the rule has a webhook, a
/// JSON POST to it (`{"alert","state","detail","time"}`), retried with a doubling pause, each
/// try within the webhook's timeout. A webhook that never answers costs the gateway nothing
/// but that task.
final class AlertEngine: @unchecked Sendable {
    private let view: ServerView
    private let loop: EventLoop
    /// Loop 0's state only.
    private var firing: [String: Bool] = [:]
    /// Per alert: how many state changes it had (the payload's `sequence`), whether a webhook
    /// delivery of it is running, and the newest message waiting for that one to end. One
    /// delivery at a time per alert, and a newer state ends an older one's retries: retries of
    /// a `firing` message arrived after the `resolved` one, and a receiver acting on the last
    /// message showed the breaker open for good.
    private var sequences: [String: Int] = [:]
    private var delivering: Set<String> = []
    private var waiting: [String: (AlertRule.Webhook, [UInt8], String)] = [:]
    private var samples: [(time: UInt64, total: Int, errors: Int)] = []

    init(view: ServerView, loop: EventLoop) {
        self.view = view
        self.loop = loop
    }

    func start() {
        loop.execute { [self] in
            loop.spawn { [self] in
                while true {
                    await loop.sleep(until: .after(.seconds(1)))
                    await check()
                }
            }
        }
    }

    private func check() async {
        guard let rules = view.store.configuration.policy.guardPolicy(AlertsPolicy.sectionName, as: AlertsPolicy.self)?.rules else { return }
        let needsRequests = rules.contains { if case .errorRate = $0.condition { return true } else { return false } }
        if needsRequests { await sample() }
        for rule in rules {
            let wasFiring = firing[rule.name] ?? false
            let (holds, detail) = await evaluate(rule.condition, firing: wasFiring)
            guard holds != wasFiring else { continue }
            firing[rule.name] = holds
            let state = holds ? "firing" : "resolved"
            printError("sluice: alert \(rule.name) \(state): \(detail)")
            if let webhook = rule.webhook { send(webhook, alert: rule.name, state: state, detail: detail) }
        }
    }

    private func evaluate(_ condition: AlertRule.Condition, firing: Bool) async -> (Bool, String) {
        switch condition {
        case .breakerOpen(let name):
            let state = view.breakers.first { $0.policy.name == name }?.state ?? "absent"
            // Half-open still counts: the alert resolves when the breaker closes, not at each
            // probe (a failed probe opens it again, and the alert would flap).
            return (state == "open" || state == "forced_open" || state == "half_open", "breaker \(name) is \(state)")
        case .degradeLevel(let wanted):
            let level = view.degrade?.level ?? .normal
            let threshold = DegradeLevel.allCases.first { $0.description == wanted } ?? .shed
            return (level >= threshold, "degradation level \(level)")
        case .errorRate(let share, let window, let minimum):
            let seconds = UInt64(window.components.seconds)
            guard let last = samples.last,
                  let first = samples.first(where: { last.time - $0.time <= seconds * 1_000_000_000 }) else { return (false, "no requests yet") }
            let total = last.total - first.total, errors = last.errors - first.errors
            let rate = total > 0 ? Double(errors) / Double(total) : 0
            let said = "\(errors) of \(total) answers were 5xx (\(Int((rate * 100).rounded()))%) in the last \(window)"
            guard total >= minimum else {
                // `min_requests` keeps a few answers from firing it; once firing, it resolves when
                // the 5xx stop, not when traffic drops (it did: a backend failing every request
                // at night, or one that clients gave up on, read as resolved).
                if firing && errors > 0 && rate > share { return (true, said + ", fewer than min_requests \(minimum)") }
                return (false, "\(total) requests in the window, fewer than \(minimum)")
            }
            return (rate > share, said)
        case .redisUnreachable:
            guard let redis = await view.redisConnections() else { return (false, "no redis in the policy") }
            // Down, or up but refused by its breaker (a frozen Redis keeps its connections).
            return (redis.answering == 0, "\(redis.answering) of \(redis.total) Redis connections answering (\(redis.up) up)")
        }
    }

    /// Totals and 5xx answers now, kept for an hour of windows.
    private func sample() async {
        var total = 0, errors = 0
        for routes in (await view.requestTotals()).values {
            for series in routes.values {
                total += series.byClass.reduce(0, +)
                errors += series.byClass[4]
            }
        }
        samples.append((loop.now, total, errors))
        if samples.count > 3700 { samples.removeFirst(samples.count - 3700) }
    }

    private func send(_ webhook: AlertRule.Webhook, alert: String, state: String, detail: String) {
        let sequence = sequences[alert, default: 0] + 1
        sequences[alert] = sequence
        let body = Array(("{\"alert\":\"\(jsonEscaped(alert))\",\"state\":\"\(state)\",\"detail\":\"\(jsonEscaped(detail))\","
                          + "\"time\":\(time(nil)),\"sequence\":\(sequence)}\n").utf8)
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "host", value: "\(webhook.host):\(webhook.port)")
        headers.appendLowercased(name: "content-type", value: "application/json")
        headers.appendLowercased(name: "content-length", value: String(body.count))
        headers.appendLowercased(name: "connection", value: "close")
        var request: [UInt8] = []
        HTTP1Serializer.appendRequestHead(HTTPRequestHead(method: "POST", target: webhook.path, version: .http1_1, headers: headers), to: &request)
        request.append(contentsOf: body)
        if delivering.contains(alert) {
            waiting[alert] = (webhook, request, state)
            return
        }
        deliver(webhook, request, alert: alert, state: state, sequence: sequence)
    }

    /// Sends one message (with its retries, while no newer state of the alert came), then the
    /// newest one that waited meanwhile. Loop 0, like the checks.
    private func deliver(_ webhook: AlertRule.Webhook, _ message: [UInt8], alert: String, state: String, sequence: Int) {
        delivering.insert(alert)
        loop.spawn { [self, loop] in
            defer {
                delivering.remove(alert)
                if let (webhook, next, nextState) = waiting.removeValue(forKey: alert) {
                    deliver(webhook, next, alert: alert, state: nextState, sequence: sequences[alert, default: 0])
                }
            }
            var pause = Duration.milliseconds(500)
            for attempt in 0...webhook.retries {
                if attempt > 0 {
                    await loop.sleep(until: .after(pause))
                    pause = pause * 2
                    // Superseded: the newer state goes instead of this one's retries.
                    guard waiting[alert] == nil else { return }
                }
                guard let address = SocketAddress(host: webhook.host, port: webhook.port) else { return }
                do {
                    let deadline = Deadline.after(webhook.timeout)
                    let connection = try await TCPConnection.connect(to: address, on: loop, deadline: deadline)
                    defer { connection.close() }
                    try await connection.write(message, deadline: deadline)
                    var parser = ResponseHeadParser()
                    let response = try await HeadReader.readResponse(from: connection, buffer: ByteBuffer(capacity: 1024), parser: &parser,
                                                                     requestMethod: "POST", deadline: deadline)
                    if (200..<300).contains(response.head.status) { return }
                } catch {
                    continue
                }
            }
            printError("sluice: alert \(alert): webhook http://\(webhook.host):\(webhook.port)\(webhook.path) did not take "
                       + "the \(state) message (\(webhook.retries + 1) tries)")
        }
    }
}
