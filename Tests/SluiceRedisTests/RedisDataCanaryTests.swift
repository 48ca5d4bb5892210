@testable import SluiceRedis
import XCTest

/// What a reply to the canary's `SET key token NX GET` says, for a connection that saw a token
/// before or none.
final class RedisDataCanaryTests: XCTestCase {
    let a = Array("aaaa".utf8), b = Array("bbbb".utf8), offered = Array("cccc".utf8)

    func testTheFirstTokenSeenIsNothingToCompareWith() {
        XCTAssertEqual(RedisDataCanary.judge(seen: nil, offered: offered, reply: .null)?.verdict, .firstSeen)
        XCTAssertEqual(RedisDataCanary.judge(seen: nil, offered: offered, reply: .null)?.token, offered, "made with ours")
        XCTAssertEqual(RedisDataCanary.judge(seen: nil, offered: offered, reply: .bulk(a))?.token, a, "another gateway's")
    }

    func testTheSameTokenIsKeptAndAMissingOrNewOneIsALoss() {
        XCTAssertEqual(RedisDataCanary.judge(seen: a, offered: offered, reply: .bulk(a))?.verdict, .kept)
        XCTAssertEqual(RedisDataCanary.judge(seen: a, offered: offered, reply: .null)?.verdict, .lost, "missing: made anew by us")
        let remade = RedisDataCanary.judge(seen: a, offered: offered, reply: .bulk(b))
        XCTAssertEqual(remade?.verdict, .lost, "made anew by another gateway")
        XCTAssertEqual(remade?.token, b)
    }

    func testAnErrorSaysNothing() {
        XCTAssertNil(RedisDataCanary.judge(seen: a, offered: offered, reply: .error("ERR syntax error")))
    }

    func testEachLossIsNotedOncePerProcess() {
        let canary = RedisDataCanary()
        XCTAssertTrue(canary.noteLoss(token: a))
        XCTAssertFalse(canary.noteLoss(token: a), "another loop seeing the same new token")
        XCTAssertTrue(canary.noteLoss(token: b))
        XCTAssertEqual(canary.lossesNoticed, 2)
    }
}
