import CSQLite
import Glibc
import Synchronization

/// Keeps the WAL short: a background thread copies it into the database file, and the writer finishes
/// the job between two batches so the WAL can start over.
///
/// SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so the writer
/// thread paid for the copy and its fsync (10% of its time under load). Here a background connection
/// runs PASSIVE checkpoints, which never block the writer or readers, every 5 ms while the WAL
/// grows. But a WAL only starts over from its first frame once a checkpoint has copied *all* of it,
/// and under a steady stream of commits the background one never catches the writer: the WAL grew by
/// ~200 MiB a second (2.4 GiB after 10 s of the store benchmark), every frame landed on a fresh page
/// of the file, and page lookups had ever more WAL-index segments to search. A RESTART from the background thread did
/// not help either: it waits for the write lock with the busy handler, which sleeps for milliseconds
/// while the writer takes the lock again within microseconds. So the writer itself, once the WAL has
/// `WALCheckpointing.restartFrames` frames, runs a PASSIVE checkpoint between two batches (nothing
/// new can arrive then), which copies what the background had not yet copied; its next transaction
/// then starts the WAL over (unless a reader still uses old frames, in which case a later one does).
final class Checkpointer: Sendable {
    private let thread: ThreadHandle
    private let flag: StopFlag

    init(path: String, coordination: WALCheckpointing) throws(StoreError) {
        let handOff = CheckpointConnection(try SQLiteConnection(path: path))
        let flag = StopFlag()
        self.flag = flag
        thread = ThreadHandle(startStoreThread(name: "store-checkpoint") {
            let db = handOff.connection
            var lastLength = -1
            var writing = false
            while !flag.isSet {
                // Every 5 ms while the WAL grows, so that what is left for the writer to copy stays
                // small (its pauses were 20-28 ms with a round every 100 ms, 7-11 ms with 5 ms); every
                // 100 ms while it does not, so an idle server does not wake 200 times a second.
                usleep(writing ? 5_000 : 100_000)
                // While the writer waits to finish a checkpoint, a round here would only make its
                // attempt fail (one checkpointer at a time), so leave the WAL to it.
                if coordination.writerFinishing.load(ordering: .relaxed) { continue }
                let length = db.checkpoint(SQLITE_CHECKPOINT_PASSIVE)?.log ?? lastLength
                writing = length != lastLength
                lastLength = length
            }
            _ = db.checkpoint(SQLITE_CHECKPOINT_PASSIVE)
        })
    }

    /// Runs a last checkpoint and ends the thread.
    func stop() {
        flag.set()
        thread.join()
    }
}

/// What the writer and the background checkpointer share, and the writer's side of the work.
public final class WALCheckpointing: Sendable {
    /// The WAL length, in frames (pages), at which the writer finishes a checkpoint itself.
    public let restartFrames: Int
    /// Set while the writer wants to checkpoint; the background thread skips its rounds meanwhile.
    let writerFinishing = Atomic<Bool>(false)
    private let checkpoints = Atomic<Int>(0)
    private let longest = Atomic<Int>(0)

    /// 65,536 frames: 256 MiB with 4 KiB pages. Each of the writer's checkpoints holds its batches back
    /// for up to ~10-17 ms (what the background had not copied yet); at 16,384 frames they came 7 times
    /// a second under 64 producers and held back over 1% of acknowledgements (p99 10.5-10.9 ms with
    /// messages clustered by conversation), at 65,536 twice a second (p99 4.5 ms).
    public static let defaultRestartFrames = 65_536

    public init(restartFrames: Int = WALCheckpointing.defaultRestartFrames) {
        self.restartFrames = max(1, restartFrames)
    }

    /// Checkpoints the writer ran to let the WAL start over.
    public var writerCheckpoints: Int { checkpoints.load(ordering: .relaxed) }
    /// The longest of them, in nanoseconds: the writer takes no batch meanwhile.
    public var longestWriterCheckpointNanoseconds: Int { longest.load(ordering: .relaxed) }

    /// The writer's state between batches; lives on the writer thread.
    struct WriterSide {
        /// Try again when the WAL reaches this length.
        var nextAttempt: Int
        /// The WAL's length at the last look: shorter now means it started over.
        var lastLength = 0
    }

    func writerSide() -> WriterSide { WriterSide(nextAttempt: restartFrames) }

    /// Called by the writer after each batch, outside any transaction.
    func afterBatch(_ db: SQLiteConnection, _ side: inout WriterSide) {
        let length = db.walLength
        if length < side.lastLength { side.nextAttempt = restartFrames }
        side.lastLength = length
        guard length >= side.nextAttempt else { return }
        writerFinishing.store(true, ordering: .relaxed)
        let start = monotonicNanoseconds()
        guard db.checkpoint(SQLITE_CHECKPOINT_PASSIVE) != nil else {
            // The background round under way holds the checkpoint lock; it skips the next ones, so
            // the attempt after the next batch finds it free.
            return
        }
        let elapsed = Int(monotonicNanoseconds() - start)
        writerFinishing.store(false, ordering: .relaxed)
        checkpoints.add(1, ordering: .relaxed)
        if elapsed > longest.load(ordering: .relaxed) { longest.store(elapsed, ordering: .relaxed) }
        // If a reader keeps the WAL from starting over, do not checkpoint after every batch: wait
        // until another quarter of the threshold has been written.
        side.nextAttempt = length + max(1, restartFrames / 4)
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
