import Foundation
import Store
import Testing
@testable import API

/// One project route called by everyone: anonymous, a non-member, the viewer, the editor, the owner
/// and a server administrator, in that order, each on a fresh project.
struct ProjectAccessCase: Sendable, CustomTestStringConvertible {
    let method: String
    /// {p} is the project id, {c} the conversation id, {u} the id of a viewer the owner may manage.
    let path: String
    let body: String?
    let contentType: String
    let expected: [Int]

    init(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/json", _ expected: [Int]) {
        self.method = method
        self.path = path
        self.body = body
        self.contentType = contentType
        self.expected = expected
    }

    var testDescription: String { "\(method) \(path)" }

    static let reads = [401, 404, 200, 200, 200, 200]

    static let all: [ProjectAccessCase] = [
        ProjectAccessCase("GET", "/api/v1/projects/{p}", reads),
        ProjectAccessCase("PATCH", "/api/v1/projects/{p}", body: #"{"description":"changed"}"#, [401, 404, 403, 200, 200, 200]),
        ProjectAccessCase("DELETE", "/api/v1/projects/{p}", [401, 404, 403, 403, 204, 204]),
        ProjectAccessCase("GET", "/api/v1/projects/{p}/members", reads),
        ProjectAccessCase("PUT", "/api/v1/projects/{p}/members/{u}", body: #"{"role":"editor"}"#, [401, 404, 403, 403, 200, 200]),
        ProjectAccessCase("DELETE", "/api/v1/projects/{p}/members/{u}", [401, 404, 403, 403, 204, 204]),
        ProjectAccessCase("GET", "/api/v1/projects/{p}/config", reads),
        ProjectAccessCase("PUT", "/api/v1/projects/{p}/config", body: #"{"settings":{"temperature":0.2}}"#, [401, 404, 403, 200, 200, 200]),
        ProjectAccessCase("GET", "/api/v1/projects/{p}/files", reads),
        ProjectAccessCase("GET", "/api/v1/projects/{p}/files/a.txt", reads),
        ProjectAccessCase("PUT", "/api/v1/projects/{p}/files/b.txt", body: "new file", contentType: "text/plain", [401, 404, 403, 201, 201, 201]),
        ProjectAccessCase("DELETE", "/api/v1/projects/{p}/files/a.txt", [401, 404, 403, 204, 204, 204]),
        ProjectAccessCase("GET", "/api/v1/projects/{p}/conversations", reads),
        ProjectAccessCase("GET", "/api/v1/projects/{p}/conversations/{c}/messages", reads),
    ]
}

@Suite(.timeLimit(.minutes(2))) struct ProjectAccessTests {
    @Test(arguments: ProjectAccessCase.all)
    func everyProjectRouteAppliesTheProjectRole(_ route: ProjectAccessCase) throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let callers: [APITestServer.Account?] = [nil, cast.stranger, cast.viewer, cast.editor, cast.owner, cast.admin]
        var statuses: [Int] = []
        for caller in callers {
            let (project, conversation) = try cast.seed()
            let path = route.path.replacingOccurrences(of: "{p}", with: project.id)
                .replacingOccurrences(of: "{c}", with: conversation.id).replacingOccurrences(of: "{u}", with: cast.extra.user.id)
            let before = try cast.audit().count
            let reply = try server.request(route.method, path, token: caller?.token, body: route.body, contentType: route.contentType)
            statuses.append(reply.status)
            let added = try cast.audit()
            // Every change is audited, as its caller; a refused request or a read leaves no entry.
            if route.method != "GET" && (200..<300).contains(reply.status) {
                #expect(added.count == before + 1, "\(route.method) \(path) by \(caller?.user.displayName ?? "anonymous")")
                #expect(added.first?.actorID == caller?.user.id)
            } else {
                #expect(added.count == before, "\(route.method) \(path) by \(caller?.user.displayName ?? "anonymous"): \(reply.body)")
            }
            if reply.status == 404 {
                #expect(!reply.body.contains(project.name) && reply.headers["content-type"] == "application/problem+json")
            }
        }
        #expect(statuses == route.expected, "anonymous, non-member, viewer, editor, owner, admin")
    }

    @Test func listingAndCreatingNeedAnAccountAndListOnlyYourProjects() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        _ = try cast.seed()
        #expect(try server.request("GET", "/api/v1/projects").status == 401)
        #expect(try server.request("POST", "/api/v1/projects", body: json(["name": "X"])).status == 401)
        #expect(try server.request("GET", "/api/v1/projects", token: cast.stranger.token).items.isEmpty)
        let listed = try server.request("GET", "/api/v1/projects", token: cast.viewer.token)
        #expect(listed.items.count == 1 && listed.items.first?["role"] as? String == "viewer")
        // An administrator may open any project, but "my projects" lists only their own memberships.
        #expect(try server.request("GET", "/api/v1/projects", token: cast.admin.token).items.isEmpty)
        let created = try server.request("POST", "/api/v1/projects", token: cast.stranger.token, body: json(["name": "Mine"]))
        #expect(created.status == 201 && created.object["role"] as? String == "owner")
    }

    @Test func membersLeaveThemselvesButTheOwnerStays() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        let base = "/api/v1/projects/\(project.id)/members/"
        #expect(try server.request("DELETE", base + cast.viewer.user.id, token: cast.viewer.token).status == 204)
        #expect(try server.request("GET", "/api/v1/projects/\(project.id)", token: cast.viewer.token).status == 404,
                "a member who left no longer sees the project")
        let ownerLeaves = try server.request("DELETE", base + cast.owner.user.id, token: cast.owner.token)
        #expect(ownerLeaves.status == 409 && (ownerLeaves.object["detail"] as? String ?? "").contains("owner"))
        #expect(try server.request("DELETE", base + cast.owner.user.id, token: cast.admin.token).status == 409)
        #expect(try server.request("DELETE", base + cast.owner.user.id, token: cast.editor.token).status == 403)
        #expect(try server.request("DELETE", base + cast.stranger.user.id, token: cast.owner.token).status == 404,
                "removing someone who is not a member")
    }
}
