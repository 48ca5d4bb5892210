import SluiceIO
#if canImport(Glibc)
import Glibc
#endif

/// sluice-demo-backend --listen HOST:PORT [--workers N]
/// A small payment backend on Sluice's own I/O core, for `make run`, the tests and the bench.
func startDemoBackend() -> Never {
    var listen = "127.0.0.1:9001"
    var workers = 1
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let argument = arguments.next() {
        switch argument {
        case "--listen": listen = arguments.next() ?? listen
        case "--workers": workers = arguments.next().flatMap { Int($0) } ?? workers
        default:
            print("usage: sluice-demo-backend [--listen HOST:PORT] [--workers N]")
            exit(2)
        }
    }
    guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
          let address = SocketAddress(host: String(listen[..<colon]).trimmingCharacters(in: "[]"), port: port) else {
        print("demo-backend: bad --listen \(listen)")
        exit(2)
    }
    signal(SIGPIPE, SIG_IGN)
    let stats = DemoStats()
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
        for listener in listeners {
            listener.loop.spawn {
                while let connection = try? await listener.accept() {
                    stats.connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
                    connection.loop.spawn {
                        await DemoConnection(connection: connection, stats: stats, listenAddress: name).run()
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
