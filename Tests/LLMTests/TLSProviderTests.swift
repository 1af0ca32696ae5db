import Dispatch
import Foundation
import Net
import Testing
import TestSupport
@testable import LLM

/// The router against an OpenAI-compatible provider over https with HTTP/2: hypercorn with a
/// throwaway CA (Tests/Peers/fake_openai_h2.py), trusted through BUILDERAI_PROVIDER_CA_BUNDLE, as
/// a private gateway would be.
@Suite struct TLSProviderTests {
    @Test func aGenerationStreamsOverHTTP2FromAnHTTPSProvider() throws {
        let peer = try TLSProviderPeer()
        defer { peer.stop() }
        let harness = try RouterHarness(environment: environment(peer))
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["openai/gpt-test"])
        #expect(text(events) == "Hello from the fake OpenAI.")
        #expect(events.contains { $0.0 == .usage(TokenUsage(inputTokens: 12, outputTokens: 4)) })
        #expect(events.last?.0 == .finished(.end))
        #expect(events.allSatisfy { $0.1 == "openai/gpt-test" })

        let request = try #require(try peer.recordedRequests().first)
        #expect(request["http_version"] as? String == "2", "the provider saw HTTP/\(request["http_version"] ?? "?")")
        #expect(request["path"] as? String == "/v1/chat/completions")
        let headers = request["headers"] as? [String: String] ?? [:]
        #expect(headers["authorization"] == "Bearer sk-test")
        #expect(headers["host"] == "localhost:\(peer.port)")
        let body = request["body"] as? [String: Any] ?? [:]
        #expect(body["model"] as? String == "gpt-test")
        #expect(body["stream"] as? Bool == true)
    }

    /// The router's one client per loop is what lets a burst of generations share a connection:
    /// each stream waits for the first connection's ALPN answer instead of opening its own.
    @Test func concurrentGenerationsShareOneHTTP2Connection() throws {
        let count = 6
        let peer = try TLSProviderPeer()
        defer { peer.stop() }
        var settings = environment(peer)
        // The peer answers none until all are in flight: they must overlap, not take turns.
        settings["OPENAI_EXTRA_HEADERS"] = #"{"X-Fake-Barrier": "\#(count)"}"#
        let harness = try RouterHarness(environment: settings)
        defer { harness.stop() }
        let collected = Locked<[Int: [LLMStreamEvent]]>([:])
        let done = DispatchSemaphore(value: 0)
        harness.onLoop {
            harness.withRouter { router in
                for index in 0..<count {
                    router.generate(hello, chain: [ModelReference(provider: "openai", model: "gpt-test")]) { event, _ in
                        collected.withLock { $0[index, default: []].append(event) }
                        switch event {
                        case .finished, .error: done.signal()
                        default: break
                        }
                    }
                }
            }
        }
        for _ in 0..<count { #expect(done.wait(timeout: .now() + 20) == .success) }
        let streams = collected.withLock { $0 }
        #expect(streams.count == count)
        for (_, events) in streams {
            #expect(events.last == .finished(.end), "\(events)")
            #expect(events.compactMap { if case .textDelta(let t) = $0 { t } else { nil } }.joined() == "Hello from the fake OpenAI.")
        }

        let requests = try peer.recordedRequests()
        #expect(requests.count == count)
        #expect(requests.allSatisfy { $0["http_version"] as? String == "2" })
        #expect(requests.allSatisfy { $0["barrier_met"] as? Bool == true }, "the generations did not overlap")
        let ports = Set(requests.compactMap { $0["client_port"] as? Int })
        #expect(ports.count == 1, "\(count) generations used \(ports.count) connections")
    }

    /// Without the CA the provider's certificate is refused: a prompt network error naming the
    /// certificate problem (retried once, then the chain ends), never a request on the wire.
    @Test func aProviderWhoseCertificateIsNotTrustedFailsPromptly() throws {
        let peer = try TLSProviderPeer()
        defer { peer.stop() }
        var settings = environment(peer)
        settings["BUILDERAI_PROVIDER_CA_BUNDLE"] = nil
        let harness = try RouterHarness(environment: settings)
        defer { harness.stop() }
        let start = ContinuousClock.now
        let events = try harness.run(hello, chain: ["openai/gpt-test"])
        #expect(ContinuousClock.now - start < .seconds(5))
        guard case .error(.network(let message)) = events.last?.0 else {
            Issue.record("expected a network error, got \(String(describing: events.last))")
            return
        }
        #expect(message.hasPrefix("could not connect:") && message.contains("certificate"), "\(message)")
        let requests = try peer.recordedRequests()
        #expect(requests.isEmpty)
    }

    @Test func aCABundleThatCannotBeReadIsRefusedWhenTheRegistryIsBuilt() {
        #expect {
            _ = try ProviderRegistry.fromEnvironment(["BUILDERAI_PROVIDER_CA_BUNDLE": "/nonexistent/ca.pem"])
        } throws: { error in
            error as? LLMError == .badRequest("BUILDERAI_PROVIDER_CA_BUNDLE: cannot read /nonexistent/ca.pem")
        }
        #expect((try? ProviderRegistry.fromEnvironment([:]))?.caBundlePath == nil)
    }
}

private func environment(_ peer: TLSProviderPeer) -> [String: String] {
    ["OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "https://localhost:\(peer.port)/v1",
     "BUILDERAI_PROVIDER_CA_BUNDLE": peer.caPath]
}

private func text(_ events: [(LLMStreamEvent, String)]) -> String {
    events.compactMap { if case .textDelta(let t) = $0.0 { t } else { nil } }.joined()
}

private let hello = LLMRequest(system: "Be brief.", messages: [ChatMessage(role: .user, parts: [.text("Hello")])],
                               options: GenerationOptions(model: "unused"))
