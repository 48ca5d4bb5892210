/// A byte array kept by a connection and lent out for one head at a time, so writing a head
/// reuses the same storage instead of allocating per request. Loop-confined.
struct ScratchBuffer {
    private var storage: [UInt8] = []
    private let minimumCapacity: Int

    init(minimumCapacity: Int) { self.minimumCapacity = minimumCapacity }

    /// The buffer, empty, with its old capacity; give it back with `give(back:)` when written.
    mutating func borrow() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &storage)
        taken.removeAll(keepingCapacity: true)
        if taken.capacity < minimumCapacity { taken.reserveCapacity(minimumCapacity) }
        return taken
    }

    mutating func give(back buffer: consuming [UInt8]) {
        storage = buffer
    }

    /// Frees the storage (an idle connection's); the next `borrow` allocates again.
    mutating func release() {
        storage = []
    }
}
