import Foundation
import SluiceIO
import XCTest

/// A test case with a fresh redis-server and a running event loop per test.
open class RedisLoopTestCase: EventLoopTestCase {
    public var redis: RedisServerProcess!

    open override func setUp() async throws {
        redis = try RedisServerProcess()
        try await super.setUp()
    }

    open override func tearDown() async throws {
        try await super.tearDown()
        redis.stop()
    }
}

/// A throwaway redis-server on a free loopback port, for tests that need a real Redis. Missing
/// redis-server is a test failure, never a skip: `make deps` installs it.
public final class RedisServerProcess: @unchecked Sendable {
    public let port: Int
    private var process: Process?
    /// Served over TLS only (the port is a TLS port) when set.
    public let tls: Bool

    public init(port: Int? = nil, tls: Bool = false) throws {
        self.port = try port ?? Self.freePort()
        self.tls = tls
        try start()
    }

    /// redis-server's arguments for TLS only on `port` with the test certificates (gateway.pem:
    /// SAN 127.0.0.1, signed by ca.pem); clients need no certificate.
    public static func tlsArguments(port: Int) -> [String] {
        ["--port", "0", "--tls-port", String(port), "--tls-cert-file", TestCertificates.path("gateway.pem"),
         "--tls-key-file", TestCertificates.path("gateway.key"), "--tls-ca-cert-file", TestCertificates.path("ca.pem"),
         "--tls-auth-clients", "no"]
    }

    deinit { stop() }

    public static func executable() throws -> String {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let path = directory + "/redis-server"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        XCTFail("redis-server not found: install it (`make deps` or apt-get install redis-server)")
        throw CocoaError(.fileNoSuchFile)
    }

    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + (tls ? Self.tlsArguments(port: port) : [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Ready when it accepts a connection.
        for _ in 0..<200 {
            if Self.canConnect(port: port) { return }
            usleep(10_000)
        }
        XCTFail("redis-server on port \(port) did not start")
    }

    public func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGCONT)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers. `resume` undoes it.
    public func pause() { if let process { kill(process.processIdentifier, SIGSTOP) } }
    public func resume() { if let process { kill(process.processIdentifier, SIGCONT) } }

    /// Sends one command with redis-cli's wire format over a blocking socket (test-side helper).
    public func command(_ arguments: [String]) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = Self.loopback(port: port)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var text = "*\(arguments.count)\r\n"
        for argument in arguments { text += "$\(argument.utf8.count)\r\n\(argument)\r\n" }
        _ = text.withCString { send(fd, $0, strlen($0), 0) }
        // Redis may send one reply in several writes (an array's header apart from its items):
        // read until the reply is whole.
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Self.endOfReply(reply, from: 0) == nil {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            reply += buffer[0..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// Where the RESP reply starting at `start` ends, or nil while it is incomplete.
    static func endOfReply(_ bytes: [UInt8], from start: Int) -> Int? {
        guard start < bytes.count, let lineEnd = (start..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else {
            return nil
        }
        let number = Int(String(decoding: bytes[(start + 1)..<lineEnd], as: UTF8.self)) ?? 0
        var next = lineEnd + 2
        switch bytes[start] {
        case UInt8(ascii: "$"):
            if number < 0 { return next }
            next += number + 2
            return next <= bytes.count ? next : nil
        case UInt8(ascii: "*"):
            for _ in 0..<max(number, 0) {
                guard let end = endOfReply(bytes, from: next) else { return nil }
                next = end
            }
            return next
        default:
            return next
        }
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
