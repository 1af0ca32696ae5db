/// A workspace: its files, conversations, members and settings all hang off it and go with it when
/// it is deleted.
public struct Project: Sendable, Equatable {
    /// Archived projects stay readable but leave the default listings (the API decides which).
    public enum Status: String, Sendable, CaseIterable {
        case active, archived
    }

    public var id: String
    public var ownerID: String
    public var name: String
    public var description: String
    /// The name of the system prompt the chat engine uses.
    public var systemPrompt: String
    /// "provider/model".
    public var llm: String
    public var status: Status
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, ownerID: String, name: String, description: String = "", systemPrompt: String = "default",
                llm: String = "offline/offline", status: Status = .active, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.ownerID = ownerID
        self.name = name
        self.description = description
        self.systemPrompt = systemPrompt
        self.llm = llm
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A project as one user sees it in their listing: the project and that user's role in it.
public struct ProjectWithRole: Sendable, Equatable {
    public var project: Project
    public var role: ProjectMember.Role

    public init(project: Project, role: ProjectMember.Role) {
        self.project = project
        self.role = role
    }

    /// The listing position after this project (newest created first).
    public var pageCursor: PageCursor { PageCursor(sortKey: project.createdAt, id: project.id) }
}

extension Project {
    static let columns = "id, owner_id, name, description, system_prompt, llm, status, created_at, updated_at"

    init(row: Row) throws {
        self.init(id: row.string(0), ownerID: row.string(1), name: row.string(2), description: row.string(3),
                  systemPrompt: row.string(4), llm: row.string(5), status: try row.storedEnum(6),
                  createdAt: row.int64(7), updatedAt: row.int64(8))
    }

    /// Creates the project with its owner as a member (role owner) and a default configuration, all or
    /// nothing. A missing owner throws `.foreignKeyViolation`.
    public static func create(_ db: SQLiteConnection, ownerID: String, name: String, description: String = "",
                              systemPrompt: String = "default", llm: String = "offline/offline",
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Project {
        let project = Project(id: StoreID.make(), ownerID: ownerID, name: name, description: description,
                              systemPrompt: systemPrompt, llm: llm, createdAt: now, updatedAt: now)
        try db.savepoint {
            try db.run("""
                INSERT INTO projects (id, owner_id, name, description, system_prompt, llm, status, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)
                """, [project.id, ownerID, name, description, systemPrompt, llm, now, now])
            try db.run("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, 'owner', ?)",
                       [project.id, ownerID, now])
            try db.run("INSERT INTO project_configs (project_id, updated_at) VALUES (?, ?)", [project.id, now])
        }
        return project
    }

    public static func find(_ db: SQLiteConnection, id: String) throws -> Project? {
        try db.queryOne("SELECT \(columns) FROM projects WHERE id = ?", [id], Project.init(row:))
    }

    /// The projects `userID` is a member of, newest created first, with their role in each; `limit`
    /// is clamped to 1…1000.
    public static func listForUser(_ db: SQLiteConnection, userID: String, cursor: PageCursor? = nil,
                                   limit: Int = 50) throws -> Page<ProjectWithRole> {
        let limit = keysetLimit(limit)
        let decode = { (row: Row) throws -> ProjectWithRole in
            ProjectWithRole(project: try Project(row: row), role: try row.storedEnum(9))
        }
        let rows: [ProjectWithRole]
        if let cursor {
            rows = try db.query("""
                SELECT p.id, p.owner_id, p.name, p.description, p.system_prompt, p.llm, p.status, p.created_at,
                    p.updated_at, m.role
                FROM project_members m JOIN projects p ON p.id = m.project_id
                WHERE m.user_id = ?1 AND p.created_at <= ?2 AND (p.created_at < ?2 OR p.id < ?3)
                ORDER BY p.created_at DESC, p.id DESC LIMIT ?4
                """, [userID, cursor.sortKey, cursor.id, limit + 1], decode)
        } else {
            rows = try db.query("""
                SELECT p.id, p.owner_id, p.name, p.description, p.system_prompt, p.llm, p.status, p.created_at,
                    p.updated_at, m.role
                FROM project_members m JOIN projects p ON p.id = m.project_id
                WHERE m.user_id = ?1
                ORDER BY p.created_at DESC, p.id DESC LIMIT ?2
                """, [userID, limit + 1], decode)
        }
        return Page(keysetRows: rows, limit: limit, cursor: \.pageCursor)
    }

    /// Changes the fields given (nil keeps the stored value) and returns the updated project, or nil
    /// when there is none with that id.
    public static func update(_ db: SQLiteConnection, id: String, name: String? = nil, description: String? = nil,
                              systemPrompt: String? = nil, llm: String? = nil, status: Status? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Project? {
        try db.queryOne("""
            UPDATE projects SET name = COALESCE(?, name), description = COALESCE(?, description),
                system_prompt = COALESCE(?, system_prompt), llm = COALESCE(?, llm), status = COALESCE(?, status),
                updated_at = ?
            WHERE id = ? RETURNING \(columns)
            """, [name, description, systemPrompt, llm, status?.rawValue, now, id], Project.init(row:))
    }

    /// Deletes the project; its members, configuration, files, conversations, messages and usage
    /// records go with it (ON DELETE CASCADE). Returns whether it existed.
    @discardableResult
    public static func delete(_ db: SQLiteConnection, id: String) throws -> Bool {
        try db.run("DELETE FROM projects WHERE id = ?", [id]) > 0
    }
}

/// A user's access to a project. Exactly what each role may do is the API's policy; the store only
/// keeps the role.
public struct ProjectMember: Sendable, Equatable {
    /// Owner, editor or viewer, in decreasing power.
    public enum Role: String, Sendable, CaseIterable {
        case owner, editor, viewer
    }

    public var projectID: String
    public var userID: String
    public var role: Role
    public var addedAt: Int64

    public init(projectID: String, userID: String, role: Role, addedAt: Int64) {
        self.projectID = projectID
        self.userID = userID
        self.role = role
        self.addedAt = addedAt
    }
}

extension ProjectMember {
    /// Adds a member. Adding one twice throws `.uniqueViolation`; a missing project or user throws
    /// `.foreignKeyViolation`.
    @discardableResult
    public static func add(_ db: SQLiteConnection, projectID: String, userID: String, role: Role,
                           at now: Int64 = StoreClock.nowMilliseconds()) throws -> ProjectMember {
        try db.run("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, ?, ?)",
                   [projectID, userID, role.rawValue, now])
        return ProjectMember(projectID: projectID, userID: userID, role: role, addedAt: now)
    }

    /// Returns whether the member exists.
    @discardableResult
    public static func setRole(_ db: SQLiteConnection, projectID: String, userID: String, role: Role) throws -> Bool {
        try db.run("UPDATE project_members SET role = ? WHERE project_id = ? AND user_id = ?",
                   [role.rawValue, projectID, userID]) > 0
    }

    /// Returns whether the member existed.
    @discardableResult
    public static func remove(_ db: SQLiteConnection, projectID: String, userID: String) throws -> Bool {
        try db.run("DELETE FROM project_members WHERE project_id = ? AND user_id = ?", [projectID, userID]) > 0
    }

    /// The project's members in the order they were added.
    public static func list(_ db: SQLiteConnection, projectID: String) throws -> [ProjectMember] {
        try db.query("""
            SELECT project_id, user_id, role, added_at FROM project_members
            WHERE project_id = ? ORDER BY added_at, user_id
            """, [projectID]) { row in
            ProjectMember(projectID: row.string(0), userID: row.string(1), role: try row.storedEnum(2),
                          addedAt: row.int64(3))
        }
    }

    /// The user's role in the project, or nil when they are not a member: the check behind every
    /// project-scoped request.
    public static func role(_ db: SQLiteConnection, projectID: String, userID: String) throws -> Role? {
        try db.queryOne("SELECT role FROM project_members WHERE project_id = ? AND user_id = ?",
                        [projectID, userID]) { row throws -> Role in try row.storedEnum(0) }
    }
}

/// A project's settings: which MCP servers it enables (a JSON array of server or group names) and
/// free-form settings (a JSON object). Callers validate the JSON; the store keeps it as given.
public struct ProjectConfig: Sendable, Equatable {
    public var projectID: String
    public var mcpServersJSON: String
    public var settingsJSON: String
    public var updatedAt: Int64

    public init(projectID: String, mcpServersJSON: String = "[]", settingsJSON: String = "{}", updatedAt: Int64) {
        self.projectID = projectID
        self.mcpServersJSON = mcpServersJSON
        self.settingsJSON = settingsJSON
        self.updatedAt = updatedAt
    }
}

extension ProjectConfig {
    public static func get(_ db: SQLiteConnection, projectID: String) throws -> ProjectConfig? {
        try db.queryOne("SELECT project_id, mcp_servers, settings, updated_at FROM project_configs WHERE project_id = ?",
                        [projectID]) { row in
            ProjectConfig(projectID: row.string(0), mcpServersJSON: row.string(1), settingsJSON: row.string(2),
                          updatedAt: row.int64(3))
        }
    }

    /// Replaces the parts given (nil keeps the stored one), creating the row if a project somehow lacks
    /// it. A missing project throws `.foreignKeyViolation`.
    public static func set(_ db: SQLiteConnection, projectID: String, mcpServersJSON: String? = nil,
                           settingsJSON: String? = nil,
                           at now: Int64 = StoreClock.nowMilliseconds()) throws -> ProjectConfig {
        let config = try db.queryOne("""
            INSERT INTO project_configs (project_id, mcp_servers, settings, updated_at)
            VALUES (?1, COALESCE(?2, '[]'), COALESCE(?3, '{}'), ?4)
            ON CONFLICT (project_id) DO UPDATE SET mcp_servers = COALESCE(?2, mcp_servers),
                settings = COALESCE(?3, settings), updated_at = ?4
            RETURNING project_id, mcp_servers, settings, updated_at
            """, [projectID, mcpServersJSON, settingsJSON, now]) { row in
            ProjectConfig(projectID: row.string(0), mcpServersJSON: row.string(1), settingsJSON: row.string(2),
                          updatedAt: row.int64(3))
        }
        guard let config else {
            throw StoreError(kind: .sqlite, message: "storing the configuration of project \(projectID) returned no row")
        }
        return config
    }
}
