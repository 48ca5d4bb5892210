@testable import SluiceServer
import XCTest

/// The exposition format's corners: label escaping and number forms.
final class MetricsTextTests: XCTestCase {
    func testFamiliesSamplesAndEscaping() {
        var text = MetricsText()
        text.family("sluice_x_total", "counter", "Things.")
        text.sample("sluice_x_total", [("route", "a\"b\\c\nd")], 3)
        text.sample("sluice_x_total", [], 0.25)
        XCTAssertEqual(text.text, """
            # HELP sluice_x_total Things.
            # TYPE sluice_x_total counter
            sluice_x_total{route="a\\"b\\\\c\\nd"} 3
            sluice_x_total 0.25

            """)
    }
}
