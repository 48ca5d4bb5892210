import Foundation
import SluiceIO
import SluiceTestSupport
@testable import SluiceRedis
import XCTest

/// The cluster client against a real 3-primary, 3-replica Redis Cluster on loopback.
final class RedisClusterClientTests: EventLoopTestCase {
    /// One cluster for the tests that leave it as they found it (the failover test makes its own).
    nonisolated(unsafe) static var shared: RedisClusterProcesses?

    override class func tearDown() {
        shared?.stopAll()
        shared = nil
        super.tearDown()
    }

    func sharedCluster() throws -> RedisClusterProcesses {
        if let shared = Self.shared { return shared }
        let cluster = try RedisClusterProcesses()
        Self.shared = cluster
        return cluster
    }

    static func configuration(_ cluster: RedisClusterProcesses, deadline: Duration = .milliseconds(500)) -> RedisClientConfiguration {
        RedisClientConfiguration(host: "", port: 0, clusterSeeds: [RedisNodeAddress(host: "127.0.0.1", port: cluster.ports[0])],
                                 deadline: deadline, breakerFailures: 1000)
    }

    /// Waits (on the loop, bounded) until the client knows every slot and reaches every primary.
    static func waitHealthy(_ client: RedisClient, _ loop: EventLoop) async -> Bool {
        for _ in 0..<400 {
            if client.isConnected { return true }
            await loop.sleep(until: .after(.milliseconds(5)))
        }
        return false
    }

    func testCallsGoToTheirSlotsPrimaryAndScriptsLoadOnEachNode() async throws {
        let cluster = try sharedCluster()
        let configuration = Self.configuration(cluster)
        let outcome = try await onLoop { loop -> (healthy: Bool, sets: Int, values: [Int], sums: [Int], moved: Int, reloads: Int) in
            let client = RedisClient(loop: loop, configuration: configuration)
            defer { client.close() }
            client.start()
            let healthy = await Self.waitHealthy(client, loop)
            let sets = (0..<300).map { client.send(["SET", "route:\($0)", String($0)]) }
            var ok = 0
            for pending in sets { if case .success(.status("OK")) = await pending.reply() { ok += 1 } }
            var values: [Int] = []
            for index in 0..<300 { values.append((try? await client.send(["GET", "route:\(index)"]).reply().get())?.integer ?? -1) }
            // A script on keys of every primary: each node learns it once (NOSCRIPT, then EVAL).
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            var sums: [Int] = []
            for index in 0..<30 { sums.append((try? await client.evaluate(script, keys: ["sum:\(index)"], arguments: ["5"]).reply().get())?.integer ?? -1) }
            return (healthy, ok, values, sums, client.movedRedirects, client.scriptReloads)
        }
        XCTAssertTrue(outcome.healthy, "the client learnt the slot map and connected to every primary")
        XCTAssertEqual(outcome.sets, 300)
        XCTAssertEqual(outcome.values, Array(0..<300))
        XCTAssertEqual(outcome.sums, Array(repeating: 5, count: 30))
        XCTAssertEqual(outcome.moved, 0, "a fresh slot map sends every call to the right node at once")
        XCTAssertEqual(outcome.reloads, 3, "the script was loaded once on each of the 3 primaries")
        // Each key sits on the primary that serves its slot (asked directly, no redirect).
        let primaries = cluster.primaries()
        XCTAssertEqual(primaries.count, 3)
        var total = 0
        for port in primaries {
            let keys = cluster.command(port, ["KEYS", "route:*"]).split(separator: "\n").count
            XCTAssertGreaterThan(keys, 50, "keys spread over every primary")
            total += keys
        }
        XCTAssertEqual(total, 300)
        for index in stride(from: 0, to: 300, by: 37) {
            let slot = RedisHashSlot.of("route:\(index)")
            let owner = try XCTUnwrap(cluster.primary(ofSlot: slot))
            XCTAssertEqual(cluster.command(owner.port, ["GET", "route:\(index)"]), String(index))
        }
    }

    /// An ACL user that may not run CLUSTER SHARDS (as some managed services set it up): the
    /// client authenticates on every node and learns the map from CLUSTER SLOTS instead.
    func testACLUserWithoutShardsLearnsTheMapFromClusterSlots() async throws {
        let cluster = try sharedCluster()
        for port in cluster.ports {
            XCTAssertEqual(cluster.command(port, ["ACL", "SETUSER", "slots-only", "on", ">slots-pass", "~*", "+@all", "-cluster|shards"]), "OK")
        }
        XCTAssertTrue(try RedisClusterProcesses.run(RedisClusterProcesses.cli(), [
            "-p", String(cluster.ports[0]), "--user", "slots-only", "--pass", "slots-pass", "--no-auth-warning", "CLUSTER", "SHARDS",
        ]).contains("NOPERM"), "the user really may not run CLUSTER SHARDS")
        var configuration = Self.configuration(cluster)
        configuration.username = "slots-only"
        configuration.password = "slots-pass"
        let outcome = try await onLoop { [configuration] loop -> (healthy: Bool, values: [String?], whoami: String?) in
            let client = RedisClient(loop: loop, configuration: configuration)
            defer { client.close() }
            client.start()
            let healthy = await Self.waitHealthy(client, loop)
            var values: [String?] = []
            for index in 0..<30 {
                _ = await client.send(["SET", "acl:\(index)", "v\(index)"]).reply()
                values.append(try? await client.send(["GET", "acl:\(index)"]).reply().get().string)
            }
            let whoami = try? await client.execute(["ACL", "WHOAMI"]).get().string
            return (healthy, values, whoami)
        }
        XCTAssertTrue(outcome.healthy)
        XCTAssertEqual(outcome.values, (0..<30).map { "v\($0)" })
        XCTAssertEqual(outcome.whoami, "slots-only")
    }

    /// Moves every key of `slot` from its primary to `target` and tells the cluster; with
    /// `keys` limited, stops half way (source MIGRATING, target IMPORTING: ASK territory).
    static func migrate(_ cluster: RedisClusterProcesses, slot: Int, keys: [String], to target: Int, finish: Bool) throws {
        let source = try XCTUnwrap(cluster.primary(ofSlot: slot))
        let targetID = cluster.nodeID(target)
        XCTAssertEqual(cluster.command(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", source.id]), "OK")
        XCTAssertEqual(cluster.command(source.port, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID]), "OK")
        for key in keys {
            XCTAssertEqual(cluster.command(source.port, ["MIGRATE", "127.0.0.1", String(target), key, "0", "5000"]), "OK")
        }
        guard finish else { return }
        for port in cluster.primaries() {
            _ = cluster.command(port, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetID])
        }
    }

    func testMovedUpdatesTheSlotMap() async throws {
        let cluster = try sharedCluster()
        let configuration = Self.configuration(cluster)
        let slot = RedisHashSlot.of("moving")
        let source = try XCTUnwrap(cluster.primary(ofSlot: slot))
        let target = try XCTUnwrap(cluster.primaries().first { $0 != source.port })
        let outcome = try await onLoop { loop -> (before: String?, after: String?, again: String?, moved: Int, movedAfterRefresh: Int) in
            let client = RedisClient(loop: loop, configuration: configuration)
            defer { client.close() }
            client.start()
            _ = await Self.waitHealthy(client, loop)
            let before = try? await client.send(["SET", "{moving}a", "1"]).reply().get().string
            try Self.migrate(cluster, slot: slot, keys: ["{moving}a"], to: target, finish: true)
            let after = try? await client.send(["GET", "{moving}a"]).reply().get().string
            let moved = client.movedRedirects
            await loop.sleep(until: .after(.milliseconds(300)))  // the refresh the MOVED asked for
            let again = try? await client.send(["GET", "{moving}a"]).reply().get().string
            return (before, after, again, moved, client.movedRedirects)
        }
        XCTAssertEqual(outcome.before, "OK")
        XCTAssertEqual(outcome.after, "1", "the call followed MOVED to the slot's new primary")
        XCTAssertEqual(outcome.again, "1")
        XCTAssertEqual(outcome.moved, 1)
        XCTAssertEqual(outcome.movedAfterRefresh, 1, "the map was corrected: no second MOVED")
        XCTAssertEqual(cluster.primary(ofSlot: slot)?.port, target)
    }

    func testAskReachesAKeyMidMigrationAndReloadsScriptsThere() async throws {
        let cluster = try sharedCluster()
        let configuration = Self.configuration(cluster)
        let slot = RedisHashSlot.of("asking")
        let source = try XCTUnwrap(cluster.primary(ofSlot: slot))
        let target = try XCTUnwrap(cluster.primaries().first { $0 != source.port })
        let script = RedisScript("return 'ask ' .. redis.call('GET', KEYS[1])")
        let outcome = try await onLoop { loop -> (moved: String?, stayed: String?, scripted: String?, ask: Int, moves: Int) in
            let client = RedisClient(loop: loop, configuration: configuration)
            defer { client.close() }
            client.start()
            _ = await Self.waitHealthy(client, loop)
            _ = await client.send(["SET", "{asking}moved", "m"]).reply()
            _ = await client.send(["SET", "{asking}stayed", "s"]).reply()
            try Self.migrate(cluster, slot: slot, keys: ["{asking}moved"], to: target, finish: false)
            let moved = try? await client.send(["GET", "{asking}moved"]).reply().get().string
            let stayed = try? await client.send(["GET", "{asking}stayed"]).reply().get().string
            let scripted = try? await client.evaluate(script, keys: ["{asking}moved"], arguments: []).reply().get().string
            return (moved, stayed, scripted, client.askRedirects, client.movedRedirects)
        }
        XCTAssertEqual(outcome.moved, "m", "ASK: ASKING + GET on the importing node")
        XCTAssertEqual(outcome.stayed, "s", "a key not migrated yet is still served by the source")
        XCTAssertEqual(outcome.scripted, "ask m", "ASK, NOSCRIPT on the target, then ASKING + EVAL there")
        XCTAssertEqual(outcome.ask, 2)
        XCTAssertEqual(outcome.moves, 0, "ASK never changes the slot map")
        try Self.migrate(cluster, slot: slot, keys: [], to: target, finish: false)  // (already importing/migrating: no-op)
        XCTAssertEqual(cluster.command(source.port, ["MIGRATE", "127.0.0.1", String(target), "{asking}stayed", "0", "5000"]), "OK")
        for port in cluster.primaries() { _ = cluster.command(port, ["CLUSTER", "SETSLOT", String(slot), "NODE", cluster.nodeID(target)]) }
    }

    /// A primary dies: its slots' calls fail fast (never past their deadline) until the cluster
    /// promotes its replica and the client's refresh finds it. The other primaries' calls fail
    /// only while the cluster itself says CLUSTERDOWN (full coverage, Redis's default). The
    /// cluster's node timeout is 1 s, so promotion takes about 2 s.
    func testFailoverFailsFastThenRecovers() async throws {
        let cluster = try RedisClusterProcesses()
        defer { cluster.stopAll() }
        var configuration = Self.configuration(cluster, deadline: .milliseconds(50))
        configuration.breakerFailures = RedisClientConfiguration(host: "", port: 0).breakerFailures
        let victimKey = "{victim}n"
        let victim = try XCTUnwrap(cluster.primary(ofSlot: RedisHashSlot.of(victimKey)))
        let bystanderKey = try XCTUnwrap((0..<100).lazy.map { "{bystander\($0)}n" }.first {
            cluster.primary(ofSlot: RedisHashSlot.of($0)).map { $0.port != victim.port } ?? false
        })
        struct Outcome: Sendable {
            var slowest = Duration.zero
            var victimFailures = 0
            var bystanderFailures = 0
            var bystanderClusterDown = 0
            var recoveredAfter: Duration?
        }
        let outcome = try await onLoop { [configuration] loop -> Outcome in
            let client = RedisClient(loop: loop, configuration: configuration)
            defer { client.close() }
            client.start()
            _ = await Self.waitHealthy(client, loop)
            var outcome = Outcome()
            let killed = ContinuousClock.now
            cluster.kill(victim.port)
            var successesInARow = 0
            while ContinuousClock.now - killed < .seconds(10) {
                let started = ContinuousClock.now
                let victimCall = client.send(["INCR", victimKey]), bystanderCall = client.send(["INCR", bystanderKey])
                let victimResult = await victimCall.reply(), bystanderResult = await bystanderCall.reply()
                outcome.slowest = max(outcome.slowest, ContinuousClock.now - started)
                switch bystanderResult {
                case .success(.integer): break
                case .failure(.server(let message)) where message.hasPrefix("CLUSTERDOWN"): outcome.bystanderClusterDown += 1
                default: outcome.bystanderFailures += 1
                }
                if case .success(.integer) = victimResult {
                    successesInARow += 1
                    if successesInARow == 1 { outcome.recoveredAfter = ContinuousClock.now - killed }
                    if successesInARow == 20 { break }
                } else {
                    successesInARow = 0
                    outcome.recoveredAfter = nil
                    outcome.victimFailures += 1
                }
                await loop.sleep(until: .after(.milliseconds(10)))
            }
            return outcome
        }
        XCTAssertGreaterThan(outcome.victimFailures, 0, "calls to the dead primary's slots failed meanwhile")
        XCTAssertLessThan(outcome.slowest, .milliseconds(150), "no call waited much past its 50 ms deadline")
        XCTAssertEqual(outcome.bystanderFailures, 0,
                       "the other primaries' calls failed only as the cluster itself said (CLUSTERDOWN until the failover)")
        let recovered = try XCTUnwrap(outcome.recoveredAfter, "the promoted replica took over within 10 s")
        XCTAssertLessThan(recovered, .seconds(6))
        print("failover: calls to the dead primary's slots failed for \(recovered) (\(outcome.victimFailures) failed calls; "
              + "\(outcome.bystanderClusterDown) CLUSTERDOWN on another primary); slowest call \(outcome.slowest)")
    }

    /// A cluster that speaks TLS only (clients, replication, bus; `port` is 0 in CLUSTER SHARDS):
    /// the client learns the nodes' TLS ports and routes over TLS to every primary.
    func testTLSClusterRoutesOverTLS() async throws {
        let cluster = try RedisClusterProcesses(tls: true)
        defer { cluster.stopAll() }
        var configuration = Self.configuration(cluster)
        configuration.tls = RedisTLSSettings(certificateAuthorities: TestCertificates.path("ca.pem"))
        let outcome = try await onLoop { [configuration] loop -> (healthy: Bool, values: [Int], moved: Int) in
            let client = RedisClient(loop: loop, configuration: configuration)
            defer { client.close() }
            client.start()
            let healthy = await Self.waitHealthy(client, loop)
            for index in 0..<60 { _ = await client.send(["SET", "tls:\(index)", String(index)]).reply() }
            var values: [Int] = []
            for index in 0..<60 { values.append((try? await client.send(["GET", "tls:\(index)"]).reply().get())?.integer ?? -1) }
            return (healthy, values, client.movedRedirects)
        }
        XCTAssertTrue(outcome.healthy)
        XCTAssertEqual(outcome.values, Array(0..<60))
        XCTAssertEqual(outcome.moved, 0)
        XCTAssertEqual(cluster.primaries().count, 3)
        for port in cluster.primaries() {
            XCTAssertGreaterThan(cluster.command(port, ["KEYS", "tls:*"]).split(separator: "\n").count, 5, "keys on every primary")
        }
    }
}

