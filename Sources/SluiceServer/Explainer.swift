import SluiceGuards
import SluiceHTTP
import SluicePolicy
import SluiceProxy

/// `sluice explain`: what the policy in a directory would do with one request, without serving
/// and without touching Redis or a backend: the normalised path, the route and why, each guard
/// in chain order with what it would check (keys computed from this request, the body's verdict
/// when a body is given), and the upstream cluster.
public enum Explainer {
    public static func explain(directory: String, method: String, target: String, headers: [(String, String)],
                               body: [UInt8]?) -> Result<String, Server.ValidationFailure> {
        let registry = GuardRegistry.standard(loops: [])
        return Server.loadPolicy(directory: directory, sections: registry.policySections).flatMap { policy in
            registry.compile(policy).map { compiled in
                describe(policy: policy, chains: compiled.byRoute, method: method, target: target, headers: headers, body: body)
            }
        }
    }

    static func describe(policy: PolicySnapshot, chains: [String: [any RequestGuard]], method: String, target: String,
                         headers: [(String, String)], body: [UInt8]?) -> String {
        var lines: [String] = []
        let normalised: String
        do {
            normalised = try PathNormalization.normalizedTarget(target, duplicateSlashes: policy.server.duplicateSlashes)
        } catch {
            return "request: \(method) \(target)\nrefused before routing: 400 \(error.reason) (\(error))\n"
        }
        lines.append("request: \(method) \(target)" + (normalised == target ? "" : " (normalised: \(normalised))"))
        var fields = HTTPHeaders()
        for (name, value) in headers { fields.appendLowercased(name: name.lowercased(), value: value) }
        let head = HTTPRequestHead(method: method, target: normalised, version: .http1_1, headers: fields)
        guard let route = Router(routes: policy.routes).route(for: head) else {
            lines.append("route: none matches: 404 no_route")
            return lines.joined(separator: "\n") + "\n"
        }
        lines.append("route: \(route.name) (\(describe(route.match))), class \(route.routeClass), max body \(route.maxBodyBytes) bytes, "
                     + "timeouts per try \(route.perTryTimeout), total \(route.totalTimeout)")
        if let body, body.count > route.maxBodyBytes {
            lines.append("  the body (\(body.count) bytes) would be refused: 413 body_too_large")
        }
        var request = GuardRequest(head: head, routeName: route.name, routeIsCore: route.routeClass == .core, clientAddress: "127.0.0.1")
        if let body { request.body = RequestBody(bytes: body, contentType: fields["content-type"]) }
        let chain = chains[route.name] ?? []
        lines.append(chain.isEmpty ? "guards: none" : "guards, in order:")
        for (index, guardStep) in chain.enumerated() {
            let detail = guardStep.explain(request)
            lines.append("  \(index + 1). \(guardStep.name)" + (detail.isEmpty ? "" : ": \(detail)"))
        }
        if let cluster = policy.cluster(named: route.cluster) {
            lines.append("upstream: cluster \(cluster.name) [\(cluster.endpoints.map(\.description).joined(separator: ", "))], "
                         + "balance \(cluster.balance.rawValue)" + (cluster.retries.map { ", up to \($0.attempts) tries when safe" } ?? ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func describe(_ match: RouteMatch) -> String {
        var parts: [String] = []
        switch match.path {
        case .exact(let path): parts.append("exact path \(path)")
        case .prefix(let prefix): parts.append("prefix \(prefix)")
        }
        if let methods = match.methods { parts.append("methods \(methods.joined(separator: ", "))") }
        if let host = match.host { parts.append("host \(host)") }
        if !match.headers.isEmpty { parts.append("headers \(match.headers.map { "\($0.name): \($0.value)" }.joined(separator: ", "))") }
        return parts.joined(separator: ", ")
    }
}
