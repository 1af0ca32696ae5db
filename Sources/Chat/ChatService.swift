import Dispatch
import LLM
import MCP
import Net
import Store

/// Limits and timings of the chat engine.
public struct ChatConfiguration: Sendable {
    /// LLM calls one generation may make (each tool round is one more).
    public var maxSteps = 8
    /// Prompts that may wait behind a running generation, per conversation.
    public var queueLimit = 8
    /// Token budget for the history sent to the model (estimated at 4 bytes a token).
    public var contextTokens = 24_000
    /// The in-memory event ring of a conversation: events and bytes kept before the oldest finished
    /// messages are dropped (they are then replayed from the store).
    public var ringEvents = 2_048
    public var ringBytes = 2 << 20
    /// How often growing assistant text is saved.
    public var flushInterval: Duration = .milliseconds(250)
    /// A conversation with no watchers and nothing running is unloaded after this long.
    public var idleUnload: Duration = .seconds(60)
    /// A watcher with this much output queued stops getting live events and is told to resync.
    public var slowWatcherBytes = 1 << 20
    /// Time limit of one MCP tool call.
    public var toolTimeout: Duration = .seconds(60)
    /// Bad messages a connection may send per minute before it is closed (1008).
    public var badMessagesPerMinute = 1_000

    public init() {}
}

/// The chat engine: the `/ws` endpoint, project rooms on their owning loops, and the conversation
/// engine. Thread-safe to hold; all state lives in per-loop hubs.
public final class ChatService: Sendable {
    public let configuration: ChatConfiguration
    let store: Store
    let providers: ProviderRegistry
    let mcp: MCPManager?
    let prompts: PromptLibrary
    let hubs: [LoopHub]
    let version: String
    /// Single-use connect tickets for browsers.
    public let tickets = WebSocketTickets()

    /// Call before the server accepts connections: it also closes messages a previous run left
    /// streaming (see `Message.closeInterrupted`).
    public init(loops: [EventLoop], store: Store, providers: ProviderRegistry, mcp: MCPManager?, prompts: PromptLibrary,
                configuration: ChatConfiguration = ChatConfiguration(), version: String = "0.1.0") throws {
        self.store = store
        self.providers = providers
        self.mcp = mcp
        self.prompts = prompts
        self.configuration = configuration
        self.version = version
        hubs = loops.map { LoopHub(loop: $0) }
        let interrupted = try store.writer.writeAndWait { db in try Message.closeInterrupted(db) }
        if interrupted > 0 { Log.info("marked interrupted replies", ["count": String(interrupted)]) }
    }

    /// The `/ws` route: requires `builderai.v1`, reads the credential offered beside it.
    public var route: WebSocketRoute {
        WebSocketRoute(subprotocols: [ChatProtocol.subprotocol], requiresSubprotocol: true) { request, socket in
            ChatSession(service: self, request: request, socket: socket)
        }
    }

    /// The hub of the loop that owns a project: a stable hash of its id.
    func owner(of projectID: String) -> LoopHub {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in projectID.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100000001b3
        }
        return hubs[Int(hash % UInt64(hubs.count))]
    }

    func hub(on loop: EventLoop) -> LoopHub {
        hubs.first { $0.loop === loop } ?? hubs[0]
    }

    /// Stops every running generation (their replies stay stored as incomplete) and closes routers.
    public func shutdown() {
        for hub in hubs {
            hub.loop.executeAndWait { hub.shutdown() }
        }
    }
}

/// A reference that crosses threads but is dereferenced only on `loop`.
struct LoopBound<T: AnyObject>: @unchecked Sendable {
    // Invariant: `value` is touched only on `loop`'s thread; `run` hops there first.
    let value: T
    let loop: EventLoop

    func run(_ body: @escaping (T) -> Void) {
        let task = UncheckedTask { body(self.value) }
        if loop.inLoop { task.body() } else { loop.execute { task.body() } }
    }
}

/// A closure handed to another loop's inbox, to run there.
struct UncheckedTask: @unchecked Sendable {
    // Invariant: created on one loop and run exactly once on the loop it was handed to; whatever it
    // captures is owned by that loop.
    let body: () -> Void
}

/// Per-loop state of the chat engine: the rooms this loop owns, its LLM router, and the outbox that
/// batches frames for watchers on other loops (one wake-up per loop per batch, not per frame).
final class LoopHub: @unchecked Sendable {
    // Invariant: every var is touched only on `loop` (rooms, outbox, router).
    let loop: EventLoop
    var rooms: [String: ProjectRoom] = [:]
    private var routerInstance: LLMRouter?
    private var outbox: [ObjectIdentifier: (loop: EventLoop, items: [UncheckedTask])] = [:]
    private var flushScheduled = false

    init(loop: EventLoop) {
        self.loop = loop
    }

    func router(_ providers: ProviderRegistry) -> LLMRouter {
        if let routerInstance { return routerInstance }
        let router = LLMRouter(loop: loop, registry: providers)
        routerInstance = router
        return router
    }

    /// Runs `body` with the session on its own loop: at once when that is this loop, else batched
    /// with the other work for that loop produced in this iteration.
    func send(to watcher: WatcherRef, _ body: @escaping (ChatSession) -> Void) {
        let session = watcher.session
        if session.loop === loop {
            body(session.value)
            return
        }
        let key = ObjectIdentifier(session.loop)
        outbox[key, default: (session.loop, [])].items.append(UncheckedTask { body(session.value) })
        if !flushScheduled {
            flushScheduled = true
            loop.execute { [self] in flush() }
        }
    }

    private func flush() {
        flushScheduled = false
        let batches = outbox
        outbox.removeAll(keepingCapacity: true)
        for (_, batch) in batches {
            let items = UncheckedTask { for item in batch.items { item.body() } }
            batch.loop.execute { items.body() }
        }
    }

    func shutdown() {
        for room in rooms.values { room.shutdown() }
        rooms.removeAll()
        routerInstance?.close()
        routerInstance = nil
    }
}

/// A watcher as a room sees it: its session (on its own loop) and who it is.
struct WatcherRef {
    let id: UInt64
    let session: LoopBound<ChatSession>
    let userID: String
    let name: String
}

/// The `/ws` route, registered before the server (and so the loops) exists; the service is
/// attached once the loops are up. A client that connects in between is told to retry (1013).
public final class ChatEndpoint: Sendable {
    private let service = Locked<ChatService?>(nil)

    public init() {}

    public func attach(_ chat: ChatService) {
        service.withLock { $0 = chat }
    }

    /// A single-use connect ticket for `userID` (what `POST /api/v1/ws-tickets` hands out).
    public func issueTicket(userID: String) -> String? {
        service.withLock { $0 }?.tickets.issue(userID: userID)
    }

    public var route: WebSocketRoute {
        WebSocketRoute(subprotocols: [ChatProtocol.subprotocol], requiresSubprotocol: true) { [service] request, socket in
            if let chat = service.withLock({ $0 }) { return ChatSession(service: chat, request: request, socket: socket) }
            return StartingSession()
        }
    }
}

/// Answers connections that arrive before the chat engine is attached.
final class StartingSession: WebSocketDelegate {
    func webSocketDidOpen(_ socket: WebSocket) { socket.close(code: 1013, reason: "the server is starting; retry shortly") }
    func webSocket(_ socket: WebSocket, didReceive kind: WebSocketMessageKind, payload: UnsafeRawBufferPointer) {}
    func webSocketDidClose(_ socket: WebSocket, code: UInt16) {}
}
