/// Marketplace operations the REST API needs that span several tables: reading an app with its
/// publisher's name, installing an app as a copy of its project, and counting live installations.

/// The outcome of `Installation.installCopy`.
public struct InstalledCopy: Sendable, Equatable {
    public var installation: Installation
    /// True when this call created the installer's project (first install, or a re-install after
    /// they deleted their copy); false when it returned the existing one untouched.
    public var createdProject: Bool

    public init(installation: Installation, createdProject: Bool) {
        self.installation = installation
        self.createdProject = createdProject
    }
}

extension App {
    /// The app with its counters and its publisher's display name, in one statement: the API's
    /// hottest read, where each extra statement is another read transaction (and file-lock round).
    public static func findWithPublisherName(_ db: SQLiteConnection, id: String) throws -> (app: App, publisherName: String)? {
        try db.queryOne("""
            SELECT \(columns), u.display_name FROM apps a JOIN app_stats s ON s.app_id = a.id
            JOIN users u ON u.id = a.publisher_id WHERE a.id = ?
            """, [id]) { row in (try decode(row), row.string(18)) }
    }
}

extension Installation {
    /// Installs `app` for `userID`: a new project owned by them, named after the app, holding a copy
    /// of the app project's files (each at version 1), model, system prompt, description and
    /// configuration (MCP servers and settings), and the installation row that counts the download.
    /// Run it in one transaction (a writer job is one): the copy and the count land together or not
    /// at all.
    ///
    /// Idempotent: when the user already has an installation whose project still exists, it is
    /// returned unchanged and nothing is copied or counted. When they deleted their copy, a fresh
    /// one is made and re-attached (still not counted again). A user without an installation of an
    /// unpublished app gets the `.constraintViolation` `Installation.unpublishedMessage`, before
    /// anything is copied.
    public static func installCopy(_ db: SQLiteConnection, app: App, userID: String,
                                   at now: Int64 = StoreClock.nowMilliseconds()) throws -> InstalledCopy {
        let existing = try find(db, appID: app.id, userID: userID)
        if let existing, existing.projectID != nil {
            return InstalledCopy(installation: existing, createdProject: false)
        }
        if existing == nil, app.status != .published {
            throw StoreError(kind: .constraintViolation, message: unpublishedMessage)
        }
        return try db.savepoint {
            let project = try Project.copy(db, from: app.projectID, ownerID: userID, name: app.name, at: now)
            let installation = try install(db, appID: app.id, userID: userID, projectID: project.id,
                                           pricePaidMinor: app.priceMinor, currency: app.currency, at: now)
            return InstalledCopy(installation: installation, createdProject: true)
        }
    }

    /// Installations of the app whose project still exists (the installer has not deleted it). It
    /// visits every installation of the app, so it is for occasional reads, not per-request ones.
    public static func liveCount(_ db: SQLiteConnection, appID: String) throws -> Int {
        try db.queryOne("SELECT count(*) FROM installations WHERE app_id = ? AND project_id IS NOT NULL",
                        [appID]) { $0.int(0) } ?? 0
    }
}

extension Project {
    /// A new project for `ownerID` holding a copy of `sourceID`'s files, settings (description,
    /// system prompt, model) and configuration. Files are copied in SQL, so their contents never
    /// pass through memory. A missing source is a `.foreignKeyViolation`, like a missing owner.
    public static func copy(_ db: SQLiteConnection, from sourceID: String, ownerID: String, name: String,
                            at now: Int64 = StoreClock.nowMilliseconds()) throws -> Project {
        guard let source = try find(db, id: sourceID) else {
            throw StoreError(kind: .foreignKeyViolation, message: "project \(sourceID) does not exist")
        }
        return try db.savepoint {
            let project = try create(db, ownerID: ownerID, name: name, description: source.description,
                                     systemPrompt: source.systemPrompt, llm: source.llm, at: now)
            try db.run("""
                UPDATE project_configs SET (mcp_servers, settings) =
                    (SELECT mcp_servers, settings FROM project_configs WHERE project_id = ?2), updated_at = ?3
                WHERE project_id = ?1 AND EXISTS (SELECT 1 FROM project_configs WHERE project_id = ?2)
                """, [project.id, sourceID, now])
            try db.run("""
                INSERT INTO project_files (project_id, path, content, size, version, updated_at)
                SELECT ?1, path, content, size, 1, ?3 FROM project_files WHERE project_id = ?2
                """, [project.id, sourceID, now])
            return project
        }
    }
}
