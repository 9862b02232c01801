// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        .library(name: "SluiceLog", targets: ["SluiceLog"]),
        .library(name: "SluiceRuntime", targets: ["SluiceRuntime"]),
        .library(name: "SluiceParquet", targets: ["SluiceParquet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, each behind a thin system-library shim.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", providers: [.apt(["libpq-dev"])]),

        // The platform.
        .target(name: "SluiceCore"),
        .target(name: "SluiceLog", dependencies: ["SluiceCore", "CSQLite"]),
        .target(
            name: "SluiceRuntime",
            dependencies: [
                "SluiceCore", "SluiceLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(name: "SluiceParquet", dependencies: ["SluiceCore", "CZstd", "CSnappy", "CZlib"]),

        // Connectors.
        .target(
            name: "SluiceDevConnectors",
            dependencies: ["SluiceCore", "SluiceRuntime", .product(name: "Logging", package: "swift-log")],
            path: "connectors/dev"
        ),
        .target(
            name: "SluicePostgres",
            dependencies: ["SluiceCore", "SluiceRuntime", "CLibPQ", .product(name: "Logging", package: "swift-log")],
            path: "connectors/postgres",
            exclude: ["README.md"]
        ),

        // The CLI.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluiceLog", "SluiceRuntime", "SluiceDevConnectors", "SluicePostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks (programs, not tests).
        .executableTarget(name: "LogBenchmark", dependencies: ["SluiceCore", "SluiceLog", "CSQLite"], path: "Benchmarks/LogBenchmark"),

        // Tests.
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore"]),
        .testTarget(name: "SluiceLogTests", dependencies: ["SluiceCore", "SluiceLog"]),
        .testTarget(name: "SluiceRuntimeTests", dependencies: ["SluiceCore", "SluiceLog", "SluiceRuntime", "SluiceDevConnectors"]),
        .testTarget(name: "SluiceParquetTests", dependencies: ["SluiceCore", "SluiceParquet"]),
        .testTarget(name: "SluicePostgresTests", dependencies: ["SluiceCore", "SluiceLog", "SluiceRuntime", "SluicePostgres"]),
    ],
    swiftLanguageModes: [.v6]
)
