/// Which prices a marketplace listing shows.
public enum PriceFilter: String, Sendable, Equatable, CaseIterable {
    case any
    case free
    case paid
}

/// The order of a marketplace listing. Every order is descending with the app id as tie-break, so
/// a page boundary is one exact position.
public enum AppSort: String, Sendable, Equatable, CaseIterable {
    /// By average rating (`AppStats.averageRatingMilli`).
    case rating
    /// By number of distinct installing users.
    case downloads
    /// By latest publication.
    case newest
}

extension App {
    /// Published apps, filtered and sorted, one keyset page at a time. The cursor's sort key is the
    /// sort's own value (rating × 1000, downloads, or publication time), so apps published while a
    /// client pages never shift what it has not seen yet. A cursor from another sort reads as a
    /// position in this one: harmless, though meaningless.
    public static func browse(_ db: SQLiteConnection, category: String? = nil, price: PriceFilter = .any,
                              tag: String? = nil, sort: AppSort = .newest, cursor: PageCursor? = nil,
                              limit: Int = 20) throws -> Page<App> {
        // Sort columns come from the fixed fragments below; values are always bound.
        guard var (conditions, parameters) = filters(category: category, price: price, tag: tag) else {
            return Page(items: [], nextCursor: nil)
        }
        // For the counter sorts, CROSS JOIN (SQLite's way to fix the join order) makes it walk the
        // counter's (key, app_id) index in order and stop after one page, rather than sort every
        // published app; the filters are checked on the way.
        let (key, id, tables) = switch sort {
        case .rating: ("s.rating_milli", "s.app_id", "app_stats s CROSS JOIN apps a ON a.id = s.app_id")
        case .downloads: ("s.downloads", "s.app_id", "app_stats s CROSS JOIN apps a ON a.id = s.app_id")
        case .newest: ("a.published_at", "a.id", "apps a JOIN app_stats s ON s.app_id = a.id")
        }
        if let cursor {
            conditions.append("(\(key), \(id)) < (?, ?)")
            parameters += [cursor.sortKey, cursor.id]
        }
        let limit = keysetLimit(limit)
        parameters.append(limit + 1)
        let rows = try db.query("""
            SELECT \(columns), \(key) FROM \(tables)
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY \(key) DESC, \(id) DESC LIMIT ?
            """, parameters) { row in (app: try decode(row), key: row.int64(18)) }
        return Page(keysetRows: rows, limit: limit, item: \.app) { PageCursor(sortKey: $0.key, id: $0.app.id) }
    }

    /// Published apps matching the words of `query`, best first (FTS5 bm25). A word in the name
    /// weighs 10, in the tags 5, in the category 3, in the description 1, so a name match outranks
    /// a description match. Any text is safe: see `matchExpression(for:)`; a query without words
    /// gives an empty page. The filters narrow the matches as they narrow `browse`.
    ///
    /// The cursor carries the last rank's exact bits: bm25 is deterministic for a given index, so
    /// the next page starts exactly after it. Apps added or edited between pages change every
    /// rank (bm25 weighs terms by the whole corpus), so such a page is best-effort, like any
    /// relevance listing.
    public static func search(_ db: SQLiteConnection, query: String, category: String? = nil, price: PriceFilter = .any,
                              tag: String? = nil, cursor: PageCursor? = nil, limit: Int = 20) throws -> Page<App> {
        guard let match = matchExpression(for: query), let filtered = filters(category: category, price: price, tag: tag) else {
            return Page(items: [], nextCursor: nil)
        }
        var conditions = filtered.0
        var parameters: [any SQLiteBindable] = [match] + filtered.1
        if let cursor {
            conditions.append("(r.score, a.id) > (?, ?)")
            parameters += [Double(bitPattern: UInt64(bitPattern: cursor.sortKey)), cursor.id]
        }
        let limit = keysetLimit(limit)
        parameters.append(limit + 1)
        let rows = try db.query("""
            SELECT \(columns), r.score
            FROM (SELECT rowid AS doc, bm25(apps_fts, 10.0, 1.0, 3.0, 5.0) AS score
                  FROM apps_fts WHERE apps_fts MATCH ?) r
            JOIN apps a ON a.rowid = r.doc
            JOIN app_stats s ON s.app_id = a.id
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY r.score, a.id LIMIT ?
            """, parameters) { row in (app: try decode(row), score: row.double(18)) }
        return Page(keysetRows: rows, limit: limit, item: \.app) {
            PageCursor(sortKey: Int64(bitPattern: $0.score.bitPattern), id: $0.app.id)
        }
    }

    /// The WHERE fragments (and their bound values) shared by `browse` and `search`: published apps,
    /// optionally in a category, free or paid, with a tag. nil when the tag normalizes to nothing,
    /// which matches no app. `status = 'published'` and the price tests are literal so the partial
    /// indexes apply.
    static func filters(category: String?, price: PriceFilter, tag: String?) -> ([String], [any SQLiteBindable])? {
        var conditions = ["a.status = 'published'"]
        var parameters: [any SQLiteBindable] = []
        if let category {
            conditions.append("a.category = ?")
            parameters.append(category)
        }
        switch price {
        case .any: break
        case .free: conditions.append("a.price_minor = 0")
        case .paid: conditions.append("a.price_minor > 0")
        }
        if let tag {
            guard let normalized = normalizedTags([tag]).first else { return nil }
            conditions.append("EXISTS (SELECT 1 FROM json_each(a.tags) WHERE json_each.value = ?)")
            parameters.append(normalized)
        }
        return (conditions, parameters)
    }

    /// The FTS5 expression for a user's text, or nil when it has no words. Every
    /// whitespace-separated chunk becomes one quoted phrase of its letters, digits and marks
    /// ("e-mail" → `"e mail"`); every other character separates words. Inside double quotes FTS5
    /// has no operators (AND, OR, NOT, NEAR, `*`, `^`, `:`, `-`, parentheses are plain text), and a
    /// quote can never appear inside a phrase because quotes are not letters, so no input can form
    /// FTS5 syntax. Phrases are ANDed (FTS5's implicit operator); at most 16 are kept.
    static func matchExpression(for query: String) -> String? {
        var phrases: [String] = []
        for chunk in query.split(whereSeparator: \.isWhitespace) where phrases.count < 16 {
            var words: [String] = []
            var word = String.UnicodeScalarView()
            for scalar in chunk.unicodeScalars {
                if isWordScalar(scalar) {
                    word.append(scalar)
                } else if !word.isEmpty {
                    words.append(String(word))
                    word = String.UnicodeScalarView()
                }
            }
            if !word.isEmpty { words.append(String(word)) }
            if !words.isEmpty { phrases.append("\"" + words.joined(separator: " ") + "\"") }
        }
        return phrases.isEmpty ? nil : phrases.joined(separator: " ")
    }

    /// Letters, digits and combining marks: what the unicode61 tokenizer keeps (marks so that a
    /// decomposed "é" stays one word; remove_diacritics then folds it).
    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber, .nonspacingMark, .spacingMark, .enclosingMark:
            true
        default:
            false
        }
    }
}
