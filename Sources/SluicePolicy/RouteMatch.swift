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
