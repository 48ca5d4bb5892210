import ArgumentParser
import Foundation
import SluiceAuth
import SluicePolicy
import SluiceHTTP
import SluiceIO

/// `sluice sign`: the headers that sign one request, for curl and load scripts. Each call uses a
/// fresh nonce and the current time, so its output is good for one request within the
/// timestamp window.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the headers that sign a request (merchant HMAC or WeChat Pay v3), one 'Name: value' per line.",
        discussion: """
            Example: curl -H "$(sluice sign --key-file policies/keys/1900000001.hmac --merchant 1900000001 \\
                --method POST --path /v3/pay/transactions/jsapi --body-file order.json)" --data-binary @order.json ...
            WeChat Pay v3: sluice sign --scheme wechatpay-v3 --private-key apiclient_key.pem --serial <certificate serial> ...
            """)

    enum Scheme: String, ExpressibleByArgument {
        case merchantHMAC = "merchant-hmac"
        case wechatpayV3 = "wechatpay-v3"
    }

    @Option(name: .long, help: "merchant-hmac (MCH-HMAC-SHA256) or wechatpay-v3 (WECHATPAY2-SHA256-RSA2048).")
    var scheme: Scheme = .merchantHMAC

    @Option(name: .long, help: "merchant-hmac: file holding the merchant's HMAC secret (a final line break is not part of it).")
    var keyFile: String?

    @Option(name: .long, help: "wechatpay-v3: the merchant's API private key (PEM).")
    var privateKey: String?

    @Option(name: .long, help: "wechatpay-v3: the serial of the merchant's API certificate.")
    var serial: String?

    @Option(name: .long, help: "Merchant id.")
    var merchant: String

    @Option(name: .long, help: "HTTP method.")
    var method: String = "GET"

    @Option(name: .long, help: "Path and query as the request will send them.")
    var path: String

    @Option(name: .long, help: "File holding the exact request body (none: empty body).")
    var bodyFile: String?

    @Option(name: .long, help: "Unix time to sign with (default: now).")
    var timestamp: Int64?

    @Option(name: .long, help: "Nonce to sign with, 16-32 of [A-Za-z0-9] (default: a fresh random one).")
    var nonce: String?

    func run() throws {
        var body: [UInt8] = []
        if let bodyFile {
            body = try readFile(bodyFile, what: "body file")
        }
        // Signed as the gateway will check it: on the path's normal form.
        let target: String
        do {
            target = try PathNormalization.normalizedTarget(path, duplicateSlashes: .merge)
        } catch {
            throw ValidationError("path \(path): \(error)")
        }
        let time = timestamp ?? Int64(Date().timeIntervalSince1970)
        let nonce = nonce ?? MerchantHMAC.freshNonce()
        let value: String?
        switch scheme {
        case .merchantHMAC:
            guard let keyFile else { throw ValidationError("merchant-hmac needs --key-file") }
            let secret: [UInt8]
            switch SecretFile.readWithReason(keyFile) {
            case .success(let read): secret = read
            case .failure(let failure):
                printError("sluice sign: cannot read key file \(keyFile): \(failure.reason)")
                throw ExitCode(1)
            }
            value = MerchantHMAC.authorization(secret: secret, merchant: merchant, method: method, target: target, body: body,
                                               timestamp: time, nonce: nonce)
        case .wechatpayV3:
            guard let privateKey, let serial else { throw ValidationError("wechatpay-v3 needs --private-key and --serial") }
            value = WeChatPayRequest.authorization(privateKeyFile: privateKey, serial: serial, merchant: merchant, method: method,
                                                   target: target, body: body, timestamp: time, nonce: nonce)
        }
        guard let value else { throw ValidationError("cannot sign: unreadable key, invalid % escape in the query, or OpenSSL failed") }
        print("Authorization: \(value)")
    }
}

/// A file a subcommand reads whole (pipes and `/dev/stdin` too); a file that cannot be read is
/// said with the system's reason and exit status 1, not as a usage error.
func readFile(_ path: String, what: String) throws -> [UInt8] {
    switch FileBytes.read(path) {
    case .success(let bytes): return bytes
    case .failure(let failure):
        printError("sluice: cannot read \(what) \(path): \(failure.reason)")
        throw ExitCode(1)
    }
}
