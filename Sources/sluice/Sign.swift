import ArgumentParser
import Foundation
import SluiceAuth
import SluiceHTTP

/// `sluice sign`: the headers that sign one request, for curl and load scripts. Each call uses a
/// fresh nonce and the current time, so its output is good for one request within the
/// timestamp window.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the headers that sign a request (merchant HMAC), one 'Name: value' per line.",
        discussion: """
            Example: curl -H "$(sluice sign --key-file policies/keys/1900000001.hmac --merchant 1900000001 \\
                --method POST --path /v3/pay/transactions/jsapi --body-file order.json)" --data-binary @order.json ...
            """)

    @Option(name: .long, help: "File holding the merchant's HMAC secret (a final line break is not part of it).")
    var keyFile: String

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
        guard let secret = SecretFile.read(keyFile) else { throw ValidationError("cannot read key file \(keyFile)") }
        var body: [UInt8] = []
        if let bodyFile {
            guard let data = FileManager.default.contents(atPath: bodyFile) else { throw ValidationError("cannot read body file \(bodyFile)") }
            body = [UInt8](data)
        }
        // Signed as the gateway will check it: on the path's normal form.
        let target: String
        do {
            target = try PathNormalization.normalizedTarget(path, duplicateSlashes: .merge)
        } catch {
            throw ValidationError("path \(path): \(error)")
        }
        guard let value = MerchantHMAC.authorization(
            secret: secret, merchant: merchant, method: method, target: target, body: body,
            timestamp: timestamp ?? Int64(Date().timeIntervalSince1970), nonce: nonce ?? MerchantHMAC.freshNonce()) else {
            throw ValidationError("cannot sign: invalid % escape in the query, or OpenSSL failed")
        }
        print("Authorization: \(value)")
    }
}
