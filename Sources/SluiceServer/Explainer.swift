import SluiceGuards
import SluiceHTTP
import SluiceHTTP1
import SluicePolicy
import SluiceProxy

/// `sluice explain`: what the policy in a directory would do with one request, without serving
/// and without touching Redis or a backend: the normalised path, the route and why, each guard
/// in chain order with what it would check (keys computed from this request, the body's verdict
/// when a body is given), and the upstream cluster.
public enum Explainer {
    /// What `explain` found, rendered as text or JSON.
    struct Explanation {
        var request: String
        var normalised: String?
        var refusal: String?
        var route: String?
        var routeDetail: String?
        var routeSettings: String?
        var guards: [(name: String, detail: String)] = []
        var upstream: String?

        var text: String {
            var lines = ["request: \(request)" + (normalised.map { " (normalised: \($0))" } ?? "")]
            if let route, let routeDetail { lines.append("route: \(route) (\(routeDetail)), \(routeSettings ?? "")") }
            if let refusal { lines.append(refusal) }
            if route != nil {
                lines.append(guards.isEmpty ? "guards: none" : "guards, in order:")
                for (index, step) in guards.enumerated() {
                    lines.append("  \(index + 1). \(step.name)" + (step.detail.isEmpty ? "" : ": \(step.detail)"))
                }
            }
            if let upstream { lines.append("upstream: \(upstream)") }
            return lines.joined(separator: "\n") + "\n"
        }

        var json: String {
            func string(_ value: String?) -> String { value.map { "\"\(jsonEscaped($0))\"" } ?? "null" }
            let steps = guards.map { "{\"guard\":\(string($0.name)),\"detail\":\(string($0.detail))}" }
            return "{\"request\":\(string(request)),\"normalised\":\(string(normalised)),\"refusal\":\(string(refusal)),"
                + "\"route\":\(string(route)),\"route_detail\":\(string(routeDetail)),\"route_settings\":\(string(routeSettings)),\"guards\":[\(steps.joined(separator: ","))],"
                + "\"upstream\":\(string(upstream))}\n"
        }
    }

    public static func explain(directory: String, method: String, target: String, headers: [(String, String)],
                               body: [UInt8]?, json: Bool = false) -> Result<String, Server.ValidationFailure> {
        let registry = GuardRegistry.standard(loops: [])
        return Server.loadPolicy(directory: directory, sections: registry.policySections).flatMap { policy in
            registry.compile(policy).map { compiled in
                let explanation = describe(policy: policy, chains: compiled.byRoute, method: method, target: target, headers: headers, body: body)
                return json ? explanation.json : explanation.text
            }
        }
    }

    static func describe(policy: PolicySnapshot, chains: [String: [any RequestGuard]], method: String, target: String,
                         headers: [(String, String)], body: [UInt8]?) -> Explanation {
        var explanation = Explanation(request: "\(method) \(target)")
        let normalised: String
        // First as the HTTP/1.1 parser takes it (an absolute-form target is served by its path;
        // `health` or `*` is 400 before any routing), then as the router sees it.
        let originForm: String
        do throws(HTTP1Error) {
            originForm = try RequestTarget.originForm(method: method, target: target)
        } catch {
            explanation.refusal = "refused before routing: \(error.status) \(error.reason) (\(error.message))"
            return explanation
        }
        do {
            normalised = try PathNormalization.normalizedTarget(originForm, duplicateSlashes: policy.server.duplicateSlashes)
        } catch {
            explanation.refusal = "refused before routing: 400 \(error.reason) (\(error))"
            return explanation
        }
        if normalised != target { explanation.normalised = normalised }
        var fields = HTTPHeaders()
        for (name, value) in headers { fields.appendLowercased(name: name.lowercased(), value: value) }
        let head = HTTPRequestHead(method: method, target: normalised, version: .http1_1, headers: fields)
        guard let route = Router(routes: policy.routes).route(for: head) else {
            explanation.refusal = "route: none matches: 404 no_route"
            return explanation
        }
        explanation.route = route.name
        explanation.routeDetail = describe(route.match)
        explanation.routeSettings = "class \(route.routeClass), max body \(route.maxBodyBytes) bytes, "
            + "timeouts per try \(route.perTryTimeout), total \(route.totalTimeout)"
        if let body, body.count > route.maxBodyBytes {
            explanation.refusal = "  the body (\(body.count) bytes) would be refused: 413 body_too_large"
        }
        var request = GuardRequest(head: head, routeName: route.name, routeIsCore: route.routeClass == .core, clientAddress: "127.0.0.1")
        if let body { request.body = RequestBody(bytes: body, contentType: fields["content-type"]) }
        explanation.guards = (chains[route.name] ?? []).map { ($0.name, $0.explain(request)) }
        if let cluster = policy.cluster(named: route.cluster) {
            explanation.upstream = "cluster \(cluster.name) [\(cluster.endpoints.map(\.description).joined(separator: ", "))], "
                + "balance \(cluster.balance.rawValue)" + (cluster.retries.map { ", up to \($0.attempts) tries when safe" } ?? "")
        }
        return explanation
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
