import Net
import Store

/// A project's configuration as the chat engine uses it: the model and system prompt (kept on the
/// project row), the MCP servers it enables and free-form settings (kept in `project_configs`).
enum ProjectConfigRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/projects/:id/config", .user, "A project's model, system prompt, MCP servers and settings (any member)",
                 immediate: get),
        APIRoute(.put, "/api/v1/projects/:id/config", .user, "Change a project's configuration; fields left out keep their value (owner, editor)",
                 deferred: put),
    ]

    static let maxServers = 50
    static let maxServerName = 100
    static let maxSettingsBytes = 16 * 1024

    static func configJSON(_ project: Project, _ config: ProjectConfig?) -> JSONValue {
        // The store keeps what this API validated; a row written some other way that does not parse
        // shows as empty rather than failing the whole read.
        let servers = config.flatMap { try? JSONValue.parse($0.mcpServersJSON) }?.arrayValue ?? []
        let settings = config.flatMap { try? JSONValue.parse($0.settingsJSON) }?.objectValue ?? [:]
        return .object(["model": .string(project.llm), "system_prompt": .string(project.systemPrompt),
                        "mcp_servers": .array(servers), "settings": .object(settings),
                        "updated_at": .int(max(project.updatedAt, config?.updatedAt ?? 0))])
    }

    static func get(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let (project, config) = try context.read { db in
            (try ProjectAccess.require(db, id, me, .viewer).project, try ProjectConfig.get(db, projectID: id))
        }
        return Reply.json(configJSON(project, config))
    }

    /// The MCP server names, or ["*"] for every server the installation has.
    static func servers(_ input: JSONInput) throws(APIError) -> String? {
        guard let names = try input.optionalStrings("mcp_servers", maxCount: maxServers, maxLength: maxServerName) else { return nil }
        if names.contains("*") && names.count > 1 {
            throw .unprocessable("\"mcp_servers\" is either [\"*\"] (every server) or a list of names, not both", field: "mcp_servers")
        }
        if let bad = names.first(where: { $0.unicodeScalars.contains { $0.value < 0x20 || $0 == "\u{7f}" } }) {
            throw .unprocessable("\"mcp_servers\" entry \(JSONValue.string(bad).serializedString) contains control characters", field: "mcp_servers")
        }
        var seen = Set<String>()
        let unique = names.filter { seen.insert($0).inserted }
        return JSONValue.array(unique.map(JSONValue.string)).serializedString
    }

    static func settings(_ input: JSONInput) throws(APIError) -> String? {
        guard let raw = input.object["settings"], !raw.isNull else { return nil }
        guard case .object = raw else { throw .unprocessable("\"settings\" must be a JSON object", field: "settings") }
        let text = raw.serializedString
        guard text.utf8.count <= maxSettingsBytes else {
            throw .unprocessable("\"settings\" is \(text.utf8.count) bytes serialized; the limit is \(maxSettingsBytes)", field: "settings")
        }
        return text
    }

    static func put(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["model", "system_prompt", "mcp_servers", "settings"])
        let llm = try ProjectRoutes.model(input)
        let prompt = try ProjectRoutes.systemPrompt(input)
        let serversJSON = try servers(input)
        let settingsJSON = try settings(input)
        let me = try context.me
        let id = context.parameter("id")
        let (project, config) = try await context.write(audit: ("project.config.update", "project", { _ in id })) { db in
            var project = try ProjectAccess.require(db, id, me, .editor).project
            if llm != nil || prompt != nil {
                project = try Project.update(db, id: id, systemPrompt: prompt, llm: llm) ?? project
            }
            let config = try ProjectConfig.set(db, projectID: id, mcpServersJSON: serversJSON, settingsJSON: settingsJSON)
            return (project, config)
        }
        return Reply.json(configJSON(project, config))
    }
}
