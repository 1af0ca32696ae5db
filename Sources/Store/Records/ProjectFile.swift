/// A file in a project's workspace. Every write bumps `version`, so an editor that read version n can
/// ask to write only if the file is still at n and learn, instead of silently overwriting, that
/// someone else got there first. Paths are checked by the caller; the store keeps them as given.
public struct ProjectFile: Sendable, Equatable {
    public var projectID: String
    public var path: String
    public var content: [UInt8]
    public var size: Int
    public var version: Int
    public var updatedAt: Int64

    public init(projectID: String, path: String, content: [UInt8], size: Int, version: Int, updatedAt: Int64) {
        self.projectID = projectID
        self.path = path
        self.content = content
        self.size = size
        self.version = version
        self.updatedAt = updatedAt
    }

    /// What `put` did.
    public enum PutResult: Sendable, Equatable {
        /// The content was stored; the file is now at `info.version`.
        case written(ProjectFileInfo)
        /// Nothing was written because the file is at `currentVersion` (0: it does not exist), not at
        /// the version the caller expected.
        case conflict(currentVersion: Int)
    }
}

/// A workspace listing entry: everything about a file except its content.
public struct ProjectFileInfo: Sendable, Equatable {
    public var path: String
    public var size: Int
    public var version: Int
    public var updatedAt: Int64

    public init(path: String, size: Int, version: Int, updatedAt: Int64) {
        self.path = path
        self.size = size
        self.version = version
        self.updatedAt = updatedAt
    }
}

extension ProjectFile {
    /// Creates the file at version 1 or replaces its content with the next version.
    ///
    /// `expectedVersion` makes the write conditional: nil writes regardless, 0 only creates, n only
    /// replaces version n. A mismatch returns `.conflict` and writes nothing. A missing project throws
    /// `.foreignKeyViolation`.
    public static func put(_ db: SQLiteConnection, projectID: String, path: String, content: [UInt8],
                           expectedVersion: Int? = nil,
                           at now: Int64 = StoreClock.nowMilliseconds()) throws -> PutResult {
        try db.savepoint {
            // Read and write in one savepoint: on the single writer nothing can slip in between.
            let current = try db.queryOne("SELECT version FROM project_files WHERE project_id = ? AND path = ?",
                                          [projectID, path]) { $0.int(0) } ?? 0
            if let expectedVersion, expectedVersion != current {
                return .conflict(currentVersion: current)
            }
            // An empty array need not have a buffer, and SQLite binds a blob with a null pointer as NULL:
            // X'' keeps an empty file from failing the NOT NULL constraint.
            let version = current + 1
            try db.run("""
                INSERT INTO project_files (project_id, path, content, size, version, updated_at)
                VALUES (?1, ?2, COALESCE(?3, X''), ?4, ?5, ?6)
                ON CONFLICT (project_id, path) DO UPDATE SET content = excluded.content, size = excluded.size,
                    version = excluded.version, updated_at = excluded.updated_at
                """, [projectID, path, content, content.count, version, now])
            return .written(ProjectFileInfo(path: path, size: content.count, version: version, updatedAt: now))
        }
    }

    public static func get(_ db: SQLiteConnection, projectID: String, path: String) throws -> ProjectFile? {
        try db.queryOne("""
            SELECT project_id, path, content, size, version, updated_at FROM project_files
            WHERE project_id = ? AND path = ?
            """, [projectID, path]) { row in
            ProjectFile(projectID: row.string(0), path: row.string(1), content: row.blob(2), size: row.int(3),
                        version: row.int(4), updatedAt: row.int64(5))
        }
    }

    /// The workspace in path order, without content.
    public static func list(_ db: SQLiteConnection, projectID: String) throws -> [ProjectFileInfo] {
        try db.query("""
            SELECT path, size, version, updated_at FROM project_files WHERE project_id = ? ORDER BY path
            """, [projectID], ProjectFileInfo.init(row:))
    }

    /// Returns whether the file existed.
    @discardableResult
    public static func delete(_ db: SQLiteConnection, projectID: String, path: String) throws -> Bool {
        try db.run("DELETE FROM project_files WHERE project_id = ? AND path = ?", [projectID, path]) > 0
    }

    /// The bytes the workspace holds, for quota checks.
    public static func totalSize(_ db: SQLiteConnection, projectID: String) throws -> Int {
        try db.queryOne("SELECT COALESCE(sum(size), 0) FROM project_files WHERE project_id = ?", [projectID]) {
            $0.int(0)
        } ?? 0
    }
}

extension ProjectFileInfo {
    init(row: Row) {
        self.init(path: row.string(0), size: row.int(1), version: row.int(2), updatedAt: row.int64(3))
    }
}
