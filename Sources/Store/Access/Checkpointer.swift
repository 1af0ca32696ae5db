import Glibc
import Synchronization

/// Copies the WAL back into the database file from a thread of its own.
///
/// SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so the writer
/// thread paid for the copy and its fsync (10% of its time under load). Here a background connection
/// runs PASSIVE checkpoints, which never block the writer or readers, twice a second; when one could
/// not copy a WAL of more than 64 MiB entirely it also asks for a RESTART so the file stops growing.
final class Checkpointer: Sendable {
    private let thread: ThreadHandle
    private let flag: StopFlag

    init(path: String) throws(StoreError) {
        let handOff = CheckpointConnection(try SQLiteConnection(path: path))
        let flag = StopFlag()
        self.flag = flag
        thread = ThreadHandle(startStoreThread(name: "store-checkpoint") {
            let db = handOff.connection
            while !flag.isSet {
                for _ in 0..<10 where !flag.isSet { usleep(50_000) }
                // (log frames, frames copied). A RESTART blocks the writer while it copies and syncs, so
                // it is only for a WAL that PASSIVE could not copy entirely (readers held old snapshots):
                // once everything is copied, new readers leave the WAL alone and the writer starts it
                // over by itself.
                let result = (try? db.queryOne("PRAGMA wal_checkpoint(PASSIVE)") { ($0.int(1), $0.int(2)) }) ?? (0, 0)
                if result.0 > 16_384 && result.1 < result.0 { _ = try? db.queryOne("PRAGMA wal_checkpoint(RESTART)") { $0.int(0) } }
            }
            _ = try? db.queryOne("PRAGMA wal_checkpoint(PASSIVE)") { $0.int(0) }
        })
    }

    /// Runs a last checkpoint and ends the thread.
    func stop() {
        flag.set()
        thread.join()
    }
}

/// A flag the owner sets once to stop a background thread.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// The checkpointer's connection, used only by its thread.
private final class CheckpointConnection: @unchecked Sendable {
    // Invariant: created before the thread starts and used only by it afterwards.
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
