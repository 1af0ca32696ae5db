import Glibc

/// The database as the rest of the server sees it: migrated at open, one writer thread, readers per
/// loop and in the background.
public final class Store: Sendable {
    /// Where the database file lives.
    public let path: String
    public let writer: DatabaseWriter
    public let readers: DatabaseReaders
    private let checkpointer: Checkpointer

    /// Opens (creating if needed) `directory/builderai.sqlite3`, applies pending migrations, and starts
    /// the writer. Refuses a database written by a newer binary.
    public init(directory: String, durability: Durability = .normal, loopCount: Int = 1,
                backgroundReaders: Int = 2, writeQueueCapacity: Int = 16_384,
                walRestartFrames: Int = WALCheckpointing.defaultRestartFrames) throws(StoreError) {
        try Store.createDirectory(directory)
        path = Maintenance.databasePath(inDirectory: directory)
        let connection = try SQLiteConnection(path: path, durability: durability)
        do {
            try Migrator.migrate(connection)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(kind: .sqlite, message: "migration failed: \(error)")
        }
        // Checkpoints move off the writer thread (see Checkpointer).
        try connection.execute("PRAGMA wal_autocheckpoint=0")
        let checkpointing = WALCheckpointing(restartFrames: walRestartFrames)
        writer = DatabaseWriter(connection: connection, capacity: writeQueueCapacity, checkpointing: checkpointing)
        readers = try DatabaseReaders(path: path, loopCount: loopCount, backgroundCount: backgroundReaders)
        checkpointer = try Checkpointer(path: path, coordination: checkpointing)
    }

    /// Commits queued writes, then closes everything.
    public func close() {
        writer.close()
        readers.close()
        checkpointer.stop()
    }

    /// `mkdir -p`, with a clear error when a component is not a directory or not writable.
    public static func createDirectory(_ directory: String) throws(StoreError) {
        var built = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            built += component + "/"
            if mkdir(built, 0o755) != 0 && errno != EEXIST {
                throw StoreError(kind: .sqlite, message: "cannot create data directory \(built): \(String(cString: strerror(errno)))")
            }
        }
    }
}
