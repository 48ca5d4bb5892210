internal import CSys
import SluiceIO
import SluicePolicy
import SluiceProxy
import SluiceRateLimit
#if canImport(Glibc)
import Glibc
#endif

/// The `sluice run` process: loads the policy, binds every listener on every loop, serves, and
/// reacts to reload / drain / stop on the main thread.
public final class Server {
    private let policyDirectory: String
    private let workersOverride: Int?

    public init(policyDirectory: String, workersOverride: Int?) {
        self.policyDirectory = policyDirectory
        self.workersOverride = workersOverride
    }

    /// Runs until SIGTERM (drain) or SIGINT; returns the process exit code.
    public func run() -> Int32 {
        ControlEvents.blockSignals()

        let policy: PolicySnapshot
        do {
            policy = try PolicyLoader.load(directory: policyDirectory)
        } catch {
            printError(error.description)
            return 1
        }

        let accessLogFD: Int32?
        switch policy.server.accessLog {
        case .stdout: accessLogFD = 1
        case .off: accessLogFD = nil
        case .file(let path):
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                printError("cannot open access log \(path): \(String(cString: strerror(errno)))")
                return 1
            }
            accessLogFD = fd
        }

        let group: EventLoopGroup
        do {
            group = try EventLoopGroup(count: workersOverride ?? policy.server.workers)
        } catch {
            printError("cannot create event loops: \(error)")
            return 1
        }
        // Redis connections (one per loop) live here, across reloads.
        let rateLimits = RateLimitRuntime(loops: group.loops)
        let configuration: ProxyConfiguration
        do {
            configuration = try ProxyConfiguration(policy: policy, generation: 1, guards: rateLimits.guards(for: policy))
        } catch {
            printError("\(policyDirectory): \(error.description)")
            return 1
        }
        let store = ConfigurationStore(configuration)
        let contexts = group.loops.map { LoopContext(loop: $0, store: store, accessLogFD: accessLogFD) }

        // Bind before the loops start: a port that cannot be bound fails start-up, not a loop.
        var bound: [(context: LoopContext, listener: TCPListener, policy: ListenerPolicy)] = []
        for listenerPolicy in policy.listeners {
            guard var address = SocketAddress(host: listenerPolicy.address.host, port: listenerPolicy.address.port) else {
                printError("listener \(listenerPolicy.name): \(listenerPolicy.address) is not a numeric address")
                return 1
            }
            for context in contexts {
                do {
                    let listener = try TCPListener(address: address, on: context.loop)
                    // With port 0 the first bind picks the port; the other loops share it.
                    address = listener.localAddress
                    bound.append((context, listener, listenerPolicy))
                } catch {
                    printError("listener \(listenerPolicy.name): cannot listen on \(address): \(error)")
                    return 1
                }
            }
            printStatus("sluice: listening on \(address) (\(listenerPolicy.name))")
        }

        group.start()
        for entry in bound {
            let (context, listener, listenerPolicy) = entry
            context.loop.execute { context.serve(listener, policy: listenerPolicy) }
        }

        let control = ControlEvents(watching: policyDirectory)
        var generation = 1
        var reloadDueAt: Deadline?
        while true {
            let timeout: Int32
            if let due = reloadDueAt {
                let now = Deadline.now
                timeout = due <= now ? 0 : Int32((due.nanoseconds - now.nanoseconds) / 1_000_000 + 1)
            } else {
                timeout = -1
            }
            let event = control.next(timeoutMillis: timeout)
            if event == nil, let due = reloadDueAt, due <= .now {
                reloadDueAt = nil
                reload(store: store, rateLimits: rateLimits, generation: &generation, running: policy, trigger: "policy files changed")
                continue
            }
            switch event {
            case .reload:
                reloadDueAt = nil
                reload(store: store, rateLimits: rateLimits, generation: &generation, running: policy, trigger: "SIGHUP")
            case .policyChanged:
                // Editors write files in several steps: wait for the directory to settle.
                reloadDueAt = .after(.milliseconds(300))
            case .drain:
                drain(contexts: contexts, timeout: store.configuration.policy.server.drainTimeout)
                group.stop()
                group.join()
                printStatus("sluice: drained, exiting")
                return 0
            case .stop:
                for context in contexts { context.loop.execute { context.shutdown() } }
                Self.pause(milliseconds: 50)
                group.stop()
                group.join()
                return 0
            case nil:
                continue
            }
        }
    }

    /// Validates the whole policy set first; any error keeps the running policy.
    private func reload(store: ConfigurationStore, rateLimits: RateLimitRuntime, generation: inout Int, running initial: PolicySnapshot, trigger: String) {
        let policy: PolicySnapshot
        do {
            policy = try PolicyLoader.load(directory: policyDirectory)
        } catch {
            printError("sluice: reload (\(trigger)) rejected, keeping policy generation \(generation):\n\(error.description)")
            return
        }
        let configuration: ProxyConfiguration
        do {
            configuration = try ProxyConfiguration(policy: policy, generation: generation + 1, guards: rateLimits.guards(for: policy))
        } catch {
            printError("sluice: reload (\(trigger)) rejected, keeping policy generation \(generation):\n\(policyDirectory): \(error.description)")
            return
        }
        let before = initial.listeners.map { "\($0.name)=\($0.address)" }
        let after = policy.listeners.map { "\($0.name)=\($0.address)" }
        if before != after {
            printError("sluice: listener changes take effect on restart; routes, clusters and timeouts reload now")
        }
        generation += 1
        store.replace(with: configuration)
        printError("sluice: policy reloaded (\(trigger)): generation \(generation), \(policy.routes.count) routes, \(policy.clusters.count) clusters")
    }

    /// Stops accepting, lets in-flight requests finish (up to `timeout`), then flushes logs.
    private func drain(contexts: [LoopContext], timeout: Duration) {
        printStatus("sluice: draining")
        for context in contexts { context.loop.execute { context.startDrain() } }
        let deadline = Deadline.after(timeout)
        while Deadline.now < deadline {
            if contexts.allSatisfy({ $0.openSessionCount == 0 }) { break }
            Self.pause(milliseconds: 20)
        }
        for context in contexts { context.loop.execute { context.shutdown() } }
        Self.pause(milliseconds: 50)
    }

    private static func pause(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
