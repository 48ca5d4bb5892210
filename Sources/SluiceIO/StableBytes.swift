extension Array where Element == UInt8 {
    /// A pointer to these bytes that stays valid across suspension points (an array's own
    /// `withUnsafeBytes` is synchronous): they are copied into memory owned for the call.
    /// For bodies handed to async writers; heads use `ByteStream.write(_: [UInt8])`, which
    /// needs no copy.
    public func withStableBytes<R>(_ body: (UnsafeRawBufferPointer) async throws -> R) async rethrows -> R {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(count, 1), alignment: 1)
        defer { storage.deallocate() }
        withUnsafeBytes { storage.copyMemory(from: $0) }
        return try await body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }
}
