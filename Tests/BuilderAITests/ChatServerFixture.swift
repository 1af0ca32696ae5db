import Foundation
import TestSupport

/// A real `builderai serve` for chat tests: a fake OpenAI provider in the `agent` scenario, two MCP
/// servers over stdio (`mcp-server-time` from PyPI as "clock", and Tests/Peers/mcp_test_server.py on
/// the official SDK as "tester", writing what it saw of cancellations to `cancelLogPath`), both
/// enabled for the project, two accounts (one a project owner, one an outsider) seeded through the
/// CLI, and the server's stderr in a file. Everything is killed by PID in `stop()`.
final class ChatServerFixture: @unchecked Sendable {
    // Invariant: owned by one test; its processes are not shared.
    let directory = TemporaryDirectory()
    let binary = Peers.executable("builderai")
    let fake: PeerServer
    let token: String
    let otherToken: String
    let project: String
    let maxSteps: Int
    /// Ada's password when she was made an admin with one (the browser test signs in with it).
    let adminPassword: String?
    private let serveArguments: [String]
    private var server: Process?
    private(set) var port = 0

    var dataDir: String { directory.path + "/data" }
    var logPath: String { directory.path + "/server.log" }
    /// Where the "tester" MCP server notes each `notifications/cancelled` and each `sleep` it started,
    /// finished or had cut short.
    let cancelLogPath: String
    /// The MCP servers in the fixture's servers.json, every one enabled for the project.
    static let mcpServers = ["clock", "tester"]

    /// `adminPassword` makes Ada an administrator who can sign in with it; `serveArguments` are added
    /// to `builderai serve` (the chat tests unload idle conversations after 1 s).
    init(maxSteps: Int = 3, adminPassword: String? = nil, serveArguments: [String] = ["--idle-unload-seconds", "1"]) throws {
        self.maxSteps = maxSteps
        self.adminPassword = adminPassword
        self.serveArguments = serveArguments
        cancelLogPath = directory.path + "/mcp-cancel.log"
        fake = try PeerServer(script: "fake_openai.py")
        try FileManager.default.createDirectory(atPath: directory.path + "/mcp", withIntermediateDirectories: true)
        let servers: [String: Any] = ["mcpServers": [
            "clock": ["command": Peers.python, "args": ["-m", "mcp_server_time"]],
            "tester": ["command": Peers.python, "args": [Peers.script("mcp_test_server.py"), "--name", "tester",
                                                         "--cancel-log", cancelLogPath]],
        ]]
        try JSONSerialization.data(withJSONObject: servers, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: directory.path + "/mcp/servers.json"))
        let binary = self.binary
        let data = directory.path + "/data"
        func cli(_ arguments: [String], input: String? = nil) throws -> String {
            let result = try Peers.run(binary, arguments + ["--data-dir", data], input: input)
            guard result.status == 0 else { throw PeerError("builderai \(arguments.joined(separator: " ")): \(result.stderr)") }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let adminPassword {
            _ = try cli(["user", "create", "--email", "ada@example.com", "--name", "Ada", "--admin", "--password-stdin"],
                        input: adminPassword + "\n")
        } else {
            _ = try cli(["user", "create", "--email", "ada@example.com", "--name", "Ada"])
        }
        _ = try cli(["user", "create", "--email", "out@example.com", "--name", "Outsider"])
        token = try cli(["token", "create", "--email", "ada@example.com"])
        otherToken = try cli(["token", "create", "--email", "out@example.com"])
        project = try cli(["project", "create", "--email", "ada@example.com", "--name", "Bakery", "--model", "openai/agent",
                           "--mcp", Self.mcpServers.joined(separator: ",")])
        try start()
    }

    /// Starts (or restarts) the server on the same data directory and waits for its port.
    func start() throws {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir, "--mcp-servers", directory.path + "/mcp",
                             "--max-steps", String(maxSteps), "--prompts", Peers.packageRoot.path + "/prompts"]
            + serveArguments
        process.environment = ProcessInfo.processInfo.environment.merging([
            "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1",
        ]) { $1 }
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        server = process
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let range = log.range(of: #""address":"127.0.0.1:(\d+)""#, options: .regularExpression) {
                port = Int(log[range].split(separator: ":").last!.dropLast()) ?? 0
                // Every MCP server's session is up and its tools listed (/readyz says so) shortly after start.
                let ready = log.split(separator: "\n").filter { $0.contains("\"msg\":\"mcp session ready\"") }
                if Self.mcpServers.allSatisfy({ name in ready.contains { $0.contains("\"server\":\"\(name)\"") } }),
                   (try? Peers.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/readyz"]))?
                       .stdout == "200" {
                    return
                }
            }
            guard process.isRunning else { throw PeerError("builderai serve exited: \(log)") }
            usleep(50_000)
        }
        throw PeerError("builderai serve did not get ready: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
    }

    /// Runs a scenario of Tests/Peers/chat_scenarios.py against the server.
    func scenario(_ name: String, _ extra: [String] = []) throws -> Peers.Result {
        try Peers.run(Peers.python, [Peers.script("chat_scenarios.py"), name, "--url=ws://127.0.0.1:\(port)/ws",
                                     "--token=\(token)", "--other-token=\(otherToken)", "--project=\(project)",
                                     "--fake=http://127.0.0.1:\(fake.port)", "--steps=\(maxSteps)",
                                     "--cancel-log=\(cancelLogPath)"] + extra, timeout: 90)
    }

    /// Kills the server at once, as a crash would.
    func crash() {
        guard let server, server.isRunning else { return }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
    }

    var serverProcess: Process? { server }

    func stop() {
        crash()
        fake.stop()
        directory.remove()
    }
}
