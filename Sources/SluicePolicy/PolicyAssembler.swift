/// Merges the fragments of all files into one snapshot and runs the checks that need the whole
/// set: one `server` section, unique names, routes pointing at clusters that exist, a listener.
struct PolicyAssembler {
    let diagnostics: Diagnostics
    /// Where problems of the set as a whole are reported: the policy directory.
    let origin: String
    let sections: [any GuardPolicySection]

    func assemble(_ fragments: [PolicyFragment], sourceFiles: [String]) -> PolicySnapshot {
        let server = single(fragments.compactMap(\.server), section: "server")
        let listeners = unique(fragments.flatMap(\.listeners), kind: "listener")
        reportOverlappingAddresses(fragments.flatMap(\.listeners))
        let clusters = unique(fragments.flatMap(\.clusters), kind: "cluster")
        let routes = unique(fragments.flatMap(\.routes), kind: "route")

        // A file that did not parse may hold the clusters or listeners that seem missing.
        if fragments.allSatisfy(\.isUnderstood) {
            reportDanglingClusterReferences(fragments.flatMap(\.routes), clusterNames: Set(clusters.map(\.name)))
            // A route whose match did not read holds a stand-in path: judge only clean matches.
            if diagnostics.errors.isEmpty { reportUnreachableRoutes(fragments.flatMap(\.routes)) }
            if !fragments.contains(where: \.listsListeners) {
                diagnostics.report("no listeners defined", at: SourcePosition(file: origin, line: 1, column: 1))
            }
        }
        // Each guard module reads its own sections and route keys.
        var guardPolicies: [String: any Sendable] = [:]
        for section in sections {
            let input = GuardSectionInput(
                sections: fragments.flatMap(\.ownedSections).filter { section.topLevelKeys.contains($0.key) },
                routeKeys: fragments.flatMap(\.routes).map { route in
                    (route.value.name, route.ownedNodes.filter { section.routeKeys.contains($0.key) })
                },
                routes: routes, clusters: clusters, listeners: listeners, isComplete: fragments.allSatisfy(\.isUnderstood),
                presentTopLevelKeys: Set(fragments.flatMap(\.topLevelKeys)), diagnostics: diagnostics)
            if let policy = section.read(input) { guardPolicies[section.name] = policy }
        }
        return PolicySnapshot(server: server?.value ?? ServerSettings(), listeners: listeners, clusters: clusters,
                              routes: routes, guardPolicies: guardPolicies, sourceFiles: sourceFiles)
    }

    /// Two listeners on one address both bind (SO_REUSEPORT) and the kernel splits connections
    /// between them, each with its own routes and limits: never what was meant.
    private func reportOverlappingAddresses(_ listeners: [Declared<ListenerPolicy>]) {
        for (index, listener) in listeners.enumerated() {
            guard let first = listeners[..<index].first(where: { $0.value.address.overlaps(listener.value.address) }) else { continue }
            diagnostics.report("listener '\(listener.value.name)' at \(listener.value.address) overlaps listener '\(first.value.name)' "
                               + "at \(first.value.address) (first defined at \(first.position))", at: listener.position)
        }
    }

    private func reportDanglingClusterReferences(_ routes: [Declared<RoutePolicy>], clusterNames: Set<String>) {
        for route in routes {
            guard let reference = route.clusterReference, !clusterNames.contains(route.value.cluster) else { continue }
            diagnostics.report("route '\(route.value.name)' refers to unknown cluster '\(route.value.cluster)'", at: reference)
        }
    }

    /// A route that an earlier one matches every request of is never chosen (among equal paths
    /// the first declared wins): a copied route, or a narrower one added below a wider one,
    /// would silently never apply its guards.
    private func reportUnreachableRoutes(_ routes: [Declared<RoutePolicy>]) {
        var earlierByPath: [PathMatch: [Declared<RoutePolicy>]] = [:]
        for route in routes {
            let match = route.value.match
            if let winner = earlierByPath[match.path]?.first(where: { match.isShadowed(by: $0.value.match) }) {
                diagnostics.report("route '\(route.value.name)' is never chosen: route '\(winner.value.name)' (\(winner.position)) "
                                   + "comes first and matches every request it does", at: route.position)
            }
            earlierByPath[match.path, default: []].append(route)
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

    /// The items in order, each later namesake reported against the first. Names key metrics,
    /// logs and cluster references, so two items with one name would make all of them ambiguous.
    private func unique<Item: NamedPolicy>(_ items: [Declared<Item>], kind: String) -> [Item] {
        Self.unique(items, kind: kind, diagnostics: diagnostics)
    }

    static func unique<Item: NamedPolicy>(_ items: [Declared<Item>], kind: String, diagnostics: Diagnostics) -> [Item] {
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
