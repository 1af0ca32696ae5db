/// A chat thread in a project. `lastSeq` is the sequence number of its newest message: appending takes
/// the next one from this row, so numbers are dense (1, 2, 3…) per conversation.
public struct Conversation: Sendable, Equatable {
    public var id: String
    public var projectID: String
    public var title: String
    /// nil once the user who started it is deleted.
    public var createdBy: String?
    public var lastSeq: Int
    public var createdAt: Int64
    /// Moves forward on every message and rename: the listing's sort key.
    public var updatedAt: Int64

    public init(id: String, projectID: String, title: String = "", createdBy: String?, lastSeq: Int = 0,
                createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.projectID = projectID
        self.title = title
        self.createdBy = createdBy
        self.lastSeq = lastSeq
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The listing position after this conversation (most recently updated first).
    public var pageCursor: PageCursor { PageCursor(sortKey: updatedAt, id: id) }
}

extension Conversation {
    static let columns = "id, project_id, title, created_by, last_seq, created_at, updated_at"

    init(row: Row) {
        self.init(id: row.string(0), projectID: row.string(1), title: row.string(2), createdBy: row.optionalString(3),
                  lastSeq: row.int(4), createdAt: row.int64(5), updatedAt: row.int64(6))
    }

    /// A missing project or creator throws `.foreignKeyViolation`.
    public static func create(_ db: SQLiteConnection, projectID: String, title: String = "", createdBy: String?,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Conversation {
        let conversation = Conversation(id: StoreID.make(), projectID: projectID, title: title, createdBy: createdBy,
                                        createdAt: now, updatedAt: now)
        try db.run("""
            INSERT INTO conversations (id, project_id, title, created_by, last_seq, created_at, updated_at)
            VALUES (?, ?, ?, ?, 0, ?, ?)
            """, [conversation.id, projectID, title, createdBy, now, now])
        return conversation
    }

    public static func find(_ db: SQLiteConnection, id: String) throws -> Conversation? {
        try db.queryOne("SELECT \(columns) FROM conversations WHERE id = ?", [id], Conversation.init(row:))
    }

    /// The project's conversations, most recently updated first; `limit` is clamped to 1…1000.
    ///
    /// The sort key moves when a conversation gets a message, so one that is active while a client
    /// pages can jump to the front (and be missed by that walk); new conversations are never repeated.
    public static func list(_ db: SQLiteConnection, projectID: String, cursor: PageCursor? = nil,
                            limit: Int = 50) throws -> Page<Conversation> {
        let limit = keysetLimit(limit)
        let rows: [Conversation]
        if let cursor {
            rows = try db.query("""
                SELECT \(columns) FROM conversations
                WHERE project_id = ?1 AND updated_at <= ?2 AND (updated_at < ?2 OR id < ?3)
                ORDER BY updated_at DESC, id DESC LIMIT ?4
                """, [projectID, cursor.sortKey, cursor.id, limit + 1], Conversation.init(row:))
        } else {
            rows = try db.query("""
                SELECT \(columns) FROM conversations WHERE project_id = ?
                ORDER BY updated_at DESC, id DESC LIMIT ?
                """, [projectID, limit + 1], Conversation.init(row:))
        }
        return Page(keysetRows: rows, limit: limit, cursor: \.pageCursor)
    }

    /// Returns the renamed conversation, or nil when there is none with that id.
    public static func rename(_ db: SQLiteConnection, id: String, title: String,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Conversation? {
        try db.queryOne("UPDATE conversations SET title = ?, updated_at = ? WHERE id = ? RETURNING \(columns)",
                        [title, now, id], Conversation.init(row:))
    }

    /// Deletes the conversation and its messages (ON DELETE CASCADE). Returns whether it existed.
    @discardableResult
    public static func delete(_ db: SQLiteConnection, id: String) throws -> Bool {
        try db.run("DELETE FROM conversations WHERE id = ?", [id]) > 0
    }

    /// Raises `last_seq` to at least `seq` and marks the conversation updated. The chat engine reserves
    /// event numbers ahead this way and sends no event above what is committed, so after a crash it
    /// continues above every number a client may have seen.
    public static func reserveSeq(_ db: SQLiteConnection, id: String, upTo seq: Int,
                                  at now: Int64 = StoreClock.nowMilliseconds()) throws {
        try db.run("UPDATE conversations SET last_seq = max(last_seq, ?), updated_at = ? WHERE id = ?", [seq, now, id])
    }
}
