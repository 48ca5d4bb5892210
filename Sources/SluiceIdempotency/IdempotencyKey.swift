import SluiceGuards
import SluiceHTTP
import SluicePayload
import SluiceRedis

/// A request's idempotency key, found by the rule's sources in order, and the Redis key of its
/// record.
struct IdempotencyKey: Equatable {
    /// `h` for a header key, `b` for a business key: the two never name the same record.
    let kind: Character
    let value: String

    /// Why a request's key is unusable.
    enum Problem: Error, Equatable {
        case invalidHeader(String)
        case repeatedHeader(String)
        /// A key field the body has, with no usable value (empty, null, an object or an array).
        case emptyBodyField(String)
        /// The rule reads a business key from a body that cannot be read strictly.
        case invalidBody(PayloadError)
    }

    static let maximumLength = 255

    /// Every key the request carries, in the rule's order (empty: none). A business key needs
    /// every named field; one that is there without a usable value (`"id": ""`, null, an object)
    /// is refused, not taken for a request without the key: that one went to the backend
    /// with no duplicate protection and nothing said so.
    static func findAll(_ sources: [IdempotencyRulePolicy.KeySource], in request: GuardRequest) throws(Problem) -> [IdempotencyKey] {
        var keys: [IdempotencyKey] = []
        for source in sources {
            switch source {
            case .header(let name):
                let values = request.head.headers.values(for: name)
                guard let raw = values.first else { continue }
                guard values.count == 1 else { throw .repeatedHeader(name) }
                guard let parsed = parseHeaderValue(raw) else { throw .invalidHeader(name) }
                keys.append(IdempotencyKey(kind: "h", value: parsed))
            case .body(let paths, let names):
                guard let body = request.body else { continue }
                let payload: PaymentPayload
                do { payload = try body.payload() } catch { throw .invalidBody(error) }
                var parts: [String] = []
                for path in paths {
                    guard let value = payload[path] else { break }
                    guard !value.isContainer, !value.isNull, !value.isEmpty else { throw .emptyBodyField(path) }
                    parts.append(value.text)
                }
                guard parts.count == paths.count else { continue }
                // The fields' record names and a unit separator between values: ("ab", "c") and
                // ("a", "bc") are different keys, and so are business keys of other fields with
                // equal values.
                keys.append(IdempotencyKey(kind: "b", value: (names ?? paths).joined(separator: ",") + "\u{1F}" + parts.joined(separator: "\u{1F}")))
            }
        }
        return keys
    }

    /// An RFC 9651 sf-string (`"..."`, escapes `\"` and `\\` only, printable ASCII), or a bare
    /// token of visible ASCII without quotes or backslashes, as Stripe-style clients send; both
    /// normalise to the string's content. Nil when neither, empty, or longer than 255.
    static func parseHeaderValue(_ raw: String) -> String? {
        let bytes = Array(raw.utf8)
        var out: [UInt8] = []
        if bytes.first == UInt8(ascii: "\"") {
            guard bytes.count >= 2, bytes.last == UInt8(ascii: "\"") else { return nil }
            var index = 1
            while index < bytes.count - 1 {
                var byte = bytes[index]
                if byte == UInt8(ascii: "\\") {
                    index += 1
                    guard index < bytes.count - 1 else { return nil }
                    byte = bytes[index]
                    guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { return nil }
                } else if byte == UInt8(ascii: "\"") || byte < 0x20 || byte > 0x7E {
                    return nil
                }
                out.append(byte)
                index += 1
            }
        } else {
            guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else { return nil }
            out = bytes
        }
        guard !out.isEmpty, out.count <= maximumLength else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// `idem:{<scope>}:<rule>:<sha256 of kind and key>`: one record per (merchant, rule, key),
    /// hash-tagged by merchant (Redis Cluster keeps a merchant's records on one slot), of a
    /// bounded size whatever the client sent. Per rule, not per route: routes that share a rule
    /// (an order created by JSAPI or, after a timeout, by Native with the same out_trade_no)
    /// share its records, so the second finds the first (keyed per route, both executed).
    func recordKey(scope: String, rule: String) -> String {
        "idem:{" + scope + "}:" + rule + ":" + Digests.sha256Hex(Array((String(kind) + ":" + value).utf8))
    }

    /// `recordKey`'s shape, for the cluster check: the scope is a merchant id (auth allows
    /// letters, digits, `_` and `-` only) or `-` without auth, so the tag is fixed and never empty.
    static let recordKeyShape = RedisKeyShape([
        .text("idem:{"), .value("merchant", mayHoldBraces: false, mayBeEmpty: false), .text("}:"),
        .value("rule", mayHoldBraces: true, mayBeEmpty: false), .text(":"), .value("sha256", mayHoldBraces: false, mayBeEmpty: false),
    ])

    /// What must match for a replay: method, normalised target and body, hashed.
    static func fingerprint(method: String, target: String, bodySHA256Hex: String) -> String {
        Digests.sha256Hex(Array((method + "\n" + target + "\n" + bodySHA256Hex).utf8))
    }

    /// The body's part of the fingerprint: its SHA-256, or, when the rule ignores some fields
    /// and the body can be read, the SHA-256 of its other top-level fields sorted by name
    /// (name, kind and value, separated so that no two bodies run together).
    static func bodyDigest(_ body: RequestBody?, ignoring ignored: [String]) -> String {
        guard let body else { return Digests.emptySHA256Hex }
        guard !ignored.isEmpty, let payload = try? body.payload() else { return body.sha256Hex }
        var bytes: [UInt8] = []
        for field in payload.fields.filter({ !ignored.contains($0.name) }).sorted(by: { $0.name < $1.name }) {
            bytes += Array(field.name.utf8) + [0x1F] + Array(String(describing: field.value.kind).utf8) + [0x1F]
                + Array(field.value.text.utf8) + [0x1E]
        }
        return Digests.sha256Hex(bytes)
    }
}
