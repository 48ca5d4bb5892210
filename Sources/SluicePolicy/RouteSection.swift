import Yams

extension PolicyFileReader {
    /// One item of `routes`; nil without a usable name (see `NamedItem.declared`).
    func readRoute(_ node: Node) -> Declared<RoutePolicy>? {
        guard let item = namedItem(node, kind: "route", allowed: ["class", "match", "cluster", "timeouts", "max_body", "request_buffering", "replies"] + ownedRouteKeys) else {
            return nil
        }
        let (fields, what) = (item.fields, item.what)

        var route = RoutePolicy(name: item.name ?? "", match: RouteMatch(path: .prefix("/")), cluster: "", routeClass: .noncore)
        if let node = required("class", in: fields, of: what),
           let value = choice(node, "route class", as: RouteClass.self) {
            route.routeClass = value
        }
        if let node = required("match", in: fields, of: what), let match = routeMatch(node, of: what) {
            route.match = match
        }
        let clusterNode = required("cluster", in: fields, of: what)
        if let node = clusterNode, let cluster = self.name(node) { route.cluster = cluster }
        if let node = fields["timeouts"] { readTimeouts(node, of: what, into: &route) }
        // Zero is a real limit here: a query route may accept no body at all.
        if let node = fields["max_body"], let value = size(node, allowZero: true) { route.maxBodyBytes = value }
        if let node = fields["request_buffering"], let value = flag(node) { route.requestBuffering = value }
        if let node = fields["replies"], let value = choice(node, "reply shape", as: RoutePolicy.ReplyShape.self) { route.replies = value }

        var declared = item.declared(route, clusterReference: route.cluster.isEmpty ? nil : clusterNode.map(position))
        for key in ownedRouteKeys {
            if let node = fields[key], let keyNode = fields.keys[key] {
                declared?.ownedNodes.append(OwnedPolicyNode(key: key, keyNode: keyNode, value: node, reader: self))
            }
        }
        return declared
    }

    /// `{per_try, total}`. An omitted `per_try` is the default capped at `total`, so that
    /// writing only `total: 5s` is never an error.
    private func readTimeouts(_ node: Node, of what: String, into route: inout RoutePolicy) {
        guard let fields = mapping(node, what: "timeouts of \(what)", allowed: ["per_try", "total"]) else { return }
        if let node = fields["total"], let value = duration(node) { route.totalTimeout = value }
        guard let perTryNode = fields["per_try"] else {
            route.perTryTimeout = min(RoutePolicy.defaultPerTryTimeout, route.totalTimeout)
            return
        }
        guard let perTry = duration(perTryNode) else { return }
        route.perTryTimeout = perTry
        if perTry > route.totalTimeout {
            report("per_try \(DurationSyntax.format(perTry)) must not exceed total \(DurationSyntax.format(route.totalTimeout))",
                   at: perTryNode)
        }
    }
}
