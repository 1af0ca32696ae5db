import Glibc
import Net

/// One configured server and the session to it, on the loop that owns it: connects, lists tools,
/// checks health, reconnects with backoff after failures, and takes calls routed to it.
///
/// It publishes a `MCPServerStatus` to its manager after every change; routing reads those.
final class MCPReplica: @unchecked Sendable {
    // Invariant: everything except `definition`, `loop` and `manager` is touched only on `loop`.

    let definition: MCPServerDefinition
    let loop: EventLoop
    private unowned let manager: MCPManager
    private let httpClient: HTTPClient

    private(set) var state: MCPServerState = .stopped
    private var connection: MCPConnection?
    private var transport: (any MCPTransport)?
    private var tools: [MCPTool] = []
    private var breaker = CircuitBreaker(failureThreshold: 3, cooldown: .seconds(10))
    private var latencyMs: Double?
    private var failedChecks = 0
    private var reconnectAttempt = 0
    private var restarts = 0
    private var everConnected = false
    private var lastError: String?
    private var recentEnds: [UInt64] = []
    private var recentChecks: [MCPHealthReport] = []
    private var inFlight = 0
    private var healthTimer: LoopTimer?
    private var reconnectTimer: LoopTimer?
    private var running = false
    private var probing = false
    private var restartRequested = false
    private var closeCompletions: [() -> Void] = []

    /// A crash loop: this many unexpected ends within `crashWindow` park the server as down, retried
    /// only at the longest backoff.
    static let crashLoopCount = 5
    static let crashWindow: Duration = .seconds(60)
    static let baseBackoff: Duration = .milliseconds(250)
    static let maxBackoff: Duration = .seconds(10)
    static let crashLoopBackoff: Duration = .seconds(60)
    /// Health checks failing in a row before the session is dropped and rebuilt.
    static let failedChecksBeforeReconnect = 3

    init(definition: MCPServerDefinition, loop: EventLoop, manager: MCPManager, httpClient: HTTPClient) {
        self.definition = definition
        self.loop = loop
        self.manager = manager
        self.httpClient = httpClient
    }

    /// The stdio child's pid, while there is one (tests kill it to simulate a crash).
    var processID: Int32? { (transport as? StdioTransport)?.pid }

    // MARK: Life cycle

    func start() {
        guard !running else { return }
        running = true
        connect()
    }

    /// Ends the session and stops reconnecting; `completion` runs once the transport is closed.
    func stop(grace: Duration, _ completion: @escaping () -> Void) {
        running = false
        cancelTimers()
        guard let connection else {
            setState(.stopped, error: nil)
            return completion()
        }
        closeCompletions.append(completion)
        connection.close(grace: grace)
    }

    /// Drops the session and connects again at once (an admin's restart button).
    func restart() {
        guard running else { return start() }
        reconnectAttempt = 0
        cancelTimers()
        if let connection {
            restartRequested = true
            connection.close(grace: .seconds(2))   // didClose connects again
        } else {
            connect()
        }
    }

    private func connect() {
        guard running, connection == nil else { return }
        setState(.connecting, error: lastError)
        let transport = makeTransport()
        let options = MCPConnectionOptions(protocolVersion: definition.protocolVersion,
                                           initializeTimeout: definition.initializeTimeout,
                                           requestTimeout: definition.callTimeout, logName: definition.name)
        let connection = MCPConnection(loop: loop, transport: transport, options: options)
        connection.delegate = self
        self.transport = transport
        self.connection = connection
        connection.connect { [weak self, weak connection] result in
            guard let self, let connection, self.connection === connection else { return }
            switch result {
            case .success:
                refreshTools(after: connection, firstTime: true)
            case .failure(let error):
                lastError = "start failed: \(error)"
                Log.warning("mcp server did not start", ["server": definition.name, "error": error.description])
                // The connection closes itself; its didClose schedules the next attempt.
            }
        }
    }

    private func makeTransport() -> any MCPTransport {
        switch definition.endpoint {
        case .stdio(let executable, let arguments, let environment, let workingDirectory):
            let options = ChildProcessOptions(executable: executable, arguments: arguments, environment: environment,
                                              workingDirectory: workingDirectory)
            return StdioTransport(loop: loop, process: options, logName: definition.name)
        case .streamableHTTP(let url, let headers):
            return StreamableHTTPTransport(loop: loop, client: httpClient, url: url,
                                           headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        case .sse(let url, let headers):
            return SSETransport(loop: loop, client: httpClient, url: url,
                                headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
    }

    private func refreshTools(after connection: MCPConnection, firstTime: Bool) {
        connection.listTools { [weak self, weak connection] result in
            guard let self, let connection, self.connection === connection else { return }
            switch result {
            case .success(let listed):
                tools = usableTools(listed)
                if firstTime {
                    if everConnected { restarts += 1 }
                    everConnected = true
                    reconnectAttempt = 0
                    failedChecks = 0
                    breaker = CircuitBreaker(failureThreshold: breaker.failureThreshold, cooldown: breaker.cooldown)
                    setState(.healthy, error: nil)
                    scheduleHealthCheck()
                } else {
                    publish()
                }
            case .failure(let error):
                lastError = "tools/list failed: \(error)"
                if firstTime { connection.close(grace: .seconds(1)) } else { publish() }
            }
        }
    }

    /// Drops tools the spec says a Streamable HTTP client must refuse (bad `x-mcp-header`), and
    /// duplicates a careless server lists twice.
    private func usableTools(_ listed: [MCPTool]) -> [MCPTool] {
        var seen: Set<String> = []
        return listed.filter { tool in
            guard seen.insert(tool.name).inserted else { return false }
            if definition.transportKind == .streamableHTTP, let problem = MCPParameterHeaders.problem(schema: tool.inputSchema) {
                Log.warning("mcp tool left out", ["server": definition.name, "tool": tool.name, "reason": problem])
                return false
            }
            return true
        }
    }

    private func scheduleReconnect(after error: MCPTransportError?) {
        guard running else { return }
        let now = loop.now
        var delay: Duration
        if error == .sessionExpired {
            delay = .zero
        } else {
            // Only a process that keeps dying is a crash loop; an HTTP server that refuses
            // connections is simply down, and is retried on the ordinary backoff.
            if definition.transportKind == .stdio {
                recentEnds.append(now)
                recentEnds.removeAll { now &- $0 > MCPConnection.nanoseconds(Self.crashWindow) }
            }
            if recentEnds.count >= Self.crashLoopCount {
                delay = Self.crashLoopBackoff
                Log.error("mcp server is in a crash loop; marked down", ["server": definition.name,
                                                                          "retry_in_s": String(Int(Self.crashLoopBackoff.components.seconds))])
            } else {
                let cap = min(Self.baseBackoff * (1 << min(reconnectAttempt, 16)), Self.maxBackoff)
                // Full jitter, at least a quarter of the cap, so replicas restarted together spread out.
                delay = cap * Double.random(in: 0.25..<1)
            }
            reconnectAttempt += 1
        }
        setState(.down, error: lastError ?? error?.description)
        reconnectTimer = loop.schedule(after: delay) { [weak self] in
            guard let self else { return }
            reconnectTimer = nil
            connect()
        }
    }

    private func cancelTimers() {
        if let healthTimer { loop.cancel(healthTimer) }
        if let reconnectTimer { loop.cancel(reconnectTimer) }
        healthTimer = nil
        reconnectTimer = nil
    }

    // MARK: Health

    private func scheduleHealthCheck() {
        if let healthTimer { loop.cancel(healthTimer) }
        healthTimer = loop.schedule(after: definition.healthInterval) { [weak self] in
            guard let self else { return }
            healthTimer = nil
            checkHealth()
        }
    }

    /// Runs a health check now (the timer's tick; tests call it to avoid waiting).
    func checkHealth() {
        guard let connection, connection.state == .ready, !probing else { return }
        probing = true
        let started = loop.now
        connection.probe(timeout: definition.healthTimeout) { [weak self, weak connection] result in
            guard let self else { return }
            probing = false
            guard let connection, self.connection === connection else { return }
            let elapsed = Double(loop.now &- started) / 1_000_000
            switch result {
            case .success:
                failedChecks = 0
                latencyMs = latencyMs.map { $0 * 0.7 + elapsed * 0.3 } ?? elapsed
                let slow = elapsed > Double(MCPConnection.nanoseconds(definition.healthTimeout)) / 2_000_000
                setState(slow ? .degraded : .healthy, error: slow ? "slow health check (\(Int(elapsed)) ms)" : nil,
                         latency: elapsed)
            case .failure(let error):
                failedChecks += 1
                lastError = "health check failed: \(error)"
                // A probe that could not even be delivered (connection refused, process gone) means
                // the server is down, not slow: rebuild the session now instead of after three.
                let unreachable: Bool
                if case .notDelivered = error { unreachable = true } else { unreachable = false }
                if unreachable || failedChecks >= Self.failedChecksBeforeReconnect {
                    Log.warning("mcp server failed its health checks; reconnecting", ["server": definition.name])
                    connection.close(grace: .seconds(1))
                    return
                }
                setState(.degraded, error: lastError)
            }
            scheduleHealthCheck()
        }
    }

    private func setState(_ newState: MCPServerState, error: String?, latency: Double? = nil) {
        let changed = newState != state
        state = newState
        if let error { lastError = error } else if newState == .healthy { lastError = nil }
        if changed || latency != nil {
            let report = MCPHealthReport(server: definition.name, at: Self.unixMilliseconds(), state: newState,
                                         latencyMs: latency, error: newState == .healthy ? nil : lastError)
            recentChecks.append(report)
            let hourAgo = report.at - 3_600_000
            if let first = recentChecks.first, first.at < hourAgo { recentChecks.removeAll { $0.at < hourAgo } }
            if recentChecks.count > 4_000 { recentChecks.removeFirst(recentChecks.count - 4_000) }
            manager.record(report)
        }
        publish()
    }

    private func publish() {
        let info = connection?.serverInfo
        manager.publish(MCPServerStatus(
            name: definition.name, group: definition.group, transport: definition.transportKind, state: state,
            protocolVersion: info?.protocolVersion, era: info?.era, serverName: info?.name,
            tools: state.takesCalls ? tools : [], latencyMs: latencyMs, inFlight: inFlight,
            breakerOpen: !breakerAllowsPeek(), restarts: restarts, crashLoop: recentEnds.count >= Self.crashLoopCount,
            lastError: lastError, recentChecks: recentChecks))
    }

    private func breakerAllowsPeek() -> Bool {
        if case .open(let until) = breaker.state { return loop.now >= until }
        return true
    }

    static func unixMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    // MARK: Calls

    /// Runs one tool call here. `.notDelivered` means the manager may try another replica.
    func call(tool name: String, arguments: JSONValue, timeout: Duration?, onProgress: ((MCPProgress) -> Void)?,
              started: (JSONRPCID?, MCPConnection?) -> Void,
              completion: @escaping (Result<MCPToolResult, MCPError>) -> Void) {
        guard let connection, connection.state == .ready, state.takesCalls else {
            started(nil, nil)
            return completion(.failure(.notDelivered("\(definition.name) is \(state.rawValue)")))
        }
        guard breaker.allowsCall(now: loop.now) else {
            started(nil, nil)
            return completion(.failure(.notDelivered("\(definition.name) is failing (circuit open)")))
        }
        let tool = tools.first { $0.name == name }
        inFlight += 1
        let limit = definition.maxResultBytes
        let id = connection.callTool(name: name, arguments: arguments, timeout: timeout ?? definition.callTimeout,
                                     tool: tool, onProgress: onProgress) { [weak self] result in
            guard let self else { return completion(result) }
            inFlight -= 1
            // Publishing costs a snapshot under the registry lock: only when routing must learn
            // something (a failure, a breaker that opened or closed), not per successful call.
            let wasOpen = !breakerAllowsPeek()
            switch result {
            case .success:
                breaker.recordSuccess()
                if wasOpen { publish() }
            case .failure(let error):
                if error.countsAgainstServer { breaker.recordFailure(now: loop.now) } else { breaker.recordNeutralOutcome() }
                if case .notDelivered = error {} else { lastError = "call \(name) failed: \(error)" }
                publish()
                // A transport failure is news about the server: check it now, not at the next tick.
                if error.countsAgainstServer { checkHealth() }
            }
            completion(result.map { MCPResultLimit.apply($0, maxBytes: limit) })
        }
        started(id, connection)
    }
}

extension MCPReplica: MCPConnectionDelegate {
    func connectionToolsChanged(_ connection: MCPConnection) {
        guard self.connection === connection else { return }
        refreshTools(after: connection, firstTime: false)
    }

    func connection(_ connection: MCPConnection, didClose error: MCPTransportError?) {
        guard self.connection === connection else { return }
        self.connection = nil
        transport = nil
        if let healthTimer { loop.cancel(healthTimer) }
        healthTimer = nil
        if !closeCompletions.isEmpty || !running {
            setState(.stopped, error: nil)
            let completions = closeCompletions
            closeCompletions.removeAll()
            for completion in completions { completion() }
            return
        }
        if restartRequested {
            restartRequested = false
            return connect()
        }
        if let error { lastError = error.description }
        scheduleReconnect(after: error)
    }
}

extension MCPReplica {
    /// Runs one request on the live session (resources, prompts); `.unavailable` without one.
    func withSession<T>(_ body: (MCPConnection, @escaping (Result<T, MCPError>) -> Void) -> Void,
                        completion: @escaping (Result<T, MCPError>) -> Void) {
        guard let connection, connection.state == .ready else {
            return completion(.failure(.unavailable("\(definition.name) is \(state.rawValue)")))
        }
        body(connection, completion)
    }
}
