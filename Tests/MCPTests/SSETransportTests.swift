import Foundation
import Net
import TestSupport
import Testing
@testable import MCP

/// SSETransport (HTTP+SSE, 2024-11-05) against the official Python SDK server in its `sse` mode.
/// The harness, the recorder and the message builders live in StreamableHTTPTransportTests.swift.
@Suite struct SSETransportTests {
    @Test func queuesUntilTheEndpointArrivesThenRoundTrips() throws {
        try TransportHarness.withPeer(["--transport", "sse"]) { peer, harness in
            let transport = harness.sse(peer.mcpURL("/sse"))
            // Sent at once, before the endpoint event can have arrived: it waits in the queue.
            let initialized = harness.roundTrip(transport, Wire.initialize(1, version: "2024-11-05"))
            #expect(initialized?.resultValue?["protocolVersion"] == .string("2024-11-05"))
            harness.onLoop {
                transport.send(.notification(method: "notifications/initialized", params: nil), options: MCPSendOptions())
                transport.negotiated(version: "2024-11-05", era: .legacy)
            }
            let call = harness.roundTrip(transport, Wire.call(2, "add", ["a": .number(2), "b": .number(3)]))
            #expect(call?.resultValue?["structuredContent"]?["result"] == .number(5))
            let whoami = harness.roundTrip(transport, Wire.call(3, "whoami", [:]))
            #expect(whoami?.resultValue?["structuredContent"]?["result"] == .string("mcp-test-server"))

            harness.onLoop { transport.close(grace: .seconds(1)) }
            #expect(harness.recorder.wait { $0.closes.count == 1 })
            #expect(harness.recorder.snapshot.closes == [nil])
            #expect(harness.recorder.snapshot.failures.isEmpty)
        }
    }

    @Test func aKilledServerLosesTheStreamAndFailsWaitingRequests() throws {
        try TransportHarness.withPeer(["--transport", "sse"]) { peer, harness in
            let transport = harness.sse(peer.mcpURL("/sse"))
            #expect(harness.roundTrip(transport, Wire.initialize(1, version: "2024-11-05"))?.resultValue != nil)
            harness.onLoop {
                transport.send(.notification(method: "notifications/initialized", params: nil), options: MCPSendOptions())
                transport.send(Wire.call(2, "sleep", ["seconds": .number(5)]), options: MCPSendOptions())
            }
            usleep(500_000)
            peer.stop()
            #expect(harness.recorder.wait { $0.closes.count == 1 && $0.failures.count == 1 })
            let state = harness.recorder.snapshot
            guard case .lost? = state.closes.first ?? nil else {
                Issue.record("expected lost, got \(state.closes)")
                return
            }
            #expect(state.failures.first?.id == .number(2))
            guard case .mayHaveBeenDelivered? = state.failures.first?.failure else {
                Issue.record("expected mayHaveBeenDelivered, got \(state.failures)")
                return
            }
        }
    }

    @Test func aRefusedConnectionIsUnavailableAndQueuedRequestsWereNotDelivered() throws {
        let port = try TransportHarness.unusedPort()
        try TransportHarness.with { harness in
            let transport = harness.sse("http://127.0.0.1:\(port)/sse")
            harness.onLoop { transport.send(Wire.initialize(1), options: MCPSendOptions()) }
            #expect(harness.recorder.wait { $0.closes.count == 1 && $0.failures.count == 1 })
            let state = harness.recorder.snapshot
            guard case .unavailable? = state.closes.first ?? nil, case .notDelivered? = state.failures.first?.failure else {
                Issue.record("expected unavailable and notDelivered, got \(state.closes) \(state.failures)")
                return
            }
        }
    }

    /// The Streamable HTTP endpoint answers a bare GET with an error, never an `endpoint` event.
    @Test func aServerWithoutTheLegacyStreamIsUnavailable() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let transport = harness.sse(peer.mcpURL("/mcp"))
            #expect(withExtendedLifetime(transport) { harness.recorder.wait { $0.closes.count == 1 } })
            guard case .unavailable? = harness.recorder.snapshot.closes.first ?? nil else {
                Issue.record("expected unavailable, got \(harness.recorder.snapshot.closes)")
                return
            }
        }
    }

    /// A legacy Streamable HTTP session's GET stream stays open and silent (the SDK sends its head only
    /// with the first event), which is what a server that never announces an endpoint looks like.
    @Test func aStreamThatNeverAnnouncesItsEndpointIsUnavailable() throws {
        try TransportHarness.withPeer(["--transport", "streamable-http"]) { peer, harness in
            let head = try Peers.run("curl", ["-s", "-D", "-", "-o", "/dev/null", "-X", "POST", peer.mcpURL("/mcp"),
                                              "-H", "Content-Type: application/json", "-H", "Accept: application/json, text/event-stream",
                                              "-d", Wire.initialize(1).json.serializedString]).stdout
            let session = head.split(whereSeparator: \.isNewline)
                .first { $0.lowercased().hasPrefix("mcp-session-id:") }
                .map { MCPHTTPHeaders.trimmed(String($0.dropFirst("mcp-session-id:".count))) }
            #expect(session != nil)
            let transport = harness.sse(peer.mcpURL("/mcp"), headers: [("Mcp-Session-Id", session ?? "")], connectTimeout: .seconds(1))
            harness.onLoop { transport.send(Wire.initialize(1), options: MCPSendOptions()) }
            #expect(harness.recorder.wait(seconds: 10) { $0.closes.count == 1 && $0.failures.count == 1 })
            let state = harness.recorder.snapshot
            #expect(state.closes == [.unavailable("no endpoint event")])
            #expect(state.failures.first?.failure == .notDelivered("unavailable: no endpoint event"))
        }
    }

    @Test func theEndpointResolvesOnlyWithinTheStreamsOrigin() {
        let base = "http://user:pw@Example.com:8080/mcp/sse?x=1"
        let resolve = { SSETransport.resolve(endpoint: $0, against: base) }
        #expect(resolve("/messages/?session_id=ab") == "http://user:pw@Example.com:8080/messages/?session_id=ab")
        #expect(resolve("messages?session_id=ab") == "http://user:pw@Example.com:8080/mcp/messages?session_id=ab")
        #expect(resolve("http://example.com:8080/m?s=1") == "http://user:pw@Example.com:8080/m?s=1")
        #expect(resolve("//example.com:8080/m") == "http://user:pw@Example.com:8080/m")
        #expect(resolve("http://evil.example:8080/m") == nil)
        #expect(resolve("https://example.com:8080/m") == nil)
        #expect(resolve("//evil.example/m") == nil)
        #expect(resolve("") == nil)
        #expect(SSETransport.resolve(endpoint: "/m", against: "https://h") == "https://h/m")
        #expect(SSETransport.resolve(endpoint: "https://h:443/m", against: "https://h") == "https://h/m")
    }
}
