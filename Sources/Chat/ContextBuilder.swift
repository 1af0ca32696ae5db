import LLM
import Net
import Store

/// Rebuilds what the model sees from stored messages, turn by turn, within a token budget.
///
/// A turn is a user prompt and the replies of its newest generation (older generations of the same
/// prompt were superseded by `regenerate`). Turns are ordered by their prompt, so a prompt that was
/// queued while an earlier answer streamed still follows that whole answer. Tool calls that never got
/// a result (a cancel, a crash) get one saying so: every provider refuses a dangling call.
enum ContextBuilder {
    struct Context {
        var messages: [ChatMessage]
        var turns: Int
        var droppedTurns: Int
    }

    /// `stored`: the conversation's newest messages; `prompt`: the message being answered;
    /// `current`: what this generation produced so far (its own assistant and tool messages).
    static func build(stored: [Message], prompt: Message, current: [ChatMessage], generationID: String,
                      budgetTokens: Int) -> Context {
        var repliesByPrompt: [String: [Message]] = [:]
        for message in stored where message.role != .user {
            guard let replyTo = message.replyTo, message.generationID != generationID else { continue }
            repliesByPrompt[replyTo, default: []].append(message)
        }
        var turns: [[ChatMessage]] = []
        for user in stored where user.role == .user && user.seq < prompt.seq {
            var turn = [chatMessage(user)].compactMap { $0 }
            if let replies = repliesByPrompt[user.id] {
                let newest = replies.max { $0.seq < $1.seq }?.generationID
                turn += replies.filter { $0.generationID == newest }.sorted { $0.seq < $1.seq }.compactMap(chatMessage)
            }
            turns.append(closeDanglingCalls(turn))
        }
        let currentTurn = closeDanglingCalls([chatMessage(prompt)].compactMap { $0 } + current, keepLastOpen: true)
        var budget = budgetTokens - estimate(currentTurn)
        var kept: [[ChatMessage]] = []
        for turn in turns.reversed() {
            let cost = estimate(turn)
            if cost > budget { break }
            budget -= cost
            kept.append(turn)
        }
        return Context(messages: kept.reversed().flatMap { $0 } + currentTurn, turns: kept.count + 1,
                       droppedTurns: turns.count - kept.count)
    }

    /// Roughly 4 bytes a token, plus a little per message.
    static func estimate(_ messages: [ChatMessage]) -> Int {
        messages.reduce(0) { total, message in
            total + 4 + message.parts.reduce(0) { sum, part in
                switch part {
                case .text(let text): sum + text.utf8.count / 4
                case .toolCall(_, let name, let arguments, _): sum + (name.utf8.count + arguments.utf8.count) / 4
                case .toolResult(_, let content, _): sum + content.utf8.count / 4
                }
            }
        }
    }

    static func chatMessage(_ message: Message) -> ChatMessage? {
        guard let role = ChatRole(rawValue: message.role.rawValue) else { return nil }
        var parts: [ContentPart] = []
        for part in StoredContent.parts(message.content).arrayValue ?? [] {
            switch part["type"]?.stringValue {
            case "text":
                if let text = part["text"]?.stringValue, !text.isEmpty { parts.append(.text(text)) }
            case "tool_call":
                if let id = part["id"]?.stringValue, let name = part["name"]?.stringValue {
                    parts.append(.toolCall(id: id, name: name, argumentsJSON: (part["arguments"] ?? .object([:])).serializedString,
                                           signature: part["signature"]?.stringValue))
                }
            case "tool_result":
                if let call = part["call"]?.stringValue {
                    parts.append(.toolResult(callID: call, contentJSON: jsonText(resultText(part["content"])),
                                             isError: part["is_error"]?.boolValue ?? false))
                }
            default: continue
            }
        }
        return parts.isEmpty ? nil : ChatMessage(role: role, parts: parts)
    }

    /// MCP content blocks as the text a model reads.
    static func resultText(_ content: JSONValue?) -> String {
        let blocks = content?.arrayValue ?? []
        let texts = blocks.map { block -> String in
            if let text = block["text"]?.stringValue { return text }
            return block.serializedString
        }
        return texts.joined(separator: "\n")
    }

    private static func closeDanglingCalls(_ turn: [ChatMessage], keepLastOpen: Bool = false) -> [ChatMessage] {
        var answered = Set<String>()
        for message in turn {
            for case .toolResult(let id, _, _) in message.parts { answered.insert(id) }
        }
        var out: [ChatMessage] = []
        for (index, message) in turn.enumerated() {
            out.append(message)
            if keepLastOpen && index == turn.count - 1 { break }
            for case .toolCall(let id, _, _, _) in message.parts where !answered.contains(id) {
                out.append(ChatMessage(role: .tool, parts: [.toolResult(callID: id, contentJSON: jsonText("the tool was not run (the generation was stopped)"), isError: true)]))
                answered.insert(id)
            }
        }
        return out
    }
}

/// Text as a JSON string literal: how tool results are handed to the provider codecs.
func jsonText(_ text: String) -> String {
    JSONValue.string(text).serializedString
}
