import SluiceHTTP
import SluicePolicy

/// Picks the route for a request head.
///
/// The rule, in the order it is applied:
/// 1. Exact-path routes (`path:`) whose path equals the request path (without the query).
/// 2. Then prefix routes (`prefix:`) whose prefix starts the request path, longest prefix first.
///    Prefixes are plain string prefixes: `/health` also matches `/healthz`; end a prefix with
///    `/` to match whole segments.
/// 3. Among routes with the same path or the same prefix, the one declared first (file-name
///    order, then order within the file).
///
/// A candidate applies only if all of its constraints hold: the method is one of `methods`
/// (case-sensitive, as HTTP methods are); the `Host` header, compared case-insensitively and
/// without its `:port`, equals `host`; and for each header constraint, the request has that
/// header and every field of that name carries exactly the given value. A candidate whose
/// constraints fail does not stop the search: the next candidate is tried, so an exact-path
/// `POST` route does not hide a `GET` prefix route under it. No route applies: nil (the core
/// answers 404). Paths are compared in the normal form the pipeline puts them in first
/// (`PathNormalization`: escapes of unreserved characters decoded, dot-segments removed,
/// duplicate slashes merged), and route paths in policy must already be in that form.
public struct Router: Sendable {
    /// Keyed by `Substring` so that a lookup with the request's path slice allocates nothing.
    private let exactRoutes: [Substring: [RoutePolicy]]
    /// Prefix routes in a radix tree: the cost of a lookup follows the path's length, not the
    /// number of routes.
    private let prefixRoutes: PrefixTree<RoutePolicy>

    public init(routes: [RoutePolicy]) {
        var exact: [Substring: [RoutePolicy]] = [:]
        var prefixed: [(prefix: String, value: RoutePolicy)] = []
        for route in routes {
            switch route.match.path {
            case .exact(let path): exact[path[...], default: []].append(route)
            case .prefix(let prefix): prefixed.append((prefix, route))
            }
        }
        exactRoutes = exact
        prefixRoutes = PrefixTree(prefixed)
    }

    public func route(for head: HTTPRequestHead) -> RoutePolicy? {
        let path = head.path
        if !exactRoutes.isEmpty, let candidates = exactRoutes[path] {
            for route in candidates where Self.constraintsHold(route.match, for: head) { return route }
        }
        return prefixRoutes.first(prefixOf: path) { Self.constraintsHold($0.match, for: head) }
    }

    private static func constraintsHold(_ match: RouteMatch, for head: HTTPRequestHead) -> Bool {
        if let methods = match.methods, !methods.contains(head.method) { return false }
        if let host = match.host {
            guard let requestHost = head.host, hostEquals(requestHost, policyHost: host) else { return false }
        }
        for constraint in match.headers where !headerHolds(constraint, in: head.headers) { return false }
        return true
    }

    /// All fields of the name must carry the value: a request sending `x-env: prod` and
    /// `x-env: dev` is ambiguous and matches neither value.
    private static func headerHolds(_ constraint: (name: String, value: String), in headers: HTTPHeaders) -> Bool {
        var seen = false
        for field in headers.fields where field.name == constraint.name {
            if field.value != constraint.value { return false }
            seen = true
        }
        return seen
    }

    /// Compares a `Host` value (any case, maybe with `:port`, maybe a bracketed IPv6 literal)
    /// with a policy host (lower-cased, no port), byte by byte so that nothing is allocated.
    static func hostEquals(_ requestHost: String, policyHost: String) -> Bool {
        let bytes = requestHost.utf8
        var end = bytes.endIndex
        // The port starts at the last ':' unless that ':' is inside an IPv6 literal's brackets.
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")),
           bytes.first != UInt8(ascii: "[") || bytes[bytes.index(before: colon)] == UInt8(ascii: "]") {
            end = colon
        }
        return bytes[bytes.startIndex..<end].elementsEqual(policyHost.utf8) { requestByte, policyByte in
            asciiLowercased(requestByte) == policyByte
        }
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }
}
