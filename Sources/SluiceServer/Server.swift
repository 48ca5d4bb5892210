internal import CSys
import SluiceIO
import SluicePolicy
import SluiceProxy
import SluiceGuards
import SluiceBreaker
#if canImport(Glibc)
import Glibc
#endif

/// The `sluice run` process: loads the policy, binds every listener on every loop, serves, and
/// reacts to reload / drain / stop on the main thread.
public final class Server {
    private let policyDirectory: String
    private let workersOverride: Int?
    /// The running configuration's active health checks (replaced on reload).
    private var healthChecker: HealthChecker?
    /// The running policy as written, for the summary of what a reload changes.
    private var runningPolicyText: PolicyDiff.Canonical?

    public init(policyDirectory: String, workersOverride: Int?) {
        self.policyDirectory = policyDirectory
        self.workersOverride = workersOverride
    }

    /// Everything `run` and a reload check before serving a policy directory: the files
    /// themselves, then what only the proxy can tell (endpoints it can resolve). Returns the
    /// snapshot, or the problems one per line.
    /// The policy format beyond listeners, clusters and routes: every guard module's sections, as
    /// `run`, reload and `check` read them (the policy fuzz target loads with these too).
    public static var policySections: [any GuardPolicySection] { GuardRegistry.standard(loops: []).policySections }

    /// Every guard module compiles the policy too (no loops: nothing is ever activated).
    public static func validate(directory: String) -> Result<PolicySnapshot, ValidationFailure> {
        let guards = GuardRegistry.standard(loops: [])
        return loadPolicy(directory: directory, sections: guards.policySections).flatMap { policy in
            guards.compile(policy).flatMap { configure(policy, generation: 0, guards: $0.byRoute) }
        }.map(\.policy)
    }

    static func loadPolicy(directory: String, sections: [any GuardPolicySection]) -> Result<PolicySnapshot, ValidationFailure> {
        let policy: PolicySnapshot
        do {
            policy = try PolicyLoader.load(directory: directory, sections: sections)
        } catch {
            return .failure(ValidationFailure(description: error.description))
        }
        // A gateway without routes answers every request 404, and a reload that took such a
        // policy (a routes file emptied mid-write, or removed before its replacement was copied
        // in) took every payment route down while /readyz still said ready.
        guard !policy.routes.isEmpty else {
            // Point at an empty file when there is one (the routes file emptied mid-write).
            let empty = policy.sourceFiles.first { file in
                (try? FileBytes.read(file).get())?.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 } ?? false
            }
            let place = empty.map { "\($0):1:1: the file is empty and" } ?? "\(directory):1:1:"
            return .failure(ValidationFailure(description: "\(place) no routes defined (every request would be answered 404: "
                                                          + "is a routes file empty or missing?)"))
        }
        // Checks that need two sections of different modules, so neither module could do them.
        let breakers = Set(policy.guardPolicy(BreakerModule.moduleName, as: BreakersPolicy.self)?.breakers.map(\.name) ?? [])
        let problems = MerchantReferences.problems(in: policy)
            + (policy.guardPolicy(AlertsPolicy.sectionName, as: AlertsPolicy.self)?.unknownBreakers(breakers) ?? [])
        guard problems.isEmpty else { return .failure(ValidationFailure(description: problems.joined(separator: "\n"))) }
        return .success(policy)
    }

    /// The proxy's view of a policy: resolved endpoints, TLS contexts, each route's guards.
    static func configure(_ policy: PolicySnapshot, generation: Int, guards: [String: [any RequestGuard]],
                          previous: ProxyConfiguration? = nil) -> Result<ProxyConfiguration, ValidationFailure> {
        do {
            return .success(try ProxyConfiguration(policy: policy, generation: generation, guards: guards, previous: previous))
        } catch {
            return .failure(ValidationFailure(description: error.description))
        }
    }

    public struct ValidationFailure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs until SIGTERM (drain) or SIGINT; returns the process exit code.
    public func run() -> Int32 {
        ControlEvents.blockSignals()
        if let raised = OpenFileLimit.raiseToHardLimit() {
            printError("sluice: open file limit raised from \(raised.from) to \(raised.to)")
        }

        let policy: PolicySnapshot
        // The sections are the format: they need no loops (the workers count is in the policy).
        switch Self.loadPolicy(directory: policyDirectory, sections: GuardRegistry.standard(loops: []).policySections) {
        case .success(let loaded): policy = loaded
        case .failure(let failure):
            printError(failure.description)
            return 1
        }

        let accessLogFD: Int32?, transactionLogFD: Int32?
        switch (Self.open(policy.server.accessLog, what: "access log"), Self.open(policy.server.transactionLog, what: "transaction log")) {
        case (.success(let access), .success(let transactions)): (accessLogFD, transactionLogFD) = (access, transactions)
        case (.failure(let failure), _), (_, .failure(let failure)):
            printError(failure.description)
            return 1
        }

        let group: EventLoopGroup
        do {
            group = try EventLoopGroup(count: workersOverride ?? policy.server.workers)
        } catch {
            printError("cannot create event loops: \(error)")
            return 1
        }
        // The guard modules and the state they keep across reloads (Redis connections, counters).
        let guards = GuardRegistry.standard(loops: group.loops)
        let configuration: ProxyConfiguration
        let compiledGuards: CompiledGuards
        switch guards.compile(policy).flatMap({ compiled in
            Self.configure(policy, generation: 1, guards: compiled.byRoute).map { ($0, compiled) }
        }) {
        case .success(let (configured, compiled)): (configuration, compiledGuards) = (configured, compiled)
        case .failure(let failure):
            printError(failure.description)
            return 1
        }
        guards.activate(compiledGuards)
        runningPolicyText = try? PolicyDiff.canonical(directory: policyDirectory)
        Self.returnFreedMemory()
        let store = ConfigurationStore(configuration)
        let accessLog = accessLogFD.map { LogFile(fd: $0, name: "access log") }
        let transactionLog = transactionLogFD.map { LogFile(fd: $0, name: "transaction log") }
        let contexts = group.loops.map { LoopContext(loop: $0, loops: group.loops.count, store: store, accessLog: accessLog, transactionLog: transactionLog) }

        // The admin listener (loop 0), bound first: when the listeners say they listen, it does too,
        // and a taken port fails start-up.
        let status = ServerStatus()
        status.logFiles.withLock { $0 = [accessLog, transactionLog].compactMap { $0 } }
        status.guardCountHistory.start(with: configuration.guardCounters)
        status.policyLoaded(policy.guardPolicy(AdminPolicy.sectionName, as: AdminPolicy.self), files: policy.sourceFiles)
        var admin: AdminServer?
        let view = ServerView(contexts: contexts, store: store, guards: guards, status: status)
        if let adminPolicy = policy.guardPolicy(AdminPolicy.sectionName, as: AdminPolicy.self) {
            guard let address = SocketAddress(host: adminPolicy.address.host, port: adminPolicy.address.port) else {
                printError("admin: \(adminPolicy.address) is not a numeric address")
                return 1
            }
            do {
                // One socket, no SO_REUSEPORT: a second process cannot share it either way.
                let listener = try TCPListener(address: address, on: contexts[0].loop, reusePort: false)
                admin = AdminServer(listener: listener, view: view)
                printStatus("sluice: admin on \(listener.localAddress)")
            } catch {
                printError("admin: cannot listen on \(address): \(error)")
                return 1
            }
        }

        // Bind before the loops start: a port that cannot be bound fails start-up, not a loop.
        var bound: [(context: LoopContext, listener: TCPListener, policy: ListenerPolicy)] = []
        // Watched (and signals taken) before any listener says it listens: a deploy that replaced
        // the policy directory right after that line was never seen (the watch came later).
        let control = ControlEvents(watching: policyDirectory)
        for listenerPolicy in policy.listeners {
            guard var address = SocketAddress(host: listenerPolicy.address.host, port: listenerPolicy.address.port) else {
                printError("listener \(listenerPolicy.name): \(listenerPolicy.address) is not a numeric address")
                return 1
            }
            do {
                try TCPListener.refuseIfListenedOn(address)
            } catch {
                printError("listener \(listenerPolicy.name): cannot listen on \(address): \(error) (is another sluice running?)")
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
        admin?.start()
        AlertEngine(view: view, loop: contexts[0].loop).start()
        healthChecker = HealthChecker(configuration: configuration, loop: contexts[0].loop)
        healthChecker?.start()
        // Per-client limits are per listener and shared by its loops (a client's connections
        // land on several).
        var perClient: [String: ClientConnectionLimiter] = [:]
        for listenerPolicy in policy.listeners
        where listenerPolicy.maxConnectionsPerClient > 0 || listenerPolicy.newConnectionsPerClientPerSecond > 0 {
            perClient[listenerPolicy.name] = ClientConnectionLimiter(maxOpen: listenerPolicy.maxConnectionsPerClient,
                                                                     perSecond: Double(listenerPolicy.newConnectionsPerClientPerSecond))
        }
        for entry in bound {
            let (context, listener, listenerPolicy) = entry
            // The listener's limit is for the process: each loop holds its share.
            let share = (listenerPolicy.maxConnections + contexts.count - 1) / contexts.count
            let limiter = perClient[listenerPolicy.name]
            context.loop.execute { context.serve(listener, policy: listenerPolicy, connectionLimit: share, perClient: limiter) }
        }

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
                reload(store: store, guards: guards, contexts: contexts, generation: &generation, running: policy, status: status,
                       trigger: "policy files changed", holdsRemovedCoreRoutes: true)
                continue
            }
            switch event {
            case .reload:
                reloadDueAt = nil
                reload(store: store, guards: guards, contexts: contexts, generation: &generation, running: policy, status: status,
                       trigger: "SIGHUP")
            case .policyChanged:
                // Editors write files in several steps: wait for the directory to settle.
                reloadDueAt = .after(.milliseconds(300))
            case .reopenLogs:
                Self.reopen(policy.server.accessLog, file: accessLog)
                Self.reopen(policy.server.transactionLog, file: transactionLog)
            case .ignored(let signal):
                printStatus("sluice: \(signal) ignored")
            case .drain:
                status.draining.store(true, ordering: .relaxed)
                drain(contexts: contexts, timeout: store.configuration.policy.server.drainTimeout, control: control)
                group.stop()
                group.join()
                printStatus("sluice: drained, exiting")
                return 0
            case .stop:
                for context in contexts { context.loop.executeAndWait { context.shutdown() } }
                group.stop()
                group.join()
                return 0
            case nil:
                continue
            }
        }
    }

    /// Validates the whole policy set first (files, guards, proxy, listeners); any error keeps
    /// the running policy, and nothing of the rejected one has started. Only then are the new
    /// guards activated and the configuration swapped in; the old generation is retired when
    /// its last request ends (each loop lets go of it at once).
    private func reload(store: ConfigurationStore, guards: GuardRegistry, contexts: [LoopContext], generation: inout Int,
                        running initial: PolicySnapshot, status: ServerStatus, trigger: String, holdsRemovedCoreRoutes: Bool = false) {
        let configuration: ProxyConfiguration
        let compiledGuards: CompiledGuards
        switch Self.loadPolicy(directory: policyDirectory, sections: guards.policySections).flatMap({ policy in
            guards.compile(policy).flatMap { compiled in
                Self.configure(policy, generation: generation + 1, guards: compiled.byRoute, previous: store.configuration).map { ($0, compiled) }
            }
        }) {
        case .success(let (configured, compiled)): (configuration, compiledGuards) = (configured, compiled)
        case .failure(let failure):
            status.reloadsRejected.wrappingAdd(1, ordering: .relaxed)
            printError("sluice: reload (\(trigger)) rejected, keeping policy generation \(generation):\n\(failure.description)")
            return
        }
        let policy = configuration.policy
        // A file written in two steps (`cat a > f; cat b >> f`, a script appending a route) is
        // valid YAML after the first when it breaks between routes, and the file watch applied
        // it: refunds and notifications answered 404 until the second step. Removing a payment
        // route is rare and deliberate, so the watch holds it; SIGHUP applies it.
        if holdsRemovedCoreRoutes {
            let removed = Self.coreRoutesRemoved(from: store.configuration.policy, to: policy)
            if !removed.isEmpty {
                status.reloadsRejected.wrappingAdd(1, ordering: .relaxed)
                printError("sluice: reload (\(trigger)) held, keeping policy generation \(generation): it removes core route(s) "
                           + removed.joined(separator: ", ") + " (a file still being written?); send SIGHUP to apply it")
                return
            }
        }
        // Whether a listener speaks TLS is fixed by its sockets' start; its certificates reload.
        let tlsBefore = Set(initial.listeners.filter { $0.tls != nil }.map(\.name))
        let tlsAfter = Set(policy.listeners.filter { $0.tls != nil }.map(\.name))
        let switched = tlsBefore.symmetricDifference(tlsAfter).intersection(Set(initial.listeners.map(\.name)))
        if !switched.isEmpty {
            status.reloadsRejected.wrappingAdd(1, ordering: .relaxed)
            printError("sluice: reload (\(trigger)) rejected, keeping policy generation \(generation): "
                       + "turning TLS on or off for listener(s) \(switched.sorted().joined(separator: ", ")) needs a restart")
            return
        }
        let restartOnly = Self.changesThatNeedARestart(from: initial, to: policy)
        if !restartOnly.isEmpty {
            printError("sluice: reload: \(restartOnly.joined(separator: ", ")): applied on restart only (not now); "
                       + "routes, clusters, timeouts and guards reload now")
        }
        status.restartPending.withLock { $0 = restartOnly }
        generation += 1
        guards.activate(compiledGuards)
        status.guardCountHistory.generationReplaced(by: configuration.guardCounters)
        store.replace(with: configuration)
        for context in contexts { context.loop.execute { context.adoptLatestConfiguration() } }
        // Reported only now: whoever sees the new generation in /metrics or /admin/policy gets
        // the new policy on the next request.
        status.generation.store(generation, ordering: .relaxed)
        status.reloadsApplied.wrappingAdd(1, ordering: .relaxed)
        status.policyLoaded(policy.guardPolicy(AdminPolicy.sectionName, as: AdminPolicy.self), files: policy.sourceFiles)
        healthChecker?.stop()
        healthChecker = HealthChecker(configuration: configuration, loop: contexts[0].loop)
        healthChecker?.start()
        printError("sluice: policy reloaded (\(trigger)): generation \(generation), \(policy.routes.count) routes, \(policy.clusters.count) clusters")
        if let before = runningPolicyText, let after = try? PolicyDiff.canonical(directory: policyDirectory) {
            for line in PolicyDiff.changes(from: before, to: after) { printError("sluice: reload changed: \(line)") }
            runningPolicyText = after
        }
        Self.returnFreedMemory()
    }

    /// The names of the running policy's core routes that `next` does not have.
    static func coreRoutesRemoved(from running: PolicySnapshot, to next: PolicySnapshot) -> [String] {
        let kept = Set(next.routes.map(\.name))
        return running.routes.filter { $0.routeClass == .core && !kept.contains($0.name) }.map(\.name).sorted()
    }

    /// What the policy changed that the running process keeps as it started: its sockets,
    /// threads and log files. Said on reload, so an operator who turns the transaction log on (an
    /// audit trail) or moves the admin port knows it is not in effect yet.
    static func changesThatNeedARestart(from running: PolicySnapshot, to next: PolicySnapshot) -> [String] {
        var changed: [String] = []
        if running.listeners.map({ "\($0.name)=\($0.address)" }) != next.listeners.map({ "\($0.name)=\($0.address)" }) {
            changed.append("listener addresses")
        }
        if running.server.workers != next.server.workers { changed.append("server.workers") }
        if running.server.accessLog != next.server.accessLog { changed.append("server.access_log") }
        if running.server.transactionLog != next.server.transactionLog { changed.append("server.transaction_log") }
        let admin = { (policy: PolicySnapshot) in policy.guardPolicy(AdminPolicy.sectionName, as: AdminPolicy.self).map { "\($0.address)" } }
        if admin(running) != admin(next) { changed.append("admin.address") }
        return changed
    }

    /// Loading a policy parses its YAML more than once (the snapshot, the canonical form reloads
    /// are diffed against) into many small allocations that are freed at once but stay in the
    /// heap: at 10,000 routes about 12 MB of resident memory nothing uses. glibc gives such pages
    /// back on request (`malloc_trim`); a load is rare, so asking costs nothing that matters.
    private static func returnFreedMemory() {
        _ = sluice_release_free_memory()
    }

    /// A log file opened again at its path, on the same descriptor (`dup2` swaps it under every
    /// loop's writer at once): logrotate moves the file away, SIGUSR1, and lines go to a new one.
    private static func reopen(_ target: AccessLogTarget, file: LogFile?) {
        guard case .file(let path) = target, let file else { return }
        if let failure = file.reopen(path) {
            printError("sluice: cannot reopen \(file.name) \(path): \(failure) (still writing to the old file)")
            return
        }
        printStatus("sluice: reopened \(file.name) \(path)")
    }

    /// A log's file descriptor: stdout, none, or the file opened for appending.
    private static func open(_ target: AccessLogTarget, what: String) -> Result<Int32?, ValidationFailure> {
        switch target {
        case .stdout: return .success(1)
        case .off: return .success(nil)
        case .file(let path):
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return .failure(ValidationFailure(description: "cannot open \(what) \(path): \(String(cString: strerror(errno)))")) }
            return .success(fd)
        }
    }

    /// Stops accepting, lets in-flight requests finish (up to `timeout`, or until SIGINT says
    /// to stop now), then flushes logs.
    private func drain(contexts: [LoopContext], timeout: Duration, control: ControlEvents) {
        printStatus("sluice: draining")
        for context in contexts { context.loop.execute { context.startDrain() } }
        let deadline = Deadline.after(timeout)
        while Deadline.now < deadline {
            if contexts.allSatisfy({ $0.openSessionCount == 0 }) { break }
            if control.next(timeoutMillis: 20) == .stop {
                printStatus("sluice: SIGINT, not waiting for the drain")
                break
            }
        }
        // Access logs flushed and pooled connections closed before the loops stop.
        for context in contexts { context.loop.executeAndWait { context.shutdown() } }
    }
}
