import Testing
import TestSupport
@testable import Store

@Suite struct MarketplaceInstallationTests {
    private let day = Installation.dayMilliseconds

    @Test func aRepeatedInstallReturnsTheFirstInstallationAndCountsOnce() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(priceMinor: 250, currency: "EUR")
        let user = try fixture.makeUser()
        let project = try fixture.makeProject(owner: user)
        let first = try Installation.install(fixture.db, appID: app.id, userID: user, projectID: project,
                                             pricePaidMinor: 250, currency: "EUR", at: 10)
        #expect(first.appID == app.id && first.userID == user && first.projectID == project)
        #expect(first.installedAt == 10 && first.priceMinor == 250 && first.currency == "EUR")
        #expect(try Installation.find(fixture.db, appID: app.id, userID: user) == first)
        let other = try fixture.makeProject(owner: user)
        for attempt in 0..<3 {
            let again = try Installation.install(fixture.db, appID: app.id, userID: user, projectID: other,
                                                 pricePaidMinor: 999, currency: "USD", at: 20 + Int64(attempt))
            #expect(again == first)
        }
        #expect(try App.find(fixture.db, id: app.id)?.stats.downloads == 1)
        #expect(try fixture.count("installations") == 1)
    }

    @Test func aReinstallAfterDeletingTheCopyReattachesTheNewCopyWithoutCounting() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        let user = try fixture.installForNewUser(app)
        let first = try #require(try Installation.find(fixture.db, appID: app.id, userID: user))
        try fixture.db.run("DELETE FROM projects WHERE id = ?", [first.projectID])
        #expect(try Installation.find(fixture.db, appID: app.id, userID: user)?.projectID == nil)
        let copy = try fixture.makeProject(owner: user)
        let again = try Installation.install(fixture.db, appID: app.id, userID: user, projectID: copy,
                                             pricePaidMinor: 0, currency: "USD", at: 50_000)
        var expected = first
        expected.projectID = copy
        #expect(again == expected)
        #expect(try App.find(fixture.db, id: app.id)?.stats.downloads == 1)
    }

    @Test func anUnpublishedAppRefusesNewInstallersButNotRepeats() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        let existing = try fixture.installForNewUser(app)
        _ = try App.unpublish(fixture.db, id: app.id)
        let newcomer = try fixture.makeUser()
        let refused = #expect(throws: StoreError.self) {
            try Installation.install(fixture.db, appID: app.id, userID: newcomer, projectID: nil, pricePaidMinor: 0,
                                     currency: "USD")
        }
        #expect(refused?.kind == .constraintViolation && refused?.message == Installation.unpublishedMessage)
        let repeated = try Installation.install(fixture.db, appID: app.id, userID: existing, projectID: nil,
                                                pricePaidMinor: 0, currency: "USD")
        #expect(repeated.userID == existing)
        #expect(try App.find(fixture.db, id: app.id)?.stats.downloads == 1)
    }

    @Test func installationsCheckTheirAppPriceAndCurrency() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        let user = try fixture.makeUser()
        let cases: [(String, Int64, String, StoreError.Kind)] = [
            ("missing", 0, "USD", .foreignKeyViolation), (app.id, -1, "USD", .constraintViolation),
            (app.id, 0, "usd", .constraintViolation),
        ]
        for (appID, price, currency, kind) in cases {
            let error = #expect(throws: StoreError.self) {
                try Installation.install(fixture.db, appID: appID, userID: user, projectID: nil, pricePaidMinor: price,
                                         currency: currency)
            }
            #expect(error?.kind == kind)
        }
        #expect(try App.find(fixture.db, id: app.id)?.stats.downloads == 0)
    }

    @Test func aUsersInstallationsListNewestFirstInPages() throws {
        let fixture = try MarketplaceFixture()
        let user = try fixture.makeUser()
        var installed: [Installation] = []
        for index in 0..<5 {
            let app = try fixture.publishApp(name: "App \(index)")
            installed.append(try Installation.install(fixture.db, appID: app.id, userID: user, projectID: nil,
                                                      pricePaidMinor: 0, currency: "USD", at: Int64(index / 2)))
        }
        try fixture.installForNewUser(try fixture.publishApp())
        let pages = try fixture.allPages { try Installation.list(fixture.db, userID: user, cursor: $0, limit: 2) }
        #expect(pages.map(\.count) == [2, 2, 1])
        #expect(pages.flatMap { $0 } == installed.sorted { ($0.installedAt, $0.id) > ($1.installedAt, $1.id) })
    }

    @Test func installsPerDayBucketsByUTCDayWithinTheHalfOpenRange() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        let other = try fixture.publishApp(publisher: app.publisherID)
        let base = 20_000 * day
        for at in [base, base + day - 1, base + day, base + 3 * day + 5, base + 4 * day] {
            try fixture.installForNewUser(app, at: at)
        }
        try fixture.installForNewUser(other, at: base + day)
        let perDay = try Installation.installsPerDay(fixture.db, appID: app.id, from: base, to: base + 4 * day)
        #expect(perDay == [DailyInstalls(appID: app.id, day: base, installations: 2),
                           DailyInstalls(appID: app.id, day: base + day, installations: 1),
                           DailyInstalls(appID: app.id, day: base + 3 * day, installations: 1)])
        let publisher = try Installation.installsPerDay(fixture.db, publisherID: app.publisherID, from: base + day,
                                                        to: base + 2 * day)
        let expected = [DailyInstalls(appID: app.id, day: base + day, installations: 1),
                        DailyInstalls(appID: other.id, day: base + day, installations: 1)]
        #expect(publisher == expected.sorted { $0.appID < $1.appID })
    }

    @Test func revenueSumsWhatWasPaidPerAppAndCurrency() throws {
        let fixture = try MarketplaceFixture()
        let paid = try fixture.publishApp(priceMinor: 500, currency: "USD")
        let free = try fixture.publishApp(publisher: paid.publisherID)
        let stranger = try fixture.publishApp(priceMinor: 100)
        for at in Int64(1)...3 { try fixture.installForNewUser(paid, at: at) }
        let repriced = try #require(try App.update(fixture.db, id: paid.id, priceMinor: 450, currency: "EUR"))
        for at in Int64(4)...5 { try fixture.installForNewUser(repriced, at: at) }
        try fixture.installForNewUser(free)
        try fixture.installForNewUser(stranger)
        let revenue = try Installation.revenue(fixture.db, publisherID: paid.publisherID)
        let expected = [AppRevenue(appID: paid.id, currency: "EUR", totalMinor: 900, installations: 2),
                        AppRevenue(appID: paid.id, currency: "USD", totalMinor: 1_500, installations: 3),
                        AppRevenue(appID: free.id, currency: "USD", totalMinor: 0, installations: 1)]
        #expect(revenue == expected.sorted { ($0.appID, $0.currency) < ($1.appID, $1.currency) })
        #expect(try Installation.revenue(fixture.db, publisherID: paid.publisherID, from: 2, to: 5)
                == [AppRevenue(appID: paid.id, currency: "EUR", totalMinor: 450, installations: 1),
                    AppRevenue(appID: paid.id, currency: "USD", totalMinor: 1_000, installations: 2)])
    }

    // MARK: Exact counters

    @Test func statsStayExactThroughManyInstallsReviewsEditsAndDeletes() throws {
        let fixture = try MarketplaceFixture()
        let db = fixture.db
        var generator = SplitMix64(state: 0x5EED_CAFE)
        var apps: [App] = []
        for index in 0..<4 { apps.append(try fixture.publishApp(name: "App \(index)")) }
        var users: [String] = []
        for _ in 0..<25 { users.append(try fixture.makeUser()) }
        var installs: Set<[String]> = []
        var ratings: [[String]: (rating: Int, written: Bool)] = [:]
        for step in 0..<1_500 {
            let app = apps[Int.random(in: 0..<apps.count, using: &generator)]
            let user = users[Int.random(in: 0..<users.count, using: &generator)]
            let key = [app.id, user]
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<3:
                try Installation.install(db, appID: app.id, userID: user, projectID: nil, pricePaidMinor: 0,
                                         currency: "USD", at: Int64(step))
                installs.insert(key)
            case 3..<6:
                let rating = Int.random(in: 1...5, using: &generator)
                let body = Bool.random(using: &generator) ? "" : "review \(step)"
                _ = try Review.upsert(db, appID: app.id, userID: user, rating: rating, body: body, at: Int64(step))
                ratings[key] = (rating, !body.isEmpty)
            case 6:
                do {
                    _ = try Review.insert(db, appID: app.id, userID: user, rating: 3, body: "x")
                    ratings[key] = (3, true)
                } catch let error as StoreError {
                    #expect(error.kind == .uniqueViolation && ratings[key] != nil)
                }
            case 7:
                #expect(try Review.delete(db, appID: app.id, userID: user) == (ratings.removeValue(forKey: key) != nil))
            case 8:
                // A failing write inside a transaction takes its counter changes with it.
                _ = try? db.transaction {
                    try Installation.install(db, appID: app.id, userID: user, projectID: nil, pricePaidMinor: 0,
                                             currency: "USD")
                    _ = try Review.upsert(db, appID: app.id, userID: user, rating: 0)
                }
            default:
                _ = try App.update(db, id: app.id, description: "edited at \(step)", at: Int64(step))
            }
            if step % 100 == 99 {
                for app in apps {
                    let stats = try #require(try App.find(db, id: app.id)).stats
                    let mine = ratings.filter { $0.key[0] == app.id }.values
                    let modelled = AppStats(downloads: installs.filter { $0[0] == app.id }.count,
                                            ratingSum: mine.reduce(0) { $0 + $1.rating }, ratingCount: mine.count,
                                            reviewCount: mine.filter(\.written).count)
                    #expect(stats == modelled, "step \(step)")
                    #expect(stats == (try fixture.recountedStats(appID: app.id)), "step \(step)")
                }
            }
        }
    }
}
