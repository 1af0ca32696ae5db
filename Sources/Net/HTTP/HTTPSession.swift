/// HTTP/1.1 on one connection: parse, route, respond in order, keep alive or close, time out.
///
/// One request is handled at a time. While a handler works, reading pauses, so pipelined requests
/// wait in the kernel (or in the connection's input) and responses can never be reordered.
final class HTTPSession: ConnectionHandler, GracefulShutdown {
    let connection: Connection
    private let context: ServerContext
    private var parser: HTTPRequestParser
    private var head: HTTPRequestHead?
    /// The request being answered; its version and keep-alive decide the response's framing.
    private var dispatchedHead: HTTPRequestHead?
    private var body: [UInt8] = []
    private var sequence = 0
    private var awaitingResponse = false
    private var insideReceive = false
    private var shuttingDown = false
    private var headStartedAt: UInt64 = 0
    private var lastActivity: UInt64
    private var timer = ConnectionTimer()

    init(connection: Connection, context: ServerContext) {
        self.connection = connection
        self.context = context
        parser = HTTPRequestParser(limits: context.configuration.parserLimits)
        lastActivity = connection.loop.now
        armTimer(at: lastActivity &+ context.configuration.keepAliveTimeout.nanoseconds)
    }

    private var configuration: HTTPServerConfiguration { context.configuration }

    // MARK: Input

    func connection(_ connection: Connection, received bytes: UnsafeMutableRawBufferPointer) -> Int {
        if awaitingResponse {
            connection.pauseReading()
            return 0
        }
        let now = connection.loop.now
        lastActivity = now
        insideReceive = true
        defer { insideReceive = false }
        var offset = 0
        while offset < bytes.count && !awaitingResponse && !connection.isClosed && connection.handler === self {
            if parser.isIdle && head == nil {
                headStartedAt = now
                armTimer(at: now &+ configuration.headerTimeout.nanoseconds)
            }
            do {
                offset += try parser.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...])) { event in
                    try handle(event)
                }
            } catch let error as HTTPParseError {
                fail(HTTPStatus(error.status), error.message)
                return bytes.count
            } catch {
                fail(.internalServerError, "The request could not be processed.")
                return bytes.count
            }
        }
        if awaitingResponse { connection.pauseReading() }
        return offset
    }

    private func handle(_ event: HTTPParserEvent) throws {
        switch event {
        case .head(let requestHead):
            head = requestHead
            body = []
            if requestHead.expectsContinue && !requestHead.body.isEmptyBody {
                // Only invite the body when a route will take it; otherwise the final answer goes now.
                if case .handler = context.router.match(method: requestHead.method, path: requestHead.path) {
                    connection.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
            }
            armTimer(at: connection.loop.now &+ configuration.bodyTimeout.nanoseconds)
        case .body(let piece):
            body.append(contentsOf: piece)
        case .end:
            guard let requestHead = head else { return }
            head = nil
            dispatch(requestHead, body: body)
            body = []
        }
    }

    private func dispatch(_ requestHead: HTTPRequestHead, body: [UInt8]) {
        sequence += 1
        awaitingResponse = true
        dispatchedHead = requestHead
        let request = { (parameters: [String: String]) in
            var request = HTTPRequest(head: requestHead, body: body, parameters: parameters,
                                      remoteAddress: self.connection.peer.description,
                                      requestID: "\(self.connection.id)-\(self.sequence)")
            request.loopIndex = self.connection.loop.index
            return request
        }
        switch context.router.match(method: requestHead.method, path: requestHead.path) {
        case .handler(let handler, let parameters):
            handler(request(parameters), HTTPResponder(session: self, sequence: sequence))
        case .webSocket(let route, let parameters):
            upgrade(request(parameters), route: route)
        case .methodNotAllowed(let allowed):
            var headers = HTTPHeaders()
            headers.add("Allow", allowed.map(\.rawValue).joined(separator: ", "))
            if requestHead.method == .options {
                complete(HTTPResponse(status: .noContent, headers: headers), sequence: sequence)
            } else {
                complete(.problem(.methodNotAllowed, detail: "\(requestHead.method.rawValue) is not allowed on \(requestHead.path).",
                                  extra: headers), sequence: sequence)
            }
        case .notFound:
            complete(.problem(.notFound, detail: "No resource at \(requestHead.path)."), sequence: sequence)
        }
    }

    private func upgrade(_ request: HTTPRequest, route: WebSocketRoute) {
        switch WebSocketHandshake.validate(request, route: route, originCheck: configuration.originCheck) {
        case .failure(let response):
            complete(response, sequence: sequence)
        case .success(let accepted):
            if shuttingDown {
                complete(.problem(.serviceUnavailable, detail: "The server is shutting down."), sequence: sequence)
                return
            }
            var out: [UInt8] = []
            accepted.response.serialize(into: &out, date: connection.loop.httpDate, connection: nil, headOnly: false)
            connection.write(out)
            cancelTimer()
            awaitingResponse = false
            let socket = WebSocket(connection: connection, configuration: configuration.webSocket,
                                   subprotocol: accepted.subprotocol, deflate: accepted.deflate)
            connection.handler = socket
            socket.open(delegate: route.makeDelegate(request, socket))
        }
    }

    // MARK: Output

    /// Sends the response for request `sequence`, once, then reads the next request or closes.
    func complete(_ response: HTTPResponse, sequence: Int) {
        guard sequence == self.sequence, awaitingResponse, !connection.isClosed, connection.handler === self else { return }
        awaitingResponse = false
        let requestHead = dispatchedHead
        let keepAlive = (requestHead?.keepAlive ?? false) && !shuttingDown && response.status.code < 500
        var connectionHeader: String?
        if !keepAlive {
            connectionHeader = "close"
        } else if requestHead?.version == .http1_0 {
            connectionHeader = "keep-alive"
        }
        var out: [UInt8] = []
        response.serialize(into: &out, date: connection.loop.httpDate, connection: connectionHeader,
                           headOnly: requestHead?.method == .head)
        connection.write(out)
        context.metrics.countResponse(status: response.status.code)
        if Log.enabled(.debug), let requestHead {
            Log.debug("request", ["request": "\(connection.id)-\(sequence)", "method": requestHead.method.rawValue,
                                  "path": requestHead.path, "status": String(response.status.code)])
        }
        if !keepAlive {
            cancelTimer()
            connection.closeAfterFlush()
            return
        }
        lastActivity = connection.loop.now
        armTimer(at: lastActivity &+ configuration.keepAliveTimeout.nanoseconds)
        if !insideReceive { connection.resumeReading() }
    }

    /// Answers an unrecoverable request error and closes, since the stream position is lost.
    private func fail(_ status: HTTPStatus, _ detail: String) {
        if Log.enabled(.debug) {
            Log.debug("request rejected", ["conn": String(connection.id), "peer": connection.peer.description,
                                           "status": String(status.code), "detail": detail])
        }
        var out: [UInt8] = []
        HTTPResponse.problem(status, detail: detail)
            .serialize(into: &out, date: connection.loop.httpDate, connection: "close", headOnly: false)
        connection.write(out)
        context.metrics.countResponse(status: status.code)
        cancelTimer()
        awaitingResponse = false
        connection.closeAfterFlush()
    }

    // MARK: Timeouts

    private func armTimer(at deadline: UInt64) {
        // Strong on purpose, like WebSocket's timer: cancelled on close, and no side table.
        timer.arm(at: deadline, on: connection.loop, keepEarlier: true) { self.timerFired() }
    }

    private func cancelTimer() {
        timer.cancel(on: connection.loop)
    }

    /// One timer serves every deadline: when it fires it works out which one applies now and either
    /// acts or sleeps until it. Activity never touches the heap; only state changes may.
    private func timerFired() {
        guard !connection.isClosed, connection.handler === self else { return }
        let now = connection.loop.now
        let deadline: UInt64
        if awaitingResponse {
            deadline = now &+ configuration.keepAliveTimeout.nanoseconds
        } else if head != nil {
            deadline = lastActivity &+ configuration.bodyTimeout.nanoseconds
            if now >= deadline { return fail(.requestTimeout, "The request body stalled.") }
        } else if !parser.isIdle {
            deadline = headStartedAt &+ configuration.headerTimeout.nanoseconds
            if now >= deadline { return fail(.requestTimeout, "The request headers took too long to arrive.") }
        } else {
            deadline = lastActivity &+ configuration.keepAliveTimeout.nanoseconds
            if now >= deadline {
                connection.close()
                return
            }
        }
        armTimer(at: deadline)
    }

    // MARK: Connection events

    func connectionDrained(_ connection: Connection) {}

    func connectionReadEOF(_ connection: Connection) {
        // A half-closed client may still be owed a response; otherwise there is nothing left to do.
        if !awaitingResponse { connection.close() }
    }

    func connectionClosed(_ connection: Connection) {
        cancelTimer()
    }

    func beginShutdown() {
        shuttingDown = true
        if !awaitingResponse && parser.isIdle && head == nil { connection.close() }
    }
}

extension HTTPBodyFraming {
    var isEmptyBody: Bool {
        switch self {
        case .none: true
        case .length(let n): n == 0
        case .chunked: false
        }
    }
}
