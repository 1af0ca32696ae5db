import Net
import Store

/// One chat connection, on its socket's loop: authenticates at open, parses client messages, and
/// hands project and conversation work to the loop that owns the project.
final class ChatSession: WebSocketDelegate {
    /// What this session follows of a conversation.
    struct Subscription {
        var projectID: String
        /// The newest event sequence number sent; anything at or below it is not sent again.
        var lastSeq: Int
        /// False after a `resync`: no live events until the client opens the conversation again.
        var live: Bool
    }

    let service: ChatService
    let loop: EventLoop
    /// Strong while open (the socket also holds this session: the cycle is broken when it closes).
    /// Rooms on other loops may still hold the session after that, so every use checks for nil.
    private var socket: WebSocket?
    private let credential: String?
    private(set) var user: User?
    let id: UInt64
    /// Projects joined, with the role the check found.
    private var joined: [String: ProjectRole] = [:]
    private var subscriptions: [String: Subscription] = [:]
    private var badMessages = 0
    private var badWindowStart: UInt64 = 0

    init(service: ChatService, request: HTTPRequest, socket: WebSocket) {
        self.service = service
        self.socket = socket
        loop = socket.loop
        id = socket.connection.id
        credential = request.headers.values("Sec-WebSocket-Protocol")
            .flatMap { $0.split(separator: ",") }
            .map { $0.filter { $0 != " " && $0 != "\t" } }
            .first { $0.hasPrefix(ChatProtocol.credentialPrefix) }
            .map { String($0.dropFirst(ChatProtocol.credentialPrefix.count)) }
    }

    var watcherRef: WatcherRef {
        WatcherRef(id: id, session: LoopBound(value: self, loop: loop), userID: user?.id ?? "",
                   name: user?.displayName ?? "")
    }

    // MARK: WebSocketDelegate

    func webSocketDidOpen(_ socket: WebSocket) {
        switch authenticate() {
        case .success(let user):
            self.user = user
            send(ChatEvents.encode(["type": "hello", "protocol": .string(ChatProtocol.subprotocol),
                                    "server": .string(service.version),
                                    "user": .object(["id": .string(user.id), "name": .string(user.displayName),
                                                     "role": .string(user.role.rawValue)])]))
        case .failure(let failure):
            socket.close(code: failure.code, reason: failure.reason)
        }
    }

    func webSocket(_ socket: WebSocket, didReceive kind: WebSocketMessageKind, payload: UnsafeRawBufferPointer) {
        guard user != nil else { return }
        guard kind == .text else {
            socket.close(code: 1003, reason: "binary frames are not part of builderai.v1; send JSON text")
            return
        }
        ChatMetrics.messagesIn.add()
        let (ref, parsed) = ClientMessage.parse(payload)
        switch parsed {
        case .success(let message): handle(message, ref: ref)
        case .failure(let error): reject(error, ref: ref)
        }
    }

    func webSocketDidClose(_ socket: WebSocket, code: UInt16) {
        self.socket = nil
        let me = watcherRef
        for projectID in joined.keys {
            let hub = service.owner(of: projectID)
            hub.loop.execute { hub.rooms[projectID]?.leave(me.id) }
        }
        joined.removeAll()
        subscriptions.removeAll()
    }

    // MARK: Authentication

    private struct AuthFailure: Error {
        var code: UInt16
        var reason: String
    }

    private func authenticate() -> Result<User, AuthFailure> {
        guard let credential, !credential.isEmpty else {
            return .failure(AuthFailure(code: ChatProtocol.CloseCode.authenticationFailed,
                                        reason: "authentication failed: offer \"bearer.<token>\" beside builderai.v1"))
        }
        let now = StoreClock.nowMilliseconds()
        if let userID = service.tickets.redeem(credential, now: now) {
            return load(userID: userID)
        }
        let hash = TokenSecret.hash(credential)
        let token: APIToken?
        do {
            token = try service.store.readers.read(loop: loop.index) { try APIToken.find($0, tokenHash: hash) }
        } catch {
            return .failure(AuthFailure(code: 1011, reason: "the server could not check the credential"))
        }
        guard let token, token.kind == .personal else {
            return .failure(AuthFailure(code: ChatProtocol.CloseCode.authenticationFailed, reason: "authentication failed: unknown token"))
        }
        guard token.isUsable(at: now) else {
            return .failure(AuthFailure(code: ChatProtocol.CloseCode.authenticationFailed,
                                        reason: "authentication failed: the token is \(token.revokedAt != nil ? "revoked" : "expired")"))
        }
        let tokenID = token.id
        try? service.store.writer.submit({ db in try APIToken.touch(db, id: tokenID) }, completion: { _ in })
        return load(userID: token.userID)
    }

    private func load(userID: String) -> Result<User, AuthFailure> {
        let user = try? service.store.readers.read(loop: loop.index) { try User.find($0, id: userID) }
        guard let user else {
            return .failure(AuthFailure(code: ChatProtocol.CloseCode.authenticationFailed, reason: "authentication failed: unknown user"))
        }
        guard !user.isDisabled else {
            return .failure(AuthFailure(code: ChatProtocol.CloseCode.accountDisabled, reason: "account disabled"))
        }
        return .success(user)
    }

    // MARK: Messages

    private func handle(_ message: ClientMessage, ref: String?) {
        switch message {
        case .join(let projectID):
            let me = watcherRef
            let isAdmin = user?.role == .admin
            let hub = service.owner(of: projectID)
            let service = self.service
            hub.loop.execute {
                ProjectRoom.join(projectID, watcher: me, isAdmin: isAdmin, ref: ref, hub: hub, service: service)
            }
        case .leave(let projectID):
            guard joined.removeValue(forKey: projectID) != nil else {
                return reject(ChatError(.notJoined, "you have not joined project \(projectID)"), ref: ref)
            }
            subscriptions = subscriptions.filter { $0.value.projectID != projectID }
            let me = watcherRef
            let hub = service.owner(of: projectID)
            hub.loop.execute { hub.rooms[projectID]?.leave(me.id) }
            send(ChatEvents.reply("ok", ref: ref))
        case .listConversations(let projectID, let cursor, let limit):
            withRoom(projectID, ref: ref) { room, watcher in room.listConversations(watcher, cursor: cursor, limit: limit, ref: ref) }
        case .newConversation(let projectID, let title):
            withRoom(projectID, ref: ref) { room, watcher in room.newConversation(watcher, title: title, ref: ref) }
        case .open(let conversationID, let afterSeq):
            withConversation(conversationID, ref: ref) { projectID in
                // Live events may arrive before the replay finishes; lastSeq keeps them in order.
                self.subscriptions[conversationID] = Subscription(projectID: projectID, lastSeq: afterSeq ?? Int.max, live: true)
                return { room, watcher in room.open(conversationID, watcher: watcher, afterSeq: afterSeq, ref: ref) }
            }
        case .closeConversation(let conversationID):
            guard let subscription = subscriptions.removeValue(forKey: conversationID) else {
                return reject(ChatError(.badRequest, "conversation \(conversationID) is not open"), ref: ref)
            }
            let me = watcherRef
            let hub = service.owner(of: subscription.projectID)
            hub.loop.execute { hub.rooms[subscription.projectID]?.closeConversation(conversationID, watcherID: me.id) }
            send(ChatEvents.reply("ok", ref: ref))
        case .history(let conversationID, let beforeSeq, let limit):
            withConversation(conversationID, ref: ref) { _ in
                do {
                    let messages = try self.service.store.readers.read(loop: self.loop.index) {
                        try Message.before($0, conversationID: conversationID, seq: beforeSeq, limit: limit)
                    }
                    self.send(ChatEvents.reply("history", ref: ref, ["conversation": .string(conversationID),
                                                                      "messages": .array(messages.map(ChatEvents.message))]))
                } catch {
                    self.reject(ChatError(.internalError, "could not read the history"), ref: ref)
                }
                return nil
            }
        case .prompt(let conversationID, let clientID, let text):
            withConversation(conversationID, ref: ref, needsWrite: true) { _ in
                { room, watcher in room.prompt(conversationID, watcher: watcher, clientID: clientID, text: text, ref: ref) }
            }
        case .cancel(let conversationID):
            withConversation(conversationID, ref: ref, needsWrite: true) { _ in
                { room, watcher in room.cancel(conversationID, watcher: watcher, ref: ref) }
            }
        case .regenerate(let conversationID, let clientID):
            withConversation(conversationID, ref: ref, needsWrite: true) { _ in
                { room, watcher in room.regenerate(conversationID, watcher: watcher, clientID: clientID, ref: ref) }
            }
        }
    }

    /// Runs `body` on the owning loop with the joined project's room.
    private func withRoom(_ projectID: String, ref: String?, needsWrite: Bool = false,
                          _ body: @escaping (ProjectRoom, WatcherRef) -> Void) {
        guard let role = joined[projectID] else {
            return reject(ChatError(.notJoined, "join project \(projectID) first"), ref: ref)
        }
        if needsWrite && !role.canPrompt {
            return reject(ChatError(.forbidden, "your role in this project (\(role.rawValue)) cannot do that"), ref: ref)
        }
        let me = watcherRef
        let hub = service.owner(of: projectID)
        let task = UncheckedTask {
            guard let room = hub.rooms[projectID] else {
                hub.send(to: me) { $0.reject(ChatError(.notJoined, "join project \(projectID) first"), ref: ref) }
                return
            }
            body(room, me)
        }
        hub.loop.execute { task.body() }
    }

    /// Finds the conversation's project (a read on this loop), checks it was joined, then runs
    /// `prepare` here and what it returns on the owning loop.
    private func withConversation(_ conversationID: String, ref: String?, needsWrite: Bool = false,
                                  _ prepare: @escaping (String) -> ((ProjectRoom, WatcherRef) -> Void)?) {
        let conversation = try? service.store.readers.read(loop: loop.index) { try Conversation.find($0, id: conversationID) }
        guard let conversation, joined[conversation.projectID] != nil else {
            return reject(ChatError(.notFound, "no conversation \(conversationID) in a project you have joined"), ref: ref)
        }
        if needsWrite, let role = joined[conversation.projectID], !role.canPrompt {
            return reject(ChatError(.forbidden, "your role in this project (\(role.rawValue)) cannot do that"), ref: ref)
        }
        guard let onOwner = prepare(conversation.projectID) else { return }
        withRoom(conversation.projectID, ref: ref, onOwner)
    }

    // MARK: Called on this loop by rooms

    func didJoin(_ projectID: String, role: ProjectRole) {
        joined[projectID] = role
    }

    /// A conversation event. Dropped when not subscribed, already sent, or after a resync.
    func deliver(conversation: String, seq: Int, text: String) {
        guard var subscription = subscriptions[conversation], subscription.live else { return }
        if subscription.lastSeq != Int.max && seq <= subscription.lastSeq { return }
        guard let socket else { return }
        if socket.connection.queuedBytes > service.configuration.slowWatcherBytes {
            subscription.live = false
            subscriptions[conversation] = subscription
            send(ChatEvents.encode(["type": "resync", "conversation": .string(conversation),
                                    "seq": ChatEvents.number(subscription.lastSeq == Int.max ? 0 : subscription.lastSeq),
                                    "message": "you fell too far behind; open the conversation again with after_seq"]))
            return
        }
        subscription.lastSeq = seq
        subscriptions[conversation] = subscription
        send(text)
    }

    /// The end of a replay: from here on only newer events are sent.
    func replayed(conversation: String, upTo seq: Int, reply: String) {
        if var subscription = subscriptions[conversation] {
            if subscription.lastSeq == Int.max || subscription.lastSeq < seq { subscription.lastSeq = seq }
            subscriptions[conversation] = subscription
        }
        send(reply)
    }

    func send(_ text: String) {
        guard let socket, socket.isOpen else { return }
        ChatMetrics.framesOut.add()
        socket.send(text: text)
    }

    func reject(_ error: ChatError, ref: String?, extra: [String: JSONValue] = [:]) {
        if error.code == .badRequest {
            let now = loop.now
            if now - badWindowStart > 60_000_000_000 {
                badWindowStart = now
                badMessages = 0
            }
            badMessages += 1
            if badMessages > service.configuration.badMessagesPerMinute {
                socket?.close(code: 1008, reason: "too many bad messages")
                return
            }
        }
        send(ChatEvents.error(error, ref: ref, extra: extra))
    }
}

/// A member's role in a project as the chat sees it (admins act as editors everywhere).
enum ProjectRole: String {
    case owner, editor, viewer, admin

    var canPrompt: Bool { self != .viewer }
}
