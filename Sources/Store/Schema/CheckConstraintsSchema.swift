/// Migration 5: CHECK constraints that list three or more values, rewritten as OR-chains of equalities.
///
/// SQLite compiles `x IN (a, b, c, …)` with more than two constants into a temporary B-tree that it
/// builds anew every time the statement runs (pager, B-tree and page allocations, then the inserts of
/// the constants): in a CHECK constraint, for every row inserted or updated. `messages` had two such
/// checks (role, status), so each message insert and each streamed text save built two temporary
/// tables: ~25% of the writer thread under the store benchmark. `x = a OR x = b …` means the same
/// (NULL still passes, the column's affinity still applies) and compiles to plain comparisons.
///
/// SQLite cannot alter a CHECK constraint, and rebuilding `messages` would copy every message at
/// start-up. A change that leaves the stored format alone may instead edit the table's definition in
/// `sqlite_schema` (SQLite's ALTER TABLE documentation, "Making Other Kinds Of Table Schema Changes":
/// `writable_schema`, then a schema_version one higher so every connection re-reads the schema), all
/// inside the migration's transaction. Each replacement must match the definition this binary created
/// exactly once, or the migration fails and changes nothing.
public enum CheckConstraintsSchema {
    /// (table, constraint as created by an earlier migration, equivalent constraint).
    static let rewrites: [(table: String, old: String, new: String)] = [
        ("project_members", "CHECK (role IN ('owner', 'editor', 'viewer'))",
         "CHECK (role = 'owner' OR role = 'editor' OR role = 'viewer')"),
        ("messages", "CHECK (role IN ('system', 'user', 'assistant', 'tool'))",
         "CHECK (role = 'system' OR role = 'user' OR role = 'assistant' OR role = 'tool')"),
        ("messages", "CHECK (status IN ('complete', 'incomplete', 'cancelled', 'error'))",
         "CHECK (status = 'complete' OR status = 'incomplete' OR status = 'cancelled' OR status = 'error')"),
        ("mcp_servers", "CHECK (transport IN ('stdio', 'http', 'sse'))",
         "CHECK (transport = 'stdio' OR transport = 'http' OR transport = 'sse')"),
        ("mcp_health", "CHECK (status IN ('connecting', 'healthy', 'degraded', 'down'))",
         "CHECK (status = 'connecting' OR status = 'healthy' OR status = 'degraded' OR status = 'down')"),
    ]

    public static let migration = Migration(version: 5, name: "checks-without-temporary-tables") { db in
        let version = try db.queryOne("PRAGMA schema_version") { $0.int(0) } ?? 0
        try db.execute("PRAGMA writable_schema = ON")
        defer { try? db.execute("PRAGMA writable_schema = OFF") }
        for rewrite in rewrites {
            let definition = try db.queryOne("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?",
                                             [rewrite.table]) { $0.string(0) } ?? ""
            guard definition.ranges(of: rewrite.old).count == 1 else {
                throw StoreError(kind: .sqlite, message: "the \(rewrite.table) table's definition does not contain "
                    + "\(rewrite.old) exactly once; it was changed outside builderai")
            }
            try db.run("UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?",
                       [definition.replacing(rewrite.old, with: rewrite.new), rewrite.table])
        }
        try db.execute("PRAGMA schema_version = \(version + 1)")
        try db.execute("PRAGMA writable_schema = OFF")
        // Parse the new definitions now, inside the transaction: a mistake fails the migration here.
        for table in Set(rewrites.map(\.table)) {
            _ = try db.queryOne("SELECT count(*) FROM \(table) WHERE 0") { $0.int(0) }
        }
    }
}
