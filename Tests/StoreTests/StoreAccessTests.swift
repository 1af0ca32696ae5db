import Dispatch
import Glibc
import Testing
import TestSupport
@testable import Store

/// Readers beside the writer, online backup, and the checks.
@Suite struct StoreAccessTests {
    @Test func loopReadersDoNotWaitForAnOpenWriteTransaction() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path, loopCount: 2)
        defer { store.close() }
        try store.writer.writeAndWait { db in
            try db.run("INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) VALUES ('u1', 'a@x.io', 'A', 'h', 1, 1)")
        }
        let inside = DispatchSemaphore(value: 0)
        let finish = DispatchSemaphore(value: 0)
        try store.writer.submit({ db in
            try db.run("UPDATE users SET display_name = 'B' WHERE id = 'u1'")
            inside.signal()
            finish.wait()
        }) { _ in }
        inside.wait()
        let start = monotonicNanoseconds()
        let name = try store.readers.read(loop: 1) { db in try db.queryOne("SELECT display_name FROM users") { $0.string(0) } }
        #expect(monotonicNanoseconds() - start < 100_000_000)
        #expect(name == "A")
        finish.signal()
    }

    @Test func backgroundReadsCompleteOffTheCallingThread() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path)
        defer { store.close() }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var version = 0
        try store.readers.readInBackground({ db in try db.userVersion }) { result in
            version = (try? result.get()) ?? -1
            done.signal()
        }
        done.wait()
        #expect(version == Migrator.latestVersion)
    }

    @Test func backsUpWhileWritesContinue() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path + "/live")
        defer { store.close() }
        try store.writer.writeAndWait { db in
            try db.run("INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) VALUES ('u1', 'a@x.io', 'A', 'h', 1, 1)")
        }
        let writing = DispatchGroup()
        nonisolated(unsafe) var written = 0
        DispatchQueue.global().async(group: writing) {
            for i in 0..<200 {
                if (try? store.writer.writeAndWait { db in
                    try db.run("INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) VALUES (?, ?, 'W', 'h', 1, 1)",
                               ["w\(i)", "w\(i)@x.io"])
                }) != nil { written += 1 }
            }
        }
        let backup = directory.path + "/backup.sqlite3"
        try Maintenance.backup(databaseAt: store.path, to: backup)
        writing.wait()
        #expect(written == 200)
        #expect(try Maintenance.check(databaseAt: backup).isEmpty)
        let copy = try SQLiteConnection(path: backup, readOnly: true)
        #expect(try copy.userVersion == Migrator.latestVersion)
        // One consistent snapshot: somewhere between before and after the concurrent writes.
        let users = try copy.queryOne("SELECT count(*) FROM users") { $0.int(0) } ?? -1
        #expect(users >= 1 && users <= 201)
        #expect(access(backup + ".partial", F_OK) != 0)
    }

    @Test func checkReportsAForeignKeyViolation() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(directory: directory.path)
        store.close()
        let raw = try SQLiteConnection(path: store.path)
        try raw.execute("PRAGMA foreign_keys=OFF")
        try raw.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES ('p1', 'nobody', 'orphan', 1, 1)")
        let problems = try Maintenance.check(databaseAt: store.path)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("projects") == true)
    }
}
