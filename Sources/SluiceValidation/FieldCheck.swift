import SluicePayload

/// One field rule compiled for the request path: its path prepared for lookup (`PayloadPath`),
/// its allowed values as bytes, what it checks at all. Built once per policy load; a reference,
/// so walking a rule's checks per request copies no rule (a `FieldRule` holds a dozen strings
/// and collections: read its settings through `rule.`, never bind `rule` to a local).
final class FieldCheck: Sendable, Equatable {
    let rule: FieldRule
    let key: PayloadPath
    let hasMerchantMaximums: Bool
    /// Any string check at all (lengths, characters, values, URL).
    let checksText: Bool
    let oneOf: [[UInt8]]?

    init(_ rule: FieldRule) {
        self.rule = rule
        key = PayloadPath(rule.path)
        hasMerchantMaximums = !rule.maxPerMerchant.isEmpty
        oneOf = rule.oneOf.map { $0.map { Array($0.utf8) } }
        checksText = rule.minLength != nil || rule.maxLength != nil || rule.allowedCharacters != nil || rule.oneOf != nil
            || rule.url != nil
    }

    static func == (lhs: FieldCheck, rhs: FieldCheck) -> Bool { lhs.rule == rhs.rule }
}
