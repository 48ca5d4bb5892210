/// The policy's size spelling: a whole number of bytes, or a whole number with `B`, `KiB`,
/// `MiB` or `GiB`. Only binary units: `KB` would leave the reader guessing 1000 or 1024.
enum ByteSizeSyntax {
    static let expectedForm = "expected a size like 512B, 16KiB or 1MiB (or a whole number of bytes)"

    private static let bytesPerUnit: [(suffix: String, bytes: Int)] = [
        ("", 1), ("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
    ]

    static func parse(_ text: String, allowZero: Bool) -> Result<Int, SyntaxProblem> {
        let digits = text.prefix(while: \.isASCIIDigit)
        let unit = text[digits.endIndex...]
        guard !digits.isEmpty, let scale = bytesPerUnit.first(where: { $0.suffix == unit })?.bytes else {
            return .failure(SyntaxProblem("'\(text)' is not a size: \(expectedForm)"))
        }
        guard let count = Int(digits) else { return .failure(SyntaxProblem("size '\(text)' is too large")) }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: scale)
        if overflow { return .failure(SyntaxProblem("size '\(text)' is too large")) }
        if bytes == 0 && !allowZero { return .failure(SyntaxProblem("size must be greater than zero")) }
        return .success(bytes)
    }
}
