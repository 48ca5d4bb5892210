import SluiceGuards
import XCTest

/// State across reloads: kept while its configuration is unchanged, fresh when it changes, and
/// untouched by a compile whose stage is never committed (a rejected reload).
final class GuardStateRegistryTests: XCTestCase {
    final class Counter: Sendable {}

    func testUnchangedConfigurationKeepsTheSameState() {
        let registry = GuardStateRegistry()
        let first = registry.stage()
        let a = first.state("ratelimit", "rule-a", configuration: 10) { Counter() }
        registry.commit(first)

        let second = registry.stage()
        XCTAssertTrue(second.state("ratelimit", "rule-a", configuration: 10) { Counter() } === a)
        XCTAssertTrue(second.isRunning("ratelimit", "rule-a", a))
    }

    func testChangedConfigurationStartsFresh() {
        let registry = GuardStateRegistry()
        let first = registry.stage()
        let a = first.state("ratelimit", "rule-a", configuration: 10) { Counter() }
        registry.commit(first)

        let second = registry.stage()
        let b = second.state("ratelimit", "rule-a", configuration: 20) { Counter() }
        XCTAssertFalse(a === b)
        XCTAssertFalse(second.isRunning("ratelimit", "rule-a", b))
    }

    func testAStageThatIsNeverCommittedChangesNothing() {
        let registry = GuardStateRegistry()
        let first = registry.stage()
        let a = first.state("ratelimit", "redis", configuration: "127.0.0.1:6379 5ms") { Counter() }
        registry.commit(first)

        let rejected = registry.stage()
        _ = rejected.state("ratelimit", "redis", configuration: "127.0.0.1:6379 7ms") { Counter() }
        // The rejected stage is dropped; the running state is still the registry's.
        XCTAssertTrue(registry.state("ratelimit", "redis", as: Counter.self) === a)
        XCTAssertTrue(registry.stage().state("ratelimit", "redis", configuration: "127.0.0.1:6379 5ms") { Counter() } === a)
    }

    func testNamesTheNewGenerationDropsAreForgotten() {
        let registry = GuardStateRegistry()
        let first = registry.stage()
        let a = first.state("ratelimit", "rule-a", configuration: 1) { Counter() }
        registry.commit(first)
        registry.commit(registry.stage())  // a generation without rule-a
        XCTAssertNil(registry.state("ratelimit", "rule-a", as: Counter.self))
        XCTAssertFalse(registry.stage().state("ratelimit", "rule-a", configuration: 1) { Counter() } === a)
    }

    func testSameNameInOneStageIsOneState() {
        let registry = GuardStateRegistry()
        let stage = registry.stage()
        let a = stage.state("m", "x", configuration: 1) { Counter() }
        XCTAssertTrue(stage.state("m", "x", configuration: 1) { Counter() } === a)
    }

    func testManualClockMovesOnlyWhenTold() {
        let (clock, advance) = GuardClock.manual(startingAt: 5)
        XCTAssertEqual(clock.microseconds, 5)
        advance(1_000)
        XCTAssertEqual(clock.microseconds, 1_005)
    }
}
