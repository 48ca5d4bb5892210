/// A growable byte buffer with separate read and write positions, owned by one connection.
/// Its storage is raw memory, not an array, so handing it to read(2) costs no exclusivity
/// checks or copy-on-write (measured: 5–8% of CPU with `&array` inout).
public final class ByteBuffer {
    public private(set) var storage: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    public private(set) var readerIndex = 0
    public private(set) var writerIndex = 0
    /// Every byte ever written into the buffer, consumed or not: whether anything arrived
    /// between two moments (an upstream that closed before sending one byte of its answer).
    public private(set) var totalWritten = 0

    public init(capacity: Int = 16 * 1024) {
        self.capacity = max(capacity, 64)
        storage = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    public var readableCount: Int { writerIndex - readerIndex }
    public var isEmpty: Bool { readerIndex == writerIndex }

    /// The bytes not yet consumed. Valid until the next mutation.
    public var readableBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage + readerIndex, count: writerIndex - readerIndex)
    }

    public func consume(_ count: Int) {
        precondition(count >= 0 && count <= readableCount)
        readerIndex += count
        if readerIndex == writerIndex {
            readerIndex = 0
            writerIndex = 0
        }
    }

    public func clear() {
        readerIndex = 0
        writerIndex = 0
    }

    /// An empty buffer gives its storage back, keeping 64 bytes: an idle connection should not
    /// hold a read buffer (the next read grows it again, in one allocation).
    public func releaseCapacity() {
        guard isEmpty, capacity > 64 else { return }
        storage.deallocate()
        capacity = 64
        storage = .allocate(byteCount: capacity, alignment: 16)
        clear()
    }

    /// Free space at the end, after making room for at least `minimum` bytes (compacting first,
    /// growing only when compaction is not enough).
    public func writableSpace(minimum: Int = 1) -> UnsafeMutableRawBufferPointer {
        if capacity - writerIndex < minimum {
            if readerIndex > 0 {
                let count = readableCount
                (storage).copyMemory(from: storage + readerIndex, byteCount: count)
                readerIndex = 0
                writerIndex = count
            }
            if capacity - writerIndex < minimum {
                var newCapacity = capacity
                while newCapacity - writerIndex < minimum { newCapacity *= 2 }
                let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
                newStorage.copyMemory(from: storage, byteCount: writerIndex)
                storage.deallocate()
                storage = newStorage
                capacity = newCapacity
            }
        }
        return UnsafeMutableRawBufferPointer(start: storage + writerIndex, count: capacity - writerIndex)
    }

    public func commitWritten(_ count: Int) {
        precondition(count >= 0 && writerIndex + count <= capacity)
        writerIndex += count
        totalWritten &+= count
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        let space = writableSpace(minimum: bytes.count)
        space.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        writerIndex += bytes.count
        totalWritten &+= bytes.count
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }
}
