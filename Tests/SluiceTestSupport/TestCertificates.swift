import Foundation

/// Throwaway certificates made once per test run by Tests/Support/make-test-certs.sh (the real
/// openssl CLI) in a temporary directory. Used by the TLS tests and by TLS to Redis.
public enum TestCertificates {
    public static let directory: String = {
        let directory = NSTemporaryDirectory() + "sluice-tls-tests-\(getpid())"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Support/make-test-certs.sh").standardized.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [script, directory]
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            fatalError("cannot run \(script): \(error)")
        }
        precondition(process.terminationStatus == 0, "\(script) failed")
        return directory
    }()

    public static func path(_ name: String) -> String { directory + "/" + name }
}
