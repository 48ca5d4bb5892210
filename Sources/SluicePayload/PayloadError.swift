/// Why a request body was refused. The proxy answers 400 (problem+json) with `reason` as the
/// machine word and `message` as the human text.
///
/// The extractor is strict on purpose: a guard checks a signature or an idempotency key over the
/// fields *it* reads, and the backend acts on the fields *its* parser reads. Any input on which two
/// reasonable parsers could disagree (duplicate keys, lone surrogates, comments, entities, charsets)
/// is refused here rather than resolved one way, so the two readings can never differ.
public struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable machine words. Spelled once here; logs, metrics and tests match on them.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        // Shared by all formats.
        case emptyBody = "empty_body"
        case byteOrderMark = "byte_order_mark"
        case invalidUTF8 = "invalid_utf8"
        case controlCharacter = "control_character"
        case nulCharacter = "nul_character"
        case unexpectedEnd = "unexpected_end"
        case trailingData = "trailing_data"
        case duplicateKey = "duplicate_key"
        case invalidKey = "invalid_key"
        case keyTooLong = "key_too_long"
        case tooManyFields = "too_many_fields"
        // JSON.
        case unexpectedCharacter = "unexpected_character"
        case topLevelNotObject = "top_level_not_object"
        case invalidEscape = "invalid_escape"
        case loneSurrogate = "lone_surrogate"
        case invalidNumber = "invalid_number"
        case invalidLiteral = "invalid_literal"
        case tooDeep = "too_deep"
        // XML.
        case xmlDeclaration = "xml_declaration"
        case xmlDoctype = "xml_doctype"
        case xmlEntityDeclaration = "xml_entity_declaration"
        case xmlProcessingInstruction = "xml_processing_instruction"
        case xmlComment = "xml_comment"
        case xmlAttribute = "xml_attribute"
        case xmlNestedElement = "xml_nested_element"
        case xmlMismatchedTag = "xml_mismatched_tag"
        case xmlRootName = "xml_root_name"
        case xmlMixedContent = "xml_mixed_content"
        case xmlTextOutsideRoot = "xml_text_outside_root"
        case xmlUnknownEntity = "xml_unknown_entity"
        case xmlInvalidCharacterReference = "xml_invalid_char_ref"
        case xmlInvalidCharacter = "xml_invalid_character"
        case xmlCarriageReturn = "xml_carriage_return"
        case xmlMalformed = "xml_malformed"
        // Form.
        case invalidPercentEscape = "invalid_percent_escape"
        case emptyKey = "empty_key"
        case formMissingEquals = "form_missing_equals"
        case formSemicolon = "form_semicolon"
        // Content-Type.
        case unsupportedMediaType = "unsupported_media_type"
        case unsupportedCharset = "unsupported_charset"
        case invalidContentType = "invalid_content_type"
    }

    /// The machine word, e.g. `.duplicateKey` (`reason.rawValue` is `"duplicate_key"`).
    public let reason: Reason
    /// What is wrong, without position: `duplicate key "mchid"`.
    public let detail: String
    /// Byte offset into the body where the problem was found, when it is about the body.
    public let offset: Int?
    /// Field path of the enclosing object (JSON) when known and not the top level.
    public let path: String?

    public init(_ reason: Reason, _ detail: String, offset: Int? = nil, path: String? = nil) {
        self.reason = reason
        self.detail = detail
        self.offset = offset
        self.path = (path?.isEmpty ?? true) ? nil : path
    }

    /// Human text naming what and where: `duplicate key "total" in "amount" at offset 57`.
    public var message: String {
        var text = detail
        if let path { text += " in " + quoted(path) }
        if let offset { text += " at offset " + String(offset) }
        return text
    }

    /// `duplicate_key: duplicate key "mchid" at offset 57`.
    public var description: String { reason.rawValue + ": " + message }
}

/// A string shown in an error message: quoted, control characters escaped, at most 64 characters,
/// so that hostile keys cannot forge log lines or bloat the 400 response.
func quoted(_ text: String) -> String {
    var out = "\""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == 64 { out += "…"; break }
        count += 1
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                     || scalar.value == 0x2028 || scalar.value == 0x2029:
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A byte shown in an error message: `'x'` for printable ASCII, `0xNN` otherwise.
func describeByte(_ byte: UInt8) -> String {
    if byte >= 0x21 && byte < 0x7F { return "'" + String(UnicodeScalar(byte)) + "'" }
    let hex = String(byte, radix: 16, uppercase: true)
    return "0x" + (hex.count == 1 ? "0" + hex : hex)
}
