import Foundation
import Store
import Testing
@testable import API

@Suite(.timeLimit(.minutes(3))) struct MarketplaceRoutesTests {
    @Test func publishBrowseSearchAndDetail() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let published = try server.publish(ada, name: "Zebra planner",
                                           ["category": "business", "tags": ["Plan", "plan", "crm"], "price_cents": 1999, "currency": "EUR"])
        #expect(published.status == 201, "\(published.body)")
        let zebra = try #require(published.object["id"] as? String)
        #expect(published.object["tags"] as? [String] == ["plan", "crm"])
        #expect(published.object["price_cents"] as? Int == 1999 && published.object["currency"] as? String == "EUR")
        let other = try server.publishedApp(ada, name: "Notebook", ["description": "Sketch a zebra or anything else"])
        let third = try server.publishedApp(ada, name: "Quiz", ["category": "games"])
        #expect(try server.auditCount("app.publish") == 3)

        let all = try server.request("GET", "/api/v1/apps")
        #expect(all.status == 200 && all.items.map { $0["id"] as? String } == [third, other, zebra], "newest first")
        #expect(try server.request("GET", "/api/v1/apps?category=games").items.map { $0["id"] as? String } == [third])
        #expect(try server.request("GET", "/api/v1/apps?price=paid").items.map { $0["id"] as? String } == [zebra])
        #expect(try server.request("GET", "/api/v1/apps?price=free&sort=downloads").items.count == 2)
        #expect(try server.request("GET", "/api/v1/apps?tag=CRM").items.map { $0["id"] as? String } == [zebra])

        let search = try server.request("GET", "/api/v1/apps?q=zebra")
        #expect(search.items.map { $0["id"] as? String } == [zebra, other], "a name match ranks above a description match")
        let first = try server.request("GET", "/api/v1/apps?q=zebra&limit=1")
        let cursor = try #require(first.object["next_cursor"] as? String)
        let second = try server.request("GET", "/api/v1/apps?q=zebra&limit=1&cursor=\(cursor)")
        #expect(first.items.map { $0["id"] as? String } == [zebra] && second.items.map { $0["id"] as? String } == [other])
        #expect(second.object["next_cursor"] is NSNull)
        #expect(try server.request("GET", "/api/v1/apps?q=zebra&category=productivity").items.map { $0["id"] as? String } == [other])
        #expect(try server.request("GET", "/api/v1/apps?q=zebra&price=paid&tag=crm").items.map { $0["id"] as? String } == [zebra])

        let paged = try server.request("GET", "/api/v1/apps?limit=2")
        let next = try #require(paged.object["next_cursor"] as? String)
        #expect(try server.request("GET", "/api/v1/apps?limit=2&cursor=\(next)").items.map { $0["id"] as? String } == [zebra])

        let detail = try server.request("GET", "/api/v1/apps/\(zebra)")
        #expect(detail.status == 200)
        let stats = try #require(detail.object["stats"] as? [String: Any])
        #expect(stats["downloads"] as? Int == 0 && stats["installations"] as? Int == 0 && stats["review_count"] as? Int == 0)
        #expect(stats["average_rating"] is NSNull)
        let publisher = try #require(detail.object["publisher"] as? [String: Any])
        #expect(publisher["id"] as? String == ada.user.id && publisher["name"] as? String == "Ada")
        #expect(try server.request("GET", "/api/v1/apps/nope").status == 404)

        // Unpublished: gone from listings and search, hidden from others, still shown to its publisher.
        #expect(try server.request("DELETE", "/api/v1/apps/\(zebra)", token: ada.token).status == 204)
        #expect(try server.request("GET", "/api/v1/apps").items.count == 2)
        #expect(try server.request("GET", "/api/v1/apps?q=zebra").items.map { $0["id"] as? String } == [other])
        #expect(try server.request("GET", "/api/v1/apps/\(zebra)").status == 404)
        #expect(try server.request("GET", "/api/v1/apps/\(zebra)", token: ada.token).object["status"] as? String == "unpublished")
        #expect(try server.request("GET", "/api/v1/publisher/apps", token: ada.token).items.count == 3)
    }

    @Test func installCopiesTheProjectIntoANewOneOfTheInstallerAndIsIdempotent() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let bob = try server.account("Bob")
        let source = try server.project(owner: ada, name: "Source")
        try server.store.writer.writeAndWait { db in
            _ = try ProjectFile.put(db, projectID: source.id, path: "prompts/main.md", content: Array("You help.".utf8))
            _ = try ProjectConfig.set(db, projectID: source.id, mcpServersJSON: #"["search"]"#, settingsJSON: #"{"temperature":0.2}"#)
            _ = try Project.update(db, id: source.id, systemPrompt: "helper", llm: "anthropic/claude")
        }
        let created = try server.request("POST", "/api/v1/apps", token: ada.token, body: json([
            "project_id": source.id, "name": "Helper", "category": "other", "price_cents": 0, "version": "1"]))
        let appID = try #require(created.object["id"] as? String)

        #expect(try server.request("POST", "/api/v1/apps/\(appID)/install").status == 401)
        let installed = try server.request("POST", "/api/v1/apps/\(appID)/install", token: bob.token)
        #expect(installed.status == 201, "\(installed.body)")
        let projectID = try #require(installed.object["project_id"] as? String)
        #expect(projectID != source.id)
        try server.store.readers.read(loop: 0) { db in
            let copy = try #require(try Project.find(db, id: projectID))
            #expect(copy.ownerID == bob.user.id && copy.name == "Helper")
            #expect(copy.systemPrompt == "helper" && copy.llm == "anthropic/claude")
            #expect(try ProjectFile.get(db, projectID: projectID, path: "prompts/main.md")?.content == Array("You help.".utf8))
            let config = try #require(try ProjectConfig.get(db, projectID: projectID))
            #expect(config.mcpServersJSON == #"["search"]"# && config.settingsJSON == #"{"temperature":0.2}"#)
        }
        let again = try server.request("POST", "/api/v1/apps/\(appID)/install", token: bob.token)
        #expect(again.status == 200 && again.object["id"] as? String == installed.object["id"] as? String)
        #expect(again.object["project_id"] as? String == projectID)
        #expect(try server.stats(appID)?.downloads == 1)
        #expect(try server.auditCount("app.install") == 1)
        let detail = try server.request("GET", "/api/v1/apps/\(appID)")
        #expect((detail.object["stats"] as? [String: Any])?["installations"] as? Int == 1)
        #expect(try server.request("POST", "/api/v1/apps/nope/install", token: bob.token).status == 404)
        // Unpublished: existing installers keep theirs, newcomers cannot install.
        #expect(try server.request("DELETE", "/api/v1/apps/\(appID)", token: ada.token).status == 204)
        #expect(try server.request("POST", "/api/v1/apps/\(appID)/install", token: bob.token).status == 200)
        let carol = try server.account("Carol")
        #expect(try server.request("POST", "/api/v1/apps/\(appID)/install", token: carol.token).status == 404)
    }

    @Test func reviewsAreWrittenEditedDeletedAndRefusedToThePublisher() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let bob = try server.account("Bob")
        let carol = try server.account("Carol")
        let appID = try server.publishedApp(ada)
        let path = "/api/v1/apps/\(appID)/reviews/mine"
        #expect(try server.request("PUT", path, body: json(["rating": 5])).status == 401)
        let written = try server.request("PUT", path, token: bob.token, body: json(["rating": 4, "text": "Good"]))
        #expect(written.status == 201, "\(written.body)")
        let edited = try server.request("PUT", path, token: bob.token, body: json(["rating": 5, "text": "Great"]))
        #expect(edited.status == 200 && edited.object["id"] as? String == written.object["id"] as? String)
        #expect(try server.request("PUT", path, token: carol.token, body: json(["rating": 2])).status == 201)
        let refused = try server.request("PUT", path, token: ada.token, body: json(["rating": 5, "text": "Mine is best"]))
        #expect(refused.status == 403 && (refused.object["detail"] as? String ?? "").contains("you publish this app"))
        let bad = try server.request("PUT", path, token: bob.token, body: json(["rating": 6]))
        #expect(bad.status == 422 && bad.object["field"] as? String == "rating")

        let list = try server.request("GET", "/api/v1/apps/\(appID)/reviews?limit=1")
        #expect(list.items.count == 1 && list.items.first?["rating"] as? Int == 2)
        let cursor = try #require(list.object["next_cursor"] as? String)
        let rest = try server.request("GET", "/api/v1/apps/\(appID)/reviews?limit=1&cursor=\(cursor)")
        #expect(rest.items.first?["text"] as? String == "Great")
        #expect((rest.items.first?["author"] as? [String: Any])?["name"] as? String == "Bob")
        let stats = try #require(server.request("GET", "/api/v1/apps/\(appID)").object["stats"] as? [String: Any])
        #expect(stats["average_rating"] as? Double == 3.5 && stats["review_count"] as? Int == 1 && stats["rating_count"] as? Int == 2)

        #expect(try server.request("DELETE", path, token: bob.token).status == 204)
        #expect(try server.request("DELETE", path, token: bob.token).status == 404)
        #expect(try server.request("DELETE", path).status == 401)
        #expect(try server.stats(appID) == AppStats(downloads: 0, ratingSum: 2, ratingCount: 1, reviewCount: 0))
        #expect(try server.auditCount("review.put") == 3 && server.auditCount("review.delete") == 1)
        #expect(try server.request("GET", "/api/v1/apps/nope/reviews").status == 404)
    }

    @Test func editAndNewVersionsArePublisherOnlyAndAudited() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let eve = try server.account("Eve")
        let appID = try server.publishedApp(ada)
        let edited = try server.request("PATCH", "/api/v1/apps/\(appID)", token: ada.token,
                                        body: json(["name": "Renamed", "price_cents": 500, "currency": "GBP"]))
        #expect(edited.status == 200 && edited.object["name"] as? String == "Renamed" && edited.object["currency"] as? String == "GBP")
        #expect(edited.object["description"] as? String == "An app", "absent fields keep their value")
        let noCurrency = try server.publishedApp(ada, name: "Free one")
        let needsCurrency = try server.request("PATCH", "/api/v1/apps/\(noCurrency)", token: ada.token, body: json(["price_cents": 100]))
        #expect(needsCurrency.status == 422 && needsCurrency.object["field"] as? String == "currency")
        let version = try server.request("PATCH", "/api/v1/apps/\(appID)", token: ada.token, body: json(["version": "2"]))
        #expect(version.status == 422 && version.object["field"] as? String == "version")
        #expect(try server.request("PATCH", "/api/v1/apps/\(appID)", token: eve.token, body: json(["name": "Mine"])).status == 403)
        #expect(try server.request("PATCH", "/api/v1/apps/\(appID)", body: json(["name": "Mine"])).status == 401)

        let before = try #require(try server.request("GET", "/api/v1/apps/\(appID)").object["published_at"] as? Int)
        Thread.sleep(forTimeInterval: 0.01)
        let released = try server.request("POST", "/api/v1/apps/\(appID)/versions", token: ada.token,
                                          body: json(["version": "2.0", "changelog": "Faster"]))
        #expect(released.status == 201 && released.object["version"] as? String == "2.0" && released.object["changelog"] as? String == "Faster")
        #expect((released.object["published_at"] as? Int ?? 0) > before)
        #expect(try server.request("POST", "/api/v1/apps/\(appID)/versions", token: eve.token, body: json(["version": "3"])).status == 403)
        #expect(try server.request("POST", "/api/v1/apps/\(appID)/versions", body: json(["version": "3"])).status == 401)
        #expect(try server.auditCount("app.update") == 1 && server.auditCount("app.version") == 1)
    }

    @Test func publishingNeedsTheProjectsOwnerAndOneAppPerProject() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let ed = try server.account("Ed")
        let eve = try server.account("Eve")
        let project = try server.project(owner: ada, members: [(ed, .editor)])
        let body = json(["project_id": project.id, "name": "X", "category": "other", "price_cents": 0, "version": "1"])
        #expect(try server.request("POST", "/api/v1/apps", body: body).status == 401)
        #expect(try server.request("POST", "/api/v1/apps", token: ed.token, body: body).status == 403)
        #expect(try server.request("POST", "/api/v1/apps", token: eve.token, body: body).status == 404)
        #expect(try server.request("POST", "/api/v1/apps", token: ada.token, body: body).status == 201)
        let twice = try server.request("POST", "/api/v1/apps", token: ada.token, body: body)
        #expect(twice.status == 409 && twice.object["field"] as? String == "project_id")
    }

    @Test func unpublishingIsForThePublisherOrAnAdministrator() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let eve = try server.account("Eve")
        let admin = try server.account("Root", admin: true)
        let appID = try server.publishedApp(ada)
        #expect(try server.request("DELETE", "/api/v1/apps/\(appID)").status == 401)
        #expect(try server.request("DELETE", "/api/v1/apps/\(appID)", token: eve.token).status == 403)
        #expect(try server.request("DELETE", "/api/v1/apps/\(appID)", token: admin.token).status == 204)
        #expect(try server.request("GET", "/api/v1/apps").items.isEmpty)
        #expect(try server.request("DELETE", "/api/v1/apps/\(appID)", token: eve.token).status == 404, "hidden apps stay unknown")
        let audited = try server.store.readers.read(loop: 0) {
            try AuditEntry.forTarget($0, targetType: "app", targetID: appID).items.first { $0.action == "app.unpublish" }
        }
        #expect(audited?.actorID == admin.user.id)
    }

    @Test func publisherStatsCountInstallationsPerDayAndRevenuePerCurrency() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let paid = try server.publishedApp(ada, name: "Paid", ["price_cents": 250, "currency": "EUR"])
        let free = try server.publishedApp(ada, name: "Free")
        for name in ["B", "C"] {
            let user = try server.account(name)
            #expect(try server.request("POST", "/api/v1/apps/\(paid)/install", token: user.token).status == 201)
        }
        let dana = try server.account("Dana")
        #expect(try server.request("POST", "/api/v1/apps/\(free)/install", token: dana.token).status == 201)
        #expect(try server.request("GET", "/api/v1/publisher/stats").status == 401)
        let today = PublisherRoutes.date(StoreClock.nowMilliseconds() / Installation.dayMilliseconds)
        let stats = try server.request("GET", "/api/v1/publisher/stats?from=\(today)&to=\(today)", token: ada.token)
        #expect(stats.status == 200, "\(stats.body)")
        let byID = Dictionary(uniqueKeysWithValues: stats.items.map { ($0["app_id"] as? String ?? "", $0) })
        #expect(byID[paid]?["downloads"] as? Int == 2 && byID[free]?["downloads"] as? Int == 1)
        #expect(byID[paid]?["live_installations"] as? Int == 2 && byID[free]?["live_installations"] as? Int == 1)
        let days = byID[paid]?["per_day"] as? [[String: Any]]
        #expect(days?.count == 1 && days?.first?["date"] as? String == today && days?.first?["installations"] as? Int == 2)
        let revenue = byID[paid]?["revenue"] as? [[String: Any]]
        #expect(revenue?.first?["currency"] as? String == "EUR" && revenue?.first?["total_cents"] as? Int == 500)
        let totals = stats.object["revenue_totals"] as? [[String: Any]]
        #expect(totals?.contains { $0["currency"] as? String == "EUR" && $0["total_cents"] as? Int == 500 } == true)
        let earlier = try server.request("GET", "/api/v1/publisher/stats?from=2020-01-01&to=2020-01-31", token: ada.token)
        #expect(earlier.items.allSatisfy { $0["downloads"] as? Int == 0 })
        let eve = try server.account("Eve")
        #expect(try server.request("GET", "/api/v1/publisher/stats", token: eve.token).items.isEmpty, "only your own apps")
        for (query, field) in [("from=2026-02-30", "from"), ("from=2026-03-02&to=2026-03-01", "from"), ("from=2020-01-01&to=2026-01-01", "to")] {
            let reply = try server.request("GET", "/api/v1/publisher/stats?\(query)", token: ada.token)
            #expect(reply.status == 400 && reply.object["field"] as? String == field, "\(query): \(reply.body)")
        }
    }

    @Test func datesRoundTrip() {
        #expect(PublisherRoutes.date(0) == "1970-01-01")
        #expect(PublisherRoutes.parseDate("2024-02-29") == 19_782 && PublisherRoutes.date(19_782) == "2024-02-29")
        #expect(PublisherRoutes.parseDate("2023-02-29") == nil && PublisherRoutes.parseDate("2024-1-01") == nil)
    }
}
