/// A user's copy of a marketplace app: the project created for them and what they paid.
public struct Installation: Sendable, Equatable {
    public var id: String
    public var appID: String
    /// nil once the installing account is deleted: the row stays so downloads and revenue stay true.
    public var userID: String?
    /// The installer's project; nil once they delete it.
    public var projectID: String?
    public var installedAt: Int64
    /// What was paid, in the currency's minor unit.
    public var priceMinor: Int64
    public var currency: String

    public init(id: String, appID: String, userID: String?, projectID: String?, installedAt: Int64,
                priceMinor: Int64, currency: String) {
        self.id = id
        self.appID = appID
        self.userID = userID
        self.projectID = projectID
        self.installedAt = installedAt
        self.priceMinor = priceMinor
        self.currency = currency
    }
}

/// Installations of one app on one UTC day.
public struct DailyInstalls: Sendable, Equatable {
    public var appID: String
    /// The day's first millisecond (UTC midnight).
    public var day: Int64
    public var installations: Int

    public init(appID: String, day: Int64, installations: Int) {
        self.appID = appID
        self.day = day
        self.installations = installations
    }
}

/// What one app earned in one currency: the sum of the prices paid over its installations.
public struct AppRevenue: Sendable, Equatable {
    public var appID: String
    public var currency: String
    public var totalMinor: Int64
    /// Installations counted, free ones included.
    public var installations: Int

    public init(appID: String, currency: String, totalMinor: Int64, installations: Int) {
        self.appID = appID
        self.currency = currency
        self.totalMinor = totalMinor
        self.installations = installations
    }
}

extension Installation {
    /// Milliseconds in a UTC day: days are bucketed as `at / dayMilliseconds` in SQL.
    public static let dayMilliseconds: Int64 = 86_400_000

    /// Records that `userID` installed `appID` into `projectID`, counting one download. Idempotent:
    /// a repeat returns the existing installation unchanged (first time, first price) and counts
    /// nothing, except that it re-attaches `projectID` when the user had deleted their earlier
    /// copy. A caller about to charge or copy files should `find` first. Installing an
    /// unpublished app the user does not have yet is a `.constraintViolation` with
    /// `unpublishedMessage`.
    @discardableResult
    public static func install(_ db: SQLiteConnection, appID: String, userID: String, projectID: String?,
                               pricePaidMinor: Int64, currency: String,
                               at now: Int64 = StoreClock.nowMilliseconds()) throws -> Installation {
        // The UPSERT's update path fires no INSERT trigger, so a repeat never counts.
        try db.run("""
            INSERT INTO installations (id, app_id, user_id, project_id, installed_at, price_minor, currency)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (app_id, user_id) DO UPDATE SET project_id = excluded.project_id
            WHERE installations.project_id IS NULL AND excluded.project_id IS NOT NULL
            """, [StoreID.make(), appID, userID, projectID, now, pricePaidMinor, currency])
        guard let installation = try find(db, appID: appID, userID: userID) else {
            throw StoreError(kind: .sqlite, message: "installation of \(appID) by \(userID) vanished after insert")
        }
        return installation
    }

    /// The message of the error `install` raises for an unpublished app.
    public static var unpublishedMessage: String { MarketplaceSchema.unpublishedInstallMessage }

    public static func find(_ db: SQLiteConnection, appID: String, userID: String) throws -> Installation? {
        try db.queryOne("SELECT \(columns) FROM installations WHERE app_id = ? AND user_id = ?",
                        [appID, userID], decode)
    }

    /// A user's installations, newest first, one keyset page at a time.
    public static func list(_ db: SQLiteConnection, userID: String, cursor: PageCursor? = nil,
                            limit: Int = 20) throws -> Page<Installation> {
        let limit = keysetLimit(limit)
        let rows: [Installation]
        if let cursor {
            rows = try db.query("""
                SELECT \(columns) FROM installations WHERE user_id = ? AND (installed_at, id) < (?, ?)
                ORDER BY installed_at DESC, id DESC LIMIT ?
                """, [userID, cursor.sortKey, cursor.id, limit + 1], decode)
        } else {
            rows = try db.query("""
                SELECT \(columns) FROM installations WHERE user_id = ?
                ORDER BY installed_at DESC, id DESC LIMIT ?
                """, [userID, limit + 1], decode)
        }
        return Page(keysetRows: rows, limit: limit) {
            PageCursor(sortKey: $0.installedAt, id: $0.id)
        }
    }

    // MARK: Publisher statistics

    /// Installations of one app per UTC day in [from, to), oldest day first; days without any are
    /// absent.
    public static func installsPerDay(_ db: SQLiteConnection, appID: String, from: Int64,
                                      to: Int64) throws -> [DailyInstalls] {
        try db.query("""
            SELECT app_id, installed_at / ? * ? AS day, count(*) FROM installations
            WHERE app_id = ? AND installed_at >= ? AND installed_at < ?
            GROUP BY day ORDER BY day
            """, [dayMilliseconds, dayMilliseconds, appID, from, to]) {
            DailyInstalls(appID: $0.string(0), day: $0.int64(1), installations: $0.int(2))
        }
    }

    /// Installations per app per UTC day in [from, to) over every app of a publisher, by app then
    /// day.
    public static func installsPerDay(_ db: SQLiteConnection, publisherID: String, from: Int64,
                                      to: Int64) throws -> [DailyInstalls] {
        try db.query("""
            SELECT i.app_id, i.installed_at / ? * ? AS day, count(*)
            FROM apps a JOIN installations i ON i.app_id = a.id
            WHERE a.publisher_id = ? AND i.installed_at >= ? AND i.installed_at < ?
            GROUP BY i.app_id, day ORDER BY i.app_id, day
            """, [dayMilliseconds, dayMilliseconds, publisherID, from, to]) {
            DailyInstalls(appID: $0.string(0), day: $0.int64(1), installations: $0.int(2))
        }
    }

    /// Revenue per app and currency over installations in [from, to), for every app of a
    /// publisher (apps never installed are absent). Amounts in different currencies are never
    /// added together.
    public static func revenue(_ db: SQLiteConnection, publisherID: String, from: Int64 = 0,
                               to: Int64 = Int64.max) throws -> [AppRevenue] {
        try db.query("""
            SELECT i.app_id, i.currency, sum(i.price_minor), count(*)
            FROM apps a JOIN installations i ON i.app_id = a.id
            WHERE a.publisher_id = ? AND i.installed_at >= ? AND i.installed_at < ?
            GROUP BY i.app_id, i.currency ORDER BY i.app_id, i.currency
            """, [publisherID, from, to]) {
            AppRevenue(appID: $0.string(0), currency: $0.string(1), totalMinor: $0.int64(2), installations: $0.int(3))
        }
    }

    // MARK: Decoding

    static let columns = "id, app_id, user_id, project_id, installed_at, price_minor, currency"

    static func decode(_ row: Row) -> Installation {
        Installation(id: row.string(0), appID: row.string(1), userID: row.optionalString(2),
                     projectID: row.optionalString(3), installedAt: row.int64(4), priceMinor: row.int64(5),
                     currency: row.string(6))
    }
}
