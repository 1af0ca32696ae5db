import Foundation
import Testing
import TestSupport

/// The browser client in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven
/// by Selenium from the venv) against a real `builderai serve`: the fake OpenAI provider in its
/// `agent` scenario, an admin account with a password and a project made through the CLI, and the
/// `mcp-server-time` server as "clock". The steps and their assertions live in
/// Tests/Peers/web_ui_test.py; screenshots go to test-output/web/.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WebClientTests {
    static let password = "ada-password-123"

    @Test func aPersonRegistersChatsSeesToolCardsReloadsStopsAndHostileTextStaysText() throws {
        let fixture = try ChatServerFixture(adminPassword: Self.password, serveArguments: ["--password-iterations", "1000"])
        defer { fixture.stop() }
        let output = Peers.packageRoot.appendingPathComponent("test-output/web").path
        let result = try Peers.run(Peers.python, [Peers.script("web_ui_test.py"), "--url=http://127.0.0.1:\(fixture.port)",
                                                  "--email=ada@example.com", "--password=\(Self.password)",
                                                  "--project=\(fixture.project)", "--out=\(output)"], timeout: 240)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let log = (try? String(contentsOfFile: fixture.logPath, encoding: .utf8)) ?? ""
        #expect(!log.contains("wst_"), "WebSocket tickets never reach the log")
    }
}
