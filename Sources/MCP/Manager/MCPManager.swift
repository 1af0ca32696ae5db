import Net

/// One tool as the LLM sees it: a name unique across every server, and the way back to the group
/// and the server's own name for it.
public struct MCPToolEntry: Sendable, Equatable {
    /// `<group>__<tool>`, limited to what every provider accepts in a tool name.
    public var exposedName: String
    public var group: String
    public var toolName: String
    public var tool: MCPTool
}

/// Cancels a call from any thread. Safe to call after the call finished (it does nothing then).
public final class MCPCallHandle: Sendable {
    private struct Target {
        var cancelled = false
        var cancel: (@Sendable () -> Void)?
    }
    private let target = Locked(Target())

    public func cancel() {
        let action: (@Sendable () -> Void)? = target.withLock { state in
            guard !state.cancelled else { return nil }
            state.cancelled = true
            return state.cancel
        }
        action?()
    }

    var isCancelled: Bool { target.withLock { $0.cancelled } }

    /// Points the handle at the attempt now running; nil when none is.
    func attach(_ cancel: (@Sendable () -> Void)?) -> Bool {
        target.withLock { state in
            state.cancel = cancel
            return !state.cancelled
        }
    }
}

/// The fleet of MCP servers: definitions added, changed and removed at run time, one replica per
/// server on the loop that owns it, health checks, and tool calls routed to the healthiest replica
/// of a group with failover when a call provably never reached its first choice.
///
/// Thread-safe: every public method may be called from any thread. Replica state lives on the
/// replicas' loops; the registry of published snapshots sits behind one lock that routing reads.
public final class MCPManager: Sendable {
    private struct Registry {
        var replicas: [String: MCPReplica] = [:]
        var status: [String: MCPServerStatus] = [:]
        var toolIndex: [String: (group: String, tool: String)] = [:]
        var entries: [MCPToolEntry] = []
        /// Calls routed to each server and not finished: counted here, at routing time, so that a
        /// burst of calls spreads before any replica has reported its own count.
        var assigned: [String: Int] = [:]
        var started = false
        var shutDown = false
    }

    private let loops: [EventLoop]
    private let clients: [HTTPClient]
    private let registry = Locked(Registry())
    private let healthSink: (@Sendable (MCPHealthReport) -> Void)?

    /// `healthSink` receives every health report (builderai writes them to `mcp_health`).
    public init(loops: [EventLoop], healthSink: (@Sendable (MCPHealthReport) -> Void)? = nil) {
        precondition(!loops.isEmpty, "MCPManager needs at least one loop")
        self.loops = loops
        self.clients = loops.map { HTTPClient(loop: $0) }
        self.healthSink = healthSink
    }

    // MARK: Servers

    /// Starts every server defined with `startAtBoot` (and any added later).
    public func start() {
        let replicas = registry.withLock { state -> [MCPReplica] in
            state.started = true
            return state.replicas.values.filter { $0.definition.startAtBoot }
        }
        for replica in replicas { replica.loop.execute { replica.start() } }
    }

    /// Adds a server; it starts at once if the manager runs and the definition says so.
    public func add(_ definition: MCPServerDefinition) throws(MCPConfigError) {
        guard MCPServerDefinition.isValidName(definition.name), MCPServerDefinition.isValidName(definition.group) else {
            throw MCPConfigError("server \"\(definition.name)\": names must be 1–48 letters, digits, '-' or '_'")
        }
        let index = Int(stableHash(definition.name) % UInt64(loops.count))
        let replica = MCPReplica(definition: definition, loop: loops[index], manager: self, httpClient: clients[index])
        let outcome: Result<Bool, MCPConfigError> = registry.withLock { state in
            guard !state.shutDown else { return .failure(MCPConfigError("the MCP manager is shut down")) }
            guard state.replicas[definition.name] == nil else {
                return .failure(MCPConfigError("a server named \"\(definition.name)\" exists already"))
            }
            state.replicas[definition.name] = replica
            state.status[definition.name] = MCPServerStatus(
                name: definition.name, group: definition.group, transport: definition.transportKind, state: .stopped,
                tools: [], inFlight: 0, breakerOpen: false, restarts: 0, recentChecks: [])
            return .success(state.started && definition.startAtBoot)
        }
        let startNow = try outcome.get()
        if startNow { replica.loop.execute { replica.start() } }
    }

    /// Replaces a server's definition: the old session ends, the new one starts.
    public func update(_ definition: MCPServerDefinition) async throws(MCPConfigError) {
        guard await remove(definition.name) else { throw MCPConfigError("no server named \"\(definition.name)\"") }
        try add(definition)
    }

    /// Stops a server and forgets it. False if there was none.
    @discardableResult
    public func remove(_ name: String, grace: Duration = .seconds(2)) async -> Bool {
        guard let replica = registry.withLock({ $0.replicas.removeValue(forKey: name) }) else { return false }
        await stop(replica, grace: grace)
        registry.withLock { state in
            state.status.removeValue(forKey: name)
            rebuildToolIndex(&state)
        }
        return true
    }

    /// Starts a stopped server, or drops and rebuilds a running one's session.
    @discardableResult
    public func restart(_ name: String) -> Bool {
        guard let replica = registry.withLock({ $0.replicas[name] }) else { return false }
        replica.loop.execute { replica.restart() }
        return true
    }

    /// Ends every session (stdio children: stdin closed, then SIGTERM, then SIGKILL) and the HTTP clients.
    public func shutdown(grace: Duration = .seconds(2)) async {
        let replicas = registry.withLock { state -> [MCPReplica] in
            state.shutDown = true
            return Array(state.replicas.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for replica in replicas { group.addTask { await self.stop(replica, grace: grace) } }
        }
        for client in clients {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                client.loop.execute {
                    client.close()
                    done.resume()
                }
            }
        }
    }

    private func stop(_ replica: MCPReplica, grace: Duration) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            replica.loop.execute { replica.stop(grace: grace) { done.resume() } }
        }
    }

    /// Every server's latest snapshot, by name.
    public func servers() -> [MCPServerStatus] {
        registry.withLock { state in state.status.values.sorted { $0.name < $1.name }.map { Self.withCalls($0, state) } }
    }

    public func server(_ name: String) -> MCPServerStatus? {
        registry.withLock { state in state.status[name].map { Self.withCalls($0, state) } }
    }

    /// Calls in flight as routing counts them (replicas do not publish per call).
    private static func withCalls(_ status: MCPServerStatus, _ state: Registry) -> MCPServerStatus {
        var status = status
        status.inFlight = state.assigned[status.name] ?? 0
        return status
    }

    /// The tools the LLM may call now: one entry per tool per group, from replicas taking calls.
    public func tools() -> [MCPToolEntry] {
        registry.withLock { $0.entries }
    }

    /// Runs a health check on a server now instead of waiting for its interval.
    public func checkHealth(_ name: String) {
        guard let replica = registry.withLock({ $0.replicas[name] }) else { return }
        replica.loop.execute { replica.checkHealth() }
    }

    /// The pid of a stdio server's process, for tests and the admin page.
    public func processID(_ name: String) async -> Int32? {
        guard let replica = registry.withLock({ $0.replicas[name] }) else { return nil }
        return await withCheckedContinuation { (done: CheckedContinuation<Int32?, Never>) in
            replica.loop.execute { done.resume(returning: replica.processID) }
        }
    }

    // MARK: Resources and prompts (per server, for the API and admins)

    public func listResources(server name: String) async throws(MCPError) -> [JSONValue] {
        try await onSession(name) { connection, done in connection.listResources(done) }
    }

    public func readResource(server name: String, uri: String) async throws(MCPError) -> [JSONValue] {
        try await onSession(name) { connection, done in connection.readResource(uri: uri, done) }
    }

    public func listPrompts(server name: String) async throws(MCPError) -> [JSONValue] {
        try await onSession(name) { connection, done in connection.listPrompts(done) }
    }

    public func getPrompt(server name: String, prompt: String, arguments: [String: String] = [:]) async throws(MCPError) -> JSONValue {
        try await onSession(name) { connection, done in connection.getPrompt(name: prompt, arguments: arguments, done) }
    }

    private func onSession<T: Sendable>(_ name: String,
                                        _ body: @escaping @Sendable (MCPConnection, @escaping (Result<T, MCPError>) -> Void) -> Void)
        async throws(MCPError) -> T {
        guard let replica = registry.withLock({ $0.replicas[name] }) else { throw .unavailable("no server named \(name)") }
        let result = await withCheckedContinuation { (done: CheckedContinuation<Result<T, MCPError>, Never>) in
            replica.loop.execute { replica.withSession(body) { done.resume(returning: $0) } }
        }
        return try result.get()
    }

    // MARK: Calls

    /// Calls a tool by its exposed name on the best replica of its group. A call that never reached
    /// a replica is tried on the next; one that may have run is reported, never repeated. The
    /// completion runs on `loop` when given, else on the replica's loop.
    @discardableResult
    public func callTool(_ exposedName: String, arguments: JSONValue, timeout: Duration? = nil,
                         on loop: EventLoop? = nil,
                         onProgress: (@Sendable (MCPProgress) -> Void)? = nil,
                         completion: @escaping @Sendable (Result<MCPToolResult, MCPError>) -> Void) -> MCPCallHandle {
        let handle = MCPCallHandle()
        let deliver: @Sendable (Result<MCPToolResult, MCPError>) -> Void = { result in
            if let loop, !loop.inLoop { loop.execute { completion(result) } } else { completion(result) }
        }
        guard case .object = arguments else {
            deliver(.failure(.server(JSONRPCError(code: JSONRPCError.invalidParams, message: "tool arguments must be a JSON object"))))
            return handle
        }
        guard let target = registry.withLock({ $0.toolIndex[exposedName] }) else {
            deliver(.failure(.unknownTool(exposedName)))
            return handle
        }
        attempt(group: target.group, tool: target.tool, arguments: arguments, timeout: timeout, tried: [],
                reasons: [], handle: handle, onProgress: onProgress, deliver: deliver)
        return handle
    }

    /// `callTool` for async callers (the CLI, tests). Cancelling the task cancels the call.
    public func callTool(_ exposedName: String, arguments: JSONValue, timeout: Duration? = nil) async throws(MCPError) -> MCPToolResult {
        let handle = Locked<MCPCallHandle?>(nil)
        let result: Result<MCPToolResult, MCPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Result<MCPToolResult, MCPError>, Never>) in
                let call = callTool(exposedName, arguments: arguments, timeout: timeout) { done.resume(returning: $0) }
                handle.withLock { $0 = call }
            }
        } onCancel: {
            handle.withLock { $0 }?.cancel()
        }
        return try result.get()
    }

    private func attempt(group: String, tool: String, arguments: JSONValue, timeout: Duration?, tried: Set<String>,
                         reasons: [String], handle: MCPCallHandle, onProgress: (@Sendable (MCPProgress) -> Void)?,
                         deliver: @escaping @Sendable (Result<MCPToolResult, MCPError>) -> Void) {
        guard !handle.isCancelled else { return deliver(.failure(.cancelled)) }
        guard let replica = pickReplica(group: group, tool: tool, excluding: tried) else {
            let states = registry.withLock { state in
                state.status.values.filter { $0.group == group }.sorted { $0.name < $1.name }
                    .map { "\($0.name): \($0.state.rawValue)\($0.breakerOpen ? ", circuit open" : "")" }
            }
            let detail = (reasons + (reasons.isEmpty ? states : [])).joined(separator: "; ")
            return deliver(.failure(.unavailable("no replica of \(group) can take \(tool) now (\(detail))")))
        }
        let name = replica.definition.name
        replica.loop.execute { [self] in
            replica.call(tool: tool, arguments: arguments, timeout: timeout,
                         onProgress: onProgress.map { relay in { progress in relay(progress) } },
                         started: { id, connection in
                             guard let id, let connection else { return }
                             let cancel: @Sendable () -> Void = {
                                 replica.loop.execute { connection.cancel(id) }
                             }
                             if !handle.attach(cancel) { connection.cancel(id) }
                         }) { [self] result in
                _ = handle.attach(nil)
                registry.withLock { state in state.assigned[name] = max(0, (state.assigned[name] ?? 1) - 1) }
                if case .failure(.notDelivered(let reason)) = result {
                    Log.debug("mcp call rerouted", ["server": replica.definition.name, "tool": tool, "reason": reason])
                    return attempt(group: group, tool: tool, arguments: arguments, timeout: timeout,
                                   tried: tried.union([replica.definition.name]),
                                   reasons: reasons + ["\(replica.definition.name): \(reason)"], handle: handle,
                                   onProgress: onProgress, deliver: deliver)
                }
                deliver(result)
            }
        }
    }

    /// Healthy before degraded; then the fewest calls routed there and not finished; ties broken at
    /// random, so equal replicas share the load. Claims the call for the replica it returns.
    private func pickReplica(group: String, tool: String, excluding: Set<String>) -> MCPReplica? {
        registry.withLock { state in
            let candidates = state.status.values.filter { status in
                status.group == group && status.state.takesCalls && !status.breakerOpen && !excluding.contains(status.name)
                    && status.tools.contains { $0.name == tool }
            }.shuffled()
            let best = candidates.min { a, b in
                if a.state != b.state { return a.state == .healthy }
                return state.assigned[a.name, default: 0] < state.assigned[b.name, default: 0]
            }
            guard let best, let replica = state.replicas[best.name] else { return nil }
            state.assigned[best.name, default: 0] += 1
            return replica
        }
    }

    // MARK: From replicas

    func publish(_ status: MCPServerStatus) {
        registry.withLock { state in
            // A removed server's replica may still report on its way out.
            guard state.replicas[status.name] != nil else { return }
            let toolsChanged = state.status[status.name]?.tools != status.tools
            state.status[status.name] = status
            if toolsChanged { rebuildToolIndex(&state) }
        }
    }

    func record(_ report: MCPHealthReport) {
        healthSink?(report)
    }

    private func rebuildToolIndex(_ state: inout Registry) {
        var byGroup: [String: [String: MCPTool]] = [:]
        for status in state.status.values.sorted(by: { $0.name < $1.name }) where status.state.takesCalls {
            for tool in status.tools where byGroup[status.group]?[tool.name] == nil {
                byGroup[status.group, default: [:]][tool.name] = tool
            }
        }
        var index: [String: (group: String, tool: String)] = [:]
        var entries: [MCPToolEntry] = []
        for group in byGroup.keys.sorted() {
            for (name, tool) in byGroup[group]!.sorted(by: { $0.key < $1.key }) {
                var exposed = MCPToolNames.exposedName(group: group, tool: name)
                if index[exposed] != nil { exposed = MCPToolNames.exposedName(group: group, tool: name, forceHash: true) }
                index[exposed] = (group, name)
                entries.append(MCPToolEntry(exposedName: exposed, group: group, toolName: name, tool: tool))
            }
        }
        state.toolIndex = index
        state.entries = entries
    }
}

/// FNV-1a: a stable spread of names over loops and a short disambiguator (not for security).
func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}

/// Tool names the LLM sees. Providers accept `^[A-Za-z0-9_-]{1,64}$`, so a server's name for a tool
/// is namespaced by its group, other characters become `_`, and when that changed the name or it
/// had to be shortened, a hash of the exact original keeps two tools from ever colliding.
enum MCPToolNames {
    static let maxLength = 64

    static func exposedName(group: String, tool: String, forceHash: Bool = false) -> String {
        let raw = "\(group)__\(tool)"
        var clean = String(decoding: raw.utf8.map { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x2D || byte == 0x5F ? byte : UInt8(ascii: "_")
        }, as: UTF8.self)
        guard forceHash || clean != raw || clean.utf8.count > maxLength else { return clean }
        let suffix = "_" + String(stableHash(group + "\u{0}" + tool) & 0xFFFF_FFFF, radix: 16)
        clean = String(clean.prefix(maxLength - suffix.count))
        return clean + suffix
    }
}
