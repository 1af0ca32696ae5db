import Glibc
import Testing
import TestSupport
@testable import Store

/// Migration 6: messages rebuilt in (conversation_id, seq) order, with foreign keys off while the table
/// is swapped and checked before the commit.
@Suite struct ClusteredMessagesMigrationTests {
    @Test func aVersion5DatabaseIsRebuiltKeepingEveryRowAndReference() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/m.sqlite3"
        var ids: [String] = []
        do {
            let db = try SQLiteConnection(path: path)
            try Migrator.migrate(db, to: 5)
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let first = try Conversation.create(db, projectID: project.id, createdBy: owner.id)
            let second = try Conversation.create(db, projectID: project.id, createdBy: owner.id)
            // Interleaved, as conversations write in a running server.
            for i in 0..<50 {
                for conversation in [first, second] {
                    let appended = try Message.append(db, conversationID: conversation.id, role: i % 2 == 0 ? .user : .assistant,
                                                      content: "message \(i)", clientID: i % 2 == 0 ? "client-\(i)" : nil,
                                                      authorID: i % 2 == 0 ? owner.id : nil)
                    ids.append(appended.message.id)
                }
            }
            _ = try UsageRecord.insert(db, projectID: project.id, conversationID: first.id, messageID: ids[1],
                                       userID: owner.id, provider: "offline", model: "offline",
                                       inputTokens: 3, outputTokens: 4)
        }
        let db = try SQLiteConnection(path: path)
        #expect(try Migrator.migrate(db).to == Migrator.latestVersion)
        var wal = stat()
        #expect(stat(path + "-wal", &wal) != 0 || wal.st_size == 0, "the rebuild's WAL was copied back and truncated")
        #expect(try TestDatabase.count(db, "SELECT count(*) FROM messages") == 100)
        #expect(try TestDatabase.count(db, "SELECT count(*) FROM messages WHERE id IN (\(ids.map { "'\($0)'" }.joined(separator: ",")))") == 100)
        #expect(try TestDatabase.count(db, "SELECT count(*) FROM usage_records WHERE message_id = ?", ids[1]) == 1)
        let definition = try db.queryOne("SELECT sql FROM sqlite_schema WHERE name = 'messages'") { $0.string(0) } ?? ""
        #expect(definition.contains("WITHOUT ROWID"))
        #expect(try db.queryOne("PRAGMA foreign_keys") { $0.int(0) } == 1, "foreign keys are back on")

        // A conversation's last messages come from one range of the table, not from an index.
        let plan = try db.query("EXPLAIN QUERY PLAN " + Message.lastSQL, ["c", 100]) { $0.string(3) }
        #expect(plan.contains { $0.contains("USING PRIMARY KEY (conversation_id=?)") }, "\(plan)")
        let conversation = try #require(try db.queryOne("SELECT conversation_id FROM messages WHERE id = ?", [ids[0]]) { $0.string(0) })
        let last = try Message.last(db, conversationID: conversation, limit: 10)
        #expect(last.map(\.seq) == Array(41...50))
        #expect(last.last?.content == "message 49")

        // The constraints hold as before: a taken (conversation, seq), a taken client id, a missing
        // conversation; deleting a message clears the usage record's reference; deleting the
        // conversation removes its messages.
        let duplicate = #expect(throws: StoreError.self) {
            try Message.insert(db, conversationID: conversation, seq: 1, role: .user, content: "again")
        }
        #expect(duplicate?.kind == .uniqueViolation)
        let retried = try Message.append(db, conversationID: conversation, role: .user, content: "again", clientID: "client-0")
        #expect(!retried.inserted && retried.message.id == ids[0])
        let orphan = #expect(throws: StoreError.self) {
            try Message.insert(db, conversationID: "missing", seq: 1, role: .user, content: "x")
        }
        #expect(orphan?.kind == .foreignKeyViolation)
        try db.run("DELETE FROM messages WHERE id = ?", [ids[1]])
        #expect(try TestDatabase.count(db, "SELECT count(*) FROM usage_records WHERE message_id IS NULL") == 1)
        try db.run("DELETE FROM conversations WHERE id = ?", [conversation])
        #expect(try TestDatabase.count(db, "SELECT count(*) FROM messages WHERE conversation_id = ?", conversation) == 0)
        #expect(try Maintenance.check(databaseAt: path).isEmpty)
    }

    @Test func rowsThatBreakAForeignKeyFailTheRebuildAndLeaveVersion5AsItWas() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/m.sqlite3"
        do {
            let db = try SQLiteConnection(path: path)
            try Migrator.migrate(db, to: 5)
            // A message whose conversation is gone, written with foreign keys off (as by a tool outside builderai).
            try db.execute("PRAGMA foreign_keys = OFF")
            try db.run("INSERT INTO messages (id, conversation_id, seq, role, content, status, created_at, updated_at) VALUES ('orphan', 'gone', 1, 'user', '[]', 'complete', 1, 1)")
        }
        let db = try SQLiteConnection(path: path)
        let error = #expect(throws: StoreError.self) { try Migrator.migrate(db) }
        #expect(error?.message.contains("migration 6") == true && error?.message.contains("foreign keys") == true, "\(String(describing: error))")
        #expect(try db.userVersion == 5)
        let definition = try db.queryOne("SELECT sql FROM sqlite_schema WHERE name = 'messages'") { $0.string(0) } ?? ""
        #expect(!definition.contains("WITHOUT ROWID"))
        #expect(try TestDatabase.count(db, "SELECT count(*) FROM messages WHERE id = 'orphan'") == 1)
        #expect(try db.queryOne("PRAGMA foreign_keys") { $0.int(0) } == 1)
    }
}
