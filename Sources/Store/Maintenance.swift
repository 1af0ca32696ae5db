import CSQLite
import Glibc

/// Operations for `builderai migrate`, `builderai db backup` and `builderai db check`.
public enum Maintenance {
    /// The database file inside a data directory.
    public static func databasePath(inDirectory directory: String) -> String {
        directory.hasSuffix("/") ? directory + "builderai.sqlite3" : directory + "/builderai.sqlite3"
    }

    /// Copies the live database to `destination` with the SQLite online backup API. Safe while the
    /// server runs: the copy is one consistent snapshot, and in WAL mode the writer is not blocked.
    /// The copy is written beside the destination and renamed into place, so a crash never leaves a
    /// half-written backup under the final name.
    public static func backup(databaseAt source: String, to destination: String) throws(StoreError) {
        let from = try SQLiteConnection(path: source, readOnly: true)
        let temporary = destination + ".partial"
        unlink(temporary)
        var target: OpaquePointer?
        guard sqlite3_open_v2(temporary, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK else {
            let message = target.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(target)
            throw StoreError(kind: .sqlite, message: "cannot create backup \(temporary): \(message)")
        }
        defer { sqlite3_close_v2(target) }
        guard let backup = sqlite3_backup_init(target, "main", from.rawHandle, "main") else {
            throw StoreError(kind: .sqlite, message: "backup failed: \(String(cString: sqlite3_errmsg(target)))")
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, -1)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { usleep(10_000) }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else {
            unlink(temporary)
            throw StoreError(sqliteCode: rc, message: "backup failed: \(String(cString: sqlite3_errstr(rc)))")
        }
        sqlite3_close_v2(target)
        target = nil
        guard rename(temporary, destination) == 0 else {
            throw StoreError(kind: .sqlite, message: "cannot move the backup into place at \(destination): \(String(cString: strerror(errno)))")
        }
    }

    /// `PRAGMA integrity_check` and `PRAGMA foreign_key_check`: an empty list means healthy.
    public static func check(databaseAt path: String) throws(StoreError) -> [String] {
        let db = try SQLiteConnection(path: path, readOnly: true)
        do {
            var problems = try db.query("PRAGMA integrity_check") { $0.string(0) }.filter { $0 != "ok" }
            problems += try db.query("PRAGMA foreign_key_check") { row in
                "foreign key violation: \(row.string(0)) row \(row.int64(1)) references missing \(row.string(2))"
            }
            return problems
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(kind: .sqlite, message: "\(error)")
        }
    }
}
