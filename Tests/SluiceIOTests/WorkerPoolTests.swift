import Dispatch
import SluiceIO
import SluiceTestSupport
import Synchronization
import XCTest

/// The bulkhead thread pool: work runs off the loop, results come back on it, and a full queue
/// refuses at once instead of growing.
final class WorkerPoolTests: EventLoopTestCase {
    func testWorkRunsOffTheLoopAndResumesOnIt() async throws {
        let pool = WorkerPool(name: "test", threads: 2, queueLimit: 8)
        pool.start()
        defer { pool.shutdown() }
        let (ranOnLoop, resumedOnLoop, value) = try await onLoop { loop in
            let result = await pool.run(on: loop) { (loop.isOnLoopThread, 6 * 7) }
            return (result?.0, loop.isOnLoopThread, result?.1)
        }
        XCTAssertEqual(ranOnLoop, false, "the work ran on a pool thread")
        XCTAssertEqual(resumedOnLoop, true, "the caller continues on its loop")
        XCTAssertEqual(value, 42)
    }

    func testAFullQueueRefusesAtOnceAndTheLoopStaysResponsive() async throws {
        let pool = WorkerPool(name: "test", threads: 1, queueLimit: 2)
        pool.start()
        defer { pool.shutdown() }
        let gate = DispatchSemaphore(value: 0)
        let firstRunning = Atomic<Bool>(false)
        let results = Mutex<[Int?]>([])
        func submit(_ index: Int) async throws -> Task<Void, Never> {
            try await onLoop { loop in
                loop.spawn {
                    let result = await pool.run(on: loop) { () -> Int in
                        if index == 0 {
                            firstRunning.store(true, ordering: .releasing)
                            gate.wait()
                        }
                        return index
                    }
                    results.withLock { $0.append(result) }
                }
            }
        }
        // The first job holds the only thread; two more wait in the queue; a fourth is refused.
        var tasks = [try await submit(0)]
        for _ in 0..<400 where !firstRunning.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertTrue(firstRunning.load(ordering: .acquiring))
        tasks.append(try await submit(1))
        tasks.append(try await submit(2))
        for _ in 0..<400 where pool.waitingCount < 2 { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(pool.waitingCount, 2)
        let refused = try await onLoop { loop in await pool.run(on: loop) { 3 } }
        XCTAssertNil(refused)
        XCTAssertEqual(pool.refusedCount, 1)
        // The loop is not blocked by the busy pool: a timer on it fires.
        let timerFired = try await onLoop { loop in
            await loop.sleep(until: .after(.milliseconds(10)))
            return true
        }
        XCTAssertTrue(timerFired)
        gate.signal()
        for task in tasks { await task.value }
        XCTAssertEqual(results.withLock { $0.compactMap { $0 }.sorted() }, [0, 1, 2])
        XCTAssertEqual(pool.completedCount, 3)
    }

    func testAJobThatWaitsPastTheQueueTimeoutIsDroppedNotRun() async throws {
        let pool = WorkerPool(name: "test", threads: 1, queueLimit: 4, queueTimeout: .milliseconds(50))
        pool.start()
        defer { pool.shutdown() }
        let gate = DispatchSemaphore(value: 0)
        let secondRan = Atomic<Bool>(false)
        let (first, second, waitedMs): (Int?, Int?, Double) = try await onLoop { loop in
            // The only thread is held by the first job until the second has timed out.
            let blocker = Task(executorPreference: loop) { await pool.run(on: loop) { () -> Int in gate.wait(); return 1 } }
            await loop.sleep(until: .after(.milliseconds(10)))
            let started = Deadline.now
            let second = await pool.run(on: loop) { () -> Int in secondRan.store(true, ordering: .releasing); return 2 }
            let waited = Double(Deadline.now.nanoseconds - started.nanoseconds) / 1e6
            gate.signal()
            return (await blocker.value, second, waited)
        }
        XCTAssertEqual(first, 1)
        XCTAssertNil(second, "dropped at its queue timeout")
        XCTAssertGreaterThanOrEqual(waitedMs, 45)
        XCTAssertLessThan(waitedMs, 1000, "the caller was answered at its timeout, not when a thread came free")
        // The thread takes the dropped job later and skips it.
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertFalse(secondRan.load(ordering: .acquiring))
        XCTAssertEqual(pool.expiredCount, 1)
    }
}
