import Glibc
import Synchronization

/// The only writer to the database: one thread that takes every pending write, runs them in one
/// transaction and commits once (group commit), then completes each caller.
///
/// A write that throws rolls back alone and its neighbours in the batch still commit (see `commit`). Completions run on the writer thread right after the commit
/// (durable per the configured `Durability`); callers that live on an event loop hop back to it in
/// their completion. Work runs inside the batch's transaction: it may use `savepoint` for atomic
/// groups, never `transaction`, and it may run more than once, so it must touch only the database. The queue is bounded: when it is full a write fails at once with
/// `.busy`, or waits until a deadline, so memory never grows without bound.
public final class DatabaseWriter: Sendable {
    private let queue: BoundedQueue<WriteItem>
    private let thread: ThreadHandle
    private let stats = WriterStats()
    /// The writer's part in keeping the WAL short (see Checkpointer).
    public let checkpointing: WALCheckpointing

    /// Takes ownership of `connection` and starts the writer thread.
    public init(connection: SQLiteConnection, capacity: Int = 16_384, maxBatch: Int = 4_096,
                checkpointing: WALCheckpointing = WALCheckpointing()) {
        let queue = BoundedQueue<WriteItem>(capacity: capacity)
        let handOff = ConnectionHandOff(connection)
        let stats = self.stats
        self.queue = queue
        self.checkpointing = checkpointing
        thread = ThreadHandle(startStoreThread(name: "store-writer") {
            let db = handOff.take()
            db.trackWALLength()
            var side = checkpointing.writerSide()
            while let batch = queue.popBatch(limit: maxBatch) {
                DatabaseWriter.commit(batch, on: db, stats: stats)
                checkpointing.afterBatch(db, &side)
            }
        })
    }

    /// Writes waiting right now.
    public var queueDepth: Int { queue.count }
    /// Writes committed so far.
    public var committedWrites: Int { stats.writes.load(ordering: .relaxed) }
    /// Transactions committed so far; `committedWrites / commits` is the mean batch size.
    public var commits: Int { stats.commits.load(ordering: .relaxed) }
    /// How long the last COMMIT took, in nanoseconds.
    public var lastCommitNanoseconds: Int { stats.lastCommit.load(ordering: .relaxed) }
    /// Batches that took `slowBatchNanoseconds` or more from BEGIN to the end of COMMIT: each one held
    /// back every caller waiting on it (a chat's first delta waits for its prompt's commit).
    public var slowBatches: Int { stats.slowBatches.load(ordering: .relaxed) }
    /// The longest batch so far (BEGIN to the end of COMMIT), in nanoseconds.
    public var longestBatchNanoseconds: Int { stats.longestBatch.load(ordering: .relaxed) }
    /// What counts as a slow batch: 50 ms.
    public static let slowBatchNanoseconds = 50_000_000

    /// Queues `work`. Throws `.busy` at once when the queue is full and no `deadline` (monotonic
    /// nanoseconds) was given, or when the deadline passes without room; `.closed` after `close()`.
    /// `completion` runs on the writer thread once the write is committed or has failed.
    public func submit<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T,
                                    deadline: UInt64? = nil,
                                    completion: @escaping @Sendable (Result<T, any Error>) -> Void) throws(StoreError) {
        let item = TypedWriteItem(work: work, completion: completion)
        switch queue.push(item, deadline: deadline) {
        case .accepted: return
        case .full: throw StoreError(kind: .busy, message: "the database write queue is full; retry shortly")
        case .closed: throw StoreError(kind: .closed, message: "the database is closed")
        }
    }

    /// Queues `work` and suspends until it is committed (waiting up to 5 s for room in the queue).
    @discardableResult
    public func write<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            do {
                try submit(work, deadline: monotonicNanoseconds() + 5_000_000_000) { continuation.resume(with: $0) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Queues `work` and blocks the calling thread until it is committed. For command-line tools and
    /// tests: never call it on an event loop.
    @discardableResult
    public func writeAndWait<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) throws -> T {
        let done = Completion<T>()
        try submit(work, deadline: monotonicNanoseconds() + 30_000_000_000) { done.finish($0) }
        return try done.wait().get()
    }

    /// Stops taking writes, commits what is queued, and ends the writer thread.
    public func close() {
        queue.close()
        thread.join()
    }

    /// Commits a batch. The fast path runs every write in one transaction with no per-write
    /// savepoint (two statements fewer per write); if any write throws, the whole transaction rolls
    /// back and the batch runs again with a savepoint around each write, so only the failing ones
    /// are undone. Work may therefore run twice: it must touch nothing but the database.
    private static func commit(_ batch: [WriteItem], on db: SQLiteConnection, stats: WriterStats) {
        var succeeded = 0
        let batchStart = monotonicNanoseconds()
        do {
            try db.run("BEGIN IMMEDIATE")
            var allSucceeded = true
            for item in batch where !item.run(db) {
                allSucceeded = false
                break
            }
            if allSucceeded {
                succeeded = batch.count
            } else {
                try db.run("ROLLBACK")
                try db.run("BEGIN IMMEDIATE")
                for item in batch {
                    try db.run("SAVEPOINT write")
                    if item.run(db) {
                        try db.run("RELEASE write")
                        succeeded += 1
                    } else {
                        // Undo only this write's changes; the batch's transaction stays open.
                        try db.run("ROLLBACK TO write")
                        try db.run("RELEASE write")
                    }
                }
            }
            let start = monotonicNanoseconds()
            try db.run("COMMIT")
            let end = monotonicNanoseconds()
            stats.lastCommit.store(Int(end - start), ordering: .relaxed)
            let batch = Int(end - batchStart)
            if batch >= DatabaseWriter.slowBatchNanoseconds { stats.slowBatches.add(1, ordering: .relaxed) }
            if batch > stats.longestBatch.load(ordering: .relaxed) { stats.longestBatch.store(batch, ordering: .relaxed) }
            stats.commits.add(1, ordering: .relaxed)
            stats.writes.add(succeeded, ordering: .relaxed)
        } catch {
            // The transaction itself failed (disk full, I/O error): nothing in the batch committed.
            _ = try? db.run("ROLLBACK")
            for item in batch { item.fail(error) }
        }
        for item in batch { item.complete() }
    }
}

/// Counters the writer thread updates and anyone may read.
private final class WriterStats: Sendable {
    let writes = Atomic<Int>(0)
    let commits = Atomic<Int>(0)
    let lastCommit = Atomic<Int>(0)
    // Written only by the writer thread, so a load-then-store maximum is exact.
    let slowBatches = Atomic<Int>(0)
    let longestBatch = Atomic<Int>(0)
}

/// A write as the writer thread sees it.
private class WriteItem: @unchecked Sendable {
    // Invariant: built by the submitting thread, handed over through the queue's lock, and from then
    // on touched only by the writer thread.
    /// Runs the work; false when it threw (its outcome is then the error).
    func run(_ db: SQLiteConnection) -> Bool { false }
    /// Marks the write failed (its transaction did not commit).
    func fail(_ error: any Error) {}
    /// Hands the outcome to the caller.
    func complete() {}
}

// Invariant: as WriteItem's (handed over through the queue's lock, then writer-thread only).
private final class TypedWriteItem<T: Sendable>: WriteItem, @unchecked Sendable {
    private let work: @Sendable (SQLiteConnection) throws -> T
    private let completion: @Sendable (Result<T, any Error>) -> Void
    private var outcome: Result<T, any Error>?

    init(work: @escaping @Sendable (SQLiteConnection) throws -> T,
         completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        self.work = work
        self.completion = completion
    }

    override func run(_ db: SQLiteConnection) -> Bool {
        do {
            outcome = .success(try work(db))
            return true
        } catch {
            outcome = .failure(error)
            return false
        }
    }

    override func fail(_ error: any Error) { outcome = .failure(error) }

    override func complete() {
        completion(outcome ?? .failure(StoreError(kind: .sqlite, message: "the write was not run")))
    }
}

/// Moves the writer's connection onto its thread exactly once.
private final class ConnectionHandOff: @unchecked Sendable {
    // Invariant: set in init on the creating thread, taken once by the writer thread, which
    // pthread_create orders after init.
    private var connection: SQLiteConnection?
    init(_ connection: SQLiteConnection) { self.connection = connection }
    func take() -> SQLiteConnection {
        defer { connection = nil }
        return connection!
    }
}

/// A joinable thread, joined at most once.
final class ThreadHandle: @unchecked Sendable {
    // Invariant: `handle` is set in init and cleared by the single join() call (from close()).
    private var handle: pthread_t?
    init(_ handle: pthread_t) { self.handle = handle }
    func join() {
        if let handle { pthread_join(handle, nil) }
        handle = nil
    }
}

/// A one-shot result that a blocking caller waits for.
final class Completion<T: Sendable>: @unchecked Sendable {
    // Invariant: `result` is written once and read, both under `mutex`.
    private var result: Result<T, any Error>?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func finish(_ value: Result<T, any Error>) {
        pthread_mutex_lock(mutex)
        result = value
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    func wait() -> Result<T, any Error> {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while result == nil { pthread_cond_wait(condition, mutex) }
        return result!
    }
}
