import SluicePayload

/// Why a body failed its rules: a stable code, the field, and a sentence for people.
public struct Violation: Sendable, Equatable {
    public var code: String
    public var field: String
    public var detail: String
}

/// Checks a parsed body against a rule set. Pure; numbers are checked as the text that was sent
/// (`100.0`, `1e2` and `"100"` are not integers), so the gateway never reads an amount
/// differently from a backend.
enum PayloadValidator {
    static func validate(_ payload: PaymentPayload, _ rule: ValidationPolicy, merchant: String?) -> Violation? {
        for field in rule.fields {
            let matching = payload.fields.filter { field.matches($0.name) }
            if matching.isEmpty {
                if field.required && !field.segments.contains("*") {
                    return Violation(code: "missing_field", field: field.path, detail: "\(field.path) is required")
                }
                continue
            }
            for found in matching {
                if let violation = check(found.value, at: found.name, field, merchant: merchant) { return violation }
            }
        }
        if rule.strict, let unknown = payload.fields.first(where: { found in !rule.fields.contains { $0.matches(found.name) } }) {
            return Violation(code: "unknown_field", field: unknown.name, detail: "\(unknown.name) is not a field of this API")
        }
        return nil
    }

    private static func check(_ value: PayloadValue, at path: String, _ field: FieldRule, merchant: String?) -> Violation? {
        func fail(_ code: String, _ detail: String) -> Violation { Violation(code: code, field: path, detail: "\(path) \(detail)") }
        if value.isNull {
            return field.required ? fail("missing_field", "is required (null given)") : nil
        }
        if let type = field.type {
            let ok: Bool
            switch type {
            case .string: ok = value.stringValue != nil
            case .integer: ok = value.integerValue != nil
            case .boolean: ok = value.boolValue != nil
            case .object: ok = value.kind == .object
            case .array: ok = value.kind == .array
            }
            if !ok {
                let sent = value.kind == .string ? "a string" : value.kind == .number ? "the number \(value.text)" : value.description
                return fail("wrong_type", "must be \(type == .integer ? "an integer (in fen, as digits)" : "of type \(type.rawValue)"), not \(sent)")
            }
        }
        if let number = value.integerValue, field.type == .integer {
            if let minimum = field.minimum, number < minimum { return fail("out_of_range", "must be at least \(minimum)") }
            let maximum = merchant.flatMap { field.maxPerMerchant[$0] } ?? field.maximum
            if let maximum, number > maximum { return fail("out_of_range", "must be at most \(maximum)") }
        }
        guard let text = value.stringValue else { return nil }
        let length = text.unicodeScalars.count
        if let minimum = field.minLength, length < minimum { return fail("too_short", "must be at least \(minimum) characters") }
        if let maximum = field.maxLength, length > maximum { return fail("too_long", "must be at most \(maximum) characters") }
        if let allowed = field.allowedCharacters, !allowed.admits(text) {
            return fail("invalid_characters", "may only contain [\(allowed.spec)]")
        }
        if let oneOf = field.oneOf, !oneOf.contains(text) {
            return fail("not_allowed_value", "must be one of \(oneOf.joined(separator: ", "))")
        }
        if let url = field.url, let problem = urlProblem(text, url) { return fail("invalid_url", problem) }
        return nil
    }

    /// Nil when `text` is an absolute URL with an allowed scheme and host.
    static func urlProblem(_ text: String, _ rule: URLRule) -> String? {
        guard let separator = text.range(of: "://") else { return "must be an absolute URL" }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard rule.schemes.contains(scheme) else { return "must use \(rule.schemes.joined(separator: " or "))" }
        let rest = text[separator.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@"), !text.contains(where: { $0 == " " || $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
            return "must be a plain URL with a host (no credentials, no spaces)"
        }
        var host = authority.lowercased()
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            guard host[host.index(after: colon)...].allSatisfy(\.isNumber) else { return "has an invalid port" }
            host = String(host[..<colon])
        }
        guard !rule.hosts.isEmpty else { return nil }
        let allowed = rule.hosts.contains { pattern in
            pattern.hasPrefix("*.") ? host.hasSuffix(pattern.dropFirst()) && host.count > pattern.count - 1 : host == pattern
        }
        return allowed ? nil : "must point to an allowed host"
    }
}
