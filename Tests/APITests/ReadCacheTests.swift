import Foundation
import Testing
@testable import API

/// The app detail is served from a per-loop cache; it must never show a number older than the last
/// write made through the API.
@Suite(.timeLimit(.minutes(2))) struct ReadCacheTests {
    @Test func theCachedAppDetailChangesWithTheVeryNextWrite() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let lin = try server.account("Lin")
        let project = try server.project(owner: ada)
        let published = try server.request("POST", "/api/v1/apps", token: ada.token, body: json([
            "project_id": project.id, "name": "Planner", "description": "plans", "category": "productivity",
            "tags": [], "price_cents": 0, "version": "1.0.0"]))
        #expect(published.status == 201, "\(published.body)")
        let id = try #require(published.object["id"] as? String)
        func downloads() throws -> Int? {
            (try server.request("GET", "/api/v1/apps/\(id)", token: lin.token).object["stats"] as? [String: Any])?["downloads"] as? Int
        }
        #expect(try downloads() == 0)
        #expect(try downloads() == 0, "served again (from the cache)")
        #expect(try server.request("POST", "/api/v1/apps/\(id)/install", token: lin.token).status == 201)
        #expect(try downloads() == 1, "the install is visible at once")
        #expect(try server.request("PATCH", "/api/v1/apps/\(id)", token: ada.token, body: json(["name": "Planner Pro"])).status == 200)
        #expect(try server.request("GET", "/api/v1/apps/\(id)").object["name"] as? String == "Planner Pro")
        #expect(try server.request("DELETE", "/api/v1/apps/\(id)", token: ada.token).status == 204)
        #expect(try server.request("GET", "/api/v1/apps/\(id)", token: lin.token).status == 404, "unpublished: gone at once")
    }
}
