/// A connection's open streams by id. A Dictionary hashes its Int32 key with SipHash (~100
/// instructions under callgrind), and a session looks a stream up about 13 times per request
/// (each frame and callback names its stream); here a lookup is a multiply, a mask and a probe or
/// two. Open addressing with linear probing; removal shifts the entries after it back, so no
/// tombstones build up on a connection that opens and closes streams forever. Loop-confined.
struct StreamTable<Stream: AnyObject> {
    /// 0 marks an empty slot: stream 0 is the connection itself, never a stream.
    private var ids: [Int32]
    private var streams: [Stream?]
    private(set) var count = 0

    init() {
        ids = [Int32](repeating: 0, count: 16)
        streams = [Stream?](repeating: nil, count: 16)
    }

    var isEmpty: Bool { count == 0 }

    private var mask: Int { ids.count - 1 }

    @inline(__always)
    private func home(_ id: Int32) -> Int {
        // Fibonacci hashing: client stream ids are consecutive odd numbers, which this spreads.
        Int(truncatingIfNeeded: (UInt32(bitPattern: id) &* 0x9E37_79B1) >> 16) & mask
    }

    /// The slot holding `id`, or nil.
    private func slot(of id: Int32) -> Int? {
        var slot = home(id)
        while true {
            let found = ids[slot]
            if found == id { return slot }
            if found == 0 { return nil }
            slot = (slot + 1) & mask
        }
    }

    subscript(id: Int32) -> Stream? {
        get {
            guard id != 0, let slot = slot(of: id) else { return nil }
            return streams[slot]
        }
        set {
            precondition(id != 0, "stream 0 is the connection")
            guard let stream = newValue else {
                _ = removeValue(forKey: id)
                return
            }
            if let slot = slot(of: id) {
                streams[slot] = stream
                return
            }
            if (count + 1) * 4 > ids.count * 3 { grow() }
            var slot = home(id)
            while ids[slot] != 0 { slot = (slot + 1) & mask }
            ids[slot] = id
            streams[slot] = stream
            count += 1
        }
    }

    @discardableResult
    mutating func removeValue(forKey id: Int32) -> Stream? {
        guard id != 0, var hole = slot(of: id) else { return nil }
        let removed = streams[hole]
        ids[hole] = 0
        streams[hole] = nil
        count -= 1
        // Backward shift: move each following entry of the run into the hole when the hole lies
        // between its home and its slot, so every entry stays reachable from its home.
        var next = (hole + 1) & mask
        while ids[next] != 0 {
            let want = home(ids[next])
            if (next &- want) & mask >= (next &- hole) & mask {
                ids[hole] = ids[next]
                streams[hole] = streams[next]
                ids[next] = 0
                streams[next] = nil
                hole = next
            }
            next = (next + 1) & mask
        }
        return removed
    }

    mutating func removeAll() {
        for slot in ids.indices {
            ids[slot] = 0
            streams[slot] = nil
        }
        count = 0
    }

    /// The ids of the open streams, in no particular order.
    var keys: [Int32] { ids.filter { $0 != 0 } }

    private mutating func grow() {
        let old = zip(ids, streams).filter { $0.0 != 0 }
        ids = [Int32](repeating: 0, count: ids.count * 2)
        streams = [Stream?](repeating: nil, count: ids.count)
        for (id, stream) in old {
            var slot = home(id)
            while ids[slot] != 0 { slot = (slot + 1) & mask }
            ids[slot] = id
            streams[slot] = stream
        }
    }
}
