import SluiceIO
import SluiceResilience

/// One pipelined Redis connection owned by one event loop, to one node. Callers go through
/// `RedisClient`: one of these for a single Redis, one per primary for a cluster (then MOVED and
/// ASK replies go to the cluster client instead of the caller).
///
/// Design: Sluice's own `TCPConnection` (or a `TLSConnection` over it) does the I/O, hiredis's
/// `redisReader` parses replies and commands are pre-formatted RESP. Compared with hiredis's async
/// context plus an adapter this keeps one readiness mechanism (the loop's epoll), puts deadlines
/// on the loop's timer heap (hiredis 0.14 has no timer hook), and needs no C callbacks or
/// privdata juggling.
///
/// Calls are written in loop-tick batches (the writer task runs after the tick's request jobs)
/// and replies are matched in FIFO order. A call whose deadline passes resolves `.timedOut` at
/// once; its late reply is still consumed in order and dropped. While not connected, calls fail at
/// once (the rate-limit rule's fallback decides), and a reconnect with backoff runs in the
/// background. A breaker (the shared `BreakerMachine`, configured for consecutive failures)
/// stops asking a Redis that keeps failing.
public final class RedisConnection: @unchecked Sendable {
    public let loop: EventLoop
    public let configuration: RedisClientConfiguration
    /// `configuration.deadline` in nanoseconds: the time a call has unless it says otherwise.
    private let configuredTimeout: UInt64
    private let connector: RedisConnector
    private let address: SocketAddress?

    private enum State { case idle, connecting, connected(RedisTransport), closed }
    private var state: State = .idle
    /// Bumped on every (re)connection: tasks of an older connection stop when they see a new one.
    private var epoch = 0
    private var pending: [RedisCall] = []
    private var pendingHead = 0
    private var outgoing: [UInt8] = []
    /// The calls whose bytes are in `outgoing`: their deadlines start again when it is written.
    private var unflushed: [RedisCall] = []
    /// Set when the deadline timer found replies waiting unread and gave the reader a pass.
    private var expiryDeferred = false
    /// The writer is in a write (a Redis that does not read can hold it there).
    private var writing = false
    private var writerWaiter: UnsafeContinuation<Void, Never>?
    private var backoff: Duration
    private var reconnectTimer: TimerNode?
    /// The data canary's token as this client last saw it (`RedisDataCanary`).
    private var canarySeen: [UInt8]?
    /// Armed for the earliest deadline among the calls in flight (see `expireCalls`): one timer
    /// per connection instead of one per call.
    private var deadlineTimer: TimerNode!
    public private(set) var breaker: BreakerMachine

    /// Counters, for tests and a later metrics endpoint (loop thread).
    public private(set) var connects = 0
    public private(set) var scriptReloads = 0
    public private(set) var callsSent = 0
    /// Replies received (any reply, errors included) and the time they took in all, from the
    /// loop tick that queued the call to the one that read its reply. Loop thread only.
    public private(set) var repliesReceived = 0
    public private(set) var replyNanosecondsTotal: UInt64 = 0

    var counts: RedisCallCounts {
        RedisCallCounts(callsSent: callsSent, replies: repliesReceived, replyNanoseconds: replyNanosecondsTotal, scriptReloads: scriptReloads)
    }

    init(loop: EventLoop, connector: RedisConnector) {
        self.loop = loop
        self.connector = connector
        let configuration = connector.configuration
        self.configuration = configuration
        configuredTimeout = configuration.deadline.nanosecondsClamped
        address = SocketAddress(host: configuration.host, port: configuration.port)
        backoff = configuration.reconnectMinimum
        breaker = BreakerMachine(policy: .consecutiveFailures(configuration.breakerFailures, failingFor: configuration.breakerFailingFor,
                                                              openFor: configuration.breakerOpenFor))
        deadlineTimer = TimerNode { [unowned self] in self.expireCalls() }
    }

    public var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    /// Starts connecting (loop thread). Later losses reconnect by themselves.
    public func start() {
        guard case .idle = state else { return }
        connect()
    }

    /// Closes for good (loop thread): pending calls fail, no reconnect.
    public func close() {
        if let reconnectTimer { loop.cancel(reconnectTimer) }
        loop.cancel(deadlineTimer)
        if case .connected(let connection) = state { connection.close() }
        state = .closed
        epoch += 1
        failAll(.unavailable("closed"))
        wakeWriter()
    }

    // MARK: - Calls

    /// Queues `call.command` (after an `ASKING` when `call.asking`). A call redirected here from
    /// another node keeps the deadline it was given when first queued.
    func enqueue(_ call: RedisCall) {
        // While connecting, calls queue behind the handshake (their deadlines still hold);
        // while backing off after a failure they fail at once.
        switch state {
        case .connected, .connecting: break
        case .idle, .closed:
            _ = breaker.record(.failure, epoch: breaker.epoch, now: loop.now)
            resolve(call, .failure(.unavailable(stateDescription)))
            return
        }
        let admission = breaker.allow(now: loop.now)
        guard admission.allowed else {
            resolve(call, .failure(.breakerOpen))
            return
        }
        call.breakerEpoch = admission.epoch
        guard pending.count - pendingHead < configuration.maxInFlight else {
            resolve(call, .failure(.overloaded))
            return
        }
        if call.deadline == 0 {
            // Counted again from the moment its bytes are written (`writeLoop`); this one holds
            // while the write cannot go out.
            call.deadline = loop.now &+ timeout(of: call)
            call.sentAt = loop.now
        }
        // A call redirected from another node may be due before the calls queued here.
        if !deadlineTimer.isScheduled || deadlineTimer.deadline > call.deadline {
            loop.schedule(deadlineTimer, at: Deadline(nanoseconds: call.deadline))
        }
        append(call)
        callsSent += 1
        wakeWriter()
    }

    /// The call and its bytes go into the pipeline; `ASKING` first when the call needs it (its
    /// reply is matched to a placeholder that is already resolved, so it is dropped).
    private func append(_ call: RedisCall) {
        if call.asking {
            let placeholder = RedisCall()
            placeholder.result = .success(.null)
            pending.append(placeholder)
            outgoing.append(contentsOf: Self.askingCommand)
        }
        pending.append(call)
        outgoing.append(contentsOf: call.command)
        call.awaitsWriter = true
        unflushed.append(call)
    }

    private static let askingCommand = RESPWriter.command(["ASKING"])

    /// The node this connection talks to.
    public var node: RedisNodeAddress { RedisNodeAddress(host: configuration.host, port: configuration.port) }

    /// Set by a cluster client: it takes MOVED/ASK replies and hears of connection trouble.
    weak var cluster: (any RedisClusterRouting)?

    private var stateDescription: String {
        switch state {
        case .idle: return "not started"
        case .connecting: return "connecting"
        case .connected: return "connected"
        case .closed: return "closed"
        }
    }

    /// The time Redis has to answer `call` once it is sent.
    private func timeout(of call: RedisCall) -> UInt64 {
        call.timeout != 0 ? call.timeout : configuredTimeout
    }

    /// The deadline timer: times out every call in flight whose deadline has passed, and re-arms
    /// for the earliest one left. Calls are queued in deadline order (but a NOSCRIPT retry goes
    /// to the back with its old deadline), so all of them are looked at; there are at most
    /// `maxInFlight`, and this runs about once per deadline.
    private func expireCalls() {
        // Timers fire after the pass's I/O events, before the jobs they woke: after a long pass
        // the reader may not yet have taken replies that are here. It gets one pass first (the
        // timer fires again after it), so calls that Redis answered in time are not failed for
        // the loop's own delay.
        if !expiryDeferred, case .connected(let transport) = state, transport.hasUnreadInput() {
            expiryDeferred = true
            loop.schedule(deadlineTimer, at: Deadline(nanoseconds: Deadline.now.nanoseconds &+ 1))
            return
        }
        expiryDeferred = false
        let now = Deadline.now.nanoseconds
        var next = UInt64.max
        // While connected, a writer that is not stuck in a write takes the outgoing bytes among
        // this pass's jobs; the time of the calls still waiting for it starts then. (While
        // connecting there is no writer yet, and their deadlines hold.)
        let writerWillTake = isConnected && !writing
        for call in pending[pendingHead...] where call.result == nil {
            if call.awaitsWriter && writerWillTake {
                next = min(next, max(call.deadline, now &+ timeout(of: call)))
                continue
            }
            if call.deadline <= now {
                _ = breaker.record(.failure, epoch: call.breakerEpoch, now: now)
                resolve(call, .failure(.timedOut))
            } else {
                next = min(next, call.deadline)
            }
        }
        if next != .max, !deadlineTimer.isScheduled { loop.schedule(deadlineTimer, at: Deadline(nanoseconds: next)) }
    }

    /// More redirects than a resharding or failover produces: the call then fails with the
    /// last redirect as its error.
    static let maximumRedirects = 5

    private func resolve(_ call: RedisCall, _ result: Result<RedisReply, RedisError>) {
        guard call.result == nil else { return }
        if case .success = result {
            repliesReceived += 1
            replyNanosecondsTotal &+= loop.now &- call.sentAt
        }
        call.complete(result)
    }

    private func failAll(_ error: RedisError) {
        let calls = pending[pendingHead...]
        pending.removeAll()
        pendingHead = 0
        outgoing.removeAll()
        unflushed.removeAll()
        for call in calls { resolve(call, .failure(error)) }
    }

    private func wakeWriter() {
        if let waiter = writerWaiter {
            writerWaiter = nil
            waiter.resume()
        }
    }

    // MARK: - Connection lifecycle

    /// The trouble last said on stderr, nil once connected again: one line when a connection
    /// goes bad and one when it is back, not one per reconnect attempt. Nothing said it at all:
    /// a mistyped password (WRONGPASS) or a wrong CA read only as "0 of 2 Redis connections
    /// answering", the same as a network outage.
    private var troubleSaid: String?

    /// A key every gateway sets (NX, no expiry) when it connects: found missing on a reconnect,
    /// Redis lost its data meanwhile (restarted without persistence, or flushed), and with it
    /// the idempotency records, nonces and rate-limit counts. That was said nowhere, and an
    /// order completed before the restart was executed again when retried.
    /// Checks `RedisDataCanary` now, and every `RedisDataCanary.interval` while this connection
    /// (epoch) lasts.
    private func watchDataCanary(address: SocketAddress, epoch myEpoch: Int) {
        // A cluster spreads keys over nodes: one key cannot vouch for every node's data.
        guard cluster == nil else { return }
        loop.spawn { [self] in
            while epoch == myEpoch, case .connected = state {
                let offered = RedisDataCanary.newToken()
                let call = RedisCall()
                call.command = RESPWriter.command(["SET", RedisDataCanary.key, String(decoding: offered, as: UTF8.self), "NX", "GET"])
                enqueue(call)
                if case .success(let reply) = await RedisPendingReply(call: call).reply(),
                   let (verdict, token) = RedisDataCanary.judge(seen: canarySeen, offered: offered, reply: reply) {
                    canarySeen = token
                    if verdict == .lost && RedisDataCanary.shared.noteLoss(token: token) {
                        printError("sluice: redis \(address) (loop \(loop.index)): its data is gone (restarted empty or flushed: "
                                   + "\(RedisDataCanary.key) is missing or was made anew): idempotency records, nonces and rate-limit "
                                   + "counts started over, so a payment completed before may be executed again if retried; "
                                   + "run Redis with persistence")
                    }
                }
                await loop.sleep(until: .after(RedisDataCanary.interval))
            }
        }
    }

    private func say(trouble: String) {
        guard troubleSaid == nil else { return }
        troubleSaid = trouble
        printError("sluice: redis \(address.map { "\($0)" } ?? "-") (loop \(loop.index)): \(trouble); its calls fail until it is back")
    }

    private func connect() {
        guard let address else {
            state = .closed
            return
        }
        state = .connecting
        epoch += 1
        let myEpoch = epoch
        loop.spawn { [self] in
            let result = await connector.open(address, on: loop)
            guard epoch == myEpoch, case .connecting = state else {
                if case .success(let (connection, _)) = result { connection.close() }
                return
            }
            switch result {
            case .success(let (connection, reader)):
                state = .connected(connection)
                connects += 1
                if troubleSaid != nil {
                    troubleSaid = nil
                    printError("sluice: redis \(address) (loop \(loop.index)): connected again")
                }
                watchDataCanary(address: address, epoch: myEpoch)
                backoff = configuration.reconnectMinimum
                breaker.reset()
                loop.spawn { [self] in await readLoop(connection, reader: reader, epoch: myEpoch) }
                loop.spawn { [self] in await writeLoop(connection, epoch: myEpoch) }
            case .failure(let error):
                say(trouble: "cannot connect: \(error)")
                failAll(.unavailable("\(error)"))
                scheduleReconnect()
                cluster?.nodeTrouble(self)
            }
        }
    }

    private func scheduleReconnect() {
        state = .idle
        let timer = reconnectTimer ?? TimerNode { [unowned self] in
            if case .idle = self.state { self.connect() }
        }
        reconnectTimer = timer
        loop.schedule(timer, at: .after(backoff))
        backoff = min(backoff * 2, configuration.reconnectMaximum)
    }

    private func connectionLost(epoch lostEpoch: Int, _ why: String) {
        guard lostEpoch == epoch, case .connected(let connection) = state else { return }
        say(trouble: "connection lost: \(why)")
        connection.close()
        epoch += 1
        failAll(.unavailable(why))
        wakeWriter()
        scheduleReconnect()
        cluster?.nodeTrouble(self)
    }

    private func writeLoop(_ connection: RedisTransport, epoch myEpoch: Int) async {
        var spare: [UInt8] = []
        while epoch == myEpoch {
            if outgoing.isEmpty {
                await suspendOnLoop { writerWaiter = $0 }
                continue
            }
            swap(&outgoing, &spare)
            // A call's deadline is the time Redis has to answer it: it starts when its bytes
            // go out, not when it was queued. A pass that served a burst (HMAC, JSON, guards
            // for a hundred requests) took longer than the deadline itself, and every call it
            // queued timed out before Redis was asked: nonces fell back to each gateway's own
            // cache (a replay through two gateways passed both), orders got 503.
            let writtenAt = Deadline.now.nanoseconds
            for call in unflushed {
                call.awaitsWriter = false
                let answerBy = writtenAt &+ timeout(of: call)
                if call.result == nil && call.redirects == 0 && call.deadline < answerBy { call.deadline = answerBy }
            }
            unflushed.removeAll(keepingCapacity: true)
            writing = true
            do throws(IOError) {
                try await connection.write(spare, deadline: .after(.seconds(1)))
                writing = false
            } catch {
                writing = false
                connectionLost(epoch: myEpoch, "write: \(error)")
                return
            }
            spare.removeAll(keepingCapacity: true)
        }
    }

    private func readLoop(_ transport: RedisTransport, reader: RESPReader, epoch myEpoch: Int) async {
        let input = RedisReplyInput(transport)
        while epoch == myEpoch {
            let bytes: UnsafeRawBufferPointer
            do throws(IOError) {
                bytes = try await input.next()
            } catch {
                connectionLost(epoch: myEpoch, "read: \(error)")
                return
            }
            guard epoch == myEpoch else { return }
            guard bytes.count > 0 else {
                connectionLost(epoch: myEpoch, "closed by redis")
                return
            }
            guard reader.read(bytes, deliver: dispatch) else {
                connectionLost(epoch: myEpoch, "protocol error")
                return
            }
        }
    }

    private func dispatch(_ reply: RedisReply) {
        guard pendingHead < pending.count else { return }
        let call = pending[pendingHead]
        pendingHead += 1
        if pendingHead >= 256 && pendingHead * 2 >= pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        guard call.result == nil else { return }  // timed out: the late reply is dropped
        _ = breaker.record(.success(slow: false), epoch: call.breakerEpoch, now: loop.now)
        if case .error(let message) = reply {
            if message.hasPrefix("NOSCRIPT"), let script = call.script, let eval = script.eval(fromEvalsha: call.command) {
                // Redis lost its script cache (restart, SCRIPT FLUSH, a replica just promoted):
                // EVAL loads it again. After ASK, the target needs ASKING again (it is one-shot).
                call.script = nil
                call.command = eval
                scriptReloads += 1
                append(call)
                wakeWriter()
                return
            }
            if let cluster {
                if let redirect = RedisRedirect(error: message, from: node), call.redirects < Self.maximumRedirects {
                    call.redirects += 1
                    cluster.redirect(call, redirect)
                    return
                }
                if message.hasPrefix("CLUSTERDOWN") { cluster.nodeTrouble(self) }
            }
            resolve(call, .failure(.server(message)))
            return
        }
        resolve(call, .success(reply))
    }
}
