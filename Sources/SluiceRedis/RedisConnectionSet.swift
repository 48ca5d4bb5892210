import SluiceIO

/// One Redis client per event loop (a single node's connection or a cluster's connections),
/// indexed by the loop's index.
public final class RedisConnectionSet: Sendable {
    public let configuration: RedisClientConfiguration
    private let clients: [RedisClient]

    public init(loops: [EventLoop], configuration: RedisClientConfiguration) {
        self.configuration = configuration
        clients = loops.map { RedisClient(loop: $0, configuration: configuration) }
    }

    /// The client of the loop with this index (use it on that loop only).
    public subscript(loopIndex: Int) -> RedisClient { clients[loopIndex] }

    public var count: Int { clients.count }

    /// Starts every client on its own loop. Safe from any thread.
    public func start() {
        for client in clients {
            client.loop.execute { client.start() }
        }
    }

    /// Closes every client on its own loop. Safe from any thread.
    public func close() {
        for client in clients {
            client.loop.execute { client.close() }
        }
    }

    /// Nothing uses the set any more (the last policy generation holding it was retired): its
    /// clients close, each on its loop. Closing twice is harmless.
    deinit {
        close()
    }
}
