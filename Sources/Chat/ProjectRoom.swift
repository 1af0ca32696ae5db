import Net
import Store

/// A project's live state on the loop that owns it: who is watching, and the conversations loaded.
final class ProjectRoom {
    let hub: LoopHub
    let service: ChatService
    private(set) var project: Project
    private var watchers: [UInt64: (ref: WatcherRef, role: ProjectRole)] = [:]
    private var conversations: [String: ConversationState] = [:]

    private init(project: Project, hub: LoopHub, service: ChatService) {
        self.project = project
        self.hub = hub
        self.service = service
    }

    var loop: EventLoop { hub.loop }
    var store: Store { service.store }

    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try store.readers.read(loop: loop.index, body)
    }

    // MARK: Watchers

    /// Checks the watcher's role, creating the room on first join. On the owning loop.
    static func join(_ projectID: String, watcher: WatcherRef, isAdmin: Bool, ref: String?, hub: LoopHub,
                     service: ChatService) {
        let found: (Project, ProjectMember.Role?)?
        do {
            found = try service.store.readers.read(loop: hub.loop.index) { db in
                try Project.find(db, id: projectID).map { ($0, try ProjectMember.role(db, projectID: projectID, userID: watcher.userID)) }
            }
        } catch {
            hub.send(to: watcher) { $0.reject(ChatError(.internalError, "could not read the project"), ref: ref) }
            return
        }
        guard let (project, memberRole) = found, let role = memberRole.map({ ProjectRole(rawValue: $0.rawValue) ?? .viewer })
                ?? (isAdmin ? .admin : nil) else {
            hub.send(to: watcher) { $0.reject(ChatError(.notFound, "no project \(projectID) that you are a member of"), ref: ref) }
            return
        }
        let room = hub.rooms[projectID] ?? ProjectRoom(project: project, hub: hub, service: service)
        hub.rooms[projectID] = room
        room.project = project
        room.add(watcher, role: role, ref: ref)
    }

    private func add(_ watcher: WatcherRef, role: ProjectRole, ref: String?) {
        watchers[watcher.id] = (watcher, role)
        let page = try? read { try Conversation.list($0, projectID: project.id, limit: 50) }
        let projectID = project.id
        let reply = ChatEvents.reply("joined", ref: ref, [
            "project": .string(projectID), "role": .string(role.rawValue),
            "name": .string(project.name), "model": .string(project.llm),
            "watchers": presenceList(),
            "conversations": .array((page?.items ?? []).map { ChatEvents.conversation($0, running: isRunning($0.id)) }),
            "next_cursor": ChatEvents.optional(page?.nextCursor),
        ])
        hub.send(to: watcher) { session in
            session.didJoin(projectID, role: role)
            session.send(reply)
        }
        broadcastPresence(except: watcher.id)
    }

    func leave(_ watcherID: UInt64) {
        guard watchers.removeValue(forKey: watcherID) != nil else { return }
        for conversation in conversations.values { conversation.unsubscribe(watcherID) }
        broadcastPresence(except: nil)
        unloadIfIdle()
    }

    private func presenceList() -> JSONValue {
        var seen = Set<String>()
        var list: [JSONValue] = []
        for (ref, _) in watchers.values.sorted(by: { $0.ref.id < $1.ref.id }) where seen.insert(ref.userID).inserted {
            list.append(.object(["user": .string(ref.userID), "name": .string(ref.name)]))
        }
        return .array(list)
    }

    private func broadcastPresence(except: UInt64?) {
        let text = ChatEvents.encode(["type": "presence", "project": .string(project.id), "watchers": presenceList()])
        broadcast(text, except: except)
    }

    func broadcast(_ text: String, except: UInt64? = nil) {
        for (ref, _) in watchers.values where ref.id != except {
            hub.send(to: ref) { $0.send(text) }
        }
    }

    func role(of watcherID: UInt64) -> ProjectRole? { watchers[watcherID]?.role }

    // MARK: Conversations

    private func isRunning(_ conversationID: String) -> Bool {
        conversations[conversationID]?.isBusy ?? false
    }

    func listConversations(_ watcher: WatcherRef, cursor: String?, limit: Int, ref: String?) {
        let parsedCursor = cursor.flatMap(PageCursor.init(encoded:))
        if cursor != nil && parsedCursor == nil {
            hub.send(to: watcher) { $0.reject(ChatError(.badRequest, "\"cursor\" is not a cursor this server gave out"), ref: ref) }
            return
        }
        do {
            let page = try read { try Conversation.list($0, projectID: project.id, cursor: parsedCursor, limit: limit) }
            let reply = ChatEvents.reply("conversations", ref: ref, [
                "project": .string(project.id),
                "conversations": .array(page.items.map { ChatEvents.conversation($0, running: isRunning($0.id)) }),
                "next_cursor": ChatEvents.optional(page.nextCursor),
            ])
            hub.send(to: watcher) { $0.send(reply) }
        } catch {
            hub.send(to: watcher) { $0.reject(ChatError(.internalError, "could not list conversations"), ref: ref) }
        }
    }

    func newConversation(_ watcher: WatcherRef, title: String, ref: String?) {
        guard role(of: watcher.id)?.canPrompt == true else {
            hub.send(to: watcher) { $0.reject(ChatError(.forbidden, "viewers cannot start conversations"), ref: ref) }
            return
        }
        let projectID = project.id
        let userID = watcher.userID
        persist({ db in try Conversation.create(db, projectID: projectID, title: title, createdBy: userID) }) { [self] result in
            switch result {
            case .success(let conversation):
                let event = ChatEvents.conversation(conversation, running: false)
                hub.send(to: watcher) { $0.send(ChatEvents.reply("conversation_created", ref: ref,
                                                                 ["project": .string(projectID), "conversation": event])) }
                broadcast(ChatEvents.encode(["type": "conversation_created", "project": .string(projectID), "conversation": event]),
                          except: watcher.id)
            case .failure(let error):
                hub.send(to: watcher) { $0.reject(error, ref: ref) }
            }
        }
    }

    /// The conversation's live state, loaded on first use.
    func conversation(_ id: String) throws -> ConversationState {
        if let state = conversations[id] { return state }
        let state = try ConversationState.load(id, room: self)
        conversations[id] = state
        return state
    }

    private func withConversation(_ id: String, _ watcher: WatcherRef, ref: String?, _ body: (ConversationState) -> Void) {
        do {
            body(try conversation(id))
        } catch {
            hub.send(to: watcher) { $0.reject(ChatError(.internalError, "could not load the conversation: \(error)"), ref: ref) }
        }
    }

    func open(_ id: String, watcher: WatcherRef, afterSeq: Int?, ref: String?) {
        withConversation(id, watcher, ref: ref) { $0.open(watcher, afterSeq: afterSeq, ref: ref) }
    }

    func closeConversation(_ id: String, watcherID: UInt64) {
        conversations[id]?.unsubscribe(watcherID)
        unloadIfIdle()
    }

    func prompt(_ id: String, watcher: WatcherRef, clientID: String, text: String, ref: String?) {
        withConversation(id, watcher, ref: ref) { $0.prompt(watcher, clientID: clientID, text: text, ref: ref) }
    }

    func cancel(_ id: String, watcher: WatcherRef, ref: String?) {
        withConversation(id, watcher, ref: ref) { $0.cancel(watcher, ref: ref) }
    }

    func regenerate(_ id: String, watcher: WatcherRef, clientID: String, ref: String?) {
        withConversation(id, watcher, ref: ref) { $0.regenerate(watcher, clientID: clientID, ref: ref) }
    }

    /// Drops conversations nobody watches and nothing runs in; the room goes when it is empty too.
    func unloadIfIdle() {
        for (id, state) in conversations where state.isIdle {
            state.unload()
            conversations[id] = nil
        }
        if watchers.isEmpty && conversations.isEmpty { hub.rooms[project.id] = nil }
    }

    func shutdown() {
        for state in conversations.values { state.shutdown() }
        conversations.removeAll()
    }

    // MARK: Writes

    /// Queues a write and completes on this loop. A full queue is reported as `busy` at once.
    func persist<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T,
                              then: @escaping (Result<T, ChatError>) -> Void) {
        let loop = self.loop
        let done = UncheckedBox(then)
        do {
            try store.writer.submit(work) { result in
                loop.execute {
                    done.value(result.mapError { error in
                        if let storeError = error as? StoreError, storeError.kind == .busy {
                            return ChatError(.busy, "the server is saturated; retry shortly")
                        }
                        return ChatError(.internalError, "the database refused the write: \(error)")
                    })
                }
            }
        } catch {
            then(.failure(error.kind == .busy ? ChatError(.busy, "the server is saturated; retry shortly")
                                              : ChatError(.internalError, "the database is closed")))
        }
    }
}

/// A value carried to another thread and used only on the loop it comes back to.
struct UncheckedBox<T>: @unchecked Sendable {
    // Invariant: created on a loop and read only after hopping back to that same loop.
    let value: T
    init(_ value: T) { self.value = value }
}
