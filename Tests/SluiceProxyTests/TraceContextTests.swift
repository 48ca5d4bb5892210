@testable import SluiceProxy
import XCTest

/// W3C Trace Context: a valid traceparent keeps its trace and flags under the gateway's span;
/// anything else starts a trace.
final class TraceContextTests: XCTestCase {
    private let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"

    func testAValidTraceIsKeptWithTheGatewaysSpan() {
        var ids = TraceIDGenerator()
        let context = TraceContext.forwarding(valid, ids: &ids)
        XCTAssertEqual(context.traceID, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertEqual(context.flags, "00")
        XCTAssertNotEqual(context.spanID, "00f067aa0ba902b7")
        XCTAssertEqual(context.traceparent.count, 55)
        XCTAssertNotNil(TraceContext.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"), "later versions may say more")
    }

    func testAnythingElseStartsATrace() {
        for bad in [nil, "", "garbage", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", valid + "-extra", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"] {
            var ids = TraceIDGenerator()
            let context = TraceContext.forwarding(bad, ids: &ids)
            XCTAssertNotEqual(context.traceID, "4bf92f3577b34da6a3ce929d0e0e4736", bad ?? "nil")
            XCTAssertEqual(context.flags, "01")
            XCTAssertNotNil(TraceContext.parse(context.traceparent), "what we start is valid")
        }
        var ids = TraceIDGenerator()
        XCTAssertNotEqual(TraceContext.forwarding(nil, ids: &ids).traceID, TraceContext.forwarding(nil, ids: &ids).traceID)
    }
}
