import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluiceGuards
import SluicePolicy

/// Reads a request body completely, for guards that judge it (signatures, idempotency keys,
/// payment fields). The bytes are then forwarded from this buffer, so the backend gets exactly
/// what the guards saw, and a retry can send them again.
///
/// Memory is bounded twice: by the route's `max_body` (413) and by the loop's
/// `body_buffer_per_loop` (503 with Retry-After: the gateway is busy, not the client wrong), of
/// which one client holds at most a quarter. A declared length that would not fit now is refused
/// at once, but the budget is taken only as bytes arrive: reserving the declared length up front
/// let a client that sent headers alone (no credentials, no body: 40 connections of `POST` with
/// `Content-Length: 65536` and nothing after) hold the whole budget, and every other client's
/// payment got 503 `body_buffer_full`. HTTP/1.1 clients waiting
/// for `100 Continue` get it here; HTTP/2 streams open their flow-control window as the body
/// is buffered.
struct BodyPhase<Downstream: DownstreamExchange> {
    let downstream: Downstream
    let context: LoopContext
    let route: RouteLimits
    let deadline: Deadline
    /// Longest pause between two reads (the listener's body_timeout); nil: only `deadline`.
    var inactivityNanoseconds: UInt64?
    /// Slowest average rate (bytes/s) once the body has taken longer than the inactivity
    /// timeout (the listener's body_min_rate); 0: off.
    var minimumRate = 0
    /// Bytes of the loop's budget this request holds; the pipeline gives them back when it ends.
    private(set) var reserved = 0
    /// Whose share of the budget they come from (`ClientIdentity.client`).
    let client: String

    init(downstream: Downstream, context: LoopContext, route: RouteLimits, deadline: Deadline, client: String) {
        self.downstream = downstream
        self.context = context
        self.route = route
        self.deadline = deadline
        self.client = client
    }

    mutating func read() async -> Result<[UInt8], BodyRefusal> {
        let limit = route.maxBodyBytes
        if let declared = downstream.declaredBodyLength {
            guard declared <= limit else { return .failure(tooLarge(declared)) }
            guard context.bodyBufferHasRoom(for: declared, client: client) else { return .failure(buffersFull()) }
        }
        var bytes: [UInt8] = []
        let started = context.loop.now
        do {
            try await downstream.willReadBody()
            while !downstream.requestBodyFinished {
                var refusal: BodyRefusal?
                let readDeadline = inactivityNanoseconds.map { min(deadline, context.loop.deadline(afterNanoseconds: $0)) } ?? deadline
                try await downstream.readRequestBody(deadline: readDeadline) { slice in
                    if bytes.count + slice.count > limit {
                        refusal = tooLarge(bytes.count + slice.count)
                    } else if bytes.count + slice.count > reserved && !reserve(bytes.count + slice.count - reserved) {
                        refusal = buffersFull()
                    } else {
                        // Storage grows with what came (never the declared length up front: a
                        // client sending one byte of each body would make it allocate the rest).
                        bytes.append(contentsOf: slice)
                    }
                }
                if let refusal { return .failure(refusal) }
                if minimumRate > 0, let grace = inactivityNanoseconds, !downstream.requestBodyFinished {
                    // A trickle that never pauses long enough for the inactivity timeout.
                    let elapsed = context.loop.now &- started
                    if elapsed > grace && Double(bytes.count) < Double(minimumRate) * Double(elapsed) / 1e9 {
                        return .failure(BodyRefusal(reply: .json(status: 408, reason: "client_body_timeout",
                                                             message: "the request body arrives slower than \(minimumRate) bytes/s"),
                                                failure: .clientTimeout))
                    }
                }
            }
        } catch let error as HTTP1Error {
            return .failure(BodyRefusal(reply: .json(status: error.status, reason: error.reason, message: error.message),
                                    failure: .clientBodyInvalid))
        } catch is UnexpectedEndOfStream {
            return .failure(BodyRefusal(reply: .json(status: 400, reason: "client_body_incomplete", message: "client closed mid-body"),
                                    failure: .clientBodyInvalid))
        } catch let error as IOError where error.isTimeout {
            return .failure(BodyRefusal(reply: .json(status: 408, reason: "client_body_timeout",
                                                 message: "the request body did not arrive in time"),
                                    failure: .clientTimeout))
        } catch {
            return .failure(BodyRefusal(reply: .json(status: 499, reason: "client_gone", message: "\(error)"), failure: .clientGone))
        }
        return .success(bytes)
    }

    private mutating func reserve(_ bytes: Int) -> Bool {
        guard context.reserveBodyBuffer(bytes, client: client) else { return false }
        reserved += bytes
        return true
    }

    private func tooLarge(_ length: Int) -> BodyRefusal {
        BodyRefusal(reply: .json(status: 413, reason: "body_too_large",
                             message: "request body of \(length) bytes exceeds the route limit of \(route.maxBodyBytes)"),
                failure: .localReply)
    }

    private func buffersFull() -> BodyRefusal {
        var reply = LocalReply.json(status: 503, reason: "body_buffer_full",
                                    message: "the gateway holds too many request bodies right now; retry shortly")
        reply.headers.appendLowercased(name: "retry-after", value: "1")
        return BodyRefusal(reply: reply, failure: .localReply)
    }
}

/// Why a body could not be buffered: the reply and whose doing it was.
struct BodyRefusal: Error {
    var reply: LocalReply
    var failure: RequestFailure
}
