import Synchronization
import SluiceHTTP

/// The most recent 2xx answer of each (merchant, GET target) on one route: what the route's
/// `fallback: cached` serves while degraded. Bounded in entries and body size; when full, the
/// oldest entries go (they are the stalest anyway).
final class FallbackCache: Sendable {
    struct Entry: Sendable {
        var status: Int
        var contentType: String?
        var body: [UInt8]
        /// Monotonic nanoseconds when it was stored.
        var storedAt: UInt64
    }

    static let maximumEntries = 4096
    static let maximumBody = 64 * 1024
    private let entries = Mutex<[String: Entry]>([:])

    static func key(merchant: String?, target: String) -> String {
        (merchant ?? "-") + " " + target
    }

    func store(_ entry: Entry, for key: String) {
        guard entry.body.count <= Self.maximumBody else { return }
        entries.withLock { entries in
            if entries.count >= Self.maximumEntries && entries[key] == nil {
                let cutoff = entries.values.map(\.storedAt).sorted()[entries.count / 2]
                entries = entries.filter { $0.value.storedAt > cutoff }
            }
            entries[key] = entry
        }
    }

    /// The entry when it is no older than `maxStaleNanoseconds`.
    func fresh(_ key: String, now: UInt64, maxStaleNanoseconds: UInt64) -> Entry? {
        entries.withLock { entries in
            guard let entry = entries[key], now &- entry.storedAt <= maxStaleNanoseconds else { return nil }
            return entry
        }
    }
}
