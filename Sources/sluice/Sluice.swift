import ArgumentParser
import Foundation
import SluicePolicy
import SluiceIO
import SluiceServer
import SluiceTLS
import SluiceHTTP2
import SluiceRedis

@main
struct Sluice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A front proxy for payment backends: auth, rate limits, bulkheads, breakers, degradation.",
        subcommands: [Run.self, Check.self, Diff.self, Sign.self, Explain.self, Version.self])
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the policy in a directory.")

    @Option(name: .long, help: "Directory of policy YAML files.")
    var policy: String = "policies"

    @Option(name: .long, help: "Event loops (one thread each); default: the policy's server.workers (0 = one per core).")
    var workers: Int?

    func run() throws {
        let code = Server(policyDirectory: policy, workersOverride: workers).run()
        if code != 0 { throw ExitCode(code) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a policy directory without serving it.")

    @Argument(help: "Directory of policy YAML files.")
    var directory: String?

    // `run` and `explain` take `--policy DIR`; an operator checking what they are about to run
    // types the same.
    @Option(name: .long, help: "Directory of policy YAML files (the same as the argument).")
    var policy: String?

    func validate() throws {
        if directory != nil && policy != nil { throw ValidationError("give the directory once: as an argument or as --policy") }
    }

    func run() throws {
        switch Server.validate(directory: directory ?? policy ?? "policies") {
        case .success(let policy):
            print("ok: \(policy.listeners.count) listeners, \(policy.clusters.count) clusters, \(policy.routes.count) routes")
        case .failure(let failure):
            printError(failure.description)
            throw ExitCode(1)
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the versions of Sluice and its C libraries.")

    func run() {
        print("sluice 0.1.0")
        print("openssl \(TLSLibrary.version)")
        print("nghttp2 \(HTTP2Library.version)")
        print("hiredis \(RedisLibrary.version)")
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a policy would do with one request: route, guards in order, upstream. Serves nothing, touches no Redis.")

    @Option(name: .long, help: "Directory of policy YAML files.")
    var policy: String = "policies"

    @Option(name: .long, help: "The request method.")
    var method: String = "GET"

    @Option(name: .long, help: "The request target: path and query.")
    var path: String

    @Option(name: [.customShort("H"), .long], help: "A request header, 'Name: value' (repeatable).")
    var header: [String] = []

    @Option(name: .long, help: "A file holding the request body.")
    var bodyFile: String?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        var headers: [(String, String)] = []
        for line in header {
            guard let colon = line.firstIndex(of: ":") else { throw ValidationError("header '\(line)' is not 'Name: value'") }
            headers.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                            String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        var body: [UInt8]?
        if let bodyFile {
            body = try readFile(bodyFile, what: "body file")
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("content-type", "application/json")) }
        }
        switch Explainer.explain(directory: policy, method: method, target: path, headers: headers, body: body, json: json) {
        case .success(let text): print(text, terminator: "")
        case .failure(let failure):
            printError(failure.description)
            throw ExitCode(1)
        }
    }
}

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what changes from one policy directory to another (listeners, clusters, routes, rules, settings).",
        discussion: "Both directories are validated as `sluice check` would: a side that would not load is reported "
            + "(file:line: what is wrong) and nothing is compared, so a diff that prints is a change a reload would take.")

    @Argument(help: "The policy directory before.")
    var old: String

    @Argument(help: "The policy directory after.")
    var new: String

    func run() throws {
        // A diff of a candidate that would not load read as a change about to happen, and the
        // reload then refused it: say so instead.
        let problems = [("before", old), ("after", new)].compactMap { side, directory -> String? in
            guard case .failure(let failure) = Server.validate(directory: directory) else { return nil }
            return "sluice diff: the policy \(side) (\(directory)) would not load:\n\(failure.description)"
        }
        guard problems.isEmpty else {
            printError(problems.joined(separator: "\n"))
            throw ExitCode(1)
        }
        do {
            let lines = PolicyDiff.changes(from: try PolicyDiff.canonical(directory: old), to: try PolicyDiff.canonical(directory: new))
            print(lines.isEmpty ? "no changes" : lines.joined(separator: "\n"))
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
