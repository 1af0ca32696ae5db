import Net
import Store

/// Builders for the server's messages (docs/protocol.md). Each returns the frame's text, encoded
/// once and sent as-is to every watcher.
enum ChatEvents {
    static func encode(_ fields: [String: JSONValue]) -> String {
        JSONValue.object(fields).serializedString
    }

    static func number(_ value: Int) -> JSONValue { .number(Double(value)) }
    static func number(_ value: Int64) -> JSONValue { .number(Double(value)) }
    static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    static func error(_ error: ChatError, ref: String?, extra: [String: JSONValue] = [:]) -> String {
        var fields: [String: JSONValue] = ["type": "error", "code": .string(error.code.rawValue), "message": .string(error.message)]
        if let ref { fields["ref"] = .string(ref) }
        fields.merge(extra) { $1 }
        return encode(fields)
    }

    static func reply(_ type: String, ref: String?, _ fields: [String: JSONValue] = [:]) -> String {
        var fields = fields
        fields["type"] = .string(type)
        if let ref { fields["ref"] = .string(ref) }
        return encode(fields)
    }

    static func conversation(_ conversation: Conversation, running: Bool) -> JSONValue {
        .object(["id": .string(conversation.id), "title": .string(conversation.title),
                 "created_by": optional(conversation.createdBy), "created_at": number(conversation.createdAt),
                 "updated_at": number(conversation.updatedAt), "running": .bool(running)])
    }

    /// A stored message as clients see it: in `history` replies and `message` snapshots.
    static func message(_ message: Message) -> JSONValue {
        var fields: [String: JSONValue] = [
            "id": .string(message.id), "seq": number(message.seq), "end_seq": number(message.lastSeq),
            "role": .string(message.role.rawValue), "status": .string(message.status.rawValue),
            "content": StoredContent.clientParts(message.content), "created_at": number(message.createdAt),
        ]
        if let model = message.model { fields["model"] = .string(model) }
        if let author = message.authorID { fields["author"] = .string(author) }
        if let clientID = message.clientID { fields["client_id"] = .string(clientID) }
        if let replyTo = message.replyTo { fields["reply_to"] = .string(replyTo) }
        if let generation = message.generationID { fields["generation"] = .string(generation) }
        if let reason = message.stopReason { fields["stop_reason"] = .string(reason) }
        if let input = message.inputTokens, let output = message.outputTokens {
            fields["usage"] = .object(["input_tokens": number(input), "output_tokens": number(output)])
        }
        return .object(fields)
    }

    /// The snapshot a resuming client gets for a message whose events are no longer in memory.
    static func snapshot(_ stored: Message) -> String {
        encode(["type": "message", "conversation": .string(stored.conversationID), "seq": number(stored.lastSeq),
                "message": message(stored)])
    }
}

/// The JSON kept in `messages.content`: an array of parts.
///
/// - `{"type":"text","text":…}`
/// - `{"type":"tool_call","id":…,"name":…,"arguments":{…},"signature":…}`: `signature` (optional)
///   is the provider's opaque value for the call (Gemini's `thoughtSignature`), sent back with the
///   call whenever the context is rebuilt. It is not for clients: `clientParts` leaves it out.
///   Messages stored before it existed simply have none.
/// - `{"type":"tool_result","call":…,"name":…,"is_error":bool,"content":[MCP content blocks]}`
enum StoredContent {
    static func text(_ text: String) -> String {
        JSONValue.array([.object(["type": "text", "text": .string(text)])]).serializedString
    }

    static func toolCall(id: String, name: String, arguments: JSONValue, signature: String?) -> JSONValue {
        var part: [String: JSONValue] = ["type": "tool_call", "id": .string(id), "name": .string(name), "arguments": arguments]
        if let signature { part["signature"] = .string(signature) }
        return .object(part)
    }

    static func parts(_ content: String) -> JSONValue {
        (try? JSONValue.parse(content)) ?? .array([])
    }

    /// The parts as clients see them (docs/protocol.md): without provider signatures.
    static func clientParts(_ content: String) -> JSONValue {
        let parts = parts(content)
        guard case .array(let list) = parts else { return parts }
        return .array(list.map { part in
            guard case .object(var fields) = part, fields["type"]?.stringValue == "tool_call",
                  fields.removeValue(forKey: "signature") != nil else { return part }
            return .object(fields)
        })
    }
}
