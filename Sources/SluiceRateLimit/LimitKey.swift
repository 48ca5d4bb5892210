import SluiceGuards
import SluiceHTTP
import SluicePolicy

/// Builds a rule's counter key from the request: `rl:<algorithm>:{<rule>|<part>|<part>...}`.
/// The braced part is one hash tag, so a Redis Cluster keeps each counter on one slot (every
/// script uses one key). The algorithm (`tb`, `sl`, `sw`: each keeps another Redis type) is in
/// the key: gateways of one fleet that disagree on a rule's algorithm during a rolling reload
/// each keep their own counter, where one shared key of two types failed every call (WRONGTYPE)
/// and each script's reset of it let every request through on every gateway. Values are percent-escaped where they could break the tag (`{`, `}`, `|`, `%`,
/// controls, non-ASCII); a key longer than 200 bytes is replaced by its 64-bit FNV-1a hash.
///
/// A part the request lacks (no merchant yet, header or query parameter absent) counts as `-`:
/// all such requests share one counter, which is the conservative choice. `merchant` reads
/// `GuardRequest.merchantID`, set by the auth guard that runs before rate limiting; nothing
/// here changes when auth arrives.
enum LimitKey {
    static func make(rule: String, algorithm: LimitRule.Algorithm, parts: [LimitRulePolicy.KeyPart], request: GuardRequest) -> String {
        var key = ""
        key.reserveCapacity(rule.utf8.count + 11 + parts.count * 24)
        let prefix = algorithm.keyPrefix
        key += prefix
        key += rule
        for part in parts {
            key += "|"
            let value: Substring?
            switch part {
            case .clientIP: value = request.clientAddress[...]
            case .route: value = request.routeName[...]
            case .merchant: value = request.merchantID?[...]
            case .header(let name): value = request.head.headers[name]?[...]
            case .query(let name): value = queryValue(name, in: request.head.query)
            case .body(let path): value = bodyValue(path, in: request.body)
            }
            escape(value ?? "-", into: &key)
        }
        key += "}"
        if key.utf8.count > 200 {
            var hash: UInt64 = 0xcbf29ce484222325
            for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
            return prefix + rule + "|#" + String(hash, radix: 16) + "}"
        }
        return key
    }

    /// A scalar payment field of the (already parsed) body; containers and absent fields count
    /// as absent. The guard refuses unparseable bodies before keys are made.
    static func bodyValue(_ path: String, in body: RequestBody?) -> Substring? {
        guard let value = try? body?.payload()[path], !value.isContainer else { return nil }
        return value.text[...]
    }

    /// The value of the `name` parameter, percent-decoded (RFC 3986 §6.2.2.2: `190000000%31` is
    /// `1900000001`); nil (counted as absent, in the shared `-` counter) when there is none, when
    /// it comes more than once (backends disagree on which of `mchid=&mchid=A` counts), or when
    /// it is not in one canonical spelling (`isCanonical`). Keyed on any other spelling, a client
    /// could pass as a new merchant with every request.
    static func queryValue(_ name: String, in query: Substring?) -> Substring? {
        guard let query else { return nil }
        var found: Substring?
        for pair in query.split(separator: "&") {
            let equals = pair.firstIndex(of: "=")
            let rawName = equals.map { pair[..<$0] } ?? pair
            // Decoded (a String made) only when it holds an escape: this runs per parameter.
            guard rawName.utf8.contains(UInt8(ascii: "%")) ? PercentEncoding.decoded(rawName) == name : rawName == name else { continue }
            if found != nil { return nil }
            found = equals.map { PercentEncoding.decoded(pair[pair.index(after: $0)...])[...] } ?? ""
        }
        guard let found, isCanonical(found) else { return nil }
        return found
    }

    /// A value a backend reads in one way only: unreserved ASCII (`A-Z a-z 0-9 - . _ ~`), and a
    /// number without leading zeros. Anything else (`+` or spaces that form decoders and `int()`
    /// trim, `;` that older parsers split on, `0M` that every integer parser reads as `M`, a
    /// no-break space or full-width digits that Python and Java read as digits) could be another
    /// spelling of a key already counted.
    private static func isCanonical(_ value: Substring) -> Bool {
        let bytes = value.utf8
        guard bytes.allSatisfy(PercentEncoding.isUnreserved) else { return false }
        let isNumber = !bytes.isEmpty && bytes.allSatisfy { $0 &- UInt8(ascii: "0") < 10 }
        return !(isNumber && bytes.count > 1 && bytes.first == UInt8(ascii: "0"))
    }

    private static func escape(_ value: Substring, into key: inout String) {
        if value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "{") && $0 != UInt8(ascii: "}")
            && $0 != UInt8(ascii: "|") && $0 != UInt8(ascii: "%") }) {
            key += value
            return
        }
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in value.utf8 {
            if byte > 0x20 && byte < 0x7f && byte != UInt8(ascii: "{") && byte != UInt8(ascii: "}")
                && byte != UInt8(ascii: "|") && byte != UInt8(ascii: "%") {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        key += String(decoding: bytes, as: UTF8.self)
    }
}
