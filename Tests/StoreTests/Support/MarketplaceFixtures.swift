import Glibc
@testable import Store

/// A real database file with all migrations applied, plus users, projects and apps made with plain
/// SQL, so the marketplace and operations tests do not depend on the core records. The files go
/// when the fixture does.
final class MarketplaceFixture {
    let db: SQLiteConnection
    private let path: String
    private var counter = 0

    init() throws {
        path = Self.temporaryDatabasePath()
        db = try SQLiteConnection(path: path)
        try Migrator.migrate(db)
    }

    deinit {
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    }

    /// A fresh path under $TMPDIR (or /tmp) that no other test uses.
    private static func temporaryDatabasePath() -> String {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        return "\(directory)/builderai-marketplace-\(StoreID.make()).sqlite"
    }

    /// Inserts a user and returns its id.
    func makeUser(_ name: String = "user") throws -> String {
        counter += 1
        let id = StoreID.make()
        try db.run("""
            INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at)
            VALUES (?, ?, ?, 'x', 0, 0)
            """, [id, "\(name)-\(counter)@example.com", name])
        return id
    }

    /// Inserts a project owned by `owner` and returns its id.
    func makeProject(owner: String, name: String = "project") throws -> String {
        let id = StoreID.make()
        try db.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
                   [id, owner, name])
        return id
    }

    /// Publishes an app on a new project of `publisher` (a new user when nil).
    func publishApp(name: String = "App", description: String = "", category: String = "tools",
                    tags: [String] = [], priceMinor: Int64 = 0, currency: String = "USD", version: String = "1.0",
                    publisher: String? = nil, at: Int64 = 1_000) throws -> App {
        let publisherID = try publisher ?? makeUser("publisher")
        let projectID = try makeProject(owner: publisherID, name: name)
        return try App.publish(db, projectID: projectID, publisherID: publisherID, name: name,
                               description: description, category: category, tags: tags, priceMinor: priceMinor,
                               currency: currency, version: version, at: at)
    }

    /// Installs `app` for a new user on a new project; returns the user's id.
    @discardableResult
    func installForNewUser(_ app: App, at: Int64 = 2_000) throws -> String {
        let userID = try makeUser("installer")
        let projectID = try makeProject(owner: userID, name: "copy of \(app.name)")
        try Installation.install(db, appID: app.id, userID: userID, projectID: projectID,
                                 pricePaidMinor: app.priceMinor, currency: app.currency, at: at)
        return userID
    }

    /// The counters recomputed from the rows they count, to compare with `app_stats`.
    func recountedStats(appID: String) throws -> AppStats {
        let downloads = try db.queryOne("SELECT count(*) FROM installations WHERE app_id = ?", [appID]) { $0.int(0) }
        let ratings = try db.queryOne("""
            SELECT coalesce(sum(rating), 0), count(*), coalesce(sum(body <> ''), 0) FROM reviews WHERE app_id = ?
            """, [appID]) { (sum: $0.int(0), count: $0.int(1), written: $0.int(2)) }
        return AppStats(downloads: downloads ?? 0, ratingSum: ratings?.sum ?? 0, ratingCount: ratings?.count ?? 0,
                        reviewCount: ratings?.written ?? 0)
    }

    /// How many rows of `table` match `condition`, for checking what a cascade removed.
    func count(_ table: String, where condition: String = "1", _ parameters: [any SQLiteBindable] = []) throws -> Int {
        try db.queryOne("SELECT count(*) FROM \(table) WHERE \(condition)", parameters) { $0.int(0) } ?? 0
    }

    /// Every page of a listing, following its cursors to the last page; `between` runs between pages.
    func allPages<Item>(_ fetch: (PageCursor?) throws -> Page<Item>,
                        between: () throws -> Void = {}) throws -> [[Item]] {
        var pages: [[Item]] = []
        var cursor: PageCursor?
        while true {
            let page = try fetch(cursor)
            pages.append(page.items)
            guard let next = page.nextCursor else { return pages }
            guard let decoded = PageCursor(encoded: next), pages.count < 10_000 else {
                throw StoreError(kind: .decoding, message: "the listing returned a bad cursor or never ended")
            }
            cursor = decoded
            try between()
        }
    }
}
