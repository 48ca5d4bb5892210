/// How a route matches the request path (without the query, in normal form: see
/// `PathNormalization`). A prefix is a plain byte prefix, so end it with `/` to match whole segments.
public enum PathMatch: Sendable, Hashable {
    case exact(String)
    case prefix(String)
}
