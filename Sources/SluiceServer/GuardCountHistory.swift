import Synchronization
import SluiceGuards

/// Guard counts that outlive the guards that made them. Each policy generation compiles new
/// guards with counters from zero, so `sluice_guard_decisions_total` went back to 0 on every
/// reload, even one that changed nothing, and `rate()` / `increase()` saw spurious resets. When a
/// reload replaces a generation, the counts of its guards that the new one does not keep are
/// added here; metrics report these plus the live ones. (Decisions an old generation's requests
/// still make after the swap are not counted: a counter may lag, never go back.)
final class GuardCountHistory: Sendable {
    struct Key: Hashable {
        var route: String
        var guardName: String
    }

    struct Counts {
        var evaluated = 0
        var rejected = 0
        var shadowRejected = 0
        var errors = 0

        mutating func add(_ counters: GuardCounters) {
            evaluated += counters.evaluated
            rejected += counters.rejected
            shadowRejected += counters.shadowRejected
            errors += counters.errors
        }
    }

    typealias LiveCounters = [(route: String, guard: String, counters: GuardCounters)]

    /// The running generation's counters and what replaced generations counted, swapped together
    /// so that a scrape never sees a generation twice or not at all.
    private let state = Mutex<(live: LiveCounters, retired: [Key: Counts])>(([], [:]))

    /// The first generation's counters.
    func start(with live: LiveCounters) {
        state.withLock { $0.live = live }
    }

    /// A reload replaces the running generation by `new`: the counts of the old guards that
    /// `new` does not reuse are kept.
    func generationReplaced(by new: LiveCounters) {
        let kept = Set(new.map { ObjectIdentifier($0.counters) })
        state.withLock { state in
            for (route, name, counters) in state.live where !kept.contains(ObjectIdentifier(counters)) {
                state.retired[Key(route: route, guardName: name), default: Counts()].add(counters)
            }
            state.live = new
        }
    }

    /// Every route and guard's counts so far: the live ones (in chain order), each with what its
    /// predecessors counted, then those only replaced generations had.
    func totals() -> [(Key, Counts)] {
        state.withLock { state in
            var past = state.retired
            var result: [(Key, Counts)] = []
            for (route, name, counters) in state.live {
                let key = Key(route: route, guardName: name)
                var counts = past.removeValue(forKey: key) ?? Counts()
                counts.add(counters)
                result.append((key, counts))
            }
            let rest = past.sorted { ($0.key.route, $0.key.guardName) < ($1.key.route, $1.key.guardName) }
            return result + rest.map { ($0.key, $0.value) }
        }
    }
}
