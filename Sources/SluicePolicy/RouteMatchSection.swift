import SluiceHTTP
import Yams

extension PolicyFileReader {
    /// The `match` mapping of a route: exactly one of `path` / `prefix`, and optional methods,
    /// host and headers. Nil when the path part is unusable (reported).
    func routeMatch(_ node: Node, of what: String) -> RouteMatch? {
        guard let fields = mapping(node, what: "match of \(what)", allowed: ["methods", "path", "prefix", "host", "headers"]) else {
            return nil
        }
        var methods: [String]?
        var host: String?
        var headers: [(name: String, value: String)] = []
        if let node = fields["methods"] { methods = self.methods(node) }
        if let node = fields["host"] { host = self.host(node) }
        if let node = fields["headers"] { headers = self.headers(node, of: what) }

        let pathMatch: PathMatch?
        switch (fields["path"], fields["prefix"]) {
        case (let path?, nil): pathMatch = requestPath(path).map(PathMatch.exact)
        case (nil, let prefix?): pathMatch = requestPath(prefix).map(PathMatch.prefix)
        case (_?, let prefix?):
            report("match has both path and prefix (use one: path is exact, prefix matches the start)", at: prefix)
            pathMatch = nil
        case (nil, nil):
            report("match of \(what) needs a path (exact) or a prefix", at: node)
            pathMatch = nil
        }
        return pathMatch.map { RouteMatch(methods: methods, path: $0, host: host, headers: headers) }
    }

    /// A path as the router compares it: absolute, without a query (never part of the compared
    /// path), and already in the normal form requests are matched in (`/a/./b` or `/a/%62`
    /// could never match a normalised request path).
    private func requestPath(_ node: Node) -> String? {
        parsed(node, expected: "a path like /v3/pay/") { text in
            guard text.hasPrefix("/") else { return .failure(SyntaxProblem("path '\(text)' must start with '/'")) }
            guard !text.contains("?") else { return .failure(SyntaxProblem("path '\(text)' must not contain a query ('?')")) }
            guard !text.contains(where: { $0.isWhitespace }) else {
                return .failure(SyntaxProblem("path '\(text)' must not contain spaces"))
            }
            do {
                let normal = try PathNormalization.normalizedPath(text, duplicateSlashes: .merge)
                guard normal == text else {
                    return .failure(SyntaxProblem("path '\(text)' is not in normal form: requests are matched as '\(normal)'"))
                }
            } catch {
                return .failure(SyntaxProblem("path '\(text)' can never match: \(error)"))
            }
            return .success(text)
        }
    }

    /// HTTP methods are case-sensitive, so `post` would never match a real POST: demand the
    /// upper-case token rather than quietly fixing it.
    private func methods(_ node: Node) -> [String]? {
        guard let items = list(node, expected: "a list of methods like [GET, POST]") else { return nil }
        if items.isEmpty {
            report("methods is empty (omit it to allow any method)", at: node)
            return nil
        }
        var methods: [String] = []
        for item in items {
            guard let method = text(item, expected: "a method like POST") else { continue }
            guard !method.isEmpty, method.allSatisfy({ ("A"..."Z").contains($0) || $0 == "-" || $0 == "_" }) else {
                report("method '\(method)' must be an upper-case token like POST", at: item)
                continue
            }
            if !methods.contains(method) { methods.append(method) }
        }
        return methods
    }

    /// Hosts compare case-insensitively and without the request's port, so the policy keeps
    /// them lower-cased and refuses a port that could never match.
    private func host(_ node: Node) -> String? {
        parsed(node, expected: "a host name like api.example.com") { text in
            let lower = text.lowercased()
            let isBracketedIPv6 = lower.hasPrefix("[") && lower.hasSuffix("]") && lower.count > 2
                && lower.dropFirst().dropLast().allSatisfy(\.isIPv6AddressCharacter)
            if isBracketedIPv6 { return .success(lower) }
            if lower.contains(":") {
                return .failure(SyntaxProblem("host '\(text)' must not include a port (hosts are compared without it)"))
            }
            guard !lower.isEmpty, lower.allSatisfy(\.isHostNameCharacter) else {
                return .failure(SyntaxProblem("invalid host '\(text)'"))
            }
            return .success(lower)
        }
    }

    /// Header constraints as a mapping of name to exact value; names lower-cased, as the codecs
    /// deliver them.
    private func headers(_ node: Node, of what: String) -> [(name: String, value: String)] {
        guard let mapping = node.mapping else {
            report("expected a mapping of header names to values, like {x-env: prod}", at: node)
            return []
        }
        var headers: [(name: String, value: String)] = []
        var seen: [String: SourcePosition] = [:]
        for (nameNode, valueNode) in mapping {
            guard let rawName = text(nameNode, expected: "a header name") else { continue }
            let name = rawName.lowercased()
            guard !name.isEmpty, name.allSatisfy(\.isHeaderNameCharacter) else {
                report("invalid header name '\(rawName)'", at: nameNode)
                continue
            }
            if let first = seen[name] {
                report("duplicate header '\(name)' (first defined at \(first))", at: nameNode)
                continue
            }
            seen[name] = position(of: nameNode)
            guard let value = text(valueNode, expected: "a header value") else { continue }
            headers.append((name: name, value: value))
        }
        return headers
    }
}

extension Character {
    /// RFC 9110 token characters.
    var isHeaderNameCharacter: Bool {
        isASCII && (isLetter || isNumber || "!#$%&'*+-.^_`|~".contains(self))
    }
}
