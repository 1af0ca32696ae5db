import Net
import Store

/// Administration: accounts, the MCP fleet, and the audit log. Admins only; every change audited.
enum AdminRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/admin/users", .admin, "List accounts", immediate: listUsers),
        APIRoute(.patch, "/api/v1/admin/users/:id", .admin, "Disable or enable an account, or change its role", deferred: updateUser),
        APIRoute(.get, "/api/v1/admin/mcp-servers", .admin, "MCP servers with state and latency", immediate: listServers),
        APIRoute(.get, "/api/v1/admin/mcp-servers/:name/health", .admin, "A server's health samples over the last hour (or since=ms)",
                 immediate: serverHealth),
        APIRoute(.post, "/api/v1/admin/mcp-servers", .admin, "Add an MCP server", deferred: addServer),
        APIRoute(.put, "/api/v1/admin/mcp-servers/:name", .admin, "Change an MCP server's definition", deferred: changeServer),
        APIRoute(.delete, "/api/v1/admin/mcp-servers/:name", .admin, "Stop and remove an MCP server", deferred: removeServer),
        APIRoute(.post, "/api/v1/admin/mcp-servers/:name/restart", .admin, "Restart an MCP server", deferred: restartServer),
        APIRoute(.get, "/api/v1/admin/audit-log", .admin, "Recent audit log entries, newest first", immediate: auditLog),
    ]

    static func listUsers(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let cursor = try context.cursor()
        let limit = try context.limit()
        let page = try context.read { try User.list($0, cursor: cursor, limit: limit) }
        return Reply.page(page.items.map { AccountRoutes.userJSON($0) }, next: page.nextCursor)
    }

    static func updateUser(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["disabled", "role"])
        let disabled = try input.optionalBool("disabled")
        let role = try input.oneOf("role", ["user", "admin"], required: false).flatMap(User.Role.init(rawValue:))
        guard disabled != nil || role != nil else { throw APIError.unprocessable("send \"disabled\" or \"role\"") }
        let id = context.parameter("id")
        let me = try context.me
        if id == me.id && (disabled == true || role == .user) {
            throw APIError.conflict("an administrator cannot disable or demote themselves")
        }
        let user = try await context.write(audit: ("admin.user_update", "user", { $0 == nil ? nil : id })) { db -> User? in
            guard var user = try User.find(db, id: id) else { return nil }
            if let disabled {
                _ = try User.setDisabled(db, id: id, isDisabled: disabled)
                user.isDisabled = disabled
                if disabled { try APIToken.revokeAll(db, userID: id, kind: .refresh) }
            }
            if let role, let updated = try User.update(db, id: id, role: role) {
                user.role = updated.role
            }
            return user
        }
        context.api.credentialsChanged()
        guard let user else { throw APIError.notFound("account \(id)") }
        return Reply.json(AccountRoutes.userJSON(user))
    }

    static func administration(_ context: APIContext) throws(APIError) -> any MCPAdministration {
        guard let mcp = context.api.configuration.mcp else { throw APIError(HTTPStatus(503), "this server runs no MCP manager") }
        return mcp
    }

    static func listServers(_ context: APIContext) throws(APIError) -> HTTPResponse {
        Reply.json(.object(["items": .array(try administration(context).servers())]))
    }

    static func serverHealth(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let name = context.parameter("name")
        let now = StoreClock.nowMilliseconds()
        var since = now - 3_600_000
        if let raw = context.query("since") {
            guard let value = Int64(raw), value >= 0 else { throw .badRequest("since must be Unix milliseconds", field: "since") }
            since = value
        }
        let samples = try context.read { db -> [MCPHealthSample]? in
            guard let server = try MCPServerRecord.find(db, name: name) else { return nil }
            return try MCPHealthSample.recent(db, serverID: server.id, since: since, limit: 5_000)
        }
        guard let samples else { throw APIError.notFound("MCP server named \(name)") }
        return Reply.json(.object(["server": .string(name), "items": .array(samples.map { sample in
            .object(["at": .int(sample.at), "status": .string(sample.status.rawValue),
                     "latency_ms": sample.latencyMs.map { .number($0) } ?? .null, "error": .optional(sample.error)])
        })]))
    }

    static func addServer(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["name", "definition"])
        let name = try input.string("name", min: 1, max: 64)
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), name.unicodeScalars.allSatisfy(\.isASCII) else {
            throw APIError.unprocessable("\"name\" may hold only ASCII letters, digits, - and _", field: "name")
        }
        guard let entry = input.object["definition"], entry.objectValue != nil else {
            throw APIError.unprocessable("\"definition\" must be an mcpServers entry (command/args/env or url/headers)", field: "definition")
        }
        let mcp = try administration(context)
        let server = try await mcp.put(name: name, entry: entry, replace: false)
        _ = try await context.write(audit: ("admin.mcp_add", "mcp_server", { _ in name })) { _ in true }
        return Reply.json(server, status: .created)
    }

    static func changeServer(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["definition"])
        let name = context.parameter("name")
        guard let entry = input.object["definition"], entry.objectValue != nil else {
            throw APIError.unprocessable("\"definition\" must be an mcpServers entry", field: "definition")
        }
        let server = try await administration(context).put(name: name, entry: entry, replace: true)
        _ = try await context.write(audit: ("admin.mcp_change", "mcp_server", { _ in name })) { _ in true }
        return Reply.json(server)
    }

    static func removeServer(_ context: APIContext) async throws -> HTTPResponse {
        let name = context.parameter("name")
        guard try await administration(context).remove(name: name) else { throw APIError.notFound("MCP server named \(name)") }
        _ = try await context.write(audit: ("admin.mcp_remove", "mcp_server", { _ in name })) { _ in true }
        return Reply.noContent
    }

    static func restartServer(_ context: APIContext) async throws -> HTTPResponse {
        let name = context.parameter("name")
        guard try administration(context).restart(name: name) else { throw APIError.notFound("MCP server named \(name)") }
        _ = try await context.write(audit: ("admin.mcp_restart", "mcp_server", { _ in name })) { _ in true }
        return Reply.json(.object(["restarting": .string(name)]), status: HTTPStatus(202))
    }

    static func auditLog(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let cursor = try context.cursor()
        let limit = try context.limit()
        let page = try context.read { try AuditEntry.recent($0, cursor: cursor, limit: limit) }
        return Reply.page(page.items.map { entry in
            .object(["id": .int(entry.id), "at": .int(entry.at), "actor": .optional(entry.actorID), "action": .string(entry.action),
                     "target_type": .string(entry.targetType), "target_id": .string(entry.targetID),
                     "details": (try? JSONValue.parse(entry.details)) ?? .object([:]), "ip": .optional(entry.ip)])
        }, next: page.nextCursor)
    }
}
