import Foundation
import Net
import Store
import Testing
import TestSupport

/// `builderai mcp check` and `builderai serve` with MCP servers, as an operator runs them.
@Suite(.timeLimit(.minutes(2))) struct MCPCommandTests {
    let binary = Peers.executable("builderai")

    func definitions(_ json: String) throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        try json.write(toFile: directory.path + "/servers.json", atomically: true, encoding: .utf8)
        return directory
    }

    static let timeServer = #"{"mcpServers": {"clock": {"command": "${MCP_PYTHON}", "args": ["-m", "mcp_server_time"], "env": {"API_TOKEN": "${TOKEN}"}, "healthCheck": {"intervalSeconds": 0.2}}}}"#

    @Test func checkStartsEachServerAndListsItsTools() throws {
        let directory = try definitions(Self.timeServer)
        let result = try Peers.run("/usr/bin/env", ["MCP_PYTHON=\(Peers.python)", "TOKEN=t0ps3cret", binary, "mcp", "check",
                                                    "--mcp-servers", directory.path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let line = try JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(line["server"]?.stringValue == "clock")
        #expect(line["state"]?.stringValue == "healthy")
        #expect(line["protocolVersion"]?.stringValue == "2026-07-28")
        #expect(line["tools"]?.arrayValue?.contains(.string("get_current_time")) == true)
        #expect(!(result.stdout + result.stderr).contains("t0ps3cret"))
    }

    @Test func checkReportsAServerThatCannotStartAndExitsOne() throws {
        let directory = try definitions(#"{"mcpServers": {"broken": {"command": "/nonexistent/server"}}}"#)
        let result = try Peers.run(binary, ["mcp", "check", "--mcp-servers", directory.path, "--timeout", "10"], timeout: 30)
        #expect(result.status == 1)
        let line = try JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(line["state"]?.stringValue == "down")
        #expect(line["error"]?.stringValue?.contains("/nonexistent/server") == true)
    }

    @Test(arguments: [["mcp", "check"], ["serve", "--port", "0"]])
    func anInvalidDefinitionIsRefusedWithExit78(command: [String]) throws {
        let directory = try definitions(#"{"mcpServers": {"x": {"command": "a", "args": "not-a-list"}}}"#)
        let data = TemporaryDirectory()
        let result = try Peers.run(binary, command + ["--mcp-servers", directory.path] + (command[0] == "serve" ? ["--data-dir", data.path] : []),
                                   timeout: 30)
        #expect(result.status == 78)
        #expect(result.stderr.contains("servers.json: server \"x\": \"args\" must be an array of strings"))
    }

    @Test func serveRunsTheServersRecordsTheirHealthAndEndsThemOnShutdown() throws {
        let directory = try definitions(Self.timeServer)
        let data = TemporaryDirectory()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: binary)
        server.arguments = ["serve", "--port", "0", "--loops", "1", "--data-dir", data.path, "--mcp-servers", directory.path]
        server.environment = ProcessInfo.processInfo.environment.merging(["MCP_PYTHON": Peers.python, "TOKEN": "t0ps3cret"]) { $1 }
        let logs = Pipe()
        server.standardError = logs
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }

        // Healthy samples with a latency reach mcp_health, under the server's row in mcp_servers.
        let db = try SQLiteConnection(path: Maintenance.databasePath(inDirectory: data.path), readOnly: true)
        let deadline = Date().addingTimeInterval(30)
        var healthy = 0
        while healthy < 3, Date() < deadline {
            healthy = (try? db.queryOne("""
                SELECT count(*) FROM mcp_health h JOIN mcp_servers s ON s.id = h.server_id
                WHERE s.name = 'clock' AND h.status = 'healthy' AND h.latency_ms IS NOT NULL
                """) { $0.int(0) }).flatMap { $0 } ?? 0
            usleep(100_000)
        }
        #expect(healthy >= 3)
        let stored = try db.queryOne("SELECT definition FROM mcp_servers WHERE name = 'clock'") { $0.string(0) } ?? ""
        #expect(stored.contains("API_TOKEN") && !stored.contains("t0ps3cret"), "env names are kept, values never")

        let children = try Peers.run("pgrep", ["-P", String(server.processIdentifier)]).stdout
            .split(separator: "\n").compactMap { Int32($0) }
        #expect(!children.isEmpty, "the time server runs as a child of builderai")
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
        for child in children { #expect(kill(child, 0) != 0, "child \(child) was ended") }
        let log = String(decoding: logs.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("\"msg\":\"mcp session ready\""))
        #expect(!log.contains("t0ps3cret"))
    }
}
