import API
import Glibc
import MCP
import Net
import Store

/// The API's view of the MCP fleet, over the manager (attached once the loops exist). Definitions
/// added here are also kept in `mcp_servers` so the admin list and the health history agree.
final class MCPAdmin: MCPAdministration {
    private let manager = Locked<MCPManager?>(nil)
    private let store: Store
    private let environment: [String: String]

    init(store: Store, environment: [String: String]) {
        self.store = store
        self.environment = environment
    }

    func attach(_ mcp: MCPManager) {
        manager.withLock { $0 = mcp }
    }

    private var mcp: MCPManager? { manager.withLock { $0 } }

    func servers() -> [JSONValue] {
        (mcp?.servers() ?? []).map(Self.json)
    }

    static func json(_ status: MCPServerStatus) -> JSONValue {
        .object([
            "name": .string(status.name), "group": .string(status.group), "transport": .string("\(status.transport)"),
            "state": .string(status.state.rawValue), "latency_ms": status.latencyMs.map { .number($0) } ?? .null,
            "tools": .array(status.tools.map { .string($0.name) }), "in_flight": .number(Double(status.inFlight)),
            "breaker_open": .bool(status.breakerOpen), "restarts": .number(Double(status.restarts)),
            "crash_loop": .bool(status.crashLoop), "protocol_version": status.protocolVersion.map(JSONValue.string) ?? .null,
            "last_error": status.lastError.map(JSONValue.string) ?? .null,
        ])
    }

    func put(name: String, entry: JSONValue, replace: Bool) async throws(APIError) -> JSONValue {
        guard let mcp else { throw APIError(HTTPStatus(503), "the MCP manager is not running") }
        let document = JSONValue.object(["mcpServers": .object([name: entry])])
        let definition: MCPServerDefinition
        do {
            guard let parsed = try MCPServerDefinition.parse(document.serialized(), source: "request", baseDirectory: ".",
                                                             environment: environment).first else {
                throw APIError(HTTPStatus(422), "the definition describes no server", field: "definition")
            }
            definition = parsed
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(HTTPStatus(422), "\(error)", field: "definition")
        }
        let exists = mcp.server(name) != nil
        if replace && !exists { throw APIError(HTTPStatus(404), "no MCP server named \(name)") }
        if !replace && exists { throw APIError(HTTPStatus(409), "an MCP server named \(name) exists; PUT to change it", field: "name") }
        do {
            if replace { try await mcp.update(definition) } else { try mcp.add(definition) }
        } catch {
            throw APIError(HTTPStatus(422), "\(error)", field: "definition")
        }
        do {
            _ = try await store.writer.write { db in try MCPWiring.upsert(db, definition) }
        } catch {
            throw APIError(HTTPStatus(500), "the server started but could not be recorded: \(error)")
        }
        return mcp.server(name).map(Self.json) ?? .object(["name": .string(name)])
    }

    func remove(name: String) async -> Bool {
        guard let mcp, await mcp.remove(name) else { return false }
        _ = try? await store.writer.write { db in
            if let record = try MCPServerRecord.find(db, name: name) { _ = try MCPServerRecord.delete(db, id: record.id) }
        }
        return true
    }

    func restart(name: String) -> Bool {
        mcp?.restart(name) ?? false
    }

    func readinessProblems() -> [String] {
        guard let mcp else { return [] }
        var groups: [String: Bool] = [:]
        for status in mcp.servers() where status.state != .stopped {
            groups[status.group, default: false] = groups[status.group, default: false]
                || status.state == .healthy || status.state == .degraded
        }
        return groups.filter { !$0.value }.keys.sorted().map { "MCP group \($0) has no healthy server" }
    }

    /// MCP health and latency, per server, for /metrics.
    func registerMetrics() {
        Metrics.shared.gauge("builderai_mcp_server_up", "1 when an MCP server takes calls (healthy or degraded)") { [self] in
            (mcp?.servers() ?? []).map { ([("server", $0.name), ("state", $0.state.rawValue)],
                                          $0.state == .healthy || $0.state == .degraded ? 1 : 0) }
        }
        Metrics.shared.gauge("builderai_mcp_ping_latency_seconds", "Latest health check latency per MCP server") { [self] in
            (mcp?.servers() ?? []).compactMap { status in status.latencyMs.map { ([("server", status.name)], $0 / 1000) } }
        }
    }
}
