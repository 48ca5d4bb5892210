internal import COpenSSL
import SluiceIO
import Synchronization

/// The keys that encrypt session tickets (stateless resumption, TLS 1.2 and 1.3). The current
/// key encrypts new tickets and is replaced every `rotationInterval`; the previous one is kept
/// so tickets issued shortly before a rotation still resume (OpenSSL is told to renew them).
/// Keys live only in memory: a restart invalidates every ticket, which costs one full handshake.
///
/// Shared by every loop (handshakes on any thread); a rotation is a tiny critical section.
public final class TLSTicketKeyRing: Sendable {
    struct Key: Sendable {
        var name: [UInt8]    // 16 bytes, sent in the clear in the ticket
        var aesKey: [UInt8]  // AES-256-CBC
        var hmacKey: [UInt8] // HMAC-SHA256
        var createdAt: Deadline

        static func random(at time: Deadline) -> Key {
            Key(name: randomBytes(16), aesKey: randomBytes(32), hmacKey: randomBytes(32), createdAt: time)
        }
    }

    private struct State {
        var current: Key
        var previous: Key?
    }

    public let rotationInterval: Duration
    private let state: Mutex<State>

    /// The ring listeners use unless given their own: tickets survive policy reloads.
    public static let shared = TLSTicketKeyRing()

    public init(rotationInterval: Duration = .seconds(3600)) {
        self.rotationInterval = rotationInterval
        state = Mutex(State(current: .random(at: .now), previous: nil))
    }

    /// Starts a new key now (the current one becomes the previous one).
    public func rotate() {
        state.withLock { state in
            state.previous = state.current
            state.current = .random(at: .now)
        }
    }

    /// The key for a new ticket, rotating first when the current one is old enough.
    func encryptionKey(now: Deadline = .now) -> Key {
        state.withLock { state in
            if state.current.createdAt.adding(rotationInterval) <= now {
                state.previous = state.current
                state.current = .random(at: now)
            }
            return state.current
        }
    }

    /// The key a ticket names, and whether it is the current one (else the ticket is renewed).
    func decryptionKey(named name: UnsafeRawBufferPointer, now: Deadline = .now) -> (key: Key, isCurrent: Bool)? {
        state.withLock { state in
            if state.current.name.elementsEqual(name) { return (state.current, true) }
            // The previous key decrypts until the current one is itself due for rotation.
            if let previous = state.previous, previous.name.elementsEqual(name),
               state.current.createdAt.adding(rotationInterval) > now {
                return (previous, false)
            }
            return nil
        }
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
    precondition(ok == 1, "RAND_bytes failed: OpenSSL has no entropy")
    return bytes
}

/// OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb). The ring is found
/// through the SSL_CTX's app data (set on every context of a listener, SNI ones included).
/// Returns 1 = use, 2 = use and renew (previous key), 0 = unknown key (full handshake), -1 = error.
let ticketKeyCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?,
                                       OpaquePointer?, OpaquePointer?, Int32) -> Int32 = { ssl, keyName, iv, cipher, mac, encrypt in
    guard let ssl, let keyName, let iv, let cipher, let mac, let context = SSL_get_SSL_CTX(ssl),
          let raw = sluice_SSL_CTX_get_app_data(context) else { return -1 }
    let ring = Unmanaged<TLSTicketKeyRing>.fromOpaque(raw).takeUnretainedValue()
    let ivLength = Int(EVP_CIPHER_get_iv_length(EVP_aes_256_cbc()))
    if encrypt == 1 {
        let key = ring.encryptionKey()
        guard RAND_bytes(iv, Int32(ivLength)) == 1 else { return -1 }
        key.name.withUnsafeBufferPointer { keyName.update(from: $0.baseAddress!, count: 16) }
        let ok = key.aesKey.withUnsafeBufferPointer { EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nil, $0.baseAddress, iv) }
        guard ok == 1, initTicketMAC(mac, key: key.hmacKey) else { return -1 }
        return 1
    }
    guard let (key, isCurrent) = ring.decryptionKey(named: UnsafeRawBufferPointer(start: keyName, count: 16)) else {
        return 0
    }
    let ok = key.aesKey.withUnsafeBufferPointer { EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nil, $0.baseAddress, iv) }
    guard ok == 1, initTicketMAC(mac, key: key.hmacKey) else { return -1 }
    return isCurrent ? 1 : 2
}

/// Keys the ticket HMAC: SHA-256 with `key` (OSSL_PARAMs "digest" and "key").
private func initTicketMAC(_ mac: OpaquePointer, key: [UInt8]) -> Bool {
    key.withUnsafeBytes { keyBytes in
        "digest".withCString { digestName in
            "SHA256".withCString { digest in
                "key".withCString { keyName in
                    var params = [
                        OSSL_PARAM_construct_utf8_string(digestName, UnsafeMutablePointer(mutating: digest), 0),
                        OSSL_PARAM_construct_octet_string(keyName, UnsafeMutableRawPointer(mutating: keyBytes.baseAddress),
                                                          keyBytes.count),
                        OSSL_PARAM_construct_end(),
                    ]
                    return EVP_MAC_CTX_set_params(mac, &params) == 1
                }
            }
        }
    }
}
