import Foundation
import Testing
import TestSupport

/// The browser client in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven
/// by Selenium from the venv) against a real `builderai serve`: the fake OpenAI provider in its
/// `agent` scenario, an admin account with a password and a project made through the CLI, and the
/// `mcp-server-time` server as "clock". The steps and their assertions live in
/// Tests/Peers/web_ui_test.py; screenshots go to test-output/web/.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WebClientTests {
    final class Fixture: @unchecked Sendable {
        // Invariant: owned by one test; its processes are not shared.
        let directory = TemporaryDirectory()
        let binary = Peers.executable("builderai")
        let fake: PeerServer
        let project: String
        static let password = "ada-password-123"
        private var server: Process?
        private(set) var port = 0
        var dataDir: String { directory.path + "/data" }
        var logPath: String { directory.path + "/server.log" }

        init() throws {
            fake = try PeerServer(script: "fake_openai.py")
            try FileManager.default.createDirectory(atPath: directory.path + "/mcp", withIntermediateDirectories: true)
            try #"{"mcpServers": {"clock": {"command": "\#(Peers.python)", "args": ["-m", "mcp_server_time"]}}}"#
                .write(toFile: directory.path + "/mcp/servers.json", atomically: true, encoding: .utf8)
            let data = directory.path + "/data"
            try Fixture.cli(binary, ["user", "create", "--email", "ada@example.com", "--name", "Ada", "--admin",
                                     "--password-stdin", "--data-dir", data], input: Fixture.password + "\n")
            project = try Fixture.cli(binary, ["project", "create", "--email", "ada@example.com", "--name", "Bakery",
                                               "--model", "openai/agent", "--mcp", "clock", "--data-dir", data])
            try start()
        }

        @discardableResult
        static func cli(_ binary: String, _ arguments: [String], input: String = "") throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            let stdin = Pipe()
            let stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
            let output = stdout.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw PeerError("builderai \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
            }
            return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func start() throws {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--port", "0", "--data-dir", dataDir, "--mcp-servers", directory.path + "/mcp",
                                 "--prompts", Peers.packageRoot.path + "/prompts", "--password-iterations", "1000"]
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
                    if log.contains("\"msg\":\"mcp session ready\"") { return }
                }
                guard process.isRunning else { throw PeerError("builderai serve exited: \(log)") }
                usleep(50_000)
            }
            throw PeerError("builderai serve did not get ready: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
        }

        func stop() {
            if let server, server.isRunning {
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
            fake.stop()
            directory.remove()
        }
    }

    @Test func aPersonRegistersChatsSeesToolCardsReloadsStopsAndHostileTextStaysText() throws {
        let fixture = try Fixture()
        defer { fixture.stop() }
        let output = Peers.packageRoot.appendingPathComponent("test-output/web").path
        let result = try Peers.run(Peers.python, [Peers.script("web_ui_test.py"), "--url=http://127.0.0.1:\(fixture.port)",
                                                  "--email=ada@example.com", "--password=\(Fixture.password)",
                                                  "--project=\(fixture.project)", "--out=\(output)"], timeout: 240)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let log = (try? String(contentsOfFile: fixture.logPath, encoding: .utf8)) ?? ""
        #expect(!log.contains("wst_"), "WebSocket tickets never reach the log")
    }
}
