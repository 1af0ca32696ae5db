/// Ollama's native chat API: `POST {baseURL}/api/chat` streaming one JSON object per line.
///
/// Ollama tool calls carry no id and arrive complete (arguments as a JSON object), so the decoder
/// invents ids; tool results go back as `role: "tool"` messages naming the function in
/// `tool_name`, looked up from the matching call earlier in the conversation.
public struct OllamaCodec: ProviderCodec {
    /// Fixed prefix for generated tool-call ids (tests); nil draws a fresh random one per stream
    /// so ids stay unique across the turns of a conversation.
    public var callIDPrefix: String?

    public init(callIDPrefix: String? = nil) {
        self.callIDPrefix = callIDPrefix
    }

    public var framing: StreamFraming { .newlineDelimitedJSON }

    public func makeRequest(_ request: LLMRequest, endpoint: ProviderEndpoint) throws(LLMError) -> ProviderHTTPRequest {
        var messages: [[String: Any]] = []
        if let system = request.system, !system.isEmpty {
            messages.append(["role": "system", "content": system])
        }
        let callNames = NativeToolCallNames(request.messages)
        for message in request.messages {
            messages += try Self.wireMessages(message, callNames: callNames)
        }
        var body: [String: Any] = ["model": request.options.model, "messages": messages, "stream": true]
        if !request.tools.isEmpty {
            body["tools"] = try request.tools.map { tool throws(LLMError) -> [String: Any] in
                ["type": "function",
                 "function": ["name": tool.name, "description": tool.description,
                              "parameters": try Self.schema(tool)]]
            }
        }
        var options: [String: Any] = [:]
        if let temperature = request.options.temperature { options["temperature"] = temperature }
        if let maxTokens = request.options.maxOutputTokens { options["num_predict"] = maxTokens }
        if !request.options.stop.isEmpty { options["stop"] = request.options.stop }
        if !options.isEmpty { body["options"] = options }

        var headers = ["content-type": "application/json"]
        // A local Ollama needs no key; ollama.com and authenticating proxies take a bearer token.
        if let key = endpoint.apiKey, !key.isEmpty { headers["authorization"] = "Bearer \(key)" }
        headers.merge(endpoint.extraHeaders) { _, extra in extra }
        return ProviderHTTPRequest(url: NativeJSON.trimmingSlashes(endpoint.baseURL) + "/api/chat", headers: headers,
                                   body: NativeJSON.bytes(body))
    }

    public func makeDecoder() -> any ProviderStreamDecoder {
        OllamaStreamDecoder(callIDPrefix: callIDPrefix ?? nativeRandomCallIDPrefix())
    }

    public func error(status: Int, headers: [String: String], body: [UInt8]) -> LLMError {
        // Ollama errors are `{"error": "message"}`.
        let message = (NativeJSON.parseObject(body)?["error"] as? String)
            ?? String(decoding: body.prefix(500), as: UTF8.self)
        switch status {
        case 401, 403: return .authentication(message)
        case 429: return .rateLimited(retryAfter: nativeRetryAfter(headers), message: message)
        case 503: return .overloaded(message)
        case 500...: return .server(status: status, message: message)
        default: return .badRequest(message)
        }
    }

    private static func wireMessages(_ message: ChatMessage, callNames: NativeToolCallNames) throws(LLMError) -> [[String: Any]] {
        let text = message.parts.compactMap { part -> String? in
            if case .text(let text) = part { return text } else { return nil }
        }.joined()
        switch message.role {
        case .system, .user:
            return [["role": message.role.rawValue, "content": text]]
        case .assistant:
            var wire: [String: Any] = ["role": "assistant", "content": text]
            var calls: [[String: Any]] = []
            for case .toolCall(_, let name, let arguments, _) in message.parts {
                calls.append(["function": ["name": name, "arguments": try argumentsObject(arguments, tool: name)]])
            }
            if !calls.isEmpty { wire["tool_calls"] = calls }
            return [wire]
        case .tool:
            // One wire message per result: Ollama pairs results with calls by name and order.
            var results: [[String: Any]] = []
            for case .toolResult(let callID, let content, let isError) in message.parts {
                guard let name = callNames[callID] else {
                    throw .badRequest("tool result for unknown call id \(callID)")
                }
                let plain = NativeJSON.plainText(ofJSON: content)
                results.append(["role": "tool", "tool_name": name, "content": isError ? "Error: \(plain)" : plain])
            }
            return results
        }
    }

    private static func argumentsObject(_ json: String, tool: String) throws(LLMError) -> [String: Any] {
        guard let object = NativeJSON.parseObject(json) else {
            throw .badRequest("arguments of the call to \(tool) are not a JSON object")
        }
        return object
    }

    private static func schema(_ tool: ToolDefinition) throws(LLMError) -> [String: Any] {
        guard let schema = NativeJSON.parseObject(tool.parametersJSON) else {
            throw .badRequest("the parameters schema of tool \(tool.name) is not a JSON object")
        }
        return schema
    }
}

/// Decodes Ollama's NDJSON chat stream.
struct OllamaStreamDecoder: ProviderStreamDecoder {
    let callIDPrefix: String
    private var callCount = 0
    private var ended = false
    /// Plain text lines go through `OllamaTextChunk` (no Foundation JSON); false only in the tests
    /// that check both paths agree.
    var readsTextChunksDirectly = true

    init(callIDPrefix: String) {
        self.callIDPrefix = callIDPrefix
    }

    /// A text line straight from its bytes; any other line goes through `decode(_:)`.
    mutating func decode(event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, _ emit: (LLMStreamEvent) -> Void) {
        emitText(readsTextChunksDirectly && !ended ? OllamaTextChunk.text(data) : nil, orDecodeCopying: event, data: data, emit)
    }

    mutating func decode(_ chunk: StreamChunk) -> [LLMStreamEvent] {
        guard !ended else { return [] }
        let line = chunk.data.trimmingWhitespace()
        guard !line.isEmpty else { return [] }
        guard let object = NativeJSON.parseObject(line) else {
            ended = true
            return [.error(.server(status: 200, message: "Ollama sent a line that is not JSON"))]
        }
        if let message = object["error"] as? String {
            ended = true
            return [.error(.server(status: 500, message: message))]
        }
        var events: [LLMStreamEvent] = []
        if let message = object["message"] as? [String: Any] {
            if let content = message["content"] as? String, !content.isEmpty {
                events.append(.textDelta(content))
            }
            for call in message["tool_calls"] as? [[String: Any]] ?? [] {
                events += toolCallEvents(call)
            }
        }
        if object["done"] as? Bool == true {
            ended = true
            let input = NativeJSON.int(object["prompt_eval_count"])
            let output = NativeJSON.int(object["eval_count"])
            if input != nil || output != nil {
                events.append(.usage(TokenUsage(inputTokens: input ?? 0, outputTokens: output ?? 0)))
            }
            let reason: StopReason = switch object["done_reason"] as? String {
            case "length": .length
            default: callCount > 0 ? .toolUse : .end
            }
            events.append(.finished(reason))
        }
        return events
    }

    mutating func finish() -> [LLMStreamEvent] {
        guard !ended else { return [] }
        ended = true
        return [.error(.network("the Ollama stream ended before its final (done) line"))]
    }

    private mutating func toolCallEvents(_ call: [String: Any]) -> [LLMStreamEvent] {
        guard let function = call["function"] as? [String: Any], let name = function["name"] as? String else { return [] }
        let index = callCount
        callCount += 1
        let id = (call["id"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "call_\(callIDPrefix)_\(index)"
        let arguments: String = switch function["arguments"] {
        case let text as String where NativeJSON.parseObject(text) != nil: text
        case let value?: NativeJSON.text(value)
        case nil: "{}"
        }
        return [.toolCallStarted(index: index, id: id, name: name),
                .toolCallArgumentsDelta(index: index, fragment: arguments),
                .toolCallFinished(index: index, id: id, name: name, argumentsJSON: arguments)]
    }
}
