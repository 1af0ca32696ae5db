import Testing
@testable import Store

@Suite struct MarketplaceRecordsTests {
    // MARK: Apps

    @Test func publishCreatesAnAppWithZeroStatsThatFindReturnsExactly() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(name: "Invoice Maker", description: "Bills in a minute", category: "finance",
                                         tags: [" Billing ", "PDF", "billing", ""], priceMinor: 499, currency: "EUR",
                                         version: "1.2.0", at: 5_000)
        #expect(app.tags == ["billing", "pdf"])
        #expect(app.stats == AppStats())
        #expect(app.status == .published && app.createdAt == 5_000 && app.publishedAt == 5_000)
        #expect(try App.find(fixture.db, id: app.id) == app)
        #expect(try App.find(fixture.db, projectID: app.projectID) == app)
        #expect(try App.list(fixture.db, publisherID: app.publisherID) == [app])
        #expect(try App.find(fixture.db, id: "missing") == nil)
    }

    @Test func tagsRoundTripWithQuotesBackslashesControlCharactersAndUnicode() throws {
        let fixture = try MarketplaceFixture()
        let tags = [#"say "hi""#, #"back\slash"#, "tab\there", "ünïcödé", "emoji 🚀", "line\u{1}feed"]
        let app = try fixture.publishApp(tags: tags)
        #expect(app.tags == tags)
        #expect(try App.find(fixture.db, id: app.id)?.tags == tags)
        let stored = try fixture.db.queryOne("SELECT json_array_length(tags) FROM apps WHERE id = ?", [app.id]) {
            $0.int(0)
        }
        #expect(stored == tags.count)
    }

    @Test func tagDecoderReadsAnyJSONStringArrayAndRejectsOthers() throws {
        #expect(try AppTagsJSON.decode(#" [ "a" , "\u00e9\ud83d\ude80" ,"\n\/" ] "#) == ["a", "é🚀", "\n/"])
        #expect(try AppTagsJSON.decode("[]") == [])
        for bad in ["", "[", #"["a""#, "[1]", #"["a",]"#, #"["\x"]"#, #"["\ud800"]"#, #"["a"] x"#] {
            #expect(throws: StoreError.self, "\(bad)") { try AppTagsJSON.decode(bad) }
        }
    }

    @Test func aSecondAppForTheSameProjectIsAUniqueViolation() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        let error = #expect(throws: StoreError.self) {
            try App.publish(fixture.db, projectID: app.projectID, publisherID: app.publisherID, name: "Again",
                            description: "", category: "tools", tags: [], priceMinor: 0, currency: "USD", version: "1")
        }
        #expect(error?.kind == .uniqueViolation)
    }

    @Test func negativePricesAndMalformedCurrenciesAreRejected() throws {
        let fixture = try MarketplaceFixture()
        let negative = #expect(throws: StoreError.self) { try fixture.publishApp(priceMinor: -1) }
        #expect(negative?.kind == .constraintViolation)
        for currency in ["usd", "US", "USDX", "U1D", "", "ÜSD"] {
            let error = #expect(throws: StoreError.self, "\(currency)") { try fixture.publishApp(currency: currency) }
            #expect(error?.kind == .constraintViolation)
        }
        let app = try fixture.publishApp(currency: "JPY")
        let badUpdate = #expect(throws: StoreError.self) { try App.update(fixture.db, id: app.id, priceMinor: -5) }
        #expect(badUpdate?.kind == .constraintViolation)
        #expect(try fixture.count("apps") == 1)
    }

    @Test func updateChangesOnlyTheGivenFields() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(name: "Old", description: "desc", tags: ["a"], priceMinor: 100)
        let updated = try #require(try App.update(fixture.db, id: app.id, name: "New", tags: ["B", "c"], at: 9_000))
        var expected = app
        expected.name = "New"
        expected.tags = ["b", "c"]
        expected.updatedAt = 9_000
        #expect(updated == expected)
        let repriced = try #require(try App.update(fixture.db, id: app.id, priceMinor: 0, currency: "GBP", at: 9_500))
        #expect(repriced.priceMinor == 0 && repriced.currency == "GBP" && repriced.name == "New")
        #expect(try App.update(fixture.db, id: "missing", name: "x") == nil)
    }

    @Test func newVersionsAndUnpublishingMoveTheAppAsDesigned() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(version: "1.0", at: 1_000)
        let hidden = try #require(try App.unpublish(fixture.db, id: app.id, at: 2_000))
        #expect(hidden.status == .unpublished && hidden.publishedAt == 1_000 && hidden.updatedAt == 2_000)
        #expect(try App.browse(fixture.db).items.isEmpty)
        let republished = try #require(try App.publishNewVersion(fixture.db, id: app.id, version: "2.0", at: 3_000))
        #expect(republished.status == .published && republished.version == "2.0")
        #expect(republished.publishedAt == 3_000 && republished.createdAt == 1_000)
        #expect(try App.browse(fixture.db).items == [republished])
        #expect(try App.publishNewVersion(fixture.db, id: "missing", version: "1") == nil)
        #expect(try App.unpublish(fixture.db, id: "missing") == nil)
    }

    // MARK: Deletion

    @Test func deletingAnAppRemovesItsStatsReviewsInstallationsAndIndexButNotInstallersProjects() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(name: "Doomed")
        let other = try fixture.publishApp(name: "Survivor")
        let installer = try fixture.installForNewUser(app)
        try fixture.installForNewUser(other)
        _ = try Review.upsert(fixture.db, appID: app.id, userID: installer, rating: 4, body: "ok")
        #expect(try App.delete(fixture.db, id: app.id))
        #expect(try App.delete(fixture.db, id: app.id) == false)
        for table in ["app_stats", "installations", "reviews"] {
            #expect(try fixture.count(table, where: "app_id = ?", [app.id]) == 0, "\(table)")
        }
        #expect(try fixture.count("projects", where: "owner_id = ?", [installer]) == 1)
        #expect(try App.search(fixture.db, query: "doomed").items.isEmpty)
        #expect(try App.find(fixture.db, id: other.id)?.stats.downloads == 1)
        try fixture.db.execute("INSERT INTO apps_fts (apps_fts) VALUES ('integrity-check')")
    }

    @Test func deletingTheProjectOrThePublisherDeletesTheApp() throws {
        let fixture = try MarketplaceFixture()
        let byProject = try fixture.publishApp()
        try fixture.db.run("DELETE FROM projects WHERE id = ?", [byProject.projectID])
        #expect(try App.find(fixture.db, id: byProject.id) == nil)
        let byPublisher = try fixture.publishApp()
        try fixture.db.run("DELETE FROM users WHERE id = ?", [byPublisher.publisherID])
        #expect(try App.find(fixture.db, id: byPublisher.id) == nil)
        #expect(try fixture.count("app_stats") == 0)
    }

    @Test func deletingAnInstallerKeepsTheDownloadAndRevenueButDeletingAReviewerDropsTheRating() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp(priceMinor: 300)
        let installer = try fixture.installForNewUser(app)
        let reviewer = try fixture.makeUser("reviewer")
        _ = try Review.upsert(fixture.db, appID: app.id, userID: reviewer, rating: 2, body: "meh")
        _ = try Review.upsert(fixture.db, appID: app.id, userID: installer, rating: 5)
        try fixture.db.run("DELETE FROM users WHERE id = ?", [installer])
        try fixture.db.run("DELETE FROM users WHERE id = ?", [reviewer])
        let stats = try #require(try App.find(fixture.db, id: app.id)).stats
        #expect(stats == AppStats(downloads: 1))
        #expect(try fixture.count("installations", where: "user_id IS NULL AND project_id IS NULL") == 1)
        #expect(try Installation.revenue(fixture.db, publisherID: app.publisherID)
                == [AppRevenue(appID: app.id, currency: "USD", totalMinor: 300, installations: 1)])
    }

    // MARK: Reviews

    @Test func aSecondPlainInsertIsAUniqueViolationWhileUpsertEditsInPlace() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        let user = try fixture.makeUser()
        let first = try Review.insert(fixture.db, appID: app.id, userID: user, rating: 3, body: "fine", at: 10)
        #expect(try Review.find(fixture.db, appID: app.id, userID: user) == first)
        let duplicate = #expect(throws: StoreError.self) {
            try Review.insert(fixture.db, appID: app.id, userID: user, rating: 5, body: "great")
        }
        #expect(duplicate?.kind == .uniqueViolation)
        let edited = try Review.upsert(fixture.db, appID: app.id, userID: user, rating: 5, body: "great", at: 20)
        #expect(edited == Review(id: first.id, appID: app.id, userID: user, rating: 5, body: "great", createdAt: 10,
                                 updatedAt: 20))
        #expect(try App.find(fixture.db, id: app.id)?.stats == AppStats(ratingSum: 5, ratingCount: 1, reviewCount: 1))
        // Any writer is counted, not only this API: a bare rating is not a written review.
        try fixture.db.run("UPDATE reviews SET body = '' WHERE id = ?", [first.id])
        #expect(try App.find(fixture.db, id: app.id)?.stats == AppStats(ratingSum: 5, ratingCount: 1))
        #expect(try Review.delete(fixture.db, appID: app.id, userID: user))
        #expect(try Review.delete(fixture.db, appID: app.id, userID: user) == false)
        #expect(try App.find(fixture.db, id: app.id)?.stats == AppStats())
    }

    @Test func ratingsOutsideOneToFiveAreRejectedByInsertAndUpsert() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        let user = try fixture.makeUser()
        for rating in [0, 6, -1] {
            let inserted = #expect(throws: StoreError.self) {
                try Review.insert(fixture.db, appID: app.id, userID: user, rating: rating)
            }
            #expect(inserted?.kind == .constraintViolation)
            let upserted = #expect(throws: StoreError.self) {
                try Review.upsert(fixture.db, appID: app.id, userID: user, rating: rating)
            }
            #expect(upserted?.kind == .constraintViolation)
        }
        _ = try Review.upsert(fixture.db, appID: app.id, userID: user, rating: 1)
        let editedOutOfRange = #expect(throws: StoreError.self) {
            try Review.upsert(fixture.db, appID: app.id, userID: user, rating: 6)
        }
        #expect(editedOutOfRange?.kind == .constraintViolation)
        #expect(try App.find(fixture.db, id: app.id)?.stats == AppStats(ratingSum: 1, ratingCount: 1))
    }

    @Test func aPublisherCannotReviewTheirOwnAppByAnyPath() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        for write in [Review.insert, Review.upsert] {
            let error = #expect(throws: StoreError.self) {
                try write(fixture.db, app.id, app.publisherID, 5, "best app ever", 1)
            }
            #expect(error?.kind == .constraintViolation)
            #expect(error?.message == Review.publisherReviewMessage)
            #expect(error.map(Review.isPublisherReviewError) == true)
        }
        let other = try fixture.makeUser()
        _ = try Review.insert(fixture.db, appID: app.id, userID: other, rating: 4)
        let moved = #expect(throws: StoreError.self) {
            try fixture.db.run("UPDATE reviews SET user_id = ? WHERE user_id = ?", [app.publisherID, other])
        }
        #expect(moved.map(Review.isPublisherReviewError) == true)
        #expect(Review.isPublisherReviewError(StoreError(kind: .constraintViolation, message: "other")) == false)
        #expect(try App.find(fixture.db, id: app.id)?.stats == AppStats(ratingSum: 4, ratingCount: 1))
    }

    @Test func reviewsOfAMissingAppAreAForeignKeyViolation() throws {
        let fixture = try MarketplaceFixture()
        let user = try fixture.makeUser()
        let error = #expect(throws: StoreError.self) {
            try Review.upsert(fixture.db, appID: "missing", userID: user, rating: 3)
        }
        #expect(error?.kind == .foreignKeyViolation)
    }

    @Test func reviewsListNewestFirstInPagesAndEditsKeepTheirPlace() throws {
        let fixture = try MarketplaceFixture()
        let app = try fixture.publishApp()
        var reviews: [Review] = []
        for index in 0..<7 {
            let user = try fixture.makeUser()
            reviews.append(try Review.upsert(fixture.db, appID: app.id, userID: user, rating: 1 + index % 5,
                                             body: "r\(index)", at: Int64(100 + index / 2)))
        }
        let expectedOrder = reviews.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        reviews[0] = try Review.upsert(fixture.db, appID: app.id, userID: reviews[0].userID, rating: 5, body: "edited",
                                       at: 999)
        let pages = try fixture.allPages { try Review.list(fixture.db, appID: app.id, cursor: $0, limit: 3) }
        #expect(pages.map(\.count) == [3, 3, 1])
        #expect(pages.flatMap { $0 }.map(\.id) == expectedOrder.map(\.id))
        #expect(pages.flatMap { $0 }.first { $0.id == reviews[0].id }?.body == "edited")
    }
}
