import Foundation
import Net
import Store
import Testing
@testable import API

/// Validation, hostile input and concurrency for the marketplace routes.
@Suite(.timeLimit(.minutes(3))) struct MarketplaceHostileTests {
    @Test(arguments: [
        (["name": ""], 422, "name"),
        (["name": String(repeating: "n", count: 101)], 422, "name"),
        (["description": String(repeating: "d", count: 5001)], 422, "description"),
        (["category": "weapons"], 422, "category"),
        (["tags": Array(repeating: "t", count: 11)], 422, "tags"),
        (["tags": [String(repeating: "t", count: 31)]], 422, "tags"),
        (["price_cents": -1], 422, "price_cents"),
        (["price_cents": 10_000_001], 422, "price_cents"),
        (["price_cents": 1.5], 422, "price_cents"),
        (["price_cents": 100], 422, "currency"),
        (["price_cents": 100, "currency": "eur"], 422, "currency"),
        (["price_cents": 100, "currency": "EURO"], 422, "currency"),
        (["version": String(repeating: "1", count: 33)], 422, "version"),
        (["featured": true], 400, "featured"),
    ] as [([String: any Sendable], Int, String)])
    func publishingNamesTheWrongField(fields: [String: any Sendable], status: Int, field: String) throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let reply = try server.publish(ada, fields)
        #expect(reply.status == status && reply.object["field"] as? String == field, "\(reply.status) \(reply.body)")
    }

    @Test func everyMarketplaceRouteForUsersRefusesAnonymousCallers() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let appID = try server.publishedApp(ada)
        let userRoutes = MarketplaceRoutes.routes.filter { $0.access == .user }
        #expect(userRoutes.count == 9)
        for route in userRoutes {
            let path = route.pattern.replacingOccurrences(of: ":id", with: appID)
            let reply = try server.request(route.method.rawValue, path, body: route.method == .get || route.method == .delete ? nil : "{}")
            #expect(reply.status == 401 && reply.headers["www-authenticate"] != nil, "\(route.method.rawValue) \(path): \(reply.status)")
        }
        #expect(MarketplaceRoutes.routes.filter { $0.access == .anyone }.map(\.pattern).sorted()
                == ["/api/v1/apps", "/api/v1/apps/:id", "/api/v1/apps/:id/reviews"])
        #expect(try server.stats(appID) == AppStats(), "nothing changed")
    }

    @Test func browseRefusesUnknownSortsPricesAndParametersByName() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        for (query, field) in [("sort=popular", "sort"), ("price=cheap", "price"), ("category=weapons", "category"),
                               ("limit=0", "limit"), ("cursor=%%%", "cursor"), ("colour=red", "colour"), ("q=x&sort=rating", "sort")] {
            let reply = try server.request("GET", "/api/v1/apps?\(query)")
            #expect(reply.status == 400 && reply.object["field"] as? String == field, "\(query): \(reply.body)")
        }
    }

    @Test func sqlFragmentsAreStoredVerbatimAndSearchedSafely() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let hostile = ["'; DROP TABLE apps; --", "%' OR 1=1 --", "\" OR \"\"=\"", "NEAR(a b) * ^x:y"]
        var ids: [String] = []
        for name in hostile {
            let reply = try server.publish(ada, name: name, ["description": name, "tags": [name.prefix(30).description]])
            #expect(reply.status == 201 && reply.object["name"] as? String == name, "\(reply.body)")
            ids.append(try #require(reply.object["id"] as? String))
        }
        for (name, id) in zip(hostile, ids) {
            #expect(try server.request("GET", "/api/v1/apps/\(id)").object["name"] as? String == name)
            let search = try server.request("GET", "/api/v1/apps?q=\(urlEncoded(name))")
            #expect(search.status == 200, "\(name): \(search.body)")
            let tag = try server.request("GET", "/api/v1/apps?tag=\(urlEncoded(name.prefix(30).lowercased()))")
            #expect(tag.status == 200 && tag.items.contains { $0["id"] as? String == id }, "\(name): \(tag.body)")
        }
        #expect(try server.request("GET", "/api/v1/apps?q=\(urlEncoded("DROP TABLE apps"))").items.first?["id"] as? String == ids[0])
        #expect(try server.request("GET", "/api/v1/apps").items.count == hostile.count, "the table is still there")
        #expect(try server.request("GET", "/api/v1/apps/\(urlEncoded("' OR 1=1 --"))").status == 404)
    }

    @Test func oversizedInvalidOrDeeplyNestedBodiesAreRefusedAndTheServerStaysUp() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let project = try server.project(owner: ada)
        let huge = String(repeating: "x", count: 100 * 1024)
        let big = try server.request("POST", "/api/v1/apps", token: ada.token, bytes: Array(json([
            "project_id": project.id, "name": huge, "category": "other", "price_cents": 0, "version": "1"]).utf8))
        #expect(big.status == 422 && big.object["field"] as? String == "name", "\(big.status)")
        let bigQuery = try server.request("GET", "/api/v1/apps?q=\(String(repeating: "a", count: 8000))")
        #expect(bigQuery.status == 400 || bigQuery.status == 431 || bigQuery.status == 414, "\(bigQuery.status)")

        var invalid = Array(#"{"project_id":""#.utf8) + Array(project.id.utf8)
        invalid += Array(#"","name":"bad "#.utf8) + [0xC3, 0x28, 0xFF] + Array(#"","category":"other","price_cents":0,"version":"1"}"#.utf8)
        let notUTF8 = try server.request("POST", "/api/v1/apps", token: ada.token, bytes: invalid)
        #expect(notUTF8.status == 400 && (notUTF8.object["detail"] as? String ?? "").contains("UTF-8"), "\(notUTF8.body)")

        let nested = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let deep = try server.request("PUT", "/api/v1/apps/x/reviews/mine", token: ada.token,
                                      bytes: Array(#"{"rating":"#.utf8) + Array(nested.utf8) + Array("}".utf8))
        #expect(deep.status == 400, "\(deep.status) \(deep.body)")
        let deepRoot = try server.request("POST", "/api/v1/apps", token: ada.token, bytes: Array(nested.utf8))
        #expect(deepRoot.status == 400)

        #expect(try server.request("GET", "/api/v1/apps").status == 200, "the server still answers")
        #expect(try server.request("GET", "/api/v1/publisher/apps", token: ada.token).items.isEmpty, "nothing was stored")
    }

    @Test func parallelInstallsAndReviewsKeepTheCountersExact() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let appID = try server.publishedApp(ada, name: "Popular")
        let users = try (0..<20).map { try server.account("User\($0)") }
        let statuses = LockedList()
        // 40 installs (every user twice) and 20 reviews, all at once.
        DispatchQueue.concurrentPerform(iterations: 60) { index in
            let status: Int
            if index < 40 {
                status = (try? server.request("POST", "/api/v1/apps/\(appID)/install", token: users[index % 20].token).status) ?? -1
            } else {
                let user = users[index - 40]
                status = (try? server.request("PUT", "/api/v1/apps/\(appID)/reviews/mine", token: user.token,
                                              body: json(["rating": (index % 5) + 1, "text": index % 2 == 0 ? "text" : ""])).status) ?? -1
            }
            statuses.append(index, status)
        }
        let all = statuses.sorted
        let installs = all.prefix(40).map(\.1)
        #expect(installs.filter { $0 == 201 }.count == 20 && installs.filter { $0 == 200 }.count == 20, "\(installs)")
        #expect(all.suffix(20).allSatisfy { $0.1 == 201 }, "\(all.suffix(20))")
        let expectedSum = (40..<60).reduce(0) { $0 + ($1 % 5) + 1 }
        #expect(try server.stats(appID) == AppStats(downloads: 20, ratingSum: expectedSum, ratingCount: 20, reviewCount: 10))
        let projects = try server.store.readers.read(loop: 0) { db in
            try db.queryOne("SELECT count(*) FROM projects WHERE name = 'Popular' AND owner_id <> ?", [ada.user.id]) { $0.int(0) }
        }
        #expect(projects == 20, "one copy per user, however many times they asked")
        let detail = try server.request("GET", "/api/v1/apps/\(appID)")
        let stats = try #require(detail.object["stats"] as? [String: Any])
        #expect(stats["downloads"] as? Int == 20 && stats["installations"] as? Int == 20)
        #expect(stats["average_rating"] as? Double == Double(expectedSum * 100 / 20) / 100)
    }
}

/// Results gathered from concurrent requests.
final class LockedList: @unchecked Sendable {
    // Invariant: `items` is only touched with `lock` held.
    private let lock = NSLock()
    private var items: [(Int, Int)] = []

    func append(_ index: Int, _ status: Int) {
        lock.lock()
        items.append((index, status))
        lock.unlock()
    }

    var sorted: [(Int, Int)] {
        lock.lock()
        defer { lock.unlock() }
        return items.sorted { $0.0 < $1.0 }
    }
}
