import XCTest
import SluiceMockPayments

final class LatencyDistributionTests: XCTestCase {
    func testParsesEveryKind() throws {
        XCTAssertEqual(try LatencyDistribution.parse("none"), .none)
        XCTAssertEqual(try LatencyDistribution.parse("5ms"), .fixed(ms: 5))
        XCTAssertEqual(try LatencyDistribution.parse("fixed:1.5s"), .fixed(ms: 1500))
        XCTAssertEqual(try LatencyDistribution.parse("uniform:200us-10ms"), .uniform(lowMs: 0.2, highMs: 10))
        XCTAssertEqual(try LatencyDistribution.parse("lognormal:median=5ms,sigma=0.8"), .lognormal(medianMs: 5, sigma: 0.8, maxMs: nil))
        XCTAssertEqual(try LatencyDistribution.parse("pareto:min=2ms,alpha=1.5,max=2s"), .pareto(minMs: 2, alpha: 1.5, maxMs: 2000))
    }

    func testRejectsBadTextWithAReason() {
        for bad in ["fast", "fixed:5", "uniform:10ms-1ms", "lognormal:median=5ms", "pareto:min=2ms,alpha=0",
                    "lognormal:median=5ms,sigma=1,tail=3", "gamma:k=2"] {
            XCTAssertThrowsError(try LatencyDistribution.parse(bad), bad) { error in
                XCTAssertTrue("\(error)".contains(bad), "\(error)")
            }
        }
    }

    func testDescriptionRoundTrips() throws {
        for text in ["none", "fixed:5ms", "uniform:1ms-10ms", "lognormal:median=5ms,sigma=0.8,max=2000ms", "pareto:min=2ms,alpha=1.5"] {
            let d = try LatencyDistribution.parse(text)
            XCTAssertEqual(try LatencyDistribution.parse(d.description), d)
        }
    }

    /// Seeded draws: the empirical median and the tail match the parameters.
    func testSamplesFollowTheParameters() throws {
        var rng = SplitMix64(seed: 42)
        func draws(_ d: LatencyDistribution, _ n: Int = 20000) -> [Double] {
            (0..<n).map { _ in d.sample(using: &rng) }.sorted()
        }
        let uniform = draws(.uniform(lowMs: 1, highMs: 3))
        XCTAssertGreaterThanOrEqual(uniform.first!, 1)
        XCTAssertLessThanOrEqual(uniform.last!, 3)
        XCTAssertEqual(uniform[10000], 2, accuracy: 0.05)

        let lognormal = draws(.lognormal(medianMs: 5, sigma: 1, maxMs: nil))
        XCTAssertEqual(lognormal[10000], 5, accuracy: 0.3)
        // p99 of exp(N(ln 5, 1)) = 5 · e^2.326 ≈ 51 ms
        XCTAssertEqual(lognormal[19800], 51, accuracy: 8)

        let pareto = draws(.pareto(minMs: 2, alpha: 1.5, maxMs: 100))
        XCTAssertGreaterThanOrEqual(pareto.first!, 2)
        XCTAssertLessThanOrEqual(pareto.last!, 100)
        XCTAssertEqual(pareto[10000], LatencyDistribution.pareto(minMs: 2, alpha: 1.5, maxMs: nil).medianMs, accuracy: 0.15)

        XCTAssertEqual(Set(draws(.fixed(ms: 7), 10)), [7])
    }
}
