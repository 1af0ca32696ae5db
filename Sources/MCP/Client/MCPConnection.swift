import Net

/// Told about a connection's life by the replica that owns it. Called on the connection's loop.
public protocol MCPConnectionDelegate: AnyObject {
    /// The server announced that its tool list changed; refetch it.
    func connectionToolsChanged(_ connection: MCPConnection)
    /// The transport ended (nil: because we closed it). Pending requests have been failed first.
    func connection(_ connection: MCPConnection, didClose error: MCPTransportError?)
}

public struct MCPConnectionOptions: Sendable {
    /// A revision to use instead of negotiating ("2025-06-18" forces the legacy handshake at that
    /// version); nil negotiates: the newest modern revision, else the newest legacy one.
    public var protocolVersion: String?
    /// Budget for the whole start: the era probe plus the handshake.
    public var initializeTimeout: Duration
    /// Default limit for requests that give none.
    public var requestTimeout: Duration
    /// How this server is called in logs.
    public var logName: String
    public var clientName: String
    public var clientVersion: String

    public init(protocolVersion: String? = nil, initializeTimeout: Duration = .seconds(10),
                requestTimeout: Duration = .seconds(60), logName: String = "mcp",
                clientName: String = "builderai", clientVersion: String = "0.1.0") {
        self.protocolVersion = protocolVersion
        self.initializeTimeout = initializeTimeout
        self.requestTimeout = requestTimeout
        self.logName = logName
        self.clientName = clientName
        self.clientVersion = clientVersion
    }
}

/// One MCP session over one transport: the era probe and handshake, request ids and their
/// timeouts, cancellation, progress, and the requests a server may send us.
///
/// It speaks both eras. A modern (2026-07-28) session carries its version and our capabilities in
/// every request's `_meta`; a legacy session starts with `initialize`. Which one a server speaks is
/// found by the probe the 2026-07-28 revision prescribes: `server/discover` first, and the legacy
/// handshake after any answer that is not positive modern evidence.
///
/// Used only on its loop. A closed connection stays closed: the replica makes a new one.
public final class MCPConnection: @unchecked Sendable {
    // Invariant: every stored property is touched only on `loop`; Sendable only so it can be handed to it.

    public enum State: Sendable, Equatable {
        case idle, connecting, ready, closed
    }

    public let loop: EventLoop
    public let options: MCPConnectionOptions
    public weak var delegate: (any MCPConnectionDelegate)?
    public private(set) var state: State = .idle
    public private(set) var serverInfo: MCPServerInfo?
    let transport: any MCPTransport

    private struct Pending {
        var method: String
        var timeout: Duration?
        var timer: LoopTimer?
        var progressKey: String?
        var onProgress: ((MCPProgress) -> Void)?
        var completion: (Result<JSONValue, MCPError>) -> Void
    }

    private var nextID: Int64 = 1
    private var pending: [JSONRPCID: Pending] = [:]
    private var progressRoutes: [String: JSONRPCID] = [:]
    private var connectCompletion: ((Result<MCPServerInfo, MCPError>) -> Void)?
    private var connectTimer: LoopTimer?
    private var listenID: JSONRPCID?

    public init(loop: EventLoop, transport: any MCPTransport, options: MCPConnectionOptions) {
        self.loop = loop
        self.transport = transport
        self.options = options
    }

    public var era: MCPEra? { serverInfo?.era }
    public var pendingRequestCount: Int { pending.count }

    // MARK: Starting

    /// Opens the transport and settles the era and version. Completes exactly once, on the loop.
    public func connect(_ completion: @escaping (Result<MCPServerInfo, MCPError>) -> Void) {
        precondition(state == .idle, "an MCPConnection connects once")
        state = .connecting
        connectCompletion = completion
        transport.delegate = self
        connectTimer = loop.schedule(after: options.initializeTimeout) { [weak self] in
            guard let self else { return }
            connectTimer = nil
            failConnect(.timeout(options.initializeTimeout), closing: true)
        }
        transport.open()
        if let pinned = options.protocolVersion, !MCPProtocolVersion.isModern(pinned) {
            initialize(version: pinned)
        } else {
            discover(version: options.protocolVersion ?? MCPProtocolVersion.newest, retried: false)
        }
    }

    /// The probe. Only a DiscoverResult naming a modern version, or UnsupportedProtocolVersion naming
    /// one, is modern evidence; every other outcome (method not found, an HTTP 4xx without a modern
    /// error, silence until the probe's share of the budget) means a legacy server.
    private func discover(version: String, retried: Bool) {
        let probeTimeout = options.initializeTimeout / 2
        sendRequest("server/discover", params: [:], meta: modernMeta(version), timeout: probeTimeout,
                    options: MCPSendOptions(), onProgress: nil) { [weak self] result in
            guard let self, state == .connecting else { return }
            switch result {
            case .success(let value):
                let offered = value["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
                guard let chosen = MCPProtocolVersion.modern.first(where: offered.contains) else {
                    return fallBackToLegacy(reason: "server/discover named no modern version")
                }
                if chosen != version, !retried { return discover(version: chosen, retried: true) }
                let info = MCPServerInfo(name: value["serverInfo"]?["name"]?.stringValue ?? "",
                                         version: value["serverInfo"]?["version"]?.stringValue ?? "",
                                         protocolVersion: chosen, era: .modern,
                                         capabilities: value["capabilities"] ?? .object([:]),
                                         instructions: value["instructions"]?.stringValue)
                ready(info)
            case .failure(.server(let error)) where error.code == JSONRPCError.unsupportedProtocolVersion:
                let supported = error.data?["supported"]?.arrayValue?.compactMap(\.stringValue) ?? []
                if let mutual = MCPProtocolVersion.modern.first(where: supported.contains), !retried, mutual != version {
                    return discover(version: mutual, retried: true)
                }
                if supported.contains(where: MCPProtocolVersion.legacy.contains) || supported.isEmpty {
                    return fallBackToLegacy(reason: "modern version refused")
                }
                failConnect(.unavailable("the server supports only \(supported.joined(separator: ", ")), none of which BuilderAI speaks"),
                            closing: true)
            case .failure(.server), .failure(.timeout):
                fallBackToLegacy(reason: "\(result)")
            case .failure(let error):
                failConnect(error, closing: true)
            }
        }
    }

    private func fallBackToLegacy(reason: String) {
        if let pinned = options.protocolVersion, MCPProtocolVersion.isModern(pinned) {
            return failConnect(.unavailable("configured for \(pinned), but the server does not speak it (\(reason))"), closing: true)
        }
        Log.debug("mcp server speaks a legacy revision", ["server": options.logName, "probe": reason])
        initialize(version: MCPProtocolVersion.newestLegacy)
    }

    private func initialize(version: String) {
        let params: [String: JSONValue] = [
            "protocolVersion": .string(version),
            "capabilities": .object([:]),
            "clientInfo": clientInfo,
        ]
        // Whatever the probe left over counts against the same start budget (connectTimer).
        sendRequest("initialize", params: params, meta: nil, timeout: nil, options: MCPSendOptions(),
                    onProgress: nil) { [weak self] result in
            guard let self, state == .connecting else { return }
            switch result {
            case .success(let value):
                guard let chosen = value["protocolVersion"]?.stringValue else {
                    return failConnect(.invalidResponse("initialize result has no protocolVersion"), closing: true)
                }
                guard MCPProtocolVersion.legacy.contains(chosen) else {
                    return failConnect(.unavailable("the server chose protocol version \(chosen), which BuilderAI does not speak"),
                                       closing: true)
                }
                let info = MCPServerInfo(name: value["serverInfo"]?["name"]?.stringValue ?? "",
                                         version: value["serverInfo"]?["version"]?.stringValue ?? "",
                                         protocolVersion: chosen, era: .legacy,
                                         capabilities: value["capabilities"] ?? .object([:]),
                                         instructions: value["instructions"]?.stringValue)
                transport.negotiated(version: chosen, era: .legacy)
                transport.send(.notification(method: "notifications/initialized", params: nil), options: MCPSendOptions())
                ready(info)
            case .failure(let error):
                failConnect(error, closing: true)
            }
        }
    }

    private func ready(_ info: MCPServerInfo) {
        if let connectTimer { loop.cancel(connectTimer) }
        connectTimer = nil
        serverInfo = info
        state = .ready
        if info.era == .modern {
            transport.negotiated(version: info.protocolVersion, era: .modern)
            if info.announcesToolChanges { listenForToolChanges() }
        }
        Log.info("mcp session ready", ["server": options.logName, "protocol": info.protocolVersion,
                                       "era": info.era.rawValue, "peer": "\(info.name) \(info.version)"])
        let completion = connectCompletion
        connectCompletion = nil
        completion?(.success(info))
    }

    private func failConnect(_ error: MCPError, closing: Bool) {
        guard let completion = connectCompletion else { return }
        connectCompletion = nil
        if let connectTimer { loop.cancel(connectTimer) }
        connectTimer = nil
        if closing { close(grace: .milliseconds(500)) }
        completion(.failure(error))
    }

    /// Modern servers deliver list changes only on a `subscriptions/listen` stream we ask for.
    private func listenForToolChanges() {
        listenID = sendRequest("subscriptions/listen",
                               params: ["notifications": .object(["toolsListChanged": .bool(true)])],
                               meta: modernMeta(serverInfo?.protocolVersion ?? MCPProtocolVersion.newest),
                               timeout: nil, options: MCPSendOptions(longLived: true), onProgress: nil) { [weak self] result in
            guard let self else { return }
            listenID = nil
            if case .failure(let error) = result, state == .ready {
                Log.debug("mcp change subscription ended", ["server": options.logName, "error": error.description])
            }
        }
    }

    // MARK: Requests

    /// Sends a request in the session's era and completes with its `result`, on the loop.
    /// `timeout` nil uses the default; the server is told to stop when the time runs out.
    @discardableResult
    public func request(_ method: String, params: [String: JSONValue] = [:], timeout: Duration? = nil,
                        options sendOptions: MCPSendOptions = MCPSendOptions(),
                        onProgress: ((MCPProgress) -> Void)? = nil,
                        completion: @escaping (Result<JSONValue, MCPError>) -> Void) -> JSONRPCID? {
        guard state == .ready, let info = serverInfo else {
            let reason = state == .closed ? "the connection is closed" : "the session is not ready"
            loop.schedule(at: loop.now) { completion(.failure(.notDelivered(reason))) }
            return nil
        }
        let meta = info.era == .modern ? modernMeta(info.protocolVersion) : nil
        return sendRequest(method, params: params, meta: meta, timeout: timeout ?? self.options.requestTimeout,
                           options: sendOptions, onProgress: onProgress, completion: completion)
    }

    /// Gives up on a request: its completion gets `.cancelled`, and the server is told to stop.
    public func cancel(_ id: JSONRPCID, reason: String = "cancelled by the caller") {
        abandon(id, with: .cancelled, reason: reason)
    }

    @discardableResult
    private func sendRequest(_ method: String, params: [String: JSONValue], meta: [String: JSONValue]?,
                             timeout: Duration?, options sendOptions: MCPSendOptions,
                             onProgress: ((MCPProgress) -> Void)?,
                             completion: @escaping (Result<JSONValue, MCPError>) -> Void) -> JSONRPCID {
        let id = JSONRPCID.number(nextID)
        nextID += 1
        var params = params
        var metaObject = meta ?? [:]
        var progressKey: String?
        if onProgress != nil {
            let token = JSONValue.number(Double(nextID - 1))
            metaObject["progressToken"] = token
            progressKey = token.serializedString
            progressRoutes[token.serializedString] = id
        }
        if !metaObject.isEmpty { params["_meta"] = .object(metaObject) }
        var entry = Pending(method: method, timeout: timeout, progressKey: progressKey, onProgress: onProgress,
                            completion: completion)
        if let timeout {
            entry.timer = loop.schedule(after: timeout) { [weak self] in
                self?.abandon(id, with: .timeout(timeout), reason: "timed out after \(timeout)")
            }
        }
        pending[id] = entry
        transport.send(.request(id: id, method: method, params: params.isEmpty ? nil : .object(params)), options: sendOptions)
        return id
    }

    private func abandon(_ id: JSONRPCID, with error: MCPError, reason: String) {
        guard let entry = pending[id] else { return }
        transport.abandon(id)
        // Closing the response stream is the cancellation on modern Streamable HTTP; everywhere else
        // the server needs the notification. `initialize` must never be cancelled (2025-11-25).
        let streamIsCancellation = transport.kind == .streamableHTTP && (serverInfo?.era ?? .modern) == .modern
        if !streamIsCancellation, entry.method != "initialize", state != .closed {
            var params: [String: JSONValue] = ["requestId": id.json, "reason": .string(reason)]
            if serverInfo?.era == .modern, let version = serverInfo?.protocolVersion { params["_meta"] = .object(modernMeta(version)) }
            transport.send(.notification(method: "notifications/cancelled", params: .object(params)), options: MCPSendOptions())
        }
        finish(id, .failure(error))
    }

    private func finish(_ id: JSONRPCID, _ result: Result<JSONValue, MCPError>) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        if let timer = entry.timer { loop.cancel(timer) }
        if let key = entry.progressKey { progressRoutes.removeValue(forKey: key) }
        entry.completion(result)
    }

    private var clientInfo: JSONValue {
        .object(["name": .string(options.clientName), "version": .string(options.clientVersion)])
    }

    private func modernMeta(_ version: String) -> [String: JSONValue] {
        [
            "io.modelcontextprotocol/protocolVersion": .string(version),
            "io.modelcontextprotocol/clientCapabilities": .object([:]),
            "io.modelcontextprotocol/clientInfo": clientInfo,
        ]
    }

    // MARK: Closing

    /// Ends the session. Requests still waiting were sent and may have run, so they fail with
    /// `.mayHaveBeenDelivered` (`.cancelled` is kept for callers who gave up themselves). The
    /// delegate hears `didClose(nil)`.
    public func close(grace: Duration = .seconds(2)) {
        guard state != .closed else { return }
        state = .closed
        for id in Array(pending.keys) {
            transport.abandon(id)
            finish(id, .failure(.mayHaveBeenDelivered("the session was closed while the request was running")))
        }
        transport.close(grace: grace)
    }

    // MARK: Incoming messages

    private func handle(_ message: JSONRPCMessage) {
        switch message {
        case .response(let id, let result):
            if result["resultType"]?.stringValue == "input_required" {
                // MRTR: the server wants sampling, elicitation or roots, none of which we offer.
                return finish(id, .failure(.invalidResponse("the server asked for client input (\(result["inputRequests"]?.serializedString.prefix(200) ?? "")), which BuilderAI does not provide")))
            }
            finish(id, .success(result))
        case .failure(let id?, let error):
            finish(id, .failure(.server(error)))
        case .failure(nil, let error):
            Log.warning("mcp server reported an error without an id", ["server": options.logName, "error": error.description])
        case .request(let id, let method, _):
            answer(id, method)
        case .notification(let method, let params):
            notify(method, params)
        }
    }

    /// What a server may ask of us. We declare no client capabilities, so only `ping` and an empty
    /// `roots/list` (some servers ask regardless) are answered; anything else is "method not found".
    private func answer(_ id: JSONRPCID, _ method: String) {
        let reply: JSONRPCMessage
        switch method {
        case "ping": reply = .response(id: id, result: .object([:]))
        case "roots/list": reply = .response(id: id, result: .object(["roots": .array([])]))
        default:
            reply = .failure(id: id, error: JSONRPCError(code: JSONRPCError.methodNotFound,
                                                         message: "BuilderAI does not offer \(method)"))
        }
        transport.send(reply, options: MCPSendOptions())
    }

    private func notify(_ method: String, _ params: JSONValue?) {
        switch method {
        case "notifications/progress":
            guard let token = params?["progressToken"], let id = progressRoutes[token.serializedString],
                  let progress = params?["progress"].flatMap(Self.number) else { return }
            if let timer = pending[id]?.timer, let timeout = pending[id]?.timeout {
                // Progress shows the server is working: the deadline restarts from now, as the
                // spec's timeout rules allow.
                loop.reschedule(timer, at: loop.now &+ Self.nanoseconds(timeout))
            }
            pending[id]?.onProgress?(MCPProgress(progress: progress, total: params?["total"].flatMap(Self.number),
                                                 message: params?["message"]?.stringValue))
        case "notifications/tools/list_changed":
            delegate?.connectionToolsChanged(self)
        case "notifications/message":
            let level = params?["level"]?.stringValue ?? "info"
            let text = params?["data"].map { $0.stringValue ?? $0.serializedString } ?? ""
            let fields: KeyValuePairs<String, String> = ["server": options.logName, "level": level, "data": String(text.prefix(2000))]
            switch level {
            case "debug", "info", "notice": Log.debug("mcp server log", fields)
            case "warning": Log.warning("mcp server log", fields)
            default: Log.error("mcp server log", fields)
            }
        default:
            Log.debug("mcp notification", ["server": options.logName, "method": method])
        }
    }

    private static func number(_ value: JSONValue) -> Double? {
        if case .number(let number) = value { return number }
        return nil
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}

extension MCPConnection: MCPTransportDelegate {
    public func transport(_ transport: any MCPTransport, didReceive message: JSONRPCMessage) {
        handle(message)
    }

    public func transport(_ transport: any MCPTransport, requestFailed id: JSONRPCID, _ failure: MCPDeliveryFailure) {
        switch failure {
        case .notDelivered(let reason): finish(id, .failure(.notDelivered(reason)))
        case .mayHaveBeenDelivered(let reason): finish(id, .failure(.mayHaveBeenDelivered(reason)))
        }
    }

    public func transportDidClose(_ transport: any MCPTransport, error: MCPTransportError?) {
        let wasClosed = state == .closed
        state = .closed
        for id in Array(pending.keys) {
            finish(id, .failure(.mayHaveBeenDelivered(error?.description ?? "the connection closed")))
        }
        failConnect(.unavailable(error?.description ?? "the connection closed during the handshake"), closing: false)
        if !wasClosed || error != nil { Log.debug("mcp transport closed", ["server": options.logName, "error": error?.description ?? "none"]) }
        delegate?.connection(self, didClose: error)
    }
}
