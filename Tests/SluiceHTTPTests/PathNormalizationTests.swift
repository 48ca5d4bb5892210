import SluiceHTTP
import XCTest

/// Every shape of path a router and a backend could read differently: what it becomes, or why
/// it is refused.
final class PathNormalizationTests: XCTestCase {
    enum Expected: Equatable {
        case target(String)
        case refused(PathError.Kind)
    }

    /// (target as sent, with merge, with reject)
    static let table: [(String, Expected, Expected)] = [
        // Already normal: unchanged.
        ("/v3/pay/transactions/jsapi", .target("/v3/pay/transactions/jsapi"), .target("/v3/pay/transactions/jsapi")),
        ("/", .target("/"), .target("/")),
        ("/v3/pay/", .target("/v3/pay/"), .target("/v3/pay/")),
        ("/.well-known/x", .target("/.well-known/x"), .target("/.well-known/x")),
        ("/a/..b/c.", .target("/a/..b/c."), .target("/a/..b/c.")),
        ("/a?x=/./..//%2F", .target("/a?x=/./..//%2F"), .target("/a?x=/./..//%2F")),
        // Dot-segments.
        ("/v3/pay/transactions/./jsapi", .target("/v3/pay/transactions/jsapi"), .target("/v3/pay/transactions/jsapi")),
        ("/v3/pay/x/../transactions/jsapi", .target("/v3/pay/transactions/jsapi"), .target("/v3/pay/transactions/jsapi")),
        ("/v3/pay/transactions/jsapi/.", .target("/v3/pay/transactions/jsapi/"), .target("/v3/pay/transactions/jsapi/")),
        ("/v3/pay/transactions/jsapi/..", .target("/v3/pay/transactions/"), .target("/v3/pay/transactions/")),
        ("/a/..", .target("/"), .target("/")),
        ("/.", .target("/"), .target("/")),
        ("/./a/./", .target("/a/"), .target("/a/")),
        ("/a/b/../../c?q=1", .target("/c?q=1"), .target("/c?q=1")),
        ("/..", .refused(.aboveRoot), .refused(.aboveRoot)),
        ("/a/../../etc/passwd", .refused(.aboveRoot), .refused(.aboveRoot)),
        // `;` parameters: Java servers drop them before routing (`..;` is a dot segment to them,
        // `jsapi;x` is `jsapi`), the router would not: refused in the path, kept in the query.
        ("/open/..;/v3/pay", .refused(.parameters), .refused(.parameters)),
        ("/open/%2e%2e;x=1/v3/pay", .refused(.parameters), .refused(.parameters)),
        ("/open/.;/v3", .refused(.parameters), .refused(.parameters)),
        ("/open/v3/pay/jsapi;jsessionid=1", .refused(.parameters), .refused(.parameters)),
        ("/open/v3;/pay", .refused(.parameters), .refused(.parameters)),
        ("/a/b%3Bv=1/c", .refused(.parameters), .refused(.parameters)),
        ("/legacy/..%3b/v3/pay", .refused(.parameters), .refused(.parameters)),
        ("/a?x=1;y=2", .target("/a?x=1;y=2"), .target("/a?x=1;y=2")),
        // A fragment: URL parsers cut the path there, the router would not.
        ("/open/v3/pay#", .refused(.fragment), .refused(.fragment)),
        ("/a?x=1#f", .refused(.fragment), .refused(.fragment)),
        // Escapes: unreserved decoded (then dot-segments apply), others upper-cased.
        ("/v3/pay/transactions/%6Asapi", .target("/v3/pay/transactions/jsapi"), .target("/v3/pay/transactions/jsapi")),
        ("/v3/%70ay/%2e/x", .target("/v3/pay/x"), .target("/v3/pay/x")),
        ("/a/%2E%2E/b", .target("/b"), .target("/b")),
        ("/%2e%2e/x", .refused(.aboveRoot), .refused(.aboveRoot)),
        ("/a%7e%5f%2D", .target("/a~_-"), .target("/a~_-")),
        ("/a%20b/%e4%bd%a0", .target("/a%20b/%E4%BD%A0"), .target("/a%20b/%E4%BD%A0")),
        ("/a%3fb?c", .target("/a%3Fb?c"), .target("/a%3Fb?c")),
        ("/a%2Fb", .refused(.encodedSlash), .refused(.encodedSlash)),
        ("/a%2fb", .refused(.encodedSlash), .refused(.encodedSlash)),
        ("/a%5Cb", .refused(.encodedBackslash), .refused(.encodedBackslash)),
        ("/a%00b", .refused(.encodedNUL), .refused(.encodedNUL)),
        ("/a%", .refused(.invalidEscape), .refused(.invalidEscape)),
        ("/a%4", .refused(.invalidEscape), .refused(.invalidEscape)),
        ("/a%4g", .refused(.invalidEscape), .refused(.invalidEscape)),
        ("/a%%41", .refused(.invalidEscape), .refused(.invalidEscape)),
        ("/a\\b", .refused(.backslash), .refused(.backslash)),
        ("/a\\..\\b", .refused(.backslash), .refused(.backslash)),
        // Duplicate slashes: merged or refused.
        ("/v3//pay/transactions/jsapi", .target("/v3/pay/transactions/jsapi"), .refused(.duplicateSlashes)),
        ("//v3/pay", .target("/v3/pay"), .refused(.duplicateSlashes)),
        ("/v3/pay//", .target("/v3/pay/"), .refused(.duplicateSlashes)),
        ("//", .target("/"), .refused(.duplicateSlashes)),
        ("/a/.//b", .target("/a/b"), .refused(.duplicateSlashes)),
        // Not origin-form paths: left alone.
        ("*", .target("*"), .target("*")),
    ]

    func testEveryShape() {
        for (target, merged, rejected) in Self.table {
            XCTAssertEqual(outcome(target, .merge), merged, "merge: \(target)")
            XCTAssertEqual(outcome(target, .reject), rejected, "reject: \(target)")
        }
    }

    /// Normalising a normal path changes nothing (so a forwarded path routes the same again).
    func testNormalFormIsAFixedPoint() throws {
        for (target, merged, _) in Self.table {
            guard case .target(let normal) = merged else { continue }
            XCTAssertEqual(outcome(normal, .merge), .target(normal), "from \(target)")
        }
    }

    func testUnchangedTargetIsTheSameString() throws {
        let target = "/v3/pay/transactions/jsapi?mchid=1"
        XCTAssertEqual(try PathNormalization.normalizedTarget(target, duplicateSlashes: .merge), target)
    }

    func testReasonsAreStableWords() {
        XCTAssertEqual(PathError(.aboveRoot).reason, "path_above_root")
        XCTAssertEqual(PathError(.encodedSlash).reason, "encoded_slash_in_path")
    }

    private func outcome(_ target: String, _ slashes: PathNormalization.DuplicateSlashes) -> Expected {
        do {
            return .target(try PathNormalization.normalizedTarget(target, duplicateSlashes: slashes))
        } catch {
            return .refused(error.kind)
        }
    }
}
