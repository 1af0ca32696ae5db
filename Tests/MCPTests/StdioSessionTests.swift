import Foundation
import Net
import TestSupport
import Testing
@testable import MCP

/// MCPConnection over stdio against real servers from PyPI and the official SDK.
@Suite(.timeLimit(.minutes(2))) struct StdioSessionTests {
    @Test(arguments: [nil, "2025-11-25", "2025-06-18", "2024-11-05"])
    func timeServerAnswersInEveryEra(version: String?) throws {
        let harness = try LoopHarness()
        let session = try StdioSession(harness, executable: TestPeers.python, arguments: ["-m", "mcp_server_time"],
                                       protocolVersion: version)
        defer { session.close() }
        // Unpinned, the probe must find the modern revision the server offers; pinned, the handshake is at that version.
        #expect(session.info.protocolVersion == (version ?? MCPProtocolVersion.newest))
        #expect(session.info.era == (version == nil ? .modern : .legacy))
        let names = try session.tools().map(\.name)
        #expect(names.contains("get_current_time") && names.contains("convert_time"))

        let now = try session.call("get_current_time", .args(["timezone": .string("Europe/Paris")])).get()
        #expect(!now.isError)
        let reply = try JSONValue.parse(now.text)
        #expect(reply["timezone"]?.stringValue == "Europe/Paris")
        #expect(reply["datetime"]?.stringValue?.contains("T") == true)

        let converted = try session.call("convert_time", .args(["source_timezone": .string("UTC"), "time": .string("12:00"),
                                                                 "target_timezone": .string("Asia/Tokyo")])).get()
        #expect(converted.text.contains("21:00"))
        let bad = try session.call("get_current_time", .args(["timezone": .string("Not/AZone")])).get()
        #expect(bad.isError, "an invalid timezone is the tool's own error, reported in the result")
    }

    @Test func gitServerReadsARealRepository() throws {
        let repo = TemporaryDirectory()
        for command in [["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "T"]] {
            _ = try Peers.run("git", ["-C", repo.path] + command)
        }
        try "hello\n".write(toFile: repo.path + "/a.txt", atomically: true, encoding: .utf8)
        _ = try Peers.run("git", ["-C", repo.path, "add", "a.txt"])
        _ = try Peers.run("git", ["-C", repo.path, "commit", "-q", "-m", "first commit from the test"])
        try "changed\n".write(toFile: repo.path + "/a.txt", atomically: true, encoding: .utf8)

        let harness = try LoopHarness()
        let session = try StdioSession(harness, executable: TestPeers.python,
                                       arguments: ["-m", "mcp_server_git", "--repository", repo.path])
        defer { session.close() }
        let names = try session.tools().map(\.name)
        #expect(names.contains("git_status") && names.contains("git_log") && names.contains("git_diff_unstaged"))
        let status = try session.call("git_status", .args(["repo_path": .string(repo.path)])).get()
        #expect(status.text.contains("a.txt"))
        let log = try session.call("git_log", .args(["repo_path": .string(repo.path)])).get()
        #expect(log.text.contains("first commit from the test"))
        let diff = try session.call("git_diff_unstaged", .args(["repo_path": .string(repo.path)])).get()
        #expect(diff.text.contains("+changed"))
    }

    @Test(arguments: [nil, "2025-11-25"])
    func sdkServerToolsResourcesPromptsAndPagination(version: String?) throws {
        let harness = try LoopHarness()
        let session = try StdioSession(harness, executable: TestPeers.python,
                                       arguments: [TestPeers.testServer, "--extra-tools", "30", "--page-size", "7"],
                                       protocolVersion: version)
        defer { session.close() }
        let tools = try session.tools()
        #expect(tools.count == 37, "7 tools plus 30 extra, across 6 pages")
        #expect(Set(tools.map(\.name)).count == tools.count)

        let sum = try session.call("add", .args(["a": .number(2), "b": .number(3)])).get()
        #expect(!sum.isError)
        #expect(sum.text == "5")
        let failed = try session.call("fail", .args(["message": .string("broken on purpose")])).get()
        #expect(failed.isError)
        #expect(failed.text.contains("broken on purpose"))
        // An unknown tool is the server's to refuse, as a tool error or a JSON-RPC error; either
        // way it comes back as such, not as a transport failure.
        switch try session.call("no_such_tool") {
        case .success(let result): #expect(result.isError && result.text.contains("no_such_tool"))
        case .failure(.server(let error)): #expect(error.message.contains("no_such_tool"))
        case .failure(let other): Issue.record("unexpected failure \(other)")
        }

        let resources = try harness.run { [connection = session.connection] done in connection.listResources(done) }.get()
        #expect(resources.contains { $0["uri"]?.stringValue == "test://hello" })
        let contents = try harness.run { [connection = session.connection] done in
            connection.readResource(uri: "test://hello", done)
        }.get()
        #expect(contents.first?["text"]?.stringValue?.hasPrefix("hello from") == true)
        let prompts = try harness.run { [connection = session.connection] done in connection.listPrompts(done) }.get()
        #expect(prompts.contains { $0["name"]?.stringValue == "greet" })
        let prompt = try harness.run { [connection = session.connection] done in
            connection.getPrompt(name: "greet", arguments: ["name": "Ada"], done)
        }.get()
        #expect(prompt["messages"]?[0]?["content"]?["text"]?.stringValue == "Hello, Ada!")
    }

    @Test(arguments: [nil, "2025-11-25"])
    func progressIsRelayedAndTimeoutsCancelWithoutKillingTheSession(version: String?) throws {
        let harness = try LoopHarness()
        let session = try StdioSession(harness, executable: TestPeers.python, arguments: [TestPeers.testServer],
                                       protocolVersion: version)
        defer { session.close() }
        let seen = Locked<[MCPProgress]>([])
        let result = try harness.run { [connection = session.connection] done in
            connection.callTool(name: "progress", arguments: .args(["steps": .number(4)]),
                                onProgress: { progress in seen.withLock { $0.append(progress) } }, done)
        }.get()
        #expect(result.text == "done")
        #expect(seen.withLock { $0.map(\.progress) } == [1, 2, 3, 4])

        let started = ContinuousClock.now
        let slow = try session.call("sleep", .args(["seconds": .number(30)]), timeout: .milliseconds(300))
        #expect(slow == .failure(.timeout(.milliseconds(300))))
        #expect(ContinuousClock.now - started < .seconds(5))
        // The server was told to stop (notifications/cancelled); the session keeps working.
        #expect(try session.call("echo", .args(["text": .string("still here")])).get().text == "still here")

        let cancelled = try harness.run { [connection = session.connection] (done: @escaping (Result<MCPToolResult, MCPError>) -> Void) in
            guard let id = connection.callTool(name: "sleep", arguments: .args(["seconds": .number(30)]), done) else { return }
            harness.loop.schedule(after: .milliseconds(100)) { connection.cancel(id) }
        }
        #expect(cancelled == .failure(.cancelled))
        #expect(try session.call("add", .args(["a": .number(1), "b": .number(1)])).get().text == "2")
    }

    @Test(arguments: [nil, "2025-11-25"])
    func toolListChangesAreAnnounced(version: String?) throws {
        let harness = try LoopHarness()
        let session = try StdioSession(harness, executable: TestPeers.python, arguments: [TestPeers.testServer],
                                       protocolVersion: version)
        defer { session.close() }
        #expect(session.info.announcesToolChanges)
        #expect(try !session.tools().contains { $0.name == "late_tool" })
        _ = try session.call("add_tool", .args(["name": .string("late_tool")])).get()
        // Legacy: a notification on the session; modern: on our subscriptions/listen stream.
        let deadline = ContinuousClock.now + .seconds(10)
        while session.toolChanges.withLock({ $0 }) == 0, ContinuousClock.now < deadline { usleep(10_000) }
        #expect(session.toolChanges.withLock { $0 } >= 1)
        #expect(try session.tools().contains { $0.name == "late_tool" })
    }

    @Test func aServerThatNeverAnswersTimesOutCleanly() throws {
        let harness = try LoopHarness()
        let transport = StdioTransport(loop: harness.loop,
                                       process: ChildProcessOptions(executable: TestPeers.python,
                                                                    arguments: [TestPeers.silentServer, "--linger"],
                                                                    environment: ProcessInfo.processInfo.environment),
                                       logName: "silent")
        let connection = MCPConnection(loop: harness.loop, transport: transport,
                                       options: MCPConnectionOptions(initializeTimeout: .milliseconds(800)))
        let started = ContinuousClock.now
        let result = try harness.run { done in connection.connect(done) }
        #expect(result == .failure(.timeout(.milliseconds(800))))
        #expect(ContinuousClock.now - started < .seconds(3))
        // The silent server ignores SIGTERM (--linger): closing escalates to SIGKILL; no process is left.
        let pid = try harness.run { done in done(transport.pid ?? 0) }
        let deadline = ContinuousClock.now + .seconds(5)
        while kill(pid, 0) == 0, ContinuousClock.now < deadline { usleep(20_000) }
        #expect(pid == 0 || kill(pid, 0) != 0)
    }

    @Test func aServerThatExitsMidCallReportsTheCallAsPossiblyDelivered() throws {
        let harness = try LoopHarness()
        let session = try StdioSession(harness, executable: TestPeers.python,
                                       arguments: [TestPeers.testServer, "--crash-after", "1"])
        let result = try session.call("echo", .args(["text": .string("x")]))
        guard case .failure(.mayHaveBeenDelivered(let reason)) = result else {
            Issue.record("expected mayHaveBeenDelivered, got \(result)")
            return
        }
        #expect(reason.contains("exited with status 3"))
        #expect(try session.call("echo", .args(["text": .string("y")])) == .failure(.notDelivered("the connection is closed")))
    }

    @Test func aMissingCommandFailsToStartWithTheReason() throws {
        let harness = try LoopHarness()
        let transport = StdioTransport(loop: harness.loop,
                                       process: ChildProcessOptions(executable: "/nonexistent/mcp-server", arguments: []),
                                       logName: "missing")
        let connection = MCPConnection(loop: harness.loop, transport: transport, options: MCPConnectionOptions())
        let result = try harness.run { done in connection.connect(done) }
        guard case .failure(.unavailable(let reason)) = result else {
            Issue.record("expected unavailable, got \(result)")
            return
        }
        #expect(reason.contains("/nonexistent/mcp-server"))
    }
}
