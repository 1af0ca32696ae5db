import CSystem
import Glibc
import Synchronization

/// Everything the HTTP/WebSocket server can be told.
public struct HTTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Event loops (threads); defaults to the number of cores.
    public var loopCount = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    /// Connections beyond this are answered 503 and closed.
    public var maxConnections = 100_000
    public var parserLimits = HTTPParserLimits()
    /// From the first byte of a request to the end of its headers (slowloris guard) → 408.
    public var headerTimeout: Duration = .seconds(10)
    /// Longest pause between two pieces of a request body → 408.
    public var bodyTimeout: Duration = .seconds(10)
    /// An idle keep-alive connection is closed after this.
    public var keepAliveTimeout: Duration = .seconds(60)
    /// Longest a graceful shutdown waits for in-flight work.
    public var shutdownGrace: Duration = .seconds(10)
    public var webSocket = WebSocketConfiguration()
    /// Decides whether a WebSocket handshake's Origin (nil when absent) may connect; nil allows all.
    public var originCheck: (@Sendable (String?) -> Bool)?
    /// See `EventLoop.busyPoll`; zero disables spinning.
    public var busyPoll: Duration = .zero

    public init() {}
}

/// Counters the server keeps for health and metrics endpoints.
public final class ServerMetrics: Sendable {
    public let accepted = Atomic<Int>(0)
    public let refused = Atomic<Int>(0)
    public let responses2xx = Atomic<Int>(0)
    public let responses4xx = Atomic<Int>(0)
    public let responses5xx = Atomic<Int>(0)
    public let webSocketMessagesIn = Atomic<Int>(0)

    public init() {}

    func countResponse(status: Int) {
        switch status {
        case 200..<300: responses2xx.add(1, ordering: .relaxed)
        case 400..<500: responses4xx.add(1, ordering: .relaxed)
        case 500...: responses5xx.add(1, ordering: .relaxed)
        default: break
        }
    }
}

/// What every session on every loop shares: immutable configuration and routes, thread-safe counters.
final class ServerContext: Sendable {
    let configuration: HTTPServerConfiguration
    let router: Router
    let metrics: ServerMetrics
    let connections: ConnectionCounter

    init(configuration: HTTPServerConfiguration, router: Router, metrics: ServerMetrics) {
        self.configuration = configuration
        self.router = router
        self.metrics = metrics
        connections = ConnectionCounter(limit: configuration.maxConnections)
    }
}

/// The HTTP/1.1 and WebSocket server: one listening socket per loop on the same port (SO_REUSEPORT),
/// so the kernel spreads new connections across loops without a shared accept lock.
public final class HTTPServer: Sendable {
    private let context: ServerContext
    private let group: EventLoopGroup
    /// The bound port (useful when configured with port 0).
    public let port: Int
    /// Live counters.
    public var metrics: ServerMetrics { context.metrics }
    /// Live connections.
    public var connectionCount: Int { context.connections.current }
    /// The loops serving this server.
    public var loops: [EventLoop] { group.loops }

    /// Binds and starts serving. Throws with EADDRINUSE when the port is taken.
    public init(configuration: HTTPServerConfiguration, router: Router, metrics: ServerMetrics = ServerMetrics()) throws(SystemError) {
        context = ServerContext(configuration: configuration, router: router, metrics: metrics)
        var address = try SocketAddress(host: configuration.host, port: configuration.port)
        if configuration.port != 0 { try Socket.ensurePortFree(address) }
        group = try EventLoopGroup(loopCount: configuration.loopCount)
        var boundPort = configuration.port
        var listeners: [Int32] = []
        do {
            for loop in group.loops {
                loop.busyPoll = configuration.busyPoll
                let fd = try Socket.listen(on: address)
                listeners.append(fd)
                if boundPort == 0 {
                    boundPort = Socket.localAddress(fd)?.port ?? 0
                    address = try SocketAddress(host: configuration.host, port: boundPort)
                }
                try loop.register(fd, events: EPOLLIN.rawValue, handler: Acceptor(fd: fd, loop: loop, context: context))
            }
            try group.start()
        } catch {
            for fd in listeners { Glibc.close(fd) }
            throw error
        }
        port = boundPort
    }

    /// Stops accepting, asks every connection to wind down (WebSockets close with 1001, in-flight
    /// responses finish), waits up to the grace period, then stops the loops. Blocks the caller.
    public func shutdown() {
        for loop in group.loops {
            loop.execute {
                loop.forEachHandler { handler in
                    (handler as? Acceptor)?.close()
                    (handler as? Connection)?.handler.flatMap { $0 as? any GracefulShutdown }?.beginShutdown()
                }
            }
        }
        let deadline = MonotonicClock.now() &+ context.configuration.shutdownGrace.nanoseconds
        while context.connections.current > 0 && MonotonicClock.now() < deadline {
            usleep(5_000)
        }
        group.shutdown()
    }
}


/// Accepts connections on one loop's listening socket.
final class Acceptor: IOHandler, LoopTeardown {
    private let fd: Int32
    private unowned let loop: EventLoop
    private let context: ServerContext
    private var closed = false

    init(fd: Int32, loop: EventLoop, context: ServerContext) {
        self.fd = fd
        self.loop = loop
        self.context = context
    }

    func handleIO(events: UInt32) {
        // Bounded batch so a connection storm cannot starve established connections on this loop.
        for _ in 0..<256 {
            guard !closed else { return }
            guard let (client, peer) = Socket.accept(fd) else {
                if errno == EMFILE || errno == ENFILE { pauseAccepting() }
                return
            }
            guard context.connections.acquire() else {
                refuse(client)
                continue
            }
            context.metrics.accepted.add(1, ordering: .relaxed)
            Socket.setNoDelay(client)
            do {
                let connection = try Connection(fd: client, peer: peer, loop: loop, counter: context.connections)
                connection.handler = HTTPSession(connection: connection, context: context)
            } catch {
                Glibc.close(client)
                context.connections.release()
            }
        }
    }

    /// Out of file descriptors: the listener stays readable, so a level-triggered loop would spin on
    /// it. Stop watching it for a moment; pending clients wait in the backlog meanwhile.
    private func pauseAccepting() {
        Log.warning("out of file descriptors; accepting paused for 100 ms", ["loop": String(loop.index)])
        loop.modify(fd, events: 0)
        loop.schedule(after: .milliseconds(100)) { [weak self] in
            guard let self, !self.closed else { return }
            self.loop.modify(self.fd, events: EPOLLIN.rawValue)
        }
    }

    private static let refusal: [UInt8] = {
        let body = "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"The server is at its connection limit; retry later.\"}"
        return Array(("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\n"
            + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }()

    /// Past the cap: a best-effort 503 on the fresh socket (its send buffer is empty, so it fits), then close.
    private func refuse(_ client: Int32) {
        context.metrics.refused.add(1, ordering: .relaxed)
        Acceptor.refusal.withUnsafeBytes { _ = send(client, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        Glibc.shutdown(client, Int32(SHUT_WR))
        Glibc.close(client)
    }

    func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(fd)
        Glibc.close(fd)
    }

    func teardown() { close() }
}
