/// Where the per-request access log goes: `stdout`, `off`, or any other text as a file path.
public enum AccessLogTarget: Sendable, Equatable {
    case stdout
    case off
    case file(String)
}
