import Foundation
import SluicePolicy
import SluiceSharedRedis
import Yams

/// Reads `auth` (settings) and `merchants` (credentials) at the top level, and `auth: [scheme]`
/// in routes:
///
/// ```yaml
/// auth:
///   merchant_header: x-sluice-merchant
///   timestamp_window: 300s
///   nonce_ttl: 600s
///   on_redis_failure: local
///   crypto_pool: {threads: 2, queue: 1024}            # RSA verification runs here, never on a loop (or: the name of a thread_pools entry)
///   wechatpay_platform_keys:                            # for auth: [wechatpay_callback]
///     - {serial: PUB_KEY_ID_0114232134912410000000000000, public_key: keys/wechatpay-platform.pem}
/// merchants:
///   - {id: "1900000001", hmac_secrets: [keys/1900000001.hmac]}   # files, relative to this file; two while rotating
/// routes:
///   - {name: pay, auth: [merchant_hmac], ...}
/// ```
///
/// Secret files are read here, so `sluice check` opens every one and reports a missing, empty or
/// too short secret at the line that names it; their contents never appear in a message.
public struct AuthPolicySection: GuardPolicySection {
    public let name = AuthModule.moduleName
    public let topLevelKeys = ["auth", "merchants"]
    public let routeKeys = ["auth"]
    /// Shorter secrets are refused: HMAC keys should carry at least 128 bits.
    static let minimumSecretBytes = 16

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        var policy = AuthPolicy()
        if let section = input.single("auth") { readSettings(section, into: &policy) }

        var firstMerchant: [String: SourcePosition] = [:]
        for section in input.sections("merchants") where !section.value.isNull {
            let reader = section.reader
            guard let items = reader.list(section.value, expected: "a list of merchants") else { continue }
            for item in items {
                guard let merchant = readMerchant(item, reader: reader) else { continue }
                if let first = firstMerchant[merchant.id] {
                    reader.report("duplicate merchant id '\(merchant.id)' (first defined at \(first))", at: item)
                    continue
                }
                firstMerchant[merchant.id] = reader.position(of: item)
                policy.merchants[merchant.id] = merchant
                for hash in merchant.apiKeyHashes {
                    if let other = policy.merchantsByAPIKeyHash.updateValue(merchant.id, forKey: hash), other != merchant.id {
                        reader.report("API key hash of merchant '\(merchant.id)' is also merchant '\(other)''s", at: item)
                    }
                }
                for subject in merchant.certificateSubjects {
                    if let other = policy.merchantsBySubject.updateValue(merchant.id, forKey: subject), other != merchant.id {
                        reader.report("client certificate subject '\(subject)' is also merchant '\(other)''s", at: item)
                    }
                }
            }
        }

        for (route, nodes) in input.routeKeys {
            guard let node = nodes.first(where: { $0.key == "auth" }) else { continue }
            let reader = node.reader
            guard let items = reader.list(node.value, expected: "a list of auth schemes like [merchant_hmac]") else { continue }
            if items.isEmpty { reader.report("auth of route '\(route)' is empty (omit it for a route without auth)", at: node.value) }
            var schemes: [AuthPolicy.Scheme] = []
            for item in items {
                guard let scheme = reader.choice(item, "auth scheme", as: AuthPolicy.Scheme.self) else { continue }
                if schemes.contains(scheme) {
                    reader.report("auth scheme '\(scheme.rawValue)' listed twice in route '\(route)'", at: item)
                } else {
                    schemes.append(scheme)
                }
            }
            if policy.routeSchemes[route] == nil { policy.routeSchemes[route] = schemes }
            if schemes.contains(.wechatpayCallback) && !policy.listsPlatformKeys && input.isComplete {
                reader.report("route '\(route)' verifies WeChat Pay callbacks, and auth lists no wechatpay_platform_keys",
                              at: node.keyNode)
            }
            let usesNonces = schemes.contains { [.merchantHMAC, .wechatpayV3, .wechatpayCallback].contains($0) }
            if input.isComplete, usesNonces, let first = nodes.first, !input.presentTopLevelKeys.contains(SharedRedis.sectionName) {
                reader.report("route '\(route)' needs auth, and auth needs a 'redis' section (nonces are shared by every gateway)",
                              at: first.keyNode)
            }
        }
        return input.sections("auth").isEmpty && input.sections("merchants").isEmpty && policy.routeSchemes.isEmpty ? nil : policy
    }

    private func readSettings(_ section: OwnedPolicyNode, into policy: inout AuthPolicy) {
        let reader = section.reader
        guard let fields = reader.mapping(section.value, what: "auth",
                                          allowed: ["merchant_header", "timestamp_window", "nonce_ttl", "on_redis_failure",
                                                    "crypto_pool", "wechatpay_platform_keys", "alipay_public_keys", "api_key_header"]) else { return }
        if let node = fields["merchant_header"], let header = reader.headerName(node) {
            policy.merchantHeader = header
        }
        if let node = fields["timestamp_window"], let window = reader.duration(node) { policy.timestampWindow = window }
        policy.nonceTTL = policy.timestampWindow * 2
        if let node = fields["nonce_ttl"], let ttl = reader.duration(node) {
            if ttl < policy.timestampWindow * 2 {
                reader.report("nonce_ttl must be at least twice timestamp_window (a nonce must outlive every timestamp still accepted)",
                              at: node)
            } else {
                policy.nonceTTL = ttl
            }
        }
        if let node = fields["on_redis_failure"], let mode = reader.choice(node, "failure mode", as: AuthPolicy.FailureMode.self) {
            policy.onRedisFailure = mode
        }
        if let node = fields["crypto_pool"], let name = node.scalar?.string, !node.isNull {
            // A shared pool from `thread_pools`, by name.
            policy.cryptoPoolName = name
            policy.cryptoPoolNamePosition = reader.position(of: node)
        } else if let node = fields["crypto_pool"],
           let pool = reader.mapping(node, what: "crypto_pool of auth (a thread pool's name, or {threads, queue, queue_timeout})",
                                     allowed: ["threads", "queue", "queue_timeout"]) {
            if let node = pool["threads"], let threads = reader.count(node) {
                if (1...64).contains(threads) { policy.cryptoThreads = threads } else { reader.report("threads must be 1 to 64", at: node) }
            }
            if let node = pool["queue"], let queue = reader.count(node) {
                if queue >= 1 { policy.cryptoQueue = queue } else { reader.report("queue must be at least 1", at: node) }
            }
            if let node = pool["queue_timeout"], let timeout = reader.duration(node) {
                if timeout <= .seconds(60) { policy.cryptoQueueTimeout = timeout } else { reader.report("queue_timeout must be at most 60s", at: node) }
            }
        }
        if let node = fields["wechatpay_platform_keys"] {
            policy.listsPlatformKeys = !(node.sequence?.isEmpty ?? true)
            policy.platformKeys = publicKeys(node, reader: reader)
        }
        if let node = fields["alipay_public_keys"] { policy.alipayKeys = publicKeys(node, reader: reader, by: "app_id") }
        if let node = fields["api_key_header"], let header = reader.headerName(node) {
            policy.apiKeyHeader = header
        }
    }

    /// A file named in a policy file: relative to that file's directory.
    static func resolve(_ name: String, relativeTo reader: PolicyFileReader) -> String {
        name.hasPrefix("/") ? name : ((reader.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)
    }

    static func serial(_ text: String) -> Result<String, SyntaxProblem> {
        guard (1...64).contains(text.count), text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            return .failure(SyntaxProblem("invalid key serial '\(text)' (1 to 64 of letters, digits and '_')"))
        }
        return .success(text)
    }

    private func readMerchant(_ node: Node, reader: PolicyFileReader) -> MerchantCredentials? {
        let what = reader.label("merchant", of: node)
        guard let fields = reader.mapping(node, what: what, allowed: ["id", "hmac_secrets", "rsa_public_keys", "wechatpay_v2_key",
                                                                       "api_key_sha256", "client_certificate_subjects"]) else {
            return nil
        }
        let apiKeyHashes = fields["api_key_sha256"].map { node in
            (reader.list(node, expected: "a list of SHA-256 hashes (64 hex digits) of API keys") ?? []).compactMap {
                reader.parsed($0, expected: "a SHA-256 in hex", Self.sha256Hex)
            }
        } ?? []
        let subjects = fields["client_certificate_subjects"].map { node in
            (reader.list(node, expected: "a list of certificate subjects like \"CN=client-1,O=Acme\"") ?? []).compactMap {
                reader.text($0, expected: "a certificate subject")
            }
        } ?? []
        let idNode = reader.required("id", in: fields, of: what)
        let id = idNode.flatMap { reader.parsed($0, expected: "a merchant id", Self.merchantID) }
        let credentialKeys = ["hmac_secrets", "rsa_public_keys", "wechatpay_v2_key", "api_key_sha256", "client_certificate_subjects"]
        if !credentialKeys.contains(where: { fields[$0] != nil }) {
            reader.report("\(what) needs credentials: one of \(credentialKeys.joined(separator: ", "))", at: node)
        }
        let v2Key = fields["wechatpay_v2_key"].flatMap { readSecret($0, reader: reader) }
        let rsaKeys = fields["rsa_public_keys"].map { publicKeys($0, reader: reader) } ?? [:]
        var secrets: [[UInt8]] = []
        if let node = fields["hmac_secrets"],
           let items = reader.list(node, expected: "a list of secret files (two while rotating)") {
            if items.isEmpty || items.count > 2 {
                reader.report("hmac_secrets of \(what) needs one secret file, or two while rotating", at: node)
            }
            for item in items {
                if let secret = readSecret(item, reader: reader) { secrets.append(secret) }
            }
        }
        guard let id, !secrets.isEmpty || !rsaKeys.isEmpty || v2Key != nil || !apiKeyHashes.isEmpty || !subjects.isEmpty else { return nil }
        return MerchantCredentials(id: id, hmacSecrets: secrets, rsaKeys: rsaKeys, wechatpayV2Key: v2Key, apiKeyHashes: apiKeyHashes,
                                   certificateSubjects: subjects)
    }

    /// `[{serial, public_key}]` (or `app_id`): RSA public keys by that name (PEM key or certificate files).
    private func publicKeys(_ node: Node, reader: PolicyFileReader, by idKey: String = "serial") -> [String: RSAPublicKey] {
        var keys: [String: RSAPublicKey] = [:]
        guard let items = reader.list(node, expected: "a list of {\(idKey), public_key}") else { return keys }
        for item in items {
            guard let key = reader.mapping(item, what: "public key", allowed: [idKey, "public_key"]),
                  let serialNode = reader.required(idKey, in: key, of: "public key"),
                  let serial = reader.parsed(serialNode, expected: "a key \(idKey)", Self.serial),
                  let pathNode = reader.required("public_key", in: key, of: "public key"),
                  let path = reader.text(pathNode, expected: "a public key file path") else { continue }
            if keys[serial] != nil {
                reader.report("key \(idKey) '\(serial)' listed twice", at: serialNode)
                continue
            }
            do {
                keys[serial] = try RSAPublicKey(pemFile: Self.resolve(path, relativeTo: reader))
            } catch {
                reader.report(error.description, at: pathNode)
            }
        }
        return keys
    }

    /// The secret in a file named relative to the policy file; a final line break is not part of it.
    /// A secret from a file (`keys/m.hmac`, relative to the policy file) or from an environment
    /// variable (`env:SLUICE_SECRET_M1`, for deployments that inject secrets that way). Either way
    /// it is read at load and reload, and never appears in a message.
    private func readSecret(_ node: Node, reader: PolicyFileReader) -> [UInt8]? {
        guard let name = reader.text(node, expected: "a secret file path or env:VARIABLE") else { return nil }
        let secret: [UInt8]
        let source: String
        if name.hasPrefix("env:") {
            let variable = String(name.dropFirst(4))
            source = "environment variable \(variable)"
            guard !variable.isEmpty, let value = ProcessInfo.processInfo.environment[variable] else {
                reader.report("environment variable \(variable) is not set", at: node)
                return nil
            }
            secret = Array(value.utf8)
        } else {
            let path = Self.resolve(name, relativeTo: reader)
            source = path
            switch SecretFile.readWithReason(path) {
            case .success(let read): secret = read
            case .failure(let failure):
                reader.report("cannot read secret file \(path): \(failure.reason)", at: node)
                return nil
            }
        }
        guard secret.count >= Self.minimumSecretBytes else {
            reader.report("the secret in \(source) is shorter than \(Self.minimumSecretBytes) bytes", at: node)
            return nil
        }
        return secret
    }

    static func merchantID(_ text: String) -> Result<String, SyntaxProblem> {
        guard (1...32).contains(text.count), text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            return .failure(SyntaxProblem("invalid merchant id '\(text)' (1 to 32 of letters, digits, '_' and '-')"))
        }
        return .success(text)
    }

    static func sha256Hex(_ text: String) -> Result<String, SyntaxProblem> {
        let lower = text.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy({ AuthorizationParameters.isDigit($0) || (0x61...0x66).contains($0) }) else {
            return .failure(SyntaxProblem("not a SHA-256 in hex (64 hex digits): store the key's hash, never the key"))
        }
        return .success(lower)
    }
}
