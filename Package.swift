// swift-tools-version:6.0
// BuilderAI core: one binary, no Swift package dependencies. C libraries come from Debian
// through the module maps under Sources/C*.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "builderai",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "builderai", targets: ["builderai"]),
        .executable(name: "builderai-bench", targets: ["builderai-bench"]),
    ],
    targets: [
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSystem", path: "Sources/CSystem"),

        .target(name: "Net", dependencies: ["CSystem", "CCrypto", "CZlib", "CCurl"], swiftSettings: strict),
        .target(name: "Store", dependencies: ["CSQLite", "CCrypto", "CSystem"], swiftSettings: strict),
        .target(name: "LLM", dependencies: ["Net"], swiftSettings: strict),
        .target(name: "MCP", dependencies: ["Net"], swiftSettings: strict),
        .target(name: "Chat", dependencies: ["Net", "Store", "LLM", "MCP"], swiftSettings: strict),
        .target(name: "API", dependencies: ["Net", "Store", "CCrypto"], swiftSettings: strict),
        .target(name: "WebClient", dependencies: ["Net"], resources: [.copy("Assets")], swiftSettings: strict),
        .executableTarget(name: "builderai", dependencies: ["CSystem", "Net", "Store", "LLM", "MCP", "Chat", "API", "WebClient"],
                          swiftSettings: strict),
        .executableTarget(name: "builderai-bench", dependencies: ["CSystem", "CCurl", "Net", "Store", "LLM", "MCP"], swiftSettings: strict),

        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "NetTests", dependencies: ["Net", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Net", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "LLMTests", dependencies: ["LLM", "Net", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "MCPTests", dependencies: ["MCP", "Net", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ChatTests", dependencies: ["Chat", "Store", "LLM", "Net", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "APITests", dependencies: ["API", "Store", "Net", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "BuilderAITests", dependencies: ["Net", "API", "Store", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
