import Testing
import TestSupport
@testable import Store

/// The "builderai-wal" VFS shim (Sources/CSQLite/wal_coalescing.h): a commit's WAL frames reach the
/// file in one write, and nothing SQLite or another connection can observe changes.
@Suite struct WALCoalescingTests {
    private func open(_ directory: TemporaryDirectory) throws -> SQLiteConnection {
        try SQLiteConnection(path: directory.path + "/wal.sqlite3")
    }

    private func count(_ db: SQLiteConnection) throws -> Int {
        try db.queryOne("SELECT count(*) FROM items") { $0.int(0) } ?? -1
    }

    private func integrity(_ db: SQLiteConnection) throws -> String {
        try db.queryOne("PRAGMA integrity_check") { $0.string(0) } ?? ""
    }

    @Test func aCommitReachesTheFileInOneWriteAndIsVisibleToAnotherConnectionAtOnce() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try open(directory)
        try writer.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value BLOB NOT NULL)")
        let reader = try open(directory)
        let before = try #require(writer.walWriteCounters)
        var expected = 0
        for round in 0..<150 {
            try writer.execute("BEGIN")
            // Random keys scatter the rows over many pages of the key index: a multi-page commit.
            for _ in 0..<25 {
                try writer.run("INSERT INTO items (key, value) VALUES (?, randomblob(300))", ["\(UInt64.random(in: 0...UInt64.max))-\(round)"])
            }
            try writer.execute("COMMIT")
            expected += 25
            #expect(try count(reader) == expected, "round \(round): a committed transaction must be visible at once")
        }
        let after = try #require(writer.walWriteCounters)
        let sqliteWrites = after.sqliteWrites - before.sqliteWrites
        let fileWrites = after.fileWrites - before.fileWrites
        // Each commit wrote a header and a page per dirty page (dozens of writes); the file got about
        // one write per commit (more only past 124 KiB).
        #expect(sqliteWrites >= 150 * 8, "expected multi-page commits, SQLite made \(sqliteWrites) writes")
        #expect(fileWrites <= 150 * 3, "\(fileWrites) file writes for 150 commits (\(sqliteWrites) from SQLite)")
        #expect(try integrity(reader) == "ok")
    }

    @Test func spilledTransactionsSavepointRollbacksAndCheckpointsKeepTheDatabaseExact() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try open(directory)
        // A tiny page cache makes SQLite spill dirty pages into the WAL mid-transaction, re-dirty and
        // rewrite them in place, and read them back: every path where buffering could show.
        try writer.execute("PRAGMA cache_size=20")
        try writer.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value BLOB NOT NULL)")
        let reader = try open(directory)
        var expected = 0
        for round in 0..<6 {
            try writer.execute("BEGIN")
            // ~12 MiB in one transaction: past the shim's 8 MiB flush point as well.
            for i in 0..<3_000 {
                try writer.run("INSERT INTO items (key, value) VALUES (?, randomblob(4000))", ["r\(round)-\(i)-\(UInt32.random(in: 0...UInt32.max))"])
            }
            try writer.execute("SAVEPOINT undo")
            for i in 0..<500 {
                try writer.run("INSERT INTO items (key, value) VALUES (?, randomblob(2000))", ["undone-\(round)-\(i)"])
            }
            try writer.execute("UPDATE items SET value = randomblob(100) WHERE id % 7 = 0")
            try writer.execute("ROLLBACK TO undo")
            try writer.execute("RELEASE undo")
            #expect(try count(reader) == expected, "round \(round): an open transaction must stay invisible")
            try writer.execute("COMMIT")
            expected += 3_000
            #expect(try count(reader) == expected, "round \(round)")
            #expect(try reader.queryOne("SELECT count(*) FROM items WHERE key LIKE 'undone-%'") { $0.int(0) } == 0)
            if round % 2 == 1 {
                // A checkpoint that empties the WAL makes the writer start it over at offset 0.
                try reader.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            }
        }
        #expect(try integrity(writer) == "ok")
        #expect(try integrity(reader) == "ok")
        let fresh = try open(directory)
        #expect(try count(fresh) == expected)
    }
}
