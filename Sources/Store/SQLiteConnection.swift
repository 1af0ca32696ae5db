import CSQLite

/// A failed SQLite call: the result code and SQLite's own message.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

/// One SQLite connection opened in WAL mode with foreign keys on. Issue 3 builds the writer thread,
/// statements cache and migrations on top of it; a connection is used by one thread at a time.
public final class SQLiteConnection {
    private var handle: OpaquePointer?

    /// Opens (creating if needed) the database at `path`.
    public init(path: String) throws(StoreError) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            sqlite3_close(handle)
            throw StoreError(code: rc, message: message)
        }
        sqlite3_busy_timeout(handle, 5_000)
        try execute("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;")
    }

    deinit { sqlite3_close(handle) }

    /// Runs SQL with no parameters and no rows (pragmas, DDL). Values from users never go here.
    public func execute(_ sql: String) throws(StoreError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        guard rc == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(error)
            throw StoreError(code: rc, message: message)
        }
    }
}
