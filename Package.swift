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
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C libraries, each behind a thin system-library shim.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CMariaDB", path: "Sources/CMariaDB", providers: [.apt(["libmariadb-dev"])]),

        // The platform.
        .target(name: "SluiceCore"),
        .target(name: "SluiceSQLite", dependencies: ["CSQLite"]),
        .target(name: "SluiceCompression", dependencies: ["CZstd", "CZlib", "CSnappy"]),
        .target(name: "SluicePostgresClient", dependencies: ["SluiceCore", "CLibPQ"]),
        .target(
            name: "SluiceConnectorKit",
            dependencies: ["SluiceCore", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "SluiceLog", dependencies: ["SluiceCore", "SluiceSQLite", "SluiceCompression"]),
        .target(
            name: "SluiceRuntime",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluiceLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "SluiceMCP",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceSQLite",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "SluiceAvro", dependencies: ["SluiceCore", "SluiceCompression"]),
        .target(name: "SluiceParquet", dependencies: ["SluiceCore", "SluiceCompression"]),

        // Connectors.
        .target(
            name: "SluiceDevConnectors",
            dependencies: ["SluiceCore", "SluiceConnectorKit", .product(name: "Logging", package: "swift-log")],
            path: "connectors/dev",
            exclude: ["README.md"]
        ),
        .target(
            name: "SluicePostgres",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluicePostgresClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "connectors/postgres",
            exclude: ["README.md"]
        ),
        .target(
            name: "SluiceMySQL",
            dependencies: ["SluiceCore", "SluiceConnectorKit", "CMariaDB", "SluiceCompression", .product(name: "Logging", package: "swift-log")],
            path: "connectors/mysql",
            exclude: ["README.md"]
        ),
        .target(
            name: "SluiceIceberg",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluiceObjectStore", "SluiceParquet", "SluiceAvro", "SluiceSQLite",
                "SluiceCompression", "SluicePostgresClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "connectors/iceberg",
            exclude: ["README.md"]
        ),
        .target(
            name: "SluiceParquetSink",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluiceObjectStore", "SluiceParquet",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "connectors/parquet",
            exclude: ["README.md"]
        ),
        .target(name: "SluiceObjectStore", dependencies: ["SluiceCore"]),
        .target(
            name: "SluiceStaging",
            dependencies: ["SluiceCore", "SluiceConnectorKit", "SluiceObjectStore", "SluiceParquet"]
        ),
        .target(
            name: "SluiceSnowflake",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluiceObjectStore", "SluiceParquet", "SluiceStaging",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "connectors/snowflake",
            exclude: ["README.md"]
        ),
        .target(
            name: "SluiceDatabricks",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluiceObjectStore", "SluiceParquet", "SluiceStaging",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "connectors/databricks",
            exclude: ["README.md"]
        ),

        // The CLI.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceDevConnectors", "SluicePostgres", "SluiceMySQL", "SluiceMCP", "SluiceIceberg", "SluiceSnowflake", "SluiceDatabricks", "SluiceParquetSink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks (programs, not tests).
        .executableTarget(name: "LogBenchmark", dependencies: ["SluiceCore", "SluiceLog", "CSQLite"], path: "Benchmarks/LogBenchmark"),
        .executableTarget(name: "PostgresBenchmark", dependencies: ["SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluicePostgres"], path: "Benchmarks/PostgresBenchmark"),
        .executableTarget(name: "MySQLBenchmark", dependencies: ["SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceMySQL"], path: "Benchmarks/MySQLBenchmark"),
        .executableTarget(name: "MCPBenchmark", dependencies: ["SluiceCore", "SluiceLog", "SluiceRuntime", "SluiceMCP", "SluiceDevConnectors", .product(name: "MCP", package: "swift-sdk"), .product(name: "Logging", package: "swift-log")], path: "Benchmarks/MCPBenchmark", exclude: ["client_latency.py"]),
        .executableTarget(name: "EndToEndBenchmark", dependencies: ["SluiceLog"], path: "Benchmarks/EndToEndBenchmark"),
        .executableTarget(name: "ParquetBenchmark", dependencies: ["SluiceParquet"], path: "Benchmarks/ParquetBenchmark"),
        .executableTarget(name: "IcebergBenchmark", dependencies: ["SluiceCore", "SluiceConnectorKit", "SluiceRuntime", "SluiceIceberg", .product(name: "Logging", package: "swift-log")], path: "Benchmarks/IcebergBenchmark"),

        // Tests.
        .target(
            name: "SluiceTestSupport",
            dependencies: ["SluiceCore", "SluiceConnectorKit", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SluiceTestSupport",
            exclude: ["Readers"]
        ),
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceTestSupport", "SluiceCore"]),
        .testTarget(name: "SluiceLogTests", dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceLog"]),
        .testTarget(name: "SluiceRuntimeTests", dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceDevConnectors"]),
        .testTarget(name: "SluiceParquetTests", dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceParquet"]),
        .testTarget(
            name: "SluicePostgresTests",
            dependencies: [
                "SluiceTestSupport", "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluicePostgres",
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "SluiceAvroTests", dependencies: ["SluiceTestSupport", "SluiceAvro"]),
        .testTarget(name: "SluiceIcebergTests", dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceIceberg", "SluiceAvro", "SluiceParquet"]),
        .testTarget(
            name: "SluiceParquetSinkTests",
            dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceParquet", "SluiceParquetSink"]
        ),
        .testTarget(
            name: "SluiceStagingTests",
            dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceParquet", "SluiceObjectStore", "SluiceStaging", "SluiceSnowflake", "SluiceDatabricks"]
        ),
        .testTarget(name: "SluiceMCPTests", dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceMCP"]),
        .testTarget(name: "SluiceMySQLTests", dependencies: ["SluiceTestSupport", "SluiceCore", "SluiceConnectorKit", "SluiceLog", "SluiceRuntime", "SluiceMySQL"]),
    ],
    swiftLanguageModes: [.v6]
)
