import SluicePolicy

/// A named rate-limit rule from `limits`, attached to routes by name.
public struct LimitRulePolicy: Sendable, Equatable {
    public enum Algorithm: Sendable, Equatable {
        /// `burst` tokens at most, refilled at `rate`.
        case tokenBucket(rate: LimitRate, burst: Int)
        /// At most `limit` per `window`, in every window position.
        case slidingWindow(limit: Int, window: Duration)
    }

    /// One part of the counter's key. `merchant` is the id the auth guard sets on the request
    /// (absent until auth has run; see the rate-limit module for what absent parts mean).
    /// `body` is a payment field read from the request body (`mchid`, `amount.currency`): a
    /// rule with one makes its routes read bodies before rate limiting.
    public enum KeyPart: Sendable, Hashable, CustomStringConvertible {
        case clientIP, route, merchant
        case header(String)
        case query(String)
        case body(String)

        public var description: String {
            switch self {
            case .clientIP: return "client_ip"
            case .route: return "route"
            case .merchant: return "merchant"
            case .header(let name): return "header:\(name)"
            case .query(let name): return "query:\(name)"
            case .body(let path): return "body:\(path)"
            }
        }
    }

    /// What a request gets when Redis cannot decide (timeout, refused, error, breaker open).
    public enum FailureMode: String, Sendable, CaseIterable {
        case allow, deny, local
    }

    public var name: String
    public var algorithm: Algorithm
    /// Tokens (or window slots) one request takes, unless `costHeader` holds a valid number.
    public var cost: Int
    public var costHeader: String?
    public var key: [KeyPart]
    public var onRedisFailure: FailureMode
    /// The gateway count `local` divides the limit by.
    public var expectedInstances: Int
    public var shadow: Bool
    public var responseHeaders: Bool
    /// Runs first in the chain, before auth: a flood of forged signatures is cut by client
    /// address before any signature is checked. Only for keys that need no auth (no `merchant`,
    /// no `body:` part).
    public var beforeAuth = false
    /// Tokens a gateway takes from Redis at once and serves locally (token_bucket only).
    public var leaseTokens: Int?

    public init(name: String, algorithm: Algorithm, cost: Int = 1, costHeader: String? = nil, key: [KeyPart],
                onRedisFailure: FailureMode, expectedInstances: Int = 1, shadow: Bool = false,
                responseHeaders: Bool = false, leaseTokens: Int? = nil) {
        self.name = name
        self.algorithm = algorithm
        self.cost = cost
        self.costHeader = costHeader
        self.key = key
        self.onRedisFailure = onRedisFailure
        self.expectedInstances = expectedInstances
        self.shadow = shadow
        self.responseHeaders = responseHeaders
        self.leaseTokens = leaseTokens
    }
}

/// `100/s`, `6000/min`, `50000/h`: a whole count per one unit of time.
public struct LimitRate: Sendable, Equatable, CustomStringConvertible {
    public var count: Int
    public var per: Duration

    public init(count: Int, per: Duration) {
        self.count = count
        self.per = per
    }

    public var perSecond: Double { Double(count) / (Double(per.nanosecondsValue) / 1e9) }

    public var description: String {
        let unit = per == .seconds(1) ? "s" : per == .seconds(60) ? "min" : "h"
        return "\(count)/\(unit)"
    }

    static let expectedForm = "expected a rate like 100/s, 6000/min or 50000/h"

    static func parse(_ text: String) -> Result<LimitRate, SyntaxProblem> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let units: [Substring: Duration] = ["s": .seconds(1), "min": .seconds(60), "h": .seconds(3600)]
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCIIDigit), let per = units[parts[1]] else {
            return .failure(SyntaxProblem("'\(text)' is not a rate: \(expectedForm)"))
        }
        guard let count = Int(parts[0]), count <= 1_000_000_000 else { return .failure(SyntaxProblem("rate '\(text)' is too large")) }
        guard count > 0 else { return .failure(SyntaxProblem("rate must be greater than zero")) }
        return .success(LimitRate(count: count, per: per))
    }
}

extension Duration {
    /// Whole nanoseconds (policy durations are milliseconds, far from overflow).
    var nanosecondsValue: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
