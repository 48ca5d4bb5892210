// Fuzz target for the policy loader: the input is one YAML policy file (invalid UTF-8 is
// repaired, as a text editor would show it). `PolicyLoader.load(sources:)` must return a
// snapshot or a list of errors, never crash; every error reads `file:line:column: message`
// on one line, names the file (or, for problems of the whole set, its directory) and a line
// and column ≥ 1 that lie within the file.
//
// `swift build` gives a replay tool (arguments: files or corpus directories); with
// `-sanitize=fuzzer,address -DSLUICE_LIBFUZZER` (`make fuzz`) a libFuzzer binary.
import SluiceFuzzSupport
import SluicePolicy
import SluiceServer

private let fuzzDirectory = "fuzz"
private let fuzzPath = "fuzz/policy.yaml"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do throws(PolicyLoadError) {
        // With the guard modules' sections, as the server loads policies.
        _ = try PolicyLoader.load(sources: [(path: fuzzPath, text: text)], sections: Server.policySections)
    } catch {
        fuzzRequire(!error.errors.isEmpty, "a load error without errors")
        // Lines as libyaml counts them: LF, CR LF, a lone CR, and the Unicode line breaks
        // NEL, LS and PS each end one; one more for the position after a final break.
        let lineCount = lines(in: text)
        for problem in error.errors {
            let where_ = "\(problem)"
            fuzzRequire(problem.file == fuzzPath || problem.file == fuzzDirectory, "error names another file: \(where_)")
            fuzzRequire(problem.line >= 1 && problem.column >= 1, "line or column below 1: \(where_)")
            fuzzRequire(problem.line <= lineCount, "line beyond the file's \(lineCount) lines: \(where_)")
            fuzzRequire(!problem.message.isEmpty, "empty message: \(where_)")
            fuzzRequire(!problem.message.contains(where: \.isNewline), "message on several lines: \(where_)")
            fuzzRequire(problem.description == "\(problem.file):\(problem.line):\(problem.column): \(problem.message)",
                        "not file:line:column: message: \(where_)")
        }
        fuzzRequire(error.description.split(separator: "\n", omittingEmptySubsequences: false).count == error.errors.count,
                    "not one line per error")
    }
    return 0
}

private func lines(in text: String) -> Int {
    var count = 1
    var previous: Unicode.Scalar?
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n" where previous == "\r": break
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": count += 1
        default: break
        }
        previous = scalar
    }
    return count
}

#if SLUICE_LIBFUZZER
/// The entry point SwiftPM's `--defsym main=sluice_fuzz_policy_main` names: libFuzzer's driver.
@_cdecl("sluice_fuzz_policy_main")
public func libFuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    fuzzDriverMain(argc, argv, entry: fuzzPolicy)
}
#else
@main
enum FuzzPolicyReplay {
    static func main() {
        FuzzReplay.main("sluice-fuzz-policy", entry: fuzzPolicy)
    }
}
#endif
