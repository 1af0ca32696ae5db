import Net

/// The Streamable HTTP transport, in both of its eras.
///
/// Every message is its own POST to the MCP endpoint, answered with one JSON document or with an
/// event stream scoped to that request (notifications first, the response last). A modern
/// (2026-07-28) request stands alone and mirrors its version, method and name into headers. A legacy
/// (2025-03-26 … 2025-11-25) session adds what that era had: the `Mcp-Session-Id` minted with the
/// `initialize` answer, a GET stream for messages the server starts (reopened with `Last-Event-ID`
/// when it drops), and a DELETE that ends the session.
///
/// Use it only on `client`'s loop.
public final class StreamableHTTPTransport: MCPTransport, MCPHTTPExchangeDelegate, @unchecked Sendable {
    // Invariant: every mutable property is touched only on `loop`; the type is Sendable only so that
    // it can be handed to that loop.

    public weak var delegate: (any MCPTransportDelegate)?
    public let kind: MCPTransportKind = .streamableHTTP

    private let loop: EventLoop
    private let client: HTTPClient
    private let url: String
    /// Operator-configured (Authorization and the like): secrets, never logged.
    private let headers: [(name: String, value: String)]
    private let connectTimeout: Duration

    private enum State { case open, closing, closed }
    private var state = State.open
    private var negotiatedVersion: String?
    /// The legacy session the server minted with its `initialize` answer.
    var sessionID: String?
    /// Every POST in flight.
    private var posts: [ObjectIdentifier: MCPHTTPExchange] = [:]
    /// Requests still owed an answer.
    private var pending: [JSONRPCID: MCPHTTPExchange] = [:]
    private var listener = Listener()
    private var deletion: MCPHTTPExchange?

    /// The legacy GET stream, and what reopening it needs.
    private struct Listener {
        var exchange: MCPHTTPExchange?
        var reopenTimer: LoopTimer?
        var lastEventID: String?
        var backoff = StreamableHTTPTransport.firstBackoff
        /// The server answered 405: it offers no such stream.
        var refused = false
    }

    /// A backstop against a connection that went silent for good; calls normally end far sooner,
    /// when the session's own timeout abandons them.
    static let requestIdleLimit: Duration = .seconds(600)
    /// A notification or a response we POST is acknowledged at once, or not at all.
    static let acknowledgementLimit: Duration = .seconds(30)
    static let firstBackoff: Duration = .milliseconds(500)
    static let maxBackoff: Duration = .seconds(10)
    static let deleteLimit: Duration = .seconds(2)

    public init(loop: EventLoop, client: HTTPClient, url: String, headers: [(name: String, value: String)],
                connectTimeout: Duration = .seconds(5)) {
        precondition(client.loop === loop, "the transport must live on its HTTP client's loop")
        self.loop = loop
        self.client = client
        self.url = url
        self.headers = headers
        self.connectTimeout = connectTimeout
    }

    deinit {
        // Dropped without `close`: end the transfers (each hops to the loop); they report to no one.
        for exchange in posts.values { exchange.transfer?.cancel() }
        listener.exchange?.transfer?.cancel()
    }

    // MARK: MCPTransport

    /// Nothing to connect: each message opens its own request.
    public func open() {}

    public func send(_ message: JSONRPCMessage, options: MCPSendOptions) {
        var requestID: JSONRPCID?
        if case .request(let id, _, _) = message { requestID = id }
        guard state == .open else {
            if let requestID { failLater(requestID, .notDelivered("transport closed")) }
            return
        }
        let modernVersion = MCPHTTPHeaders.metaVersion(of: message)
        let isInitialize = message.method == "initialize"
        var headers: [(name: String, value: String)] = [
            (MCPHTTPHeaders.contentType, "application/json"),
            (MCPHTTPHeaders.accept, "application/json, text/event-stream"),
        ]
        headers += self.headers
        if let version = modernVersion ?? (isInitialize ? nil : negotiatedVersion) {
            headers.append((MCPHTTPHeaders.protocolVersion, version))
        }
        if modernVersion != nil { headers += MCPHTTPHeaders.routing(for: message) }
        // A new `initialize` starts a new session, so it never carries the old one.
        let session = modernVersion == nil && !isInitialize ? sessionID : nil
        if let session { headers.append((MCPHTTPHeaders.sessionID, session)) }
        headers += options.extraHeaders

        var request = HTTPClientRequest(method: "POST", url: url, headers: headers, body: message.serialized(),
                                        connectTimeout: connectTimeout)
        if requestID == nil {
            request.totalTimeout = Self.acknowledgementLimit
        } else if !options.longLived {
            request.firstByteTimeout = Self.requestIdleLimit
            request.idleTimeout = Self.requestIdleLimit
        }
        let exchange = MCPHTTPExchange(requestID: requestID, method: message.method, carriedSession: session != nil,
                                       delegate: self)
        posts[ObjectIdentifier(exchange)] = exchange
        if let requestID { pending[requestID] = exchange }
        exchange.transfer = client.start(request, delegate: exchange)
    }

    public func abandon(_ id: JSONRPCID) {
        guard let exchange = pending.removeValue(forKey: id) else { return }
        posts[ObjectIdentifier(exchange)] = nil
        exchange.stop()
    }

    public func negotiated(version: String, era: MCPEra) {
        negotiatedVersion = version
        guard era == .legacy, state == .open, sessionID != nil, !listener.refused,
              listener.exchange == nil, listener.reopenTimer == nil else { return }
        // On the next turn, so that `notifications/initialized`, sent right after this, goes first.
        listener.reopenTimer = loop.schedule(at: loop.now) { [weak self] in self?.reopenListener() }
    }

    public func close(grace: Duration) {
        guard state == .open else { return }
        state = .closing
        stopTransfers()
        let waiting = pending.keys
        pending = [:]
        let session = sessionID
        sessionID = nil
        loop.schedule(at: loop.now) { [self] in
            for id in waiting { delegate?.transport(self, requestFailed: id, .mayHaveBeenDelivered("transport closed")) }
            if let session, grace > .zero {
                sendDelete(session: session, limit: min(grace, Self.deleteLimit))
            } else {
                finishClose()
            }
        }
    }

    // MARK: MCPHTTPExchangeDelegate

    func exchangeReceivedHead(_ exchange: MCPHTTPExchange) {
        if exchange.method == "initialize", exchange.isSuccess, state == .open {
            sessionID = MCPHTTPHeaders.value(MCPHTTPHeaders.sessionID, in: exchange.headers)
        }
    }

    func exchange(_ exchange: MCPHTTPExchange, received message: JSONRPCMessage) {
        guard state == .open else { return }
        var message = message
        // A server that could not read our id still answers this POST's request.
        if case .failure(nil, let error) = message, let id = exchange.requestID { message = .failure(id: id, error: error) }
        if case .response(let id, _) = message {
            pending[id] = nil
        } else if case .failure(let id?, _) = message {
            pending[id] = nil
        }
        delegate?.transport(self, didReceive: message)
    }

    func exchange(_ exchange: MCPHTTPExchange, receivedEvent event: ServerSentEvent) {
        Log.debug("MCP server sent an event of an unknown type", ["event": event.event ?? ""])
    }

    func exchange(_ exchange: MCPHTTPExchange, completedWith error: HTTPClientError?) {
        if exchange === listener.exchange {
            listenerEnded(exchange, error)
        } else if exchange === deletion {
            deletion = nil
            finishClose()
        } else if posts.removeValue(forKey: ObjectIdentifier(exchange)) != nil, state == .open {
            postEnded(exchange, error)
        }
    }

    // MARK: Answers

    private func postEnded(_ exchange: MCPHTTPExchange, _ error: HTTPClientError?) {
        if exchange.carriedSession, exchange.status == 404 {
            sessionExpired()
            return
        }
        guard let id = exchange.requestID else {
            if let error {
                Log.debug("MCP server did not acknowledge a message", ["error": "\(error)"])
            } else if !exchange.isSuccess {
                Log.debug("MCP server refused a message", ["status": String(exchange.status ?? 0)])
            }
            return
        }
        guard pending[id] === exchange else { return }
        pending[id] = nil
        if let error {
            delegate?.transport(self, requestFailed: id, .from(error))
        } else if exchange.isSuccess {
            // Legacy servers may resume such a stream from its last event id; the SDK keeps no events
            // by default, so we do not try, and the caller decides whether to ask again.
            delegate?.transport(self, requestFailed: id, .mayHaveBeenDelivered("the answer ended without a response"))
        } else {
            let status = exchange.status ?? 0
            let carried = JSONRPCError.carried(in: exchange.otherBody)
            delegate?.transport(self, didReceive: .failure(id: id, error: carried ?? .forHTTPStatus(status, body: exchange.otherBody)))
        }
    }

    /// The server forgot our session (404): whatever waits on it is failed, and the session above
    /// must start a new one.
    private func sessionExpired() {
        guard state == .open else { return }
        state = .closed
        sessionID = nil
        Log.info("MCP server no longer knows our session")
        stopTransfers()
        let waiting = pending
        pending = [:]
        for (id, exchange) in waiting {
            // A request the server had already accepted may have run before the session went away.
            let failure: MCPDeliveryFailure = exchange.isSuccess ? .mayHaveBeenDelivered("session expired") : .notDelivered("session expired")
            delegate?.transport(self, requestFailed: id, failure)
        }
        delegate?.transportDidClose(self, error: .sessionExpired)
    }

    // MARK: The legacy GET stream

    private func openListener() {
        guard let sessionID else { return }
        var headers: [(name: String, value: String)] = [(MCPHTTPHeaders.accept, "text/event-stream")]
        headers += self.headers
        headers.append((MCPHTTPHeaders.sessionID, sessionID))
        if let negotiatedVersion { headers.append((MCPHTTPHeaders.protocolVersion, negotiatedVersion)) }
        if let lastEventID = listener.lastEventID { headers.append((MCPHTTPHeaders.lastEventID, lastEventID)) }
        let exchange = MCPHTTPExchange(carriedSession: true, delegate: self)
        listener.exchange = exchange
        exchange.transfer = client.start(HTTPClientRequest(url: url, headers: headers, connectTimeout: connectTimeout),
                                         delegate: exchange)
    }

    private func listenerEnded(_ exchange: MCPHTTPExchange, _ error: HTTPClientError?) {
        listener.exchange = nil
        guard state == .open else { return }
        if let lastEventID = exchange.lastEventID { listener.lastEventID = lastEventID }
        if exchange.status == 405 {
            listener.refused = true
            Log.debug("MCP server offers no GET stream")
            return
        }
        if exchange.status == 404, sessionID != nil {
            sessionExpired()
            return
        }
        // A stream that carried events worked; only streams that keep failing back off further.
        if exchange.eventCount > 0 { listener.backoff = Self.firstBackoff }
        let delay = exchange.retryMilliseconds.map { Duration.milliseconds(min($0, 60_000)) } ?? listener.backoff
        listener.backoff = min(listener.backoff * 2, Self.maxBackoff)
        Log.debug("MCP GET stream ended; reopening", ["status": String(exchange.status ?? 0), "error": error.map { "\($0)" } ?? ""])
        listener.reopenTimer = loop.schedule(after: delay) { [weak self] in self?.reopenListener() }
    }

    private func reopenListener() {
        listener.reopenTimer = nil
        if state == .open { openListener() }
    }

    // MARK: Closing

    private func stopTransfers() {
        for exchange in posts.values { exchange.stop() }
        posts = [:]
        listener.exchange?.stop()
        listener.exchange = nil
        if let timer = listener.reopenTimer { loop.cancel(timer) }
        listener.reopenTimer = nil
    }

    /// Ends the session on the server; its answer does not matter, only that we stop waiting for it.
    private func sendDelete(session: String, limit: Duration) {
        var headers = self.headers
        headers.append((MCPHTTPHeaders.sessionID, session))
        if let negotiatedVersion { headers.append((MCPHTTPHeaders.protocolVersion, negotiatedVersion)) }
        let exchange = MCPHTTPExchange(delegate: self)
        deletion = exchange
        exchange.transfer = client.start(HTTPClientRequest(method: "DELETE", url: url, headers: headers,
                                                           connectTimeout: limit, totalTimeout: limit), delegate: exchange)
    }

    private func finishClose() {
        state = .closed
        delegate?.transportDidClose(self, error: nil)
    }

    private func failLater(_ id: JSONRPCID, _ failure: MCPDeliveryFailure) {
        loop.schedule(at: loop.now) { [weak self] in
            guard let self else { return }
            delegate?.transport(self, requestFailed: id, failure)
        }
    }
}
