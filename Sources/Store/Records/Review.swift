/// One user's rating (1 to 5) of an app, with an optional written body. One per user and app.
public struct Review: Sendable, Equatable {
    public var id: String
    public var appID: String
    public var userID: String
    public var rating: Int
    /// Empty for a bare star rating.
    public var body: String
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, appID: String, userID: String, rating: Int, body: String, createdAt: Int64,
                updatedAt: Int64) {
        self.id = id
        self.appID = appID
        self.userID = userID
        self.rating = rating
        self.body = body
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension Review {
    /// The message of the `.constraintViolation` raised when an app's publisher reviews it. The
    /// rule is a trigger, so no write path can skip it; callers recognise it with
    /// `isPublisherReviewError` (an API answers 403 rather than 422).
    public static var publisherReviewMessage: String { MarketplaceSchema.publisherReviewMessage }

    /// Whether `error` is the refusal of a publisher's review of their own app.
    public static func isPublisherReviewError(_ error: any Error) -> Bool {
        guard let error = error as? StoreError else { return false }
        return error.kind == .constraintViolation && error.message == publisherReviewMessage
    }

    /// Adds a review; a second one by the same user for the same app is a `.uniqueViolation` (use
    /// `upsert` to edit). A rating outside 1…5 is a `.constraintViolation`.
    public static func insert(_ db: SQLiteConnection, appID: String, userID: String, rating: Int, body: String = "",
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Review {
        let review = Review(id: StoreID.make(), appID: appID, userID: userID, rating: rating, body: body,
                            createdAt: now, updatedAt: now)
        try db.run("""
            INSERT INTO reviews (id, app_id, user_id, rating, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [review.id, appID, userID, rating, body, now, now])
        return review
    }

    /// Adds the user's review of the app, or edits it (rating and body; it keeps its id and
    /// creation time, hence its place in the listing). The counters follow in the same statement.
    public static func upsert(_ db: SQLiteConnection, appID: String, userID: String, rating: Int, body: String = "",
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Review {
        try db.run("""
            INSERT INTO reviews (id, app_id, user_id, rating, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (app_id, user_id) DO UPDATE
            SET rating = excluded.rating, body = excluded.body, updated_at = excluded.updated_at
            """, [StoreID.make(), appID, userID, rating, body, now, now])
        guard let review = try find(db, appID: appID, userID: userID) else {
            throw StoreError(kind: .sqlite, message: "review of \(appID) by \(userID) vanished after upsert")
        }
        return review
    }

    /// Removes the user's review of the app; false when there was none.
    @discardableResult
    public static func delete(_ db: SQLiteConnection, appID: String, userID: String) throws -> Bool {
        try db.run("DELETE FROM reviews WHERE app_id = ? AND user_id = ?", [appID, userID]) > 0
    }

    public static func find(_ db: SQLiteConnection, appID: String, userID: String) throws -> Review? {
        try db.queryOne("SELECT \(columns) FROM reviews WHERE app_id = ? AND user_id = ?", [appID, userID], decode)
    }

    /// An app's reviews, newest first (by creation, so edits do not reorder pages), one keyset
    /// page at a time.
    public static func list(_ db: SQLiteConnection, appID: String, cursor: PageCursor? = nil,
                            limit: Int = 20) throws -> Page<Review> {
        let limit = keysetLimit(limit)
        let rows: [Review]
        if let cursor {
            rows = try db.query("""
                SELECT \(columns) FROM reviews WHERE app_id = ? AND (created_at, id) < (?, ?)
                ORDER BY created_at DESC, id DESC LIMIT ?
                """, [appID, cursor.sortKey, cursor.id, limit + 1], decode)
        } else {
            rows = try db.query("""
                SELECT \(columns) FROM reviews WHERE app_id = ? ORDER BY created_at DESC, id DESC LIMIT ?
                """, [appID, limit + 1], decode)
        }
        return Page(keysetRows: rows, limit: limit) {
            PageCursor(sortKey: $0.createdAt, id: $0.id)
        }
    }

    static let columns = "id, app_id, user_id, rating, body, created_at, updated_at"

    static func decode(_ row: Row) -> Review {
        Review(id: row.string(0), appID: row.string(1), userID: row.string(2), rating: row.int(3),
               body: row.string(4), createdAt: row.int64(5), updatedAt: row.int64(6))
    }
}
