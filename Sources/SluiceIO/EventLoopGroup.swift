#if canImport(Glibc)
import Glibc
#endif

/// N event loops, one thread each.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]

    /// `count` 0 means one loop per core.
    public init(count: Int) throws(IOError) {
        let n = count > 0 ? count : EventLoopGroup.coreCount
        var loops: [EventLoop] = []
        for index in 0..<n { loops.append(try EventLoop(index: index)) }
        self.loops = loops
    }

    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public func start() { loops.forEach { $0.start() } }

    public func stop() { loops.forEach { $0.stop() } }

    public func join() { loops.forEach { $0.join() } }
}
