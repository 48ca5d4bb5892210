import SluiceIO
import SluiceResilience

/// One call in flight: resolved once, by its reply, its deadline, or the connection's loss.
final class RedisCall {
    var result: Result<RedisReply, RedisError>?
    var waiter: UnsafeContinuation<Result<RedisReply, RedisError>, Never>?
    /// When the call times out (monotonic ns); the connection's one deadline timer enforces it.
    var deadline: UInt64 = 0
    /// When it was queued (the loop's clock), for the reply-time counters.
    var sentAt: UInt64 = 0
    /// The breaker epoch the call was admitted in (its result counts only there).
    var breakerEpoch: UInt64 = 0
    /// For EVALSHA calls: the script and the command, to send again as EVAL on NOSCRIPT.
    var script: RedisScript?
    var evalsha: [UInt8] = []
}

/// A reply that may not have arrived yet. Loop-confined: await it only on the loop that sent the
/// call (it may be handed to a task on that same loop, hence the unchecked Sendable).
public struct RedisPendingReply: @unchecked Sendable {
    let call: RedisCall

    /// The reply, or why there is none; suspends at most until the call's deadline.
    public func reply() async -> Result<RedisReply, RedisError> {
        if let result = call.result { return result }
        return await withUnsafeContinuation { call.waiter = $0 }
    }

    /// True once resolved (no suspension needed).
    public var isResolved: Bool { call.result != nil }
}

/// One pipelined Redis connection owned by one event loop.
///
/// Design: Sluice's own `TCPConnection` does the I/O, hiredis's `redisReader` parses replies and
/// commands are pre-formatted RESP. Compared with hiredis's async context plus an adapter this
/// keeps one readiness mechanism (the loop's epoll), puts deadlines on the loop's timer heap (hiredis
/// 0.14 has no timer hook), and needs no C callbacks or privdata juggling.
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
    private let address: SocketAddress?

    private enum State { case idle, connecting, connected(TCPConnection), closed }
    private var state: State = .idle
    /// Bumped on every (re)connection: tasks of an older connection stop when they see a new one.
    private var epoch = 0
    private var pending: [RedisCall] = []
    private var pendingHead = 0
    private var outgoing: [UInt8] = []
    private var writerWaiter: UnsafeContinuation<Void, Never>?
    private var backoff: Duration
    private var reconnectTimer: TimerNode?
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

    public init(loop: EventLoop, configuration: RedisClientConfiguration) {
        self.loop = loop
        self.configuration = configuration
        address = SocketAddress(host: configuration.host, port: configuration.port)
        backoff = configuration.reconnectMinimum
        breaker = BreakerMachine(policy: .consecutiveFailures(configuration.breakerFailures, openFor: configuration.breakerOpenFor))
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

    /// Queues a command; the reply is awaited separately, so several calls can be pipelined.
    public func send(_ command: [UInt8]) -> RedisPendingReply {
        let call = RedisCall()
        enqueue(call, bytes: command)
        return RedisPendingReply(call: call)
    }

    public func send(_ arguments: [String]) -> RedisPendingReply { send(RESPWriter.command(arguments)) }

    /// EVALSHA, falling back to EVAL once if Redis has lost the script.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) -> RedisPendingReply {
        evaluate(script, evalsha: script.command(keys: keys, arguments: arguments))
    }

    /// EVALSHA formatted by the caller: `script.evalshaHead(...)` followed by the keys and
    /// arguments as bulk strings. Falls back to EVAL once if Redis has lost the script.
    public func evaluate(_ script: RedisScript, evalsha: [UInt8]) -> RedisPendingReply {
        let call = RedisCall()
        call.script = script
        call.evalsha = evalsha
        enqueue(call, bytes: evalsha)
        return RedisPendingReply(call: call)
    }

    public func execute(_ arguments: [String]) async -> Result<RedisReply, RedisError> {
        await send(arguments).reply()
    }

    private func enqueue(_ call: RedisCall, bytes: [UInt8]) {
        // While connecting, calls queue behind the handshake (their deadlines still hold);
        // while backing off after a failure they fail at once.
        switch state {
        case .connected, .connecting: break
        case .idle, .closed:
            call.result = .failure(.unavailable(stateDescription))
            _ = breaker.record(.failure, epoch: breaker.epoch, now: loop.now)
            return
        }
        let admission = breaker.allow(now: loop.now)
        guard admission.allowed else {
            call.result = .failure(.breakerOpen)
            return
        }
        call.breakerEpoch = admission.epoch
        guard pending.count - pendingHead < configuration.maxInFlight else {
            call.result = .failure(.overloaded)
            return
        }
        // The loop's clock (read once per iteration): the deadline counts from the start of this
        // loop tick, so it is never later than before.
        call.deadline = loop.deadline(after: configuration.deadline).nanoseconds
        if !deadlineTimer.isScheduled { loop.schedule(deadlineTimer, at: Deadline(nanoseconds: call.deadline)) }
        call.sentAt = loop.now
        pending.append(call)
        outgoing.append(contentsOf: bytes)
        callsSent += 1
        wakeWriter()
    }

    private var stateDescription: String {
        switch state {
        case .idle: return "not started"
        case .connecting: return "connecting"
        case .connected: return "connected"
        case .closed: return "closed"
        }
    }

    /// The deadline timer: times out every call in flight whose deadline has passed, and re-arms
    /// for the earliest one left. Calls are queued in deadline order (but a NOSCRIPT retry goes
    /// to the back with its old deadline), so all of them are looked at; there are at most
    /// `maxInFlight`, and this runs about once per deadline.
    private func expireCalls() {
        let now = Deadline.now.nanoseconds
        var next = UInt64.max
        for call in pending[pendingHead...] where call.result == nil {
            if call.deadline <= now {
                _ = breaker.record(.failure, epoch: call.breakerEpoch, now: now)
                resolve(call, .failure(.timedOut))
            } else {
                next = min(next, call.deadline)
            }
        }
        if next != .max, !deadlineTimer.isScheduled { loop.schedule(deadlineTimer, at: Deadline(nanoseconds: next)) }
    }

    private func resolve(_ call: RedisCall, _ result: Result<RedisReply, RedisError>) {
        guard call.result == nil else { return }
        if case .success = result {
            repliesReceived += 1
            replyNanosecondsTotal &+= loop.now &- call.sentAt
        }
        call.result = result
        call.evalsha = []
        if let waiter = call.waiter {
            call.waiter = nil
            waiter.resume(returning: result)
        }
    }

    private func failAll(_ error: RedisError) {
        let calls = pending[pendingHead...]
        pending.removeAll()
        pendingHead = 0
        outgoing.removeAll()
        for call in calls { resolve(call, .failure(error)) }
    }

    private func wakeWriter() {
        if let waiter = writerWaiter {
            writerWaiter = nil
            waiter.resume()
        }
    }

    // MARK: - Connection lifecycle

    private func connect() {
        guard let address else {
            state = .closed
            return
        }
        state = .connecting
        epoch += 1
        let myEpoch = epoch
        loop.spawn { [self] in
            let result = await Self.open(address, configuration: configuration, loop: loop)
            guard epoch == myEpoch, case .connecting = state else {
                if case .success(let (connection, _)) = result { connection.close() }
                return
            }
            switch result {
            case .success(let (connection, reader)):
                state = .connected(connection)
                connects += 1
                backoff = configuration.reconnectMinimum
                breaker.reset()
                loop.spawn { [self] in await readLoop(connection, reader: reader, epoch: myEpoch) }
                loop.spawn { [self] in await writeLoop(connection, epoch: myEpoch) }
            case .failure(let error):
                failAll(.unavailable("\(error)"))
                scheduleReconnect()
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
        connection.close()
        epoch += 1
        failAll(.unavailable(why))
        wakeWriter()
        scheduleReconnect()
    }

    /// Connects and runs the handshake (AUTH, SELECT, PING) before any call is sent.
    private static func open(_ address: SocketAddress, configuration: RedisClientConfiguration,
                             loop: EventLoop) async -> Result<(TCPConnection, RESPReader), RedisError> {
        let deadline = Deadline.after(configuration.connectTimeout)
        let connection: TCPConnection
        do throws(IOError) {
            connection = try await TCPConnection.connect(to: address, on: loop, deadline: deadline)
        } catch {
            return .failure(.unavailable("connect: \(error)"))
        }
        var handshake: [UInt8] = []
        var expected = 1
        if !configuration.password.isEmpty {
            handshake += RESPWriter.command(["AUTH", configuration.password])
            expected += 1
        }
        if configuration.database != 0 {
            handshake += RESPWriter.command(["SELECT", String(configuration.database)])
            expected += 1
        }
        handshake += RESPWriter.command(["PING"])
        let reader = RESPReader()
        do throws(IOError) {
            try await connection.write(handshake, deadline: deadline)
            let buffer = ByteBuffer(capacity: 512)
            var replies = 0
            while replies < expected {
                guard try await connection.read(into: buffer, deadline: deadline) > 0 else {
                    connection.close()
                    return .failure(.unavailable("closed during handshake"))
                }
                guard reader.feed(buffer.readableBytes) else { break }
                buffer.consume(buffer.readableCount)
                while case .reply(let reply) = reader.next() {
                    replies += 1
                    if case .error(let message) = reply {
                        connection.close()
                        return .failure(.server(message))
                    }
                }
            }
        } catch {
            connection.close()
            return .failure(.unavailable("handshake: \(error)"))
        }
        return .success((connection, reader))
    }

    private func writeLoop(_ connection: TCPConnection, epoch myEpoch: Int) async {
        var spare: [UInt8] = []
        while epoch == myEpoch {
            if outgoing.isEmpty {
                await withUnsafeContinuation { writerWaiter = $0 }
                continue
            }
            swap(&outgoing, &spare)
            do throws(IOError) {
                try await connection.write(spare, deadline: .after(.seconds(1)))
            } catch {
                connectionLost(epoch: myEpoch, "write: \(error)")
                return
            }
            spare.removeAll(keepingCapacity: true)
        }
    }

    private func readLoop(_ connection: TCPConnection, reader: RESPReader, epoch myEpoch: Int) async {
        let space = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
        defer { space.deallocate() }
        // After a read that did not fill the buffer the socket is drained: wait for epoll's next
        // edge (the fd is edge-triggered, and the wait is armed before the loop polls again)
        // instead of a read that would only say EAGAIN. Saves a syscall per reply batch.
        var drained = false
        while epoch == myEpoch {
            let count: Int
            do throws(IOError) {
                if drained { try await connection.waitReadable(deadline: nil) }
                guard epoch == myEpoch else { return }
                count = try await connection.read(into: space, deadline: nil)
            } catch {
                connectionLost(epoch: myEpoch, "read: \(error)")
                return
            }
            guard epoch == myEpoch else { return }
            guard count > 0 else {
                connectionLost(epoch: myEpoch, "closed by redis")
                return
            }
            drained = count < space.count
            guard reader.feed(UnsafeRawBufferPointer(rebasing: space[0..<count])) else {
                connectionLost(epoch: myEpoch, "protocol error")
                return
            }
            while true {
                switch reader.next() {
                case .needMore: break
                case .protocolError:
                    connectionLost(epoch: myEpoch, "protocol error")
                    return
                case .reply(let reply):
                    dispatch(reply)
                    continue
                }
                break
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
            if message.hasPrefix("NOSCRIPT"), let script = call.script, let eval = script.eval(fromEvalsha: call.evalsha) {
                // Redis lost its script cache (restart, SCRIPT FLUSH): EVAL loads it again.
                call.script = nil
                call.evalsha = []
                scriptReloads += 1
                pending.append(call)
                outgoing.append(contentsOf: eval)
                wakeWriter()
                return
            }
            resolve(call, .failure(.server(message)))
            return
        }
        resolve(call, .success(reply))
    }
}

/// One connection per event loop, indexed by the loop's index.
public final class RedisConnectionSet: Sendable {
    public let configuration: RedisClientConfiguration
    private let connections: [RedisConnection]

    public init(loops: [EventLoop], configuration: RedisClientConfiguration) {
        self.configuration = configuration
        connections = loops.map { RedisConnection(loop: $0, configuration: configuration) }
    }

    /// The connection of the loop with this index (use it on that loop only).
    public subscript(loopIndex: Int) -> RedisConnection { connections[loopIndex] }

    public var count: Int { connections.count }

    /// Starts every connection on its own loop. Safe from any thread.
    public func start() {
        for connection in connections {
            connection.loop.execute { connection.start() }
        }
    }

    /// Closes every connection on its own loop. Safe from any thread.
    public func close() {
        for connection in connections {
            connection.loop.execute { connection.close() }
        }
    }

    /// Nothing uses the set any more (the last policy generation holding it was retired): its
    /// connections close, each on its loop. Closing twice is harmless.
    deinit {
        close()
    }
}
