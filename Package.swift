// swift-tools-version:6.0
// Sluice: a TLS / HTTP/2 front proxy for payment backends. No SwiftNIO: the I/O core is our own
// epoll loop (SluiceIO); C libraries come from Debian through system-library targets.
import PackageDescription

/// Async functions run on their caller's executor (the event loop) instead of hopping to the
/// generic executor: measured, each hop cost a status-record lock in swift_task_switch
/// (~10% of proxy CPU under wrk).
let sluiceSwiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

// The modules every request runs through. Their release builds skip the dynamic exclusivity
// checks: measured with callgrind, about 95 checks per proxied request and 12 more per Redis
// call (loop-confined buffers, connections, pools, timers, Redis pipelines), 8-10% of a
// request's instructions with the thread-local lookups they need (SluiceHTTP2 and SluiceTLS:
// ~1.8k instructions per HTTP/2 request over TLS). Debug builds, which run every unit test, keep the checks, so an overlapping access
// still traps there; the compile-time checks stay on everywhere.
let hotPathSwiftSettings: [SwiftSetting] = sluiceSwiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-demo-backend", targets: ["sluice-demo-backend"]),
        .executable(name: "sluice-fuzz-http1", targets: ["sluice-fuzz-http1"]),
        .executable(name: "sluice-fuzz-policy", targets: ["sluice-fuzz-policy"]),
        .executable(name: "sluice-fuzz-http2", targets: ["sluice-fuzz-http2"]),
    ],
    dependencies: [
        // CLI parsing for `sluice run|check|version`.
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        // YAML with line/column marks on every node, for `file:line:column` policy errors.
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.0"),
    ],
    targets: [
        // C libraries, one module each. C types never leave the Swift module that wraps them.
        .systemLibrary(name: "CSys", path: "Sources/CSys"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CNghttp2", path: "Sources/CNghttp2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", pkgConfig: "hiredis",
                       providers: [.apt(["libhiredis-dev"])]),

        // Event loops, sockets, timers. Knows nothing of HTTP.
        .target(name: "SluiceIO", dependencies: ["CSys"], swiftSettings: hotPathSwiftSettings),
        // The neutral HTTP model shared by the codecs, guards and proxy.
        .target(name: "SluiceHTTP", swiftSettings: hotPathSwiftSettings),
        // Strict incremental HTTP/1.1 parser and serializer, plus the async stream over SluiceIO.
        .target(name: "SluiceHTTP1", dependencies: ["SluiceHTTP", "SluiceIO"], swiftSettings: hotPathSwiftSettings),
        // YAML policy files -> validated immutable snapshot. Never touches sockets.
        .target(name: "SluicePolicy", dependencies: ["SluiceHTTP", .product(name: "Yams", package: "Yams")], swiftSettings: sluiceSwiftSettings),
        // Strict extraction of payment fields from JSON, XML and form bodies (one parser for
        // every guard, refusing what a lenient backend parser could read differently).
        .target(name: "SluicePayload", swiftSettings: sluiceSwiftSettings),
        // The guard contract: verdicts, the module registry entry (compile -> activate), the
        // injected clock, counters, the state registry that carries state across reloads.
        .target(name: "SluiceGuards", dependencies: ["COpenSSL", "SluiceHTTP", "SluicePolicy", "SluicePayload"], swiftSettings: sluiceSwiftSettings),
        // OpenSSL contexts (certificates, SNI, ALPN, tickets, mTLS) and the TLS ByteStream.
        .target(name: "SluiceTLS", dependencies: ["COpenSSL", "SluiceIO", "SluiceHTTP"], swiftSettings: hotPathSwiftSettings),
        // nghttp2 server session as a pure adapter: bytes in, events out. No sockets.
        .target(name: "SluiceHTTP2", dependencies: ["CNghttp2", "SluiceHTTP"], swiftSettings: hotPathSwiftSettings),
        // The breaker state machine (pure: windows, rates, open time, probes, epochs), shared by the
        // breaker guard and the Redis client's own breaker.
        .target(name: "SluiceResilience", dependencies: ["SluiceIO"], swiftSettings: sluiceSwiftSettings),
        // Pipelined Redis client on the loops: Sluice's sockets, hiredis's reply parser, EVALSHA.
        .target(name: "SluiceRedis", dependencies: ["CHiredis", "COpenSSL", "SluiceIO", "SluiceResilience", "SluiceTLS"], swiftSettings: hotPathSwiftSettings),
        // The shared Redis of every guard that keeps state there: the `redis` policy section and
        // one connection set per policy generation, shared through the guard state registry.
        // Named thread-pool bulkheads (`thread_pools`) that guards share by name.
        .target(name: "SluiceSharedPools",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePolicy", .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        .target(name: "SluiceSharedRedis",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePolicy", "SluiceRedis", "SluiceTLS", .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Merchant authentication: signature schemes, replay protection (nonces), the guard.
        .target(name: "SluiceAuth",
                dependencies: ["COpenSSL", "SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePayload", "SluicePolicy", "SluiceRedis", "SluiceSharedRedis",
                               "SluiceSharedPools", .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Rate-limit rules: config, state machines (injected clock), Redis scripts, the guard.
        .target(name: "SluiceRateLimit",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePolicy", "SluiceRedis", "SluiceSharedRedis",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Idempotency: keys, the record state machine (injected clock), Redis scripts, the guard
        // and its outcome observer.
        .target(name: "SluiceIdempotency",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePayload", "SluicePolicy", "SluiceRedis", "SluiceSharedRedis",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Concurrency bulkheads: config, the permit ledger (pure), the shared adapter, the guard.
        .target(name: "SluiceBulkhead",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePolicy", .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Priority degradation: the pressure signals, the ladder (pure), fallbacks, the guards.
        .target(name: "SluiceDegrade",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePolicy", "SluiceRedis", "SluiceSharedRedis",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Circuit breakers: config, the shared adapter, the guard (the machine is SluiceResilience's).
        .target(name: "SluiceBreaker",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePolicy", "SluiceResilience", .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Payment request validation: rule sets over payload fields, the validator (pure), the guard.
        .target(name: "SluiceValidation",
                dependencies: ["SluiceGuards", "SluiceHTTP", "SluiceIO", "SluicePayload", "SluicePolicy", "SluiceSharedPools",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: sluiceSwiftSettings),
        // Router, guard chain, upstream pools, forwarder: the only module that knows codecs and guards.
        .target(name: "SluiceProxy",
                dependencies: ["SluiceIO", "SluiceHTTP", "SluiceHTTP1", "SluiceHTTP2", "SluicePolicy", "SluiceGuards", "SluiceTLS"],
                swiftSettings: hotPathSwiftSettings),
        // Listeners, loops, signals, reload, drain, access log.
        .target(name: "SluiceServer",
                dependencies: ["CSys", "COpenSSL", "SluiceIO", "SluiceProxy", "SluicePolicy", "SluiceHTTP1", "SluiceGuards", "SluiceRateLimit",
                               "SluiceSharedRedis", "SluiceSharedPools", "SluiceAuth", "SluiceIdempotency", "SluiceBulkhead", "SluiceDegrade",
                               "SluiceBreaker", "SluiceValidation"],
                swiftSettings: sluiceSwiftSettings),
        .executableTarget(name: "sluice", dependencies: [
            "SluiceServer", "SluiceProxy", "SluicePolicy", "SluiceTLS", "SluiceHTTP2", "SluiceRedis", "SluiceAuth", "SluiceHTTP",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: sluiceSwiftSettings),
        // The mock payment backend's pure parts: request validation, latency distributions,
        // behaviour switches, the payment ledger. No sockets, so they are unit-tested.
        .target(name: "SluiceMockPayments", dependencies: ["SluiceHTTP"], swiftSettings: sluiceSwiftSettings),
        // The demo (mock) payment backend, on the same I/O core (SluiceAuth signs its notifications).
        .executableTarget(name: "sluice-demo-backend", dependencies: ["SluiceIO", "SluiceHTTP", "SluiceHTTP1", "SluiceHTTP2", "SluiceMockPayments",
                                                                     "SluiceAuth"],
                          swiftSettings: sluiceSwiftSettings),

        // Fuzz targets (Tests/Fuzz/README.md). A plain build makes replay tools that run kept
        // inputs; `make fuzz` rebuilds them with -sanitize=fuzzer,address -DSLUICE_LIBFUZZER.
        // Each is one file with `@main` at the start of a line, so SwiftPM parses it as a
        // library in both builds (no implicit top-level `main` to clash with libFuzzer's).
        .target(name: "SluiceFuzzSupport", swiftSettings: sluiceSwiftSettings),
        .executableTarget(name: "sluice-fuzz-http1", dependencies: ["SluiceFuzzSupport", "SluiceHTTP", "SluiceHTTP1"],
                          swiftSettings: sluiceSwiftSettings),
        .executableTarget(name: "sluice-fuzz-policy", dependencies: ["SluiceFuzzSupport", "SluicePolicy", "SluiceServer"],
                          swiftSettings: sluiceSwiftSettings),
        .executableTarget(name: "sluice-fuzz-http2", dependencies: ["SluiceFuzzSupport", "SluiceHTTP", "SluiceHTTP2"],
                          swiftSettings: sluiceSwiftSettings),

        // What several test targets share: a running event loop per test, a throwaway
        // redis-server, a deterministic PRNG.
        .target(name: "SluiceTestSupport", dependencies: ["SluiceIO", "SluiceMockPayments", "SluicePolicy"], path: "Tests/SluiceTestSupport",
                swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluicePayloadTests", dependencies: ["SluicePayload"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceServerTests", dependencies: ["SluiceServer", "SluicePolicy", "SluiceRateLimit", "SluiceSharedRedis", "SluiceAuth",
                                                       "SluiceIdempotency", "SluiceBulkhead", "SluiceDegrade", "SluiceBreaker", "SluiceValidation"],
                    swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceAuthTests", dependencies: ["SluiceAuth", "SluiceGuards", "SluiceHTTP", "SluicePolicy", "SluiceRedis",
                                                      "SluiceIO", "SluiceSharedRedis", "SluiceTestSupport"],
                    resources: [.copy("Vectors")], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceGuardsTests", dependencies: ["SluiceGuards"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceHTTPTests", dependencies: ["SluiceHTTP"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceIOTests", dependencies: ["SluiceIO", "SluiceTestSupport"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceHTTP1Tests", dependencies: ["SluiceTestSupport", "SluiceHTTP1", "SluiceHTTP"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceHTTP2Tests", dependencies: ["SluiceHTTP2", "SluiceHTTP", "CNghttp2"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluicePolicyTests", dependencies: ["SluicePolicy", "SluiceTestSupport"],
                    resources: [.copy("Golden")], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceProxyTests", dependencies: ["SluiceTestSupport", "SluiceProxy", "SluicePolicy", "SluiceHTTP", "SluiceHTTP1",
                                                       "SluiceGuards", "SluiceIO", "SluiceServer"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceTLSTests", dependencies: ["SluiceTestSupport", "SluiceTLS", "SluiceIO"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceMockPaymentsTests", dependencies: ["SluiceMockPayments"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceRateLimitTests",
                    dependencies: ["SluiceTestSupport", "SluiceRateLimit", "SluiceRedis", "SluiceIO", "SluicePolicy", "SluiceGuards", "SluiceHTTP",
                                   "SluiceSharedRedis", "SluiceTLS"],
                    resources: [.copy("Golden")], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceIdempotencyTests",
                    dependencies: ["SluiceTestSupport", "SluiceIdempotency", "SluiceRedis", "SluiceIO", "SluicePolicy", "SluiceGuards", "SluiceHTTP",
                                   "SluiceSharedRedis", "SluicePayload"],
                    resources: [.copy("Golden")], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceBulkheadTests",
                    dependencies: ["SluiceTestSupport", "SluiceBulkhead", "SluiceIO", "SluicePolicy", "SluiceGuards", "SluiceHTTP"],
                    swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceDegradeTests",
                    dependencies: ["SluiceTestSupport", "SluiceDegrade", "SluiceIO", "SluicePolicy", "SluiceGuards", "SluiceHTTP"],
                    resources: [.copy("Golden")], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceBreakerTests",
                    dependencies: ["SluiceTestSupport", "SluiceBreaker", "SluiceResilience", "SluiceIO", "SluicePolicy", "SluiceGuards", "SluiceHTTP"],
                    swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceValidationTests",
                    dependencies: ["SluiceValidation", "SluicePayload", "SluicePolicy", "SluiceGuards", "SluiceHTTP", "SluiceTestSupport"],
                    resources: [.copy("Golden")], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceRedisTests", dependencies: ["SluiceTestSupport", "SluiceRedis", "SluiceResilience", "SluiceIO"], swiftSettings: sluiceSwiftSettings),
        .testTarget(name: "SluiceLibrariesTests", dependencies: ["SluiceTLS", "SluiceHTTP2", "SluiceRedis"], swiftSettings: sluiceSwiftSettings),
    ]
)
