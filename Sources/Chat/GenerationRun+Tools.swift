import LLM
import MCP
import Net
import Store

/// The tool half of a generation: the calls of one step run concurrently (MCP through the manager,
/// workspace tools on the store), each result is stored and streamed, then the next step starts.
extension GenerationRun {

    func runTools() {
        let limit = service.configuration.maxSteps
        if step >= limit {
            for call in calls {
                record(call, outcome: .text("the tool was not run: the step limit (\(limit)) was reached", isError: true))
            }
            return finish("step_limit", note: "stopped after \(limit) steps: the model kept calling tools; ask it to continue if needed")
        }
        let projectID = room.project.id
        for call in calls {
            pendingTools[call.id] = .some(nil)
            toolStarted[call.id] = MonotonicClock.now()
        }
        for call in calls {
            if WorkspaceTools.names.contains(call.name) {
                let box = UncheckedBox(self)
                WorkspaceTools.run(call.name, arguments: call.arguments, projectID: projectID, store: service.store, loop: loop) { outcome in
                    box.value.toolFinished(call.id, outcome)
                }
            } else if mcpNames.contains(call.name), let mcp = service.mcp {
                let box = UncheckedBox(self)
                let handle = mcp.callTool(call.name, arguments: call.arguments, timeout: service.configuration.toolTimeout,
                                          on: loop) { result in
                    let outcome: WorkspaceTools.Outcome
                    switch result {
                    case .success(let value):
                        var content = value.content
                        if value.truncated { content.append(.object(["type": "text", "text": "[result truncated]"])) }
                        outcome = WorkspaceTools.Outcome(content: content, isError: value.isError)
                    case .failure(let error):
                        outcome = .text("the tool call failed: \(error)", isError: true)
                    }
                    box.value.toolFinished(call.id, outcome)
                }
                if pendingTools[call.id] != nil { pendingTools[call.id] = handle }
            } else {
                toolFinished(call.id, .text("there is no tool named \(call.name) in this project", isError: true))
            }
        }
    }

    private func toolFinished(_ callID: String, _ outcome: WorkspaceTools.Outcome) {
        guard !finished, pendingTools.removeValue(forKey: callID) != nil,
              let call = calls.first(where: { $0.id == callID }) else { return }
        if let started = toolStarted.removeValue(forKey: callID) {
            ChatMetrics.toolCall(WorkspaceTools.names.contains(call.name) ? "workspace" : "mcp", outcome.isError)
                .observe(Double(MonotonicClock.now() &- started) / 1e9)
        }
        record(call, outcome: outcome)
        if pendingTools.isEmpty {
            for call in calls { if let result = toolResults[call.id] { produced.append(result) } }
            toolResults.removeAll()
            nextStep()
        }
    }

    /// Streams a tool result once it is stored, and keeps it for the next step.
    func record(_ call: (id: String, name: String, arguments: JSONValue), outcome: WorkspaceTools.Outcome) {
        let conversation = conversationID
        let toolMessageID = StoreID.make()
        let stored: JSONValue = .array([.object(["type": "tool_result", "call": .string(call.id), "name": .string(call.name),
                                                 "is_error": .bool(outcome.isError), "content": .array(outcome.content)])])
        let event: (Int) -> String = { seq in
            ChatEvents.encode(["type": "tool_result", "conversation": .string(conversation), "seq": ChatEvents.number(seq),
                               "message": .string(toolMessageID), "call": .string(call.id), "name": .string(call.name),
                               "is_error": .bool(outcome.isError), "content": .array(outcome.content)])
        }
        let seq = state.emit(messageID: toolMessageID, ready: false, event)
        toolResults[call.id] = ChatMessage(role: .tool, parts: [.toolResult(callID: call.id,
            contentJSON: jsonText(ContextBuilder.resultText(.array(outcome.content))), isError: outcome.isError)])
        let replyTo = prompt.id
        let generationID = id
        let content = stored.serializedString
        room.persist({ db in
            try Message.insert(db, conversationID: conversation, seq: seq, role: .tool, content: content, status: .complete,
                               id: toolMessageID, replyTo: replyTo, generationID: generationID)
        }) { [weak state] result in
            if case .failure(let error) = result {
                Log.warning("could not store a tool result", ["conversation": conversation, "error": error.message])
            }
            state?.settle(seq)
            state?.finalize(toolMessageID)
        }
    }
}
