import Net

/// What the API may ask of the MCP fleet, without depending on the MCP module: the server binary
/// implements it over the MCP manager (see MCPAdmin in Sources/builderai).
public protocol MCPAdministration: Sendable {
    /// Every server: name, group, transport, state, latency_ms, tools, in_flight, restarts, …
    func servers() -> [JSONValue]
    /// Adds (or with `replace`, changes) a server from one `mcpServers` entry. Throws a message.
    func put(name: String, entry: JSONValue, replace: Bool) async throws(APIError) -> JSONValue
    func remove(name: String) async -> Bool
    func restart(name: String) -> Bool
    /// Problems that make the server not ready (a group with no healthy replica), empty when ready.
    func readinessProblems() -> [String]
}
