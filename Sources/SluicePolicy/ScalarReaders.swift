import Yams

/// The typed scalar forms the policy uses, each with the message that names its accepted form.
extension PolicyFileReader {
    public func duration(_ node: Node) -> Duration? {
        parsed(node, expected: "a duration like 250ms or 5s", DurationSyntax.parse)
    }

    public func size(_ node: Node, allowZero: Bool = false) -> Int? {
        parsed(node, expected: "a size like 16KiB or 1MiB") { ByteSizeSyntax.parse($0, allowZero: allowZero) }
    }

    public func address(_ node: Node, allowPortZero: Bool) -> EndpointAddress? {
        parsed(node, expected: "an address like 127.0.0.1:8080") {
            EndpointAddress.parse($0, allowPortZero: allowPortZero)
        }
    }

    /// A whole number, zero or more: decimal digits only, so `0x10` or `1_000` are not guesses.
    /// At most 10^12: no limit, size or amount in fen needs more, and arithmetic on a value near
    /// Int.max overflowed (a rate limit of 9223372036854775807 crashed its rule's setup).
    public func count(_ node: Node) -> Int? {
        parsed(node, expected: "a whole number") { text in
            guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit) else {
                return .failure(SyntaxProblem("expected a whole number (0 or more)"))
            }
            guard let value = Int(text), value <= Self.maximumCount else {
                return .failure(SyntaxProblem("'\(text)' is too large (at most 1000000000000)"))
            }
            return .success(value)
        }
    }

    static let maximumCount = 1_000_000_000_000

    /// `true` or `false`, nothing YAML 1.1 might also read as a boolean (`yes`, `on`, `1` are
    /// not guessed at).
    public func flag(_ node: Node) -> Bool? {
        // A quoted "true" is a string to YAML and to every other tool reading the file (a
        // linter, a templating step, a diff of the parsed policy): not taken as a boolean here.
        if let scalar = node.scalar, scalar.style == .singleQuoted || scalar.style == .doubleQuoted {
            report("expected true or false, not the string \"\(scalar.string)\" (remove the quotes)", at: node)
            return nil
        }
        return parsed(node, expected: "true or false") { text in
            switch text {
            case "true": return .success(true)
            case "false": return .success(false)
            default: return .failure(SyntaxProblem("expected true or false, not '\(text)'"))
            }
        }
    }

    /// One of an enum's policy spellings; the message lists them all.
    public func choice<Choice: RawRepresentable & CaseIterable>(_ node: Node, _ what: String, as _: Choice.Type) -> Choice?
    where Choice.RawValue == String {
        let allowed = Choice.allCases.map(\.rawValue).joined(separator: ", ")
        return parsed(node, expected: "a \(what) (\(allowed))") { text in
            guard let value = Choice(rawValue: text) else {
                return .failure(SyntaxProblem("unknown \(what) '\(text)' (allowed: \(allowed))"))
            }
            return .success(value)
        }
    }

    /// A header field name, lower-cased (letters, digits, '-' and '_').
    public func headerName(_ node: Node) -> String? {
        parsed(node, expected: "a header name") { text in
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }) else {
                return .failure(SyntaxProblem("invalid header name '\(text)'"))
            }
            return .success(text.lowercased())
        }
    }

    /// A number above 0 and at most `limit` (`0.5`, `1`, `1.2`): shares, rates, pressure levels.
    /// Decimal digits and a point only.
    public func number(_ node: Node, upTo limit: Double) -> Double? {
        let most = limit == limit.rounded() ? String(Int(limit)) : String(limit)
        return parsed(node, expected: "a number above 0 and at most \(most), like 0.5") { text in
            guard text.allSatisfy({ $0.isASCIIDigit || $0 == "." }), let value = Double(text), value > 0, value <= limit else {
                return .failure(SyntaxProblem("expected a number above 0 and at most \(most), like 0.5, not '\(text)'"))
            }
            return .success(value)
        }
    }

    /// A listener, cluster or route name. Names end up in metric labels, headers and log
    /// fields, so they are kept to characters that need no quoting anywhere.
    public func name(_ node: Node) -> String? {
        parsed(node, expected: "a name") { text in
            guard !text.isEmpty,
                  text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                return .failure(SyntaxProblem("invalid name '\(text)' (use letters, digits, '.', '_' and '-')"))
            }
            return .success(text)
        }
    }
}
