import Foundation

/// The signature of a libFuzzer entry point (`LLVMFuzzerTestOneInput`).
public typealias FuzzEntry = (UnsafePointer<UInt8>, Int) -> Int32

/// An invariant of a fuzz target. A violation traps, so libFuzzer (and ASan) report it as a
/// crash and keep the input, exactly like a crash inside the code under test.
public func fuzzRequire(_ condition: Bool, _ message: @autoclosure () -> String,
                        file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("fuzz invariant violated: \(message())", file: file, line: line) }
}

/// A copy of `bytes` in an allocation of exactly their size, so that AddressSanitizer catches a
/// read one past the end (an `Array` may have spare capacity behind its last element).
public func withExactCopy<R>(of bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { copy.deallocate() }
    if !bytes.isEmpty { copy.copyMemory(from: bytes) }
    return try body(UnsafeRawBufferPointer(copy))
}

/// The normal (non-libFuzzer) build of a fuzz target: runs the entry point over every file
/// given on the command line and every file below every directory given (hidden files and
/// `README*` skipped), in sorted order. Exits 0 when all of them pass; a failing input crashes
/// the process with the invariant's message, after the input's path has been printed.
public enum FuzzReplay {
    public static func main(_ name: String, entry: FuzzEntry) -> Never {
        let paths = Array(CommandLine.arguments.dropFirst())
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("usage: \(name) FILE|DIRECTORY...\n  replays inputs through the fuzz target; build with -sanitize=fuzzer -DSLUICE_LIBFUZZER to fuzz\n".utf8))
            exit(2)
        }
        var inputs: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("\(name): no such file or directory: \(path)\n".utf8))
                exit(1)
            }
            inputs += isDirectory.boolValue ? files(below: path) : [path]
        }
        for input in inputs {
            guard let data = FileManager.default.contents(atPath: input) else {
                FileHandle.standardError.write(Data("\(name): cannot read \(input)\n".utf8))
                exit(1)
            }
            // Printed first, so that a crash names its input.
            FileHandle.standardError.write(Data("\(name): \(input)\n".utf8))
            data.withUnsafeBytes { raw in
                withExactCopy(of: raw) { copy in
                    let base = copy.baseAddress?.assumingMemoryBound(to: UInt8.self)
                        ?? UnsafeRawPointer(bitPattern: 1)!.assumingMemoryBound(to: UInt8.self)
                    _ = entry(base, copy.count)
                }
            }
        }
        print("\(name): \(inputs.count) inputs replayed, all passed")
        exit(0)
    }

    private static func files(below directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            if name.hasPrefix(".") || name.hasPrefix("README") {
                if name.hasPrefix(".") { walker.skipDescendants() }
                continue
            }
            let path = (directory as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                found.append(path)
            }
        }
        return found.sorted()
    }
}

#if SLUICE_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
private func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

/// libFuzzer's driver, for the entry point of a libFuzzer build. SwiftPM links an ELF
/// executable with `--defsym main=<module>_main` (to let tests import executables), so each
/// target defines `<module>_main` to call this instead of relying on libFuzzer's own `main`.
public func fuzzDriverMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                           entry: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32 {
    var argc = argc
    var argv = argv
    return llvmFuzzerRunDriver(&argc, &argv, entry)
}
#endif
