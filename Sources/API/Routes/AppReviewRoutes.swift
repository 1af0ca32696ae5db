import Net
import Store

/// Reviews: one per user and app, edited in place (PUT on `mine`). A publisher cannot review their
/// own app; the database enforces it (a trigger), and this maps its refusal to 403.
enum AppReviewRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/apps/:id/reviews", .anyone, "An app's reviews, newest first", immediate: list),
        APIRoute(.put, "/api/v1/apps/:id/reviews/mine", .user, "Write or edit your review of an app", deferred: put),
        APIRoute(.delete, "/api/v1/apps/:id/reviews/mine", .user, "Delete your review of an app", deferred: delete),
    ]

    static func reviewJSON(_ review: Review, author: User?) -> JSONValue {
        var authorFields: [String: JSONValue] = ["id": .string(review.userID)]
        if let author { authorFields["name"] = .string(author.displayName) }
        return .object(["id": .string(review.id), "app_id": .string(review.appID), "rating": .int(review.rating),
                        "text": .string(review.body), "author": .object(authorFields),
                        "created_at": .int(review.createdAt), "updated_at": .int(review.updatedAt)])
    }

    /// One read: the app (to hide unpublished ones), the page, and each author's name.
    static func list(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let id = context.parameter("id")
        let limit = try context.limit(default: 20)
        let cursor = try context.cursor()
        let viewer = context.user
        let found = try context.read { db -> (page: Page<Review>, authors: [String: User])? in
            guard let app = try App.find(db, id: id) else { return nil }
            if app.status != .published, viewer?.id != app.publisherID, viewer?.role != .admin { return nil }
            let page = try Review.list(db, appID: id, cursor: cursor, limit: limit)
            var authors: [String: User] = [:]
            for userID in Set(page.items.map(\.userID)) {
                authors[userID] = try User.find(db, id: userID)
            }
            return (page, authors)
        }
        guard let found else { throw .notFound("app with id \(id)") }
        return Reply.page(found.page.items.map { reviewJSON($0, author: found.authors[$0.userID]) }, next: found.page.nextCursor)
    }

    static func put(_ context: APIContext) async throws -> HTTPResponse {
        let input = try MarketplaceRoutes.input(context.request, allowed: ["rating", "text"])
        let rating = try input.int("rating", in: 1...5)
        let text = try input.optionalString("text", max: 5000) ?? ""
        let id = context.parameter("id")
        let me = try context.me
        let outcome: (review: Review, created: Bool)
        do {
            outcome = try await context.write(audit: ("review.put", "review", { $0.review.id })) { db in
                guard let app = try App.find(db, id: id), app.status == .published else {
                    throw APIError.notFound("published app with id \(id)")
                }
                let existed = try Review.find(db, appID: id, userID: me.id) != nil
                return (try Review.upsert(db, appID: id, userID: me.id, rating: rating, body: text), !existed)
            }
        } catch where Review.isPublisherReviewError(error) {
            throw APIError.forbidden("you publish this app, so you cannot review it")
        }
        return Reply.json(reviewJSON(outcome.review, author: me), status: outcome.created ? .created : .ok)
    }

    static func delete(_ context: APIContext) async throws -> HTTPResponse {
        let id = context.parameter("id")
        let me = try context.me
        _ = try await context.write(audit: ("review.delete", "review", { $0 })) { db -> String in
            guard let review = try Review.find(db, appID: id, userID: me.id) else {
                throw APIError.notFound("review of yours for app \(id)")
            }
            try Review.delete(db, appID: id, userID: me.id)
            return review.id
        }
        return Reply.noContent
    }
}
