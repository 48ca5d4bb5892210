#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SluiceAuth
import SluiceIO
import SluiceHTTP
import SluiceHTTP1
import SluiceMockPayments

/// Sends the payment-success notification of an executed order to the configured notify URL,
/// as WeChat Pay does after a payment: a POST that counts as delivered on a 2xx answer, retried
/// `notify_retries` times with a doubling backoff otherwise. `notify_copies` delivers it that
/// many times in all (a provider whose SUCCESS answers went missing), each copy signed afresh
/// (`notify_signing_key`: new nonce and time, the same body and notification id). Runs as its own
/// task on the loop of the connection that created the order.
enum NotifySender {
    static func send(order: PaymentLedger.Order, behaviour: BackendBehaviour, stats: DemoStats, on loop: EventLoop) {
        guard let target = NotifyTarget(url: behaviour.notifyURL),
              let address = SocketAddress(host: target.host, port: target.port) else { return }
        let body = Array(notificationJSON(order).utf8)
        let signer = behaviour.notifySigningKey.isEmpty ? nil : Signers.shared.signer(behaviour.notifySigningKey, serial: behaviour.notifySerial)
        if !behaviour.notifySigningKey.isEmpty && signer == nil {
            stats.notificationsFailed.wrappingAdd(1, ordering: .relaxed)
            return
        }
        let (retries, backoff, copies, serial) = (behaviour.notifyRetries, behaviour.notifyBackoffMs, behaviour.notifyCopies, behaviour.notifySerial)
        _ = loop.spawn {
            for _ in 0..<copies {
                var wait = backoff
                var delivered = false
                for attempt in 0...retries where !delivered {
                    if attempt > 0 {
                        await loop.sleep(until: .after(.microseconds(Int64(wait * 1000))))
                        wait *= 2
                    }
                    stats.notificationAttempts.wrappingAdd(1, ordering: .relaxed)
                    guard let message = request(body: body, target: target, signer: signer, serial: serial) else { break }
                    delivered = await deliver(message, to: address, on: loop)
                }
                if delivered {
                    stats.notificationsSent.wrappingAdd(1, ordering: .relaxed)
                } else {
                    stats.notificationsFailed.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
    }

    private static func request(body: [UInt8], target: NotifyTarget, signer: WeChatPayCallbackSigner?, serial: String) -> [UInt8]? {
        var headers = HTTPHeaders()
        headers.appendLowercased(name: "host", value: "\(target.host):\(target.port)")
        headers.appendLowercased(name: "content-type", value: "application/json")
        headers.appendLowercased(name: "content-length", value: String(body.count))
        if let signer {
            guard let fields = signer.headers(body: body, unixTime: Int64(time(nil))) else { return nil }
            for (name, value) in fields { headers.appendLowercased(name: name, value: value) }
        } else {
            headers.appendLowercased(name: "wechatpay-serial", value: serial)
        }
        headers.appendLowercased(name: "connection", value: "close")
        var request: [UInt8] = []
        HTTP1Serializer.appendRequestHead(HTTPRequestHead(method: "POST", target: target.path, version: .http1_1, headers: headers),
                                          to: &request)
        request.append(contentsOf: body)
        return request
    }

    private static func deliver(_ request: [UInt8], to address: SocketAddress, on loop: EventLoop) async -> Bool {
        do {
            let connection = try await TCPConnection.connect(to: address, on: loop, deadline: .after(.seconds(2)))
            defer { connection.close() }
            try await connection.write(request, deadline: .after(.seconds(5)))
            var parser = ResponseHeadParser()
            let response = try await HeadReader.readResponse(from: connection, buffer: ByteBuffer(capacity: 4096), parser: &parser,
                                                             requestMethod: "POST", deadline: .after(.seconds(5)))
            return (200..<300).contains(response.head.status)
        } catch {
            return false
        }
    }

    static func notificationJSON(_ order: PaymentLedger.Order) -> String {
        let no = jsonEscaped(order.outTradeNo), mchid = jsonEscaped(order.mchid)
        return "{\"id\":\"EV-\(order.transactionID)\",\"event_type\":\"TRANSACTION.SUCCESS\",\"resource_type\":\"encrypt-resource\"," +
            "\"summary\":\"payment succeeded\",\"resource\":{\"mchid\":\"\(mchid)\",\"out_trade_no\":\"\(no)\"," +
            "\"transaction_id\":\"\(order.transactionID)\",\"trade_state\":\"SUCCESS\"," +
            "\"amount\":{\"total\":\(order.totalFen),\"currency\":\"CNY\"}}}\n"
    }
}

/// Signing keys by file and serial, loaded once.
final class Signers: Sendable {
    static let shared = Signers()
    private let loaded = Mutex<[String: WeChatPayCallbackSigner]>([:])

    func signer(_ path: String, serial: String) -> WeChatPayCallbackSigner? {
        loaded.withLock { signers in
            if let signer = signers[path + "\n" + serial] { return signer }
            let signer = WeChatPayCallbackSigner(privateKeyFile: path, serial: serial)
            signers[path + "\n" + serial] = signer
            return signer
        }
    }
}
