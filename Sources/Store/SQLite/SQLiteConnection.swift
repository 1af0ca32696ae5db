import CSQLite
import Glibc

/// How hard a commit tries to reach the disk.
public enum Durability: String, Sendable {
    /// `synchronous=NORMAL` in WAL mode: a commit survives a process crash; the last commits before a
    /// power loss may roll back (never corrupt).
    case normal
    /// `synchronous=FULL`: a commit also survives power loss, at the price of an fsync per commit.
    case full
}

/// Configures the SQLite library once per process, before the first connection opens, and registers
/// the VFS that coalesces WAL writes (Sources/CSQLite/wal_coalescing.h explains why it is safe).
private let sqliteConfigured: Bool = {
    csqlite_configure_for_server() == SQLITE_OK
}()

/// The VFS connections open with: "builderai-wal" unless `BUILDERAI_WAL_COALESCING=0` asks for
/// SQLite's own (an escape hatch, and the baseline for the store benchmark).
private let walVFS: String? = {
    _ = sqliteConfigured
    if let value = getenv("BUILDERAI_WAL_COALESCING"), String(cString: value) == "0" { return nil }
    return csqlite_register_wal_coalescing() == SQLITE_OK ? "builderai-wal" : nil
}()

/// One SQLite connection with a cache of prepared statements. Not thread-safe: each connection is
/// used by one thread at a time (the writer thread, one reader per loop, the read pool).
public final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// The database file.
    public let path: String

    /// Opens (creating if asked) the database at `path` in WAL mode with foreign keys on.
    public init(path: String, readOnly: Bool = false, durability: Durability = .normal,
                busyTimeoutMilliseconds: Int32 = 5_000) throws(StoreError) {
        self.path = path
        let vfs = walVFS
        // Readers open read-write but set query_only: in WAL mode a read-only open cannot create the
        // shared-memory index if it does not exist yet.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, vfs)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            sqlite3_close_v2(handle)
            handle = nil
            throw StoreError(sqliteCode: rc, message: "cannot open database \(path): \(message)")
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA foreign_keys=ON")
        try execute(durability == .full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
        // A 64 MiB page cache and memory-mapped reads: the default 2 MiB cache is smaller than the
        // indexes a busy writer touches, and every miss was a pread system call.
        try execute("PRAGMA cache_size=-65536")
        try execute("PRAGMA mmap_size=268435456")
        if readOnly { try execute("PRAGMA query_only=1") }
    }

    /// For this connection's WAL: the writes SQLite made to it since it was opened and the writes
    /// that reached the file after coalescing (nil when the WAL is not open through the shim). A
    /// group commit should cost one write (per 124 KiB), not two per page.
    public var walWriteCounters: (sqliteWrites: UInt64, fileWrites: UInt64)? {
        var writes: UInt64 = 0
        var flushes: UInt64 = 0
        guard let handle, csqlite_wal_counters(handle, &writes, &flushes) == 1 else { return nil }
        return (writes, flushes)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
        walLengthSlot?.deallocate()
    }

    var rawHandle: OpaquePointer? { handle }

    // MARK: WAL

    /// The WAL's length in frames after this connection's last commit (0 until it commits). Only
    /// for the connection that writes; set up by `trackWALLength`.
    private var walLengthSlot: UnsafeMutablePointer<Int32>?

    /// Starts counting the WAL's frames after every commit (SQLite's WAL hook). Turns off SQLite's
    /// automatic checkpoints on this connection, which use the same hook.
    func trackWALLength() {
        guard walLengthSlot == nil else { return }
        let slot = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        slot.initialize(to: 0)
        walLengthSlot = slot
        csqlite_track_wal_length(handle, slot)
    }

    /// Frames in the WAL after the last commit, when `trackWALLength` is on.
    var walLength: Int { walLengthSlot.map { Int($0.pointee) } ?? 0 }

    /// Runs a checkpoint now: (frames in the WAL, frames copied into the database), or nil when
    /// another connection was checkpointing or a reader or writer stood in the way (SQLITE_BUSY).
    func checkpoint(_ mode: Int32) -> (log: Int, copied: Int)? {
        var log: Int32 = 0
        var copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, mode, &log, &copied)
        guard rc == SQLITE_OK else { return nil }
        return (Int(log), Int(copied))
    }

    private func error(_ rc: Int32, _ sql: String? = nil) -> StoreError {
        let message = String(cString: sqlite3_errmsg(handle))
        let code = sqlite3_extended_errcode(handle)
        return StoreError(sqliteCode: code != 0 ? code : rc, message: message)
    }

    // MARK: Statements

    /// Runs SQL that takes no parameters (pragmas, DDL, several statements separated by `;`).
    /// Values from users never go here: use `run` or `query`, which bind them.
    public func execute(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        guard rc == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            throw StoreError(sqliteCode: sqlite3_extended_errcode(handle), message: text)
        }
    }

    private func prepared(_ sql: String) throws(StoreError) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, sql) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ parameters: [any SQLiteBindable], to statement: OpaquePointer) throws(StoreError) {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard expected == parameters.count else {
            throw StoreError(kind: .sqlite, message: "statement takes \(expected) parameters, \(parameters.count) given")
        }
        for (offset, parameter) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch parameter.sqliteValue {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .real(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let v): rc = sqlite3_bind_text(statement, index, v, -1, csqlite_transient())
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), csqlite_transient()) }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
    }

    /// Runs one statement with bound parameters and calls `body` for each row. Returns the rows'
    /// results in order.
    public func query<T>(_ sql: String, _ parameters: [any SQLiteBindable] = [], reserving capacity: Int = 0,
                         _ body: (Row) throws -> T) throws -> [T] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(parameters, to: statement)
        var results: [T] = []
        results.reserveCapacity(capacity)
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_ROW {
                results.append(try body(Row(statement: statement)))
            } else if rc == SQLITE_DONE {
                return results
            } else {
                throw error(rc, sql)
            }
        }
    }

    /// The first row's result, or nil when there is none.
    public func queryOne<T>(_ sql: String, _ parameters: [any SQLiteBindable] = [],
                            _ body: (Row) throws -> T) throws -> T? {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(parameters, to: statement)
        let rc = sqlite3_step(statement)
        if rc == SQLITE_ROW { return try body(Row(statement: statement)) }
        if rc == SQLITE_DONE { return nil }
        throw error(rc, sql)
    }

    /// Runs one statement that returns no rows; returns how many rows it changed.
    @discardableResult
    public func run(_ sql: String, _ parameters: [any SQLiteBindable] = []) throws(StoreError) -> Int {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(parameters, to: statement)
        var rc = sqlite3_step(statement)
        while rc == SQLITE_ROW { rc = sqlite3_step(statement) }
        guard rc == SQLITE_DONE else { throw error(rc, sql) }
        return Int(sqlite3_changes(handle))
    }

    /// The rowid of the last INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    // MARK: Transactions

    /// Runs `body` in one transaction (BEGIN IMMEDIATE, so the write lock is taken up front), rolling
    /// back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        // Prepared and cached like any statement: sqlite3_exec would parse these on every call.
        try run("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` inside a savepoint: if it throws, only its own changes roll back.
    public func savepoint<T>(_ body: () throws -> T) throws -> T {
        try run("SAVEPOINT item")
        do {
            let result = try body()
            try run("RELEASE item")
            return result
        } catch {
            _ = try? run("ROLLBACK TO item")
            _ = try? run("RELEASE item")
            throw error
        }
    }

    /// `PRAGMA user_version`: the schema version the migrations record.
    public var userVersion: Int {
        get throws { try queryOne("PRAGMA user_version") { $0.int(0) } ?? 0 }
    }
}
