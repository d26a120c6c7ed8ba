// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-threads",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Multiformats", targets: ["Multiformats"]),
        .library(name: "DagCBOR", targets: ["DagCBOR"]),
        .library(name: "Sodium", targets: ["Sodium"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "Transport", targets: ["Transport"]),
        .library(name: "DHT", targets: ["DHT"]),
        .library(name: "Exchange", targets: ["Exchange"]),
        .library(name: "Threads", targets: ["Threads"]),
        .library(name: "ThreadsDB", targets: ["ThreadsDB"]),
        .library(name: "ThreadsAPI", targets: ["ThreadsAPI"]),
        .library(name: "Node", targets: ["Node"]),
        .executable(name: "threads", targets: ["ThreadsCLI"]),
        .executable(name: "threadsd", targets: ["ThreadsDaemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // C libraries from Debian, wrapped by Swift modules that import them internally.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CLevelDB",
            providers: [.apt(["libleveldb-dev", "libsnappy-dev"])]
        ),

        .target(
            name: "Multiformats",
            dependencies: [
                "CSodium",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(name: "DagCBOR", dependencies: ["Multiformats"]),
        .target(
            name: "Sodium",
            dependencies: ["CSodium", "Multiformats", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // LevelDB's environment with table files read by pread(2) rather than mapped (C++, as
        // LevelDB's Env is; built without RTTI like Debian's libleveldb).
        .target(
            name: "CLevelDBReadEnv",
            dependencies: ["CLevelDB"],
            cxxSettings: [.unsafeFlags(["-fno-rtti"])]
        ),
        .target(name: "Store", dependencies: ["CLevelDB", "CLevelDBReadEnv", "Multiformats", "DagCBOR"]),
        .target(
            name: "Transport",
            dependencies: [
                "Multiformats", "Sodium", "Store",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DHT",
            dependencies: [
                "Multiformats", "DagCBOR", "Sodium", "Store",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Exchange",
            dependencies: [
                "Multiformats", "DagCBOR", "Store", "Transport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Threads",
            dependencies: [
                "Multiformats", "DagCBOR", "Sodium", "Store", "Transport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ThreadsDB",
            dependencies: [
                "Multiformats", "DagCBOR", "Sodium", "Store", "Threads",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ThreadsAPI",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Node",
            dependencies: [
                "Multiformats", "DagCBOR", "Sodium", "Store", "Transport", "DHT", "Exchange", "Threads", "ThreadsDB",
                "ThreadsAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .executableTarget(
            name: "ThreadsCLI",
            dependencies: [
                "CSodium", "CLevelDB", "Multiformats", "DagCBOR", "Sodium", "Store", "Node", "Transport", "DHT",
                "Exchange", "Threads", "ThreadsDB",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "ThreadsDaemon",
            dependencies: [
                "Multiformats", "Sodium", "Store", "Node", "Transport", "DHT", "ThreadsAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Helpers shared by the test targets (fixture paths, hex, a seeded generator).
        .target(name: "ThreadsTestKit", path: "Tests/ThreadsTestKit"),
        .testTarget(name: "MultiformatsTests", dependencies: ["Multiformats", "ThreadsTestKit"]),
        .testTarget(name: "DagCBORTests", dependencies: ["DagCBOR", "Multiformats", "ThreadsTestKit"]),
        .testTarget(name: "SodiumTests", dependencies: ["Sodium", "Multiformats", "ThreadsTestKit"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Multiformats", "DagCBOR"]),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "Transport", "Sodium", "Multiformats", "Store", "ThreadsTestKit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The independent Noise peer the interop tests run with Python.
            exclude: ["noise_peer.py"]
        ),
        .testTarget(
            name: "DHTTests",
            dependencies: ["DHT", "Sodium", "Multiformats", "Store", "DagCBOR", "ThreadsTestKit"]
        ),
        .testTarget(
            name: "ExchangeTests",
            dependencies: [
                "Exchange", "Transport", "Sodium", "Multiformats", "Store", "DagCBOR", "ThreadsTestKit",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ThreadsTests",
            dependencies: ["Threads", "Sodium", "Multiformats", "Store", "DagCBOR", "Transport", "ThreadsTestKit"]
        ),
        .testTarget(
            name: "ThreadsDBTests",
            dependencies: ["ThreadsDB", "Threads", "Sodium", "Multiformats", "Store", "DagCBOR", "ThreadsTestKit"]
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: ["Node", "Sodium", "Store", "Multiformats", "DagCBOR", "Transport"]
        ),
        .testTarget(
            name: "ThreadsAPITests",
            dependencies: [
                "ThreadsAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "Multiformats", "DagCBOR", "Store", "Node", "Sodium", "ThreadsAPI", "ThreadsTestKit",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
