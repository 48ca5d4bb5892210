import XCTest
import SluiceIO

/// A test case with a real event loop thread, started before each test and joined after it.
open class EventLoopTestCase: XCTestCase {
    public var loop: EventLoop!

    open override func setUp() async throws {
        loop = try EventLoop(index: 0)
        loop.start()
    }

    open override func tearDown() async throws {
        loop.stop()
        loop.join()
    }

    /// Runs `body` as a task whose executor is the loop, and waits for its result.
    public func onLoop<T: Sendable>(_ body: @escaping @Sendable (EventLoop) async throws -> T) async throws -> T {
        let loop = self.loop!
        return try await Task(executorPreference: loop) { try await body(loop) }.value
    }
}
