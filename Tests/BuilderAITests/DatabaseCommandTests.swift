import Foundation
import Store
import Testing
import TestSupport

/// `builderai migrate`, `db backup` and `db check` as an operator runs them.
@Suite struct DatabaseCommandTests {
    let binary = Peers.executable("builderai")

    @Test func migratesThenBacksUpAndChecks() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let first = try Peers.run(binary, ["migrate", "--data-dir", directory.path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("migrated from schema version 0 to \(Migrator.latestVersion)"))
        let second = try Peers.run(binary, ["migrate", "--data-dir", directory.path])
        #expect(second.stdout.contains("nothing to do"))

        let backup = directory.path + "/copy.sqlite3"
        let backedUp = try Peers.run(binary, ["db", "backup", backup, "--data-dir", directory.path])
        #expect(backedUp.status == 0, "\(backedUp.stderr)")
        #expect(FileManager.default.fileExists(atPath: backup))
        #expect(try SQLiteConnection(path: backup, readOnly: true).userVersion == Migrator.latestVersion)

        let checked = try Peers.run(binary, ["db", "check", "--data-dir", directory.path])
        #expect(checked.status == 0)
        #expect(checked.stdout == "ok\n")
    }

    @Test func checkFailsWithExit1AndNamesTheProblem() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        #expect(try Peers.run(binary, ["migrate", "--data-dir", directory.path]).status == 0)
        let raw = try SQLiteConnection(path: Maintenance.databasePath(inDirectory: directory.path))
        try raw.execute("PRAGMA foreign_keys=OFF")
        try raw.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('p1', 'ghost', 'x', 1, 1)")
        let checked = try Peers.run(binary, ["db", "check", "--data-dir", directory.path])
        #expect(checked.status == 1)
        #expect(checked.stdout.contains("foreign key violation: projects"))
    }

    @Test func refusesToWorkWithoutADatabase() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let result = try Peers.run(binary, ["db", "check", "--data-dir", directory.path + "/none"])
        #expect(result.status == 66)
        #expect(result.stderr.contains("no database at"))
        #expect(try Peers.run(binary, ["db", "backup", "--data-dir", directory.path]).status == 64)
        #expect(try Peers.run(binary, ["db", "vacuum"]).status == 64)
    }

    @Test func serveRefusesADatabaseFromANewerBinary() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        #expect(try Peers.run(binary, ["migrate", "--data-dir", directory.path]).status == 0)
        try SQLiteConnection(path: Maintenance.databasePath(inDirectory: directory.path)).execute("PRAGMA user_version = 999")
        let result = try Peers.run(binary, ["serve", "--port", "0", "--data-dir", directory.path])
        #expect(result.status == 70)
        #expect(result.stderr.contains("schema version 999"))
    }
}
