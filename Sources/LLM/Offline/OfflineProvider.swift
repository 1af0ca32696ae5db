/// The built-in provider used when no API key is configured, so a fresh install can chat at once.
/// It runs no model and touches no network: every reply says it comes from the offline provider
/// and is the same for the same conversation.
///
/// It can also exercise tool calling. Send a message containing a line
///
///     /tool NAME {"argument": "value"}
///
/// where NAME is one of the tools offered to the model and the rest of the line is a JSON object
/// of arguments (it may be left out, meaning `{}`). The offline provider then calls that tool with
/// those arguments, and once the tool's result is back it replies with a short summary of what the
/// tool returned. An unknown tool name or arguments that are not a JSON object get a text reply
/// explaining the problem instead.
public struct OfflineProvider: Sendable {
    /// The pause the caller should leave between streamed events, so replies visibly stream.
    public static let chunkDelay: Duration = .milliseconds(25)

    /// Longest stretch of a tool result quoted back in the summary.
    static let summaryLimit = 400

    public init() {}

    /// The whole event sequence of the reply to `request`.
    public func respond(to request: LLMRequest) -> [LLMStreamEvent] {
        let inputTokens = Self.wordCount(request.system ?? "") + request.messages.reduce(0) { $0 + Self.wordCount($1.allText) }
        if let last = request.messages.last, last.role == .tool {
            return Self.textReply(Self.summary(of: last, in: request.messages), inputTokens: inputTokens)
        }
        let userText = request.messages.last(where: { $0.role == .user })?.allText ?? ""
        if let command = userText.split(separator: "\n", omittingEmptySubsequences: true)
            .map({ String($0).trimmingWhitespace() }).first(where: { $0 == "/tool" || $0.hasPrefix("/tool ") }) {
            return Self.toolReply(command, request: request, inputTokens: inputTokens)
        }
        return Self.textReply(Self.greeting(userText, tools: request.tools), inputTokens: inputTokens)
    }

    private static func greeting(_ userText: String, tools: [ToolDefinition]) -> String {
        var reply = "(offline provider) No language model is configured, so this reply comes from the built-in offline provider."
        let words = wordCount(userText)
        if words > 0 {
            let quoted = userText.count > 200 ? String(userText.prefix(200)) + "…" : userText
            reply += " You wrote \(words) \(words == 1 ? "word" : "words"): \"\(quoted.trimmingWhitespace())\"."
        }
        reply += " Add an API key for a model provider to get real answers."
        if !tools.isEmpty {
            reply += " To try a tool, send a line like: /tool \(tools[0].name) {}. Available tools: \(tools.map(\.name).joined(separator: ", "))."
        }
        return reply
    }

    private static func toolReply(_ command: String, request: LLMRequest, inputTokens: Int) -> [LLMStreamEvent] {
        let rest = String(command.dropFirst("/tool".count)).trimmingWhitespace()
        let name = String(rest.prefix { !$0.isWhitespace && $0 != "{" })
        let argumentsText = String(rest.dropFirst(name.count)).trimmingWhitespace()
        guard !name.isEmpty else {
            return textReply("(offline provider) The /tool line names no tool. Write: /tool NAME {\"argument\": \"value\"}.",
                             inputTokens: inputTokens)
        }
        guard request.tools.contains(where: { $0.name == name }) else {
            let available = request.tools.isEmpty ? "No tools are available in this conversation."
                : "Available tools: \(request.tools.map(\.name).joined(separator: ", "))."
            return textReply("(offline provider) There is no tool named \(name). \(available)", inputTokens: inputTokens)
        }
        guard let arguments = argumentsText.isEmpty ? [:] : NativeJSON.parseObject(argumentsText) else {
            return textReply("(offline provider) The arguments for \(name) are not a JSON object: \(argumentsText). "
                + "Write them as one object, e.g. /tool \(name) {\"argument\": \"value\"}.", inputTokens: inputTokens)
        }
        let json = NativeJSON.text(arguments)
        // Deterministic and distinct per turn: the conversation length and the call itself.
        let id = "offline_call_" + fnv1a("\(request.messages.count)|\(name)|\(json)")
        let middle = json.index(json.startIndex, offsetBy: json.count / 2)
        return [.toolCallStarted(index: 0, id: id, name: name),
                .toolCallArgumentsDelta(index: 0, fragment: String(json[..<middle])),
                .toolCallArgumentsDelta(index: 0, fragment: String(json[middle...])),
                .toolCallFinished(index: 0, id: id, name: name, argumentsJSON: json),
                .usage(TokenUsage(inputTokens: inputTokens, outputTokens: wordCount(json) + 1)),
                .finished(.toolUse)]
    }

    private static func summary(of message: ChatMessage, in conversation: [ChatMessage]) -> String {
        var names: [String: String] = [:]
        for earlier in conversation {
            for case .toolCall(let id, let name, _, _) in earlier.parts { names[id] = name }
        }
        var sentences: [String] = []
        for case .toolResult(let callID, let content, let isError) in message.parts {
            let tool = names[callID].map { "The tool \($0)" } ?? "The tool"
            var result = NativeJSON.plainText(ofJSON: content).trimmingWhitespace()
            if result.count > summaryLimit { result = String(result.prefix(summaryLimit)) + "…" }
            if result.isEmpty { result = "nothing" }
            sentences.append(isError ? "\(tool) reported an error: \(result)" : "\(tool) returned: \(result)")
        }
        if sentences.isEmpty { sentences = ["The tool returned nothing"] }
        return "(offline provider) " + sentences.map { $0.hasSuffix(".") ? $0 : $0 + "." }.joined(separator: " ")
    }

    /// The reply streamed a word at a time (each delta keeps its trailing space).
    private static func textReply(_ text: String, inputTokens: Int) -> [LLMStreamEvent] {
        var events: [LLMStreamEvent] = []
        var word = ""
        for character in text {
            if character.isWhitespace, !word.isEmpty, !(word.last?.isWhitespace ?? true) {
                word.append(character)
                events.append(.textDelta(word))
                word = ""
            } else {
                word.append(character)
            }
        }
        if !word.isEmpty { events.append(.textDelta(word)) }
        return events + [.usage(TokenUsage(inputTokens: inputTokens, outputTokens: wordCount(text))), .finished(.end)]
    }

    /// A stand-in for a tokenizer: good enough for usage figures that must be deterministic.
    static func wordCount(_ text: String) -> Int {
        text.split(whereSeparator: { $0.isWhitespace }).count
    }

    private static func fnv1a(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension ChatMessage {
    /// Every text part, joined, plus tool arguments and results: what the offline provider counts.
    fileprivate var allText: String {
        parts.map { part in
            switch part {
            case .text(let text): text
            case .toolCall(_, _, let arguments, _): arguments
            case .toolResult(_, let content, _): content
            }
        }.joined(separator: " ")
    }
}
