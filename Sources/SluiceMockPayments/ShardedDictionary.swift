/// A dictionary split into shards by hash, so that growing never rehashes everything at once.
///
/// Why: a bench run executes millions of orders, and one Swift dictionary doubling from 2M to
/// 4M entries stalls the (single-threaded) mock backend for about a second — which showed up as
/// a p99 spike for whichever proxy happened to be under test at that moment. With 256 shards a
/// rehash moves 1/256 of the entries.
struct ShardedDictionary<Key: Hashable, Value> {
    private var shards: [[Key: Value]]

    init(shardCount: Int = 256) {
        shards = Array(repeating: [:], count: shardCount)
    }

    private func shard(for key: Key) -> Int {
        Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))
    }

    subscript(key: Key) -> Value? {
        get { shards[shard(for: key)][key] }
        set { shards[shard(for: key)][key] = newValue }
    }

    var count: Int { shards.reduce(0) { $0 + $1.count } }

    /// Every value, in no particular order.
    var values: some Sequence<Value> { shards.lazy.flatMap(\.values) }
}
