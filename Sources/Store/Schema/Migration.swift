/// One numbered step of the schema. Applied once, in one transaction, and recorded in
/// `PRAGMA user_version`; never edited after it shipped (add a new one instead).
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// Runs the step inside the migration's transaction.
    let apply: @Sendable (SQLiteConnection) throws -> Void
    /// Rebuilds a table that other tables reference: foreign keys are off while it runs (dropping the
    /// old table would otherwise cascade into its children), and `foreign_key_check` must find nothing
    /// before it commits.
    let rebuildsReferencedTable: Bool

    /// A step that is plain SQL (DDL, several statements separated by `;`).
    public init(version: Int, name: String, rebuildsReferencedTable: Bool = false, sql: String) {
        self.init(version: version, name: name, rebuildsReferencedTable: rebuildsReferencedTable) { db in try db.execute(sql) }
    }

    /// A step that needs code, e.g. to read a value it then writes.
    public init(version: Int, name: String, rebuildsReferencedTable: Bool = false,
                apply: @escaping @Sendable (SQLiteConnection) throws -> Void) {
        self.version = version
        self.name = name
        self.rebuildsReferencedTable = rebuildsReferencedTable
        self.apply = apply
    }
}

/// Applies migrations in order and refuses databases from the future.
public enum Migrator {
    /// Every migration this binary knows, in order; their versions are 1, 2, 3, …
    public static let all: [Migration] = [
        CoreSchema.migration,
        OperationsSchema.migration,
        MarketplaceSchema.migration,
        ChatSchema.migration,
        CheckConstraintsSchema.migration,
        ClusteredMessagesSchema.migration,
    ]

    /// The schema version this binary writes.
    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// Brings the database up to `target` (default: the latest). Returns the versions before and after.
    @discardableResult
    public static func migrate(_ db: SQLiteConnection, to target: Int? = nil,
                               migrations: [Migration] = all) throws -> (from: Int, to: Int) {
        let latest = migrations.last?.version ?? 0
        let goal = target ?? latest
        let current = try db.userVersion
        if current > latest {
            throw StoreError(kind: .schemaTooNew, message: "the database at \(db.path) has schema version \(current), "
                + "but this builderai knows versions up to \(latest); run a newer builderai or restore a backup")
        }
        for migration in migrations where migration.version > current && migration.version <= goal {
            // PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around it.
            if migration.rebuildsReferencedTable { try db.execute("PRAGMA foreign_keys = OFF") }
            defer { if migration.rebuildsReferencedTable { try? db.execute("PRAGMA foreign_keys = ON") } }
            do {
                try db.transaction {
                    try migration.apply(db)
                    if migration.rebuildsReferencedTable {
                        let broken = try db.query("PRAGMA foreign_key_check") { "\($0.string(0)) row \($0.int(1))" }
                        if !broken.isEmpty {
                            throw StoreError(kind: .foreignKeyViolation, message: "rows would break foreign keys: "
                                + broken.prefix(5).joined(separator: ", "))
                        }
                    }
                    try db.execute("PRAGMA user_version = \(migration.version)")
                }
            } catch let error as StoreError {
                throw StoreError(kind: error.kind, code: error.code,
                                 message: "migration \(migration.version) (\(migration.name)) failed: \(error.message)")
            }
        }
        let reached = max(current, min(goal, latest))
        if reached > current {
            // A migration that rebuilds a table writes all of it into the WAL (420 MB for a million
            // messages), and the WAL file keeps its largest size. Migrations run before anything else
            // opens the database, so copy it back and truncate it now. Best effort: a reader holding
            // it open (another process) only leaves the file long.
            _ = try? db.queryOne("PRAGMA wal_checkpoint(TRUNCATE)") { $0.int(0) }
        }
        return (current, reached)
    }
}
