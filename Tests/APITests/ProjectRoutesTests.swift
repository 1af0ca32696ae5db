import Foundation
import Store
import Testing
@testable import API

@Suite(.timeLimit(.minutes(2))) struct ProjectRoutesTests {
    @Test func createReadUpdateDeleteAndEachChangeIsAudited() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let created = try server.request("POST", "/api/v1/projects", token: cast.owner.token, body: json([
            "name": "Site", "description": "A landing page", "model": "openai/gpt-4o-mini", "system_prompt": "web-builder",
        ]))
        #expect(created.status == 201, "\(created.body)")
        let id = try #require(created.object["id"] as? String)
        #expect(created.object["owner_id"] as? String == cast.owner.user.id && created.object["role"] as? String == "owner")
        #expect(created.object["model"] as? String == "openai/gpt-4o-mini" && created.object["system_prompt"] as? String == "web-builder")

        let read = try server.request("GET", "/api/v1/projects/\(id)", token: cast.owner.token)
        #expect(read.object["name"] as? String == "Site" && read.object["description"] as? String == "A landing page")
        let defaults = try server.request("POST", "/api/v1/projects", token: cast.owner.token, body: json(["name": "Bare"]))
        #expect(defaults.object["model"] as? String == "default" && defaults.object["system_prompt"] as? String == "default")
        #expect(defaults.object["description"] as? String == "")

        let patched = try server.request("PATCH", "/api/v1/projects/\(id)", token: cast.owner.token,
                                         body: json(["name": "Site 2", "model": "default"]))
        #expect(patched.status == 200)
        #expect(patched.object["name"] as? String == "Site 2" && patched.object["model"] as? String == "default")
        #expect(patched.object["description"] as? String == "A landing page", "fields left out keep their value")
        #expect(try server.request("DELETE", "/api/v1/projects/\(id)", token: cast.owner.token).status == 204)
        #expect(try server.request("GET", "/api/v1/projects/\(id)", token: cast.owner.token).status == 404)
        #expect(try server.store.readers.read(loop: 0) { try Project.find($0, id: id) } == nil)

        let trail = try cast.audit().filter { $0.targetID == id }.map(\.action)
        #expect(trail == ["project.delete", "project.update", "project.create"])
        #expect(try cast.audit().allSatisfy { $0.actorID == cast.owner.user.id })
    }

    @Test(arguments: [
        ("POST", #"{"description":"no name"}"#, 422, "name", "\"name\" is required"),
        ("POST", #"{"name":""}"#, 422, "name", "1 to 100"),
        ("POST", "{\"name\":\"\(String(repeating: "n", count: 101))\"}", 422, "name", "1 to 100"),
        ("POST", "{\"name\":\"X\",\"description\":\"\(String(repeating: "d", count: 2001))\"}", 422, "description", "0 to 2000"),
        ("POST", #"{"name":"X","model":"gpt-4o"}"#, 422, "model", "provider/model"),
        ("POST", #"{"name":"X","model":"open ai/gpt"}"#, 422, "model", "provider/model"),
        ("POST", #"{"name":"X","model":"openai/"}"#, 422, "model", "provider/model"),
        ("POST", #"{"name":"X","system_prompt":"../etc"}"#, 422, "system_prompt", "template name"),
        ("POST", #"{"name":"X","owner_id":"someone"}"#, 400, "owner_id", "unknown field"),
        ("POST", #"{"name":7}"#, 422, "name", "must be a string"),
        ("PATCH", #"{"name":""}"#, 422, "name", "1 to 100"),
        ("PATCH", #"{"status":"archived"}"#, 400, "status", "unknown field"),
    ])
    func invalidInputNamesTheField(method: String, body: String, status: Int, field: String, detail: String) throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        let path = method == "POST" ? "/api/v1/projects" : "/api/v1/projects/\(project.id)"
        let before = try cast.audit().count
        let reply = try server.request(method, path, token: cast.owner.token, body: body)
        #expect(reply.status == status && reply.object["field"] as? String == field, "\(reply.status) \(reply.body)")
        #expect((reply.object["detail"] as? String ?? "").contains(detail), "\(reply.body)")
        #expect(try cast.audit().count == before, "a refused change is not audited")
    }

    @Test func aBodyThatIsNotJSONIs415() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let reply = try server.request("POST", "/api/v1/projects", token: cast.owner.token, body: "name=X", contentType: "text/plain")
        #expect(reply.status == 415)
    }

    /// Keyset pages do not shift when projects are created while a client pages: every project that
    /// existed at the start is seen exactly once, whatever is added between pages.
    @Test func pagingIsStableWhileProjectsAreAdded() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        var existing = Set<String>()
        for n in 0..<30 {
            let created = try server.request("POST", "/api/v1/projects", token: ada.token, body: json(["name": "P\(n)"]))
            existing.insert(try #require(created.object["id"] as? String))
        }
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let query = cursor.map { "&cursor=\($0)" } ?? ""
            let page = try server.request("GET", "/api/v1/projects?limit=7" + query, token: ada.token)
            #expect(page.status == 200 && page.items.count <= 7)
            seen += page.items.compactMap { $0["id"] as? String }
            cursor = page.object["next_cursor"] as? String
            pages += 1
            _ = try server.request("POST", "/api/v1/projects", token: ada.token, body: json(["name": "Added \(pages)"]))
        } while cursor != nil && pages < 20
        let old = seen.filter(existing.contains)
        #expect(old.count == 30 && Set(old) == existing, "each existing project once")
        #expect(Set(seen).count == seen.count, "no duplicates")
        #expect(pages == 5, "30 projects in pages of 7")
        let bad = try server.request("GET", "/api/v1/projects?cursor=not-a-cursor!", token: ada.token)
        #expect(bad.status == 400 && bad.object["field"] as? String == "cursor")
    }

    @Test func membersAreListedWithNamesAndManagedByTheOwner() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        let base = "/api/v1/projects/\(project.id)/members"
        let listed = try server.request("GET", base, token: cast.viewer.token)
        let roles = Dictionary(uniqueKeysWithValues: listed.items.map { ($0["name"] as? String ?? "", $0["role"] as? String ?? "") })
        #expect(roles == ["Olive": "owner", "Edith": "editor", "Vera": "viewer", "Xavier": "viewer"])
        #expect(listed.items.allSatisfy { $0["user_id"] is String })

        let added = try server.request("PUT", "\(base)/\(cast.stranger.user.id)", token: cast.owner.token, body: json(["role": "viewer"]))
        #expect(added.status == 201 && added.object["name"] as? String == "Stan")
        #expect(try server.request("GET", "/api/v1/projects/\(project.id)", token: cast.stranger.token).status == 200)
        let promoted = try server.request("PUT", "\(base)/\(cast.stranger.user.id)", token: cast.owner.token, body: json(["role": "editor"]))
        #expect(promoted.status == 200 && promoted.object["role"] as? String == "editor")
        let owner = try server.request("PUT", "\(base)/\(cast.owner.user.id)", token: cast.owner.token, body: json(["role": "viewer"]))
        #expect(owner.status == 409, "the owner's role cannot be changed")
        let toOwner = try server.request("PUT", "\(base)/\(cast.viewer.user.id)", token: cast.owner.token, body: json(["role": "owner"]))
        #expect(toOwner.status == 422 && toOwner.object["field"] as? String == "role")
        #expect(try server.request("PUT", "\(base)/no-such-user", token: cast.owner.token, body: json(["role": "viewer"])).status == 404)
        #expect(try server.request("DELETE", "\(base)/\(cast.stranger.user.id)", token: cast.owner.token).status == 204)
        let actions = try cast.audit().filter { $0.targetType == "project_member" }.map(\.action)
        #expect(actions == ["project.member.remove", "project.member.set", "project.member.set"])
    }

    @Test func configIsReadByMembersAndChangedByEditors() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        let path = "/api/v1/projects/\(project.id)/config"
        let initial = try server.request("GET", path, token: cast.viewer.token)
        #expect(initial.object["mcp_servers"] as? [String] == [] && (initial.object["settings"] as? [String: Any])?.isEmpty == true)
        let put = try server.request("PUT", path, token: cast.editor.token, body: json([
            "model": "anthropic/claude-sonnet-4-5", "system_prompt": "coder", "mcp_servers": ["github", "fetch"],
            "settings": ["temperature": 0.3, "nested": ["a": [1, 2]]],
        ]))
        #expect(put.status == 200, "\(put.body)")
        let read = try server.request("GET", path, token: cast.viewer.token)
        #expect(read.object["model"] as? String == "anthropic/claude-sonnet-4-5" && read.object["system_prompt"] as? String == "coder")
        #expect(read.object["mcp_servers"] as? [String] == ["github", "fetch"])
        #expect((read.object["settings"] as? [String: Any])?["temperature"] as? Double == 0.3)
        let everything = try server.request("PUT", path, token: cast.owner.token, body: json(["mcp_servers": ["*"]]))
        #expect(everything.object["mcp_servers"] as? [String] == ["*"] && everything.object["model"] as? String == "anthropic/claude-sonnet-4-5")
        #expect(try server.request("GET", "/api/v1/projects/\(project.id)", token: cast.owner.token).object["system_prompt"] as? String == "coder")
        #expect(try cast.audit().filter { $0.action == "project.config.update" }.count == 2)
    }

    @Test(arguments: [
        (json(["mcp_servers": ["*", "github"]]), "mcp_servers"),
        (json(["mcp_servers": (0...50).map { "s\($0)" }]), "mcp_servers"),
        (json(["mcp_servers": [String(repeating: "m", count: 101)]]), "mcp_servers"),
        (json(["mcp_servers": "github"]), "mcp_servers"),
        (json(["settings": ["big": String(repeating: "x", count: 16 * 1024)]]), "settings"),
        (json(["settings": [1, 2]]), "settings"),
        (json(["model": "nope"]), "model"),
        (json(["system_prompt": ""]), "system_prompt"),
    ])
    func invalidConfigNamesTheField(body: String, field: String) throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        let reply = try server.request("PUT", "/api/v1/projects/\(project.id)/config", token: cast.owner.token, body: body)
        #expect(reply.status == 422 && reply.object["field"] as? String == field, "\(reply.status) \(reply.body)")
    }
}
