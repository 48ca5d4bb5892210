#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How long the mock backend waits before it answers a business request, in milliseconds.
///
/// Written as text on the command line and in `POST /__control`:
///   `fixed:5ms`, `uniform:1ms-10ms`, `lognormal:median=5ms,sigma=0.8`,
///   `pareto:min=2ms,alpha=1.5` (long tail); any of them may end in `,max=2s` to cap a draw.
///   `none` (or `0`) means no wait.
public enum LatencyDistribution: Equatable, Sendable, CustomStringConvertible {
    case fixed(ms: Double)
    case uniform(lowMs: Double, highMs: Double)
    /// exp(N(ln median, sigma²)): the median is `medianMs`; sigma ~1 gives p99 ≈ 10× the median.
    case lognormal(medianMs: Double, sigma: Double, maxMs: Double?)
    /// Pareto type I: P(X > x) = (min / x)^alpha for x ≥ min. alpha ≤ 2 is a heavy tail.
    case pareto(minMs: Double, alpha: Double, maxMs: Double?)

    public static let none = LatencyDistribution.fixed(ms: 0)

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let text: String
        public let message: String
        public var description: String { "latency '\(text)': \(message)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> LatencyDistribution {
        func fail(_ message: String) -> ParseError { ParseError(text: text, message: message) }
        let trimmed = text.trimmingSpaces
        if trimmed == "none" || trimmed == "0" { return .none }
        guard let colon = trimmed.firstIndex(of: ":") else {
            if let ms = Self.milliseconds(trimmed) { return .fixed(ms: ms) }
            throw fail("expected fixed:|uniform:|lognormal:|pareto: or a duration like 5ms")
        }
        let kind = trimmed[..<colon]
        let rest = String(trimmed[trimmed.index(after: colon)...])
        switch kind {
        case "fixed":
            guard let ms = Self.milliseconds(rest) else { throw fail("'\(rest)' is not a duration (5ms, 1.5s, 200us)") }
            return .fixed(ms: ms)
        case "uniform":
            let bounds = rest.split(separator: "-", maxSplits: 1).map(String.init)
            guard bounds.count == 2, let low = Self.milliseconds(bounds[0]), let high = Self.milliseconds(bounds[1]) else {
                throw fail("expected uniform:LOW-HIGH, e.g. uniform:1ms-10ms")
            }
            guard low <= high else { throw fail("low bound is above the high bound") }
            return .uniform(lowMs: low, highMs: high)
        case "lognormal", "pareto":
            var params: [String: String] = [:]
            for part in rest.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
                guard kv.count == 2 else { throw fail("expected key=value, got '\(part)'") }
                params[kv[0]] = kv[1]
            }
            var maxMs: Double?
            if let m = params.removeValue(forKey: "max") {
                guard let ms = Self.milliseconds(m), ms > 0 else { throw fail("max '\(m)' is not a positive duration") }
                maxMs = ms
            }
            if kind == "lognormal" {
                guard let m = params.removeValue(forKey: "median"), let median = Self.milliseconds(m), median > 0 else {
                    throw fail("lognormal needs median=DURATION (> 0)")
                }
                guard let s = params.removeValue(forKey: "sigma"), let sigma = Double(s), sigma >= 0 else {
                    throw fail("lognormal needs sigma=NUMBER (>= 0)")
                }
                guard params.isEmpty else { throw fail("unknown parameter(s) \(params.keys.sorted().joined(separator: ", "))") }
                return .lognormal(medianMs: median, sigma: sigma, maxMs: maxMs)
            } else {
                guard let m = params.removeValue(forKey: "min"), let minimum = Self.milliseconds(m), minimum > 0 else {
                    throw fail("pareto needs min=DURATION (> 0)")
                }
                guard let a = params.removeValue(forKey: "alpha"), let alpha = Double(a), alpha > 0 else {
                    throw fail("pareto needs alpha=NUMBER (> 0)")
                }
                guard params.isEmpty else { throw fail("unknown parameter(s) \(params.keys.sorted().joined(separator: ", "))") }
                return .pareto(minMs: minimum, alpha: alpha, maxMs: maxMs)
            }
        default:
            throw fail("unknown distribution '\(kind)' (fixed, uniform, lognormal, pareto)")
        }
    }

    /// One draw, in milliseconds (never negative).
    public func sample<G: RandomNumberGenerator>(using rng: inout G) -> Double {
        switch self {
        case .fixed(let ms):
            return ms
        case .uniform(let low, let high):
            return low == high ? low : Double.random(in: low...high, using: &rng)
        case .lognormal(let median, let sigma, let maxMs):
            // Box-Muller: one standard normal from two uniforms.
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng)
            let u2 = Double.random(in: 0..<1, using: &rng)
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            let value = median * exp(sigma * z)
            return maxMs.map { min($0, value) } ?? value
        case .pareto(let minimum, let alpha, let maxMs):
            let u = Double.random(in: Double.ulpOfOne..<1, using: &rng)
            let value = minimum / pow(u, 1 / alpha)
            return maxMs.map { min($0, value) } ?? value
        }
    }

    /// The distribution's own median, for reports and tests.
    public var medianMs: Double {
        switch self {
        case .fixed(let ms): return ms
        case .uniform(let low, let high): return (low + high) / 2
        case .lognormal(let median, _, let maxMs): return maxMs.map { min($0, median) } ?? median
        case .pareto(let minimum, let alpha, let maxMs):
            let m = minimum * pow(2, 1 / alpha)
            return maxMs.map { min($0, m) } ?? m
        }
    }

    public var description: String {
        func d(_ ms: Double) -> String {
            ms == ms.rounded() ? "\(Int(ms))ms" : "\(ms)ms"
        }
        let cap: (Double?) -> String = { $0.map { ",max=\(d($0))" } ?? "" }
        switch self {
        case .fixed(let ms): return ms == 0 ? "none" : "fixed:\(d(ms))"
        case .uniform(let low, let high): return "uniform:\(d(low))-\(d(high))"
        case .lognormal(let median, let sigma, let maxMs): return "lognormal:median=\(d(median)),sigma=\(sigma)\(cap(maxMs))"
        case .pareto(let minimum, let alpha, let maxMs): return "pareto:min=\(d(minimum)),alpha=\(alpha)\(cap(maxMs))"
        }
    }

    /// `5ms`, `1.5s`, `200us`, `0` → milliseconds.
    public static func milliseconds(_ text: String) -> Double? {
        let t = text.trimmingSpaces
        if t == "0" { return 0 }
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where t.hasSuffix(suffix) {
            guard let value = Double(t.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
            return value * scale
        }
        return nil
    }
}

/// SplitMix64: a small seeded generator, so a scenario (and a test) can replay the same draws.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
