/// Migration 2: MCP servers, their health history, and the audit log.
///
/// JSON columns carry a `json_valid` CHECK: the MCP supervisor and the audit reader parse them on
/// every start, so a malformed value is refused when written rather than discovered at boot.
public enum OperationsSchema {
    public static let migration = Migration(version: 2, name: "operations", sql: """
        -- `group_name` joins replicas that serve the same tools (a project may enable the group);
        -- NULL for a server that stands alone. `definition` is the transport's JSON: command, args
        -- and env for stdio; url and headers for http and sse.
        CREATE TABLE mcp_servers (
            id                 TEXT PRIMARY KEY,
            name               TEXT NOT NULL UNIQUE CHECK (name <> ''),
            group_name         TEXT CHECK (group_name <> ''),
            transport          TEXT NOT NULL CHECK (transport IN ('stdio', 'http', 'sse')),
            definition         TEXT NOT NULL CHECK (json_valid(definition)),
            enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            start_at_boot      INTEGER NOT NULL DEFAULT 1 CHECK (start_at_boot IN (0, 1)),
            health_interval_ms INTEGER NOT NULL CHECK (health_interval_ms > 0),
            health_timeout_ms  INTEGER NOT NULL CHECK (health_timeout_ms > 0),
            call_timeout_ms    INTEGER NOT NULL CHECK (call_timeout_ms > 0),
            created_at         INTEGER NOT NULL,
            updated_at         INTEGER NOT NULL
        );
        CREATE INDEX mcp_servers_by_group ON mcp_servers(group_name, name) WHERE group_name IS NOT NULL;

        -- One row per health probe; pruned by age. The index serves both "latest per server" and
        -- "recent history of one server" (the rowid breaks ties between equal times).
        CREATE TABLE mcp_health (
            id         INTEGER PRIMARY KEY,
            server_id  TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
            at         INTEGER NOT NULL,
            status     TEXT NOT NULL CHECK (status IN ('connecting', 'healthy', 'degraded', 'down')),
            latency_ms REAL CHECK (latency_ms >= 0),
            error      TEXT
        );
        CREATE INDEX mcp_health_by_server ON mcp_health(server_id, at);

        -- Append-only. `actor_id` has no foreign key on purpose: the record of what an account did
        -- must outlive the account. `target_id` is TEXT because targets are of many kinds.
        CREATE TABLE audit_log (
            id          INTEGER PRIMARY KEY,
            at          INTEGER NOT NULL,
            actor_id    TEXT,
            action      TEXT NOT NULL CHECK (action <> ''),
            target_type TEXT NOT NULL,
            target_id   TEXT NOT NULL,
            details     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
            ip          TEXT
        );
        CREATE INDEX audit_log_by_time ON audit_log(at);
        CREATE INDEX audit_log_by_target ON audit_log(target_type, target_id, at);
        """)
}
