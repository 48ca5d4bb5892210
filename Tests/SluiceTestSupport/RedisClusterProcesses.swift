import Foundation
import XCTest

/// A throwaway Redis Cluster on loopback: 3 primaries and 3 replicas from Debian's redis-server,
/// joined by `redis-cli --cluster create`, with a 1 s node timeout so a failover takes about
/// 2 s. The cluster keeps Redis's default full coverage: while a primary is down and not yet
/// replaced, every node answers CLUSTERDOWN. Missing redis-server or redis-cli is a test failure, never a skip.
public final class RedisClusterProcesses: @unchecked Sendable {
    public let ports: [Int]
    private var processes: [Int: Process] = [:]
    private let directory: URL
    /// Every node serves clients, replication and the cluster bus over TLS only.
    public let tls: Bool

    public init(tls: Bool = false) throws {
        self.tls = tls
        var ports: [Int] = []
        while ports.count < 6 {
            let port = try RedisServerProcess.freePort()
            // The cluster bus listens on port + 10000: both must be free.
            if port < 55000, !ports.contains(port), !RedisServerProcess.canConnect(port: port + 10000) { ports.append(port) }
        }
        self.ports = ports
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for port in ports { try start(port) }
        let create = try Self.run(Self.cli(), cliTLSArguments + ["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" }
                                  + ["--cluster-replicas", "1", "--cluster-yes"])
        guard create.contains("All 16384 slots covered") else {
            XCTFail("redis-cli --cluster create failed:\n\(create)")
            throw CocoaError(.executableLoad)
        }
        // Ready when every node sees the cluster ok and every replica has synced with its primary
        // (a replica that never synced is too stale to be promoted when its primary dies).
        guard waitUntil(seconds: 10, {
            self.ports.allSatisfy { port in
                guard self.command(port, ["CLUSTER", "INFO"]).contains("cluster_state:ok") else { return false }
                let replication = self.command(port, ["INFO", "replication"])
                return replication.contains("role:master") || replication.contains("master_link_status:up")
            }
        }) else {
            XCTFail("the cluster did not reach cluster_state:ok with its replicas in sync")
            throw CocoaError(.executableLoad)
        }
    }

    deinit { stopAll() }

    public static func cli() throws -> String {
        for directory in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: directory + "/redis-cli") {
            return directory + "/redis-cli"
        }
        XCTFail("redis-cli not found: install it (`make deps` or apt-get install redis-tools)")
        throw CocoaError(.fileNoSuchFile)
    }

    private func start(_ port: Int) throws {
        let data = directory.appendingPathComponent(String(port))
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try RedisServerProcess.executable())
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
                             "--dir", data.path, "--enable-debug-command", "local", "--repl-diskless-sync-delay", "0"]
            + (tls ? RedisServerProcess.tlsArguments(port: port) + ["--tls-cluster", "yes", "--tls-replication", "yes"] : [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        processes[port] = process
        guard waitUntil(seconds: 2, { RedisServerProcess.canConnect(port: port) }) else {
            XCTFail("redis-server on port \(port) did not start")
            throw CocoaError(.executableLoad)
        }
    }

    /// Kills one node (SIGKILL, as a crash would).
    public func kill(_ port: Int) {
        guard let process = processes.removeValue(forKey: port), process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func stopAll() {
        for port in Array(processes.keys) { kill(port) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// One command through redis-cli (no redirect following); its output, trimmed.
    public func command(_ port: Int, _ arguments: [String]) -> String {
        ((try? Self.run(Self.cli(), cliTLSArguments + ["-h", "127.0.0.1", "-p", String(port)] + arguments)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private var cliTLSArguments: [String] { tls ? ["--tls", "--cacert", TestCertificates.path("ca.pem")] : [] }

    /// The primary serving `slot`, and its node id, as node `askPort` sees it.
    public func primary(ofSlot slot: Int, askPort: Int? = nil) -> (port: Int, id: String)? {
        for line in command(askPort ?? ports[0], ["CLUSTER", "NODES"]).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 8, fields[2].contains("master"), !fields[2].contains("fail") else { continue }
            let serves = fields[8...].contains { range in
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                return bounds.count == 2 ? (bounds[0]...bounds[1]).contains(slot) : bounds.first == slot
            }
            if serves, let port = Int(fields[1].split(separator: ":")[1].split(separator: "@")[0]) { return (port, String(fields[0])) }
        }
        return nil
    }

    /// The primaries' ports, as node `askPort` sees them.
    public func primaries(askPort: Int? = nil) -> [Int] {
        command(askPort ?? ports[0], ["CLUSTER", "NODES"]).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 8, fields[2].contains("master"), !fields[2].contains("fail") else { return nil }
            return Int(fields[1].split(separator: ":")[1].split(separator: "@")[0])
        }
    }

    /// Node ids by port.
    public func nodeID(_ port: Int) -> String { command(port, ["CLUSTER", "MYID"]) }

    public func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
}
