import CSQLite
import Dispatch
import Glibc
import Synchronization

/// Copies the WAL back into the database file from a thread of its own.
///
/// SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so the writer
/// thread paid for the copy and its fsync (10% of its time under load). Here a background connection
/// runs PASSIVE checkpoints, which never block the writer or readers: whenever the writer's WAL hook
/// reports the log past `frameThreshold` frames, and at least twice a second. Checkpointing every
/// half second only let the WAL grow to ~70,000 frames (300 MB) between checkpoints under a heavy
/// write load, and every page lookup (`sqlite3WalFindFrame`) walks the WAL index's segments. A
/// RESTART, which blocks the writer while it copies and syncs, is asked for only when a PASSIVE one
/// could not copy everything (readers held old snapshots) and the log is over 16,384 frames, so the
/// file stops growing.
final class Checkpointer: Sendable {
    private let thread: ThreadHandle
    private let flag: StopFlag
    private let trigger: CheckpointTrigger

    /// Frames in the WAL after which a checkpoint starts at once (16 MiB of 4 KiB pages).
    static let frameThreshold: Int32 = {
        if let value = getenv("BUILDERAI_CHECKPOINT_FRAMES"), let frames = Int32(String(cString: value)), frames > 0 { return frames }
        return 4_096
    }()

    /// Starts the thread; `writer` is the writer's connection, whose commits report the WAL's size.
    init(path: String, writer: SQLiteConnection) throws(StoreError) {
        let handOff = CheckpointConnection(try SQLiteConnection(path: path))
        let flag = StopFlag()
        let trigger = CheckpointTrigger(threshold: Checkpointer.frameThreshold)
        self.flag = flag
        self.trigger = trigger
        trigger.install(on: writer)
        thread = ThreadHandle(startStoreThread(name: "store-checkpoint") {
            let db = handOff.connection
            while !flag.isSet {
                trigger.wait(milliseconds: 500)
                guard !flag.isSet else { break }
                let result = (try? db.queryOne("PRAGMA wal_checkpoint(PASSIVE)") { ($0.int(1), $0.int(2)) }) ?? (0, 0)
                if result.0 > 16_384 && result.1 < result.0 {
                    _ = try? db.queryOne("PRAGMA wal_checkpoint(RESTART)") { $0.int(0) }
                }
            }
            _ = try? db.queryOne("PRAGMA wal_checkpoint(PASSIVE)") { $0.int(0) }
        })
    }

    /// Runs a last checkpoint and ends the thread.
    func stop() {
        flag.set()
        trigger.signal()
        thread.join()
    }
}

/// Wakes the checkpointer when the writer's WAL passes a threshold. The writer thread calls the
/// WAL hook after each commit; it only compares a number and, once per crossing, posts a semaphore.
private final class CheckpointTrigger: Sendable {
    private let threshold: Int32
    private let armed = Atomic<Bool>(true)
    private let semaphore = DispatchSemaphore(value: 0)

    init(threshold: Int32) { self.threshold = threshold }

    /// Installs the hook. The connection keeps an unretained pointer to this object, so it is
    /// retained here once for good: one small object per Store, alive as long as the writer may call.
    func install(on writer: SQLiteConnection) {
        guard let handle = writer.rawHandle else { return }
        sqlite3_wal_hook(handle, { context, _, _, frames in
            guard let context else { return SQLITE_OK }
            let trigger = Unmanaged<CheckpointTrigger>.fromOpaque(context).takeUnretainedValue()
            if frames >= trigger.threshold, trigger.armed.exchange(false, ordering: .acquiringAndReleasing) {
                trigger.semaphore.signal()
            }
            return SQLITE_OK
        }, Unmanaged.passRetained(self).toOpaque())
    }

    func signal() { semaphore.signal() }

    /// Waits until the threshold is crossed or the time is up, then re-arms the hook.
    func wait(milliseconds: Int) {
        _ = semaphore.wait(timeout: .now() + .milliseconds(milliseconds))
        armed.store(true, ordering: .releasing)
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
