import Net

/// The legacy HTTP+SSE transport of protocol 2024-11-05: one long GET stream carries everything the
/// server sends, and each of our messages is a POST to the endpoint the stream announced first.
///
/// The POST only acknowledges (202); answers arrive on the stream, so a request is settled by a
/// `message` event with its id, and a stream that breaks takes every unanswered request with it.
///
/// Use it only on `client`'s loop.
public final class SSETransport: MCPTransport, MCPHTTPExchangeDelegate, @unchecked Sendable {
    // Invariant: every mutable property is touched only on `loop`; the type is Sendable only so that
    // it can be handed to that loop.

    public weak var delegate: (any MCPTransportDelegate)?
    public let kind: MCPTransportKind = .sse

    private let loop: EventLoop
    private let client: HTTPClient
    private let url: String
    /// Operator-configured (Authorization and the like): secrets, never logged.
    private let headers: [(name: String, value: String)]
    private let connectTimeout: Duration

    private enum State { case idle, connecting, ready(endpoint: String), closed }
    private var state = State.idle
    private var stream: MCPHTTPExchange?
    private var endpointTimer: LoopTimer?
    /// Messages sent before the endpoint was known, in order.
    private var queued: [(message: JSONRPCMessage, options: MCPSendOptions)] = []
    /// POSTs in flight (they only wait for the 202).
    private var posts: [ObjectIdentifier: MCPHTTPExchange] = [:]
    /// Requests POSTed and not yet answered on the stream.
    private var pending: Set<JSONRPCID> = []
    private var negotiatedVersion: String?

    /// How long the server may take to announce its endpoint once connected.
    static let endpointGrace: Duration = .seconds(5)
    /// The POST is acknowledged at once; the answer takes the stream.
    static let acknowledgementLimit: Duration = .seconds(30)

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
        stream?.transfer?.cancel()
        for exchange in posts.values { exchange.transfer?.cancel() }
    }

    // MARK: MCPTransport

    public func open() {
        guard case .idle = state else { return }
        state = .connecting
        let exchange = MCPHTTPExchange(delegate: self)
        stream = exchange
        let request = HTTPClientRequest(url: url, headers: [(MCPHTTPHeaders.accept, "text/event-stream")] + headers,
                                        connectTimeout: connectTimeout)
        exchange.transfer = client.start(request, delegate: exchange)
        endpointTimer = loop.schedule(after: connectTimeout + Self.endpointGrace) { [weak self] in
            self?.endpointTimer = nil
            self?.end(.unavailable("no endpoint event"))
        }
    }

    public func send(_ message: JSONRPCMessage, options: MCPSendOptions) {
        switch state {
        case .idle, .connecting:
            queued.append((message, options))
        case .ready(let endpoint):
            post(message, options: options, to: endpoint)
        case .closed:
            guard case .request(let id, _, _) = message else { return }
            loop.schedule(at: loop.now) { [weak self] in
                guard let self else { return }
                delegate?.transport(self, requestFailed: id, .notDelivered("transport closed"))
            }
        }
    }

    public func abandon(_ id: JSONRPCID) {
        queued.removeAll { $0.message.id == id && $0.message.method != nil }
        guard pending.remove(id) != nil else { return }
        for (key, exchange) in posts where exchange.requestID == id {
            posts[key] = nil
            exchange.stop()
        }
    }

    /// Only remembered: revisions from 2025-06-18 on name themselves in a header, older ones need nothing.
    public func negotiated(version: String, era: MCPEra) {
        negotiatedVersion = version
    }

    public func close(grace: Duration) {
        if case .closed = state { return }
        end(nil)
    }

    // MARK: MCPHTTPExchangeDelegate

    func exchangeReceivedHead(_ exchange: MCPHTTPExchange) {}

    func exchange(_ exchange: MCPHTTPExchange, received message: JSONRPCMessage) {
        guard exchange === stream, case .ready = state else { return }
        if case .response(let id, _) = message {
            pending.remove(id)
        } else if case .failure(let id?, _) = message {
            pending.remove(id)
        }
        delegate?.transport(self, didReceive: message)
    }

    func exchange(_ exchange: MCPHTTPExchange, receivedEvent event: ServerSentEvent) {
        guard exchange === stream, event.event == "endpoint" else {
            Log.debug("MCP server sent an event of an unknown type", ["event": event.event ?? ""])
            return
        }
        guard case .connecting = state else {
            Log.debug("MCP server announced a second endpoint; keeping the first")
            return
        }
        guard let endpoint = Self.resolve(endpoint: event.data, against: url) else {
            end(.unavailable("the endpoint event names another origin or no URL"))
            return
        }
        if let endpointTimer { loop.cancel(endpointTimer) }
        endpointTimer = nil
        state = .ready(endpoint: endpoint)
        let waiting = queued
        queued = []
        for (message, options) in waiting {
            guard case .ready = state else { return }
            post(message, options: options, to: endpoint)
        }
    }

    func exchange(_ exchange: MCPHTTPExchange, completedWith error: HTTPClientError?) {
        if exchange === stream {
            stream = nil
            let reason = error.map { "\($0)" } ?? exchange.status.map { $0 == 200 ? "the stream ended" : "HTTP \($0)" } ?? "no answer"
            if case .ready = state {
                end(.lost(reason))
            } else {
                end(.unavailable(reason))
            }
            return
        }
        guard posts.removeValue(forKey: ObjectIdentifier(exchange)) != nil, case .ready = state else { return }
        guard let id = exchange.requestID else {
            if let error { Log.debug("MCP server did not acknowledge a message", ["error": "\(error)"]) }
            return
        }
        guard pending.contains(id) else { return }
        if let error {
            pending.remove(id)
            delegate?.transport(self, requestFailed: id, .from(error))
        } else if !exchange.isSuccess {
            pending.remove(id)
            let status = exchange.status ?? 0
            let carried = JSONRPCError.carried(in: exchange.otherBody)
            delegate?.transport(self, didReceive: .failure(id: id, error: carried ?? .forHTTPStatus(status, body: exchange.otherBody)))
        }
    }

    // MARK: Internals

    private func post(_ message: JSONRPCMessage, options: MCPSendOptions, to endpoint: String) {
        var headers: [(name: String, value: String)] = [(MCPHTTPHeaders.contentType, "application/json")]
        headers += self.headers
        if let negotiatedVersion, negotiatedVersion >= "2025-06-18" {
            headers.append((MCPHTTPHeaders.protocolVersion, negotiatedVersion))
        }
        headers += options.extraHeaders
        var requestID: JSONRPCID?
        if case .request(let id, _, _) = message { requestID = id }
        let exchange = MCPHTTPExchange(requestID: requestID, method: message.method, delegate: self)
        posts[ObjectIdentifier(exchange)] = exchange
        if let requestID { pending.insert(requestID) }
        let request = HTTPClientRequest(method: "POST", url: endpoint, headers: headers, body: message.serialized(),
                                        connectTimeout: connectTimeout, totalTimeout: Self.acknowledgementLimit)
        exchange.transfer = client.start(request, delegate: exchange)
    }

    /// Stops everything and settles every request; nil error for a `close` we asked for.
    private func end(_ error: MCPTransportError?) {
        if case .closed = state { return }
        state = .closed
        if let endpointTimer { loop.cancel(endpointTimer) }
        endpointTimer = nil
        stream?.stop()
        stream = nil
        for exchange in posts.values { exchange.stop() }
        posts = [:]
        let reason = error?.description ?? "transport closed"
        let unsent = queued.compactMap { entry -> JSONRPCID? in
            if case .request(let id, _, _) = entry.message { return id }
            return nil
        }
        queued = []
        let waiting = pending
        pending = []
        // Settled on the next turn: `close` and `open` must not call back from inside themselves.
        loop.schedule(at: loop.now) { [self] in
            for id in unsent { delegate?.transport(self, requestFailed: id, .notDelivered(reason)) }
            for id in waiting { delegate?.transport(self, requestFailed: id, .mayHaveBeenDelivered(reason)) }
            delegate?.transportDidClose(self, error: error)
        }
    }

    // MARK: The endpoint URL

    /// Where the `endpoint` event's URI points, resolved against the stream's URL: absolute paths and
    /// relative references keep the stream's origin, and an absolute URL must name that origin, so a
    /// server cannot send our configured headers elsewhere.
    static func resolve(endpoint raw: String, against base: String) -> String? {
        let endpoint = MCPHTTPHeaders.trimmed(raw)
        guard !endpoint.isEmpty, !endpoint.contains(where: { $0 == "\n" || $0 == "\r" }),
              let (baseOrigin, basePath) = split(base) else { return nil }
        if endpoint.hasPrefix("/") && !endpoint.hasPrefix("//") { return baseOrigin + endpoint }
        let absolute = endpoint.hasPrefix("//") ? String(baseOrigin.prefix { $0 != ":" }) + ":" + endpoint : endpoint
        if let (origin, path) = split(absolute) {
            guard comparable(origin) == comparable(baseOrigin) else { return nil }
            return baseOrigin + (path.isEmpty ? "/" : path)
        }
        // A relative path: next to the stream's own path.
        let directory = basePath.prefix { $0 != "?" && $0 != "#" }
        let cut = directory.lastIndex(of: "/").map { directory[...$0] } ?? "/"
        return baseOrigin + cut + endpoint
    }

    /// "scheme://authority" and the rest ("/path?query"), or nil when `url` is not absolute.
    private static func split(_ url: String) -> (origin: String, rest: String)? {
        guard let colon = url.firstIndex(of: ":") else { return nil }
        let scheme = url[..<colon]
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }),
              url[colon...].hasPrefix("://") else { return nil }
        let authorityStart = url.index(colon, offsetBy: 3)
        let authorityEnd = url[authorityStart...].firstIndex { "/?#".contains($0) } ?? url.endIndex
        return (String(url[..<authorityEnd]), String(url[authorityEnd...]))
    }

    /// An origin from `split` as compared: case-folded, without credentials or the scheme's default port.
    private static func comparable(_ origin: String) -> String {
        let lowered = origin.lowercased()
        guard let colon = lowered.firstIndex(of: ":") else { return lowered }
        let scheme = lowered[..<colon]
        var authority = lowered[lowered.index(colon, offsetBy: 3)...]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if scheme == "http", authority.hasSuffix(":80") { authority = authority.dropLast(3) }
        if scheme == "https", authority.hasSuffix(":443") { authority = authority.dropLast(4) }
        return scheme + "://" + authority
    }
}
