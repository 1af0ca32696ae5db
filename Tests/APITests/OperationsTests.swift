import Foundation
import Store
import Testing
@testable import API

@Suite(.timeLimit(.minutes(2))) struct OperationsTests {
    /// Every documented operation answers (not 404/405), and every registered route is documented.
    @Test func theOpenAPIDocumentMatchesTheRoutesInBothDirections() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let reply = try server.request("GET", "/api/v1/openapi.json")
        #expect(reply.status == 200)
        #expect(reply.object["openapi"] as? String == "3.1.0")
        let paths = try #require(reply.object["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys {
                documented.insert("\(method.uppercased()) \(path)")
                let concrete = path.replacingOccurrences(of: #"\{[a-zA-Z]+\}"#, with: "x", options: .regularExpression)
                let live = try server.request(method.uppercased(), concrete)
                #expect(live.status != 404 || !live.body.contains("No resource at"),
                        "\(method) \(path) is documented but not served")
                #expect(live.status != 405, "\(method) \(path) is documented but the method is not served")
            }
        }
        let registered = Set(server.api.routes.map { "\($0.method.rawValue) \(OpenAPIDocument.openAPIPath($0.pattern).0)" })
        #expect(registered == documented)
        // And a path nobody registered is a plain 404 from the router, so the check above can fail.
        let missing = try server.request("GET", "/api/v1/no-such-route")
        #expect(missing.status == 404)
    }

    @Test func metricsCountRequestsByRouteAndStatusInPrometheusFormat() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        _ = try server.request("GET", "/api/v1/me")
        let metrics = try server.request("GET", "/metrics")
        #expect(metrics.status == 200 && metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(metrics.body.contains("# TYPE builderai_http_requests_total counter"))
        #expect(metrics.body.contains(#"builderai_http_requests_total{method="GET",route="/api/v1/me",status="401"}"#))
        #expect(metrics.body.contains(#"builderai_http_request_seconds_bucket{method="GET",route="/api/v1/me",le="+Inf"}"#))
        let ready = try server.request("GET", "/readyz")
        #expect(ready.status == 200 && ready.object["status"] as? String == "ready")
    }

    @Test func adminsListAndDisableAccountsAndEveryChangeIsAudited() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let admin = try server.account("Root", admin: true)
        let ada = try server.account("Ada")
        #expect(try server.request("GET", "/api/v1/admin/users").status == 401)
        #expect(try server.request("GET", "/api/v1/admin/users", token: ada.token).status == 403)
        let list = try server.request("GET", "/api/v1/admin/users?limit=1", token: admin.token)
        #expect(list.status == 200 && list.items.count == 1 && list.object["next_cursor"] as? String != nil)

        let disabled = try server.request("PATCH", "/api/v1/admin/users/\(ada.user.id)", token: admin.token, body: json(["disabled": true]))
        #expect(disabled.status == 200 && disabled.object["disabled"] as? Bool == true)
        let refused = try server.request("GET", "/api/v1/me", token: ada.token)
        #expect(refused.status == 403 && refused.body.contains("disabled"))
        let selfDemote = try server.request("PATCH", "/api/v1/admin/users/\(admin.user.id)", token: admin.token, body: json(["role": "user"]))
        #expect(selfDemote.status == 409)
        #expect(try server.request("PATCH", "/api/v1/admin/users/nobody", token: admin.token, body: json(["disabled": true])).status == 404)

        let audit = try server.request("GET", "/api/v1/admin/audit-log", token: admin.token)
        let entry = try #require(audit.items.first { $0["action"] as? String == "admin.user_update" })
        #expect(entry["target_id"] as? String == ada.user.id && entry["actor"] as? String == admin.user.id)
        #expect(try server.request("GET", "/api/v1/admin/mcp-servers", token: admin.token).status == 503,
                "without an MCP manager the fleet routes say so")
    }

    @Test func corsAnswersOnlyAllowedOriginsAndEveryResponseCarriesSecurityHeaders() throws {
        let server = try APITestServer { $0.corsOrigins = ["https://app.example.com"] }
        defer { server.shutdown() }
        let preflight = try server.request("OPTIONS", "/api/v1/me", headers: ["Origin: https://app.example.com",
                                                                               "Access-Control-Request-Method: GET"])
        #expect(preflight.headers["access-control-allow-origin"] == "https://app.example.com")
        #expect(preflight.headers["access-control-allow-headers"]?.contains("Authorization") == true)
        let other = try server.request("GET", "/api/v1/me", headers: ["Origin: https://evil.example.com"])
        #expect(other.headers["access-control-allow-origin"] == nil)
        #expect(other.headers["x-content-type-options"] == "nosniff" && other.headers["x-frame-options"] == "DENY")
    }
}
