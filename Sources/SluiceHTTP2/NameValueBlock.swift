internal import CNghttp2
import SluiceHTTP

/// Header fields as nghttp2 name/value pairs, pointing into one byte buffer. A session keeps one
/// block and builds every head it submits in it: nghttp2 copies the pairs before a submit call
/// returns, so the buffers are free again at once and, once grown to a typical head, a response
/// head costs no allocation (this runs for every HTTP/2 response and upstream HTTP/2 request).
/// Loop-confined, like its session.
final class NameValueBlock {
    private var bytes: [UInt8] = []
    private var spans: [(name: Range<Int>, value: Range<Int>)] = []
    private var pairs: [nghttp2_nv] = []

    /// `leading` (a pseudo-header) and `fields`, as pairs valid during `body`. Any sequence of
    /// fields: a response's filtered headers go in lazily, with no list of them made first.
    func with<Fields: Sequence>(_ fields: Fields, leading: (name: String, value: String)? = nil,
                                _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Void)
    where Fields.Element == (name: String, value: String) {
        start()
        if let leading { add(leading.name, leading.value) }
        for (name, value) in fields { add(name, value) }
        finish(body)
    }

    /// `leading`, then the fields of `headers` that `skip` does not refuse. Read in place: a
    /// response head's fields are not copied (each copy of a field retains its two strings).
    func with(_ headers: HTTPHeaders, leading: (name: String, value: String), skip: (String) -> Bool,
              _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Void) {
        start()
        add(leading.name, leading.value)
        headers.fields.withUnsafeBufferPointer { fields in
            for index in fields.indices where !skip(fields[index].name) { add(fields[index].name, fields[index].value) }
        }
        finish(body)
    }

    private func start() {
        bytes.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        pairs.removeAll(keepingCapacity: true)
        if bytes.capacity == 0 { bytes.reserveCapacity(512) }
    }

    private func finish(_ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Void) {
        bytes.withUnsafeMutableBufferPointer { bytes in
            let base = bytes.baseAddress
            for span in spans {
                let name = UnsafeBufferPointer(rebasing: bytes[span.name])
                pairs.append(nghttp2_nv(name: base.map { $0 + span.name.lowerBound }, value: base.map { $0 + span.value.lowerBound },
                                        namelen: span.name.count, valuelen: span.value.count, flags: Self.flags(name: name)))
            }
        }
        pairs.withUnsafeMutableBufferPointer { body($0) }
    }

    /// Gives the buffers back (an idle session parks).
    func release() {
        bytes = []
        spans = []
        pairs = []
    }

    private func add(_ name: String, _ value: String) {
        let nameStart = bytes.count
        bytes.append(contentsOf: name.utf8)
        let valueStart = bytes.count
        bytes.append(contentsOf: value.utf8)
        spans.append((nameStart..<valueStart, valueStart..<bytes.count))
    }

    /// Fields whose value is new in every message (the request id, the trace context) are sent
    /// as never-indexed literals: indexed, each would take a slot in HPACK's dynamic table only to
    /// push out the fields that do repeat (and cost nghttp2 an allocation and an eviction).
    private static func flags(name: UnsafeBufferPointer<UInt8>) -> UInt8 {
        // By length first: most names differ in it, and compare no byte.
        let unique = (name.count == requestID.count && name.elementsEqual(requestID))
            || (name.count == traceparent.count && name.elementsEqual(traceparent))
        return UInt8(unique ? NGHTTP2_NV_FLAG_NO_INDEX.rawValue : NGHTTP2_NV_FLAG_NONE.rawValue)
    }

    private static let requestID = Array("x-request-id".utf8)
    private static let traceparent = Array("traceparent".utf8)
}
