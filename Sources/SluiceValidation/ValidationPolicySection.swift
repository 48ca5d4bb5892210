import SluicePolicy
import Yams

/// Reads `validations` (named rule sets) at the top level of any policy file, and
/// `validation: <name>` in routes:
///
/// ```yaml
/// validations:
///   - name: wechat-v3-order
///     style: wechatpay                 # problem (default) | wechatpay (PARAM_ERROR body) | wechatpay_v2 (XML FAIL)
///     strict: false                    # true: fields not listed are refused
///     offload: {pool: large-bodies, over: 16KiB}   # optional: bigger bodies are checked on that thread pool
///     fields:
///       mchid: {required: true, type: string, max_length: 32, chars: "0-9"}
///       out_trade_no: {required: true, type: string, min_length: 6, max_length: 32, chars: "A-Za-z0-9_*|-"}
///       amount.total: {required: true, type: integer, min: 1, max: 100000000, max_per_merchant: {"1900000001": 500000}}
///       amount.currency: {type: string, one_of: [CNY]}
///       notify_url: {required: true, type: string, url: {schemes: [https], hosts: ["*.merchant.example"]}}
/// routes:
///   - {name: pay, validation: wechat-v3-order, ...}
/// ```
public struct ValidationPolicySection: GuardPolicySection {
    public let name = ValidationModule.moduleName
    public let topLevelKeys = ["validations"]
    public let routeKeys = ["validation"]

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        let rules = input.namedItems("validations", kind: "validation") { reader, node in reader.readValidation(node) }.items
        let references = input.positionedRouteReferences("validation", kind: "validation", names: Set(rules.map(\.name)))
        guard !rules.isEmpty || !references.isEmpty else { return nil }
        var policy = ValidationsPolicy(rules: rules, routeRules: references.mapValues(\.name))
        policy.merchantDependences = references.sorted { $0.key < $1.key }.flatMap { route, reference in
            (policy.rule(named: reference.name)?.merchantDependentChecks ?? []).map { check in
                MerchantDependence(route: route, position: reference.position, what: "validation '\(reference.name)' \(check)")
            }
        }
        return policy
    }
}

extension ValidationPolicy: NamedPolicy {}

extension PolicyFileReader {
    func readValidation(_ node: Node) -> Declared<ValidationPolicy>? {
        guard let item = namedItem(node, kind: "validation", allowed: ["style", "strict", "fields", "offload"]) else { return nil }
        let (fields, what) = (item.fields, item.what)
        var rule = ValidationPolicy(name: item.name ?? "")
        if let node = fields["style"], let style = choice(node, "style", as: ValidationPolicy.Style.self) { rule.style = style }
        if let node = fields["strict"], let strict = flag(node) { rule.strict = strict }
        if let node = fields["offload"], let offload = mapping(node, what: "offload of \(what)", allowed: ["pool", "over"]),
           let poolNode = required("pool", in: offload, of: "offload of \(what)"), let pool = text(poolNode, expected: "a thread pool's name") {
            var settings = ValidationPolicy.Offload(pool: pool, position: position(of: poolNode))
            if let over = offload["over"], let bytes = size(over) { settings.overBytes = bytes }
            rule.offload = settings
        }
        if let node = required("fields", in: fields, of: what), let mapping = node.mapping {
            for (key, value) in mapping {
                guard let path = parsed(key, expected: "a field path like amount.total", Self.fieldPath) else { continue }
                if let field = readFieldRule(value, path: path) { rule.fields.append(field) }
            }
            if mapping.isEmpty { report("\(what) has no fields", at: node) }
        } else if let node = fields["fields"] {
            report("fields of \(what) must be a mapping of field paths to their checks", at: node)
        }
        return item.declared(rule)
    }

    static func fieldPath(_ text: String) -> Result<String, SyntaxProblem> {
        let segments = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !text.isEmpty, segments.allSatisfy({ segment in
            !segment.isEmpty && (segment == "*" || segment.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        }) else {
            return .failure(SyntaxProblem("invalid field path '\(text)' (names of letters, digits, '_' and '-', joined by '.'; '*' for any one)"))
        }
        return .success(text)
    }

    private func readFieldRule(_ node: Node, path: String) -> FieldRule? {
        let what = "field '\(path)'"
        guard let fields = mapping(node, what: what, allowed: [
            "required", "type", "min", "max", "max_per_merchant", "min_length", "max_length", "chars", "one_of", "url", "merchant",
        ]) else { return nil }
        var rule = FieldRule(path: path)
        if let node = fields["required"], let value = flag(node) { rule.required = value }
        if let node = fields["type"] { rule.type = choice(node, "type", as: FieldRule.FieldType.self) }
        for key in ["min", "max"] {
            guard let node = fields[key] else { continue }
            if rule.type != .integer { report("'\(key)' of \(what) applies to type: integer", at: node) }
            if let value = parsed(node, expected: "an integer", Self.integer) {
                if key == "min" { rule.minimum = value } else { rule.maximum = value }
            }
        }
        if let minimum = rule.minimum, let maximum = rule.maximum, minimum > maximum, let node = fields["max"] {
            report("max of \(what) is below its min", at: node)
        }
        if let node = fields["max_per_merchant"], let limits = node.mapping {
            for (key, value) in limits {
                guard let merchant = text(key, expected: "a merchant id"), let limit = parsed(value, expected: "an integer", Self.integer) else { continue }
                rule.maxPerMerchant[merchant] = limit
                rule.maxPerMerchantPositions[merchant] = position(of: key)
            }
        }
        for key in ["min_length", "max_length"] {
            guard let node = fields[key], let value = count(node) else { continue }
            if rule.type != .string { report("'\(key)' of \(what) applies to type: string", at: node) }
            if key == "min_length" { rule.minLength = value } else { rule.maxLength = value }
        }
        if let node = fields["chars"], let spec = text(node, expected: "characters like A-Za-z0-9_-") {
            if let allowed = AllowedCharacters(spec) { rule.allowedCharacters = allowed } else {
                report("invalid character set '\(spec)' (printable ASCII, ranges like a-z)", at: node)
            }
        }
        if let node = fields["merchant"], let value = flag(node) {
            if value && rule.type != .string { report("'merchant' of \(what) applies to type: string", at: node) }
            rule.isMerchant = value
        }
        if let node = fields["one_of"], let items = list(node, expected: "a list of allowed values") {
            rule.oneOf = items.compactMap { text($0, expected: "a value") }
        }
        if let node = fields["url"], let url = mapping(node, what: "url of \(what)", allowed: ["schemes", "hosts"]) {
            var urlRule = URLRule()
            if let node = url["schemes"], let items = list(node, expected: "a list of schemes") {
                urlRule.schemes = items.compactMap { text($0, expected: "a scheme")?.lowercased() }
            }
            if let node = url["hosts"], let items = list(node, expected: "a list of host names") {
                urlRule.hosts = items.compactMap { text($0, expected: "a host name")?.lowercased() }
            }
            rule.url = urlRule
        }
        return rule
    }

    static func integer(_ text: String) -> Result<Int64, SyntaxProblem> {
        guard let value = Int64(text), String(value) == text else { return .failure(SyntaxProblem("expected an integer, not '\(text)'")) }
        return .success(value)
    }
}
