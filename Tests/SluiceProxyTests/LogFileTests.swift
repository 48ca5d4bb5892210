@testable import SluiceProxy
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A batch of log lines goes into the file whole or not at all: a full disk used to keep part of
/// a batch, and the cut line was glued to the next one written.
final class LogFileTests: XCTestCase {
    func testABatchTheFileCannotTakeWholeIsCutBackAndCanGoInLater() throws {
        let path = NSTemporaryDirectory() + "sluice-logfile-\(getpid()).jsonl"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let file = LogFile(fd: fd, name: "transaction log")
        let first = Array(String(repeating: "a", count: 99).utf8) + [10]
        XCTAssertTrue(first.withUnsafeBytes { file.append($0) })

        // A file size limit stands in for a full disk: the kernel takes 50 of the next 100 bytes,
        // then refuses (EFBIG; SIGXFSZ is ignored for the test, as it is not a crash here).
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var previousLimit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &previousLimit)
        var limit = rlimit(rlim_cur: 150, rlim_max: previousLimit.rlim_max)
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
        let second = Array(String(repeating: "b", count: 99).utf8) + [10]
        let took = second.withUnsafeBytes { file.append($0) }
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &previousLimit)
        signal(SIGXFSZ, previousHandler)

        XCTAssertFalse(took, "the batch did not go in whole")
        XCTAssertEqual(file.failures, 1)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, 100, "the 50 bytes taken were cut back off")
        XCTAssertTrue(second.withUnsafeBytes { file.append($0) }, "the same batch goes in once there is room")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(first + second))
    }
}
