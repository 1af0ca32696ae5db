import Glibc
import LLM
import MCP
import Net
import Store

/// One answer to one prompt: LLM stream → deltas out → tool calls (concurrently) → results back to
/// the LLM → … until a final answer, the step limit, a cancel, or an error. Runs on the project's loop.
///
/// Every LLM step is one assistant message, inserted `incomplete` when it starts, saved as its text
/// grows (every `flushInterval`) and finally with its status; each tool result is a `tool` message.
final class GenerationRun {
    /// Strong: provider, tool and write completions may arrive after the conversation let go of the run.
    let state: ConversationState
    let prompt: Message
    let id = StoreID.make()
    private let userName: String
    var step = 0
    /// What this generation said and got back so far, for the next step's context.
    var produced: [ChatMessage] = []
    private var stored: [Message] = []
    private var tools: [ToolDefinition] = []
    var mcpNames: Set<String> = []
    private var system = ""
    private var chain: [ModelReference] = []
    private var contextNote: JSONValue = .null
    private var totalUsage = TokenUsage(inputTokens: 0, outputTokens: 0)
    var finished = false
    /// Announced as finished (`generation_finished` sent); only its last write may still be running.
    var hasFinished: Bool { finished }
    private var cancelled = false

    // The step in progress.
    private var messageID = ""
    private var text = ""
    var calls: [(id: String, name: String, arguments: JSONValue)] = []
    /// The provider's opaque signature of a call of this step, by call id (Gemini's
    /// `thoughtSignature`): stored with the call so a later context sends it back.
    private var callSignatures: [String: String] = [:]
    private var usage: TokenUsage?
    private var model: ModelReference?
    private var generation: Generation?
    private var flushTimer: LoopTimer?
    private var dirty = false
    var pendingTools: [String: MCPCallHandle?] = [:]
    private var stepStarted: UInt64 = 0
    private var firstOutputSeen = false
    var toolStarted: [String: UInt64] = [:]
    var toolResults: [String: ChatMessage] = [:]

    /// False while the prompt's own write is in flight. The provider call starts anyway (so the
    /// commit overlaps the model's time to first token), but nothing is announced or stored, and its
    /// events wait in `held`, until the prompt is committed; if that write fails the run is dropped.
    private var promptCommitted: Bool
    private var held: [(LLMStreamEvent, ModelReference)] = []
    private var pendingAnnouncement: (() -> Void)?

    init(state: ConversationState, prompt: Message, userName: String, committed: Bool = true) {
        self.state = state
        self.prompt = prompt
        self.userName = userName
        promptCommitted = committed
    }

    /// The prompt is stored: announce the step and let the held provider events through.
    func promptStored() {
        guard !promptCommitted else { return }
        promptCommitted = true
        pendingAnnouncement?()
        pendingAnnouncement = nil
        let events = held
        held.removeAll()
        for (event, model) in events { handle(event, model: model) }
    }

    /// The prompt could not be stored: stop the provider call; nothing was announced.
    func promptLost() {
        finished = true
        held.removeAll()
        pendingAnnouncement = nil
        generation?.cancel()
    }

    var room: ProjectRoom { state.room }
    var service: ChatService { room.service }
    var loop: EventLoop { room.loop }
    var conversationID: String { state.id }

    // MARK: Start

    func start() {
        let project = room.project
        chain = project.llm == "default" ? [] : ((try? ModelReference.chain(project.llm)) ?? [])
        let enabled = (try? room.read { try ProjectConfig.get($0, projectID: project.id) })
            .flatMap { $0 }.map { Self.enabledServers($0.mcpServersJSON) } ?? []
        if let mcp = service.mcp {
            for entry in mcp.tools() where enabled.contains("*") || enabled.contains(entry.group) {
                guard !WorkspaceTools.names.contains(entry.exposedName) else { continue }
                tools.append(ToolDefinition(name: entry.exposedName, description: entry.tool.description ?? entry.tool.title ?? "",
                                            parametersJSON: entry.tool.inputSchema.serializedString))
                mcpNames.insert(entry.exposedName)
            }
        }
        tools = WorkspaceTools.definitions + tools
        let toolList = tools.map { "- \($0.name): \($0.description)" }.joined(separator: "\n")
        system = service.prompts.render(project.systemPrompt, [
            "project_name": project.name, "project_description": project.description.isEmpty ? "(none)" : project.description,
            "tools": toolList, "date": Self.today(), "user_name": userName,
        ])
        nextStep()
    }

    static func enabledServers(_ json: String) -> Set<String> {
        guard let value = try? JSONValue.parse(json) else { return [] }
        return Set((value.arrayValue ?? []).compactMap(\.stringValue))
    }

    private static func today() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    func nextStep() {
        step += 1
        let history: [Message]
        do {
            history = try room.read { try Message.last($0, conversationID: conversationID, limit: 400) }
        } catch {
            return fail("internal", "could not read the conversation: \(error)")
        }
        let context = ContextBuilder.build(stored: history, prompt: prompt, current: produced, generationID: id,
                                           budgetTokens: service.configuration.contextTokens)
        if context.droppedTurns > 0 {
            Log.info("context trimmed", ["conversation": conversationID, "dropped_turns": String(context.droppedTurns)])
        }
        contextNote = .object(["turns": ChatEvents.number(context.turns), "dropped_turns": ChatEvents.number(context.droppedTurns)])
        messageID = StoreID.make()
        text = ""
        calls = []
        callSignatures = [:]
        usage = nil
        model = nil
        let messageID = self.messageID
        let conversation = conversationID
        let generationID = id
        let replyTo = prompt.id
        let stepNumber = step
        let contextNote = self.contextNote
        let announce = { [state, room] in
            let seq = state.emit(messageID: messageID) { seq in
                ChatEvents.encode(["type": "message_started", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                                   "message": .string(messageID), "generation": .string(generationID), "reply_to": .string(replyTo),
                                   "step": ChatEvents.number(stepNumber), "context": contextNote])
            }
            room.persist({ db in
                try Message.insert(db, conversationID: conversation, seq: seq, role: .assistant, content: "[]", status: .incomplete,
                                   id: messageID, replyTo: replyTo, generationID: generationID, endSeq: seq)
            }) { result in
                if case .failure(let error) = result {
                    Log.warning("could not store an assistant message", ["conversation": conversation, "error": error.message])
                }
            }
        }
        if promptCommitted { announce() } else { pendingAnnouncement = announce }
        stepStarted = loop.now
        firstOutputSeen = false
        let request = LLMRequest(system: system, messages: context.messages, tools: tools,
                                 options: GenerationOptions(model: ""))
        generation = service.hub(on: loop).router(service.providers).generate(request, chain: chain) { [weak self] event, model in
            self?.handle(event, model: model)
        }
    }

    // MARK: The stream

    private func handle(_ event: LLMStreamEvent, model reference: ModelReference) {
        guard !finished else { return }
        guard promptCommitted else {
            held.append((event, reference))
            return
        }
        model = reference
        switch event {
        case .textDelta, .toolCallStarted, .toolCallFinished:
            if !firstOutputSeen {
                firstOutputSeen = true
                ChatMetrics.timeToFirstToken(reference.provider).observe(Double(MonotonicClock.now() &- stepStarted) / 1e9)
            }
        case .usage(let value):
            ChatMetrics.tokens(reference.provider, "input").add(value.inputTokens)
            ChatMetrics.tokens(reference.provider, "output").add(value.outputTokens)
        default: break
        }
        switch event {
        case .textDelta(let delta):
            guard !delta.isEmpty else { return }
            text += delta
            let conversation = conversationID
            let messageID = self.messageID
            state.emit(messageID: messageID) { seq in
                ChatEvents.encode(["type": "delta", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                                   "message": .string(messageID), "text": .string(delta)])
            }
            scheduleFlush()
        case .toolCallStarted, .toolCallArgumentsDelta:
            break
        case .toolCallFinished(_, let callID, let name, let argumentsJSON, let signature):
            let arguments = (try? JSONValue.parse(argumentsJSON)) ?? .object([:])
            calls.append((callID, name, arguments))
            if let signature { callSignatures[callID] = signature }
            let conversation = conversationID
            let messageID = self.messageID
            state.emit(messageID: messageID) { seq in
                ChatEvents.encode(["type": "tool_call", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                                   "message": .string(messageID), "call": .string(callID), "name": .string(name),
                                   "arguments": arguments])
            }
        case .usage(let value):
            usage = value
        case .finished(let reason):
            generation = nil
            let wantsTools = reason == .toolUse && !calls.isEmpty
            endMessage(status: .complete, reason: wantsTools ? "tool_use" : Self.name(reason), final: !wantsTools)
            if wantsTools { runTools() } else { finish(Self.name(reason)) }
        case .error(let error):
            generation = nil
            if case .cancelled = error {
                endMessage(status: .cancelled, reason: "cancelled", final: true)
                finish("cancelled")
            } else {
                let (code, message) = Self.describe(error)
                endMessage(status: .error, reason: code, final: true)
                fail(code, message, error: error)
            }
        }
    }

    static func name(_ reason: StopReason) -> String {
        switch reason {
        case .end: "end"
        case .length: "length"
        case .toolUse: "tool_use"
        case .contentFilter: "content_filter"
        }
    }

    private static func describe(_ error: LLMError) -> (String, String) {
        switch error {
        case .authentication(let m): ("auth", "the provider refused the credentials: \(m)")
        case .rateLimited(_, let m): ("rate_limited", "the provider is rate limiting: \(m)")
        case .overloaded(let m): ("overloaded", "the provider is overloaded: \(m)")
        case .badRequest(let m): ("bad_request", "the provider refused the request: \(m)")
        case .contextTooLong(let m): ("context_too_long", "the conversation is too long for the model: \(m)")
        case .server(let status, let m): ("network", "the provider failed with HTTP \(status): \(m)")
        case .network(let m): ("network", "the provider could not be reached: \(m)")
        case .timeout(let m): ("timeout", "the provider stopped answering: \(m)")
        case .cancelled: ("cancelled", "cancelled")
        }
    }

    /// The assistant message's parts as stored and as the next step sees them.
    private func currentParts() -> (JSONValue, ChatMessage) {
        var stored: [JSONValue] = []
        var parts: [ContentPart] = []
        if !text.isEmpty {
            stored.append(.object(["type": "text", "text": .string(text)]))
            parts.append(.text(text))
        }
        for call in calls {
            let signature = callSignatures[call.id]
            stored.append(StoredContent.toolCall(id: call.id, name: call.name, arguments: call.arguments, signature: signature))
            parts.append(.toolCall(id: call.id, name: call.name, argumentsJSON: call.arguments.serializedString, signature: signature))
        }
        return (.array(stored), ChatMessage(role: .assistant, parts: parts))
    }

    private func scheduleFlush() {
        dirty = true
        guard flushTimer == nil else { return }
        flushTimer = loop.schedule(after: service.configuration.flushInterval) { [weak self] in
            guard let self else { return }
            flushTimer = nil
            flush()
        }
    }

    /// Saves the growing text, so a crash leaves it stored (as incomplete).
    private func flush() {
        guard dirty, !finished || generation == nil else { return }
        dirty = false
        let content = currentParts().0.serializedString
        let messageID = self.messageID
        let endSeq = state.nextSeq - 1
        room.persist({ db in
            try Message.update(db, id: messageID, content: content, status: .incomplete, endSeq: endSeq)
        }) { _ in }
    }

    /// Ends the current assistant message: event, final save, usage record. `final` when the
    /// generation ends with it (its `generation_finished` then counts as part of it).
    private func endMessage(status: Message.Status, reason: String, final: Bool) {
        if let flushTimer { loop.cancel(flushTimer) }
        flushTimer = nil
        dirty = false
        let (content, chatMessage) = currentParts()
        if !chatMessage.parts.isEmpty { produced.append(chatMessage) }
        if let usage {
            totalUsage.inputTokens += usage.inputTokens
            totalUsage.outputTokens += usage.outputTokens
        }
        let conversation = conversationID
        let messageID = self.messageID
        let usageJSON: JSONValue = usage.map {
            .object(["input_tokens": ChatEvents.number($0.inputTokens), "output_tokens": ChatEvents.number($0.outputTokens)])
        } ?? .null
        state.emit(messageID: messageID) { seq in
            ChatEvents.encode(["type": "message_finished", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                               "message": .string(messageID), "stop_reason": .string(reason), "status": .string(status.rawValue),
                               "model": ChatEvents.optional(self.model?.description), "usage": usageJSON])
        }
        pendingFinal = (messageID, content.serializedString, status, reason, usage, model)
        if !final { saveFinal(then: nil) }
    }

    private var pendingFinal: (id: String, content: String, status: Message.Status, reason: String, usage: TokenUsage?,
                               model: ModelReference?)?

    private func saveFinal(then: (() -> Void)?) {
        guard let final = pendingFinal else { then?(); return }
        pendingFinal = nil
        let endSeq = state.nextSeq - 1
        let conversation = conversationID
        let project = room.project.id
        let userID = prompt.authorID
        room.persist({ db in
            try Message.update(db, id: final.id, content: final.content, status: final.status,
                               inputTokens: final.usage?.inputTokens, outputTokens: final.usage?.outputTokens,
                               model: final.model?.description, endSeq: endSeq, stopReason: final.reason)
            if let usage = final.usage, let model = final.model {
                _ = try UsageRecord.insert(db, projectID: project, conversationID: conversation, messageID: final.id,
                                           userID: userID, provider: model.provider, model: model.model,
                                           inputTokens: usage.inputTokens, outputTokens: usage.outputTokens)
            }
        }) { [weak state] result in
            if case .failure(let error) = result {
                Log.warning("could not save an assistant message", ["conversation": conversation, "error": error.message])
            }
            state?.finalize(final.id)
            then?()
        }
    }

    // MARK: Ending

    /// Stops at once: the provider transfer is aborted, running tool calls are cancelled.
    func cancel() {
        guard !finished, !cancelled else { return }
        cancelled = true
        if let generation {
            generation.cancel()   // delivers .error(.cancelled) → handle
            return
        }
        let running = pendingTools
        pendingTools.removeAll()
        for (_, handle) in running { handle?.cancel() }
        for call in calls where running[call.id] != nil {
            record(call, outcome: .text("the tool call was cancelled", isError: true))
        }
        finish("cancelled")
    }

    /// Server shutdown: stop the transfer, leave the stored reply incomplete.
    func abandon() {
        finished = true
        if let flushTimer { loop.cancel(flushTimer) }
        generation?.cancel()
        for (_, handle) in pendingTools { handle?.cancel() }
    }

    private func fail(_ code: String, _ message: String, error: LLMError? = nil) {
        var retryAfter: JSONValue = .null
        if case .rateLimited(let after?, _) = error {
            retryAfter = ChatEvents.number(Int(after.components.seconds * 1000 + after.components.attoseconds / 1_000_000_000_000_000))
        }
        let conversation = conversationID
        let messageID = self.messageID
        let generationID = id
        state.emit(messageID: messageID) { seq in
            ChatEvents.encode(["type": "generation_error", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                               "message": .string(messageID), "generation": .string(generationID), "code": .string(code),
                               "error": .string(message), "retry_after_ms": retryAfter])
        }
        finish("error")
    }

    func finish(_ reason: String, note: String? = nil) {
        guard !finished else { return }
        finished = true
        Metrics.shared.counter("builderai_generations_total", "Finished generations by stop reason",
                               labels: [("stop_reason", reason)]).add()
        let conversation = conversationID
        let generationID = id
        let messageID = self.messageID
        let total = totalUsage
        state.emit(messageID: messageID) { seq in
            var fields: [String: JSONValue] = [
                "type": "generation_finished", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                "generation": .string(generationID), "reply_to": .string(self.prompt.id), "stop_reason": .string(reason),
                "usage": .object(["input_tokens": ChatEvents.number(total.inputTokens),
                                  "output_tokens": ChatEvents.number(total.outputTokens)]),
            ]
            if let note { fields["message"] = .string(note) }
            return ChatEvents.encode(fields)
        }
        if pendingFinal != nil {
            saveFinal { [weak state, self] in state?.generationEnded(self) }
        } else {
            // Extend the last message over the closing event, then hand the conversation back.
            let endSeq = state.nextSeq - 1
            let stopReason = reason == "step_limit" || reason == "cancelled" ? reason : nil
            room.persist({ db in
                try Message.extend(db, id: messageID, endSeq: endSeq, stopReason: stopReason)
            }) { [weak state, self] _ in
                state?.finalize(messageID)
                state?.generationEnded(self)
            }
        }
    }
}
