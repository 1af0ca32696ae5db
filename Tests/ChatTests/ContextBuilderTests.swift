import LLM
import Net
import Store
import Testing
@testable import Chat

@Suite struct ContextBuilderTests {
    func message(_ seq: Int, _ role: Message.Role, _ content: String, id: String, replyTo: String? = nil,
                 generation: String? = nil) -> Message {
        Message(id: id, conversationID: "c", seq: seq, role: role, content: content, status: .complete, createdAt: 0,
                updatedAt: 0, replyTo: replyTo, generationID: generation)
    }

    func text(_ value: String) -> String { StoredContent.text(value) }

    @Test func aQueuedPromptFollowsTheWholeEarlierAnswer() {
        // u2 was accepted (seq 3) while the answer to u1 streamed (seq 2, then a tool round at 4–5).
        let stored = [
            message(1, .user, text("first"), id: "u1"),
            message(2, .assistant, #"[{"type":"tool_call","id":"t1","name":"list_files","arguments":{}}]"#, id: "a1",
                    replyTo: "u1", generation: "g1"),
            message(3, .user, text("second"), id: "u2"),
            message(4, .tool, #"[{"type":"tool_result","call":"t1","name":"list_files","is_error":false,"content":[{"type":"text","text":"none"}]}]"#,
                    id: "t1m", replyTo: "u1", generation: "g1"),
            message(5, .assistant, text("done"), id: "a2", replyTo: "u1", generation: "g1"),
        ]
        let context = ContextBuilder.build(stored: stored, prompt: stored[2], current: [], generationID: "g2", budgetTokens: 10_000)
        #expect(context.messages.map(\.role) == [.user, .assistant, .tool, .assistant, .user])
        #expect(context.messages.last == ChatMessage(role: .user, parts: [.text("second")]))
        #expect(context.droppedTurns == 0)
    }

    @Test func regeneratingKeepsOnlyTheNewestAnswerOfAPrompt() {
        let stored = [
            message(1, .user, text("q"), id: "u1"),
            message(2, .assistant, text("old answer"), id: "a1", replyTo: "u1", generation: "g1"),
            message(3, .assistant, text("new answer"), id: "a2", replyTo: "u1", generation: "g2"),
            message(4, .user, text("next"), id: "u2"),
        ]
        let context = ContextBuilder.build(stored: stored, prompt: stored[3], current: [], generationID: "g3", budgetTokens: 10_000)
        #expect(context.messages.count == 3)
        #expect(context.messages[1] == ChatMessage(role: .assistant, parts: [.text("new answer")]))
    }

    @Test func aToolCallsProviderSignatureIsStoredAndSentBackButNeverShownToClients() throws {
        // As GenerationRun stores a Gemini step: text, then a signed call and an unsigned parallel one.
        let content = JSONValue.array([
            .object(["type": "text", "text": "Checking."]),
            StoredContent.toolCall(id: "t1", name: "get_weather", arguments: .object(["city": "Paris"]), signature: "CiQBcsjafA+/x1Zm=="),
            StoredContent.toolCall(id: "t2", name: "get_weather", arguments: .object(["city": "Rome"]), signature: nil),
        ]).serializedString
        let result = #"[{"type":"tool_result","call":"t1","name":"get_weather","is_error":false,"content":[{"type":"text","text":"21"}]},"# +
            #"{"type":"tool_result","call":"t2","name":"get_weather","is_error":false,"content":[{"type":"text","text":"25"}]}]"#
        let stored = [
            message(1, .user, text("weather?"), id: "u1"),
            message(2, .assistant, content, id: "a1", replyTo: "u1", generation: "g1"),
            message(3, .tool, result, id: "r1", replyTo: "u1", generation: "g1"),
            // Stored before signatures were kept (or by another provider): no signature, still fine.
            message(4, .assistant, #"[{"type":"tool_call","id":"t3","name":"now","arguments":{}}]"#, id: "a2", replyTo: "u1",
                    generation: "g1"),
            message(5, .user, text("and tomorrow?"), id: "u2"),
        ]
        // Read back from the store, as a later generation (or one after a restart) does.
        let context = ContextBuilder.build(stored: stored, prompt: stored[4], current: [], generationID: "g2", budgetTokens: 10_000)
        try #require(context.messages.count == 6)
        #expect(context.messages[1] == ChatMessage(role: .assistant, parts: [
            .text("Checking."),
            .toolCall(id: "t1", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#, signature: "CiQBcsjafA+/x1Zm=="),
            .toolCall(id: "t2", name: "get_weather", argumentsJSON: #"{"city":"Rome"}"#, signature: nil)]))
        #expect(context.messages[3] == ChatMessage(role: .assistant, parts: [.toolCall(id: "t3", name: "now", argumentsJSON: "{}")]))
        // History pages and message snapshots show the call without it.
        let shown = ChatEvents.message(stored[1])["content"]
        #expect(shown == .array([
            .object(["type": "text", "text": "Checking."]),
            .object(["type": "tool_call", "id": "t1", "name": "get_weather", "arguments": .object(["city": "Paris"])]),
            .object(["type": "tool_call", "id": "t2", "name": "get_weather", "arguments": .object(["city": "Rome"])])]))
        #expect(!ChatEvents.snapshot(stored[1]).contains("CiQBcsjafA"))
    }

    @Test func aToolCallWithoutAResultGetsOneSoProvidersAcceptTheHistory() {
        let stored = [
            message(1, .user, text("q"), id: "u1"),
            message(2, .assistant, #"[{"type":"tool_call","id":"t9","name":"read_file","arguments":{"path":"a"}}]"#, id: "a1",
                    replyTo: "u1", generation: "g1"),
            message(3, .user, text("next"), id: "u2"),
        ]
        let context = ContextBuilder.build(stored: stored, prompt: stored[2], current: [], generationID: "g2", budgetTokens: 10_000)
        #expect(context.messages.map(\.role) == [.user, .assistant, .tool, .user])
        guard case .toolResult(let id, _, let isError) = context.messages[2].parts[0] else {
            Issue.record("no synthetic tool result")
            return
        }
        #expect(id == "t9" && isError)
    }

    @Test func theOldestTurnsAreDroppedFirstAndTheCutIsCounted() {
        var stored: [Message] = []
        for n in 0..<10 {
            stored.append(message(2 * n + 1, .user, text(String(repeating: "x", count: 400)), id: "u\(n)"))
            stored.append(message(2 * n + 2, .assistant, text(String(repeating: "y", count: 400)), id: "a\(n)",
                                  replyTo: "u\(n)", generation: "g\(n)"))
        }
        stored.append(message(21, .user, text("now"), id: "last"))
        let context = ContextBuilder.build(stored: stored, prompt: stored.last!, current: [], generationID: "gx", budgetTokens: 700)
        #expect(context.droppedTurns > 0 && context.droppedTurns < 10)
        #expect(context.messages.last == ChatMessage(role: .user, parts: [.text("now")]))
        let firstKept = context.messages.first
        #expect(firstKept?.role == .user)
        #expect(ContextBuilder.estimate(context.messages) <= 700)
    }
}
