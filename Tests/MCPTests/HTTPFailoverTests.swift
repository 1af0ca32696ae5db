import Foundation
import Net
import TestSupport
import Testing
@testable import MCP

/// The manager over real Streamable HTTP and SSE servers (the official SDK): failover between
/// replicas while calls run, recovery after a restart, and sessions the server forgot.
@Suite(.timeLimit(.minutes(2))) struct HTTPFailoverTests {
    static func replica(_ name: String, port: Int, group: String = "pool", version: String? = nil) -> MCPServerDefinition {
        var definition = MCPServerDefinition(name: name, group: group,
                                             endpoint: .streamableHTTP(url: "http://127.0.0.1:\(port)/mcp", headers: [:]))
        definition.healthInterval = .milliseconds(200)
        definition.healthTimeout = .seconds(2)
        definition.callTimeout = .seconds(10)
        definition.protocolVersion = version
        return definition
    }

    static func server(_ name: String, port: Int = 0, transport: String = "streamable-http") throws -> PeerServer {
        try PeerServer(script: "mcp_test_server.py", arguments: ["--transport", transport, "--name", name, "--port", String(port)])
    }

    @Test(arguments: [nil, "2025-11-25"])
    func callsKeepSucceedingWhileAReplicaIsKilledAndItComesBack(version: String?) async throws {
        var first = try Self.server("a")
        let second = try Self.server("b")
        defer { first.stop(); second.stop() }
        let portA = first.port
        try await Fleet.with { fleet in
            try fleet.manager.add(Self.replica("a", port: portA, version: version))
            try fleet.manager.add(Self.replica("b", port: second.port, version: version))
            fleet.manager.start()
            try await fleet.waitFor { $0.server("a")?.state == .healthy && $0.server("b")?.state == .healthy }
            #expect(fleet.manager.server("a")?.era == (version == nil ? .modern : .legacy))

            // 8 callers keep calling; A dies in the middle.
            let served = Locked<[String: Int]>([:])
            let failures = Locked<[String]>([])
            let stop = Locked(false)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        while !stop.withLock({ $0 }) {
                            do {
                                let result = try await fleet.manager.callTool("pool__whoami", arguments: .object([:]))
                                served.withLock { $0[result.text, default: 0] += 1 }
                            } catch {
                                failures.withLock { $0.append("\(error)") }
                            }
                        }
                    }
                }
                // A dies once it is demonstrably serving calls (a fixed pause was too short on a loaded machine).
                try await fleet.waitFor(seconds: 20) { _ in served.withLock { $0["a", default: 0] } >= 3 }
                first.stop()
                try await fleet.waitFor(seconds: 10) { $0.server("a")?.state != .healthy }
                // Calls keep succeeding on b (a liveness check with a generous deadline, not a speed test).
                let before = served.withLock { $0["b", default: 0] }
                try await fleet.waitFor(seconds: 20) { _ in served.withLock { $0["b", default: 0] } >= before + 10 }
                try await fleet.waitFor(seconds: 10) { $0.server("a")?.state == .down }
                stop.withLock { $0 = true }
                try await group.waitForAll()
            }
            // Only calls that were in flight on A when it died may fail, and they say why.
            let failed = failures.withLock { $0 }
            #expect(failed.count <= 8, "\(failed)")
            #expect(failed.allSatisfy { $0.contains("may have run") }, "\(failed)")
            #expect(served.withLock { $0["a", default: 0] } > 0)

            // A comes back on its port: reconnected, healthy, and taking calls again.
            first = try Self.server("a", port: portA)
            try await fleet.waitFor(seconds: 40) { $0.server("a")?.state == .healthy }
            #expect(fleet.manager.server("a")?.restarts == 1)
            second.stop()
            try await fleet.waitFor(seconds: 10) { $0.server("b")?.state != .healthy }
            #expect(try await fleet.manager.callTool("pool__whoami", arguments: .object([:])).text == "a")
        }
    }

    @Test func aServerThatForgetsTheSessionIsJoinedAgainTransparently() async throws {
        var peer = try Self.server("solo")
        defer { peer.stop() }
        let port = peer.port
        try await Fleet.with { fleet in
            var definition = Self.replica("solo", port: port, group: "solo", version: "2025-11-25")
            definition.healthInterval = .seconds(60)   // the restart must be found by a call, not a health check
            try fleet.manager.add(definition)
            fleet.manager.start()
            try await fleet.waitFor { $0.server("solo")?.state == .healthy }
            #expect(try await fleet.manager.callTool("solo__echo", arguments: .args(["text": .string("before")])).text == "before")
            peer.stop()
            peer = try Self.server("solo", port: port)
            // The old session id now gets 404: the call was not delivered, a new session starts, and
            // once it is up the next call succeeds.
            let deadline = ContinuousClock.now + .seconds(20)
            var answer: String?
            while answer == nil, ContinuousClock.now < deadline {
                answer = try? await fleet.manager.callTool("solo__echo", arguments: .args(["text": .string("after")])).text
                if answer == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(answer == "after")
            #expect(fleet.manager.server("solo")?.restarts == 1)
        }
    }

    @Test(arguments: [nil, "2024-11-05"])
    func theLegacySSETransportServesCalls(version: String?) async throws {
        let peer = try Self.server("old", transport: "sse")
        defer { peer.stop() }
        try await Fleet.with { fleet in
            var definition = MCPServerDefinition(name: "old", endpoint: .sse(url: "http://127.0.0.1:\(peer.port)/sse", headers: [:]))
            definition.protocolVersion = version
            try fleet.manager.add(definition)
            fleet.manager.start()
            try await fleet.waitFor { $0.server("old")?.state == .healthy }
            if let version { #expect(fleet.manager.server("old")?.protocolVersion == version) }
            let sum = try await fleet.manager.callTool("old__add", arguments: .args(["a": .number(20), "b": .number(22)]))
            #expect(sum.text == "42")
            let failed = try await fleet.manager.callTool("old__fail", arguments: .args(["message": .string("nope")]))
            #expect(failed.isError && failed.text.contains("nope"))
        }
    }

    @Test func anHTTPServerThatNeverAnswersTimesOutAndIsDown() async throws {
        let silent = try PeerServer(script: "mcp_silent_server.py", arguments: ["--http"])
        defer { silent.stop() }
        // Every state change reaches the health sink, so a short-lived "down" between retries is never missed.
        let reports = Locked<[MCPHealthReport]>([])
        try await Fleet.with(healthSink: { report in reports.withLock { $0.append(report) } }) { fleet in
            var definition = MCPServerDefinition(name: "mute", endpoint: .streamableHTTP(url: "http://127.0.0.1:\(silent.port)/mcp", headers: [:]))
            definition.initializeTimeout = .milliseconds(800)
            try fleet.manager.add(definition)
            fleet.manager.start()
            try await fleet.waitFor(seconds: 20) { _ in reports.withLock { $0.contains { $0.state == .down } } }
            let down = try #require(reports.withLock { $0.first { $0.state == .down } })
            #expect(down.error?.contains("no answer within") == true, "\(down)")
            #expect(!reports.withLock { $0.contains { $0.state == .healthy } })
        }
    }
}
