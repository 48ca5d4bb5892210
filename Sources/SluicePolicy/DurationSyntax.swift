/// The policy's duration spelling: a whole number and one unit, `250ms`, `5s`, `2m`, `1h`.
/// Deliberately narrow: no bare numbers (is `30` seconds or milliseconds?), no fractions, no
/// compound forms, so that every duration in a policy reads the same way.
enum DurationSyntax {
    static let expectedForm = "expected a duration like 250ms or 5s (a whole number followed by ms, s, m or h)"

    private static let millisecondsPerUnit: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
    ]

    /// A year: longer than any timeout or TTL needs, and small enough that no sum or conversion
    /// of durations overflows (9223372036854775807ms crashed the idempotency guard's setup).
    static let maximumMilliseconds: Int64 = 366 * 24 * 3_600_000

    /// Zero is refused: every duration in the policy is a timeout, and a zero timeout would fail
    /// every request rather than disable the limit.
    static func parse(_ text: String) -> Result<Duration, SyntaxProblem> {
        let digits = text.prefix(while: \.isASCIIDigit)
        let unit = text[digits.endIndex...]
        guard !digits.isEmpty,
              let scale = millisecondsPerUnit.first(where: { $0.suffix == unit })?.milliseconds else {
            return .failure(SyntaxProblem("'\(text)' is not a duration: \(expectedForm)"))
        }
        guard let count = Int64(digits) else { return .failure(SyntaxProblem("duration '\(text)' is too large")) }
        let (milliseconds, overflow) = count.multipliedReportingOverflow(by: scale)
        if overflow || milliseconds > maximumMilliseconds {
            return .failure(SyntaxProblem("duration '\(text)' is too large (at most 8784h, a year)"))
        }
        if milliseconds == 0 { return .failure(SyntaxProblem("duration must be greater than zero")) }
        return .success(.milliseconds(milliseconds))
    }

    /// The shortest exact spelling, for messages that quote a duration back (`15s`, `1500ms`).
    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1_000
            + duration.components.attoseconds / 1_000_000_000_000_000
        for (suffix, scale) in millisecondsPerUnit.reversed() where milliseconds % scale == 0 {
            return "\(milliseconds / scale)\(suffix)"
        }
        return "\(milliseconds)ms"
    }
}

extension Duration {
    /// A duration in the policy's spelling (`250ms`, `5s`, `2m`, `1h`), for other inputs that
    /// read the same way (the admin API's `ttl`); nil when it is not one.
    public static func policySpelling(_ text: String) -> Duration? {
        try? DurationSyntax.parse(text).get()
    }
}
