import SluicePayload

/// One field rule compiled for the request path: its path prepared for lookup (`PayloadPath`),
/// its allowed values as bytes. Built once per policy load; a reference, so walking a rule's
/// checks per request copies no rule (a `FieldRule` holds a dozen strings and collections).
final class FieldCheck: Sendable, Equatable {
    let rule: FieldRule
    let key: PayloadPath
    let isExact: Bool
    let required: Bool
    let type: FieldRule.FieldType?
    let minimum: Int64?
    let maximum: Int64?
    let hasMerchantMaximums: Bool
    /// Any string check at all (lengths, characters, values, URL).
    let checksText: Bool
    let minLength: Int?
    let maxLength: Int?
    let allowedCharacters: AllowedCharacters?
    let oneOf: [[UInt8]]?
    let url: URLRule?

    init(_ rule: FieldRule) {
        self.rule = rule
        key = PayloadPath(rule.path)
        isExact = rule.isExact
        required = rule.required
        type = rule.type
        minimum = rule.minimum
        maximum = rule.maximum
        hasMerchantMaximums = !rule.maxPerMerchant.isEmpty
        minLength = rule.minLength
        maxLength = rule.maxLength
        allowedCharacters = rule.allowedCharacters
        oneOf = rule.oneOf.map { $0.map { Array($0.utf8) } }
        url = rule.url
        checksText = minLength != nil || maxLength != nil || allowedCharacters != nil || oneOf != nil || url != nil
    }

    static func == (lhs: FieldCheck, rhs: FieldCheck) -> Bool { lhs.rule == rhs.rule }
}
