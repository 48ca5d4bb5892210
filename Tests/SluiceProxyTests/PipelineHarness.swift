@testable import SluiceProxy
import SluiceGuards
import SluiceHTTP
import SluiceHTTP1
import SluiceIO
import SluicePolicy
import SluiceTestSupport
import Synchronization
import XCTest

/// The in-process pipeline tier (../DESIGN.md §7): a request goes through the real router,
/// guard chain, body handling, forwarder and outcome hook, from a scripted downstream to a
/// scripted upstream over in-memory streams. No sockets; the loop is only the executor.
class PipelineTestCase: EventLoopTestCase {
    /// One listener, one cluster (never dialled: the scripted upstream answers), and routes.
    static func policy(routes: String, server: String) -> String {
        """
        server: \(server)
        listeners:
          - {name: test, address: 127.0.0.1:8080}
        clusters:
          - {name: backend, endpoints: [127.0.0.1:9], connect_timeout: 200ms}
        routes:
        \(routes)
        """
    }

    static let standardRoutes = """
          - name: pay
            class: core
            match: {methods: [POST], path: /v3/pay/transactions/jsapi}
            cluster: backend
            timeouts: {per_try: 300ms, total: 600ms}
            max_body: 64KiB
          - name: query
            class: noncore
            match: {prefix: /v3/pay/}
            cluster: backend
            timeouts: {per_try: 300ms, total: 600ms}
            max_body: 1KiB
        """

    /// The loop context of the last `serve` (its body buffer budget, its pools).
    var lastContext: LoopContext?

    /// Serves one request through the pipeline; the downstream records what the client saw.
    func serve(_ downstream: TestDownstream, guards: [String: [any RequestGuard]] = [:], upstream: ScriptedUpstream,
               routes: String = PipelineTestCase.standardRoutes, server: String = "{workers: 1}") async throws {
        let snapshot = try PolicyLoader.load(sources: [(path: "policy.yaml", text: Self.policy(routes: routes, server: server))])
        let configuration = try ProxyConfiguration(policy: snapshot, generation: 1, guards: guards)
        lastContext = try await onLoop { loop in
            downstream.loop = loop
            let context = LoopContext(loop: loop, store: ConfigurationStore(configuration), accessLog: nil, connector: upstream)
            await RequestPipeline(context: context, listenerName: "test").serve(downstream)
            return context
        }
    }
}

/// A client as the pipeline sees it: the request is given up front, the response is recorded.
final class TestDownstream: DownstreamExchange, @unchecked Sendable {
    /// The class of the last route the pipeline reported (nil: not reported).
    private(set) var routedAsCore: Bool?
    func routed(core: Bool) { routedAsCore = core }

    let head: HTTPRequestHead
    let clientAddress = "192.0.2.7"
    let scheme = "http"
    /// Set by the harness: the loop the request runs on.
    var loop: EventLoop!
    let clientCertificateSubject: String? = nil
    private var bodyChunks: [[UInt8]]
    private let declaredLength: Int?
    /// After its chunks, the body never ends (a stalled upload).
    var bodyStalls = false
    /// Writing the response body fails as if the client had gone.
    var goneAfterResponseHead = false
    private(set) var requestBodyBytes = 0
    private(set) var responseBytesSent = 0
    var clientHasLeft: Bool { false }

    private(set) var responseHead: HTTPResponseHead?
    private(set) var responseBody: [UInt8] = []
    private(set) var localReply: LocalReply?
    private(set) var finished = false
    private(set) var aborted = false

    init(method: String = "GET", target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
         chunks: [[UInt8]]? = nil, declaredLength: Int? = nil) {
        var fields = HTTPHeaders()
        fields.appendLowercased(name: "host", value: "gateway.test")
        for (name, value) in headers { fields.appendLowercased(name: name, value: value) }
        head = HTTPRequestHead(method: method, target: target, version: .http1_1, headers: fields)
        bodyChunks = chunks ?? body.map { [$0] } ?? []
        self.declaredLength = declaredLength ?? body?.count
    }

    var status: Int? { responseHead?.status ?? localReply?.status }
    var declaredBodyLength: Int? { declaredLength }
    var requestBodyFinished: Bool { bodyChunks.isEmpty && !bodyStalls }
    /// All of it given up front (the chunks); a stalling body never fully arrives.
    var requestBodyArrived: Bool { !bodyStalls }

    func willReadBody() async throws {}

    func readRequestBody(deadline: Deadline, deliver: (UnsafeRawBufferPointer) async throws -> Void) async throws {
        guard !bodyChunks.isEmpty else {
            if bodyStalls {
                await loop.sleep(until: deadline)
                throw IOError(.timedOut, operation: "test body")
            }
            return
        }
        let chunk = bodyChunks.removeFirst()
        requestBodyBytes += chunk.count
        try await chunk.withStableBytes { try await deliver($0) }
    }

    func withBufferedBody(length: Int, _ body: (UnsafeRawBufferPointer) async throws -> Void) async throws -> Bool {
        guard !bodyStalls, bodyChunks.count == 1, bodyChunks[0].count == length else { return false }
        try await readRequestBody(deadline: .now, deliver: body)
        return true
    }

    func sendResponseHead(_ head: HTTPResponseHead, body: ResponseBodyLength, deadline: Deadline) async throws {
        responseHead = head
        if case .none = body { finished = true }
    }

    func sendResponse(_ head: HTTPResponseHead, completeBody: UnsafeRawBufferPointer, deadline: Deadline) async throws {
        responseHead = head
        if goneAfterResponseHead { throw IOError(.closed, operation: "test client") }
        responseBody.append(contentsOf: completeBody)
        responseBytesSent += completeBody.count
        finished = true
    }

    func sendResponseBody(_ bytes: UnsafeRawBufferPointer, deadline: Deadline) async throws {
        if goneAfterResponseHead { throw IOError(.closed, operation: "test client") }
        responseBody.append(contentsOf: bytes)
        responseBytesSent += bytes.count
    }

    func finishResponse(trailers: HTTPHeaders, deadline: Deadline) async throws { finished = true }

    func sendLocalReply(_ reply: LocalReply, requestID: String) async { localReply = reply }

    func abortResponse() { aborted = true }
}

/// A backend behind in-memory connections, answering each request as `behaviour` says, and
/// recording what it received.
final class ScriptedUpstream: UpstreamConnector, @unchecked Sendable {
    enum Behaviour {
        case respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Connecting fails (connection refused).
        case refuse
        /// Reads the request and never answers.
        case hang
        /// Sends a head promising `declared` body bytes, then `partial` of them, then closes.
        case closeMidBody(declared: Int, partial: [UInt8])
    }

    var behaviour: Behaviour
    private(set) var received: [(head: HTTPRequestHead, body: [UInt8])] = []
    private(set) var connections = 0

    init(_ behaviour: Behaviour) { self.behaviour = behaviour }

    func connect(to cluster: UpstreamCluster, endpoint: Int, on loop: EventLoop, deadline: Deadline) async throws(IOError) -> UpstreamConnection {
        if case .refuse = behaviour { throw IOError(.system(111), operation: "connect") }
        connections += 1
        let (proxySide, backendSide) = MemoryStream.pair(on: loop)
        loop.spawn { await self.serve(backendSide) }
        return UpstreamConnection(stream: proxySide, tcp: nil, endpointIndex: endpoint)
    }

    private func serve(_ stream: MemoryStream) async {
        defer { stream.close() }
        let buffer = ByteBuffer(capacity: 4096)
        var parser = RequestHeadParser()
        while let request = try? await HeadReader.readRequest(from: stream, buffer: buffer, parser: &parser, deadline: nil) {
            var body = BodyReader(framing: request.framing)
            var bytes: [UInt8] = []
            do {
                while !body.isFinished {
                    try await body.readNext(from: stream, buffer: buffer, deadline: nil) { bytes.append(contentsOf: $0) }
                }
            } catch { return }
            received.append((request.head, bytes))
            switch behaviour {
            case .respond(let status, let headers, let responseBody):
                var head = "HTTP/1.1 \(status) X\r\ncontent-length: \(responseBody.count)\r\n"
                for (name, value) in headers { head += "\(name): \(value)\r\n" }
                try? await stream.write(Array((head + "\r\n").utf8) + responseBody, deadline: nil)
            case .refuse, .hang:
                await stream.loop.sleep(until: .after(.seconds(5)))
                return
            case .closeMidBody(let declared, let partial):
                try? await stream.write(Array("HTTP/1.1 200 OK\r\ncontent-length: \(declared)\r\n\r\n".utf8) + partial, deadline: nil)
                return
            }
        }
    }
}

/// Records every outcome it is told (from the loop thread; read by the test afterwards).
final class RecordingObserver: OutcomeObserver {
    let responseBodyCapture: Int
    private let told = Mutex<[RequestOutcome]>([])

    init(capture: Int = 0) { responseBodyCapture = capture }

    func requestFinished(_ outcome: RequestOutcome) { told.withLock { $0.append(outcome) } }

    var outcomes: [RequestOutcome] { told.withLock { $0 } }
}

/// A guard that registers an observer and then proceeds, or rejects.
struct ObservingGuard: RequestGuard {
    let name: String
    let counters = GuardCounters()
    let observer: RecordingObserver?
    var rejection: LocalReply?

    init(_ name: String, observer: RecordingObserver?, rejection: LocalReply? = nil) {
        self.name = name
        self.observer = observer
        self.rejection = rejection
    }

    func evaluate(_ request: inout GuardRequest) async -> GuardVerdict {
        if let observer { request.observeOutcome(observer) }
        return rejection.map { .reject($0) } ?? .proceed
    }
}
