import Foundation
import SluicePolicy
import Yams

/// The admin listener's settings: where it listens (loopback by default) and the bearer token
/// that anything changing state must carry, read from a file (never from the policy text).
public struct AdminPolicy: Sendable, Equatable {
    public var address: EndpointAddress
    /// Nil: no token configured, so every state-changing endpoint is refused (403).
    public var token: [UInt8]?

    public static let sectionName = "admin"
}

/// Reads `admin` (one file):
///
/// ```yaml
/// admin:
///   address: 127.0.0.1:9901
///   token_file: keys/admin.token     # relative to this file; at least 16 bytes
///   all_interfaces: false            # true: a wildcard address (0.0.0.0, ::) is meant
/// ```
public struct AdminPolicySection: GuardPolicySection {
    public let name = AdminPolicy.sectionName
    public let topLevelKeys = ["admin"]
    public let routeKeys: [String] = []
    static let minimumTokenBytes = 16

    public init() {}

    public func read(_ input: GuardSectionInput) -> (any Sendable)? {
        guard let section = input.single("admin") else { return nil }
        let reader = section.reader
        guard let fields = reader.mapping(section.value, what: "admin", allowed: ["address", "token_file", "all_interfaces"]) else { return nil }
        guard let address = reader.required("address", in: fields, of: "admin").flatMap({ reader.address($0, allowPortZero: true) }) else {
            return nil
        }
        // The reading endpoints need no token, and they name backends, routes and the policy's
        // files: on every interface that includes the one clients reach.
        if address.isWildcard, fields["all_interfaces"].flatMap(reader.flag) != true {
            reader.report("admin address \(address) is every interface: /metrics, /admin/state and /admin/policy answer "
                          + "without a token (backend addresses, routes, policy files); use a loopback or management address, "
                          + "or set all_interfaces: true", at: fields["address"]!)
            return nil
        }
        if let listener = input.listeners.first(where: { $0.address.overlaps(address) }) {
            reader.report("admin address \(address) overlaps listener '\(listener.name)' at \(listener.address): "
                          + "the kernel would split connections between the admin port and the listener", at: fields["address"]!)
            return nil
        }
        var policy = AdminPolicy(address: address, token: nil)
        if let node = fields["token_file"], let name = reader.text(node, expected: "a file path") {
            let path = name.hasPrefix("/") ? name
                : ((reader.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)
            // Read as every secret file is: trailing line breaks are the editor's, not the token's.
            let token: [UInt8]
            switch SecretFile.readWithReason(path) {
            case .success(let read): token = read
            case .failure(let failure):
                reader.report("cannot read admin token file \(path): \(failure.reason)", at: node)
                return nil
            }
            guard token.count >= Self.minimumTokenBytes else {
                reader.report("admin token in \(path) is shorter than \(Self.minimumTokenBytes) bytes", at: node)
                return nil
            }
            policy.token = token
        }
        return policy
    }
}
