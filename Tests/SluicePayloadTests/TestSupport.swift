import SluicePayload
import XCTest

/// Parses, failing the test with the error text if the body is refused.
func parseOK(_ body: String, _ format: PayloadFormat, limits: PayloadLimits = .default,
             file: StaticString = #filePath, line: UInt = #line) -> PaymentPayload? {
    parseOK(Array(body.utf8), format, limits: limits, file: file, line: line)
}

func parseOK(_ body: [UInt8], _ format: PayloadFormat, limits: PayloadLimits = .default,
             file: StaticString = #filePath, line: UInt = #line) -> PaymentPayload? {
    do throws(PayloadError) {
        return try PaymentPayload.parse(body, format: format, limits: limits)
    } catch {
        XCTFail("refused: \(error)", file: file, line: line)
        return nil
    }
}

/// The error for a body that must be refused, or nil (after failing the test) if it parsed.
func refusal(_ body: [UInt8], _ format: PayloadFormat, limits: PayloadLimits = .default) -> PayloadError? {
    do throws(PayloadError) {
        _ = try PaymentPayload.parse(body, format: format, limits: limits)
        return nil
    } catch {
        return error
    }
}

/// One rejection case of a table: a name for the failure message, the body, the expected reason.
struct RejectCase {
    var name: String
    var body: [UInt8]
    var reason: PayloadError.Reason

    init(_ name: String, _ body: String, _ reason: PayloadError.Reason) {
        self.name = name
        self.body = Array(body.utf8)
        self.reason = reason
    }

    init(_ name: String, bytes: [UInt8], _ reason: PayloadError.Reason) {
        self.name = name
        self.body = bytes
        self.reason = reason
    }
}

func assertRejections(_ cases: [RejectCase], _ format: PayloadFormat, limits: PayloadLimits = .default,
                      file: StaticString = #filePath, line: UInt = #line) {
    for c in cases {
        guard let error = refusal(c.body, format, limits: limits) else {
            XCTFail("\(c.name): accepted, expected \(c.reason.rawValue)", file: file, line: line)
            continue
        }
        XCTAssertEqual(error.reason, c.reason, "\(c.name): \(error)", file: file, line: line)
        XCTAssertFalse(error.message.isEmpty, c.name, file: file, line: line)
    }
}
