/// A route's use of something that only means what it says when the route's auth verifies a
/// merchant: a limit keyed by `merchant`, a body field that must name the signer, a per-merchant
/// cap. On a route whose auth does not identify one, it silently means something else (every
/// client in one shared counter; every order refused; the cap never applied), so `sluice check`
/// reports it at `position` (the check needs the auth section too: it runs in SluiceServer).
public struct MerchantDependence: Sendable, Equatable {
    public let route: String
    public let position: SourcePosition
    /// What depends on the merchant, and what happens without one: "limit rule 'q' is keyed by
    /// merchant (without one, every client shares one counter)".
    public let what: String

    public init(route: String, position: SourcePosition, what: String) {
        self.route = route
        self.position = position
        self.what = what
    }
}
