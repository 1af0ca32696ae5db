import Testing
import TestSupport
@testable import Store

@Suite struct MarketplaceBrowseTests {
    /// Twelve published apps with clashing sort keys (so the id tie-break matters) and one
    /// unpublished app that must never show.
    private func catalogue(_ fixture: MarketplaceFixture) throws -> [App] {
        var generator = SplitMix64(state: 42)
        var apps: [App] = []
        for index in 0..<12 {
            let app = try fixture.publishApp(name: "App \(index)", category: index % 3 == 0 ? "games" : "tools",
                                             tags: index % 2 == 0 ? ["even", "all"] : ["odd", "all"],
                                             priceMinor: index % 4 == 0 ? 0 : 199, at: Int64(1_000 + index / 3))
            for _ in 0..<(index % 5) { try fixture.installForNewUser(app) }
            for rating in [index % 5 + 1, (index * 7) % 5 + 1].prefix(index % 3) {
                let reviewer = try fixture.makeUser()
                _ = try Review.upsert(fixture.db, appID: app.id, userID: reviewer, rating: rating,
                                      body: Bool.random(using: &generator) ? "text" : "")
            }
            apps.append(try #require(try App.find(fixture.db, id: app.id)))
        }
        let hidden = try fixture.publishApp(name: "Hidden", category: "games", tags: ["all"])
        _ = try App.unpublish(fixture.db, id: hidden.id)
        return apps
    }

    private func key(_ app: App, _ sort: AppSort) -> Int64 {
        switch sort {
        case .rating: app.stats.averageRatingMilli
        case .downloads: Int64(app.stats.downloads)
        case .newest: app.publishedAt
        }
    }

    private func expected(_ apps: [App], _ sort: AppSort, where include: (App) -> Bool = { _ in true }) -> [String] {
        apps.filter(include).sorted { (key($0, sort), $0.id) > (key($1, sort), $1.id) }.map(\.id)
    }

    @Test func browseSortsByEachOrderWithTheIdAsTieBreak() throws {
        let fixture = try MarketplaceFixture()
        let apps = try catalogue(fixture)
        for sort in AppSort.allCases {
            let page = try App.browse(fixture.db, sort: sort, limit: 100)
            #expect(page.items.map(\.id) == expected(apps, sort), "\(sort)")
            #expect(page.nextCursor == nil)
        }
        let rated = apps.first { $0.stats.ratingCount == 2 }
        #expect(rated?.stats.averageRatingMilli == Int64(rated?.stats.ratingSum ?? 0) * 500)
    }

    @Test func browseFiltersByCategoryPriceAndTagTogether() throws {
        let fixture = try MarketplaceFixture()
        let apps = try catalogue(fixture)
        for category in [nil, "games", "tools", "none"] {
            for price in PriceFilter.allCases {
                for tag in [nil, "even", " ODD ", "all", "missing"] {
                    let page = try App.browse(fixture.db, category: category, price: price, tag: tag, sort: .downloads,
                                              limit: 100)
                    let wanted = expected(apps, .downloads) { app in
                        (category == nil || app.category == category)
                            && (price == .any || (price == .free) == (app.priceMinor == 0))
                            && (tag == nil || app.tags.contains(App.normalizedTags([tag ?? ""]).first ?? ""))
                    }
                    #expect(page.items.map(\.id) == wanted, "\(String(describing: category)) \(price) \(String(describing: tag))")
                }
            }
        }
        #expect(try App.browse(fixture.db, tag: "   ").items.isEmpty)
    }

    @Test func browsePaginatesEveryAppExactlyOnceWhileNewAppsArePublishedBetweenPages() throws {
        let fixture = try MarketplaceFixture()
        var apps = try catalogue(fixture)
        var later = Int64(5_000)
        for sort in AppSort.allCases {
            for price in PriceFilter.allCases {
                let before = expected(apps, sort) { price == .any || (price == .free) == ($0.priceMinor == 0) }
                let pages = try fixture.allPages({
                    try App.browse(fixture.db, price: price, sort: sort, cursor: $0, limit: 3)
                }) {
                    later += 1
                    apps.append(try fixture.publishApp(name: "Late \(later)", priceMinor: later % 2 == 0 ? 0 : 99,
                                                       at: later))
                }
                let seen = pages.flatMap { $0 }.map(\.id)
                #expect(Set(seen).count == seen.count, "duplicates in \(sort) \(price)")
                #expect(seen.filter(before.contains) == before, "\(sort) \(price)")
                #expect(pages.dropLast().allSatisfy { $0.count == 3 })
            }
        }
    }

    // MARK: Search

    @Test func searchFindsAppsByWordsInEveryIndexedColumnIgnoringCaseAndDiacritics() throws {
        let fixture = try MarketplaceFixture()
        let cafe = try fixture.publishApp(name: "Café Crème", description: "Order coffee", category: "food")
        let plain = try fixture.publishApp(name: "cafe", description: "another coffee place", category: "food")
        let invoices = try fixture.publishApp(name: "Invoices", description: "Bills and receipts", category: "finance",
                                              tags: ["accounting", "pdf"])
        func found(_ query: String) throws -> Set<String> {
            Set(try App.search(fixture.db, query: query).items.map(\.id))
        }
        #expect(try found("cafe") == [cafe.id, plain.id])
        #expect(try found("CAFÉ") == [cafe.id, plain.id])
        #expect(try found("creme") == [cafe.id])
        #expect(try found("Cre\u{300}me") == [cafe.id])
        #expect(try found("receipts") == [invoices.id])
        #expect(try found("FINANCE") == [invoices.id])
        #expect(try found("accounting") == [invoices.id])
        #expect(try found("coffee place") == [plain.id])
        #expect(try found("coffee bills").isEmpty)
    }

    @Test func aNameMatchOutranksADescriptionMatch() throws {
        let fixture = try MarketplaceFixture()
        let described = try fixture.publishApp(name: "Sky Tool", description: "weather weather forecasts and weather maps")
        let named = try fixture.publishApp(name: "Weather", description: "forecasts")
        for index in 0..<5 { _ = try fixture.publishApp(name: "Filler \(index)", description: "unrelated text") }
        #expect(try App.search(fixture.db, query: "weather").items.map(\.id) == [named.id, described.id])
    }

    @Test func hostileQueriesReturnResultsOrNothingAndNeverThrow() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(name: "Invoice Maker", description: "or near not and")
        let hostile = [
            "\"", "\"\"", "invoice\"", "*", "invoice*", "NEAR(", "NEAR(invoice maker, 2)", "a OR", "OR", "AND NOT",
            "-x", "-invoice", "col:x", "name:invoice", "{name}: invoice", "(((", "invoice)", "^invoice", "+", "'",
            "'; DROP TABLE apps; --", "\" OR 1=1 --", "invoice' OR '1'='1", "\u{0}", "🚀", "\u{D4E}\"", "", "   ",
            String(repeating: "invoice ", count: 500), String(repeating: "(", count: 10_000),
        ]
        for query in hostile {
            let page = try App.search(fixture.db, query: query)
            #expect(page.items.allSatisfy { $0.id == app.id }, "\(query)")
        }
        #expect(try App.search(fixture.db, query: "invoice\"").items.map(\.id) == [app.id])
        #expect(try App.search(fixture.db, query: "NEAR( invoice").items.map(\.id) == [app.id])
        #expect(try App.search(fixture.db, query: "NEAR(invoice").items.isEmpty)
        #expect(try App.search(fixture.db, query: "name:invoice").items.isEmpty)
        #expect(try App.search(fixture.db, query: "or near").items.map(\.id) == [app.id])
        #expect(try fixture.count("apps") == 1)
    }

    @Test func theMatchExpressionQuotesEveryChunkAndDropsOperators() {
        #expect(App.matchExpression(for: "Invoice maker") == #""Invoice" "maker""#)
        #expect(App.matchExpression(for: #"e-mail "quoted" a OR b*"#) == #""e mail" "quoted" "a" "OR" "b""#)
        #expect(App.matchExpression(for: "col:x NEAR(y)") == #""col x" "NEAR y""#)
        #expect(App.matchExpression(for: "Cre\u{300}me") == "\"Cre\u{300}me\"")
        #expect(App.matchExpression(for: "* - ( ) \" : ^") == nil)
        #expect(App.matchExpression(for: String(repeating: "w ", count: 40))?.split(separator: " ").count == 16)
    }

    @Test func theIndexFollowsUpdatesAndDeletesAndHidesUnpublishedApps() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(name: "Alpha", description: "first", tags: ["red"])
        _ = try App.update(fixture.db, id: app.id, name: "Omega", tags: ["blue"])
        #expect(try App.search(fixture.db, query: "alpha").items.isEmpty)
        #expect(try App.search(fixture.db, query: "red").items.isEmpty)
        #expect(try App.search(fixture.db, query: "omega blue first").items.map(\.id) == [app.id])
        try fixture.installForNewUser(app)
        #expect(try App.search(fixture.db, query: "omega").items.first?.stats.downloads == 1)
        _ = try App.unpublish(fixture.db, id: app.id)
        #expect(try App.search(fixture.db, query: "omega").items.isEmpty)
        _ = try App.publishNewVersion(fixture.db, id: app.id, version: "2")
        #expect(try App.search(fixture.db, query: "omega").items.map(\.id) == [app.id])
        try fixture.db.execute("INSERT INTO apps_fts (apps_fts) VALUES ('integrity-check')")
        try App.delete(fixture.db, id: app.id)
        #expect(try App.search(fixture.db, query: "omega").items.isEmpty)
        try fixture.db.execute("INSERT INTO apps_fts (apps_fts) VALUES ('integrity-check')")
    }

    @Test func searchPagesFollowTheRankOrderExactlyOnce() throws {
        let fixture = try MarketplaceFixture()
        for index in 0..<23 {
            let name = index % 4 == 0 ? "Garden Planner \(index)" : "Planner \(index)"
            let description = String(repeating: "garden ", count: index % 3) + "tool"
            _ = try fixture.publishApp(name: name, description: description, tags: index % 5 == 0 ? ["garden"] : [])
        }
        let whole = try App.search(fixture.db, query: "garden", limit: 100)
        #expect(whole.nextCursor == nil)
        let pages = try fixture.allPages { try App.search(fixture.db, query: "garden", cursor: $0, limit: 4) }
        #expect(pages.flatMap { $0 } == whole.items)
        #expect(pages.count == (whole.items.count + 3) / 4)
        #expect(whole.items.prefix(6).allSatisfy { $0.name.hasPrefix("Garden") })
    }
}
