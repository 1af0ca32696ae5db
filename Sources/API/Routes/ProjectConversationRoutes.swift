import Net
import Store

/// A project's conversations and their messages, read-only: the chat WebSocket protocol writes them.
enum ProjectConversationRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/projects/:id/conversations", .user, "A project's conversations, most recently active first (any member)",
                 immediate: list),
        APIRoute(.get, "/api/v1/projects/:id/conversations/:conversationId/messages", .user,
                 "A conversation's messages in order after after_seq; next_cursor is the after_seq of the next page (any member)",
                 immediate: messages),
    ]

    static func conversationJSON(_ conversation: Conversation) -> JSONValue {
        .object(["id": .string(conversation.id), "title": .string(conversation.title),
                 "created_by": .optional(conversation.createdBy), "last_seq": .int(conversation.lastSeq),
                 "created_at": .int(conversation.createdAt), "updated_at": .int(conversation.updatedAt)])
    }

    static func messageJSON(_ message: Message) -> JSONValue {
        // Content is a JSON array of parts as stored; text that does not parse (written by something
        // older) is still shown, as a string, rather than failing the page.
        let content = withoutSignatures((try? JSONValue.parse(message.content)) ?? .string(message.content))
        let usage: JSONValue = message.inputTokens == nil && message.outputTokens == nil ? .null : .object([
            "input_tokens": message.inputTokens.map { .int($0) } ?? .null,
            "output_tokens": message.outputTokens.map { .int($0) } ?? .null,
        ])
        return .object(["id": .string(message.id), "seq": .int(message.seq), "role": .string(message.role.rawValue),
                        "status": .string(message.status.rawValue), "content": content, "model": .optional(message.model),
                        "usage": usage, "created_at": .int(message.createdAt), "reply_to": .optional(message.replyTo),
                        "stop_reason": .optional(message.stopReason)])
    }

    /// A stored tool call may carry the provider's opaque signature (Gemini's `thoughtSignature`,
    /// Chat's `StoredContent`), kept only to send back to the provider: clients never see it.
    static func withoutSignatures(_ content: JSONValue) -> JSONValue {
        guard case .array(let parts) = content else { return content }
        return .array(parts.map { part in
            guard case .object(var fields) = part, fields["type"]?.stringValue == "tool_call",
                  fields.removeValue(forKey: "signature") != nil else { return part }
            return .object(fields)
        })
    }

    static func list(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let limit = try context.limit()
        let cursor = try context.cursor()
        let page = try context.read { db in
            _ = try ProjectAccess.require(db, id, me, .viewer)
            return try Conversation.list(db, projectID: id, cursor: cursor, limit: limit)
        }
        return Reply.page(page.items.map(conversationJSON), next: page.nextCursor)
    }

    /// Where the page starts: `after_seq`, or `cursor` (the `next_cursor` of the previous page, which
    /// is a sequence number too).
    static func afterSeq(_ context: APIContext) throws(APIError) -> Int {
        let cursor = context.query("cursor").flatMap { $0.isEmpty ? nil : $0 }
        let after = context.query("after_seq")
        if cursor != nil && after != nil {
            throw .badRequest("send after_seq or cursor, not both", field: "cursor")
        }
        guard let raw = cursor ?? after else { return 0 }
        guard let seq = Int(raw), seq >= 0 else {
            throw .badRequest("\(cursor != nil ? "cursor" : "after_seq") must be a sequence number (an integer from 0)",
                              field: cursor != nil ? "cursor" : "after_seq")
        }
        return seq
    }

    static func messages(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let conversationID = context.parameter("conversationId")
        let limit = try context.limit()
        let after = try afterSeq(context)
        let rows = try context.read { db -> [Message] in
            _ = try ProjectAccess.require(db, id, me, .viewer)
            guard let conversation = try Conversation.find(db, id: conversationID), conversation.projectID == id else {
                throw APIError.notFound("conversation with id \(conversationID) in this project")
            }
            // One row more than asked proves a next page exists without another request.
            return try Message.after(db, conversationID: conversationID, seq: after, limit: limit + 1)
        }
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last.map { String($0.seq) } : nil
        return Reply.page(page.map(messageJSON), next: next)
    }
}
