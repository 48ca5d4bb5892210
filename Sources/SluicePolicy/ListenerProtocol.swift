/// What a listener speaks. Only cleartext HTTP/1.1 today; an enum so that TLS and h2 listeners
/// are a new case rather than a new flag.
public enum ListenerProtocol: String, Sendable, CaseIterable {
    case http1
}
