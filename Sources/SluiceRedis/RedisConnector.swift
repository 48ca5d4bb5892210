import SluiceIO
import SluiceTLS

/// How a client opens a connection to a node: TCP, TLS when configured (one OpenSSL context
/// shared by every connection the client makes), then the handshake (AUTH, SELECT, PING) before
/// any call is sent. Used by the pipelined connections and by cluster discovery.
struct RedisConnector: @unchecked Sendable {  // the TLS context is immutable and safe from every loop
    private(set) var configuration: RedisClientConfiguration
    private let tls: Result<TLSClientContext, TLSError>?

    init(configuration: RedisClientConfiguration) {
        self.configuration = configuration
        tls = configuration.tls.map { settings in Result { () throws(TLSError) in try settings.makeContext() } }
    }

    /// The same connector for another node (a cluster's primary): same settings and TLS context.
    func forNode(_ node: RedisNodeAddress) -> RedisConnector {
        var copy = self
        copy.configuration.host = node.host
        copy.configuration.port = node.port
        copy.configuration.database = 0  // a cluster has database 0 only
        return copy
    }

    func open(_ address: SocketAddress, on loop: EventLoop) async -> Result<(RedisTransport, RESPReader), RedisError> {
        let deadline = Deadline.after(configuration.connectTimeout)
        let transport: RedisTransport
        do throws(IOError) {
            switch tls {
            case nil:
                transport = .tcp(try await TCPConnection.connect(to: address, on: loop, deadline: deadline))
            case .failure(let error)?:
                return .failure(.unavailable("tls: \(error)"))
            case .success(let context)?:
                let name = configuration.tls?.serverName ?? configuration.host
                transport = .tls(try await TLSConnection.connect(to: address, on: loop, context: context, serverName: name,
                                                                 deadline: deadline))
            }
        } catch {
            return .failure(.unavailable("connect: \(error)"))
        }
        var handshake: [UInt8] = []
        var expected = 1
        if !configuration.password.isEmpty {
            // An ACL user names itself; without one, AUTH is the `default` user's (or requirepass).
            handshake += RESPWriter.command(configuration.username.isEmpty ? ["AUTH", configuration.password]
                                                                           : ["AUTH", configuration.username, configuration.password])
            expected += 1
        }
        if configuration.database != 0 {
            handshake += RESPWriter.command(["SELECT", String(configuration.database)])
            expected += 1
        }
        handshake += RESPWriter.command(["PING"])
        let reader = RESPReader()
        let stream = transport.stream
        do throws(IOError) {
            try await stream.write(handshake, deadline: deadline)
            let buffer = ByteBuffer(capacity: 512)
            var replies = 0
            while replies < expected {
                guard try await stream.read(into: buffer, deadline: deadline) > 0 else {
                    transport.close()
                    return .failure(.unavailable("closed during handshake"))
                }
                guard reader.feed(buffer.readableBytes) else { break }
                buffer.consume(buffer.readableCount)
                while case .reply(let reply) = reader.next() {
                    replies += 1
                    if case .error(let message) = reply {
                        transport.close()
                        return .failure(.server(message))
                    }
                }
            }
        } catch {
            transport.close()
            return .failure(.unavailable("handshake: \(error)"))
        }
        return .success((transport, reader))
    }
}
