import Testing
@testable import LLM

/// The built-in offline provider: deterministic replies, the `/tool` form and tool-result summaries.
@Suite struct OfflineProviderTests {
    let provider = OfflineProvider()
    let weather = ToolDefinition(name: "get_weather", description: "Current weather",
                                 parametersJSON: #"{"type":"object","properties":{"city":{"type":"string"}}}"#)

    func request(_ messages: [ChatMessage], tools: [ToolDefinition] = []) -> LLMRequest {
        LLMRequest(system: "You help.", messages: messages, tools: tools, options: GenerationOptions(model: "offline"))
    }

    func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, parts: [.text(text)]) }

    func text(of events: [LLMStreamEvent]) -> String {
        events.compactMap { event -> String? in
            if case .textDelta(let text) = event { return text } else { return nil }
        }.joined()
    }

    @Test func repliesDeterministicallyInWordChunksAndSaysItIsTheOfflineProvider() {
        let events = provider.respond(to: request([user("Hello there, how are you?")]))
        #expect(events == provider.respond(to: request([user("Hello there, how are you?")])))
        let reply = text(of: events)
        #expect(reply.hasPrefix("(offline provider)"))
        #expect(reply.contains("Hello there, how are you?"))
        #expect(events.filter { if case .textDelta = $0 { true } else { false } }.count > 5)
        #expect(events.suffix(2) == [.usage(TokenUsage(inputTokens: 7, outputTokens: OfflineProvider.wordCount(reply))), .finished(.end)])
    }

    @Test func callsAnOfferedToolNamedInASlashToolLine() throws {
        let events = provider.respond(to: request([user("Please\n/tool get_weather {\"city\": \"Paris\", \"days\": 2}")], tools: [weather]))
        guard case .toolCallStarted(0, let id, "get_weather") = events.first else {
            Issue.record("expected a tool call, got \(events)")
            return
        }
        #expect(id.hasPrefix("offline_call_"))
        let fragments = events.compactMap { event -> String? in
            if case .toolCallArgumentsDelta(0, let fragment) = event { return fragment } else { return nil }
        }
        #expect(fragments.count >= 2)
        #expect(fragments.joined() == #"{"city":"Paris","days":2}"#)
        #expect(events.suffix(3).first == .toolCallFinished(index: 0, id: id, name: "get_weather", argumentsJSON: #"{"city":"Paris","days":2}"#))
        #expect(events.last == .finished(.toolUse))
        #expect(events == provider.respond(to: request([user("Please\n/tool get_weather {\"city\": \"Paris\", \"days\": 2}")], tools: [weather])))
    }

    @Test func treatsMissingArgumentsAsAnEmptyObject() {
        let events = provider.respond(to: request([user("/tool get_weather")], tools: [weather]))
        #expect(events.contains { if case .toolCallFinished(_, _, "get_weather", "{}", _) = $0 { true } else { false } })
    }

    @Test func explainsArgumentsThatAreNotAJSONObject() {
        let events = provider.respond(to: request([user("/tool get_weather {city: Paris}")], tools: [weather]))
        let reply = text(of: events)
        #expect(reply.hasPrefix("(offline provider) The arguments for get_weather are not a JSON object"))
        #expect(events.last == .finished(.end))
    }

    @Test func explainsAToolThatIsNotOffered() {
        let reply = text(of: provider.respond(to: request([user("/tool launch_rockets {}")], tools: [weather])))
        #expect(reply == "(offline provider) There is no tool named launch_rockets. Available tools: get_weather.")
        let none = text(of: provider.respond(to: request([user("/tool get_weather {}")])))
        #expect(none.contains("No tools are available"))
    }

    @Test func summarizesTheToolResultThatEndsTheConversation() {
        let conversation = [
            user("/tool get_weather {\"city\": \"Paris\"}"),
            ChatMessage(role: .assistant, parts: [.toolCall(id: "c1", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#)]),
            ChatMessage(role: .tool, parts: [.toolResult(callID: "c1", contentJSON: #"{"tempC":21}"#, isError: false)]),
        ]
        let events = provider.respond(to: request(conversation, tools: [weather]))
        #expect(text(of: events) == #"(offline provider) The tool get_weather returned: {"tempC":21}."#)
        #expect(events.last == .finished(.end))
        var failed = conversation
        failed[2] = ChatMessage(role: .tool, parts: [.toolResult(callID: "c1", contentJSON: #""no such city""#, isError: true)])
        #expect(text(of: provider.respond(to: request(failed, tools: [weather])))
            == "(offline provider) The tool get_weather reported an error: no such city.")
    }
}
