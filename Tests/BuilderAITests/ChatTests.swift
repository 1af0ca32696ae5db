import Foundation
import Store
import Testing
import TestSupport

/// The chat protocol end to end: the Python `websockets` client, a fake provider speaking the OpenAI
/// wire format, `mcp-server-time` from PyPI and an MCP server on the official SDK (ChatServerFixture).
/// Each scenario's assertions live in Tests/Peers/chat_scenarios.py; a failure prints what the client saw.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ChatTests {
    @Test(arguments: ["auth", "malformed", "non_member", "mcp_tool", "two_tools", "concurrent_tools", "two_clients", "resume",
                      "cancel", "cancel_tool", "step_limit", "workspace", "queue_and_regenerate", "slow_watcher", "viewer_and_presence",
                      "unload_and_resume"])
    func scenario(_ name: String) throws {
        let fixture = try ChatServerFixture()
        defer { fixture.stop() }
        let result = try fixture.scenario(name)
        #expect(result.status == 0, "\(name): \(result.stderr)\n\(result.stdout)")
        let log = (try? String(contentsOfFile: fixture.logPath, encoding: .utf8)) ?? ""
        #expect(!log.contains(fixture.token), "tokens never reach the log")
    }

    @Test func aCrashMidAnswerLeavesThePartialTextStoredAsIncompleteAndResumeShowsIt() throws {
        let fixture = try ChatServerFixture()
        defer { fixture.stop() }
        // The client starts a long answer and reports once text has streamed and been saved.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: Peers.python)
        client.arguments = [Peers.script("chat_scenarios.py"), "start_slow", "--url=ws://127.0.0.1:\(fixture.port)/ws",
                            "--token=\(fixture.token)", "--project=\(fixture.project)"]
        let output = Pipe()
        client.standardOutput = output
        client.standardError = FileHandle.nullDevice
        try client.run()
        defer { if client.isRunning { kill(client.processIdentifier, SIGKILL) } }
        var line = ""
        let deadline = Date().addingTimeInterval(30)
        while !line.contains("\n") && Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            line += String(decoding: data, as: UTF8.self)
        }
        let started = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let conversation = try #require(started["conversation"] as? String)
        let lastSeen = try #require(started["last_seq"] as? Int)

        fixture.crash()
        let db = try SQLiteConnection(path: Maintenance.databasePath(inDirectory: fixture.dataDir), readOnly: true)
        let reply = try #require(try Message.last(db, conversationID: conversation, limit: 10).last { $0.role == .assistant })
        #expect(reply.status == .incomplete)
        #expect(reply.content.contains("tick0 tick1 tick2"), "the partial answer was saved: \(reply.content)")
        #expect(!reply.content.contains("tick199"))

        // After a restart, the reply is marked interrupted and a client resuming from before the crash
        // gets it as a snapshot numbered above everything it saw.
        try fixture.start()
        let resumed = try fixture.scenario("resume_from_store", ["--conversation=\(conversation)"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
        let messages = try #require(summary["messages"] as? [[String: Any]])
        let assistant = try #require(messages.first { $0["role"] as? String == "assistant" })
        #expect(assistant["status"] as? String == "incomplete")
        #expect(assistant["stop_reason"] as? String == "interrupted")
        #expect((assistant["end_seq"] as? Int ?? 0) >= lastSeen)
    }
}
