import TestSupport
@testable import Store

/// A fresh database file with every migration applied, in its own temporary directory that is
/// deleted afterwards. A real file rather than `:memory:`, so WAL mode, foreign keys and the query
/// planner behave as they do in production.
enum TestDatabase {
    /// Runs `body` against a new database and removes the directory (database, WAL and shared-memory
    /// files) when it returns or throws.
    static func with<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let directory = TemporaryDirectory("builderai-store")
        defer { directory.remove() }
        // The connection lives only inside `run`, so it is closed before the directory goes.
        return try run(path: directory.path + "/test.sqlite3", body)
    }

    private static func run<T>(path: String, _ body: (SQLiteConnection) throws -> T) throws -> T {
        let db = try SQLiteConnection(path: path)
        try Migrator.migrate(db)
        return try withExtendedLifetime(db) { try body(db) }
    }
}

/// Fixtures most tests need: a user and a project they own.
extension TestDatabase {
    static func user(_ db: SQLiteConnection, _ name: String = "ada", role: User.Role = .user,
                     at time: Int64 = StoreClock.nowMilliseconds()) throws -> User {
        try User.insert(db, email: "\(name)@example.com", displayName: name.capitalized, passwordHash: "hash-\(name)",
                        role: role, at: time)
    }

    static func project(_ db: SQLiteConnection, owner: User, name: String = "Demo",
                        at time: Int64 = StoreClock.nowMilliseconds()) throws -> Project {
        try Project.create(db, ownerID: owner.id, name: name, at: time)
    }

    /// The single integer a `SELECT count(*) …` returns.
    static func count(_ db: SQLiteConnection, _ sql: String, _ parameters: any SQLiteBindable...) throws -> Int {
        try db.queryOne(sql, parameters) { $0.int(0) } ?? 0
    }
}
