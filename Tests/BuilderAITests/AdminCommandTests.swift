import Foundation
import Testing
import TestSupport

/// An operator's first steps on a new install, with `curl` only: the first admin from the CLI, then
/// the MCP fleet, readiness and metrics over REST against a real `builderai serve` and `mcp-server-time`.
@Suite(.timeLimit(.minutes(3))) struct AdminCommandTests {
    @Test func theFirstAdminManagesMCPServersOverRESTAndEveryChangeIsAudited() throws {
        let fixture = try ChatServerFixture()
        defer { fixture.stop() }
        let binary = Peers.executable("builderai")
        let admin = try Peers.run("/bin/sh", ["-c", "echo 'a long admin password' | '\(binary)' user create --email root@example.com --name Root --admin --password-stdin --data-dir '\(fixture.dataDir)'"])
        #expect(admin.status == 0, "\(admin.stderr)")
        let base = "http://127.0.0.1:\(fixture.port)"
        func curl(_ arguments: [String]) throws -> (status: Int, body: [String: Any]) {
            let result = try Peers.run("curl", ["-s", "-w", "\n%{http_code}"] + arguments, timeout: 30)
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let status = Int(lines.last ?? "") ?? 0
            let body = lines.dropLast().joined(separator: "\n")
            return (status, (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:])
        }
        let login = try curl(["-X", "POST", base + "/api/v1/auth/login", "-H", "Content-Type: application/json",
                              "-d", #"{"email":"root@example.com","password":"a long admin password"}"#])
        #expect(login.status == 200)
        let token = try #require(login.body["access_token"] as? String)
        let auth = ["-H", "Authorization: Bearer \(token)"]

        let servers = try curl(auth + [base + "/api/v1/admin/mcp-servers"])
        let clock = try #require((servers.body["items"] as? [[String: Any]])?.first { $0["name"] as? String == "clock" })
        #expect(clock["state"] as? String == "healthy")
        #expect((clock["tools"] as? [String])?.contains("get_current_time") == true)

        let added = try curl(auth + ["-X", "POST", base + "/api/v1/admin/mcp-servers", "-H", "Content-Type: application/json",
                                     "-d", #"{"name":"clock2","definition":{"command":"\#(Peers.python)","args":["-m","mcp_server_time"]}}"#])
        #expect(added.status == 201, "\(added.body)")
        let duplicate = try curl(auth + ["-X", "POST", base + "/api/v1/admin/mcp-servers", "-H", "Content-Type: application/json",
                                         "-d", #"{"name":"clock2","definition":{"command":"x"}}"#])
        #expect(duplicate.status == 409)
        let invalid = try curl(auth + ["-X", "POST", base + "/api/v1/admin/mcp-servers", "-H", "Content-Type: application/json",
                                       "-d", #"{"name":"bad","definition":{"args":"not-a-list"}}"#])
        #expect(invalid.status == 422 && invalid.body["field"] as? String == "definition")

        var healthy = false
        let deadline = Date().addingTimeInterval(30)
        while !healthy && Date() < deadline {
            let list = try curl(auth + [base + "/api/v1/admin/mcp-servers"])
            healthy = (list.body["items"] as? [[String: Any]])?.contains { $0["name"] as? String == "clock2" && $0["state"] as? String == "healthy" } ?? false
            if !healthy { usleep(200_000) }
        }
        #expect(healthy, "the server added over REST came up")
        #expect(try curl(auth + ["-X", "POST", base + "/api/v1/admin/mcp-servers/clock2/restart"]).status == 202)
        let changed = try curl(auth + ["-X", "PUT", base + "/api/v1/admin/mcp-servers/clock2", "-H", "Content-Type: application/json",
                                       "-d", #"{"definition":{"command":"\#(Peers.python)","args":["-m","mcp_server_time","--local-timezone","UTC"],"group":"clocks"}}"#])
        #expect(changed.status == 200, "\(changed.body)")
        #expect(changed.body["group"] as? String == "clocks", "the new definition is in force")
        #expect(try curl(auth + ["-X", "PUT", base + "/api/v1/admin/mcp-servers/nope", "-H", "Content-Type: application/json",
                                 "-d", #"{"definition":{"command":"x"}}"#]).status == 404)
        let history = try curl(auth + [base + "/api/v1/admin/mcp-servers/clock/health"])
        #expect(((history.body["items"] as? [[String: Any]])?.count ?? 0) > 0)
        #expect(try curl(auth + ["-X", "DELETE", base + "/api/v1/admin/mcp-servers/clock2"]).status == 204)
        #expect(try curl(auth + ["-X", "DELETE", base + "/api/v1/admin/mcp-servers/clock2"]).status == 404)

        let ready = try curl([base + "/readyz"])
        #expect(ready.status == 200, "\(ready.body)")
        let metrics = try Peers.run("curl", ["-s", base + "/metrics"])
        #expect(metrics.stdout.contains(#"builderai_mcp_server_up{server="clock",state="healthy"} 1"#))
        #expect(metrics.stdout.contains("builderai_db_write_queue_depth"))
        #expect(metrics.stdout.contains("builderai_db_slow_batches_total "))
        #expect(metrics.stdout.contains("builderai_db_longest_batch_seconds "))
        #expect(metrics.stdout.contains("builderai_db_writer_checkpoints_total "))
        #expect(metrics.stdout.contains("builderai_db_longest_writer_checkpoint_seconds "))
        let audit = try curl(auth + [base + "/api/v1/admin/audit-log"])
        let actions = (audit.body["items"] as? [[String: Any]])?.compactMap { $0["action"] as? String } ?? []
        #expect(actions.contains("admin.mcp_add") && actions.contains("admin.mcp_remove") && actions.contains("admin.mcp_restart")
                && actions.contains("admin.mcp_change"))
    }
}

/// A publisher's whole journey with `curl` only (Tests/Peers/publish_with_curl.sh) against a real serve.
@Suite(.timeLimit(.minutes(3))) struct PublishingScriptTests {
    @Test func aPublisherScriptWithOnlyCurlPublishesAndACustomerInstallsAndReviews() throws {
        let fixture = try ChatServerFixture()
        defer { fixture.stop() }
        let result = try Peers.run("/bin/bash", [Peers.script("publish_with_curl.sh"), "http://127.0.0.1:\(fixture.port)"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
    }
}
