import SluicePolicy
import XCTest

/// The policy diff: items by name (or id), settings key by key, formatting never a change.
final class PolicyDiffTests: XCTestCase {
    func testChangesAreStableAndIgnoreFormatting() throws {
        let old = try PolicyDiff.canonical(sources: [("a.yaml", """
            server: {workers: 1}
            merchants:
              - {id: "1900000001", hmac_secrets: [keys/a.hmac]}
            routes:
              - {name: pay, cluster: c, match: {path: /pay, methods: [POST]}}
            """)])
        let new = try PolicyDiff.canonical(sources: [("b.yaml", """
            # reformatted
            routes:
              - name: pay
                match:
                  methods: [POST]
                  path: /pay
                cluster: c
            merchants:
              - id: "1900000001"
                hmac_secrets: [keys/a.hmac, keys/b.hmac]
            server:
              workers: 1
              access_log: off
            """)])
        XCTAssertEqual(PolicyDiff.changes(from: old, to: new), [
            "~ merchant 1900000001: hmac_secrets [keys/a.hmac] -> [keys/a.hmac, keys/b.hmac]",
            "~ server: + access_log off",
        ])
        XCTAssertEqual(PolicyDiff.changes(from: new, to: new), [])
    }
}
