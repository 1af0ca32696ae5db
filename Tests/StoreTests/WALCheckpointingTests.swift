import Dispatch
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import Store

/// The WAL must stay short under a write load that never pauses: a WAL only starts over once a
/// checkpoint has copied all of it, which a background checkpoint never manages while commits keep
/// coming (it grew by ~200 MiB a second in the store benchmark before the writer took part).
@Suite struct WALCheckpointingTests {
    @Test func theWALStaysShortWhileTheWriterNeverPauses() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let restartFrames = 1_024
        let store = try Store(directory: directory.path, walRestartFrames: restartFrames)
        let conversations = try seedConversations(store, count: 32)
        let feeder = Feeder(store: store, conversations: conversations, total: 12_000)
        feeder.start(inFlight: 64)
        #expect(feeder.finished.wait(timeout: .now() + 120) == .success)
        #expect(feeder.failed.load(ordering: .relaxed) == 0)

        // Each batch of ~64 messages dirties ~64 pages (a table and an index leaf per conversation), so
        // these writes put well over 10,000 frames through the WAL; it must have started over instead
        // of growing. It may pass the threshold by the batches committed while the writer waits for
        // its turn to checkpoint (a few hundred frames each). The file keeps its largest size until the
        // database closes.
        var info = stat()
        #expect(stat(store.path + "-wal", &info) == 0)
        let frameBytes = 4_096 + 24
        #expect(Int(info.st_size) <= 32 + 3 * restartFrames * frameBytes, "WAL file of \(info.st_size) bytes")
        #expect(store.writer.checkpointing.writerCheckpoints >= 3)

        let db = try SQLiteConnection(path: store.path, readOnly: true)
        #expect(try db.queryOne("SELECT count(*) FROM messages") { $0.int(0) } == 12_000)
        #expect(try db.queryOne("PRAGMA integrity_check") { $0.string(0) } == "ok")
        store.close()
    }

    private func seedConversations(_ store: Store, count: Int) throws -> [String] {
        try store.writer.writeAndWait { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            return try (0..<count).map { _ in try Conversation.create(db, projectID: project.id, createdBy: owner.id).id }
        }
    }
}

/// Keeps `inFlight` message inserts queued: each completion (on the writer thread) submits the next
/// one, so the writer always finds work waiting and never goes idle.
private final class Feeder: Sendable {
    let store: Store
    let conversations: [String]
    let total: Int
    let issued = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let finished = DispatchSemaphore(value: 0)

    init(store: Store, conversations: [String], total: Int) {
        self.store = store
        self.conversations = conversations
        self.total = total
    }

    func start(inFlight: Int) {
        for _ in 0..<inFlight { next() }
    }

    private func next() {
        let n = issued.add(1, ordering: .relaxed).oldValue
        guard n < total else { return }
        let conversation = conversations[n % conversations.count]
        let seq = n / conversations.count + 1
        do {
            try store.writer.submit({ db in
                try Message.insert(db, conversationID: conversation, seq: seq, role: .user,
                                   content: "message \(n) of a load that never pauses")
            }) { result in
                if case .failure = result { self.failed.add(1, ordering: .relaxed) }
                self.finishOne()
            }
        } catch {
            failed.add(1, ordering: .relaxed)
            finishOne()
        }
    }

    private func finishOne() {
        if completed.add(1, ordering: .relaxed).newValue == total { finished.signal() } else { next() }
    }
}
