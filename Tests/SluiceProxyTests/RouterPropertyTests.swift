import SluiceHTTP
import SluicePolicy
import SluiceProxy
import SluiceTestSupport
import XCTest

/// The router (hash for exact paths, radix tree for prefixes) against a plain reading of the
/// documented matching order, on random route sets and requests drawn from a small alphabet so
/// that paths, prefixes and constraints collide often.
final class RouterPropertyTests: XCTestCase {
    /// The documented order, spelled out as literally as possible: every exact route whose path
    /// equals the request path, in declaration order; then every prefix route whose prefix starts
    /// the path, longest first, declaration order among equals; the first whose constraints hold.
    private struct ReferenceRouter {
        let routes: [RoutePolicy]

        func route(for head: HTTPRequestHead) -> RoutePolicy? {
            let path = String(head.path)
            let exact = routes.filter { if case .exact(let p) = $0.match.path { return p == path } else { return false } }
            let prefixed = routes.enumerated().compactMap { order, route -> (Int, Int, RoutePolicy)? in
                guard case .prefix(let p) = route.match.path, path.utf8.starts(with: p.utf8) else { return nil }
                return (p.utf8.count, order, route)
            }.sorted { ($0.0, -$0.1) > ($1.0, -$1.1) }.map(\.2)
            return (exact + prefixed).first { applies($0.match, head) }
        }

        private func applies(_ match: RouteMatch, _ head: HTTPRequestHead) -> Bool {
            if let methods = match.methods, !methods.contains(head.method) { return false }
            if let host = match.host {
                guard var requestHost = head.host?.lowercased() else { return false }
                if let colon = requestHost.lastIndex(of: ":") { requestHost = String(requestHost[..<colon]) }
                if requestHost != host { return false }
            }
            for (name, value) in match.headers {
                let values = head.headers.fields.filter { $0.name == name }.map(\.value)
                if values.isEmpty || values.contains(where: { $0 != value }) { return false }
            }
            return true
        }
    }

    private let segments = ["a", "ab", "b", "v3", "pay", "pa", ""]

    private func randomPath(_ rng: inout SplitMix64) -> String {
        let count = Int.random(in: 0...4, using: &rng)
        var path = "/" + (0..<count).map { _ in segments.randomElement(using: &rng)! }.joined(separator: "/")
        if Bool.random(using: &rng) { path += "/" }
        // Part of a segment too, so that prefixes end inside segments and edges split mid-label.
        if Int.random(in: 0..<4, using: &rng) == 0, path.count > 1 { path.removeLast(Int.random(in: 1...path.count - 1, using: &rng)) }
        return path
    }

    private func randomRoutes(_ rng: inout SplitMix64, count: Int) -> [RoutePolicy] {
        (0..<count).map { index in
            let path = randomPath(&rng)
            let pathMatch: PathMatch = Int.random(in: 0..<3, using: &rng) == 0 ? .exact(path) : .prefix(path)
            let methods: [String]? = [nil, ["GET"], ["POST"], ["GET", "HEAD"]].randomElement(using: &rng)!
            let host: String? = [nil, nil, "a.example", "b.example"].randomElement(using: &rng)!
            let headers: [(name: String, value: String)] = Int.random(in: 0..<6, using: &rng) == 0 ? [("x-env", "prod")] : []
            return RoutePolicy(name: "r\(index)", match: RouteMatch(methods: methods, path: pathMatch, host: host, headers: headers),
                               cluster: "c", routeClass: .core)
        }
    }

    private func randomRequest(_ rng: inout SplitMix64) -> HTTPRequestHead {
        var fields: [(String, String)] = []
        if let host = [nil, "a.example", "A.Example:8443", "b.example", "c.example"].randomElement(using: &rng)! { fields.append(("Host", host)) }
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: fields.append(("X-Env", "prod"))
        case 1: fields += [("x-env", "prod"), ("x-env", "dev")]
        default: break
        }
        let query = Bool.random(using: &rng) ? "?q=/a" : ""
        return HTTPRequestHead(method: ["GET", "POST", "HEAD", "DELETE"].randomElement(using: &rng)!,
                               target: randomPath(&rng) + query, version: .http1_1, headers: HTTPHeaders(fields))
    }

    func testRouterAgreesWithTheDocumentedOrderOnRandomRouteSets() {
        var rng = SplitMix64(seed: 17)
        var matched = 0
        var compared = 0
        for _ in 0..<400 {
            let routes = randomRoutes(&rng, count: Int.random(in: 0...40, using: &rng))
            let router = Router(routes: routes)
            let reference = ReferenceRouter(routes: routes)
            for _ in 0..<60 {
                let request = randomRequest(&rng)
                let expected = reference.route(for: request)?.name
                XCTAssertEqual(router.route(for: request)?.name, expected,
                               "\(request.method) \(request.target) over \(routes.map { "\($0.name) \($0.match.path)" })")
                compared += 1
                if expected != nil { matched += 1 }
            }
        }
        // The draw must exercise both outcomes, or the agreement says little.
        XCTAssertGreaterThan(matched, compared / 5)
        XCTAssertLessThan(matched, compared * 4 / 5)
    }

    /// Ten thousand routes, the shape of issue 17's report: every route is reachable, and the
    /// longest prefix wins over all its shorter ones.
    func testTenThousandRoutesEachReachable() {
        var routes: [RoutePolicy] = []
        for index in 0..<5_000 {
            routes.append(RoutePolicy(name: "p\(index)", match: RouteMatch(path: .prefix("/api/v\(index)/")), cluster: "c", routeClass: .core))
            routes.append(RoutePolicy(name: "e\(index)", match: RouteMatch(path: .exact("/exact/\(index)/pay")), cluster: "c", routeClass: .core))
        }
        routes.append(RoutePolicy(name: "nested", match: RouteMatch(path: .prefix("/api/v12/deep/")), cluster: "c", routeClass: .core))
        let router = Router(routes: routes)
        func name(_ target: String) -> String? {
            router.route(for: HTTPRequestHead(method: "GET", target: target, version: .http1_1, headers: HTTPHeaders([])))?.name
        }
        for index in 0..<5_000 {
            XCTAssertEqual(name("/api/v\(index)/x"), "p\(index)")
            XCTAssertEqual(name("/exact/\(index)/pay"), "e\(index)")
        }
        XCTAssertEqual(name("/api/v12/deep/er"), "nested")
        XCTAssertEqual(name("/api/v12/deeper"), "p12")
        XCTAssertNil(name("/api/v5000/x"))
        XCTAssertNil(name("/api/v1"))
        XCTAssertNil(name("/exact/1/pay/"))
    }
}
