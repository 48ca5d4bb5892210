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
            if field.isExact {
                guard let value = payload[field.path] else {
                    if field.required { return Violation(code: "missing_field", field: field.path, detail: "\(field.path) is required") }
                    continue
                }
                if let violation = check(value, at: field.path, field, merchant: merchant) { return violation }
                continue
            }
            for found in payload.fields where field.matches(found.name) {
                if let violation = check(found.value, at: found.name, field, merchant: merchant) { return violation }
            }
        }
        if rule.strict, let unknown = payload.fields.first(where: { !rule.lists($0.name) }) {
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
        // Unicode scalars, counted on the UTF-8 bytes (every byte but a continuation starts one).
        let length = text.utf8.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
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

    /// Nil when `text` is an absolute URL with an allowed scheme and host. Works on the UTF-8
    /// bytes: scheme `://` authority, no credentials, no spaces or control characters.
    static func urlProblem(_ text: String, _ rule: URLRule) -> String? {
        let bytes = Array(text.utf8)
        guard !bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return "must be a plain URL (no spaces or control characters)" }
        var separator: Int?
        for index in 0..<max(bytes.count - 2, 0) where bytes[index] == UInt8(ascii: ":")
            && bytes[index + 1] == UInt8(ascii: "/") && bytes[index + 2] == UInt8(ascii: "/") {
            separator = index
            break
        }
        guard let separator, separator > 0 else { return "must be an absolute URL" }
        let scheme = String(decoding: bytes[..<separator].map { $0 | 0x20 }, as: UTF8.self)
        guard rule.schemes.contains(scheme) else { return "must use \(rule.schemes.joined(separator: " or "))" }
        let start = separator + 3
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "/"), bytes[end] != UInt8(ascii: "?"), bytes[end] != UInt8(ascii: "#") { end += 1 }
        var authority = Array(bytes[start..<end])
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { return "must be a plain URL with a host (no credentials)" }
        if authority.last != UInt8(ascii: "]"), let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            guard authority[(colon + 1)...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return "has an invalid port" }
            authority = Array(authority[..<colon])
        }
        guard !rule.hosts.isEmpty else { return nil }
        let host = String(decoding: authority.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        let allowed = rule.hosts.contains { pattern in
            pattern.hasPrefix("*.") ? host.hasSuffix(pattern.dropFirst()) && host.utf8.count > pattern.utf8.count - 1 : host == pattern
        }
        return allowed ? nil : "must point to an allowed host"
    }
}
