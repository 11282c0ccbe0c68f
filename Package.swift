// swift-tools-version: 6.2
import PackageDescription

/// Strict settings for every Swift target: Swift 6 language mode, `any` spelled out, and
/// warnings treated as errors so that the tree stays warning-free.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Sediment",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sediment", targets: ["sediment"]),
        .library(name: "SedimentLog", targets: ["SedimentLog"]),
        .library(name: "SedimentObjectStore", targets: ["SedimentObjectStore"]),
        .library(name: "SedimentEngine", targets: ["SedimentEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.20.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
    ],
    targets: [
        // System libraries (Debian: libzstd-dev, liblz4-dev, libssl-dev).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // CRC32C needs the SSE4.2 / ARMv8 CRC instructions, which Swift cannot target per function.
        .target(name: "CCRC32C", cSettings: [.unsafeFlags(["-O3"])]),

        .target(
            name: "SedimentFormat",
            dependencies: ["CZstd", "CLZ4", "COpenSSL", "CCRC32C"],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "SedimentLog",
            dependencies: ["SedimentFormat", .product(name: "Logging", package: "swift-log")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "SedimentObjectStore",
            dependencies: [
                "SedimentFormat", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "SedimentEngine",
            dependencies: [
                "SedimentFormat", "SedimentLog", "SedimentObjectStore", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "SedimentSync",
            dependencies: ["SedimentFormat", "SedimentLog", "SedimentEngine", .product(name: "Logging", package: "swift-log")],
            exclude: ["README.md"],
            swiftSettings: strict
        ),
        .target(
            name: "SedimentServer",
            dependencies: [
                "SedimentFormat", "SedimentLog", "SedimentObjectStore", "SedimentEngine", "SedimentSync",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["README.md"],
            resources: [.copy("openapi.json")],
            swiftSettings: strict
        ),
        .target(
            name: "SedimentTesting",
            dependencies: ["SedimentFormat", "SedimentLog"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sediment",
            dependencies: [
                "SedimentFormat", "SedimentLog", "SedimentObjectStore", "SedimentEngine", "SedimentSync", "SedimentServer", "SedimentTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        .testTarget(
            name: "SedimentFormatTests",
            dependencies: ["SedimentFormat", "SedimentTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SedimentLogTests",
            dependencies: ["SedimentLog", "SedimentFormat", "SedimentTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SedimentObjectStoreTests",
            dependencies: ["SedimentObjectStore", "SedimentFormat", "SedimentTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SedimentEngineTests",
            dependencies: [
                "SedimentEngine", "SedimentLog", "SedimentFormat", "SedimentObjectStore", "SedimentTesting",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SedimentSyncTests",
            dependencies: ["SedimentSync", "SedimentEngine", "SedimentFormat", "SedimentObjectStore", "SedimentTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SedimentCLITests",
            dependencies: ["sediment", "SedimentLog", "SedimentFormat", "SedimentTesting"],
            swiftSettings: strict
        ),
    ]
)
