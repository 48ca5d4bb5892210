@testable import SluiceIdempotency
import XCTest

/// The record state machine under an injected clock (milliseconds): every transition of
/// `RecordBook`'s documentation.
final class RecordBookTests: XCTestCase {
    private let ok = StoredResponse(status: 200, headers: [.init(name: "content-type", value: "application/json")], body: Array("{}".utf8))

    func testFirstClaimWinsAndRetriesSeeInFlightThenTheStoredResponse() {
        var book = RecordBook()
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "a", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 0), .claimed)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 10), .inFlight(owner: "a"))
        XCTAssertEqual(book.complete(["k"], owner: "b", with: .done(ok), ttlMs: 60_000, now: 20), 0, "only the owner completes")
        XCTAssertEqual(book.complete(["k"], owner: "a", with: .done(ok), ttlMs: 60_000, now: 20), 1)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "c", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: true, now: 30), .done(ok))
        // The TTL restarted at completion: still there just before it ends, gone after.
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "d", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 60_019), .done(ok))
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "e", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 60_020), .claimed)
    }

    func testAnotherFingerprintIsAMismatchInEveryState() {
        var book = RecordBook()
        _ = book.claim(["k"], fingerprint: "f", owner: "a", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 0)
        XCTAssertEqual(book.claim(["k"], fingerprint: "g", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: true, now: 1), .mismatch)
        book.complete(["k"], owner: "a", with: .unknown, ttlMs: 60_000, now: 2)
        XCTAssertEqual(book.claim(["k"], fingerprint: "g", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: true, now: 3), .mismatch)
        book.complete(["k"], owner: "a", with: .done(ok), ttlMs: 60_000, now: 4)
        XCTAssertEqual(book.claim(["k"], fingerprint: "g", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: true, now: 5), .mismatch)
    }

    func testAReleasedClaimLetsTheRetryThrough() {
        var book = RecordBook()
        _ = book.claim(["k"], fingerprint: "f", owner: "a", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 0)
        book.complete(["k"], owner: "a", with: .release, ttlMs: 60_000, now: 1)
        XCTAssertEqual(book.claim(["k"], fingerprint: "other", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 2), .claimed)
    }

    func testAnAbandonedClaimBecomesUnknownNeverFree() {
        var book = RecordBook()
        _ = book.claim(["k"], fingerprint: "f", owner: "a", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 0)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 1000), .inFlight(owner: "a"))
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 1001), .unknown)
        XCTAssertEqual(book.records["k"]?.state, .unknown)
        // The late owner can still say what happened.
        XCTAssertEqual(book.complete(["k"], owner: "a", with: .done(ok), ttlMs: 60_000, now: 1500), 1)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "c", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 1600), .done(ok))
    }

    /// A TTL shorter than the request's time (ttl 2 s, lease 15 s): the record must not expire
    /// while its request is in flight (a retry at 3 s executed the order again), and an unknown
    /// outcome is kept for the TTL from the moment it is known.
    func testARecordOutlivesItsLeaseWhateverTheTTL() {
        var book = RecordBook()
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "a", leaseMs: 15_000, ttlMs: 2_000, reclaimUnknown: false, now: 0), .claimed)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 15_000, ttlMs: 2_000, reclaimUnknown: false, now: 3_000),
                       .inFlight(owner: "a"))
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 15_000, ttlMs: 2_000, reclaimUnknown: false, now: 14_999),
                       .inFlight(owner: "a"))
        XCTAssertEqual(book.complete(["k"], owner: "a", with: .unknown, ttlMs: 2_000, now: 14_999), 1)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 15_000, ttlMs: 2_000, reclaimUnknown: false, now: 16_000),
                       .unknown, "still there: kept the TTL from when it turned unknown")
    }

    func testUnknownIsReclaimedOnlyWhenTheRuleForwardsIt() {
        var book = RecordBook()
        _ = book.claim(["k"], fingerprint: "f", owner: "a", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 0)
        book.complete(["k"], owner: "a", with: .unknown, ttlMs: 60_000, now: 1)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 2), .unknown)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: true, now: 3), .claimed)
        XCTAssertEqual(book.claim(["k"], fingerprint: "f", owner: "c", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: true, now: 4), .inFlight(owner: "b"),
                       "the re-forwarded retry holds the key like a first request")
        XCTAssertEqual(book.complete(["k"], owner: "a", with: .release, ttlMs: 60_000, now: 5), 0, "the first owner lost the record")
    }

    func testAllOfARequestsKeysAreClaimedTogether() {
        var book = RecordBook()
        // The original: header key h1 and the order's business key.
        XCTAssertEqual(book.claim(["h1", "order"], fingerprint: "f", owner: "a", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 0),
                       .claimed)
        // A retry with a fresh header key finds the order in flight, and claims nothing.
        XCTAssertEqual(book.claim(["h2", "order"], fingerprint: "f", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 1),
                       .inFlight(owner: "a"))
        XCTAssertNil(book.records["h2"])
        XCTAssertEqual(book.complete(["h1", "order"], owner: "a", with: .done(ok), ttlMs: 60_000, now: 2), 2)
        XCTAssertEqual(book.claim(["h2", "order"], fingerprint: "f", owner: "b", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 3),
                       .done(ok))
        // The same header key on another order: the header record's fingerprint says reuse.
        XCTAssertEqual(book.claim(["h1", "order-2"], fingerprint: "g", owner: "c", leaseMs: 1000, ttlMs: 60_000, reclaimUnknown: false, now: 4),
                       .mismatch)
        XCTAssertNil(book.records["order-2"])
    }
}
