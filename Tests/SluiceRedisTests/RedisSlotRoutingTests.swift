@testable import SluiceRedis
import XCTest

/// The pure parts of cluster routing: key → slot, command → slot, redirects, the slot map.
/// Expected slots are what `CLUSTER KEYSLOT` answers on redis-server 7.0.
final class RedisSlotRoutingTests: XCTestCase {
    func testCRC16IsXmodem() {
        XCTAssertEqual(RedisHashSlot.crc16(Array("123456789".utf8)), 0x31C3, "the check value of CRC-16/XMODEM")
    }

    func testSlotsMatchRedis() {
        let expected: [(String, Int)] = [
            ("foo", 12182), ("bar", 5061), ("user1000", 3443), ("{user1000}.following", 3443),
            ("foo{}{bar}", 8363),       // empty first tag: the whole key is hashed
            ("foo{{bar}}zap", 4015),    // the tag is "{bar": from the first { to the first } after it
            ("foo{bar}{zap}", 5061),    // only the first tag counts
            ("{}foo", 9500), ("rl:{pay|1900000001}", 5362),
        ]
        for (key, slot) in expected { XCTAssertEqual(RedisHashSlot.of(key), slot, key) }
    }

    func testCommandSlotReadsTheFirstKey() {
        XCTAssertEqual(RedisCommandSlot.of(RESPWriter.command(["SET", "foo", "1", "NX"])), 12182)
        XCTAssertEqual(RedisCommandSlot.of(RESPWriter.command(["get", "{user1000}.x"])), 3443)
        let script = RedisScript("return 1")
        XCTAssertEqual(RedisCommandSlot.of(script.command(keys: ["bar", "{bar}x"], arguments: ["7"])), 5061)
        var head = script.evalshaHead(keys: 1, arguments: 1)
        RESPWriter.appendBulk("rl:{pay|1900000001}".utf8, to: &head)
        RESPWriter.appendBulk(3, to: &head)
        XCTAssertEqual(RedisCommandSlot.of(head), 5362, "the guards' pre-formatted EVALSHA")
    }

    func testKeylessCommandsHaveNoSlot() {
        XCTAssertNil(RedisCommandSlot.of(RESPWriter.command(["PING"])))
        XCTAssertNil(RedisCommandSlot.of(RESPWriter.command(["SCRIPT", "FLUSH"])))
        XCTAssertNil(RedisCommandSlot.of(RedisScript("return 1").command(keys: [], arguments: ["1"])), "a script without keys")
        XCTAssertNil(RedisCommandSlot.of(Array("not resp".utf8)))
        XCTAssertNil(RedisCommandSlot.of(Array("*2\r\n$3\r\nGET\r\n$9\r\nshort\r\n".utf8)), "a bulk longer than the bytes")
    }

    func testRedirectsAreParsed() {
        let node = RedisNodeAddress(host: "10.0.0.1", port: 7000)
        XCTAssertEqual(RedisRedirect(error: "MOVED 12182 127.0.0.1:17003", from: node),
                       RedisRedirect(kind: .moved, slot: 12182, target: RedisNodeAddress(host: "127.0.0.1", port: 17003)))
        XCTAssertEqual(RedisRedirect(error: "ASK 5 127.0.0.1:17002", from: node)?.kind, .ask)
        XCTAssertEqual(RedisRedirect(error: "MOVED 1 :7002", from: node)?.target, RedisNodeAddress(host: "10.0.0.1", port: 7002),
                       "an empty host is the answering node's")
        XCTAssertEqual(RedisRedirect(error: "MOVED 1 [::1]:7002", from: node)?.target, RedisNodeAddress(host: "::1", port: 7002))
        XCTAssertNil(RedisRedirect(error: "MOVED 16384 127.0.0.1:1", from: node), "no such slot")
        XCTAssertNil(RedisRedirect(error: "ERR wrong number of arguments", from: node))
        XCTAssertNil(RedisRedirect(error: "MOVEDX 1 127.0.0.1:1", from: node))
    }

    /// The shape redis-server 7.0 answers CLUSTER SHARDS with (RESP2: flat name/value lists).
    static func shard(_ slots: [Int], primary: (String, Int), replica: (String, Int)) -> RedisReply {
        func node(_ address: (String, Int), role: String, endpoint: String? = nil) -> RedisReply {
            .array([.bulk(Array("id".utf8)), .bulk(Array("c1e16e905419af74561ba388db4984dfdb89c6ba".utf8)),
                    .bulk(Array("port".utf8)), .integer(address.1), .bulk(Array("ip".utf8)), .bulk(Array(address.0.utf8)),
                    .bulk(Array("endpoint".utf8)), .bulk(Array((endpoint ?? address.0).utf8)),
                    .bulk(Array("role".utf8)), .bulk(Array(role.utf8)), .bulk(Array("replication-offset".utf8)), .integer(0),
                    .bulk(Array("health".utf8)), .bulk(Array("online".utf8))])
        }
        return .array([.bulk(Array("slots".utf8)), .array(slots.map { .integer($0) }),
                       .bulk(Array("nodes".utf8)), .array([node(replica, role: "replica"), node(primary, role: "master")])])
    }

    func testSlotMapFromShards() throws {
        let reply = RedisReply.array([
            Self.shard([0, 5460], primary: ("127.0.0.1", 17001), replica: ("127.0.0.1", 17004)),
            Self.shard([5461, 10922], primary: ("127.0.0.1", 17002), replica: ("127.0.0.1", 17005)),
            Self.shard([10923, 16000, 16001, 16383], primary: ("127.0.0.1", 17003), replica: ("127.0.0.1", 17006)),
        ])
        let map = try XCTUnwrap(RedisSlotMap.fromShards(reply, queried: RedisNodeAddress(host: "127.0.0.1", port: 17001)))
        XCTAssertEqual(map.coveredSlots, 16384)
        XCTAssertEqual(map.primaries.map(\.port), [17001, 17002, 17003], "replicas are never routed to")
        XCTAssertEqual(map.owner(ofSlot: 0).map { map.primaries[$0].port }, 17001)
        XCTAssertEqual(map.owner(ofSlot: 5461).map { map.primaries[$0].port }, 17002)
        XCTAssertEqual(map.owner(ofSlot: 16383).map { map.primaries[$0].port }, 17003)
        XCTAssertNil(RedisSlotMap.fromShards(.array([.array([.bulk(Array("slots".utf8))])]), queried: RedisNodeAddress(host: "h", port: 1)))
    }

    func testSlotMapFromSlotsWithPartialCoverage() throws {
        func range(_ start: Int, _ end: Int, _ host: String, _ port: Int) -> RedisReply {
            .array([.integer(start), .integer(end), .array([.bulk(Array(host.utf8)), .integer(port), .bulk(Array("id".utf8))])])
        }
        let reply = RedisReply.array([range(0, 99, "127.0.0.1", 7001), range(100, 199, "", 7002), range(200, 299, "?", 7003)])
        let map = try XCTUnwrap(RedisSlotMap.fromSlots(reply, queried: RedisNodeAddress(host: "10.1.1.1", port: 7001)))
        XCTAssertEqual(map.coveredSlots, 200, "an unknown endpoint leaves its range uncovered")
        XCTAssertEqual(map.owner(ofSlot: 150).map { map.primaries[$0] }, RedisNodeAddress(host: "10.1.1.1", port: 7002))
        XCTAssertNil(map.owner(ofSlot: 250))
    }

    func testMovedSlotIsReassigned() {
        var map = RedisSlotMap()
        let a = RedisNodeAddress(host: "127.0.0.1", port: 1), b = RedisNodeAddress(host: "127.0.0.1", port: 2)
        map.assign(0...16383, to: a)
        map.assign(42...42, to: b)
        XCTAssertEqual(map.owner(ofSlot: 42).map { map.primaries[$0] }, b)
        XCTAssertEqual(map.owner(ofSlot: 43).map { map.primaries[$0] }, a)
        XCTAssertEqual(map.primaries, [a, b])
        XCTAssertEqual(map.coveredSlots, 16384)
    }
}
