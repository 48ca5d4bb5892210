/// How a route matches the request path (without the query). Both forms compare raw bytes, no
/// normalisation: a prefix is a plain string prefix, so end it with `/` to match whole segments.
public enum PathMatch: Sendable, Equatable {
    case exact(String)
    case prefix(String)
}
