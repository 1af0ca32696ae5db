import Net
import Store

/// One loaded conversation on its project's loop: the numbered event log, who follows it live, the
/// prompt queue, and the running generation.
///
/// Ordering rules (docs/protocol.md): every event gets the next sequence number when it happens, and
/// events leave strictly in number order. An event that must be durable first (an accepted prompt,
/// a tool result) holds back the ones behind it until its write commits. No number above the
/// reservation committed in `conversations.last_seq` is ever sent, so after a crash numbering
/// continues above anything a client saw.
final class ConversationState {
    struct Event {
        let seq: Int
        /// The message the event belongs to (nil for events that belong to none).
        let messageID: String?
        var text: String
        var ready: Bool
    }

    struct QueuedPrompt {
        let message: Message
        let userName: String
    }

    let id: String
    /// Strong: writes and timers may complete after the room unloaded this conversation.
    let room: ProjectRoom
    private(set) var nextSeq: Int
    private var reservedSeq: Int
    private var reservingUpTo: Int
    /// The ring: consecutive events from `log[0].seq`; older ones are replayed from the store.
    private var log: [Event] = []
    private var logBytes = 0
    /// Every event at or below this has been sent to the live watchers.
    private var releasedSeq: Int
    /// Last event seq of each message in the ring, and which of them are final and committed.
    private var messageEnds: [String: Int] = [:]
    private var finalized: Set<String> = []
    private var subscribers: [UInt64: WatcherRef] = [:]
    private var queue: [QueuedPrompt] = []
    /// Prompts whose write is in flight, by client id, with the refs waiting for the answer.
    private var pendingPrompts: [String: [(WatcherRef, String?)]] = [:]
    private var recentRegenerations: [String] = []
    private(set) var run: GenerationRun?
    /// Work that waits for a run that has announced its end but is still saving (a regenerate sent
    /// the moment `generation_finished` arrived).
    private var afterRun: [() -> Void] = []
    private var unloadTimer: LoopTimer?

    private init(id: String, room: ProjectRoom, highestSeq: Int, reserved: Int) {
        self.id = id
        self.room = room
        nextSeq = max(highestSeq, reserved) + 1
        releasedSeq = nextSeq - 1
        reservedSeq = reserved
        reservingUpTo = reserved
    }

    static func load(_ id: String, room: ProjectRoom) throws -> ConversationState {
        let (conversation, highest) = try room.read { db in
            (try Conversation.find(db, id: id), try Message.highestEventSeq(db, conversationID: id))
        }
        guard let conversation, conversation.projectID == room.project.id else {
            throw ChatError(.notFound, "no conversation \(id) in this project")
        }
        return ConversationState(id: id, room: room, highestSeq: highest, reserved: conversation.lastSeq)
    }

    var config: ChatConfiguration { room.service.configuration }
    var isBusy: Bool { run != nil || !queue.isEmpty || !pendingPrompts.isEmpty }
    var isIdle: Bool { subscribers.isEmpty && !isBusy }

    // MARK: Events

    /// Appends an event with the next number. `build` gets the number and returns the frame.
    @discardableResult
    func emit(messageID: String?, ready: Bool = true, _ build: (Int) -> String) -> Int {
        let seq = nextSeq
        nextSeq += 1
        let text = build(seq)
        log.append(Event(seq: seq, messageID: messageID, text: text, ready: ready))
        logBytes += text.utf8.count
        if let messageID { messageEnds[messageID] = seq }
        reserveIfNeeded()
        release()
        return seq
    }

    /// Marks a held event ready, with its final text (or a replacement when its write failed).
    func settle(_ seq: Int, text: String? = nil) {
        guard let first = log.first?.seq, seq >= first, seq - first < log.count else { return }
        let index = seq - first
        if let text {
            logBytes += text.utf8.count - log[index].text.utf8.count
            log[index].text = text
        }
        log[index].ready = true
        release()
    }

    /// The message is final and its last write committed: its events may leave the ring.
    func finalize(_ messageID: String) {
        finalized.insert(messageID)
        evictIfNeeded()
    }

    private func reserveIfNeeded() {
        guard nextSeq + 128 > reservingUpTo else { return }
        let target = nextSeq + 512
        reservingUpTo = target
        let id = self.id
        room.persist({ db in try Conversation.reserveSeq(db, id: id, upTo: target) }) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success:
                reservedSeq = max(reservedSeq, target)
                release()
            case .failure(let error):
                // Held events wait for the next try; nothing unreserved is ever sent.
                Log.warning("could not reserve event numbers", ["conversation": id, "error": error.message])
                reservingUpTo = reservedSeq
                room.loop.schedule(after: .milliseconds(100)) { [weak self] in self?.reserveIfNeeded() }
            }
        }
    }

    /// Sends ready events in order, stopping at the first one held or unreserved.
    private func release() {
        guard let first = log.first?.seq else { return }
        while releasedSeq + 1 < nextSeq, releasedSeq + 1 <= reservedSeq {
            let index = releasedSeq + 1 - first
            guard index >= 0, index < log.count, log[index].ready else { break }
            releasedSeq += 1
            let event = log[index]
            for watcher in subscribers.values {
                let conversation = id
                room.hub.send(to: watcher) { $0.deliver(conversation: conversation, seq: event.seq, text: event.text) }
            }
        }
        evictIfNeeded()
    }

    /// Drops the oldest finished messages' events while the ring is over its limits. A message's
    /// events leave together, along with every event numbered before its last one, so the ring always
    /// starts at a point where "everything earlier is in the store as final messages".
    private func evictIfNeeded() {
        guard log.count > config.ringEvents || logBytes > config.ringBytes else { return }
        let targetCount = config.ringEvents * 3 / 4
        let targetBytes = config.ringBytes * 3 / 4
        var cut = 0
        var bytes = logBytes
        while cut < log.count && (log.count - cut > targetCount || bytes > targetBytes) {
            var end = log[cut].seq
            var index = cut
            while index < log.count && log[index].seq <= end {
                let event = log[index]
                guard event.seq <= releasedSeq, event.ready else { return commitEviction(cut, bytes) }
                if let message = event.messageID {
                    guard finalized.contains(message) else { return commitEviction(cut, bytes) }
                    end = max(end, messageEnds[message] ?? end)
                }
                index += 1
            }
            for i in cut..<index { bytes -= log[i].text.utf8.count }
            cut = index
        }
        commitEviction(cut, bytes)
    }

    private func commitEviction(_ cut: Int, _ bytes: Int) {
        guard cut > 0 else { return }
        for event in log[0..<cut] {
            if let message = event.messageID, messageEnds[message] == event.seq {
                messageEnds[message] = nil
                finalized.remove(message)
            }
        }
        log.removeFirst(cut)
        logBytes = bytes
    }

    // MARK: Watchers

    func open(_ watcher: WatcherRef, afterSeq: Int?, ref: String?) {
        cancelUnload()
        subscribers[watcher.id] = watcher
        var frames: [String] = []
        if let afterSeq, afterSeq < releasedSeq {
            let ringStart = log.first?.seq ?? nextSeq
            if afterSeq + 1 < ringStart {
                do {
                    let stored = try room.read { db in
                        try Message.resumable(db, conversationID: id, afterSeq: afterSeq, before: ringStart, limit: 100_000)
                    }
                    frames += stored.map(ChatEvents.snapshot)
                } catch {
                    subscribers[watcher.id] = nil
                    room.hub.send(to: watcher) { $0.reject(ChatError(.internalError, "could not read the conversation"), ref: ref) }
                    return
                }
            }
            for event in log where event.seq > afterSeq && event.seq <= releasedSeq { frames.append(event.text) }
        }
        let upTo = releasedSeq
        let reply = ChatEvents.reply("opened", ref: ref, [
            "conversation": .string(id), "seq": ChatEvents.number(upTo), "running": .bool(run != nil),
            "queued": ChatEvents.number(queue.count),
        ])
        let conversation = id
        room.hub.send(to: watcher) { session in
            for frame in frames { session.send(frame) }
            session.replayed(conversation: conversation, upTo: upTo, reply: reply)
        }
    }

    func unsubscribe(_ watcherID: UInt64) {
        subscribers[watcherID] = nil
        if isIdle { scheduleUnload() }
    }

    private func scheduleUnload() {
        cancelUnload()
        unloadTimer = room.loop.schedule(after: config.idleUnload) { [weak self] in
            guard let self else { return }
            unloadTimer = nil
            room.unloadIfIdle()
        }
    }

    private func cancelUnload() {
        if let unloadTimer { room.loop.cancel(unloadTimer) }
        unloadTimer = nil
    }

    func unload() { cancelUnload() }

    func shutdown() {
        cancelUnload()
        run?.abandon()
        run = nil
    }

    // MARK: Prompts

    func prompt(_ watcher: WatcherRef, clientID: String, text: String, ref: String?) {
        if pendingPrompts[clientID] != nil {
            pendingPrompts[clientID]?.append((watcher, ref))
            return
        }
        let existing: Message?
        do {
            existing = try room.read { try Message.find($0, conversationID: id, clientID: clientID) }
        } catch {
            return reply(watcher, error: ChatError(.internalError, "could not read the conversation"), ref: ref)
        }
        if let existing {
            return acknowledge(watcher, ref: ref, message: existing, position: nil, duplicate: true)
        }
        guard queue.count + pendingPrompts.count < config.queueLimit || run == nil && queue.isEmpty && pendingPrompts.isEmpty else {
            return reply(watcher, error: ChatError(.queueFull, "\(queue.count + pendingPrompts.count) prompts already wait in this conversation; retry when one has run"), ref: ref)
        }
        let position = queue.count + pendingPrompts.count + (run == nil || run?.hasFinished == true ? 0 : 1)
        let messageID = StoreID.make()
        let conversation = id
        let author = watcher.userID
        let content = StoredContent.text(text)
        var stored = Message(id: messageID, conversationID: conversation, seq: 0, role: .user, content: content,
                             status: .complete, clientID: clientID, authorID: author, createdAt: StoreClock.nowMilliseconds(),
                             updatedAt: StoreClock.nowMilliseconds())
        let seq = emit(messageID: messageID, ready: false) { seq in
            stored.seq = seq
            return ChatEvents.encode(["type": "prompt_accepted", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                                      "client_id": .string(clientID), "queue_position": ChatEvents.number(position),
                                      "message": ChatEvents.message(stored)])
        }
        stored.seq = seq
        // Nothing ahead of it: the provider call starts now and overlaps the prompt's commit.
        let early = run == nil && queue.isEmpty && pendingPrompts.isEmpty
            ? GenerationRun(state: self, prompt: stored, userName: watcher.name, committed: false) : nil
        pendingPrompts[clientID] = [(watcher, ref)]
        let message = stored
        if let early {
            run = early
            early.start()
        }
        room.persist({ db in
            try Message.insert(db, conversationID: conversation, seq: seq, role: .user, content: content, clientID: clientID,
                               authorID: author, id: messageID, at: message.createdAt)
        }) { [self] result in
            let waiting = pendingPrompts.removeValue(forKey: clientID) ?? []
            switch result {
            case .success:
                settle(seq)
                finalize(messageID)
                for (watcher, ref) in waiting { acknowledge(watcher, ref: ref, message: message, position: position, duplicate: false) }
                if let early, run === early {
                    early.promptStored()
                } else {
                    queue.append(QueuedPrompt(message: message, userName: watcher.name))
                    startNextIfIdle()
                }
            case .failure(let error):
                settle(seq, text: ChatEvents.encode(["type": "prompt_failed", "conversation": .string(conversation),
                                                     "seq": ChatEvents.number(seq), "client_id": .string(clientID),
                                                     "code": .string(error.code.rawValue), "message": .string(error.message)]))
                finalize(messageID)
                for (watcher, ref) in waiting { reply(watcher, error: error, ref: ref) }
                if let early, run === early {
                    early.promptLost()
                    run = nil
                    startNextIfIdle()
                }
            }
        }
    }

    private func acknowledge(_ watcher: WatcherRef, ref: String?, message: Message, position: Int?, duplicate: Bool) {
        var fields: [String: JSONValue] = ["conversation": .string(id), "seq": ChatEvents.number(message.seq),
                                           "client_id": ChatEvents.optional(message.clientID), "message_id": .string(message.id),
                                           "duplicate": .bool(duplicate)]
        if let position { fields["queue_position"] = ChatEvents.number(position) }
        let text = ChatEvents.reply("ok", ref: ref, fields)
        room.hub.send(to: watcher) { $0.send(text) }
    }

    func reply(_ watcher: WatcherRef, error: ChatError, ref: String?) {
        room.hub.send(to: watcher) { $0.reject(error, ref: ref) }
    }

    func reply(_ watcher: WatcherRef, ok fields: [String: JSONValue], ref: String?) {
        let text = ChatEvents.reply("ok", ref: ref, fields)
        room.hub.send(to: watcher) { $0.send(text) }
    }

    private func startNextIfIdle() {
        guard run == nil, !queue.isEmpty else { return }
        let next = queue.removeFirst()
        let generation = GenerationRun(state: self, prompt: next.message, userName: next.userName)
        run = generation
        generation.start()
    }

    /// Called by the run once its last write committed.
    func generationEnded(_ generation: GenerationRun) {
        guard run === generation else { return }
        run = nil
        let waiting = afterRun
        afterRun.removeAll()
        for start in waiting { start() }
        startNextIfIdle()
        if isIdle { scheduleUnload() }
    }

    func cancel(_ watcher: WatcherRef, ref: String?) {
        guard let run else {
            return reply(watcher, ok: ["conversation": .string(id), "cancelled": false], ref: ref)
        }
        run.cancel()
        reply(watcher, ok: ["conversation": .string(id), "cancelled": true], ref: ref)
    }

    func regenerate(_ watcher: WatcherRef, clientID: String, ref: String?) {
        if recentRegenerations.contains(clientID) {
            return reply(watcher, ok: ["conversation": .string(id), "duplicate": true], ref: ref)
        }
        if let run, run.hasFinished, queue.isEmpty, pendingPrompts.isEmpty {
            afterRun.append { [weak self] in self?.regenerate(watcher, clientID: clientID, ref: ref) }
            return
        }
        guard run == nil, queue.isEmpty, pendingPrompts.isEmpty else {
            return reply(watcher, error: ChatError(.badRequest, "a generation is running in this conversation; cancel it or wait"), ref: ref)
        }
        let last: Message?
        do {
            last = try room.read { db in
                try Message.last(db, conversationID: id, limit: 200).last { $0.role == .user }
            }
        } catch {
            return reply(watcher, error: ChatError(.internalError, "could not read the conversation"), ref: ref)
        }
        guard let last else {
            return reply(watcher, error: ChatError(.badRequest, "there is no prompt to answer again in this conversation"), ref: ref)
        }
        recentRegenerations.append(clientID)
        if recentRegenerations.count > 64 { recentRegenerations.removeFirst() }
        reply(watcher, ok: ["conversation": .string(id), "reply_to": .string(last.id), "duplicate": false], ref: ref)
        let generation = GenerationRun(state: self, prompt: last, userName: watcher.name)
        run = generation
        generation.start()
    }
}
