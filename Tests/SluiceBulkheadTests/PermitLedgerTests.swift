@testable import SluiceBulkhead
import XCTest

/// The permit ledger's transitions: FIFO waiting, the queue bound, merchant shares, cancels.
final class PermitLedgerTests: XCTestCase {
    func testPermitsThenTheQueueThenRefusals() {
        var ledger = PermitLedger(limit: 2, queueLimit: 1, merchantCap: nil)
        XCTAssertEqual(ledger.acquire(id: 1, merchant: nil), .granted)
        XCTAssertEqual(ledger.acquire(id: 2, merchant: nil), .granted)
        XCTAssertFalse(ledger.wouldGrant(merchant: nil))
        XCTAssertEqual(ledger.acquire(id: 3, merchant: nil), .queued)
        XCTAssertEqual(ledger.acquire(id: 4, merchant: nil), .full)
        XCTAssertEqual(ledger.release(merchant: nil), [3], "the waiter gets the permit at once")
        XCTAssertEqual(ledger.held, 2)
        XCTAssertEqual(ledger.release(merchant: nil), [])
        XCTAssertEqual(ledger.release(merchant: nil), [])
        XCTAssertEqual(ledger.held, 0)
        XCTAssertEqual(ledger.release(merchant: nil), [], "an extra release never goes below zero")
        XCTAssertEqual(ledger.held, 0)
    }

    func testWaitersAreServedInOrderAndNewcomersNeverOvertake() {
        var ledger = PermitLedger(limit: 1, queueLimit: 3, merchantCap: nil)
        XCTAssertEqual(ledger.acquire(id: 1, merchant: nil), .granted)
        XCTAssertEqual(ledger.acquire(id: 2, merchant: nil), .queued)
        XCTAssertEqual(ledger.acquire(id: 3, merchant: nil), .queued)
        XCTAssertEqual(ledger.release(merchant: nil), [2])
        XCTAssertEqual(ledger.acquire(id: 4, merchant: nil), .queued)
        XCTAssertEqual(ledger.release(merchant: nil), [3])
        XCTAssertEqual(ledger.release(merchant: nil), [4])
    }

    func testARaisedLimitGrantsWaitersAndALoweredOneTakesNothingBack() {
        var ledger = PermitLedger(limit: 2, queueLimit: 4, merchantCap: nil)
        XCTAssertEqual(ledger.acquire(id: 1, merchant: nil), .granted)
        XCTAssertEqual(ledger.acquire(id: 2, merchant: nil), .granted)
        XCTAssertEqual(ledger.acquire(id: 3, merchant: nil), .queued)
        XCTAssertEqual(ledger.acquire(id: 4, merchant: nil), .queued)
        XCTAssertEqual(ledger.setLimit(3), [3], "room for one more: the longest waiter")
        XCTAssertEqual(ledger.held, 3)
        XCTAssertEqual(ledger.setLimit(1), [], "nothing held is taken back")
        XCTAssertEqual(ledger.held, 3)
        XCTAssertEqual(ledger.release(merchant: nil), [], "over the new limit: not handed on")
        XCTAssertEqual(ledger.release(merchant: nil), [])
        XCTAssertEqual(ledger.release(merchant: nil), [4], "under it again: the waiter gets it")
        XCTAssertEqual(ledger.setLimit(0), [], "never below 1")
        XCTAssertEqual(ledger.limit, 1)
    }

    func testACancelledWaiterLeavesTheQueueOnce() {
        var ledger = PermitLedger(limit: 1, queueLimit: 2, merchantCap: nil)
        _ = ledger.acquire(id: 1, merchant: nil)
        _ = ledger.acquire(id: 2, merchant: nil)
        _ = ledger.acquire(id: 3, merchant: nil)
        XCTAssertTrue(ledger.cancel(id: 2))
        XCTAssertFalse(ledger.cancel(id: 2))
        XCTAssertEqual(ledger.release(merchant: nil), [3])
        XCTAssertFalse(ledger.cancel(id: 3), "granted already: too late to cancel")
    }

    func testOneMerchantCannotTakeMoreThanItsShareOfPermitsAndQueue() {
        // 4 permits, share 0.5: a merchant may hold or wait for 2.
        var ledger = PermitLedger(limit: 4, queueLimit: 4, merchantCap: BulkheadPolicy.capFor(limit: 4, share: 0.5))
        XCTAssertEqual(ledger.acquire(id: 1, merchant: "hot"), .granted)
        XCTAssertEqual(ledger.acquire(id: 2, merchant: "hot"), .granted)
        XCTAssertEqual(ledger.acquire(id: 3, merchant: "hot"), .merchantShareExceeded)
        XCTAssertFalse(ledger.wouldGrant(merchant: "hot"))
        XCTAssertTrue(ledger.wouldGrant(merchant: "calm"))
        XCTAssertEqual(ledger.acquire(id: 4, merchant: "calm"), .granted)
        XCTAssertEqual(ledger.acquire(id: 5, merchant: nil), .granted, "requests without a merchant are not capped")
        XCTAssertEqual(ledger.acquire(id: 6, merchant: "calm"), .queued)
        XCTAssertEqual(ledger.acquire(id: 7, merchant: "calm"), .merchantShareExceeded, "waiting counts against the share")
        XCTAssertEqual(ledger.release(merchant: "hot"), [6])
        XCTAssertEqual(ledger.acquire(id: 8, merchant: "hot"), .queued, "hot is under its share again")
        XCTAssertEqual(ledger.merchantLoad, ["hot": 2, "calm": 2])
        XCTAssertTrue(ledger.cancel(id: 8))
        XCTAssertEqual(ledger.merchantLoad, ["hot": 1, "calm": 2])
    }

    func testMerchantCapRoundsUpToAtLeastOne() {
        var policy = BulkheadPolicy(name: "b", maxConcurrent: 10)
        policy.merchantShare = 0.25
        XCTAssertEqual(policy.merchantCap, 3)
        policy.merchantShare = 0.01
        XCTAssertEqual(policy.merchantCap, 1)
        policy.merchantShare = nil
        XCTAssertNil(policy.merchantCap)
    }
}
