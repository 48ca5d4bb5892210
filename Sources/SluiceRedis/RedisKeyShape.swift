/// The shape of a Redis key a guard builds: fixed text and request values, in order. Used by
/// `sluice check` to prove, before a policy runs on a Redis Cluster, that every multi-key script
/// keeps all its keys on one slot: each key must carry a hash tag that its fixed text opens and
/// closes, holding the same non-empty parts in every key of the call. Otherwise the keys could
/// land on different slots and Redis would refuse the script (CROSSSLOT) for some requests.
public struct RedisKeyShape: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case text(String)
        /// A value from the request or the policy. `mayHoldBraces`: it can contain `{` or `}`
        /// (which would move the tag); `mayBeEmpty`: it can be "".
        case value(String, mayHoldBraces: Bool, mayBeEmpty: Bool)
    }

    public var parts: [Part]

    public init(_ parts: [Part]) { self.parts = parts }

    public var description: String {
        parts.map { part in
            switch part {
            case .text(let text): return text
            case .value(let name, _, _): return "<\(name)>"
            }
        }.joined()
    }

    /// Why `keys`, used together in one call, could span slots; nil when they cannot.
    public static func spanProblem(_ keys: [RedisKeyShape]) -> String? {
        guard keys.count > 1 else { return nil }
        var firstTag: [Part]?
        for key in keys {
            switch key.hashTag() {
            case .failure(let why):
                return "key \(key) \(why)"
            case .success(let tag):
                if let firstTag, firstTag != tag {
                    return "keys \(keys[0]) and \(key) have different hash tags"
                }
                firstTag = tag
            }
        }
        return nil
    }

    /// The parts between the first `{` and the first `}` after it, when fixed text places both
    /// whatever the values, and the tag is never empty.
    func hashTag() -> Result<[Part], Problem> {
        var tag: [Part] = []
        var opened = false
        for part in parts {
            switch part {
            case .value(_, let mayHoldBraces, _):
                if mayHoldBraces { return .failure(.valueMayHoldBraces) }
                if opened { tag.append(part) }
            case .text(let text):
                guard opened else {
                    guard let open = text.firstIndex(of: "{") else { continue }
                    opened = true
                    let rest = text[text.index(after: open)...]
                    if let close = rest.firstIndex(of: "}") { return Self.closed(tag + [.text(String(rest[..<close]))]) }
                    if !rest.isEmpty { tag.append(.text(String(rest))) }
                    continue
                }
                if let close = text.firstIndex(of: "}") { return Self.closed(tag + [.text(String(text[..<close]))]) }
                tag.append(part)
            }
        }
        return .failure(opened ? .unclosed : .noTag)
    }

    private static func closed(_ tag: [Part]) -> Result<[Part], Problem> {
        let tag = tag.filter { $0 != .text("") }
        let neverEmpty = tag.contains { part in
            if case .value(_, _, let mayBeEmpty) = part { return !mayBeEmpty }
            return true
        }
        return neverEmpty ? .success(tag) : .failure(.mayBeEmpty)
    }

    enum Problem: Error, CustomStringConvertible {
        case noTag, unclosed, mayBeEmpty, valueMayHoldBraces
        var description: String {
            switch self {
            case .noTag: return "has no hash tag"
            case .unclosed: return "opens a hash tag it does not close"
            case .mayBeEmpty: return "has a hash tag that may be empty"
            case .valueMayHoldBraces: return "holds a value that may contain '{' or '}' (the hash tag would move)"
            }
        }
    }
}
