import Dispatch
import Glibc
import Net
import Synchronization
import Testing
import TestSupport
@testable import Store

/// The group-commit writer: batching, isolation of failing writes, bounded queue, draining on close.
@Suite struct DatabaseWriterTests {
    private func makeWriter(_ directory: TemporaryDirectory, capacity: Int = 16_384) throws -> DatabaseWriter {
        let db = try SQLiteConnection(path: directory.path + "/w.sqlite3")
        try db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE)")
        return DatabaseWriter(connection: db, capacity: capacity)
    }

    private func count(_ directory: TemporaryDirectory) throws -> Int {
        let db = try SQLiteConnection(path: directory.path + "/w.sqlite3", readOnly: true)
        return try db.queryOne("SELECT count(*) FROM items") { $0.int(0) } ?? -1
    }

    @Test func countsBatchesThatHoldTheirCallersFor50MillisecondsOrMore() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try makeWriter(directory)
        defer { writer.close() }
        try writer.writeAndWait { db in try db.run("INSERT INTO items (value) VALUES ('quick')") }
        #expect(writer.longestBatchNanoseconds > 0)
        // Counted relative to here: a loaded test machine may make even the quick batch slow.
        let before = writer.slowBatches
        try writer.writeAndWait { db in
            usleep(60_000)
            try db.run("INSERT INTO items (value) VALUES ('slow')")
        }
        #expect(writer.slowBatches == before + 1)
        #expect(writer.longestBatchNanoseconds >= 60_000_000)
    }

    @Test func commitsWritesFromManyThreadsInFewerTransactions() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try makeWriter(directory)
        let group = DispatchGroup()
        let failures = Atomic<Int>(0)
        for thread in 0..<8 {
            DispatchQueue.global().async(group: group) {
                let done = DispatchGroup()
                for i in 0..<500 {
                    done.enter()
                    do {
                        try writer.submit({ db in try db.run("INSERT INTO items (value) VALUES (?)", ["\(thread)-\(i)"]) },
                                          deadline: monotonicNanoseconds() + 10_000_000_000) { result in
                            if case .failure = result { failures.add(1, ordering: .relaxed) }
                            done.leave()
                        }
                    } catch {
                        failures.add(1, ordering: .relaxed)
                        done.leave()
                    }
                }
                done.wait()
            }
        }
        group.wait()
        writer.close()
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(try count(directory) == 4_000)
        #expect(writer.committedWrites == 4_000)
        // Group commit: concurrent writers share transactions.
        #expect(writer.commits < 4_000)
    }

    @Test func aFailingWriteRollsBackAloneAndItsNeighboursCommit() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try makeWriter(directory)
        let results = Locked<[String: Bool]>([:])
        let done = DispatchGroup()
        // A slow first write holds the writer so that the next three land in one batch.
        for value in ["slow", "a", "a", "b"] {
            done.enter()
            try writer.submit({ db in
                if value == "slow" { usleep(100_000) }
                try db.run("INSERT INTO items (value) VALUES (?)", [value])
                // The failing duplicate also made a change first; it must vanish with it.
                if value == "a" { try db.run("INSERT INTO items (value) VALUES (?)", [value + "-extra"]) }
            }) { result in
                results.withLock { $0[value, default: true] = $0[value, default: true] && (try? result.get()) != nil }
                done.leave()
            }
        }
        done.wait()
        writer.close()
        let db = try SQLiteConnection(path: directory.path + "/w.sqlite3", readOnly: true)
        let values = try db.query("SELECT value FROM items ORDER BY value") { $0.string(0) }
        #expect(values == ["a", "a-extra", "b", "slow"])
        #expect(results.withLock { $0 } == ["slow": true, "a": false, "b": true])
        #expect(writer.commits <= 2)
    }

    @Test func refusesWithBusyWhenTheQueueIsFullAndWaitsWithADeadline() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try makeWriter(directory, capacity: 2)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        try writer.submit({ _ in
            started.signal()
            release.wait()
        }) { _ in }
        started.wait()
        try writer.submit({ db in try db.run("INSERT INTO items (value) VALUES ('q1')") }) { _ in }
        try writer.submit({ db in try db.run("INSERT INTO items (value) VALUES ('q2')") }) { _ in }
        let busy = #expect(throws: StoreError.self) {
            try writer.submit({ db in try db.run("INSERT INTO items (value) VALUES ('q3')") }) { _ in }
        }
        #expect(busy?.kind == .busy)
        let timedOut = #expect(throws: StoreError.self) {
            try writer.submit({ _ in }, deadline: monotonicNanoseconds() + 50_000_000) { _ in }
        }
        #expect(timedOut?.kind == .busy)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { release.signal() }
        let done = DispatchSemaphore(value: 0)
        try writer.submit({ db in try db.run("INSERT INTO items (value) VALUES ('q4')") },
                          deadline: monotonicNanoseconds() + 5_000_000_000) { _ in done.signal() }
        done.wait()
        writer.close()
        #expect(try count(directory) == 3)
    }

    @Test func closeCommitsWhatIsQueuedAndThenRefusesWrites() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try makeWriter(directory)
        for i in 0..<1_000 {
            try writer.submit({ db in try db.run("INSERT INTO items (value) VALUES (?)", ["v\(i)"]) }) { _ in }
        }
        writer.close()
        #expect(try count(directory) == 1_000)
        let closed = #expect(throws: StoreError.self) { try writer.submit({ _ in }) { _ in } }
        #expect(closed?.kind == .closed)
    }

    @Test func asyncWriteReturnsTheValueAfterCommit() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let writer = try makeWriter(directory)
        let id = try await writer.write { db in
            try db.run("INSERT INTO items (value) VALUES ('x')")
            return db.lastInsertRowID
        }
        #expect(id == 1)
        await #expect(throws: StoreError.self) {
            try await writer.write { db in try db.run("INSERT INTO items (value) VALUES ('x')") }
        }
        writer.close()
    }
}
