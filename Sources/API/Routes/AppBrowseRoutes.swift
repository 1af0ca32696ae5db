import Net
import Store

/// Browsing, searching and reading apps: the marketplace's hot reads, answered on the loop
/// (`immediate`). Unpublished apps never appear in listings; their detail is shown only to their
/// publisher and administrators.
enum AppBrowseRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/apps", .anyone,
                 "Browse published apps (category, price=free|paid, tag, sort=rating|downloads|newest) or search them (q)",
                 immediate: browse),
        APIRoute(.get, "/api/v1/apps/:id", .anyone, "An app with its stats and publisher", immediate: detail),
    ]

    static let browseParameters: Set<String> = ["category", "price", "tag", "sort", "q", "cursor", "limit"]

    static func browse(_ context: APIContext) throws(APIError) -> HTTPResponse {
        // An empty value (`category=`) means no filter, as forms send them.
        let query = context.request.queryItems.filter { !$0.value.isEmpty }
        // A misspelt filter would silently list everything; naming it is kinder.
        if let unknown = query.keys.sorted().first(where: { !browseParameters.contains($0) }) {
            throw .badRequest("unknown parameter \"\(unknown)\"; this route takes \(browseParameters.sorted().joined(separator: ", "))",
                              field: unknown)
        }
        let limit = try context.limit(default: 20)
        let cursor = try context.cursor()
        var category: String?
        if let raw = query["category"] {
            guard MarketplaceRoutes.categories.contains(raw) else {
                throw .badRequest("category must be one of \(MarketplaceRoutes.categories.sorted().joined(separator: ", "))",
                                  field: "category")
            }
            category = raw
        }
        var price = PriceFilter.any
        if let raw = query["price"] {
            guard let filter = PriceFilter(rawValue: raw), filter != .any else {
                throw .badRequest("price must be free or paid", field: "price")
            }
            price = filter
        }
        var sort = AppSort.newest
        if let raw = query["sort"] {
            guard let value = AppSort(rawValue: raw) else { throw .badRequest("sort must be rating, downloads or newest", field: "sort") }
            sort = value
        }
        let tag = query["tag"]
        if let tag, tag.count > 30 { throw .badRequest("tag must be at most 30 characters", field: "tag") }
        if let q = query["q"] {
            guard q.count <= 200 else { throw .badRequest("q must be at most 200 characters", field: "q") }
            // Search results are ranked by relevance; another order would need a second ranking.
            if query["sort"] != nil { throw .badRequest("sort cannot be combined with q: search results are ranked by relevance", field: "sort") }
            let page = try context.read {
                try App.search($0, query: q, category: category, price: price, tag: tag, cursor: cursor, limit: limit)
            }
            return Reply.page(page.items.map { MarketplaceRoutes.appJSON($0) }, next: page.nextCursor)
        }
        let page = try context.read {
            try App.browse($0, category: category, price: price, tag: tag, sort: sort, cursor: cursor, limit: limit)
        }
        return Reply.page(page.items.map { MarketplaceRoutes.appJSON($0) }, next: page.nextCursor)
    }

    /// One statement on the loop: the app with its counters and its publisher's name.
    /// The hot read. A published app's answer is the same for everyone, so it is cached per loop
    /// until the next write through the API (see `ReadCache`): exact, and one dictionary lookup.
    static func detail(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let id = context.parameter("id")
        return try context.cachedRead("app:" + id) { () throws(APIError) in
            guard let (app, publisherName) = try context.read({ try App.findWithPublisherName($0, id: id) }) else {
                throw .notFound("app with id \(id)")
            }
            if app.status != .published {
                guard let user = context.user, user.id == app.publisherID || user.role == .admin else {
                    throw .notFound("app with id \(id)")
                }
                return (Reply.json(MarketplaceRoutes.appJSON(app, publisherName: publisherName)), false)
            }
            return (Reply.json(MarketplaceRoutes.appJSON(app, publisherName: publisherName)), true)
        }
    }
}
