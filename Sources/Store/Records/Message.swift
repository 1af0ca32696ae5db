/// One turn of a conversation. `seq` orders a conversation's messages (1, 2, 3…); `content` is a JSON
/// array of parts the caller validated. An assistant reply is appended `incomplete` when streaming
/// starts and updated as it grows, so a crash leaves the partial text rather than nothing.
public struct Message: Sendable, Equatable {
    /// Who a message is from, as the LLM APIs name it.
    public enum Role: String, Sendable, CaseIterable {
        case system, user, assistant, tool
    }

    /// Where a message is in its life: still streaming, finished, stopped by the user, or failed.
    public enum Status: String, Sendable, CaseIterable {
        case complete, incomplete, cancelled, error
    }

    /// What `append` did: a retried prompt with a known `clientID` gets the stored message back.
    public struct Appended: Sendable, Equatable {
        public var message: Message
        /// false when a message with the same client id already existed and nothing was written.
        public var inserted: Bool

        public init(message: Message, inserted: Bool) {
            self.message = message
            self.inserted = inserted
        }
    }

    public var id: String
    public var conversationID: String
    public var seq: Int
    public var role: Role
    public var content: String
    public var status: Status
    public var model: String?
    public var inputTokens: Int?
    public var outputTokens: Int?
    /// The id the client chose for a prompt, so a retry after a lost response is not stored twice.
    public var clientID: String?
    /// The user who wrote it; nil for assistant and tool messages, or once the user is deleted.
    public var authorID: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    /// The user message this one answers (assistant and tool messages written by the chat engine).
    public var replyTo: String?
    /// The generation that wrote it; regenerating a prompt starts a new one.
    public var generationID: String?
    /// The last chat event sequence number this message stands for (nil: just `seq`).
    public var endSeq: Int?
    /// Why an assistant message ended, or the error code when it failed.
    public var stopReason: String?

    public init(id: String, conversationID: String, seq: Int, role: Role, content: String, status: Status,
                model: String? = nil, inputTokens: Int? = nil, outputTokens: Int? = nil, clientID: String? = nil,
                authorID: String? = nil, createdAt: Int64, updatedAt: Int64, replyTo: String? = nil,
                generationID: String? = nil, endSeq: Int? = nil, stopReason: String? = nil) {
        self.id = id
        self.conversationID = conversationID
        self.seq = seq
        self.role = role
        self.content = content
        self.status = status
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.clientID = clientID
        self.authorID = authorID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.replyTo = replyTo
        self.generationID = generationID
        self.endSeq = endSeq
        self.stopReason = stopReason
    }

    /// The last event sequence number the message covers.
    public var lastSeq: Int { endSeq ?? seq }
}

extension Message {
    static let columns = """
        id, conversation_id, seq, role, content, status, model, input_tokens, output_tokens, client_id, author_id,
        created_at, updated_at, reply_to, generation_id, end_seq, stop_reason
        """

    // The reads the chat engine makes on every turn, kept here so a test can check their query plans.
    static let byClientIDSQL = "SELECT \(columns) FROM messages WHERE conversation_id = ? AND client_id = ?"
    static let lastSQL = "SELECT \(columns) FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?"
    static let afterSQL = "SELECT \(columns) FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?"

    init(row: Row) throws {
        try self.init(row: row, conversationID: row.string(1))
    }

    /// For reads of one conversation: every row has the id the query asked for, so it is not decoded again.
    init(row: Row, conversationID: String) throws {
        self.init(id: row.string(0), conversationID: conversationID, seq: row.int(2), role: try row.storedEnum(3),
                  content: row.string(4), status: try row.storedEnum(5), model: row.optionalString(6),
                  inputTokens: row.optionalInt(7), outputTokens: row.optionalInt(8), clientID: row.optionalString(9),
                  authorID: row.optionalString(10), createdAt: row.int64(11), updatedAt: row.int64(12),
                  replyTo: row.optionalString(13), generationID: row.optionalString(14), endSeq: row.optionalInt(15),
                  stopReason: row.optionalString(16))
    }

    /// Appends a message with the conversation's next sequence number and marks the conversation
    /// updated, in one savepoint. When `clientID` is already used in this conversation, returns that
    /// message with `inserted == false` and writes nothing. A missing conversation throws
    /// `.foreignKeyViolation`, as a missing author does.
    public static func append(_ db: SQLiteConnection, conversationID: String, role: Role, content: String,
                              status: Status = .complete, clientID: String? = nil, authorID: String? = nil,
                              model: String? = nil, at now: Int64 = StoreClock.nowMilliseconds()) throws -> Appended {
        try db.savepoint {
            if let clientID, let existing = try find(db, conversationID: conversationID, clientID: clientID) {
                return Appended(message: existing, inserted: false)
            }
            // Taking the number in the same savepoint as the insert gives it back if the insert fails
            // (a missing author, say), so the numbers stay gapless.
            let seq = try db.queryOne("""
                UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? WHERE id = ? RETURNING last_seq
                """, [now, conversationID]) { $0.int(0) }
            guard let seq else {
                throw StoreError(kind: .foreignKeyViolation, message: "conversation \(conversationID) does not exist")
            }
            let message = try insert(db, conversationID: conversationID, seq: seq, role: role, content: content,
                                     status: status, clientID: clientID, authorID: authorID, model: model, at: now)
            return Appended(message: message, inserted: true)
        }
    }

    /// The chat engine's fast path. A conversation is owned by one event loop, which hands out its
    /// sequence numbers itself (starting from `highestSeq` when it loads the conversation), so an
    /// append is one INSERT: no savepoint, no `UPDATE conversations`, no index churn on
    /// `conversations.updated_at` per message. UNIQUE (conversation_id, seq) still rejects a number
    /// used twice (`.uniqueViolation`). `append` remains for callers that do not own the conversation.
    @discardableResult
    public static func insert(_ db: SQLiteConnection, conversationID: String, seq: Int, role: Role, content: String,
                              status: Status = .complete, clientID: String? = nil, authorID: String? = nil,
                              model: String? = nil, id: String = StoreID.make(), replyTo: String? = nil,
                              generationID: String? = nil, endSeq: Int? = nil, stopReason: String? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Message {
        let message = Message(id: id, conversationID: conversationID, seq: seq, role: role,
                              content: content, status: status, model: model, clientID: clientID,
                              authorID: authorID, createdAt: now, updatedAt: now, replyTo: replyTo,
                              generationID: generationID, endSeq: endSeq, stopReason: stopReason)
        try db.run("""
            INSERT INTO messages (id, conversation_id, seq, role, content, status, model, client_id, author_id,
                created_at, updated_at, reply_to, generation_id, end_seq, stop_reason)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [message.id, conversationID, seq, role.rawValue, content, status.rawValue, model, clientID,
                  authorID, now, now, replyTo, generationID, endSeq, stopReason])
        return message
    }

    /// The highest sequence number used in a conversation (0 when empty), read from the
    /// (conversation_id, seq) index: where an owner continues numbering.
    public static func highestSeq(_ db: SQLiteConnection, conversationID: String) throws -> Int {
        try db.queryOne("SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = ?", [conversationID]) { $0.int(0) } ?? 0
    }

    /// The highest event sequence number a conversation's messages stand for (0 when empty): where
    /// the chat engine continues numbering events. Messages answer at most a few queued prompts out
    /// of order, so only the newest rows are read.
    public static func highestEventSeq(_ db: SQLiteConnection, conversationID: String) throws -> Int {
        try db.queryOne("""
            SELECT coalesce(max(COALESCE(end_seq, seq)), 0) FROM
                (SELECT seq, end_seq FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 64)
            """, [conversationID]) { $0.int(0) } ?? 0
    }

    /// Saves a streaming reply's progress: the content and status given, and the token counts and model
    /// when given (nil keeps the stored value). Returns whether the message exists.
    @discardableResult
    public static func update(_ db: SQLiteConnection, id: String, content: String, status: Status,
                              inputTokens: Int? = nil, outputTokens: Int? = nil, model: String? = nil,
                              endSeq: Int? = nil, stopReason: String? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Bool {
        try db.run("""
            UPDATE messages SET content = ?, status = ?, input_tokens = COALESCE(?, input_tokens),
                output_tokens = COALESCE(?, output_tokens), model = COALESCE(?, model),
                end_seq = COALESCE(?, end_seq), stop_reason = COALESCE(?, stop_reason), updated_at = ?
            WHERE id = ?
            """, [content, status.rawValue, inputTokens, outputTokens, model, endSeq, stopReason, now, id]) > 0
    }

    /// Stretches a finished message over a later event (the close of its generation) and, when
    /// given, replaces its stop reason.
    public static func extend(_ db: SQLiteConnection, id: String, endSeq: Int, stopReason: String?) throws {
        try db.run("UPDATE messages SET end_seq = max(COALESCE(end_seq, seq), ?), stop_reason = COALESCE(?, stop_reason) WHERE id = ?",
                   [endSeq, stopReason, id])
    }

    public static func find(_ db: SQLiteConnection, id: String) throws -> Message? {
        try db.queryOne("SELECT \(columns) FROM messages WHERE id = ?", [id], Message.init(row:))
    }

    /// The message a client sent under `clientID`, answered from the partial unique index.
    public static func find(_ db: SQLiteConnection, conversationID: String, clientID: String) throws -> Message? {
        try db.queryOne(byClientIDSQL, [conversationID, clientID], Message.init(row:))
    }

    /// The newest `limit` messages in ascending `seq` order: the context window the chat engine sends.
    /// Read backwards along the UNIQUE (conversation_id, seq) index, so its cost does not grow with
    /// the conversation.
    public static func last(_ db: SQLiteConnection, conversationID: String, limit: Int) throws -> [Message] {
        var messages = try db.query(lastSQL, [conversationID, max(limit, 0)], reserving: min(max(limit, 0), 1_000)) {
            try Message(row: $0, conversationID: conversationID)
        }
        messages.reverse()
        return messages
    }

    /// Up to `limit` messages after `seq`, ascending: how a client catches up or pages forward.
    public static func after(_ db: SQLiteConnection, conversationID: String, seq: Int, limit: Int) throws -> [Message] {
        try db.query(afterSQL, [conversationID, seq, max(limit, 0)], Message.init(row:))
    }

    /// Messages whose events end after `seq` but whose first event is before `before`, in the order
    /// of their last event: what a client resuming from `seq` gets as snapshots from the store.
    public static func resumable(_ db: SQLiteConnection, conversationID: String, afterSeq seq: Int,
                                 before: Int, limit: Int) throws -> [Message] {
        try db.query("""
            SELECT \(columns) FROM messages
            WHERE conversation_id = ? AND seq < ? AND COALESCE(end_seq, seq) > ?
            ORDER BY COALESCE(end_seq, seq) LIMIT ?
            """, [conversationID, before, seq, max(limit, 0)], Message.init(row:))
    }

    /// Up to `limit` messages before `seq` (all when nil), ascending: a history page going back.
    public static func before(_ db: SQLiteConnection, conversationID: String, seq: Int?, limit: Int) throws -> [Message] {
        let newestFirst = try db.query("""
            SELECT \(columns) FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?
            """, [conversationID, seq ?? Int.max, max(limit, 0)], Message.init(row:))
        return newestFirst.reversed()
    }

    /// At start-up nothing streams, so every message still `incomplete` without a stop reason was cut
    /// off by a crash or a shutdown: it is marked `interrupted`, and its `end_seq` moves to the
    /// conversation's reserved event number, so a client that saw unsaved deltas before the crash
    /// gets the stored message as a snapshot when it resumes. Returns how many there were.
    @discardableResult
    public static func closeInterrupted(_ db: SQLiteConnection, at now: Int64 = StoreClock.nowMilliseconds()) throws -> Int {
        try db.run("""
            UPDATE messages SET stop_reason = 'interrupted', updated_at = ?,
                end_seq = max(COALESCE(end_seq, seq), (SELECT last_seq FROM conversations c WHERE c.id = conversation_id))
            WHERE status = 'incomplete' AND stop_reason IS NULL
            """, [now])
    }
}
