import Foundation
import Net
import Testing
import TestSupport

/// The `builderai` binary as an operator runs it: flags, exit codes, logs, signals.
@Suite struct ServeCommandTests {
    let binary = Peers.executable("builderai")
    /// A fresh data directory per test, so the database never lands in the source tree.
    let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("builderai-cli-\(UUID())").path

    @Test func printsHelpAndExitsZero() throws {
        let result = try Peers.run(binary, ["serve", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("--port PORT"))
        #expect(result.stdout.contains("BUILDERAI_PORT"))
    }

    @Test(arguments: [["serve", "--bogus"], ["serve", "--port", "99999"], ["serve", "--port"], ["serve", "--loops", "x"],
                      ["serve", "--log-level", "loud"], ["launch"]])
    func rejectsABadCommandLineWithExit64(arguments: [String]) throws {
        let result = try Peers.run(binary, arguments)
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("builderai: "))
    }

    @Test func rejectsABadEnvironmentValueWithExit64() throws {
        let result = try Peers.run("/usr/bin/env", ["BUILDERAI_PORT=eighty", binary, "serve"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("BUILDERAI_PORT"))
    }

    @Test func exitsWith69WhenThePortIsInUse() throws {
        let address = try SocketAddress(host: "127.0.0.1", port: 0)
        let listener = try Socket.listen(on: address)
        defer { close(listener) }
        let port = Socket.localAddress(listener)!.port
        let result = try Peers.run(binary, ["serve", "--port", String(port), "--data-dir", dataDir], timeout: 20)
        #expect(result.status == 69)
        #expect(result.stderr.contains("port \(port) on 127.0.0.1 is already in use"))
    }

    /// A template naming a variable that does not exist, or one never closed, stops `serve` before it
    /// opens the database or binds the port, naming the file, the line and the problem.
    @Test(arguments: [("Hello {{user_name}}.\nYou build {{project_name}} for {{customer}}.\n",
                       "shop.txt:2: unknown variable {{customer}}"),
                      ("Hello {{user_name}}.\n\nToday is {{date.\n", "shop.txt:3: \"{{\" is never closed")])
    func exitsWith78OnABadPromptTemplateBeforeListening(template: String, problem: String) throws {
        let prompts = TemporaryDirectory()
        let mcp = TemporaryDirectory()  // no MCP servers, whatever the working directory holds
        defer { prompts.remove(); mcp.remove() }
        try template.write(toFile: prompts.path + "/shop.txt", atomically: true, encoding: .utf8)
        let started = Date()
        let result = try Peers.run(binary, ["serve", "--port", "0", "--data-dir", dataDir, "--prompts", prompts.path,
                                            "--mcp-servers", mcp.path], timeout: 20)
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.status == 78, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("builderai: invalid prompt template: \(prompts.path)/"), "\(result.stderr)")
        #expect(result.stderr.contains(problem), "\(result.stderr)")
        #expect(!result.stderr.contains("listening") && result.stdout.isEmpty, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dataDir), "the database was not opened")
        #expect(elapsed < 5, "exited after \(elapsed) s")
    }

    @Test func shutsDownOnSIGTERMClosingWebSocketsWith1001() throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: binary)
        server.arguments = ["serve", "--port", "0", "--loops", "1", "--log-level", "debug", "--data-dir", dataDir]
        let logs = Pipe()
        server.standardError = logs
        try server.run()
        defer { if server.isRunning { server.interrupt() } }

        // The first log line says where it listens.
        var logText = ""
        while !logText.contains("\n") {
            let data = logs.fileHandleForReading.availableData
            if data.isEmpty { break }
            logText += String(decoding: data, as: UTF8.self)
        }
        let line = logText.split(separator: "\n").first.map(String.init) ?? ""
        #expect(line.contains("\"level\":\"info\"") && line.contains("\"msg\":\"listening\"") && line.contains("\"ts\":\""))
        let address = line.components(separatedBy: "\"address\":\"127.0.0.1:").last?.prefix { $0.isNumber } ?? ""
        let port = try #require(Int(address))

        let health = try Peers.run("curl", ["-s", "http://127.0.0.1:\(port)/healthz"])
        #expect(health.stdout == "{\"status\":\"ok\",\"version\":\"0.1.0\"}")

        let client = Process()
        client.executableURL = URL(fileURLWithPath: Peers.python)
        client.arguments = [Peers.script("ws_wait_close.py"), "ws://127.0.0.1:\(port)/ws/echo"]
        let output = Pipe()
        client.standardOutput = output
        try client.run()
        let opened = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        #expect(opened.hasPrefix("open"))

        kill(server.processIdentifier, SIGTERM)
        client.waitUntilExit()
        server.waitUntilExit()
        let closed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(closed.contains("closed 1001 server shutting down"))
        #expect(server.terminationReason == .exit)
        #expect(server.terminationStatus == 0)
        let rest = String(decoding: logs.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(rest.contains("\"msg\":\"shutting down\",\"signal\":\"SIGTERM\""))
        // At debug level every request and connection event names its id.
        let requestLine = rest.split(separator: "\n").first { $0.contains("\"msg\":\"request\"") } ?? ""
        #expect(requestLine.contains("\"path\":\"/healthz\"") && requestLine.contains("\"status\":\"200\""))
        #expect(requestLine.contains("\"request\":\""))
        #expect(rest.contains("\"msg\":\"websocket closed\",\"conn\":\""))
    }
}
