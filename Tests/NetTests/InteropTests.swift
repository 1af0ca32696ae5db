import Foundation
import TestSupport
import Testing
@testable import Net

/// The server against real clients nobody here wrote: Python `websockets` and curl.
@Suite struct InteropTests {
    @Test(arguments: [false, true])
    func pythonWebsocketsClientGetsEveryEchoBack(compression: Bool) throws {
        try withTestServer { server in
            var arguments = [Peers.script("ws_echo_client.py"), "ws://127.0.0.1:\(server.port)/ws/echo"]
            if compression { arguments += ["--compression", "--expect-extension"] }
            let result = try Peers.run(Peers.python, arguments)
            #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
            #expect(result.stdout.contains("500 pipelined messages in order"))
            #expect(result.stdout.contains("closed cleanly with 4000"))
        }
    }

    @Test func curlReusesAKeepAliveConnection() throws {
        try withTestServer { server in
            let url = "http://127.0.0.1:\(server.port)/hello"
            let result = try Peers.run("curl", ["-sv", url, url])
            #expect(result.status == 0)
            #expect(result.stdout == "hellohello")
            #expect(result.stderr.contains("Re-using existing connection") || result.stderr.contains("Reusing existing connection"))
            #expect(server.server.metrics.accepted.load(ordering: .relaxed) == 1)
        }
    }

    @Test func curlUploadsAChunkedBodyWithExpectContinue() throws {
        try withTestServer { server in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("builderai-upload-\(UUID()).bin")
            let payload = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
            try payload.write(to: path)
            defer { try? FileManager.default.removeItem(at: path) }
            let result = try Peers.run("curl", ["-sv", "--data-binary", "@\(path.path)", "-H", "Transfer-Encoding: chunked",
                                                "-H", "Expect: 100-continue", "-H", "Content-Type: application/octet-stream",
                                                "-o", path.path + ".out", "http://127.0.0.1:\(server.port)/echo"])
            defer { try? FileManager.default.removeItem(atPath: path.path + ".out") }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("HTTP/1.1 100 Continue"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path.path + ".out")) == payload)
        }
    }

    @Test func curlSeesHeadAndHTTP10Semantics() throws {
        try withTestServer { server in
            let head = try Peers.run("curl", ["-sI", "http://127.0.0.1:\(server.port)/hello"])
            #expect(head.stdout.hasPrefix("HTTP/1.1 200 OK"))
            #expect(head.stdout.contains("Content-Length: 5"))
            let old = try Peers.run("curl", ["-s0", "-D", "-", "http://127.0.0.1:\(server.port)/hello"])
            #expect(old.stdout.contains("Connection: close"))
            #expect(old.stdout.hasSuffix("hello"))
        }
    }

    @Test func curlGetsAProblemDocumentForAnOversizedBody() throws {
        try withTestServer(configure: { $0.parserLimits.maxBodyBytes = 1000 }) { server in
            let result = try Peers.run("curl", ["-s", "-w", "\n%{http_code}", "--data-binary", String(repeating: "a", count: 5000),
                                                "http://127.0.0.1:\(server.port)/echo"])
            #expect(result.stdout.hasSuffix("413"))
            #expect(result.stdout.contains("\"status\":413"))
        }
    }
}
