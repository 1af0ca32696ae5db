import Foundation
import Net
import TestSupport
import Testing
@testable import MCP

/// StreamableHTTPTransport against the official Python SDK server (Tests/Peers/mcp_test_server.py),
/// driven with hand-built JSON-RPC messages in both eras.
@Suite struct StreamableHTTPTransportTests {
    // MARK: Modern era (2026-07-28)

    @Test func discoversListsAndCallsAToolStatelessly() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            let discover = harness.roundTrip(transport, Wire.modern(1, "server/discover"))
            let versions = discover?.resultValue?["supportedVersions"]?.arrayValue ?? []
            #expect(versions.contains(.string("2026-07-28")))

            let list = harness.roundTrip(transport, Wire.modern(2, "tools/list"))
            let names = (list?.resultValue?["tools"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            #expect(names.contains("add"))

            // The SDK refuses a tools/call whose Mcp-Name header is missing or differs from the body,
            // so an answer at all shows the routing headers were right.
            let call = harness.roundTrip(transport, Wire.modern(3, "tools/call", ["name": .string("add"),
                                                                                  "arguments": .object(["a": .number(2), "b": .number(3)])]))
            #expect(call?.resultValue?["structuredContent"]?["result"] == .number(5))
            #expect(harness.recorder.snapshot.closes.isEmpty)
        }
    }

    @Test func progressNotificationsArriveBeforeTheirResponse() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            let call = Wire.modern(1, "tools/call", ["name": .string("progress"), "arguments": .object(["steps": .number(3)])],
                                   meta: ["progressToken": .string("tok")])
            let answer = harness.roundTrip(transport, call)
            #expect(answer?.resultValue?["structuredContent"]?["result"] == .string("done"))
            let methods = harness.recorder.snapshot.messages.map { $0.method ?? "response" }
            #expect(methods == ["notifications/progress", "notifications/progress", "notifications/progress", "response"])
        }
    }

    @Test func aToolNameOutsidePlainASCIITravelsInTheBase64Sentinel() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            // No such tool: the server must decode Mcp-Name, find it equal to the body and say so in a
            // result, rather than refuse the headers with HeaderMismatch.
            for (index, name) in ["wörld", " padded ", "=?base64?x?="].enumerated() {
                let answer = harness.roundTrip(transport, Wire.modern(Int64(index + 1), "tools/call", ["name": .string(name)]))
                if case .failure(_, let error)? = answer {
                    #expect(error.code != JSONRPCError.headerMismatch, "\(name): \(error)")
                }
                #expect(answer != nil)
            }
        }
    }

    // MARK: Legacy era (2025-11-25)

    @Test func aLegacySessionCarriesItsIdListensOnGetAndEndsWithDelete() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            let initialized = harness.roundTrip(transport, Wire.initialize(1))
            #expect(initialized?.resultValue?["protocolVersion"] == .string("2025-11-25"))
            let session = harness.onLoop { transport.sessionID }
            #expect(session != nil)
            harness.onLoop {
                transport.send(.notification(method: "notifications/initialized", params: nil), options: MCPSendOptions())
                transport.negotiated(version: "2025-11-25", era: .legacy)
            }
            #expect(harness.roundTrip(transport, .request(id: .number(2), method: "ping", params: nil))?.resultValue == .object([:]))
            let echo = harness.roundTrip(transport, Wire.call(3, "echo", ["text": .string("hi")]))
            #expect(echo?.resultValue?["structuredContent"]?["result"] == .string("hi"))

            // The server drops list_changed while no GET stream is registered, and its GET answer has
            // no head until the first event; so add tools until the notification arrives on the stream.
            var sawListChanged = false
            for attempt in 0..<20 where !sawListChanged {
                _ = harness.roundTrip(transport, Wire.call(Int64(10 + attempt), "add_tool", ["name": .string("t\(attempt)")]))
                sawListChanged = harness.recorder.wait(seconds: 0.5) { state in
                    state.messages.contains { $0.method == "notifications/tools/list_changed" }
                }
            }
            #expect(sawListChanged)

            harness.onLoop { transport.close(grace: .seconds(2)) }
            #expect(harness.recorder.wait { $0.closes.count == 1 })
            #expect(harness.recorder.snapshot.closes == [nil])
            // DELETE ended the session: the server no longer knows its id.
            let status = try Peers.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", peer.mcpURL("/mcp"),
                                                "-H", "Content-Type: application/json", "-H", "Accept: application/json, text/event-stream",
                                                "-H", "Mcp-Session-Id: \(session ?? "")", "-H", "MCP-Protocol-Version: 2025-11-25",
                                                "-d", #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#]).stdout
            #expect(status == "404")
        }
    }

    @Test func aServerThatForgotTheSessionExpiresItAndFailsRequestsAsNotDelivered() throws {
        var peer = try PeerServer(script: "mcp_test_server.py", arguments: ["--transport", "streamable-http"])
        defer { peer.stop() }
        try TransportHarness.with { harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            #expect(harness.roundTrip(transport, Wire.initialize(1))?.resultValue != nil)
            harness.onLoop {
                transport.send(.notification(method: "notifications/initialized", params: nil), options: MCPSendOptions())
                transport.negotiated(version: "2025-11-25", era: .legacy)
            }
            // A restarted replica on the same port knows nothing of the session.
            let port = peer.port
            peer.stop()
            peer = try PeerServer(script: "mcp_test_server.py", arguments: ["--transport", "streamable-http", "--port", String(port)])
            harness.onLoop { transport.send(.request(id: .number(2), method: "ping", params: nil), options: MCPSendOptions()) }
            #expect(harness.recorder.wait { $0.closes.count == 1 && $0.failures.count == 1 })
            let state = harness.recorder.snapshot
            #expect(state.closes == [.sessionExpired])
            guard case .notDelivered? = state.failures.first?.failure else {
                Issue.record("expected notDelivered, got \(String(describing: state.failures.first))")
                return
            }
            #expect(harness.onLoop { transport.sessionID } == nil)
        }
    }

    @Test func aDroppedGetStreamIsReopenedAndFindsTheSessionGone() throws {
        var peer = try PeerServer(script: "mcp_test_server.py", arguments: ["--transport", "streamable-http"])
        defer { peer.stop() }
        try TransportHarness.with { harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            #expect(harness.roundTrip(transport, Wire.initialize(1))?.resultValue != nil)
            harness.onLoop {
                transport.send(.notification(method: "notifications/initialized", params: nil), options: MCPSendOptions())
                transport.negotiated(version: "2025-11-25", era: .legacy)
            }
            usleep(300_000)
            let port = peer.port
            peer.stop()
            peer = try PeerServer(script: "mcp_test_server.py", arguments: ["--transport", "streamable-http", "--port", String(port)])
            // Nothing is sent: only the GET stream, reopened with backoff, can learn that the session is gone.
            #expect(harness.recorder.wait(seconds: 15) { $0.closes.count == 1 })
            #expect(harness.recorder.snapshot.closes == [.sessionExpired])
            #expect(harness.recorder.snapshot.failures.isEmpty)
        }
    }

    // MARK: Failures

    @Test func aRefusedConnectionIsNotDelivered() throws {
        let port = try TransportHarness.unusedPort()
        try TransportHarness.with { harness in
            let transport = harness.streamable("http://127.0.0.1:\(port)/mcp")
            harness.onLoop { transport.send(Wire.modern(1, "server/discover"), options: MCPSendOptions()) }
            #expect(harness.recorder.wait { $0.failures.count == 1 })
            guard case .notDelivered? = harness.recorder.snapshot.failures.first?.failure else {
                Issue.record("expected notDelivered, got \(harness.recorder.snapshot.failures)")
                return
            }
        }
    }

    @Test func aServerKilledMidCallMayHaveRunIt() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            harness.onLoop {
                transport.send(Wire.modern(1, "tools/call", ["name": .string("sleep"), "arguments": .object(["seconds": .number(5)])]),
                               options: MCPSendOptions())
            }
            usleep(700_000)
            peer.stop()
            #expect(harness.recorder.wait { $0.failures.count == 1 })
            guard case .mayHaveBeenDelivered? = harness.recorder.snapshot.failures.first?.failure else {
                Issue.record("expected mayHaveBeenDelivered, got \(harness.recorder.snapshot.failures)")
                return
            }
        }
    }

    /// What a client meets when it tries the modern protocol on a legacy HTTP+SSE server: 405 from the
    /// stream URL, 400 from the message endpoint. Neither body is JSON-RPC.
    @Test(arguments: [("/sse", 405), ("/messages/", 400)])
    func aLegacyServersRefusalBecomesAFailureCarryingItsStatus(path: String, status: Int) throws {
        try TransportHarness.withPeer(["--transport", "sse"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL(path))
            let answer = harness.roundTrip(transport, Wire.modern(1, "server/discover"))
            guard case .failure(let id, let error)? = answer else {
                Issue.record("expected a failure, got \(String(describing: answer))")
                return
            }
            #expect(id == .number(1))
            #expect(error.code == JSONRPCError.httpStatus)
            #expect(error.httpStatus == status)
            #expect(error.message.hasPrefix("HTTP \(status)"))
        }
    }

    @Test func anAbandonedCallIsCancelledAndNeverReported() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            harness.onLoop {
                transport.send(Wire.modern(1, "tools/call", ["name": .string("sleep"), "arguments": .object(["seconds": .number(1)])]),
                               options: MCPSendOptions())
            }
            usleep(200_000)
            harness.onLoop { transport.abandon(.number(1)) }
            // Well past the call's end: neither its answer nor a failure may surface.
            #expect(!harness.recorder.wait(seconds: 2) { !$0.messages.isEmpty || !$0.failures.isEmpty })
            #expect(harness.roundTrip(transport, Wire.modern(2, "tools/list")) != nil)
        }
    }

    @Test func closingFailsWaitingRequestsAndReportsOnce() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.streamable(peer.mcpURL("/mcp"))
            harness.onLoop {
                transport.send(Wire.modern(1, "tools/call", ["name": .string("sleep"), "arguments": .object(["seconds": .number(5)])]),
                               options: MCPSendOptions())
            }
            usleep(200_000)
            harness.onLoop {
                transport.close(grace: .seconds(1))
                transport.close(grace: .seconds(1))
                transport.send(Wire.modern(2, "tools/list"), options: MCPSendOptions())
            }
            #expect(harness.recorder.wait { $0.closes.count == 1 && $0.failures.count == 2 })
            let state = harness.recorder.snapshot
            #expect(state.closes == [nil])
            #expect(state.failures.first { $0.id == .number(1) }?.failure == .mayHaveBeenDelivered("transport closed"))
            #expect(state.failures.first { $0.id == .number(2) }?.failure == .notDelivered("transport closed"))
            #expect(!harness.recorder.wait(seconds: 0.3) { $0.closes.count > 1 })
        }
    }
}

// MARK: Harness (shared with SSETransportTests)

/// One loop on its own thread, an HTTP client on it, and a recorder that every transport built here
/// reports to; torn down at the end.
final class TransportHarness: @unchecked Sendable {
    // Invariant: immutable after init; the transports it builds are touched only through `onLoop`.
    let group: EventLoopGroup
    let client: HTTPClient
    let recorder = TransportRecorder()
    var loop: EventLoop { group.loops[0] }

    init() throws {
        group = try EventLoopGroup(loopCount: 1)
        client = HTTPClient(loop: group.loops[0])
        try group.start()
    }

    /// Runs `body` on the loop and waits for its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        loop.executeAndWait(body)
    }

    func streamable(_ url: String) -> StreamableHTTPTransport {
        let transport = StreamableHTTPTransport(loop: loop, client: client, url: url, headers: [("X-Test", "secret")])
        let recorder = recorder
        onLoop {
            transport.delegate = recorder
            transport.open()
        }
        return transport
    }

    func sse(_ url: String, headers: [(name: String, value: String)] = [("X-Test", "secret")],
             connectTimeout: Duration = .seconds(5)) -> SSETransport {
        let transport = SSETransport(loop: loop, client: client, url: url, headers: headers, connectTimeout: connectTimeout)
        let recorder = recorder
        onLoop {
            transport.delegate = recorder
            transport.open()
        }
        return transport
    }

    /// Sends a request and waits for the message that answers it (a response or a failure).
    func roundTrip(_ transport: any MCPTransport & Sendable, _ request: JSONRPCMessage, seconds: Double = 10) -> JSONRPCMessage? {
        guard let id = request.id else { return nil }
        onLoop { transport.send(request, options: MCPSendOptions()) }
        var answer: JSONRPCMessage?
        _ = recorder.wait(seconds: seconds) { state in
            answer = state.messages.first { $0.id == id && $0.method == nil }
            return answer != nil || state.failures.contains { $0.id == id }
        }
        return answer
    }

    func shutdown() {
        let client = client
        onLoop { client.close() }
        group.shutdown()
    }
}

/// Everything a transport told its delegate, for the test thread to inspect.
final class TransportRecorder: MCPTransportDelegate, @unchecked Sendable {
    // Invariant: mutable state lives in `state`, behind its lock; callbacks arrive on the loop thread.
    struct State {
        var messages: [JSONRPCMessage] = []
        var failures: [(id: JSONRPCID, failure: MCPDeliveryFailure)] = []
        var closes: [MCPTransportError?] = []
    }

    let state = Locked(State())
    var snapshot: State { state.withLock { $0 } }

    func transport(_ transport: any MCPTransport, didReceive message: JSONRPCMessage) {
        state.withLock { $0.messages.append(message) }
    }

    func transport(_ transport: any MCPTransport, requestFailed id: JSONRPCID, _ failure: MCPDeliveryFailure) {
        state.withLock { $0.failures.append((id, failure)) }
    }

    func transportDidClose(_ transport: any MCPTransport, error: MCPTransportError?) {
        state.withLock { $0.closes.append(error) }
    }

    /// Polls until `condition` holds, for at most `seconds`; returns whether it came to hold.
    func wait(seconds: Double = 10, until condition: (State) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(snapshot) { return true }
            usleep(10_000)
        }
        return condition(snapshot)
    }
}

extension TransportHarness {
    static func with(_ body: (TransportHarness) throws -> Void) throws {
        let harness = try TransportHarness()
        defer { harness.shutdown() }
        try body(harness)
    }

    /// Starts the SDK test server with `arguments`, and a harness; both torn down at the end.
    static func withPeer(_ arguments: [String], _ body: (PeerServer, TransportHarness) throws -> Void) throws {
        let peer = try PeerServer(script: "mcp_test_server.py", arguments: arguments)
        defer { peer.stop() }
        try with { try body(peer, $0) }
    }

    /// A port nothing listens on: bound by us for a moment, then released.
    static func unusedPort() throws -> Int {
        let listener = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        defer { close(listener) }
        return Socket.localAddress(listener)?.port ?? 1
    }
}

extension PeerServer {
    func mcpURL(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
}

extension JSONRPCMessage {
    var resultValue: JSONValue? {
        if case .response(_, let result) = self { return result }
        return nil
    }
}

/// Hand-built JSON-RPC messages, as a session of either era would send them.
enum Wire {
    static let clientInfo: JSONValue = .object(["name": .string("transport-tests"), "version": .string("1.0.0")])

    /// A 2026-07-28 request: its version, our identity and capabilities ride in `_meta`.
    static func modern(_ id: Int64, _ method: String, _ params: [String: JSONValue] = [:],
                       meta extra: [String: JSONValue] = [:]) -> JSONRPCMessage {
        var meta: [String: JSONValue] = [
            "io.modelcontextprotocol/protocolVersion": .string("2026-07-28"),
            "io.modelcontextprotocol/clientInfo": clientInfo,
            "io.modelcontextprotocol/clientCapabilities": .object([:]),
        ]
        meta.merge(extra) { $1 }
        var params = params
        params["_meta"] = .object(meta)
        return .request(id: .number(id), method: method, params: .object(params))
    }

    static func initialize(_ id: Int64, version: String = "2025-11-25") -> JSONRPCMessage {
        .request(id: .number(id), method: "initialize", params: .object([
            "protocolVersion": .string(version), "capabilities": .object([:]), "clientInfo": clientInfo,
        ]))
    }

    /// A legacy tools/call.
    static func call(_ id: Int64, _ tool: String, _ arguments: [String: JSONValue]) -> JSONRPCMessage {
        .request(id: .number(id), method: "tools/call", params: .object(["name": .string(tool), "arguments": .object(arguments)]))
    }
}
