import Net
import Store

/// Projects: create, list, read, change and delete them. Members, configuration, files and
/// conversations live in their own files; `routes` gathers them all.
///
/// Every route is `.user` at route level and checks the caller's project role itself (see
/// `ProjectAccess`): a project you are not a member of answers 404 as if it did not exist.
enum ProjectRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/projects", .user, "List your projects with your role in each", immediate: list),
        APIRoute(.post, "/api/v1/projects", .user, "Create a project (you become its owner)", deferred: create),
        APIRoute(.get, "/api/v1/projects/:id", .user, "A project (any member)", immediate: get),
        APIRoute(.patch, "/api/v1/projects/:id", .user, "Change a project's name, description, model or system prompt (owner, editor)",
                 deferred: update),
        APIRoute(.delete, "/api/v1/projects/:id", .user, "Delete a project with everything in it (owner)", deferred: delete),
    ] + ProjectMemberRoutes.routes + ProjectConfigRoutes.routes + ProjectFileRoutes.routes + ProjectConversationRoutes.routes

    static let fields: Set<String> = ["name", "description", "model", "system_prompt"]

    static func projectJSON(_ project: Project, role: ProjectMember.Role?) -> JSONValue {
        .object([
            "id": .string(project.id), "owner_id": .string(project.ownerID), "name": .string(project.name),
            "description": .string(project.description), "model": .string(project.llm),
            "system_prompt": .string(project.systemPrompt), "status": .string(project.status.rawValue),
            "role": role.map { .string($0.rawValue) } ?? .null,
            "created_at": .int(project.createdAt), "updated_at": .int(project.updatedAt),
        ])
    }

    /// "default" (the server's default chain) or "provider/model": the rule the chat engine's model
    /// references follow (a plain provider name; the model part may hold more slashes), so a project
    /// never stores a model the chat engine cannot parse.
    static func model(_ input: JSONInput, required: Bool = false) throws(APIError) -> String? {
        guard let model = try input.optionalString("model", min: 1, max: 200) else {
            return required ? "default" : nil
        }
        if model == "default" { return model }
        guard let slash = model.firstIndex(of: "/") else {
            throw .unprocessable("\"model\" must be \"default\" or \"provider/model\", like openai/gpt-4o-mini", field: "model")
        }
        let provider = model[..<slash]
        let name = model[model.index(after: slash)...]
        guard !provider.isEmpty, !name.isEmpty, !model.contains(where: \.isWhitespace),
              provider.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw .unprocessable("\"model\" must be \"default\" or \"provider/model\", like openai/gpt-4o-mini", field: "model")
        }
        return model
    }

    /// A prompt template name: the chat engine looks it up by name, so only name characters make sense.
    static func systemPrompt(_ input: JSONInput) throws(APIError) -> String? {
        guard let name = try input.optionalString("system_prompt", min: 1, max: 100) else { return nil }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }) else {
            throw .unprocessable("\"system_prompt\" must be a template name (letters, digits, '-', '_', '.')", field: "system_prompt")
        }
        return name
    }

    static func list(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let userID = try context.me.id
        let limit = try context.limit()
        let cursor = try context.cursor()
        let page = try context.read { try Project.listForUser($0, userID: userID, cursor: cursor, limit: limit) }
        return Reply.page(page.items.map { projectJSON($0.project, role: $0.role) }, next: page.nextCursor)
    }

    static func create(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: fields)
        let name = try input.string("name", min: 1, max: 100)
        let description = try input.optionalString("description", max: 2000) ?? ""
        let llm = try model(input, required: true) ?? "default"
        let prompt = try systemPrompt(input) ?? "default"
        let ownerID = try context.me.id
        let project = try await context.write(audit: ("project.create", "project", { $0.id })) { db in
            try Project.create(db, ownerID: ownerID, name: name, description: description, systemPrompt: prompt, llm: llm)
        }
        return Reply.json(projectJSON(project, role: .owner), status: .created)
    }

    static func get(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let grant = try context.read { try ProjectAccess.require($0, id, me, .viewer) }
        return Reply.json(projectJSON(grant.project, role: grant.role))
    }

    static func update(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: fields)
        let name = try input.optionalString("name", min: 1, max: 100)
        let description = try input.optionalString("description", max: 2000)
        let llm = try model(input)
        let prompt = try systemPrompt(input)
        let me = try context.me
        let id = context.parameter("id")
        let (project, role) = try await context.write(audit: ("project.update", "project", { $0.0.id })) { db in
            let grant = try ProjectAccess.require(db, id, me, .editor)
            guard let project = try Project.update(db, id: id, name: name, description: description, systemPrompt: prompt, llm: llm) else {
                throw APIError.notFound("project with id \(id)")
            }
            return (project, grant.role)
        }
        return Reply.json(projectJSON(project, role: role))
    }

    static func delete(_ context: APIContext) async throws -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        _ = try await context.write(audit: ("project.delete", "project", { _ in id })) { db in
            _ = try ProjectAccess.require(db, id, me, .owner)
            try Project.delete(db, id: id)
        }
        return Reply.noContent
    }
}

/// The caller's standing in one project.
struct ProjectGrant: Sendable {
    let project: Project
    /// nil for a server administrator who is not a member.
    let role: ProjectMember.Role?
    let isAdmin: Bool
}

/// The project-role policy every project route applies: viewer < editor < owner; server
/// administrators may read and change any project.
enum ProjectAccess {
    static func rank(_ role: ProjectMember.Role) -> Int {
        switch role {
        case .viewer: 1
        case .editor: 2
        case .owner: 3
        }
    }

    /// The project if `user` may act at `needed` level in it. Not a member: 404, the same answer as
    /// for a project that does not exist, so ids cannot be probed. A role too low: 403.
    ///
    /// Write handlers call this inside their write, so the role they check is the one in force when
    /// the change commits (a member removed a moment earlier cannot still write).
    static func require(_ db: SQLiteConnection, _ projectID: String, _ user: User,
                        _ needed: ProjectMember.Role) throws -> ProjectGrant {
        let role = try ProjectMember.role(db, projectID: projectID, userID: user.id)
        let isAdmin = user.role == .admin
        guard role != nil || isAdmin, let project = try Project.find(db, id: projectID) else {
            throw APIError.notFound("project with id \(projectID)")
        }
        if !isAdmin, let role, rank(role) < rank(needed) {
            let allowed = ProjectMember.Role.allCases.filter { rank($0) >= rank(needed) }.map(\.rawValue)
            throw APIError.forbidden("your role in this project is \(role.rawValue); this needs \(allowed.joined(separator: " or "))")
        }
        return ProjectGrant(project: project, role: role, isAdmin: isAdmin)
    }
}
