@testable import SluiceHTTP1
import XCTest

/// The eight-bytes-at-a-time field value check agrees with the byte-by-byte rule on every
/// alignment, length and position of a bad byte.
final class FieldValueScanTests: XCTestCase {
    private func reference(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy(ASCII.isFieldValueByte) }

    private func scan(_ bytes: [UInt8], from start: Int = 0) -> Bool {
        bytes.withUnsafeBytes { HeadBytes(bytes: $0).allFieldValueBytes(start..<bytes.count) }
    }

    func testEveryByteValueAtEveryPositionOfAWord() {
        for length in [1, 7, 8, 9, 16, 23] {
            for position in 0..<length {
                for byte in UInt8.min...UInt8.max {
                    var value = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    value[position] = byte
                    XCTAssertEqual(scan(value), reference(value), "byte \(byte) at \(position) of \(length)")
                }
            }
        }
    }

    func testRandomValuesAndOffsets() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x41, 0x7E, 0x7F, 0x80, 0xC3, 0xFF]
        for _ in 0..<5_000 {
            let count = Int.random(in: 0...40, using: &generator)
            let bytes = (0..<count).map { _ in
                Bool.random(using: &generator) ? UInt8.random(in: 0x20...0x7E, using: &generator) : alphabet.randomElement(using: &generator)!
            }
            let start = count == 0 ? 0 : Int.random(in: 0...count, using: &generator)
            XCTAssertEqual(scan(bytes, from: start), reference(Array(bytes[start...])), "\(bytes) from \(start)")
        }
    }
}
