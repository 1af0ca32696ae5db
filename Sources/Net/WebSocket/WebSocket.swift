/// Limits and timers for WebSocket connections.
public struct WebSocketConfiguration: Sendable {
    /// Largest message accepted, after reassembly and inflation → 1009 beyond.
    public var maxMessageBytes = 16 * 1024 * 1024
    /// Bytes allowed to wait for a client that is not reading → 1008 beyond.
    public var maxSendQueueBytes = 8 * 1024 * 1024
    /// Server pings when the client has been quiet this long.
    public var pingInterval: Duration = .seconds(30)
    /// With nothing at all received for this long (not even a pong), the connection closes with 1001.
    public var idleTimeout: Duration = .seconds(75)
    /// How long to wait for the client's close frame after sending ours.
    public var closeTimeout: Duration = .seconds(5)
    /// Messages shorter than this are sent uncompressed even when permessage-deflate is on:
    /// deflate cannot shrink them and costs time.
    public var compressionThreshold = 128

    public init() {}
}

/// What an endpoint does with a WebSocket's events. Called on the connection's loop.
public protocol WebSocketDelegate: AnyObject {
    func webSocketDidOpen(_ socket: WebSocket)
    /// A complete message; `payload` is valid only during the call.
    func webSocket(_ socket: WebSocket, didReceive kind: WebSocketMessageKind, payload: UnsafeRawBufferPointer)
    /// The connection ended; `code` is what the peer sent, what we sent, or 1006 when it just dropped.
    func webSocketDidClose(_ socket: WebSocket, code: UInt16)
}

/// A server-side WebSocket connection (RFC 6455): frames in, messages out, the close handshake,
/// keepalive pings, and a bounded send queue.
public final class WebSocket: ConnectionHandler, GracefulShutdown {
    private enum State { case open, closing, closed }

    /// The TCP connection underneath.
    public let connection: Connection
    /// The negotiated subprotocol, if any.
    public let subprotocol: String?
    private let configuration: WebSocketConfiguration
    private var decoder: WebSocketFrameDecoder
    private let deflate: PerMessageDeflate?
    private var delegate: (any WebSocketDelegate)?
    private var state = State.open
    private var lastReceived: UInt64
    private var lastPing: UInt64 = 0
    private var timer = ConnectionTimer()
    private var closeCode: UInt16 = 1006

    init(connection: Connection, configuration: WebSocketConfiguration, subprotocol: String?,
         deflate options: PerMessageDeflateOptions?) {
        self.connection = connection
        self.configuration = configuration
        self.subprotocol = subprotocol
        deflate = options.map { PerMessageDeflate(options: $0, role: .server) }
        decoder = WebSocketFrameDecoder(role: .server, maxMessageBytes: configuration.maxMessageBytes, deflate: deflate)
        lastReceived = connection.loop.now
    }

    func open(delegate: any WebSocketDelegate) {
        self.delegate = delegate
        scheduleKeepalive()
        delegate.webSocketDidOpen(self)
    }

    /// The loop this socket lives on; call every method there.
    public var loop: EventLoop { connection.loop }
    /// Whether messages may still be sent.
    public var isOpen: Bool { state == .open }
    /// Whether permessage-deflate is in force.
    public var isCompressed: Bool { deflate != nil }

    // MARK: Receiving

    public func connection(_ connection: Connection, received bytes: UnsafeMutableRawBufferPointer) -> Int {
        lastReceived = connection.loop.now
        do {
            return try decoder.decode(bytes) { event in self.handle(event) }
        } catch let error as WebSocketError {
            fail(code: error.closeCode, reason: error.reason)
        } catch {
            fail(code: 1011, reason: "internal error")
        }
        return bytes.count
    }

    private func handle(_ event: WebSocketEvent) {
        switch event {
        case .message(let kind, let payload):
            // After our close frame the peer may still send data; RFC 6455 §5.5.1 lets us discard it.
            guard state == .open else { return }
            delegate?.webSocket(self, didReceive: kind, payload: payload)
        case .ping(let payload):
            if state == .open { sendFrame(.pong, payload, compress: false) }
        case .pong:
            break
        case .close(let code, let reason):
            peerClosed(code: code, reason: reason)
        }
    }

    private func peerClosed(code: UInt16?, reason: String) {
        switch state {
        case .open:
            // Echo the peer's code (§5.5.1); an empty close is answered with an empty close.
            state = .closing
            closeCode = code ?? 1005
            let payload = code.map { WebSocketFrame.closePayload(code: $0, reason: "") } ?? []
            payload.withUnsafeBytes { sendFrame(.close, $0, compress: false, force: true) }
            finish()
        case .closing:
            finish()
        case .closed:
            break
        }
    }

    // MARK: Sending

    /// Sends a text message.
    public func send(text: String) {
        var text = text
        text.withUTF8 { send(.text, UnsafeRawBufferPointer($0)) }
    }

    /// Sends a message of either kind. Closes with 1008 if the client has stopped reading.
    public func send(_ kind: WebSocketMessageKind, _ payload: UnsafeRawBufferPointer) {
        guard state == .open else { return }
        sendFrame(kind == .text ? .text : .binary, payload, compress: deflate != nil && payload.count >= configuration.compressionThreshold)
    }

    private func sendFrame(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, compress: Bool, force: Bool = false) {
        guard !connection.isClosed else { return }
        if !force && connection.queuedBytes + payload.count > configuration.maxSendQueueBytes {
            fail(code: 1008, reason: "send queue full: the client is not reading")
            return
        }
        if compress, let deflate {
            let packed = deflate.compress(payload)
            connection.withOutputBuffer { out in
                WebSocketFrame.appendHeader(to: &out, fin: true, rsv1: true, opcode: opcode, length: packed.count, maskKey: nil)
                out.append(contentsOf: packed)
            }
        } else if payload.count >= 16 * 1024 {
            var head: [UInt8] = []
            WebSocketFrame.appendHeader(to: &head, fin: true, rsv1: false, opcode: opcode, length: payload.count, maskKey: nil)
            head.withUnsafeBytes { connection.write($0, payload) }
        } else {
            connection.withOutputBuffer { out in
                WebSocketFrame.appendHeader(to: &out, fin: true, rsv1: false, opcode: opcode, length: payload.count, maskKey: nil)
                out.append(contentsOf: payload)
            }
        }
    }

    /// Sends a ping (keepalive or application use).
    public func ping(_ payload: [UInt8] = []) {
        guard state == .open else { return }
        payload.withUnsafeBytes { sendFrame(.ping, $0, compress: false) }
    }

    // MARK: Closing

    /// Starts the close handshake; the TCP connection ends when the client answers or after the close timeout.
    public func close(code: UInt16 = 1000, reason: String = "") {
        guard state == .open else { return }
        state = .closing
        closeCode = code
        WebSocketFrame.closePayload(code: code, reason: reason).withUnsafeBytes {
            sendFrame(.close, $0, compress: false, force: true)
        }
        armTimer(at: connection.loop.now &+ configuration.closeTimeout.nanoseconds)
    }

    /// Fails the connection (§7.1.7): a close frame with the error's code, then the TCP close, without
    /// waiting for the peer's answer.
    private func fail(code: UInt16, reason: String) {
        if Log.enabled(.debug) {
            Log.debug("websocket failed", ["conn": String(connection.id), "peer": connection.peer.description,
                                           "code": String(code), "reason": reason])
        }
        if state == .open {
            closeCode = code
            WebSocketFrame.closePayload(code: code, reason: reason).withUnsafeBytes {
                sendFrame(.close, $0, compress: false, force: true)
            }
        }
        state = .closing
        finish()
    }

    /// The server closes TCP first (§7.1.1), lingering so the peer still reads our close frame.
    private func finish() {
        cancelTimer()
        connection.closeAfterFlush()
        notifyClosed()
    }

    private func notifyClosed() {
        guard state != .closed else { return }
        state = .closed
        if Log.enabled(.debug) {
            Log.debug("websocket closed", ["conn": String(connection.id), "code": String(closeCode)])
        }
        cancelTimer()
        let last = delegate
        delegate = nil
        last?.webSocketDidClose(self, code: closeCode)
    }

    // MARK: Keepalive

    private func scheduleKeepalive() {
        armTimer(at: lastReceived &+ configuration.pingInterval.nanoseconds)
    }

    private func armTimer(at deadline: UInt64) {
        // A strong capture: the cycle lasts until the timer fires or is cancelled, and every way of
        // closing cancels it. A weak one would give this object a side table, making every retain
        // and release on the message path take the slow path.
        timer.arm(at: deadline, on: connection.loop) { self.timerFired() }
    }

    private func cancelTimer() {
        timer.cancel(on: connection.loop)
    }

    private func timerFired() {
        let now = connection.loop.now
        switch state {
        case .closing:
            connection.close()
        case .closed:
            return
        case .open:
            if now &- lastReceived >= configuration.idleTimeout.nanoseconds {
                close(code: 1001, reason: "idle timeout")
                return
            }
            let quietSince = max(lastReceived, lastPing)
            if now &- quietSince >= configuration.pingInterval.nanoseconds {
                lastPing = now
                ping()
            }
            let nextPing = max(lastReceived, lastPing) &+ configuration.pingInterval.nanoseconds
            let idleDeadline = lastReceived &+ configuration.idleTimeout.nanoseconds
            armTimer(at: min(nextPing, idleDeadline))
        }
    }

    // MARK: Connection events

    public func connectionDrained(_ connection: Connection) {}

    public func connectionReadEOF(_ connection: Connection) {
        connection.close()
    }

    public func connectionClosed(_ connection: Connection) {
        notifyClosed()
    }

    public func beginShutdown() {
        close(code: 1001, reason: "server shutting down")
    }
}

/// Echoes every message back as it came: the conformance and benchmark endpoint at /ws/echo.
public final class EchoWebSocket: WebSocketDelegate {
    public init() {}
    public func webSocketDidOpen(_ socket: WebSocket) {}
    public func webSocket(_ socket: WebSocket, didReceive kind: WebSocketMessageKind, payload: UnsafeRawBufferPointer) {
        socket.send(kind, payload)
    }
    public func webSocketDidClose(_ socket: WebSocket, code: UInt16) {}

    /// The route for /ws/echo.
    public static var route: WebSocketRoute {
        WebSocketRoute { _, _ in EchoWebSocket() }
    }
}
