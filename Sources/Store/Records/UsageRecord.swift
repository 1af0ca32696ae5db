/// The tokens one LLM call consumed, charged to a project. The conversation, message and user links
/// become nil when those are deleted, so the project's totals survive them.
public struct UsageRecord: Sendable, Equatable {
    /// The rowid: records are append-only, so an integer key keeps the table and its index compact.
    public var id: Int64
    public var projectID: String
    public var conversationID: String?
    public var messageID: String?
    public var userID: String?
    public var provider: String
    public var model: String
    public var inputTokens: Int
    public var outputTokens: Int
    public var createdAt: Int64

    public init(id: Int64, projectID: String, conversationID: String? = nil, messageID: String? = nil,
                userID: String? = nil, provider: String, model: String, inputTokens: Int, outputTokens: Int,
                createdAt: Int64) {
        self.id = id
        self.projectID = projectID
        self.conversationID = conversationID
        self.messageID = messageID
        self.userID = userID
        self.provider = provider
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.createdAt = createdAt
    }

    /// The listing position after this record (newest first).
    public var pageCursor: PageCursor { PageCursor(sortKey: createdAt, id: String(id)) }
}

/// Token sums over a period.
public struct UsageTotals: Sendable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int

    public init(inputTokens: Int, outputTokens: Int) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

extension UsageRecord {
    static let columns = """
        id, project_id, conversation_id, message_id, user_id, provider, model, input_tokens, output_tokens, created_at
        """

    init(row: Row) {
        self.init(id: row.int64(0), projectID: row.string(1), conversationID: row.optionalString(2),
                  messageID: row.optionalString(3), userID: row.optionalString(4), provider: row.string(5),
                  model: row.string(6), inputTokens: row.int(7), outputTokens: row.int(8), createdAt: row.int64(9))
    }

    /// Negative token counts throw `.constraintViolation`; a missing project, conversation, message or
    /// user throws `.foreignKeyViolation`.
    public static func insert(_ db: SQLiteConnection, projectID: String, conversationID: String? = nil,
                              messageID: String? = nil, userID: String? = nil, provider: String, model: String,
                              inputTokens: Int, outputTokens: Int,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> UsageRecord {
        try db.run("""
            INSERT INTO usage_records (project_id, conversation_id, message_id, user_id, provider, model,
                input_tokens, output_tokens, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [projectID, conversationID, messageID, userID, provider, model, inputTokens, outputTokens, now])
        return UsageRecord(id: db.lastInsertRowID, projectID: projectID, conversationID: conversationID,
                           messageID: messageID, userID: userID, provider: provider, model: model, inputTokens: inputTokens,
                           outputTokens: outputTokens, createdAt: now)
    }

    /// Sums over records created in [from, to): half-open, so consecutive periods never count a record
    /// twice.
    public static func totals(_ db: SQLiteConnection, projectID: String, from: Int64, to: Int64) throws -> UsageTotals {
        try db.queryOne("""
            SELECT COALESCE(sum(input_tokens), 0), COALESCE(sum(output_tokens), 0) FROM usage_records
            WHERE project_id = ? AND created_at >= ? AND created_at < ?
            """, [projectID, from, to]) { UsageTotals(inputTokens: $0.int(0), outputTokens: $0.int(1)) }
            ?? UsageTotals(inputTokens: 0, outputTokens: 0)
    }

    /// The project's records, newest first; `limit` is clamped to 1…1000.
    public static func list(_ db: SQLiteConnection, projectID: String, cursor: PageCursor? = nil,
                            limit: Int = 50) throws -> Page<UsageRecord> {
        let limit = keysetLimit(limit)
        let rows: [UsageRecord]
        if let cursor {
            // Ids are integers here; a cursor whose id is not one restarts at its sort key rather than
            // comparing text with integers, which SQLite orders after every number.
            let id = Int64(cursor.id) ?? .max
            rows = try db.query("""
                SELECT \(columns) FROM usage_records
                WHERE project_id = ?1 AND created_at <= ?2 AND (created_at < ?2 OR id < ?3)
                ORDER BY created_at DESC, id DESC LIMIT ?4
                """, [projectID, cursor.sortKey, id, limit + 1], UsageRecord.init(row:))
        } else {
            rows = try db.query("""
                SELECT \(columns) FROM usage_records WHERE project_id = ?
                ORDER BY created_at DESC, id DESC LIMIT ?
                """, [projectID, limit + 1], UsageRecord.init(row:))
        }
        return Page(keysetRows: rows, limit: limit, cursor: \.pageCursor)
    }
}
