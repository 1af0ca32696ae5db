/// Whether an app can be found and installed.
public enum AppStatus: String, Sendable, Equatable, CaseIterable {
    case published
    case unpublished
}

/// An app's counters, kept exact by the schema's triggers (see `MarketplaceSchema`).
public struct AppStats: Sendable, Equatable {
    /// Distinct installing users: a re-install does not count again.
    public var downloads: Int
    public var ratingSum: Int
    public var ratingCount: Int
    /// Reviews with a written body; a bare star rating is not counted here.
    public var reviewCount: Int

    public init(downloads: Int = 0, ratingSum: Int = 0, ratingCount: Int = 0, reviewCount: Int = 0) {
        self.downloads = downloads
        self.ratingSum = ratingSum
        self.ratingCount = ratingCount
        self.reviewCount = reviewCount
    }

    /// The average rating × 1000 in integer arithmetic (0 when unrated): the "top rated" sort key,
    /// computed exactly as the schema's `rating_milli` column so pages and values agree.
    public var averageRatingMilli: Int64 {
        ratingCount > 0 ? Int64(ratingSum) * 1000 / Int64(ratingCount) : 0
    }

    /// The average rating for display, nil when nobody has rated.
    public var averageRating: Double? {
        ratingCount > 0 ? Double(ratingSum) / Double(ratingCount) : nil
    }
}

/// A project published in the marketplace, with its counters.
public struct App: Sendable, Equatable {
    public var id: String
    /// The project whose files an installer receives a copy of.
    public var projectID: String
    public var publisherID: String
    public var name: String
    public var description: String
    public var category: String
    /// Lower-cased, trimmed, without duplicates (see `normalizedTags`).
    public var tags: [String]
    /// The price in the currency's minor unit (cents); 0 is free.
    public var priceMinor: Int64
    /// ISO 4217 code, three upper-case letters.
    public var currency: String
    public var version: String
    public var status: AppStatus
    public var createdAt: Int64
    public var updatedAt: Int64
    /// The latest publication: first release or new version.
    public var publishedAt: Int64
    public var stats: AppStats

    public init(id: String, projectID: String, publisherID: String, name: String, description: String,
                category: String, tags: [String], priceMinor: Int64, currency: String, version: String,
                status: AppStatus, createdAt: Int64, updatedAt: Int64, publishedAt: Int64,
                stats: AppStats = AppStats()) {
        self.id = id
        self.projectID = projectID
        self.publisherID = publisherID
        self.name = name
        self.description = description
        self.category = category
        self.tags = tags
        self.priceMinor = priceMinor
        self.currency = currency
        self.version = version
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.publishedAt = publishedAt
        self.stats = stats
    }
}

extension App {
    // MARK: Writes

    /// Publishes `projectID` as a new app; its counters start at zero (a trigger creates them).
    /// A second app for the same project is a `.uniqueViolation`; a negative price or a currency
    /// that is not three upper-case letters is a `.constraintViolation`.
    public static func publish(_ db: SQLiteConnection, projectID: String, publisherID: String, name: String,
                               description: String, category: String, tags: [String], priceMinor: Int64,
                               currency: String, version: String,
                               at now: Int64 = StoreClock.nowMilliseconds()) throws -> App {
        let app = App(id: StoreID.make(), projectID: projectID, publisherID: publisherID, name: name,
                      description: description, category: category, tags: normalizedTags(tags),
                      priceMinor: priceMinor, currency: currency, version: version, status: .published,
                      createdAt: now, updatedAt: now, publishedAt: now)
        try db.run("""
            INSERT INTO apps (id, project_id, publisher_id, name, description, category, tags, price_minor,
                              currency, version, status, created_at, updated_at, published_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'published', ?, ?, ?)
            """, [app.id, projectID, publisherID, name, description, category, AppTagsJSON.encode(app.tags),
                  priceMinor, currency, version, now, now, now])
        return app
    }

    /// Edits the listing; a nil argument leaves that field as it is. Returns nil when there is no
    /// such app.
    public static func update(_ db: SQLiteConnection, id: String, name: String? = nil, description: String? = nil,
                              category: String? = nil, tags: [String]? = nil, priceMinor: Int64? = nil,
                              currency: String? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> App? {
        let changed = try db.run("""
            UPDATE apps SET name = coalesce(?, name), description = coalesce(?, description),
                            category = coalesce(?, category), tags = coalesce(?, tags),
                            price_minor = coalesce(?, price_minor), currency = coalesce(?, currency),
                            updated_at = ?
            WHERE id = ?
            """, [name, description, category, tags.map { AppTagsJSON.encode(normalizedTags($0)) }, priceMinor,
                  currency, now, id])
        return changed == 0 ? nil : try find(db, id: id)
    }

    /// Publishes a new version (or re-publishes an unpublished app): it moves to the top of "newest".
    public static func publishNewVersion(_ db: SQLiteConnection, id: String, version: String,
                                         at now: Int64 = StoreClock.nowMilliseconds()) throws -> App? {
        let changed = try db.run("""
            UPDATE apps SET version = ?, status = 'published', published_at = ?, updated_at = ? WHERE id = ?
            """, [version, now, now, id])
        return changed == 0 ? nil : try find(db, id: id)
    }

    /// Hides the app from browse and search and refuses new installations; existing installations,
    /// reviews and counters stay.
    public static func unpublish(_ db: SQLiteConnection, id: String,
                                 at now: Int64 = StoreClock.nowMilliseconds()) throws -> App? {
        let changed = try db.run("UPDATE apps SET status = 'unpublished', updated_at = ? WHERE id = ?", [now, id])
        return changed == 0 ? nil : try find(db, id: id)
    }

    /// Deletes the app with its counters, reviews and installation records (installers' projects
    /// stay). Returns false when there was no such app.
    @discardableResult
    public static func delete(_ db: SQLiteConnection, id: String) throws -> Bool {
        try db.run("DELETE FROM apps WHERE id = ?", [id]) > 0
    }

    // MARK: Reads

    /// The app with its counters, published or not.
    public static func find(_ db: SQLiteConnection, id: String) throws -> App? {
        try db.queryOne("SELECT \(columns) FROM apps a JOIN app_stats s ON s.app_id = a.id WHERE a.id = ?",
                        [id], decode)
    }

    /// The app listing `projectID`, if it was published.
    public static func find(_ db: SQLiteConnection, projectID: String) throws -> App? {
        try db.queryOne("SELECT \(columns) FROM apps a JOIN app_stats s ON s.app_id = a.id WHERE a.project_id = ?",
                        [projectID], decode)
    }

    /// Every app of one publisher, published or not, newest first.
    public static func list(_ db: SQLiteConnection, publisherID: String) throws -> [App] {
        try db.query("""
            SELECT \(columns) FROM apps a JOIN app_stats s ON s.app_id = a.id
            WHERE a.publisher_id = ? ORDER BY a.created_at DESC, a.id DESC
            """, [publisherID], decode)
    }

    /// Trimmed, lower-cased, empty ones dropped, first occurrence kept: tags compare exactly in SQL.
    public static func normalizedTags(_ tags: [String]) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for tag in tags {
            let lowered = tag.lowercased()
            guard let first = lowered.firstIndex(where: { !$0.isWhitespace }),
                  let last = lowered.lastIndex(where: { !$0.isWhitespace }) else { continue }
            let clean = String(lowered[first...last])
            if seen.insert(clean).inserted { result.append(clean) }
        }
        return result
    }

    // MARK: Decoding

    /// The columns `decode` reads, in order; every app query selects them from `apps a JOIN app_stats s`.
    static let columns = """
        a.id, a.project_id, a.publisher_id, a.name, a.description, a.category, a.tags, a.price_minor,
        a.currency, a.version, a.status, a.created_at, a.updated_at, a.published_at,
        s.downloads, s.rating_sum, s.rating_count, s.review_count
        """

    static func decode(_ row: Row) throws -> App {
        guard let status = AppStatus(rawValue: row.string(10)) else {
            throw StoreError(kind: .decoding, message: "apps.status '\(row.string(10))' is not a known status")
        }
        return App(id: row.string(0), projectID: row.string(1), publisherID: row.string(2), name: row.string(3),
                   description: row.string(4), category: row.string(5), tags: try AppTagsJSON.decode(row.string(6)),
                   priceMinor: row.int64(7), currency: row.string(8), version: row.string(9), status: status,
                   createdAt: row.int64(11), updatedAt: row.int64(12), publishedAt: row.int64(13),
                   stats: AppStats(downloads: row.int(14), ratingSum: row.int(15), ratingCount: row.int(16),
                                   reviewCount: row.int(17)))
    }
}

/// `apps.tags` is a JSON array of strings. The store has no Foundation, and this is the only JSON it
/// reads itself, so a small exact codec beats a dependency.
enum AppTagsJSON {
    static func encode(_ tags: [String]) -> String {
        var out = "["
        for (index, tag) in tags.enumerated() {
            if index > 0 { out += "," }
            out += "\""
            for scalar in tag.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            out += "\""
        }
        return out + "]"
    }

    /// Accepts any JSON array of strings (whitespace, every escape), so rows written by other tools
    /// read back too.
    static func decode(_ text: String) throws(StoreError) -> [String] {
        let bad = StoreError(kind: .decoding, message: "apps.tags is not a JSON array of strings")
        var input = Array(text.unicodeScalars)[...]
        func skipSpace() { while let c = input.first, c == " " || c == "\n" || c == "\r" || c == "\t" { input.removeFirst() } }
        func hex4() throws(StoreError) -> UInt32 {
            guard input.count >= 4, let value = UInt32(String(String.UnicodeScalarView(input.prefix(4))), radix: 16)
            else { throw bad }
            input.removeFirst(4)
            return value
        }
        skipSpace()
        guard input.popFirst() == "[" else { throw bad }
        var tags: [String] = []
        skipSpace()
        if input.first == "]" { input.removeFirst() } else {
            while true {
                skipSpace()
                guard input.popFirst() == "\"" else { throw bad }
                var tag = String.UnicodeScalarView()
                while true {
                    guard let c = input.popFirst() else { throw bad }
                    if c == "\"" { break }
                    guard c == "\\" else { tag.append(c); continue }
                    switch input.popFirst() {
                    case "\"": tag.append("\"")
                    case "\\": tag.append("\\")
                    case "/": tag.append("/")
                    case "b": tag.append("\u{08}")
                    case "f": tag.append("\u{0C}")
                    case "n": tag.append("\n")
                    case "r": tag.append("\r")
                    case "t": tag.append("\t")
                    case "u":
                        var value = try hex4()
                        if (0xD800..<0xDC00).contains(value), input.starts(with: ["\\", "u"]) {
                            input.removeFirst(2)
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw bad }
                            value = 0x10000 + (value - 0xD800) << 10 + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(value) else { throw bad }
                        tag.append(scalar)
                    default: throw bad
                    }
                }
                tags.append(String(tag))
                skipSpace()
                let next = input.popFirst()
                if next == "]" { break }
                guard next == "," else { throw bad }
            }
        }
        skipSpace()
        guard input.isEmpty else { throw bad }
        return tags
    }
}
