import Dispatch
import Foundation
import Net
import Testing
import TestSupport
@testable import LLM

/// Runs a router on a loop thread of its own and collects what a generation emits.
final class RouterHarness: @unchecked Sendable {
    // Invariant: `router` is created and used only on the loop (through `onLoop`).
    let group: EventLoopGroup
    private var router: LLMRouter?

    init(environment: [String: String], policy: RetryPolicy = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10)),
         breaker: CircuitBreaker = CircuitBreaker(), timeouts: ProviderTimeouts = ProviderTimeouts()) throws {
        group = try EventLoopGroup(loopCount: 1)
        try group.start()
        let registry = try ProviderRegistry.fromEnvironment(environment)
        onLoop {
            let router = LLMRouter(loop: self.group.loops[0], registry: registry, breaker: breaker)
            router.retryPolicy = policy
            router.timeouts = timeouts
            self.router = router
        }
    }

    func onLoop(_ body: @escaping @Sendable () -> Void) {
        group.loops[0].executeAndWait(body)
    }

    /// Runs one generation to its end; `afterFirstOutput` runs on the loop after the first delta.
    func run(_ request: LLMRequest, chain: [String], afterFirstOutput: (@Sendable (Generation) -> Void)? = nil) throws
        -> [(LLMStreamEvent, String)] {
        let collected = Locked<[(LLMStreamEvent, String)]>([])
        let done = DispatchSemaphore(value: 0)
        let references = try chain.map { text throws(LLMError) in
            guard let reference = ModelReference(text) else { throw .badRequest(text) }
            return reference
        }
        onLoop {
            let holder = GenerationHolder()
            holder.generation = self.router!.generate(request, chain: references) { event, reference in
                let isFirstOutput = collected.withLock { events in
                    events.append((event, reference.description))
                    return events.filter { if case .textDelta = $0.0 { true } else { false } }.count == 1
                }
                if case .textDelta = event, isFirstOutput, let afterFirstOutput, let generation = holder.generation {
                    afterFirstOutput(generation)
                }
                switch event {
                case .finished, .error: done.signal()
                default: break
                }
            }
        }
        guard done.wait(timeout: .now() + 20) == .success else { throw PeerError("the generation did not end") }
        return collected.withLock { $0 }
    }

    /// Runs `body` with the router; call only from inside `onLoop`.
    func withRouter(_ body: (LLMRouter) -> Void) {
        if let router { body(router) }
    }

    func stop() {
        onLoop { self.router?.close() }
        group.shutdown()
    }
}

/// Lets an event callback reach the generation it belongs to.
private final class GenerationHolder: @unchecked Sendable {
    // Invariant: set and read only on the router's loop.
    var generation: Generation?
}

private func text(_ events: [(LLMStreamEvent, String)]) -> String {
    events.compactMap { if case .textDelta(let t) = $0.0 { t } else { nil } }.joined()
}

private let hello = LLMRequest(system: "Be brief.", messages: [ChatMessage(role: .user, parts: [.text("Hello")])],
                               options: GenerationOptions(model: "unused"))

@Suite(.serialized) struct RouterTests {
    @Test func aGenerationWhoseHandleIsDroppedStillRunsToTheEnd() throws {
        let harness = try RouterHarness(environment: [:])
        defer { harness.stop() }
        let finished = DispatchSemaphore(value: 0)
        harness.onLoop {
            harness.withRouter { router in
                router.generate(hello, chain: []) { event, _ in
                    if case .finished = event { finished.signal() }
                }
            }
        }
        #expect(finished.wait(timeout: .now() + 10) == .success)
    }

    @Test func answersOfflineWhenNoProviderKeyIsConfigured() throws {
        let harness = try RouterHarness(environment: [:])
        defer { harness.stop() }
        let events = try harness.run(hello, chain: [])
        #expect(text(events).contains("offline provider"))
        #expect(events.last?.0 == .finished(.end))
        #expect(events.allSatisfy { $0.1 == "offline/offline" })
    }

    @Test func streamsAnOpenAIReplyAndSendsWhatTheWireFormatRequires() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"])
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["openai/text"])
        #expect(!text(events).isEmpty)
        #expect(events.contains { if case .usage = $0.0 { true } else { false } })
        #expect(events.last?.0 == .finished(.end))
        let request = try #require(try fake.recordedRequests().first)
        #expect(request["path"] as? String == "/v1/chat/completions")
        let headers = request["headers"] as? [String: String] ?? [:]
        #expect(headers["Authorization"] == "Bearer sk-test")
        let body = request["body"] as? [String: Any] ?? [:]
        #expect(body["stream"] as? Bool == true)
        #expect(body["model"] as? String == "text")
    }

    @Test func assemblesAnthropicToolCallsSplitAcrossChunks() throws {
        let fake = try PeerServer(script: "fake_anthropic.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["ANTHROPIC_API_KEY": "ak-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"])
        defer { harness.stop() }
        var request = hello
        request.tools = [ToolDefinition(name: "get_weather", description: "Weather", parametersJSON: #"{"type":"object"}"#)]
        let events = try harness.run(request, chain: ["anthropic/tools"])
        let finished = events.compactMap { if case .toolCallFinished(_, _, _, let arguments, _) = $0.0 { arguments } else { nil } }
        #expect(finished.count == 2)
        #expect(finished.allSatisfy { (try? JSONValue.parse($0)) != nil })
        #expect(events.last?.0 == .finished(.toolUse))
        let headers = try #require(try fake.recordedRequests().first)["headers"] as? [String: String] ?? [:]
        #expect(headers["x-api-key"] == "ak-test")
        #expect(headers["anthropic-version"] == "2023-06-01")
    }

    @Test func retriesARateLimitThenFallsBackToTheNextModel() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"])
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["openai/rate_limit", "offline/offline"])
        #expect(try fake.recordedRequests().count == 2, "one try and one retry after Retry-After")
        #expect(events.last?.0 == .finished(.end))
        #expect(events.last?.1 == "offline/offline")
    }

    @Test func extraHeadersFromTheEnvironmentReachAnAzureStyleDeployment() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        // An Azure-style deployment: the deployment path and api-version in the base URL, the key in api-key.
        let harness = try RouterHarness(environment: [
            "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/openai/deployments/prod?api-version=2024-10-21",
            "OPENAI_EXTRA_HEADERS": #"{"api-key": "azure-secret", "X-Team": "chat"}"#,
        ])
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["openai/text"])
        #expect(events.last?.0 == .finished(.end))
        let request = try #require(try fake.recordedRequests().first)
        #expect(request["path"] as? String == "/openai/deployments/prod/chat/completions")
        #expect((request["query"] as? [String: [String]])?["api-version"] == ["2024-10-21"])
        let headers = request["headers"] as? [String: String] ?? [:]
        #expect(headers["api-key"] == "azure-secret" && headers["X-Team"] == "chat")
        #expect(headers["Authorization"] == nil, "no key configured, so no bearer header")
    }

    @Test(arguments: [#"["not", "an object"]"#, #"{"api-key": 5}"#, #"{"bad name": "SECRET1"}"#, #"{"a": "SECRET2\nmore"}"#])
    func malformedExtraHeadersAreRefusedWithoutEchoingValues(value: String) {
        #expect {
            _ = try ProviderRegistry.fromEnvironment(["OPENAI_EXTRA_HEADERS": value])
        } throws: { error in
            "\(error)".contains("OPENAI_EXTRA_HEADERS") && !"\(error)".contains("SECRET")
        }
    }

    @Test func neverRetriesOnceOutputReachedTheCaller() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"])
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["openai/drop", "offline/offline"])
        #expect(!text(events).isEmpty)
        guard case .error(.network) = events.last?.0 else {
            Issue.record("expected a network error, got \(String(describing: events.last))")
            return
        }
        #expect(events.last?.1 == "openai/drop")
        #expect(try fake.recordedRequests().count == 1)
    }

    @Test func cancellingStopsAStalledStreamAtOnce() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"])
        defer { harness.stop() }
        let start = Date()
        let events = try harness.run(hello, chain: ["openai/stall"]) { generation in generation.cancel() }
        #expect(events.last?.0 == .error(.cancelled))
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func anOpenCircuitSkipsTheProviderWithoutCallingIt() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"],
                                        policy: RetryPolicy(maxAttempts: 1),
                                        breaker: CircuitBreaker(failureThreshold: 1, cooldown: .seconds(60)))
        defer { harness.stop() }
        let first = try harness.run(hello, chain: ["openai/server_error", "offline/offline"])
        #expect(first.last?.1 == "offline/offline")
        let second = try harness.run(hello, chain: ["openai/server_error", "offline/offline"])
        #expect(second.last?.1 == "offline/offline")
        #expect(try fake.recordedRequests().count == 1, "the second generation must not reach the failing provider")
    }

    @Test func streamsGeminiWithItsKeyHeaderAndToolCalls() throws {
        let fake = try PeerServer(script: "fake_gemini.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["GEMINI_API_KEY": "gk-test", "GEMINI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1beta"])
        defer { harness.stop() }
        #expect(!text(try harness.run(hello, chain: ["gemini/text"])).isEmpty)
        var request = hello
        request.tools = [ToolDefinition(name: "get_weather", description: "Weather", parametersJSON: #"{"type":"object","properties":{"city":{"type":"string"}}}"#)]
        let events = try harness.run(request, chain: ["gemini/tools"])
        #expect(events.contains { if case .toolCallFinished = $0.0 { true } else { false } })
        #expect(events.last?.0 == .finished(.toolUse))
        let recorded = try fake.recordedRequests()
        #expect(recorded.count == 2)
        let headers = recorded.first?["headers"] as? [String: String] ?? [:]
        #expect(headers["x-goog-api-key"] ?? headers["X-Goog-Api-Key"] == "gk-test")
    }

    @Test func sendsGeminisThoughtSignaturesBackThroughATwoStepToolLoop() throws {
        // The fake plays a Gemini 3 model: it signs the first of its parallel calls and answers 400
        // when the next step's history lacks that signature or changed it.
        let fake = try PeerServer(script: "fake_gemini.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["GEMINI_API_KEY": "gk-test", "GEMINI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1beta"])
        defer { harness.stop() }
        var request = hello
        let schema = #"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
        request.tools = [ToolDefinition(name: "get_weather", description: "Weather", parametersJSON: schema),
                         ToolDefinition(name: "get_forecast", description: "Forecast", parametersJSON: schema)]
        let first = try harness.run(request, chain: ["gemini/thinking"])
        #expect(first.last?.0 == .finished(.toolUse))
        let calls: [ContentPart] = first.compactMap {
            guard case .toolCallFinished(_, let id, let name, let arguments, let signature) = $0.0 else { return nil }
            return .toolCall(id: id, name: name, argumentsJSON: arguments, signature: signature)
        }
        try #require(calls.count == 2)
        guard case .toolCall(_, _, _, let signature?) = calls[0], case .toolCall(_, _, _, nil) = calls[1] else {
            Issue.record("expected a signature on the first call only: \(calls)")
            return
        }
        // The next step, as a caller that kept the calls would send it.
        request.messages.append(ChatMessage(role: .assistant, parts: calls))
        for case .toolCall(let id, _, _, _) in calls {
            request.messages.append(ChatMessage(role: .tool, parts: [.toolResult(callID: id, contentJSON: #"{"tempC":21}"#, isError: false)]))
        }
        let second = try harness.run(request, chain: ["gemini/thinking"])
        #expect(second.last?.0 == .finished(.end), "\(second.map(\.0))")
        #expect(text(second) == "It is sunny in Paris.")
        let recorded = try fake.recordedRequests()
        try #require(recorded.count == 2)
        let contents = (recorded[1]["body"] as? [String: Any])?["contents"] as? [[String: Any]] ?? []
        try #require(contents.count == 3)
        let parts = contents[1]["parts"] as? [[String: Any]] ?? []
        #expect(parts.map { $0["thoughtSignature"] as? String } == [signature, nil], "sent back on the part it came on, unchanged")
    }

    @Test func anMCPToolsFullJSONSchemaReachesGeminiInAFormItAccepts() throws {
        // The fake refuses, as the API does, a `parameters` schema outside Gemini's OpenAPI subset.
        let fake = try PeerServer(script: "fake_gemini.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["GEMINI_API_KEY": "gk-test", "GEMINI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1beta"])
        defer { harness.stop() }
        var request = hello
        request.tools = [ToolDefinition(name: "get_weather", description: "Weather", parametersJSON: #"""
            {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": false,
             "properties": {"place": {"$ref": "#/$defs/Place"}, "units": {"oneOf": [{"const": "C"}, {"const": "F"}]}},
             "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}}}
            """#)]
        let events = try harness.run(request, chain: ["gemini/tools"])
        #expect(events.last?.0 == .finished(.toolUse), "\(events.map(\.0))")
        let body = try #require(try fake.recordedRequests().first?["body"] as? [String: Any])
        let declaration = ((body["tools"] as? [[String: Any]])?.first?["functionDeclarations"] as? [[String: Any]])?.first ?? [:]
        let sent = declaration["parametersJsonSchema"] as? [String: Any] ?? [:]
        #expect(declaration["parameters"] == nil)
        let properties = sent["properties"] as? [String: Any] ?? [:]
        #expect((properties["units"] as? [String: Any])?["oneOf"] != nil)
        #expect((properties["place"] as? [String: Any])?["properties"] != nil, "the reference inlined")
        #expect(sent["additionalProperties"] as? Bool == false)
        #expect(sent["$schema"] == nil && sent["$defs"] == nil)
    }

    @Test func streamsOllamaNewlineDelimitedJSON() throws {
        let fake = try PeerServer(script: "fake_ollama.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["OLLAMA_HOST": "127.0.0.1:\(fake.port)"])
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["ollama/text"])
        #expect(!text(events).isEmpty)
        #expect(events.contains { if case .usage = $0.0 { true } else { false } })
        #expect(events.last?.0 == .finished(.end))
        #expect(try fake.recordedRequests().first?["path"] as? String == "/api/chat")
    }

    @Test func aStalledStreamEndsWithATimeoutError() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        var timeouts = ProviderTimeouts()
        timeouts.firstByte = .milliseconds(300)
        timeouts.idle = .milliseconds(300)
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"],
                                        policy: RetryPolicy(maxAttempts: 1), timeouts: timeouts)
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["openai/stall"])
        #expect(events.last?.1 == "openai/stall")
        guard case .error(.timeout) = events.last?.0 else {
            Issue.record("expected a timeout, got \(String(describing: events.last))")
            return
        }
    }

    @Test(arguments: ["fake_openai.py", "fake_anthropic.py"])
    func aMidStreamProviderErrorEndsTheGenerationWithoutARetry(script: String) throws {
        let fake = try PeerServer(script: script)
        defer { fake.stop() }
        let provider = script == "fake_openai.py" ? "openai" : "anthropic"
        let environment = provider == "openai"
            ? ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"]
            : ["ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"]
        let harness = try RouterHarness(environment: environment)
        defer { harness.stop() }
        let events = try harness.run(hello, chain: ["\(provider)/error_midstream", "offline/offline"])
        #expect(!text(events).isEmpty)
        guard case .error(let error) = events.last?.0 else {
            Issue.record("expected an error, got \(String(describing: events.last))")
            return
        }
        #expect(error != .cancelled)
        #expect(events.last?.1 == "\(provider)/error_midstream", "output had started: no fallback")
        #expect(try fake.recordedRequests().count == 1)
    }

    @Test func neverPutsTheAPIKeyInAnEventOrError() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        let secret = "sk-SECRET-do-not-log-4242"
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": secret, "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1"])
        defer { harness.stop() }
        for scenario in ["server_error", "rate_limit", "drop", "error_midstream"] {
            let events = try harness.run(hello, chain: ["openai/\(scenario)"])
            #expect(!events.map { String(describing: $0.0) }.joined().contains("SECRET"), "\(scenario) leaked the key")
        }
        // A refused connection (nothing listens) is reported without the key or its headers either.
        let dead = try RouterHarness(environment: ["OPENAI_API_KEY": secret, "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"],
                                     policy: RetryPolicy(maxAttempts: 1))
        defer { dead.stop() }
        let events = try dead.run(hello, chain: ["openai/x"])
        guard case .error(.network(let message)) = events.last?.0 else {
            Issue.record("expected a network error, got \(String(describing: events.last))")
            return
        }
        #expect(!message.contains("SECRET"))
    }

    @Test func usesTheConfiguredGlobalChainWhenTheCallerNamesNone() throws {
        let fake = try PeerServer(script: "fake_openai.py")
        defer { fake.stop() }
        let harness = try RouterHarness(environment: ["OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:\(fake.port)/v1",
                                                      "BUILDERAI_MODEL_CHAIN": "openai/server_error -> offline/offline"],
                                        policy: RetryPolicy(maxAttempts: 1))
        defer { harness.stop() }
        let events = try harness.run(hello, chain: [])
        #expect(events.last?.0 == .finished(.end))
        #expect(events.last?.1 == "offline/offline")
        #expect(try fake.recordedRequests().count == 1)
        #expect(throws: LLMError.self) { try ProviderRegistry.fromEnvironment(["BUILDERAI_MODEL_CHAIN": "gpt-4o"]) }
    }
}
