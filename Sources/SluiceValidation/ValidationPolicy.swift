import SluicePolicy

/// One validation rule set as the policy gives it (`validations:` list; a route names one with
/// `validation: <name>`).
public struct ValidationPolicy: Sendable, Equatable {
    /// How a refusal's body looks.
    public enum Style: String, Sendable, CaseIterable {
        /// problem+json with `error: PARAM_ERROR`, the field, the rule and a stable code.
        case problem
        /// WeChat Pay's own error shape: `{"code":"PARAM_ERROR","message":…,"detail":{"field":…,"issue":…}}`.
        case wechatpay
        /// WeChat Pay v2's XML answer: `<xml><return_code>FAIL</return_code><return_msg>…</return_msg></xml>`.
        case wechatpayV2 = "wechatpay_v2"
    }

    public var name: String
    public var style = Style.problem
    /// Refuse fields the rule does not list (`unknown_field`).
    public var strict = false
    /// Bodies larger than this are parsed and checked on a `thread_pools` entry, not on the
    /// event loop (nil: always on the loop).
    public var offload: Offload?

    public struct Offload: Sendable, Equatable {
        public var pool: String
        public var overBytes = 16 * 1024
        public var position: SourcePosition?
    }
    /// In policy order: the first failing check decides, so the answer is the same every time.
    public var fields: [FieldRule] = [] {
        didSet {
            exactPaths = Set(fields.filter(\.isExact).map(\.path))
            wildcardFields = fields.filter { !$0.isExact }
            checks = fields.map(FieldCheck.init)
        }
    }
    /// `fields` compiled for the request path, in the same order.
    private(set) var checks: [FieldCheck] = []
    /// For `strict`: the listed paths without `*`, and the rules with one.
    private(set) var exactPaths: Set<String> = []
    private(set) var wildcardFields: [FieldRule] = []

    public init(name: String) { self.name = name }

    /// The checks that mean something only for a verified merchant, said for `sluice check`.
    var merchantDependentChecks: [String] {
        fields.filter(\.isMerchant).map { "requires \($0.path) to be the verified merchant (without one, every request is refused)" }
            + fields.filter { !$0.maxPerMerchant.isEmpty }.map { "caps \($0.path) per merchant (without one, the caps never apply)" }
    }

    /// Whether a field path is one the rule lists.
    func lists(_ fieldPath: String) -> Bool {
        exactPaths.contains(fieldPath) || wildcardFields.contains { $0.matches(fieldPath) }
    }
}

/// The checks on one field path (`amount.total`, `items.*.name`: `*` is any one segment).
public struct FieldRule: Sendable, Equatable {
    public enum FieldType: String, Sendable, CaseIterable {
        case string, integer, boolean, object, array
    }

    public var path: String
    public var segments: [Substring]
    public var required = false
    public var type: FieldType?
    /// Integers: inclusive bounds; `maxPerMerchant` overrides `maximum` for the verified merchant.
    public var minimum: Int64?
    public var maximum: Int64?
    public var maxPerMerchant: [String: Int64] = [:]
    /// Where each merchant of `maxPerMerchant` is named (`sluice check` finds ids no auth scheme knows).
    public var maxPerMerchantPositions: [String: SourcePosition] = [:]
    /// Strings: length in characters (Unicode scalars), inclusive.
    public var minLength: Int?
    public var maxLength: Int?
    /// Strings: the only ASCII characters allowed (nil: any).
    public var allowedCharacters: AllowedCharacters?
    /// The only values allowed (compared as sent).
    public var oneOf: [String]?
    public var url: URLRule?
    /// The value must be the merchant auth verified for this request (`merchant: true`): a body's
    /// `mchid` that names another merchant than the signature's would book the order under that
    /// merchant, and key its duplicate protection apart from the signer's own orders.
    public var isMerchant = false

    public init(path: String) {
        self.path = path
        segments = path.split(separator: ".", omittingEmptySubsequences: false)
        isExact = !segments.contains("*")
    }

    /// No `*` in the path: the field is found by one lookup.
    public let isExact: Bool

    /// Whether `fieldPath` is this rule's path (segment by segment, `*` matching any one),
    /// compared in place (no allocation: this runs for every field of every request).
    func matches(_ fieldPath: String) -> Bool {
        var field = fieldPath.utf8[...]
        for (index, segment) in segments.enumerated() {
            let end = field.firstIndex(of: UInt8(ascii: ".")) ?? field.endIndex
            let part = field[..<end]
            guard segment == "*" || segment.utf8.elementsEqual(part) else { return false }
            if end == field.endIndex { return index == segments.count - 1 }
            field = field[field.index(after: end)...]
        }
        return false
    }
}

/// A set of ASCII characters written like a regex class body: `A-Za-z0-9_*|-` (a `-` first or
/// last is itself).
public struct AllowedCharacters: Sendable, Equatable {
    public let spec: String
    /// Bit `b` of the pair is set when ASCII byte `b` is allowed (`low` 0–63, `high` 64–127).
    private let low: UInt64
    private let high: UInt64

    public init?(_ spec: String) {
        let bytes = Array(spec.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        var low: UInt64 = 0, high: UInt64 = 0
        func allow(_ byte: UInt8) {
            if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
        }
        var index = 0
        while index < bytes.count {
            if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "-") {
                guard bytes[index] <= bytes[index + 2] else { return nil }
                for byte in bytes[index]...bytes[index + 2] { allow(byte) }
                index += 3
            } else {
                allow(bytes[index])
                index += 1
            }
        }
        self.spec = spec
        self.low = low
        self.high = high
    }

    func admits(_ text: String) -> Bool { Array(text.utf8).withUnsafeBufferPointer(admits) }

    func admits(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes {
            let bit = UInt64(byte & 63)
            let set = byte < 64 ? low : byte < 128 ? high : 0
            if set >> bit & 1 == 0 { return false }
        }
        return true
    }
}

/// A URL field: its scheme, and optionally its host, must be among these.
public struct URLRule: Sendable, Equatable {
    public var schemes: [String] = ["https"]
    /// Exact host names or `*.example.com` (any subdomain, not the bare domain); empty: any host.
    public var hosts: [String] = []

    public init() {}
}

/// The module's policy: the rule sets, and which route uses which.
public struct ValidationsPolicy: Sendable {
    public var rules: [ValidationPolicy]
    public var routeRules: [String: String]
    /// Each route's rule set that needs the merchant its auth verifies (SluiceServer checks the
    /// route's auth identifies one).
    public var merchantDependences: [MerchantDependence] = []

    public init(rules: [ValidationPolicy], routeRules: [String: String]) {
        self.rules = rules
        self.routeRules = routeRules
    }

    public func rule(named name: String) -> ValidationPolicy? { rules.first { $0.name == name } }

    /// Every merchant id a per-merchant cap names, with where: a cap for an id that no merchant
    /// authenticates as never applies.
    public var merchantsNamed: [(merchant: String, position: SourcePosition)] {
        rules.flatMap(\.fields).flatMap { field in
            field.maxPerMerchantPositions.sorted { $0.key < $1.key }.map { (merchant: $0.key, position: $0.value) }
        }
    }
}
