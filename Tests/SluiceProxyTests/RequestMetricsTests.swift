@testable import SluiceProxy
import XCTest

/// The per-loop request counters: classes, buckets, the last-series shortcut, and sums of loops.
final class RequestMetricsTests: XCTestCase {
    func testCountsByClassAndBucketAndSumsAcrossLoops() {
        let a = RequestMetrics(), b = RequestMetrics()
        a.record(listener: "public", route: "pay", status: 200, nanoseconds: 800_000)        // ≤ 1 ms
        a.record(listener: "public", route: "pay", status: 503, nanoseconds: 3_000_000)      // ≤ 5 ms
        a.record(listener: "public", route: "query", status: 200, nanoseconds: 20_000_000_000)  // above 10 s
        a.record(listener: "public", route: "pay", status: 201, nanoseconds: 1_000_000)      // back to pay: exactly 1 ms
        b.record(listener: "public", route: "pay", status: 404, nanoseconds: 100)
        b.record(listener: "admin", route: nil, status: 99, nanoseconds: 100)
        let total = RequestMetrics.sum([a.snapshot(), b.snapshot()])
        let pay = total["public"]?["pay"]
        XCTAssertEqual(pay?.byClass, [0, 2, 0, 1, 1, 0])
        XCTAssertEqual(pay?.buckets[0], 3, "800 µs, 1 ms (bounds are inclusive) and 100 ns")
        XCTAssertEqual(pay?.buckets[2], 1)
        XCTAssertEqual(pay?.sumNanoseconds, 4_800_100)
        XCTAssertEqual(total["public"]?["query"]?.buckets.last, 1)
        XCTAssertEqual(total["admin"]?[""]?.byClass[5], 1, "no route, odd status: counted as other")
    }

    func testUpstreamSeriesPerClusterAndEndpointThroughTheLastSeriesShortcut() {
        let metrics = RequestMetrics()
        metrics.recordUpstream(cluster: "pay", endpoint: "10.0.0.1:80", failure: nil, nanoseconds: 10)
        metrics.recordUpstream(cluster: "pay", endpoint: "10.0.0.1:80", failure: "upstream_timeout", nanoseconds: 20)
        metrics.recordUpstream(cluster: "pay", endpoint: "10.0.0.2:80", failure: nil, nanoseconds: 40)
        metrics.recordUpstream(cluster: "query", endpoint: "10.0.0.1:80", failure: nil, nanoseconds: 80)
        metrics.recordUpstream(cluster: "pay", endpoint: "10.0.0.1:80", failure: nil, nanoseconds: 160)
        let snapshot = metrics.upstreamSnapshot()
        XCTAssertEqual(snapshot["pay"]?["10.0.0.1:80"]?.answered, 2)
        XCTAssertEqual(snapshot["pay"]?["10.0.0.1:80"]?.failures, ["upstream_timeout": 1])
        XCTAssertEqual(snapshot["pay"]?["10.0.0.1:80"]?.sumNanoseconds, 190)
        XCTAssertEqual(snapshot["pay"]?["10.0.0.2:80"]?.answered, 1)
        XCTAssertEqual(snapshot["query"]?["10.0.0.1:80"]?.sumNanoseconds, 80, "same endpoint, other cluster: its own series")
    }

    /// The backend's answer time (request sent to response head) fills its own histogram; a try
    /// without an answer (a timeout, a reset) is in none of its buckets.
    func testUpstreamAnswerTimesFillAHistogramPerEndpoint() {
        let a = RequestMetrics(), b = RequestMetrics()
        a.recordUpstream(cluster: "pay", endpoint: "10.0.0.1:80", failure: nil, nanoseconds: 9_000_000, answerNanoseconds: 2_000_000)
        a.recordUpstream(cluster: "pay", endpoint: "10.0.0.1:80", failure: "upstream_timeout", nanoseconds: 5_000_000_000)
        b.recordUpstream(cluster: "pay", endpoint: "10.0.0.1:80", failure: nil, nanoseconds: 700_000, answerNanoseconds: 600_000)
        b.recordUpstream(cluster: "pay", endpoint: "10.0.0.1:80", failure: nil, nanoseconds: 30_000_000_000,
                         answerNanoseconds: 20_000_000_000)
        let series = RequestMetrics.sum([a.upstreamSnapshot(), b.upstreamSnapshot()])["pay"]?["10.0.0.1:80"]
        XCTAssertEqual(series?.answerBuckets[0], 1, "600 µs")
        XCTAssertEqual(series?.answerBuckets[1], 1, "2 ms")
        XCTAssertEqual(series?.answerBuckets.last, 1, "20 s: above every bound")
        XCTAssertEqual(series?.answerBuckets.reduce(0, +), 3, "the timeout has no answer time")
        XCTAssertEqual(series?.answerSumNanoseconds, 20_002_600_000)
        XCTAssertEqual(series?.answered, 3)
    }
}
