import Net
import Store
import Testing
@testable import API

/// What the REST API shows of a stored message's content.
@Suite struct MessageContentTests {
    @Test func aToolCallsProviderSignatureIsNotShown() throws {
        let content = #"[{"type":"text","text":"Checking."},"#
            + #"{"type":"tool_call","id":"t1","name":"get_weather","arguments":{"city":"Paris"},"signature":"CiQBcsjafA+/x1Zm=="}]"#
        let message = Message(id: "m", conversationID: "c", seq: 2, role: .assistant, content: content, status: .complete,
                              createdAt: 0, updatedAt: 0)
        let shown = ProjectConversationRoutes.messageJSON(message)["content"]
        #expect(shown == .array([
            .object(["type": "text", "text": "Checking."]),
            .object(["type": "tool_call", "id": "t1", "name": "get_weather", "arguments": .object(["city": "Paris"])])]))
    }
}
