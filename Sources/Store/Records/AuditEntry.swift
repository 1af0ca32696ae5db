/// One line of the audit log: who did what to which object, from where. Append-only.
public struct AuditEntry: Sendable, Equatable {
    /// Rowid; breaks ties between entries of the same millisecond.
    public var id: Int64
    public var at: Int64
    /// nil for the system itself. Not a foreign key: the entry outlives the account.
    public var actorID: String?
    /// What happened, e.g. "project.delete", "mcp.server.update".
    public var action: String
    /// The kind of object acted on, e.g. "project", "user", "mcp_server".
    public var targetType: String
    public var targetID: String
    /// A JSON object with the specifics (checked to be valid JSON by the schema).
    public var details: String
    public var ip: String?

    public init(id: Int64, at: Int64, actorID: String?, action: String, targetType: String, targetID: String,
                details: String, ip: String?) {
        self.id = id
        self.at = at
        self.actorID = actorID
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.details = details
        self.ip = ip
    }
}

extension AuditEntry {
    /// Appends an entry. Details that are not valid JSON are a `.constraintViolation`.
    @discardableResult
    public static func append(_ db: SQLiteConnection, actorID: String?, action: String, targetType: String,
                              targetID: String, details: String = "{}", ip: String? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> AuditEntry {
        try db.run("""
            INSERT INTO audit_log (at, actor_id, action, target_type, target_id, details, ip)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [now, actorID, action, targetType, targetID, details, ip])
        return AuditEntry(id: db.lastInsertRowID, at: now, actorID: actorID, action: action, targetType: targetType,
                          targetID: targetID, details: details, ip: ip)
    }

    /// The whole log, newest first, one keyset page at a time on (at, id): entries appended while
    /// an administrator pages appear before the first page, never inside the listing.
    public static func recent(_ db: SQLiteConnection, cursor: PageCursor? = nil,
                              limit: Int = 50) throws -> Page<AuditEntry> {
        let limit = keysetLimit(limit)
        let rows: [AuditEntry]
        if let cursor {
            rows = try db.query("""
                SELECT \(columns) FROM audit_log WHERE (at, id) < (?, ?) ORDER BY at DESC, id DESC LIMIT ?
                """, [cursor.sortKey, try rowID(cursor), limit + 1], decode)
        } else {
            rows = try db.query("SELECT \(columns) FROM audit_log ORDER BY at DESC, id DESC LIMIT ?",
                                [limit + 1], decode)
        }
        return page(rows, limit: limit)
    }

    /// The history of one object, newest first, one keyset page at a time.
    public static func forTarget(_ db: SQLiteConnection, targetType: String, targetID: String,
                                 cursor: PageCursor? = nil, limit: Int = 50) throws -> Page<AuditEntry> {
        let limit = keysetLimit(limit)
        let rows: [AuditEntry]
        if let cursor {
            rows = try db.query("""
                SELECT \(columns) FROM audit_log WHERE target_type = ? AND target_id = ? AND (at, id) < (?, ?)
                ORDER BY at DESC, id DESC LIMIT ?
                """, [targetType, targetID, cursor.sortKey, try rowID(cursor), limit + 1], decode)
        } else {
            rows = try db.query("""
                SELECT \(columns) FROM audit_log WHERE target_type = ? AND target_id = ?
                ORDER BY at DESC, id DESC LIMIT ?
                """, [targetType, targetID, limit + 1], decode)
        }
        return page(rows, limit: limit)
    }

    /// Audit cursors carry the rowid as their id; anything else did not come from this listing.
    private static func rowID(_ cursor: PageCursor) throws(StoreError) -> Int64 {
        guard let id = Int64(cursor.id) else {
            throw StoreError(kind: .decoding, message: "not an audit log cursor")
        }
        return id
    }

    private static func page(_ rows: [AuditEntry], limit: Int) -> Page<AuditEntry> {
        Page(keysetRows: rows, limit: limit) { PageCursor(sortKey: $0.at, id: String($0.id)) }
    }

    static let columns = "id, at, actor_id, action, target_type, target_id, details, ip"

    static func decode(_ row: Row) -> AuditEntry {
        AuditEntry(id: row.int64(0), at: row.int64(1), actorID: row.optionalString(2), action: row.string(3),
                   targetType: row.string(4), targetID: row.string(5), details: row.string(6),
                   ip: row.optionalString(7))
    }
}
