import Yams

/// What changes between two policies, in a stable, reviewable form (`sluice diff`, and one log
/// line per change on every reload): named items of the list sections (listeners, clusters,
/// routes, limits, ...) added, removed, or changed key by key; settings sections (server,
/// redis, auth, ...) key by key. Compared on the YAML as written, canonicalised (keys sorted,
/// one line per value), so formatting, comments and file layout never show as changes.
public enum PolicyDiff {
    /// A policy as section → item → its fields (key → value, one line each). Items of a list
    /// section are named by their `name` (or `id`); a settings mapping is the item "".
    ///
    /// The running server keeps one of these to log what each reload changes, so an item's fields
    /// are stored packed in one string (sorted `key US value` pairs, RS between them) rather than
    /// as a dictionary: at 10,000 routes that is about 1 KB less per route. They are unpacked
    /// only for the items that differ.
    public struct Canonical: Sendable, Equatable {
        private(set) var sections: [String: [String: String]] = [:]
        public init() {}

        mutating func set(_ section: String, _ item: String, _ fields: [String: String]) {
            sections[section, default: [:]][item] = Self.pack(fields)
        }

        private static let pairSeparator: Character = "\u{1E}"
        private static let keySeparator: Character = "\u{1F}"

        static func pack(_ fields: [String: String]) -> String {
            fields.sorted { $0.key < $1.key }.map { "\($0.key)\(keySeparator)\($0.value)" }.joined(separator: String(pairSeparator))
        }

        static func unpack(_ packed: String) -> [String: String] {
            guard !packed.isEmpty else { return [:] }
            var fields: [String: String] = [:]
            for pair in packed.split(separator: pairSeparator, omittingEmptySubsequences: false) {
                let parts = pair.split(separator: keySeparator, maxSplits: 1, omittingEmptySubsequences: false)
                fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            return fields
        }
    }

    public static func canonical(directory: String) throws(PolicyLoadError) -> Canonical {
        try canonical(sources: PolicyLoader.sourceTexts(directory: directory))
    }

    public static func canonical(sources: [(path: String, text: String)]) throws(PolicyLoadError) -> Canonical {
        var result = Canonical()
        for source in sources {
            let root: Node?
            if let problem = YAMLNesting.problem(in: source.text) {
                throw PolicyLoadError(errors: [PolicyError(file: source.path, line: problem.line, column: problem.column, message: problem.message)])
            }
            do { root = try Yams.compose(yaml: source.text) } catch {
                throw PolicyLoadError(errors: [PolicyError(file: source.path, line: 1, column: 1, message: "not valid YAML: \(error)")])
            }
            guard let mapping = root?.mapping else { continue }
            for (keyNode, value) in mapping {
                guard let section = keyNode.string else { continue }
                if let items = value.sequence {
                    for (index, item) in items.enumerated() {
                        let fields = item.mapping.map(Self.fields) ?? ["": flow(item)]
                        let name = fields["name"] ?? fields["id"] ?? "#\(index + 1)"
                        result.set(section, name, fields.filter { $0.key != "name" })
                    }
                } else if let settings = value.mapping {
                    result.set(section, "", fields(settings))
                } else {
                    result.set(section, "", ["": flow(value)])
                }
            }
        }
        return result
    }

    /// One line per change, sorted by section, item and key; empty when nothing changed.
    public static func changes(from old: Canonical, to new: Canonical) -> [String] {
        var lines: [String] = []
        for section in Set(old.sections.keys).union(new.sections.keys).sorted() {
            let before = old.sections[section] ?? [:], after = new.sections[section] ?? [:]
            for item in Set(before.keys).union(after.keys).sorted() where before[item] != after[item] {
                let label = item.isEmpty ? section : "\(singular(section)) \(item)"
                let was = before[item].map(Canonical.unpack), now = after[item].map(Canonical.unpack)
                switch (was, now) {
                case (nil, let added?) where !item.isEmpty:
                    lines.append("+ \(label)" + (added.isEmpty ? "" : " " + describe(added)))
                case (let removed?, nil) where !item.isEmpty:
                    lines.append("- \(label)" + (removed.isEmpty ? "" : " " + describe(removed)))
                default:
                    let was = was ?? [:], now = now ?? [:]
                    for key in Set(was.keys).union(now.keys).sorted() where was[key] != now[key] {
                        let field = key.isEmpty ? "" : key + " "
                        switch (was[key], now[key]) {
                        case (nil, let value?): lines.append("~ \(label): + \(field)\(value)")
                        case (let value?, nil): lines.append("~ \(label): - \(field)\(value)")
                        case (let from?, let to?): lines.append("~ \(label): \(field)\(from) -> \(to)")
                        default: break
                        }
                    }
                }
            }
        }
        return lines
    }

    private static func fields(_ mapping: Node.Mapping) -> [String: String] {
        var fields: [String: String] = [:]
        for (key, value) in mapping { fields[key.string ?? flow(key)] = flow(value) }
        return fields
    }

    /// A node on one line: scalars as written, `[a, b]`, `{k: v}` with keys sorted.
    static func flow(_ node: Node) -> String {
        if let sequence = node.sequence { return "[" + sequence.map(flow).joined(separator: ", ") + "]" }
        if let mapping = node.mapping {
            return "{" + mapping.map { ($0.key.string ?? flow($0.key), flow($0.value)) }.sorted { $0.0 < $1.0 }
                .map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        }
        return node.string ?? ""
    }

    private static func describe(_ fields: [String: String]) -> String {
        "{" + fields.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
    }

    private static func singular(_ section: String) -> String {
        switch section {
        case "routes": return "route"
        case "listeners": return "listener"
        case "clusters": return "cluster"
        case "limits": return "limit"
        case "merchants": return "merchant"
        case "bulkheads": return "bulkhead"
        case "breakers": return "breaker"
        case "validations": return "validation"
        case "idempotency": return "idempotency rule"
        default: return section
        }
    }
}
