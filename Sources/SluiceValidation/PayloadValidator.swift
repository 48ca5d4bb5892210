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
        payload.withFields { fields -> Violation? in
            // Exact paths are looked up and read in place; only wildcard and strict rules need
            // every field by name.
            var named: [PayloadField]?
            for check in rule.checks {
                if check.rule.isExact {
                    guard let k = fields.position(of: check.key) else {
                        // Spelled in another case, it would reach a case-blind backend unchecked.
                        if fields.hasCaseVariant(of: check.key) {
                            return Violation(code: "field_name_case", field: check.key.path,
                                             detail: "\(check.key.path) is sent with its name in another letter case")
                        }
                        if check.rule.required { return Violation(code: "missing_field", field: check.key.path, detail: "\(check.key.path) is required") }
                        continue
                    }
                    if let violation = self.check(fields.kind(at: k), fields.bytes(at: k), at: check.key.path, check, merchant: merchant) {
                        return violation
                    }
                    continue
                }
                if named == nil { named = payload.fields }
                for found in named! where check.rule.matches(found.name) {
                    let violation = found.value.withUTF8 { self.check(found.value.kind, $0, at: found.name, check, merchant: merchant) }
                    if let violation { return violation }
                }
            }
            if rule.strict, let unknown = (named ?? payload.fields).first(where: { !rule.lists($0.name) }) {
                return Violation(code: "unknown_field", field: unknown.name, detail: "\(unknown.name) is not a field of this API")
            }
            return nil
        }
    }

    /// One field's checks on its kind and bytes, in place; a violation's message is made only
    /// when one is found.
    private static func check(_ kind: PayloadValue.Kind, _ bytes: UnsafeBufferPointer<UInt8>, at path: String,
                              _ field: FieldCheck, merchant: String?) -> Violation? {
        func fail(_ code: String, _ detail: String) -> Violation { Violation(code: code, field: path, detail: "\(path) \(detail)") }
        if kind == .null {
            return field.rule.required ? fail("missing_field", "is required (null given)") : nil
        }
        if let type = field.rule.type {
            var integer: Int64?
            let ok: Bool
            switch type {
            case .string: ok = kind == .string || kind == .text
            case .integer:
                integer = PayloadValue.integer(kind, bytes)
                ok = integer != nil
            case .boolean: ok = kind == .bool
            case .object: ok = kind == .object
            case .array: ok = kind == .array
            }
            if !ok {
                let value = PayloadValue(kind: kind, text: String(decoding: bytes, as: UTF8.self))
                let sent = kind == .string ? "a string" : kind == .number ? "the number \(value.text)" : value.description
                return fail("wrong_type", "must be \(type == .integer ? "an integer (in fen, as digits)" : "of type \(type.rawValue)"), not \(sent)")
            }
            if let number = integer {
                if let minimum = field.rule.minimum, number < minimum { return fail("out_of_range", "must be at least \(minimum)") }
                var maximum = field.rule.maximum
                if field.hasMerchantMaximums, let merchant, let own = field.rule.maxPerMerchant[merchant] { maximum = own }
                if let maximum, number > maximum { return fail("out_of_range", "must be at most \(maximum)") }
            }
        }
        if field.rule.isMerchant, kind == .string || kind == .text {
            guard let merchant else { return fail("merchant_mismatch", "must be the verified merchant, and this request has none") }
            guard merchant.utf8.elementsEqual(bytes) else { return fail("merchant_mismatch", "must be the merchant that signed the request") }
        }
        guard field.checksText, kind == .string || kind == .text else { return nil }
        guard let (code, detail) = textProblem(bytes, field) else { return nil }
        return fail(code, detail)
    }

    /// The string checks, on the value's UTF-8 bytes: (code, what is wrong) or nil.
    private static func textProblem(_ text: UnsafeBufferPointer<UInt8>, _ field: FieldCheck) -> (String, String)? {
        // Only ASCII passes a character set, so a text that passes has one character per byte.
        let admitted = field.rule.allowedCharacters.map { $0.admits(text) }
        if field.rule.minLength != nil || field.rule.maxLength != nil {
            let length: Int
            if admitted == true || (field.rule.minLength == nil && text.count <= field.rule.maxLength!) {
                length = text.count  // characters ≤ bytes: within the maximum without counting
            } else {
                // Unicode scalars: every byte but a continuation byte starts one.
                var scalars = 0
                for byte in text where byte & 0xC0 != 0x80 { scalars += 1 }
                length = scalars
            }
            if let minimum = field.rule.minLength, length < minimum { return ("too_short", "must be at least \(minimum) characters") }
            if let maximum = field.rule.maxLength, length > maximum { return ("too_long", "must be at most \(maximum) characters") }
        }
        if let allowed = field.rule.allowedCharacters, admitted == false {
            return ("invalid_characters", "may only contain [\(allowed.spec)]")
        }
        if let oneOf = field.oneOf, !oneOf.contains(where: { allowed in allowed.withUnsafeBufferPointer { $0.elementsEqual(text) } }) {
            return ("not_allowed_value", "must be one of \(field.rule.oneOf?.joined(separator: ", ") ?? "")")
        }
        if let url = field.rule.url, let problem = urlProblem(text, url) { return ("invalid_url", problem) }
        return nil
    }

    static func urlProblem(_ text: String, _ rule: URLRule) -> String? {
        Array(text.utf8).withUnsafeBufferPointer { urlProblem($0, rule) }
    }

    /// Nil when `bytes` is an absolute URL with an allowed scheme and host: scheme `://`
    /// authority, no credentials, no spaces or control characters. Compared in place.
    static func urlProblem(_ bytes: UnsafeBufferPointer<UInt8>, _ rule: URLRule) -> String? {
        if bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F }) { return "must be a plain URL (no spaces or control characters)" }
        // WHATWG parsers (browsers, Node, Deno) read `\\` as `/` in an https URL:
        // `https://evil.example\\.merchant.example/` is evil.example to them.
        if bytes.contains(UInt8(ascii: "\\")) { return "must be a plain URL (no backslashes)" }
        var separator: Int?
        var index = 0
        while index + 2 < bytes.count {
            if bytes[index] == UInt8(ascii: ":") && bytes[index + 1] == UInt8(ascii: "/") && bytes[index + 2] == UInt8(ascii: "/") {
                separator = index
                break
            }
            index += 1
        }
        guard let separator, separator > 0 else { return "must be an absolute URL" }
        let scheme = UnsafeBufferPointer(rebasing: bytes[..<separator])
        guard rule.schemes.contains(where: { equalIgnoringASCIICase(scheme, $0) }) else {
            return "must use \(rule.schemes.joined(separator: " or "))"
        }
        let start = separator + 3
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "/"), bytes[end] != UInt8(ascii: "?"), bytes[end] != UInt8(ascii: "#") { end += 1 }
        var authority = UnsafeBufferPointer(rebasing: bytes[start..<end])
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { return "must be a plain URL with a host (no credentials)" }
        if authority.last != UInt8(ascii: "]"), let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            guard authority[(colon + 1)...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return "has an invalid port" }
            authority = UnsafeBufferPointer(rebasing: authority[..<colon])
        }
        // A host is a name (letters, digits, `-`, `.`) or a bracketed IP literal: no escapes or
        // other characters that another URL parser could read as a different host.
        let isIPLiteral = authority.first == UInt8(ascii: "[") && authority.last == UInt8(ascii: "]")
        guard isIPLiteral || authority.allSatisfy({ byte in
            (byte | 0x20) &- UInt8(ascii: "a") < 26 || byte &- UInt8(ascii: "0") < 10 || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }) else { return "has an invalid host" }
        guard !rule.hosts.isEmpty else { return nil }
        let host = authority
        let allowed = rule.hosts.contains { pattern in
            guard pattern.hasPrefix("*.") else { return equalIgnoringASCIICase(host, pattern) }
            // `*.example.com`: any subdomain, not the bare domain.
            let suffix = pattern.utf8.count - 1
            return host.count > suffix && equalIgnoringASCIICase(UnsafeBufferPointer(rebasing: host[(host.count - suffix)...]),
                                                                 pattern.utf8.dropFirst())
        }
        return allowed ? nil : "must point to an allowed host"
    }

    /// `bytes`, with ASCII letters lowered, equal to `lowercase` (which the policy lowered).
    private static func equalIgnoringASCIICase<S: Collection<UInt8>>(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: S) -> Bool {
        guard bytes.count == lowercase.count else { return false }
        var index = 0
        for expected in lowercase {
            let byte = bytes[index]
            if (byte &- 0x41 < 26 ? byte | 0x20 : byte) != expected { return false }
            index += 1
        }
        return true
    }

    private static func equalIgnoringASCIICase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: String) -> Bool {
        equalIgnoringASCIICase(bytes, lowercase.utf8)
    }
}
