/// Body bytes queued for one stream, sent as flow control allows (response bodies on the
/// server side, request bodies on the client side). Taken from the front without shifting the
/// array each time; compacted once the taken part is large.
struct OutboundBytes {
    private var bytes: [UInt8] = []
    private var head = 0

    var pending: Int { bytes.count - head }

    mutating func append(_ more: UnsafeRawBufferPointer) {
        if head == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 16_384 && head * 2 > bytes.count {
            bytes.removeFirst(head)
            head = 0
        }
        bytes.append(contentsOf: more)
    }

    /// Copies `count` queued bytes to `destination` and drops them from the queue.
    mutating func take(_ count: Int, into destination: inout [UInt8]) {
        bytes.withUnsafeBufferPointer { all in
            destination.append(contentsOf: UnsafeBufferPointer(rebasing: all[head..<head + count]))
        }
        head += count
    }
}
