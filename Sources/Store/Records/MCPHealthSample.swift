/// What a health probe found.
public enum MCPHealthStatus: String, Sendable, Equatable, CaseIterable {
    /// Started, not answered yet.
    case connecting
    case healthy
    /// Answering, but slowly or with errors.
    case degraded
    case down
}

/// One health probe of an MCP server.
public struct MCPHealthSample: Sendable, Equatable {
    /// Rowid: the order samples were recorded in, which breaks ties between equal times.
    public var id: Int64
    public var serverID: String
    public var at: Int64
    public var status: MCPHealthStatus
    /// Round-trip time of the probe; nil when it got no answer.
    public var latencyMs: Double?
    public var error: String?

    public init(id: Int64, serverID: String, at: Int64, status: MCPHealthStatus, latencyMs: Double?,
                error: String?) {
        self.id = id
        self.serverID = serverID
        self.at = at
        self.status = status
        self.latencyMs = latencyMs
        self.error = error
    }
}

extension MCPHealthSample {
    /// Appends a probe result. An unknown `serverID` is a `.foreignKeyViolation`.
    @discardableResult
    public static func record(_ db: SQLiteConnection, serverID: String, status: MCPHealthStatus,
                              latencyMs: Double? = nil, error: String? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> MCPHealthSample {
        try db.run("INSERT INTO mcp_health (server_id, at, status, latency_ms, error) VALUES (?, ?, ?, ?, ?)",
                   [serverID, now, status.rawValue, latencyMs, error])
        return MCPHealthSample(id: db.lastInsertRowID, serverID: serverID, at: now, status: status,
                               latencyMs: latencyMs, error: error)
    }

    /// One server's samples at or after `since`, newest first.
    public static func recent(_ db: SQLiteConnection, serverID: String, since: Int64,
                              limit: Int = 100) throws -> [MCPHealthSample] {
        try db.query("""
            SELECT \(columns) FROM mcp_health WHERE server_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?
            """, [serverID, since, max(limit, 0)], decode)
    }

    /// The newest sample of every server that has one, by server name.
    public static func latest(_ db: SQLiteConnection) throws -> [MCPHealthSample] {
        // One index probe per server on (server_id, at) rather than a scan of the whole history.
        try db.query("""
            SELECT h.id, h.server_id, h.at, h.status, h.latency_ms, h.error
            FROM mcp_servers s
            JOIN mcp_health h ON h.id = (SELECT id FROM mcp_health WHERE server_id = s.id
                                         ORDER BY at DESC, id DESC LIMIT 1)
            ORDER BY s.name
            """, [], decode)
    }

    /// Deletes samples older than `cutoff` (milliseconds); returns how many.
    @discardableResult
    public static func prune(_ db: SQLiteConnection, olderThan cutoff: Int64) throws -> Int {
        // Per server so the (server_id, at) index finds the old rows without a table scan.
        try db.run("DELETE FROM mcp_health WHERE server_id IN (SELECT id FROM mcp_servers) AND at < ?", [cutoff])
    }

    static let columns = "id, server_id, at, status, latency_ms, error"

    static func decode(_ row: Row) throws -> MCPHealthSample {
        guard let status = MCPHealthStatus(rawValue: row.string(3)) else {
            throw StoreError(kind: .decoding, message: "mcp_health.status '\(row.string(3))' is not a status")
        }
        return MCPHealthSample(id: row.int64(0), serverID: row.string(1), at: row.int64(2), status: status,
                               latencyMs: row.optionalDouble(4), error: row.optionalString(5))
    }
}
