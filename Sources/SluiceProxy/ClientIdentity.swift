import SluiceHTTP
import SluicePolicy

/// Who the client is, and what the backend is told about it.
///
/// The socket peer is the client unless it is a trusted proxy (the listener's
/// `trusted_proxies`): then the X-Forwarded-For chain it extended is believed, and the client is
/// the last address in it that is not itself a trusted proxy (walking from the right, so a
/// client cannot insert itself by sending its own header first). A peer that is not trusted
/// cannot claim anything: its X-Forwarded-For, Forwarded and X-Real-IP are replaced.
struct ClientIdentity {
    /// The real client: `client_ip` in limits, the access log, the guards.
    let client: String
    /// The socket peer.
    let peer: String
    /// Whether the peer is a trusted proxy (its forwarding headers are kept and extended).
    let peerIsTrusted: Bool

    init(peer: String, headers: HTTPHeaders, trustedProxies: [IPRange]) {
        self.peer = peer
        guard !trustedProxies.isEmpty, trustedProxies.contains(where: { $0.contains(peer) }) else {
            client = peer
            peerIsTrusted = false
            return
        }
        peerIsTrusted = true
        var chain: [String] = []
        for value in headers.values(for: "x-forwarded-for") {
            chain += value.split(separator: ",").map { Self.trimmed($0) }
        }
        // From the right: each hop was added by the proxy to its right. The first hop that is not
        // a trusted proxy is the client; a hop that is not an address ends the trusted part.
        var client = peer
        for hop in chain.reversed() {
            guard IPRange.isAddress(hop) else { break }
            client = hop
            if !trustedProxies.contains(where: { $0.contains(hop) }) { break }
        }
        self.client = client
    }

    private static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
