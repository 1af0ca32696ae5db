import Net
import Store

/// Who may work on a project. The owner manages members; any member may leave. The owner's role is
/// fixed and the owner cannot be removed, so a project always has exactly one owner.
enum ProjectMemberRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/projects/:id/members", .user, "A project's members with their roles (any member)", immediate: list),
        APIRoute(.put, "/api/v1/projects/:id/members/:userId", .user, "Add a member or change their role to editor or viewer (owner)",
                 deferred: put),
        APIRoute(.delete, "/api/v1/projects/:id/members/:userId", .user, "Remove a member (owner), or leave a project yourself",
                 deferred: remove),
    ]

    static func memberJSON(_ member: ProjectMember, name: String) -> JSONValue {
        .object(["user_id": .string(member.userID), "name": .string(name), "role": .string(member.role.rawValue),
                 "added_at": .int(member.addedAt)])
    }

    static func list(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let items = try context.read { db -> [JSONValue] in
            _ = try ProjectAccess.require(db, id, me, .viewer)
            // Member rows reference users with ON DELETE CASCADE, so every member has an account.
            return try ProjectMember.list(db, projectID: id).map { member in
                memberJSON(member, name: try User.find(db, id: member.userID)?.displayName ?? "")
            }
        }
        return Reply.page(items, next: nil)
    }

    static func put(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["role"])
        guard let raw = try input.oneOf("role", ["editor", "viewer"]), let role = ProjectMember.Role(rawValue: raw) else {
            throw APIError.unprocessable("\"role\" is required", field: "role")
        }
        let me = try context.me
        let id = context.parameter("id")
        let userID = context.parameter("userId")
        let (member, name, added) = try await context.write(audit: ("project.member.set", "project_member", { _ in "\(id)/\(userID)" })) {
            db -> (ProjectMember, String, Bool) in
            _ = try ProjectAccess.require(db, id, me, .owner)
            guard let user = try User.find(db, id: userID) else { throw APIError.notFound("user with id \(userID)") }
            switch try ProjectMember.role(db, projectID: id, userID: userID) {
            case .owner:
                throw APIError.conflict("the owner's role cannot be changed", field: "role")
            case nil:
                return (try ProjectMember.add(db, projectID: id, userID: userID, role: role), user.displayName, true)
            case .editor, .viewer:
                try ProjectMember.setRole(db, projectID: id, userID: userID, role: role)
                let member = try ProjectMember.list(db, projectID: id).first { $0.userID == userID }
                guard let member else { throw APIError.notFound("member \(userID) in this project") }
                return (member, user.displayName, false)
            }
        }
        return Reply.json(memberJSON(member, name: name), status: added ? .created : .ok)
    }

    static func remove(_ context: APIContext) async throws -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let userID = context.parameter("userId")
        _ = try await context.write(audit: ("project.member.remove", "project_member", { _ in "\(id)/\(userID)" })) { db in
            // Leaving needs only membership; removing someone else needs the owner (or an administrator).
            _ = try ProjectAccess.require(db, id, me, userID == me.id ? .viewer : .owner)
            switch try ProjectMember.role(db, projectID: id, userID: userID) {
            case nil: throw APIError.notFound("member \(userID) in this project")
            case .owner: throw APIError.conflict("the owner cannot be removed; delete the project instead")
            case .editor, .viewer: try ProjectMember.remove(db, projectID: id, userID: userID)
            }
        }
        return Reply.noContent
    }
}
