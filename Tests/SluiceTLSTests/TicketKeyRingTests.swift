import XCTest
import SluiceIO
@testable import SluiceTLS

final class TicketKeyRingTests: XCTestCase {
    func testRotationKeepsThePreviousKeyForDecryptionOnly() {
        let ring = TLSTicketKeyRing(rotationInterval: .seconds(3600))
        let start = Deadline.now
        let first = ring.encryptionKey(now: start)
        XCTAssertEqual(first.name.count, 16)
        XCTAssertEqual(ring.encryptionKey(now: start.adding(.seconds(10))).name, first.name)

        // Due: a new key encrypts; the first still decrypts, marked for renewal.
        let second = ring.encryptionKey(now: start.adding(.seconds(3601)))
        XCTAssertNotEqual(second.name, first.name)
        let old = first.name.withUnsafeBytes { ring.decryptionKey(named: $0, now: start.adding(.seconds(3602))) }
        XCTAssertEqual(old?.isCurrent, false)
        let current = second.name.withUnsafeBytes { ring.decryptionKey(named: $0, now: start.adding(.seconds(3602))) }
        XCTAssertEqual(current?.isCurrent, true)

        // Two rotations later the first key is gone: a full handshake instead.
        _ = ring.encryptionKey(now: start.adding(.seconds(7300)))
        XCTAssertNil(first.name.withUnsafeBytes { ring.decryptionKey(named: $0, now: start.adding(.seconds(7301))) })
        XCTAssertNil([UInt8](repeating: 7, count: 16).withUnsafeBytes { ring.decryptionKey(named: $0) })
    }
}
