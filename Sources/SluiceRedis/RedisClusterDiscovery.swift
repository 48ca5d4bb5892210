import SluiceIO

/// Learns a cluster's slot map from one of its nodes: a short-lived connection of its own (same
/// handshake as the pipelined ones, AUTH included), `CLUSTER SHARDS`, or `CLUSTER SLOTS` from a
/// server that does not know SHARDS (before Redis 7) or does not let this user run it. Off the request path: calls never wait for
/// it, they fail fast (each rule's failure mode) while no node is known for their slot.
enum RedisClusterDiscovery {
    /// The first map a candidate gives, trying them in order; the last failure when none does.
    static func slotMap(from candidates: [RedisNodeAddress], connector: RedisConnector,
                        loop: EventLoop) async -> Result<RedisSlotMap, RedisError> {
        var lastFailure = RedisError.unavailable("no cluster node to ask")
        for candidate in candidates {
            switch await slotMap(from: candidate, connector: connector.forNode(candidate), loop: loop) {
            case .success(let map): return .success(map)
            case .failure(let error): lastFailure = error
            }
        }
        return .failure(lastFailure)
    }

    static func slotMap(from node: RedisNodeAddress, connector: RedisConnector,
                        loop: EventLoop) async -> Result<RedisSlotMap, RedisError> {
        guard let address = SocketAddress(host: node.host, port: node.port) else {
            return .failure(.unavailable("\(node): not an IP address"))
        }
        let opened = await connector.open(address, on: loop)
        guard case .success(let (transport, reader)) = opened else {
            if case .failure(let error) = opened { return .failure(error) }
            return .failure(.unavailable("\(node)"))
        }
        defer { transport.close() }
        let connection = transport.stream
        let deadline = Deadline.after(connector.configuration.connectTimeout)
        let overTLS = connector.configuration.tls != nil
        switch await ask(["CLUSTER", "SHARDS"], connection, reader, deadline) {
        case .success(.error):
            // Before Redis 7 (unknown subcommand), or not allowed for this ACL user (some managed
            // services allow CLUSTER SLOTS only): CLUSTER SLOTS below, whose error is reported
            // if it fails too ("cluster support disabled" on a single node).
            break
        case .success(let reply):
            guard let map = RedisSlotMap.fromShards(reply, queried: node, tls: overTLS) else { return .failure(.server("unreadable CLUSTER SHARDS reply")) }
            return .success(map)
        case .failure(let error):
            return .failure(error)
        }
        switch await ask(["CLUSTER", "SLOTS"], connection, reader, deadline) {
        case .success(.error(let message)):
            return .failure(.server(message))
        case .success(let reply):
            guard let map = RedisSlotMap.fromSlots(reply, queried: node) else { return .failure(.server("unreadable CLUSTER SLOTS reply")) }
            return .success(map)
        case .failure(let error):
            return .failure(error)
        }
    }

    /// One command on a connection nothing else uses, and its one reply.
    private static func ask(_ arguments: [String], _ connection: any ByteStream, _ reader: RESPReader,
                            _ deadline: Deadline) async -> Result<RedisReply, RedisError> {
        do throws(IOError) {
            try await connection.write(RESPWriter.command(arguments), deadline: deadline)
            let buffer = ByteBuffer(capacity: 16 * 1024)
            while true {
                switch reader.next() {
                case .reply(let reply): return .success(reply)
                case .protocolError: return .failure(.unavailable("protocol error"))
                case .needMore: break
                }
                guard try await connection.read(into: buffer, deadline: deadline) > 0 else {
                    return .failure(.unavailable("closed by redis"))
                }
                guard reader.feed(buffer.readableBytes) else { return .failure(.unavailable("protocol error")) }
                buffer.consume(buffer.readableCount)
            }
        } catch {
            return .failure(.unavailable("\(error)"))
        }
    }
}
