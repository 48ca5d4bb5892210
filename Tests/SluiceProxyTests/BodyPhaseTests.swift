@testable import SluiceProxy
import SluiceGuards
import SluiceHTTP
import SluicePayload
import XCTest

/// The body phase: a guard that asks for the body gets all of it (parsed fields too), the
/// backend gets the same bytes, and memory stays bounded per route and per loop.
final class BodyPhaseTests: PipelineTestCase {
    static let order = Array(#"{"mchid":"1900000001","out_trade_no":"T1","amount":{"total":100,"currency":"CNY"}}"#.utf8)

    /// Reads payment fields from the body; refuses a body that does not parse.
    final class FieldGuard: RequestGuard, @unchecked Sendable {
        let name = "fields"
        let counters = GuardCounters()
        var needsBody: Bool { true }
        private(set) var seen: [String: String] = [:]
        private(set) var sawBody: [UInt8]?

        func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
            sawBody = request.body?.bytes
            do {
                let payload = try request.body?.payload()
                seen["mchid"] = payload?["mchid"]?.stringValue
                seen["amount.total"] = payload?["amount.total"]?.integerValue.map(String.init)
                return .proceed
            } catch {
                return .reject(.invalidBody(error))
            }
        }
    }

    /// Counts evaluations; never needs the body.
    final class PlainGuard: RequestGuard, @unchecked Sendable {
        let name = "plain"
        let counters = GuardCounters()
        var rejection: LocalReply?
        private(set) var bodyWasThere: Bool?
        init(rejection: LocalReply? = nil) { self.rejection = rejection }
        func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
            bodyWasThere = request.body != nil
            return rejection.map { .reject($0) } ?? .proceed
        }
    }

    func post(_ body: [UInt8]? = nil, chunks: [[UInt8]]? = nil, declared: Int? = nil,
              contentType: String = "application/json") -> TestDownstream {
        TestDownstream(method: "POST", target: "/v3/pay/transactions/jsapi", headers: [("content-type", contentType)],
                       body: body, chunks: chunks, declaredLength: declared)
    }

    func testBodyGuardReadsFieldsAndTheBackendGetsTheSameBytes() async throws {
        let fields = FieldGuard()
        let upstream = ScriptedUpstream(.respond(status: 200))
        let client = post(chunks: [Array(Self.order[..<10]), Array(Self.order[10...])])  // chunked: no declared length
        try await serve(client, guards: ["pay": [fields]], upstream: upstream)
        XCTAssertEqual(client.status, 200)
        XCTAssertEqual(fields.sawBody, Self.order)
        XCTAssertEqual(fields.seen["mchid"], "1900000001")
        XCTAssertEqual(fields.seen["amount.total"], "100")
        XCTAssertEqual(upstream.received.first?.body, Self.order)
        XCTAssertEqual(upstream.received.first?.head.headers["content-length"], String(Self.order.count),
                       "a buffered body goes upstream with its length, not chunked")
        XCTAssertEqual(lastContext?.bufferedBodyBytes, 0, "the loop's budget is given back")
    }

    func testGuardsBeforeTheBodyGuardRunWithoutReadingIt() async throws {
        let early = PlainGuard(rejection: .json(status: 503, reason: "degraded", message: "shed"))
        let fields = FieldGuard()
        let client = post(Self.order)
        try await serve(client, guards: ["pay": [early, fields]], upstream: ScriptedUpstream(.respond(status: 200)))
        XCTAssertEqual(client.status, 503)
        XCTAssertEqual(client.requestBodyBytes, 0, "refused before the body phase")
        XCTAssertEqual(early.bodyWasThere, false)
        XCTAssertNil(fields.sawBody)
    }

    func testGuardsAfterTheBodyGuardSeeTheBodyToo() async throws {
        let late = PlainGuard()
        try await serve(post(Self.order), guards: ["pay": [FieldGuard(), late]], upstream: ScriptedUpstream(.respond(status: 200)))
        XCTAssertEqual(late.bodyWasThere, true)
    }

    func testRoutesWithoutBodyGuardsDoNotBuffer() async throws {
        let plain = PlainGuard()
        let upstream = ScriptedUpstream(.respond(status: 200))
        try await serve(post(Self.order), guards: ["pay": [plain]], upstream: upstream)
        XCTAssertEqual(plain.bodyWasThere, false)
        XCTAssertEqual(upstream.received.first?.body, Self.order)
    }

    func testUndeclaredBodyOverMaxBodyIs413AndNothingGoesUpstream() async throws {
        let upstream = ScriptedUpstream(.respond(status: 200))
        let big = Array(repeating: UInt8(ascii: "a"), count: 40 * 1024)
        let client = post(chunks: [big, big])  // 80 KiB against max_body 64KiB
        try await serve(client, guards: ["pay": [FieldGuard()]], upstream: upstream)
        XCTAssertEqual(client.status, 413)
        XCTAssertEqual(upstream.connections, 0)
        XCTAssertEqual(lastContext?.bufferedBodyBytes, 0)
    }

    func testLoopBufferFullIs503WithRetryAfter() async throws {
        let upstream = ScriptedUpstream(.respond(status: 200))
        let client = post(Self.order)
        try await serve(client, guards: ["pay": [FieldGuard()]], upstream: upstream, server: "{workers: 1, body_buffer_per_loop: 64}")
        XCTAssertEqual(client.status, 503)
        XCTAssertEqual(client.localReply?.reason, "body_buffer_full")
        XCTAssertEqual(client.localReply?.headers["retry-after"], "1")
        XCTAssertEqual(upstream.connections, 0)

        // Chunks of unknown total length hit the cap as they arrive.
        let chunked = post(chunks: [Array(Self.order[..<40]), Array(Self.order[40...])])
        try await serve(chunked, guards: ["pay": [FieldGuard()]], upstream: upstream, server: "{workers: 1, body_buffer_per_loop: 64}")
        XCTAssertEqual(chunked.status, 503)
        XCTAssertEqual(lastContext?.bufferedBodyBytes, 0)
    }

    func testStalledBodyIs408TheClientsFault() async throws {
        let observer = RecordingObserver()
        let client = post(chunks: [Array(Self.order[..<10])], declared: Self.order.count)
        client.bodyStalls = true
        try await serve(client, guards: ["pay": [ObservingGuard("probe", observer: observer), FieldGuard()]],
                        upstream: ScriptedUpstream(.respond(status: 200)))
        XCTAssertEqual(client.status, 408)
        XCTAssertEqual(observer.outcomes.map(\.failure), [.clientTimeout])
    }

    func testAStalledUploadHoldsNoBackendConnection() async throws {
        // Request buffering is the default: the body is read before a connection is taken.
        let upstream = ScriptedUpstream(.respond(status: 200))
        let client = post(chunks: [Array(Self.order[..<10])], declared: Self.order.count)
        client.bodyStalls = true
        try await serve(client, upstream: upstream)
        XCTAssertEqual(client.status, 408)
        XCTAssertEqual(upstream.connections, 0, "a stalled upload never reached the backend")

        // A route that streams (request_buffering: false) connects first and sends as it reads.
        let streaming = PipelineTestCase.standardRoutes.replacingOccurrences(of: "    max_body: 64KiB\n",
                                                                              with: "    max_body: 64KiB\n    request_buffering: false\n")
        let streamed = post(chunks: [Array(Self.order[..<10])], declared: Self.order.count)
        streamed.bodyStalls = true
        let other = ScriptedUpstream(.respond(status: 200))
        try await serve(streamed, upstream: other, routes: streaming)
        XCTAssertEqual(streamed.status, 408)
        XCTAssertEqual(other.connections, 1)
    }

    func testMalformedBodyIsRefusedWithTheParsersReason() async throws {
        let upstream = ScriptedUpstream(.respond(status: 200))
        let duplicate = Array(#"{"mchid":"1900000001","mchid":"1900000002"}"#.utf8)
        let client = post(duplicate)
        try await serve(client, guards: ["pay": [FieldGuard()]], upstream: upstream)
        XCTAssertEqual(client.status, 400)
        let body = String(decoding: client.localReply?.body ?? [], as: UTF8.self)
        XCTAssertTrue(body.contains("duplicate_key"), body)
        XCTAssertEqual(upstream.connections, 0)
    }

    func testFieldsParseOnceWhateverTheNumberOfGuards() async throws {
        let body = RequestBody(bytes: Self.order, contentType: "application/json; charset=utf-8")
        let first = try body.payload()
        let second = try body.payload()
        XCTAssertEqual(first["amount.total"]?.integerValue, 100)
        XCTAssertEqual(second["amount.currency"]?.stringValue, "CNY")
        XCTAssertThrowsError(try RequestBody(bytes: Self.order, contentType: "text/plain").payload())
    }
}
