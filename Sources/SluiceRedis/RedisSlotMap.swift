/// Which primary serves each of a cluster's 16384 slots, as one client last learnt it (from
/// `CLUSTER SHARDS` or `CLUSTER SLOTS`, corrected slot by slot by MOVED replies). Pure value:
/// the cluster client owns one per loop and looks a slot up on every call.
struct RedisSlotMap: Equatable {
    /// The primaries, in the order they were first seen; `owners` holds indexes into it.
    private(set) var primaries: [RedisNodeAddress] = []
    /// Slot → index into `primaries`, -1 while no primary is known for the slot.
    private var owners = [Int16](repeating: -1, count: RedisHashSlot.count)

    init() {}

    /// The index (into `primaries`) of the primary serving `slot`, nil when none is known.
    func owner(ofSlot slot: Int) -> Int? {
        let owner = owners[slot]
        return owner < 0 ? nil : Int(owner)
    }

    /// How many slots have a known primary (16384 when the cluster is fully covered).
    var coveredSlots: Int { owners.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// `slot` is served by `primary` from now on (a MOVED reply, or a range of a discovery reply).
    mutating func assign(_ slots: ClosedRange<Int>, to primary: RedisNodeAddress) {
        let index: Int
        if let known = primaries.firstIndex(of: primary) {
            index = known
        } else {
            index = primaries.count
            primaries.append(primary)
        }
        for slot in slots { owners[slot] = Int16(index) }
    }

    // MARK: - Discovery replies

    /// From `CLUSTER SHARDS` (Redis ≥ 7): one entry per shard, each a flat list of field names and
    /// values: `slots` (start, end, start, end, ...) and `nodes` (each a flat list with `ip`,
    /// `endpoint`, `port`, `tls-port`, `role`, `health`, ...). Only primaries are used. `queried`
    /// stands in for an empty endpoint. Nil when the reply does not have that shape. (CLUSTER
    /// SLOTS and MOVED/ASK already name the TLS port to a client connected over TLS.)
    static func fromShards(_ reply: RedisReply, queried: RedisNodeAddress, tls: Bool = false) -> RedisSlotMap? {
        guard let shards = reply.elements else { return nil }
        var map = RedisSlotMap()
        for shard in shards {
            guard let fields = fieldMap(shard), let slots = fields["slots"]?.elements, slots.count % 2 == 0,
                  let nodes = fields["nodes"]?.elements else { return nil }
            let primary = nodes.lazy.compactMap(fieldMap).first { $0["role"]?.string == "master" }
            guard let primary else { continue }  // a shard without a primary serves nothing
            // Over TLS, the node's TLS port (a node may listen on both, or TLS only: port 0).
            guard let port = (tls ? primary["tls-port"]?.integer : nil) ?? primary["port"]?.integer else { return nil }
            var host = primary["endpoint"]?.string ?? ""
            if host.isEmpty || host == "?" { host = primary["ip"]?.string ?? "" }
            if host.isEmpty { host = queried.host }
            let address = RedisNodeAddress(host: host, port: port)
            for pair in stride(from: 0, to: slots.count, by: 2) {
                guard let range = slotRange(slots[pair].integer, slots[pair + 1].integer) else { return nil }
                map.assign(range, to: address)
            }
        }
        return map
    }

    /// From `CLUSTER SLOTS` (older servers): `[start, end, [host, port, id, ...], replicas...]` per
    /// range; the first node is the primary.
    static func fromSlots(_ reply: RedisReply, queried: RedisNodeAddress) -> RedisSlotMap? {
        guard let ranges = reply.elements else { return nil }
        var map = RedisSlotMap()
        for entry in ranges {
            guard let items = entry.elements, items.count >= 3, let range = slotRange(items[0].integer, items[1].integer),
                  let node = items[2].elements, node.count >= 2, let port = node[1].integer else { return nil }
            var host = node[0].string ?? ""
            if host == "?" { continue }  // the primary's endpoint is unknown: leave the range uncovered
            if host.isEmpty { host = queried.host }
            map.assign(range, to: RedisNodeAddress(host: host, port: port))
        }
        return map
    }

    private static func slotRange(_ start: Int?, _ end: Int?) -> ClosedRange<Int>? {
        guard let start, let end, start >= 0, start <= end, end < RedisHashSlot.count else { return nil }
        return start...end
    }

    /// A flat `[name, value, name, value, ...]` list as a dictionary.
    private static func fieldMap(_ reply: RedisReply) -> [String: RedisReply]? {
        guard let items = reply.elements, items.count % 2 == 0 else { return nil }
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: items.count, by: 2) {
            guard let name = items[index].string else { return nil }
            fields[name] = items[index + 1]
        }
        return fields
    }
}
