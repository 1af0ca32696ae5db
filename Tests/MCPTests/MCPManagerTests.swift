import Foundation
import Net
import TestSupport
import Testing
@testable import MCP

/// The manager over real stdio servers: restarts, crash loops, namespacing, limits, health, failover.
@Suite(.timeLimit(.minutes(2))) struct MCPManagerTests {
    static func testServer(_ name: String, group: String? = nil, _ extra: [String] = []) -> MCPServerDefinition {
        var definition = MCPServerDefinition(
            name: name, group: group,
            endpoint: .stdio(executable: TestPeers.python, arguments: [TestPeers.testServer, "--name", name] + extra,
                             environment: ProcessInfo.processInfo.environment, workingDirectory: nil))
        definition.initializeTimeout = .seconds(20)
        definition.callTimeout = .seconds(20)
        return definition
    }

    @Test func aCrashedStdioServerIsRestartedAndItsToolsComeBack() async throws {
        try await Fleet.with { fleet in
            try fleet.manager.add(Self.testServer("crashy", ["--crash-after", "2"]))
            fleet.manager.start()
            try await fleet.waitFor { $0.server("crashy")?.state == .healthy }
            let firstPID = await fleet.manager.processID("crashy")
            #expect(try await fleet.manager.callTool("crashy__echo", arguments: .args(["text": .string("one")])).text == "one")
            // The second call kills the process: it may have run, so it is reported, not repeated.
            await #expect(throws: MCPError.self) {
                try await fleet.manager.callTool("crashy__echo", arguments: .args(["text": .string("two")]))
            }
            try await fleet.waitFor { $0.server("crashy")?.state == .healthy && $0.server("crashy")?.restarts == 1 }
            #expect(await fleet.manager.processID("crashy") != firstPID)
            #expect(fleet.manager.tools().contains { $0.exposedName == "crashy__echo" })
            #expect(try await fleet.manager.callTool("crashy__echo", arguments: .args(["text": .string("three")])).text == "three")
        }
    }

    @Test func aServerThatKeepsDyingIsMarkedDownAsACrashLoop() async throws {
        try await Fleet.with { fleet in
            try fleet.manager.add(MCPServerDefinition(
                name: "dies", endpoint: .stdio(executable: "/bin/sh", arguments: ["-c", "echo starting >&2; exit 1"],
                                               environment: ["PATH": "/usr/bin:/bin"], workingDirectory: nil)))
            fleet.manager.start()
            try await fleet.waitFor(seconds: 20) { $0.server("dies")?.crashLoop == true }
            let status = try #require(fleet.manager.server("dies"))
            #expect(status.state == .down)
            #expect(status.lastError?.contains("exited with status 1") == true)
            await #expect(throws: MCPError.self) { try await fleet.manager.callTool("dies__echo", arguments: .object([:])) }
        }
    }

    @Test func toolsAreNamespacedPerGroupAndMapBackExactly() async throws {
        try await Fleet.with { fleet in
            try fleet.manager.add(Self.testServer("alpha"))
            try fleet.manager.add(Self.testServer("beta"))
            fleet.manager.start()
            try await fleet.waitFor { $0.server("alpha")?.state == .healthy && $0.server("beta")?.state == .healthy }
            let names = Set(fleet.manager.tools().map(\.exposedName))
            #expect(names.isSuperset(of: ["alpha__add", "beta__add", "alpha__whoami", "beta__whoami"]))
            #expect(try await fleet.manager.callTool("alpha__whoami", arguments: .object([:])).text == "alpha")
            #expect(try await fleet.manager.callTool("beta__whoami", arguments: .object([:])).text == "beta")

            // A name providers would refuse is cleaned and made unique with a hash of the original.
            _ = try await fleet.manager.callTool("alpha__add_tool", arguments: .args(["name": .string("weird.tool name")]))
            try await fleet.waitFor { $0.tools().contains { $0.toolName == "weird.tool name" } }
            let entry = try #require(fleet.manager.tools().first { $0.toolName == "weird.tool name" })
            #expect(entry.exposedName.hasPrefix("alpha__weird_tool_name_"))
            #expect(entry.exposedName.utf8.allSatisfy { $0 == 0x5F || $0 == 0x2D || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) })
            #expect(entry.group == "alpha")
            let result = try await fleet.manager.callTool(entry.exposedName, arguments: .object([:]))
            #expect(!result.isError)

            await #expect(throws: MCPError.unknownTool("gamma__add")) {
                try await fleet.manager.callTool("gamma__add", arguments: .object([:]))
            }
        }
    }

    @Test func resultsOverTheLimitAreCutWithAMarker() async throws {
        try await Fleet.with { fleet in
            var definition = Self.testServer("big")
            definition.maxResultBytes = 1024
            try fleet.manager.add(definition)
            fleet.manager.start()
            try await fleet.waitFor { $0.server("big")?.state == .healthy }
            let long = String(repeating: "é", count: 3000)  // 6000 bytes: the cut must fall between characters
            let result = try await fleet.manager.callTool("big__echo", arguments: .args(["text": .string(long)]))
            #expect(result.truncated)
            #expect(result.content.count == 2)
            let kept = result.content[0]["text"]?.stringValue ?? ""
            #expect(kept.utf8.count <= 1024 && kept.utf8.count > 1000)
            #expect(kept.allSatisfy { $0 == "é" })
            #expect(result.text.contains("[truncated by BuilderAI: the tool returned"))
            let short = try await fleet.manager.callTool("big__echo", arguments: .args(["text": .string("short")]))
            #expect(!short.truncated && short.text == "short")
        }
    }

    @Test func healthChecksAreRecordedWithTheirLatency() async throws {
        let reports = Locked<[MCPHealthReport]>([])
        try await Fleet.with(healthSink: { report in reports.withLock { $0.append(report) } }) { fleet in
            var definition = Self.testServer("watched")
            definition.healthInterval = .milliseconds(150)
            try fleet.manager.add(definition)
            fleet.manager.start()
            try await fleet.waitFor { _ in reports.withLock { $0.filter { $0.latencyMs != nil }.count >= 3 } }
            let seen = reports.withLock { $0 }
            #expect(seen.first?.state == .connecting)
            #expect(seen.contains { $0.state == .healthy })
            #expect(seen.allSatisfy { $0.server == "watched" })
            #expect(seen.compactMap(\.latencyMs).allSatisfy { $0 >= 0 && $0 < 5000 })
            let status = try #require(fleet.manager.server("watched"))
            #expect(status.latencyMs != nil)
            #expect(status.recentChecks.count >= 3)
            #expect(status.era == .modern && status.protocolVersion == MCPProtocolVersion.newest)
        }
    }

    @Test func callsFailOverWhenAReplicaDies() async throws {
        try await Fleet.with { fleet in
            try fleet.manager.add(Self.testServer("r1", group: "pool"))
            try fleet.manager.add(Self.testServer("r2", group: "pool"))
            fleet.manager.start()
            try await fleet.waitFor { $0.server("r1")?.state == .healthy && $0.server("r2")?.state == .healthy }
            #expect(fleet.manager.tools().filter { $0.toolName == "echo" }.map(\.exposedName) == ["pool__echo"])
            let victim = try #require(await fleet.manager.processID("r1"))
            kill(victim, SIGKILL)
            // A call written to r1 in the instant before its death shows may have reached it: that
            // one is reported, not repeated. Every other call succeeds: on r2 while r1 is down (its
            // restart takes a Python start-up), on either once r1 is back.
            var lost = 0
            var onSecond = 0
            for _ in 0..<20 {
                do {
                    let result = try await fleet.manager.callTool("pool__whoami", arguments: .object([:]))
                    if result.text == "r2" { onSecond += 1 }
                } catch {
                    guard case .mayHaveBeenDelivered(let reason) = error as? MCPError else { throw error }
                    #expect(reason.contains("killed by signal 9"))
                    lost += 1
                }
            }
            #expect(onSecond >= 1)
            #expect(lost <= 1)
            #expect(fleet.manager.server("r1")?.state != .healthy || fleet.manager.server("r1")?.restarts == 1)
            try await fleet.waitFor { $0.server("r1")?.state == .healthy && $0.server("r1")?.restarts == 1 }
        }
    }

    @Test func resourcesAndPromptsAreReachablePerServer() async throws {
        try await Fleet.with { fleet in
            try fleet.manager.add(Self.testServer("docs"))
            fleet.manager.start()
            try await fleet.waitFor { $0.server("docs")?.state == .healthy }
            let resources = try await fleet.manager.listResources(server: "docs")
            #expect(resources.contains { $0["uri"]?.stringValue == "test://hello" })
            let contents = try await fleet.manager.readResource(server: "docs", uri: "test://hello")
            #expect(contents.first?["text"]?.stringValue == "hello from docs")
            #expect(try await fleet.manager.listPrompts(server: "docs").contains { $0["name"]?.stringValue == "greet" })
            let prompt = try await fleet.manager.getPrompt(server: "docs", prompt: "greet", arguments: ["name": "Lin"])
            #expect(prompt["messages"]?[0]?["content"]?["text"]?.stringValue == "Hello, Lin!")
            await #expect(throws: MCPError.unavailable("no server named nobody")) {
                try await fleet.manager.listPrompts(server: "nobody")
            }
        }
    }

    @Test func serversCanBeAddedChangedAndRemovedAtRunTime() async throws {
        try await Fleet.with { fleet in
            fleet.manager.start()
            try fleet.manager.add(Self.testServer("late"))
            try await fleet.waitFor { $0.server("late")?.state == .healthy }
            #expect(throws: MCPConfigError.self) { try fleet.manager.add(Self.testServer("late")) }
            try await fleet.manager.update(Self.testServer("late", group: "renamed"))
            try await fleet.waitFor { $0.tools().contains { $0.exposedName == "renamed__echo" } }
            #expect(!fleet.manager.tools().contains { $0.exposedName == "late__echo" })
            let pid = try #require(await fleet.manager.processID("late"))
            #expect(await fleet.manager.remove("late"))
            #expect(fleet.manager.server("late") == nil)
            #expect(fleet.manager.tools().isEmpty)
            #expect(kill(pid, 0) != 0, "the removed server's process is gone")
            #expect(await fleet.manager.remove("late") == false)
        }
    }
}

/// A manager on two loops, shut down at the end of the test.
final class Fleet: @unchecked Sendable {
    let group: EventLoopGroup
    let manager: MCPManager

    init(healthSink: (@Sendable (MCPHealthReport) -> Void)? = nil) throws {
        group = try EventLoopGroup(loopCount: 2)
        try group.start()
        manager = MCPManager(loops: group.loops, healthSink: healthSink)
    }

    func waitFor(seconds: Double = 30, _ condition: (MCPManager) -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !condition(manager) {
            guard ContinuousClock.now < deadline else {
                throw LoopHarness.Timeout(seconds: seconds)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Runs `body` with a fresh fleet and always shuts it down afterwards (awaited, not in a deinit:
    /// blocking a cooperative thread there starves the tasks the shutdown needs).
    static func with(healthSink: (@Sendable (MCPHealthReport) -> Void)? = nil,
                     _ body: (Fleet) async throws -> Void) async throws {
        let fleet = try Fleet(healthSink: healthSink)
        do {
            try await body(fleet)
        } catch {
            await fleet.close()
            throw error
        }
        await fleet.close()
    }

    func close() async {
        await manager.shutdown(grace: .milliseconds(500))
        group.shutdown()
    }
}
