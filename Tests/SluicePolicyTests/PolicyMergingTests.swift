import SluicePolicy
import XCTest

/// Loading from sources: defaults, merging across files, and positions in errors.
final class PolicyMergingTests: XCTestCase {
    private let listenerFile = (path: "p/a-gateway.yaml", text: """
        listeners:
          - name: public
            address: 127.0.0.1:8080
        """)

    func testDefaultsFillEveryOmittedSetting() throws {
        let snapshot = try PolicyLoader.load(sources: [listenerFile, (path: "p/b.yaml", text: """
            clusters:
              - name: backend
                endpoints: [127.0.0.1:9001]
            routes:
              - name: all
                class: noncore
                match: {prefix: /}
                cluster: backend
            """)])
        XCTAssertEqual(snapshot.server.workers, 0)
        XCTAssertEqual(snapshot.server.accessLog, .stdout)
        XCTAssertEqual(snapshot.server.drainTimeout, .seconds(20))

        let listener = try XCTUnwrap(snapshot.listeners.first)
        XCTAssertEqual(listener.protocol, .http1)
        XCTAssertEqual(listener.headerTimeout, .seconds(10))
        XCTAssertEqual(listener.idleTimeout, .seconds(60))
        XCTAssertEqual(listener.maxHeaderBytes, 32 * 1024)
        XCTAssertEqual(listener.maxURIBytes, 8 * 1024)

        let cluster = try XCTUnwrap(snapshot.cluster(named: "backend"))
        XCTAssertEqual(cluster.balance, .roundRobin)
        XCTAssertEqual(cluster.connectTimeout, .seconds(1))
        XCTAssertEqual(cluster.maxIdlePerEndpoint, 64)
        XCTAssertEqual(cluster.idleTimeout, .seconds(60))

        let route = try XCTUnwrap(snapshot.routes.first)
        XCTAssertNil(route.match.methods)
        XCTAssertNil(route.match.host)
        XCTAssertTrue(route.match.headers.isEmpty)
        XCTAssertEqual(route.perTryTimeout, .seconds(15))
        XCTAssertEqual(route.totalTimeout, .seconds(30))
        XCTAssertEqual(route.maxBodyBytes, 1024 * 1024)
    }

    func testListsConcatenateInSourceOrderAndServerComesFromItsOneFile() throws {
        let snapshot = try PolicyLoader.load(sources: [
            listenerFile,
            (path: "p/b-more.yaml", text: """
                server: {workers: 3, access_log: off, drain_timeout: 5s}
                listeners:
                  - {name: admin, address: "[::1]:9901"}
                clusters:
                  - {name: one, endpoints: [127.0.0.1:9001]}
                routes:
                  - {name: first, class: core, match: {path: /a}, cluster: two}
                """),
            (path: "p/c-more.yaml", text: """
                clusters:
                  - {name: two, endpoints: [127.0.0.1:9002, 127.0.0.1:9003]}
                routes:
                  - {name: second, class: noncore, match: {prefix: /b/}, cluster: one}
                """),
        ])
        XCTAssertEqual(snapshot.listeners.map(\.name), ["public", "admin"])
        XCTAssertEqual(snapshot.clusters.map(\.name), ["one", "two"])
        XCTAssertEqual(snapshot.routes.map(\.name), ["first", "second"])
        XCTAssertEqual(snapshot.sourceFiles, ["p/a-gateway.yaml", "p/b-more.yaml", "p/c-more.yaml"])
        XCTAssertEqual(snapshot.server.workers, 3)
        XCTAssertEqual(snapshot.server.accessLog, .off)
        XCTAssertEqual(snapshot.listeners[1].address, EndpointAddress(host: "::1", port: 9901))
        XCTAssertEqual(snapshot.cluster(named: "two")?.endpoints.count, 2)
        XCTAssertNil(snapshot.cluster(named: "three"))
    }

    func testRouteMatchIsNormalisedForTheRouter() throws {
        let snapshot = try PolicyLoader.load(sources: [listenerFile, (path: "p/r.yaml", text: """
            clusters: [{name: c, endpoints: [127.0.0.1:1]}]
            routes:
              - name: r
                class: core
                match: {methods: [POST, POST, PUT], path: /x, host: API.Example.COM, headers: {X-Env: Prod}}
                cluster: c
                timeouts: {total: 5s}
            """)])
        let route = try XCTUnwrap(snapshot.routes.first)
        XCTAssertEqual(route.match.methods, ["POST", "PUT"])
        XCTAssertEqual(route.match.path, .exact("/x"))
        XCTAssertEqual(route.match.host, "api.example.com")
        XCTAssertEqual(route.match.headers.map(\.name), ["x-env"])
        XCTAssertEqual(route.match.headers.map(\.value), ["Prod"])
        // per_try omitted: the default, capped at total.
        XCTAssertEqual(route.perTryTimeout, .seconds(5))
        XCTAssertEqual(route.totalTimeout, .seconds(5))
    }

    func testAllErrorsAreCollectedInFileOrderWithPositions() {
        XCTAssertThrowsError(try PolicyLoader.load(sources: [
            (path: "p/b.yaml", text: "routes:\n  - {name: r, class: core, match: {path: /x}, cluster: nowhere}\n"),
            (path: "p/a.yaml", text: "listeners:\n  - {name: l, address: nowhere}\n  - {name: l, address: 127.0.0.1:1}\n"),
        ])) { error in
            let loadError = error as! PolicyLoadError
            XCTAssertEqual(loadError.description, """
                p/b.yaml:2:56: route 'r' refers to unknown cluster 'nowhere'
                p/a.yaml:2:24: expected an address like 127.0.0.1:8080, [::1]:8080 or localhost:80
                p/a.yaml:3:12: duplicate listener name 'l' (first defined at p/a.yaml:2:12)
                """)
            XCTAssertEqual(loadError.errors.first, PolicyError(file: "p/b.yaml", line: 2, column: 56,
                                                               message: "route 'r' refers to unknown cluster 'nowhere'"))
        }
    }

    /// What a generator gone wrong writes: nesting thousands deep (Yams recursed until the stack
    /// overflowed: `sluice check` and a reloading gateway crashed) and numbers near Int.max
    /// (setup arithmetic trapped). Each is an error at its place; nesting within the bounds loads.
    func testAbsurdNestingAndNumbersAreErrorsNotCrashes() {
        let deep = "x: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        let indented = "listeners:\n" + (1...600).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " 1\n"
        let items = "routes:\n  " + String(repeating: "- ", count: 300) + "x\n"
        XCTAssertThrowsError(try PolicyLoader.load(sources: [
            listenerFile,
            (path: "p/deep.yaml", text: "# [[[[ in a comment, '[[' in quotes: not nesting\nnote: 'a [[[ b'\n" + deep),
            (path: "p/indented.yaml", text: indented),
            (path: "p/items.yaml", text: items),
            (path: "p/routes.yaml", text: """
                clusters: [{name: c, endpoints: [127.0.0.1:9]}]
                routes:
                  - {name: r, class: core, match: {path: /x}, cluster: c, timeouts: {per_try: 5s, total: 9223372036854775807ms}}
                """),
        ])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("p/deep.yaml:3:132: flow collections nested deeper than 128"), text)
            XCTAssertTrue(text.contains("p/indented.yaml:513:513: nested deeper than 512 columns"), text)
            XCTAssertTrue(text.contains("p/items.yaml:2:"), text)
            XCTAssertTrue(text.contains("p/routes.yaml:3:"), text)
            XCTAssertTrue(text.contains("'9223372036854775807ms' is too large (at most 8784h, a year)"), text)
        }
        let nested = "x: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
        XCTAssertThrowsError(try PolicyLoader.load(sources: [listenerFile, (path: "p/n.yaml", text: "# ok\n" + nested)])) { error in
            XCTAssertEqual("\(error)", "p/n.yaml:2:1: unknown key 'x' in the policy file (allowed: server, listeners, clusters, routes)",
                           "100 deep is read (and then refused for what it says)")
        }
    }

    /// Two listeners on one address both bind (SO_REUSEPORT) and split the connections.
    func testListenersOnOneAddressAreRefused() {
        XCTAssertThrowsError(try PolicyLoader.load(sources: [(path: "p/l.yaml", text: """
            listeners:
              - {name: a, address: 127.0.0.1:8080}
              - {name: b, address: 127.0.0.1:8080}
              - {name: c, address: 0.0.0.0:8080}
              - {name: d, address: 127.0.0.1:8081}
              - {name: e, address: 127.0.0.1:0}
              - {name: f, address: 127.0.0.1:0}
            """)])) { error in
            XCTAssertEqual("\(error)", """
                p/l.yaml:3:12: listener 'b' at 127.0.0.1:8080 overlaps listener 'a' at 127.0.0.1:8080 (first defined at p/l.yaml:2:12)
                p/l.yaml:4:12: listener 'c' at 0.0.0.0:8080 overlaps listener 'a' at 127.0.0.1:8080 (first defined at p/l.yaml:2:12)
                """)
        }
    }

    func testEmptyFilesAndEmptySectionsContributeNothing() throws {
        let snapshot = try PolicyLoader.load(sources: [listenerFile, (path: "p/empty.yaml", text: "# nothing yet\n"),
                                                       (path: "p/routes.yaml", text: "routes:\n")])
        XCTAssertTrue(snapshot.routes.isEmpty)
    }

    func testNoSourcesIsAnError() {
        XCTAssertThrowsError(try PolicyLoader.load(sources: [])) { error in
            XCTAssertEqual((error as! PolicyLoadError).description, ".:1:1: no policy files")
        }
    }

    func testUnreadableDirectory() {
        XCTAssertThrowsError(try PolicyLoader.load(directory: "/nonexistent/sluice-policies")) { error in
            XCTAssertEqual((error as! PolicyLoadError).description, "/nonexistent/sluice-policies:1:1: cannot read policy directory")
        }
    }

    /// libyaml reports the end of a file without a final line break one line past its last;
    /// the error points at the end of the last line. (Found by sluice-fuzz-policy.)
    func testSyntaxErrorAtEndOfFileWithoutFinalLineBreakStaysInTheFile() {
        XCTAssertThrowsError(try PolicyLoader.load(sources: [(path: "p/a.yaml", text: "routes:\nx)")])) { error in
            XCTAssertEqual("\(error)", "p/a.yaml:2:3: invalid YAML: while scanning a simple key, could not find expected ':'")
        }
        XCTAssertThrowsError(try PolicyLoader.load(sources: [(path: "p/a.yaml", text: "routes:\nx)\n")])) { error in
            XCTAssertEqual("\(error)", "p/a.yaml:3:1: invalid YAML: while scanning a simple key, could not find expected ':'")
        }
    }

    /// A message that quotes a value with a line break stays on one line, so `sluice check`
    /// prints one `file:line:column: message` line per error. (Found by sluice-fuzz-policy.)
    func testQuotedLineBreaksAreEscapedInMessages() {
        let text = "listeners:\n  - name: public\n    address: \"[::1\\nx\\u2028]:80\"\n"
        XCTAssertThrowsError(try PolicyLoader.load(sources: [(path: "p/a.yaml", text: text)])) { error in
            XCTAssertEqual("\(error)", "p/a.yaml:3:14: invalid IPv6 address '[::1\\nx\\u{2028}]'")
        }
    }
}
