import Glibc

/// Read connections: one per event loop, used synchronously on that loop (WAL lets them read
/// beside the writer without waiting for it), and a small background pool for slow queries such as
/// search, so they never hold up a loop.
public final class DatabaseReaders: Sendable {
    private let perLoop: [ReaderSlot]
    private let background: BoundedQueue<BackgroundRead>
    private let threads: [ThreadHandle]

    /// Opens `loopCount` loop readers and `backgroundCount` pool readers on the database at `path`.
    public init(path: String, loopCount: Int, backgroundCount: Int = 2) throws(StoreError) {
        var slots: [ReaderSlot] = []
        for _ in 0..<max(1, loopCount) {
            slots.append(ReaderSlot(try SQLiteConnection(path: path, readOnly: true)))
        }
        perLoop = slots
        let queue = BoundedQueue<BackgroundRead>(capacity: 4_096)
        background = queue
        var threads: [ThreadHandle] = []
        for index in 0..<max(1, backgroundCount) {
            let handOff = ReaderSlot(try SQLiteConnection(path: path, readOnly: true))
            threads.append(ThreadHandle(startStoreThread(name: "store-read-\(index)") {
                while let batch = queue.popBatch(limit: 1) {
                    for read in batch { read.run(handOff.connection) }
                }
            }))
        }
        self.threads = threads
    }

    /// Runs `body` with loop `index`'s connection, on the calling thread. Each index must only ever be
    /// used from one thread at a time (its loop's thread).
    public func read<T>(loop index: Int, _ body: (SQLiteConnection) throws -> T) rethrows -> T {
        try body(perLoop[index % perLoop.count].connection)
    }

    /// Runs `body` on a background reader; `completion` runs on that reader's thread.
    public func readInBackground<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T,
                                              completion: @escaping @Sendable (Result<T, any Error>) -> Void) throws(StoreError) {
        let read = BackgroundRead { db in completion(Result { try body(db) }) }
        switch background.push(read, deadline: nil) {
        case .accepted: return
        case .full: throw StoreError(kind: .busy, message: "too many slow reads are waiting; retry shortly")
        case .closed: throw StoreError(kind: .closed, message: "the database is closed")
        }
    }

    /// Finishes queued background reads and stops their threads.
    public func close() {
        background.close()
        for thread in threads { thread.join() }
    }
}

/// A connection owned by one thread at a time, as DatabaseReaders documents.
private final class ReaderSlot: @unchecked Sendable {
    // Invariant: a loop slot is used only by its loop's thread; a pool slot only by its pool thread.
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}

private final class BackgroundRead: Sendable {
    let run: @Sendable (SQLiteConnection) -> Void
    init(_ run: @escaping @Sendable (SQLiteConnection) -> Void) { self.run = run }
}
