import SluiceIO
import SluiceMockPayments
#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: sluice-demo-backend [--listen HOST:PORT] [--workers N] [--latency DIST] [--error-rate R]
                               [--error-status S] [--mode normal|slow|fail|stop] [--slow DURATION]
                               [--fail-status S] [--notify-url http://HOST:PORT/PATH]
                               [--notify-retries N] [--notify-backoff DURATION]
      DIST: none | fixed:5ms | uniform:1ms-10ms | lognormal:median=5ms,sigma=0.8[,max=2s]
            | pareto:min=2ms,alpha=1.5[,max=2s]
    The same settings (names with _ instead of -) can be changed at run time:
      curl -X POST http://HOST:PORT/__control -d '{"mode":"slow","slow":"500ms"}'
    """

/// sluice-demo-backend --listen HOST:PORT [--workers N] [behaviour flags]
/// The mock payment backend on Sluice's own I/O core, for `make run`, the tests and the bench.
func startDemoBackend() -> Never {
    var listen = "127.0.0.1:9001"
    var workers = 1
    var behaviour = BackendBehaviour()
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let argument = arguments.next() {
        switch argument {
        case "--listen": listen = arguments.next() ?? listen
        case "--workers": workers = arguments.next().flatMap { Int($0) } ?? workers
        case "-h", "--help":
            print(usage)
            exit(0)
        default:
            let name = argument.hasPrefix("--") ? String(argument.dropFirst(2).map { $0 == "-" ? "_" : $0 }) : ""
            guard BackendBehaviour.settingNames.contains(name), let value = arguments.next() else {
                print("demo-backend: unknown or incomplete argument \(argument)\n\(usage)")
                exit(2)
            }
            do {
                try behaviour.set(name, to: value)
            } catch {
                print("demo-backend: \(error)")
                exit(2)
            }
        }
    }
    guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
          let address = SocketAddress(host: String(listen[..<colon]).trimmingCharacters(in: "[]"), port: port) else {
        print("demo-backend: bad --listen \(listen)")
        exit(2)
    }
    signal(SIGPIPE, SIG_IGN)
    do {
        let group = try EventLoopGroup(count: workers)
        var bound = address
        var listeners: [TCPListener] = []
        for loop in group.loops {
            let listener = try TCPListener(address: bound, on: loop)
            bound = listener.localAddress
            listeners.append(listener)
        }
        group.start()
        let name = bound.description
        let backend = MockBackend(behaviour: behaviour, listenAddress: name)
        for listener in listeners {
            listener.loop.spawn {
                while let connection = try? await listener.accept() {
                    backend.stats.connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
                    backend.stats.connectionsOpen.wrappingAdd(1, ordering: .relaxed)
                    connection.loop.spawn {
                        await DemoConnection(connection: connection, backend: backend).run()
                        backend.stats.connectionsOpen.wrappingAdd(-1, ordering: .relaxed)
                    }
                }
            }
        }
        // Unbuffered: harnesses wait for this line on a pipe.
        let ready = "demo-backend: listening on \(name)\n"
        _ = ready.withCString { write(1, $0, strlen($0)) }
        group.join()
        exit(0)
    } catch {
        print("demo-backend: \(error)")
        exit(1)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

startDemoBackend()
