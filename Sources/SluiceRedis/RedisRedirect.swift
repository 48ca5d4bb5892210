/// A cluster node's answer that a key's slot is served elsewhere.
///
/// `MOVED <slot> <host>:<port>`: the slot has moved for good (the client updates its slot map and
/// sends there from now on). `ASK <slot> <host>:<port>`: the slot is being migrated and this one
/// key is already on the target: the client sends `ASKING` and the command to the target once,
/// without changing its map. An empty host means the host of the node that answered.
struct RedisRedirect: Equatable {
    enum Kind: Equatable { case moved, ask }
    let kind: Kind
    let slot: Int
    let target: RedisNodeAddress

    init(kind: Kind, slot: Int, target: RedisNodeAddress) {
        self.kind = kind
        self.slot = slot
        self.target = target
    }

    /// Nil when `error` is not a redirect.
    init?(error: String, from node: RedisNodeAddress) {
        let kind: Kind
        if error.hasPrefix("MOVED ") { kind = .moved } else if error.hasPrefix("ASK ") { kind = .ask } else { return nil }
        let words = error.split(separator: " ")
        guard words.count == 3, let slot = Int(words[1]), (0..<RedisHashSlot.count).contains(slot),
              var target = RedisNodeAddress(words[2]) else { return nil }
        if target.host.isEmpty { target.host = node.host }
        self.init(kind: kind, slot: slot, target: target)
    }
}
