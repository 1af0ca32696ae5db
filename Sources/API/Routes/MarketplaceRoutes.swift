import Net
import Store

/// The marketplace: publishing projects as apps, browsing and searching them, installing copies,
/// reviews, and publisher statistics (issue 7). This file holds the publisher's writes and what the
/// other marketplace files share; browsing is in `AppBrowseRoutes`, installing in
/// `AppInstallRoutes`, reviews in `AppReviewRoutes`, statistics in `PublisherRoutes`.
///
/// Prices are integers in the currency's minor unit (`price_cents`) with an ISO 4217 `currency`;
/// 0 is free. Every change is audited in the same commit as the change.
enum MarketplaceRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.post, "/api/v1/apps", .user, "Publish one of your projects as an app", deferred: publish),
        APIRoute(.patch, "/api/v1/apps/:id", .user, "Edit your app's listing", deferred: edit),
        APIRoute(.post, "/api/v1/apps/:id/versions", .user, "Publish a new version of your app", deferred: newVersion),
        APIRoute(.delete, "/api/v1/apps/:id", .user, "Unpublish an app (its publisher or an administrator)", deferred: unpublish),
    ] + AppBrowseRoutes.routes + AppInstallRoutes.routes + AppReviewRoutes.routes + PublisherRoutes.routes

    /// The fixed list of categories an app may be filed under.
    static let categories: Set<String> = ["productivity", "developer-tools", "education", "games", "business", "other"]
    static let maxPriceCents = 10_000_000
    /// Free apps need no currency from the publisher; the database still wants a valid code.
    static let defaultCurrency = "USD"

    // MARK: Shared

    /// A body that is not UTF-8 is refused as a whole: the JSON parser would otherwise turn the bad
    /// bytes into U+FFFD and store text the client never sent.
    static func input(_ request: HTTPRequest, allowed: Set<String>) throws(APIError) -> JSONInput {
        guard String(validating: request.body, as: UTF8.self) != nil else {
            throw .badRequest("the body is not valid UTF-8")
        }
        return try JSONInput(request, allowed: allowed)
    }

    /// The average with two decimals, or null when nobody has rated (integer arithmetic, rounded
    /// half up, so 4.335 is never shown as 4.33 by a binary fraction).
    static func averageRating(_ stats: AppStats) -> JSONValue {
        guard stats.ratingCount > 0 else { return .null }
        let hundredths = (stats.ratingSum * 200 + stats.ratingCount) / (2 * stats.ratingCount)
        return .number(Double(hundredths) / 100)
    }

    /// An app as clients see it; the publisher has a name when `publisherName` was read.
    ///
    /// `installations` equals `downloads`: a user has at most one installation of an app (a repeat
    /// returns it), and both keep counting it after the installer deletes their copy, like revenue.
    /// Copies still alive are in the publisher's stats (`live_installations`): counting them visits
    /// every installation, too slow for the hot detail read.
    static func appJSON(_ app: App, publisherName: String? = nil) -> JSONValue {
        let stats: [String: JSONValue] = [
            "downloads": .int(app.stats.downloads), "installations": .int(app.stats.downloads),
            "average_rating": averageRating(app.stats), "rating_count": .int(app.stats.ratingCount),
            "review_count": .int(app.stats.reviewCount),
        ]
        var publisher: [String: JSONValue] = ["id": .string(app.publisherID)]
        if let publisherName { publisher["name"] = .string(publisherName) }
        return .object([
            "id": .string(app.id), "name": .string(app.name), "description": .string(app.description),
            "category": .string(app.category), "tags": .array(app.tags.map(JSONValue.string)),
            "price_cents": .int(app.priceMinor), "currency": .string(app.currency), "version": .string(app.version),
            "status": .string(app.status.rawValue), "created_at": .int(app.createdAt), "updated_at": .int(app.updatedAt),
            "published_at": .int(app.publishedAt), "stats": .object(stats), "publisher": .object(publisher),
        ])
    }

    /// The app `id` for a write by its publisher (or, with `admin`, an administrator). Someone else
    /// gets 403 when the app is public and 404 when it is not, so hidden apps stay unknown.
    static func ownedApp(_ db: SQLiteConnection, id: String, by user: User, admin: Bool = false) throws -> App {
        guard let app = try App.find(db, id: id) else { throw APIError.notFound("app with id \(id)") }
        if app.publisherID == user.id || (admin && user.role == .admin) { return app }
        if app.status != .published { throw APIError.notFound("app with id \(id)") }
        throw APIError.forbidden("only the app's publisher may change it")
    }

    /// The listing fields shared by publish and edit; nil for the ones absent (edit keeps them).
    struct Listing: Sendable {
        var name: String?
        var description: String?
        var category: String?
        var tags: [String]?
        var priceCents: Int?
        var currency: String?
    }

    static let listingFields: Set<String> = ["name", "description", "category", "tags", "price_cents", "currency"]

    static func listing(_ input: JSONInput, required: Bool) throws(APIError) -> Listing {
        var listing = Listing()
        listing.name = required ? try input.string("name", min: 1, max: 100) : try input.optionalString("name", min: 1, max: 100)
        if let name = listing.name, name.allSatisfy(\.isWhitespace) {
            throw .unprocessable("\"name\" must not be blank", field: "name")
        }
        listing.description = try input.optionalString("description", max: 5000)
        listing.category = try input.oneOf("category", categories, required: required)
        listing.tags = try input.optionalStrings("tags", maxCount: 10, maxLength: 30)
        listing.priceCents = try input.optionalInt("price_cents", in: 0...maxPriceCents)
        if required, listing.priceCents == nil { throw .unprocessable("\"price_cents\" is required (0 for free)", field: "price_cents") }
        listing.currency = try input.optionalString("currency", min: 3, max: 3)
        if let currency = listing.currency, !currency.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) {
            throw .unprocessable("\"currency\" must be an ISO 4217 code of three upper-case letters, like EUR", field: "currency")
        }
        if required, (listing.priceCents ?? 0) > 0, listing.currency == nil {
            throw .unprocessable("\"currency\" is required when price_cents is above 0", field: "currency")
        }
        return listing
    }

    // MARK: Handlers

    static func publish(_ context: APIContext) async throws -> HTTPResponse {
        let input = try input(context.request, allowed: listingFields.union(["project_id", "version"]))
        let projectID = try input.string("project_id", max: 64)
        let listing = try listing(input, required: true)
        let version = try input.string("version", min: 1, max: 32)
        let me = try context.me
        let app = try await context.write(audit: ("app.publish", "app", { $0.id })) { db -> App in
            switch try ProjectMember.role(db, projectID: projectID, userID: me.id) {
            case nil: throw APIError.notFound("project with id \(projectID) of yours")
            case .owner?: break
            case _?: throw APIError.forbidden("only the project's owner may publish it")
            }
            if try App.find(db, projectID: projectID) != nil {
                throw APIError.conflict("this project is already published; edit that app instead", field: "project_id")
            }
            return try App.publish(db, projectID: projectID, publisherID: me.id, name: listing.name ?? "",
                                   description: listing.description ?? "", category: listing.category ?? "other",
                                   tags: listing.tags ?? [], priceMinor: Int64(listing.priceCents ?? 0),
                                   currency: listing.currency ?? defaultCurrency, version: version)
        }
        return Reply.json(appJSON(app, publisherName: me.displayName), status: .created)
    }

    static func edit(_ context: APIContext) async throws -> HTTPResponse {
        let input = try input(context.request, allowed: listingFields.union(["project_id", "version"]))
        let listing = try listing(input, required: false)
        if input.has("version") {
            throw APIError.unprocessable("\"version\" changes with POST /api/v1/apps/:id/versions", field: "version")
        }
        let projectID = try input.optionalString("project_id", max: 64)
        let id = context.parameter("id")
        let me = try context.me
        let app = try await context.write(audit: ("app.update", "app", { $0.id })) { db -> App in
            let current = try ownedApp(db, id: id, by: me)
            if let projectID, projectID != current.projectID {
                throw APIError.unprocessable("an app's project cannot change; publish the other project as a new app", field: "project_id")
            }
            if (listing.priceCents ?? 0) > 0, listing.currency == nil, current.priceMinor == 0, current.currency == defaultCurrency {
                // A free app's stored currency is only the placeholder: a price needs a real one.
                throw APIError.unprocessable("\"currency\" is required when price_cents is above 0", field: "currency")
            }
            guard let updated = try App.update(db, id: id, name: listing.name, description: listing.description,
                                               category: listing.category, tags: listing.tags,
                                               priceMinor: listing.priceCents.map(Int64.init), currency: listing.currency)
            else { throw APIError.notFound("app with id \(id)") }
            return updated
        }
        return Reply.json(appJSON(app, publisherName: me.displayName))
    }

    static func newVersion(_ context: APIContext) async throws -> HTTPResponse {
        let input = try input(context.request, allowed: ["version", "changelog"])
        let version = try input.string("version", min: 1, max: 32)
        let changelog = try input.optionalString("changelog", max: 5000) ?? ""
        let id = context.parameter("id")
        let me = try context.me
        let ip = context.ip
        // Audited by hand: the changelog has no column of its own and is kept in the entry's details.
        let app = try await context.write { db -> App in
            // A new version of an unpublished app publishes it again (the store's rule).
            _ = try ownedApp(db, id: id, by: me)
            guard let updated = try App.publishNewVersion(db, id: id, version: version) else {
                throw APIError.notFound("app with id \(id)")
            }
            let details = JSONValue.object(["version": .string(version), "changelog": .string(changelog)]).serializedString
            try AuditEntry.append(db, actorID: me.id, action: "app.version", targetType: "app", targetID: id, details: details, ip: ip)
            return updated
        }
        guard case .object(var fields) = appJSON(app, publisherName: me.displayName) else { return Reply.noContent }
        fields["changelog"] = .string(changelog)
        return Reply.json(.object(fields), status: .created)
    }

    static func unpublish(_ context: APIContext) async throws -> HTTPResponse {
        let id = context.parameter("id")
        let me = try context.me
        _ = try await context.write(audit: ("app.unpublish", "app", { $0.id })) { db -> App in
            _ = try ownedApp(db, id: id, by: me, admin: true)
            guard let app = try App.unpublish(db, id: id) else { throw APIError.notFound("app with id \(id)") }
            return app
        }
        return Reply.noContent
    }
}
