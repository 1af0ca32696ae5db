import Testing
import TestSupport
@testable import Store

/// Numbered migrations: forward from every earlier version, refusal of newer databases, atomicity.
@Suite struct MigrationTests {
    @Test func migratesAFreshDatabaseToTheLatestVersion() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = try SQLiteConnection(path: directory.path + "/m.sqlite3")
        let (from, to) = try Migrator.migrate(db)
        #expect(from == 0 && to == Migrator.latestVersion)
        #expect(try db.userVersion == Migrator.latestVersion)
        // Running again is a no-op.
        let again = try Migrator.migrate(db)
        #expect(again.from == Migrator.latestVersion && again.to == Migrator.latestVersion)
    }

    /// A database left at each earlier version, with a row in it, migrates forward intact.
    @Test(arguments: 0..<Migrator.latestVersion)
    func migratesForwardFromAnEarlierVersionKeepingData(version: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/m.sqlite3"
        do {
            let db = try SQLiteConnection(path: path)
            try Migrator.migrate(db, to: version)
            #expect(try db.userVersion == version)
            if version >= 1 {
                try db.run("INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) VALUES ('u1', 'a@example.com', 'A', 'h', 1, 1)")
            }
        }
        let db = try SQLiteConnection(path: path)
        let (from, to) = try Migrator.migrate(db)
        #expect(from == version && to == Migrator.latestVersion)
        if version >= 1 {
            #expect(try db.queryOne("SELECT email FROM users WHERE id = 'u1'") { $0.string(0) } == "a@example.com")
        }
        #expect(try Maintenance.check(databaseAt: path).isEmpty)
    }

    @Test func refusesADatabaseFromANewerBinary() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = try SQLiteConnection(path: Maintenance.databasePath(inDirectory: directory.path))
        try db.execute("PRAGMA user_version = 999")
        let error = #expect(throws: StoreError.self) { try Migrator.migrate(db) }
        #expect(error?.kind == .schemaTooNew)
        #expect(error?.message.contains("schema version 999") == true)
        let opening = #expect(throws: StoreError.self) { try Store(directory: directory.path) }
        #expect(opening?.kind == .schemaTooNew)
    }

    @Test func aFailingMigrationLeavesThePreviousVersionUntouched() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = try SQLiteConnection(path: directory.path + "/m.sqlite3")
        let steps = [
            Migration(version: 1, name: "one", sql: "CREATE TABLE a (x INTEGER)"),
            Migration(version: 2, name: "two", sql: "CREATE TABLE b (x INTEGER); CREATE TABLE broken (;"),
        ]
        let error = #expect(throws: StoreError.self) { try Migrator.migrate(db, migrations: steps) }
        #expect(error?.message.contains("migration 2 (two) failed") == true)
        #expect(try db.userVersion == 1)
        #expect(try db.queryOne("SELECT count(*) FROM sqlite_master WHERE name = 'b'") { $0.int(0) } == 0)
    }
}
