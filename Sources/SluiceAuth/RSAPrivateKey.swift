internal import COpenSSL
import Foundation

/// An RSA private key for SHA256withRSA signing: only `sluice sign` (and tests) sign; the gateway
/// itself only verifies.
final class RSAPrivateKey {
    private let key: OpaquePointer

    init?(pemFile path: String) {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let loaded: OpaquePointer? = [UInt8](data).withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let loaded else { return nil }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    func sign(_ message: [UInt8]) -> [UInt8]? {
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else { return nil }
        var length = 0
        let sized = message.withUnsafeBufferPointer { EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }
        guard sized == 1 else { return nil }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = signature.withUnsafeMutableBufferPointer { out in
            message.withUnsafeBufferPointer { EVP_DigestSign(context, out.baseAddress, &length, $0.baseAddress, $0.count) }
        }
        guard signed == 1 else { return nil }
        return Array(signature.prefix(length))
    }
}
