import Testing
import TestSupport
@testable import Store

/// Migration 5: CHECK constraints over three or more values become OR-chains, so inserting or
/// updating a row no longer builds a temporary B-tree per constraint, and they still reject the same values.
@Suite struct CheckConstraintsMigrationTests {
    /// The opcodes SQLite compiled for `sql`.
    private func opcodes(_ db: SQLiteConnection, _ sql: String, _ parameters: [any SQLiteBindable]) throws -> [String] {
        try db.query("EXPLAIN " + sql, parameters) { $0.string(1) }
    }

    private static let insertMessage = """
        INSERT INTO messages (id, conversation_id, seq, role, content, status, created_at, updated_at)
        VALUES (?, ?, ?, ?, '[]', ?, 1, 1)
        """

    @Test func messageWritesCompileWithoutTemporaryTablesAndStillRejectUnknownValues() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let conversation = try Conversation.create(db, projectID: project.id, createdBy: owner.id)
            let none: String? = nil
            #expect(!(try opcodes(db, Self.insertMessage, ["m0", conversation.id, 1, "user", "complete"])).contains("OpenEphemeral"))
            #expect(!(try opcodes(db, "UPDATE messages SET content = ?, status = ? WHERE id = ?", ["[]", "complete", "m0"]))
                .contains("OpenEphemeral"))
            #expect(!(try opcodes(db, "INSERT INTO mcp_health (server_id, at, status, latency_ms, error) VALUES (?, 1, ?, 1, ?)",
                                  ["s", "healthy", none])).contains("OpenEphemeral"))

            var seq = 0
            for role in ["system", "user", "assistant", "tool"] {
                for status in ["complete", "incomplete", "cancelled", "error"] {
                    seq += 1
                    try db.run(Self.insertMessage, [StoreID.make(), conversation.id, seq, role, status])
                }
            }
            for (role, status) in [("bot", "complete"), ("user", "done"), ("USER", "complete"), ("user", "Complete")] {
                seq += 1
                let error = #expect(throws: StoreError.self) {
                    try db.run(Self.insertMessage, [StoreID.make(), conversation.id, seq, role, status])
                }
                #expect(error?.kind == .constraintViolation, "\(role)/\(status)")
            }
            let updating = #expect(throws: StoreError.self) {
                try db.run("UPDATE messages SET status = 'finished' WHERE seq = 1 AND conversation_id = ?", [conversation.id])
            }
            #expect(updating?.kind == .constraintViolation)
            #expect(try TestDatabase.count(db, "SELECT count(*) FROM messages") == 16)

            let member = try TestDatabase.user(db, "bob")
            let role = #expect(throws: StoreError.self) {
                try db.run("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, 'admin', 1)",
                           [project.id, member.id])
            }
            #expect(role?.kind == .constraintViolation)
            try db.run("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, 'viewer', 1)",
                       [project.id, member.id])
            for (transport, accepted) in [("stdio", true), ("http", true), ("sse", true), ("websocket", false)] {
                let insert = {
                    try db.run("""
                        INSERT INTO mcp_servers (id, name, transport, definition, health_interval_ms, health_timeout_ms,
                            call_timeout_ms, created_at, updated_at) VALUES (?, ?, ?, '{}', 1, 1, 1, 1, 1)
                        """, [StoreID.make(), "server-\(transport)", transport])
                }
                if accepted { _ = try insert() } else { #expect(throws: StoreError.self) { _ = try insert() } }
            }
        }
    }

    @Test func aDatabaseAtVersion4MigratesInPlaceAndAnotherConnectionSeesTheNewDefinitions() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/m.sqlite3"
        let old = try SQLiteConnection(path: path)
        try Migrator.migrate(old, to: 4)
        let owner = try TestDatabase.user(old)
        let project = try TestDatabase.project(old, owner: owner)
        let conversation = try Conversation.create(old, projectID: project.id, createdBy: owner.id)
        try old.run(Self.insertMessage, ["kept", conversation.id, 1, "assistant", "incomplete"])
        #expect(try opcodes(old, Self.insertMessage, ["m", conversation.id, 2, "user", "complete"]).contains("OpenEphemeral"),
                "version 4 compiles the IN lists into temporary tables")

        let db = try SQLiteConnection(path: path)
        let (from, to) = try Migrator.migrate(db)
        #expect(from == 4 && to == Migrator.latestVersion)
        let definition = try db.queryOne("SELECT sql FROM sqlite_schema WHERE name = 'messages'") { $0.string(0) } ?? ""
        #expect(definition.contains("CHECK (role = 'system' OR role = 'user' OR role = 'assistant' OR role = 'tool')"))
        #expect(!definition.contains(" IN ("))
        // The connection opened before the migration re-reads the schema at its next statement
        // (schema_version moved on) and compiles the new definitions (a statement text it has not cached:
        // EXPLAIN of a cached one is not re-prepared, since it never opens a transaction).
        #expect(throws: StoreError.self) { try old.run(Self.insertMessage, ["bad", conversation.id, 2, "robot", "complete"]) }
        #expect(!(try opcodes(old, Self.insertMessage + " ", ["m", conversation.id, 2, "user", "complete"])).contains("OpenEphemeral"))
        #expect(try db.queryOne("SELECT status FROM messages WHERE id = 'kept'") { $0.string(0) } == "incomplete")
        #expect(try Maintenance.check(databaseAt: path).isEmpty)
    }

    @Test func aDefinitionChangedOutsideBuilderaiFailsTheMigrationAndChangesNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/m.sqlite3"
        do {
            let db = try SQLiteConnection(path: path)
            try Migrator.migrate(db, to: 4)
            // Someone edited mcp_health's constraint by hand; messages comes earlier in the list.
            let version = try db.queryOne("PRAGMA schema_version") { $0.int(0) } ?? 0
            try db.execute("PRAGMA writable_schema = ON")
            try db.run("UPDATE sqlite_schema SET sql = replace(sql, '''down''', '''offline''') WHERE name = 'mcp_health'")
            try db.execute("PRAGMA schema_version = \(version + 1)")
            try db.execute("PRAGMA writable_schema = OFF")
        }
        let db = try SQLiteConnection(path: path)
        let error = #expect(throws: StoreError.self) { try Migrator.migrate(db) }
        #expect(error?.message.contains("mcp_health") == true)
        #expect(try db.userVersion == 4)
        let definition = try db.queryOne("SELECT sql FROM sqlite_schema WHERE name = 'messages'") { $0.string(0) } ?? ""
        #expect(definition.contains("CHECK (role IN ('system', 'user', 'assistant', 'tool'))"), "rolled back with the rest")
        #expect(try Maintenance.check(databaseAt: path).isEmpty)
    }
}
