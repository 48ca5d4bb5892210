/// The conditions a request must meet for a route to apply. Every condition given must hold.
public struct RouteMatch: Sendable {
    /// Upper-case method tokens; nil means any method.
    public var methods: [String]?
    public var path: PathMatch
    /// Lower-cased, without a port; nil means any host.
    public var host: String?
    /// Names lower-cased; values compared exactly.
    public var headers: [(name: String, value: String)]

    public init(methods: [String]? = nil, path: PathMatch, host: String? = nil,
                headers: [(name: String, value: String)] = []) {
        self.methods = methods
        self.path = path
        self.host = host
        self.headers = headers
    }
}

extension RouteMatch {
    /// Whether every request this match accepts, `other` (the same path) accepts too: then a
    /// route with `other`, declared first, always wins, and this one is never chosen. Judged
    /// from the conditions as written (a host or header `other` does not constrain is one it
    /// accepts), so it never calls a reachable route unreachable.
    public func isShadowed(by other: RouteMatch) -> Bool {
        guard path == other.path else { return false }
        if let wider = other.methods, !(methods.map { Set($0).isSubset(of: wider) } ?? false) { return false }
        if let host = other.host, host != self.host { return false }
        return other.headers.allSatisfy { required in headers.contains { $0 == required } }
    }
}
