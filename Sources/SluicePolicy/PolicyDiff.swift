import Yams

/// What changes between two policies, in a stable, reviewable form (`sluice diff`, and one log
/// line per change on every reload): named items of the list sections (listeners, clusters,
/// routes, limits, ...) added, removed, or changed key by key; settings sections (server,
/// redis, auth, ...) key by key. Compared on the YAML as written, canonicalised (keys sorted,
/// one line per value), so formatting, comments and file layout never show as changes.
public enum PolicyDiff {
    /// A policy as section → item → key → value (one line each). Items of a list section are
    /// named by their `name` (or `id`); a settings mapping is the item "".
    public struct Canonical: Sendable, Equatable {
        public var sections: [String: [String: [String: String]]] = [:]
        public init() {}
    }

    public static func canonical(directory: String) throws(PolicyLoadError) -> Canonical {
        try canonical(sources: PolicyLoader.sourceTexts(directory: directory))
    }

    public static func canonical(sources: [(path: String, text: String)]) throws(PolicyLoadError) -> Canonical {
        var result = Canonical()
        for source in sources {
            let root: Node?
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
                        result.sections[section, default: [:]][name] = fields.filter { $0.key != "name" }
                    }
                } else if let settings = value.mapping {
                    result.sections[section, default: [:]][""] = fields(settings)
                } else {
                    result.sections[section, default: [:]][""] = ["": flow(value)]
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
            for item in Set(before.keys).union(after.keys).sorted() {
                let label = item.isEmpty ? section : "\(singular(section)) \(item)"
                switch (before[item], after[item]) {
                case (nil, let added?) where !item.isEmpty:
                    lines.append("+ \(label)" + (added.isEmpty ? "" : " " + describe(added)))
                case (let removed?, nil) where !item.isEmpty:
                    lines.append("- \(label)" + (removed.isEmpty ? "" : " " + describe(removed)))
                default:
                    let was = before[item] ?? [:], now = after[item] ?? [:]
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
