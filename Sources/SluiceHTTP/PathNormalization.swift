/// The request path every route decision and every upstream request uses (RFC 3986 §6.2.2).
///
/// A backend may read `/v3/pay/./jsapi`, `/v3/pay/%6Asapi` or `/v3//pay/jsapi` as the route a
/// guard protects while the router, comparing raw bytes, sent it elsewhere: an auth bypass. So
/// the path is normalised once, the router matches the normal form, and the same normal form is
/// forwarded; the backend never sees a spelling the router did not.
///
/// In order:
/// 1. `%XX` escapes are checked (two hex digits) and those of unreserved characters
///    (`A-Z a-z 0-9 - . _ ~`) decoded; other escapes stay, their hex upper-cased. An encoded `/`,
///    `\` or NUL is refused: no backend agrees on what they mean.
/// 2. A raw `\` is refused (some servers read it as `/`).
/// 3. Empty segments (`//`) are merged, or refused, as `duplicateSlashes` says.
/// 4. `.` and `..` segments are removed; a `..` that would climb above `/` is refused.
/// 5. A `;` in the path is refused, raw or as `%3B`: Java servers (Tomcat, Spring) drop each
///    segment's `;parameters` before routing, so `/open/..;/v3/pay` or `/open/v3/pay/jsapi;x`
///    would be a protected route to them and an open one to the router; and a proxy in between
///    that decodes (nginx's `proxy_pass` with a URI) turns `%3B` into `;`.
/// 6. A `#` anywhere in the target is refused: a request target has no fragment (RFC 9112
///    §3.2), and URL parsers (Node's, WHATWG) cut the path there, so `/open/v3/pay#` would be
///    the protected route to them.
///
/// The query is left as sent. A target that does not start with `/` (`OPTIONS *`) is left alone.
public enum PathNormalization {
    public enum DuplicateSlashes: String, Sendable, CaseIterable {
        /// `/a//b` is `/a/b` (nginx's `merge_slashes on`).
        case merge
        /// `/a//b` is answered 400.
        case reject
    }

    /// The request target with its path in normal form: the same String when nothing changes
    /// (the common case costs one scan and no allocation). The scan looks for what normalisation
    /// could change or refuse: a `%`, a `\\`, or a `/` followed by `/` or `.` (which also catches
    /// `/.well-known`: a slow path, same result).
    public static func normalizedTarget(_ target: String, duplicateSlashes: DuplicateSlashes) throws(PathError) -> String {
        var target = target
        // One pass over contiguous bytes: this runs for every request.
        let (pathLength, needsWork, refusal) = target.withUTF8 { bytes -> (Int, Bool, PathError.Kind?) in
            guard bytes.first == UInt8(ascii: "/") else { return (0, false, nil) }
            var previous: UInt8 = 0
            var needsWork = false
            var pathLength: Int?
            for (index, byte) in bytes.enumerated() {
                switch byte {
                case UInt8(ascii: "#"):
                    return (0, false, .fragment)
                case UInt8(ascii: "?") where pathLength == nil:
                    pathLength = index
                case _ where pathLength != nil:
                    break  // the query: only a fragment matters there
                case UInt8(ascii: ";"):
                    return (0, false, .parameters)
                case UInt8(ascii: "%"), UInt8(ascii: "\\"):
                    needsWork = true
                case UInt8(ascii: "/"), UInt8(ascii: "."):
                    if previous == UInt8(ascii: "/") { needsWork = true }
                default:
                    break
                }
                previous = byte
            }
            return (pathLength ?? bytes.count, needsWork, nil)
        }
        if let refusal { throw PathError(refusal) }
        guard needsWork else { return target }
        let utf8 = target.utf8
        let queryStart = utf8.index(utf8.startIndex, offsetBy: pathLength)
        let normalized = try normalize(Array(utf8[..<queryStart]), duplicateSlashes: duplicateSlashes)
        var result = String(decoding: normalized, as: UTF8.self)
        if queryStart != utf8.endIndex { result += target[queryStart...] }
        return result
    }

    /// Just the path (no query): what the policy checks route paths with.
    public static func normalizedPath(_ path: String, duplicateSlashes: DuplicateSlashes) throws(PathError) -> String {
        guard path.utf8.first == UInt8(ascii: "/") else { return path }
        return String(decoding: try normalize(Array(path.utf8), duplicateSlashes: duplicateSlashes), as: UTF8.self)
    }

    private static func normalize(_ path: [UInt8], duplicateSlashes: DuplicateSlashes) throws(PathError) -> [UInt8] {
        let decoded = try decodeEscapes(path)
        // Segments as ranges into `decoded`; the first byte is the leading '/'.
        var kept: [Range<Int>] = []
        var trailingSlash = false
        var start = 1
        while start <= decoded.count {
            var end = start
            while end < decoded.count && decoded[end] != UInt8(ascii: "/") { end += 1 }
            let segment = start..<end
            let isLast = end >= decoded.count
            switch segment.count {
            case 0:
                if isLast {
                    trailingSlash = !kept.isEmpty
                } else if duplicateSlashes == .reject {
                    throw PathError(.duplicateSlashes)
                }
            case 1 where decoded[start] == UInt8(ascii: "."):
                trailingSlash = isLast && !kept.isEmpty
            case 2 where decoded[start] == UInt8(ascii: ".") && decoded[start + 1] == UInt8(ascii: "."):
                guard !kept.isEmpty else { throw PathError(.aboveRoot) }
                kept.removeLast()
                trailingSlash = isLast && !kept.isEmpty
            default:
                kept.append(segment)
                trailingSlash = false
            }
            start = end + 1
        }
        var out: [UInt8] = []
        out.reserveCapacity(decoded.count)
        for segment in kept {
            out.append(UInt8(ascii: "/"))
            out.append(contentsOf: decoded[segment])
        }
        if out.isEmpty || trailingSlash { out.append(UInt8(ascii: "/")) }
        return out
    }

    /// Step 1 and 2: escapes checked and unreserved ones decoded; `\` refused.
    private static func decodeEscapes(_ path: [UInt8]) throws(PathError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.count)
        var index = 0
        while index < path.count {
            let byte = path[index]
            if byte == UInt8(ascii: "\\") { throw PathError(.backslash) }
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                index += 1
                continue
            }
            guard let value = PercentEncoding.escapedByte(in: path, at: index) else { throw PathError(.invalidEscape) }
            switch value {
            case UInt8(ascii: "/"): throw PathError(.encodedSlash)
            // A proxy that decodes before passing on (nginx's `proxy_pass` with a URI) hands a
            // Java backend a raw `;`: the bypass `;` itself is refused for.
            case UInt8(ascii: ";"): throw PathError(.parameters)
            case UInt8(ascii: "\\"): throw PathError(.encodedBackslash)
            case 0: throw PathError(.encodedNUL)
            default:
                if PercentEncoding.isUnreserved(value) {
                    out.append(value)
                } else {
                    PercentEncoding.appendEscaped(value, to: &out)
                }
            }
            index += 3
        }
        return out
    }

}

/// Why a request path was refused (answered 400 with `reason`).
public struct PathError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidEscape, encodedSlash, encodedBackslash, encodedNUL, backslash, aboveRoot, duplicateSlashes, parameters, fragment
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// A stable word for logs, metrics and the reply's `error` field.
    public var reason: String {
        switch kind {
        case .invalidEscape: return "invalid_path_escape"
        case .encodedSlash: return "encoded_slash_in_path"
        case .encodedBackslash: return "encoded_backslash_in_path"
        case .encodedNUL: return "encoded_nul_in_path"
        case .backslash: return "backslash_in_path"
        case .aboveRoot: return "path_above_root"
        case .duplicateSlashes: return "duplicate_slashes_in_path"
        case .parameters: return "parameters_in_path"
        case .fragment: return "fragment_in_target"
        }
    }

    public var description: String {
        switch kind {
        case .invalidEscape: return "a '%' in the path is not followed by two hex digits"
        case .encodedSlash: return "the path holds an encoded '/' (%2F)"
        case .encodedBackslash: return "the path holds an encoded '\\' (%5C)"
        case .encodedNUL: return "the path holds an encoded NUL (%00)"
        case .backslash: return "the path holds a '\\'"
        case .aboveRoot: return "a '..' segment climbs above the root"
        case .duplicateSlashes: return "the path holds an empty segment ('//')"
        case .parameters: return "the path holds a ';' or '%3B' (Java servers drop ';' parameters and would read another path)"
        case .fragment: return "the target holds a '#' (a request target has no fragment)"
        }
    }
}
