/// How the MCP supervisor talks to a server.
public enum MCPServerTransport: String, Sendable, Equatable, CaseIterable {
    /// A child process speaking JSON-RPC over stdin/stdout.
    case stdio
    /// Streamable HTTP.
    case http
    /// HTTP with server-sent events (the older MCP transport).
    case sse
}

/// A configured MCP server. `definition` is the transport's JSON (command/args/env for stdio,
/// url/headers for http and sse), kept as text: the MCP module owns its shape, the store only
/// checks that it is valid JSON.
public struct MCPServerRecord: Sendable, Equatable {
    public var id: String
    /// Unique; what projects and logs name the server by.
    public var name: String
    /// Replicas serving the same tools share a group; nil for a server on its own.
    public var groupName: String?
    public var transport: MCPServerTransport
    public var definition: String
    public var enabled: Bool
    public var startAtBoot: Bool
    public var healthIntervalMs: Int64
    public var healthTimeoutMs: Int64
    public var callTimeoutMs: Int64
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, name: String, groupName: String?, transport: MCPServerTransport, definition: String,
                enabled: Bool, startAtBoot: Bool, healthIntervalMs: Int64, healthTimeoutMs: Int64,
                callTimeoutMs: Int64, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.name = name
        self.groupName = groupName
        self.transport = transport
        self.definition = definition
        self.enabled = enabled
        self.startAtBoot = startAtBoot
        self.healthIntervalMs = healthIntervalMs
        self.healthTimeoutMs = healthTimeoutMs
        self.callTimeoutMs = callTimeoutMs
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension MCPServerRecord {
    /// Adds a server. A taken name is a `.uniqueViolation`; invalid JSON, an empty name or group,
    /// or a non-positive interval or timeout is a `.constraintViolation`.
    @discardableResult
    public static func insert(_ db: SQLiteConnection, name: String, groupName: String? = nil,
                              transport: MCPServerTransport, definition: String, enabled: Bool = true,
                              startAtBoot: Bool = true, healthIntervalMs: Int64 = 30_000,
                              healthTimeoutMs: Int64 = 5_000, callTimeoutMs: Int64 = 60_000,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> MCPServerRecord {
        let server = MCPServerRecord(id: StoreID.make(), name: name, groupName: groupName, transport: transport,
                                     definition: definition, enabled: enabled, startAtBoot: startAtBoot,
                                     healthIntervalMs: healthIntervalMs, healthTimeoutMs: healthTimeoutMs,
                                     callTimeoutMs: callTimeoutMs, createdAt: now, updatedAt: now)
        try db.run("""
            INSERT INTO mcp_servers (id, name, group_name, transport, definition, enabled, start_at_boot,
                                     health_interval_ms, health_timeout_ms, call_timeout_ms, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [server.id, name, groupName, transport.rawValue, definition, enabled, startAtBoot,
                  healthIntervalMs, healthTimeoutMs, callTimeoutMs, now, now])
        return server
    }

    /// Writes every editable field of `server` (found by id; `createdAt` is kept) and stamps
    /// `updatedAt`. Returns the stored record, or nil when there is no such server.
    public static func update(_ db: SQLiteConnection, _ server: MCPServerRecord,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> MCPServerRecord? {
        let changed = try db.run("""
            UPDATE mcp_servers SET name = ?, group_name = ?, transport = ?, definition = ?, enabled = ?,
                                   start_at_boot = ?, health_interval_ms = ?, health_timeout_ms = ?,
                                   call_timeout_ms = ?, updated_at = ?
            WHERE id = ?
            """, [server.name, server.groupName, server.transport.rawValue, server.definition, server.enabled,
                  server.startAtBoot, server.healthIntervalMs, server.healthTimeoutMs, server.callTimeoutMs, now,
                  server.id])
        return changed == 0 ? nil : try find(db, id: server.id)
    }

    /// Removes the server and its health history; false when there was none.
    @discardableResult
    public static func delete(_ db: SQLiteConnection, id: String) throws -> Bool {
        try db.run("DELETE FROM mcp_servers WHERE id = ?", [id]) > 0
    }

    public static func find(_ db: SQLiteConnection, id: String) throws -> MCPServerRecord? {
        try db.queryOne("SELECT \(columns) FROM mcp_servers WHERE id = ?", [id], decode)
    }

    public static func find(_ db: SQLiteConnection, name: String) throws -> MCPServerRecord? {
        try db.queryOne("SELECT \(columns) FROM mcp_servers WHERE name = ?", [name], decode)
    }

    /// Every server by name; with `enabledOnly`, the ones the supervisor should run.
    public static func list(_ db: SQLiteConnection, enabledOnly: Bool = false) throws -> [MCPServerRecord] {
        try db.query("SELECT \(columns) FROM mcp_servers WHERE enabled >= ? ORDER BY name",
                     [enabledOnly ? 1 : 0], decode)
    }

    /// The replicas of one group, by name.
    public static func listByGroup(_ db: SQLiteConnection, groupName: String) throws -> [MCPServerRecord] {
        try db.query("SELECT \(columns) FROM mcp_servers WHERE group_name = ? ORDER BY name", [groupName], decode)
    }

    static let columns = """
        id, name, group_name, transport, definition, enabled, start_at_boot, health_interval_ms,
        health_timeout_ms, call_timeout_ms, created_at, updated_at
        """

    static func decode(_ row: Row) throws -> MCPServerRecord {
        guard let transport = MCPServerTransport(rawValue: row.string(3)) else {
            throw StoreError(kind: .decoding, message: "mcp_servers.transport '\(row.string(3))' is not a transport")
        }
        return MCPServerRecord(id: row.string(0), name: row.string(1), groupName: row.optionalString(2),
                               transport: transport, definition: row.string(4), enabled: row.bool(5),
                               startAtBoot: row.bool(6), healthIntervalMs: row.int64(7),
                               healthTimeoutMs: row.int64(8), callTimeoutMs: row.int64(9),
                               createdAt: row.int64(10), updatedAt: row.int64(11))
    }
}
