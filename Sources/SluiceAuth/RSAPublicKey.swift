internal import COpenSSL
import Foundation

/// An RSA public key for SHA256withRSA (RSASSA-PKCS1-v1_5) verification: WeChat Pay platform
/// keys, later merchant keys and Alipay's. Loaded from a PEM public key or certificate file.
/// Verification is CPU-heavy (~20-40 µs for 2048 bits): it runs on the auth crypto pool, never
/// on an event loop. Thread-safe: each verification uses its own digest context.
final class RSAPublicKey: @unchecked Sendable {
    private let key: OpaquePointer

    /// Why a key file could not be used (reported at the policy line that names it).
    enum LoadError: Error, CustomStringConvertible {
        case unreadable(String)
        case notAKey(String)
        case notRSA(String)

        var description: String {
            switch self {
            case .unreadable(let path): return "cannot read public key file \(path)"
            case .notAKey(let path): return "\(path) holds no PEM public key or certificate"
            case .notRSA(let path): return "the key in \(path) is not an RSA key of at least 2048 bits"
            }
        }
    }

    init(pemFile path: String) throws(LoadError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        let pem = [UInt8](data)
        func withBIO<T>(_ body: (OpaquePointer) -> T?) -> T? {
            pem.withUnsafeBytes { bytes in
                guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
                defer { BIO_free(bio) }
                return body(bio)
            }
        }
        var loaded = withBIO { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
        if loaded == nil, let certificate = withBIO({ PEM_read_bio_X509($0, nil, nil, nil) }) {
            loaded = X509_get_pubkey(certificate)
            X509_free(certificate)
        }
        ERR_clear_error()
        guard let loaded else { throw .notAKey(path) }
        guard EVP_PKEY_get_base_id(loaded) == EVP_PKEY_RSA, EVP_PKEY_get_bits(loaded) >= 2048 else {
            EVP_PKEY_free(loaded)
            throw .notRSA(path)
        }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    /// True when `signature` is a valid SHA256withRSA signature of `message`.
    func verify(_ message: [UInt8], signature: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
        let result = signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                EVP_DigestVerify(context, sig.baseAddress, sig.count, msg.baseAddress, msg.count)
            }
        }
        ERR_clear_error()
        return result == 1
    }
}
