/// Merges the fragments of all files into one snapshot and runs the checks that need the whole
/// set: one `server` section, unique names, routes pointing at clusters that exist, a listener.
struct PolicyAssembler {
    let diagnostics: Diagnostics
    /// Where problems of the set as a whole are reported: the policy directory.
    let origin: String

    func assemble(_ fragments: [PolicyFragment], sourceFiles: [String]) -> PolicySnapshot {
        let server = single(fragments.compactMap(\.server), section: "server")
        let listeners = unique(fragments.flatMap(\.listeners), kind: "listener")
        let clusters = unique(fragments.flatMap(\.clusters), kind: "cluster")
        let routes = unique(fragments.flatMap(\.routes), kind: "route")
        let limits = unique(fragments.flatMap(\.limits), kind: "limit")
        let redis = single(fragments.compactMap(\.redis), section: "redis")

        // A file that did not parse may hold the clusters or listeners that seem missing.
        if fragments.allSatisfy(\.isUnderstood) {
            reportDanglingClusterReferences(fragments.flatMap(\.routes), clusterNames: Set(clusters.map(\.name)))
            reportDanglingLimitReferences(fragments.flatMap(\.routes), limitNames: Set(limits.map(\.name)))
            if redis == nil, let first = fragments.flatMap(\.limits).first {
                diagnostics.report("limit rules need a 'redis' section (the Redis that holds their counters)", at: first.position)
            }
            if !fragments.contains(where: \.listsListeners) {
                diagnostics.report("no listeners defined", at: SourcePosition(file: origin, line: 1, column: 1))
            }
        }
        return PolicySnapshot(server: server?.value ?? ServerSettings(), listeners: listeners, clusters: clusters,
                              routes: routes, redis: redis?.value, limits: limits, sourceFiles: sourceFiles)
    }

    private func reportDanglingClusterReferences(_ routes: [Declared<RoutePolicy>], clusterNames: Set<String>) {
        for route in routes {
            guard let reference = route.clusterReference, !clusterNames.contains(route.value.cluster) else { continue }
            diagnostics.report("route '\(route.value.name)' refers to unknown cluster '\(route.value.cluster)'", at: reference)
        }
    }

    /// The first of a section only one file may hold; the others are reported against it.
    private func single<Value>(_ candidates: [Declared<Value>], section: String) -> Declared<Value>? {
        for candidate in candidates.dropFirst() {
            diagnostics.report("\(section) settings already defined at \(candidates[0].position) (only one file may hold '\(section)')",
                               at: candidate.position)
        }
        return candidates.first
    }

    private func reportDanglingLimitReferences(_ routes: [Declared<RoutePolicy>], limitNames: Set<String>) {
        for route in routes {
            for (name, reference) in zip(route.value.limits, route.limitReferences) where !limitNames.contains(name) {
                diagnostics.report("route '\(route.value.name)' refers to unknown limit rule '\(name)'", at: reference)
            }
        }
    }

    /// The items in order, each later namesake reported against the first. Names key metrics,
    /// logs and cluster references, so two items with one name would make all of them ambiguous.
    private func unique<Item: NamedPolicy>(_ items: [Declared<Item>], kind: String) -> [Item] {
        var firstPositions: [String: SourcePosition] = [:]
        var kept: [Item] = []
        for item in items {
            if let first = firstPositions[item.value.name] {
                diagnostics.report("duplicate \(kind) name '\(item.value.name)' (first defined at \(first))", at: item.position)
                continue
            }
            firstPositions[item.value.name] = item.position
            kept.append(item.value)
        }
        return kept
    }
}
