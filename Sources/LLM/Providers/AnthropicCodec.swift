import Net
/// The Anthropic Messages wire format (`POST {baseURL}/messages`, streamed as named SSE events).
public struct AnthropicCodec: ProviderCodec {
    /// The API version the request and stream shapes here follow.
    public static let apiVersion = "2023-06-01"
    /// `max_tokens` is required by the Messages API; this is sent when the caller set no limit.
    public var defaultMaxTokens: Int

    public init(defaultMaxTokens: Int = 4096) {
        self.defaultMaxTokens = defaultMaxTokens
    }

    public var framing: StreamFraming { .serverSentEvents }

    public func makeRequest(_ request: LLMRequest, endpoint: ProviderEndpoint) throws(LLMError) -> ProviderHTTPRequest {
        var body: [String: JSONValue] = [
            "model": .string(request.options.model),
            "max_tokens": .number(Double(request.options.maxOutputTokens ?? defaultMaxTokens)),
            "messages": .array(try messages(request.messages)),
            "stream": .bool(true),
        ]
        // Anthropic has no system role: system text from anywhere goes to the top-level field.
        let systemTexts = [request.system ?? ""] + request.messages.filter { $0.role == .system }.map(Self.text)
        let system = systemTexts.filter { !$0.isEmpty }.joined(separator: "\n\n")
        if !system.isEmpty { body["system"] = .string(system) }
        if !request.tools.isEmpty {
            body["tools"] = .array(try request.tools.map { tool throws(LLMError) in
                .object(["name": .string(tool.name), "description": .string(tool.description),
                         "input_schema": try ProviderWireSupport.parseSchema(tool)])
            })
        }
        if let temperature = request.options.temperature { body["temperature"] = .number(temperature) }
        if !request.options.stop.isEmpty { body["stop_sequences"] = .array(request.options.stop.map { .string($0) }) }

        var headers = ["content-type": "application/json", "anthropic-version": Self.apiVersion]
        if let key = endpoint.apiKey, !key.isEmpty { headers["x-api-key"] = key }
        headers.merge(endpoint.extraHeaders) { _, extra in extra }
        return ProviderHTTPRequest(url: ProviderWireSupport.url(endpoint.baseURL, path: "/messages"),
                                   headers: headers, body: JSONValue.object(body).serialized())
    }

    private static func text(_ message: ChatMessage) -> String {
        message.parts.compactMap { if case .text(let value) = $0 { value } else { nil } }.joined()
    }

    /// Converts to user/assistant turns of content blocks, merging consecutive turns of the same role
    /// so that several tool results land in one user message, as the API expects.
    private func messages(_ messages: [ChatMessage]) throws(LLMError) -> [JSONValue] {
        var turns: [(role: String, blocks: [JSONValue])] = []
        for message in messages where message.role != .system {
            let role = message.role == .assistant ? "assistant" : "user"
            var blocks: [JSONValue] = []
            for part in message.parts {
                switch part {
                case .text(let value):
                    // The API rejects empty text blocks.
                    if !value.isEmpty { blocks.append(.object(["type": .string("text"), "text": .string(value)])) }
                case .toolCall(let id, let name, let arguments, _):
                    let input: JSONValue
                    do { input = try JSONValue.parse(arguments.isEmpty ? "{}" : arguments) } catch {
                        throw .badRequest("tool call \(id) (\(name)): arguments are not valid JSON (\(error))")
                    }
                    blocks.append(.object(["type": .string("tool_use"), "id": .string(id), "name": .string(name),
                                           "input": input]))
                case .toolResult(let callID, let contentJSON, let isError):
                    blocks.append(.object(["type": .string("tool_result"), "tool_use_id": .string(callID),
                                           "content": .string(ProviderWireSupport.resultText(contentJSON)),
                                           "is_error": .bool(isError)]))
                }
            }
            if blocks.isEmpty { continue }
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role, blocks))
            }
        }
        // In a user turn, tool results must come before any text.
        return turns.map { turn in
            let results = turn.blocks.filter { $0["type"] == .string("tool_result") }
            let others = turn.blocks.filter { $0["type"] != .string("tool_result") }
            return .object(["role": .string(turn.role), "content": .array(results + others)])
        }
    }

    public func makeDecoder() -> any ProviderStreamDecoder { AnthropicStreamDecoder() }

    public func error(status: Int, headers: [String: String], body: [UInt8]) -> LLMError {
        let detail = (try? JSONValue.parse(body))?["error"]
        let message = detail?["message"]?.stringValue ?? ProviderWireSupport.fallbackMessage(status: status, body: body)
        switch status {
        case 401, 403: return .authentication(message)
        case 429: return .rateLimited(retryAfter: ProviderWireSupport.retryAfter(headers), message: message)
        case 413: return .contextTooLong(message)
        case 400 where message.lowercased().contains("prompt is too long"): return .contextTooLong(message)
        case 503, 529: return .overloaded(message)
        case 400..<500: return .badRequest(message)
        default: return .server(status: status, message: message)
        }
    }

    /// Maps the `error` object of an `error` event sent after the 200, by its type alone.
    static func streamError(_ detail: JSONValue?) -> LLMError {
        let message = detail?["message"]?.stringValue ?? "provider reported an error"
        switch detail?["type"]?.stringValue ?? "" {
        case "overloaded_error": return .overloaded(message)
        case "rate_limit_error": return .rateLimited(retryAfter: nil, message: message)
        case "authentication_error", "permission_error": return .authentication(message)
        case "request_too_large": return .contextTooLong(message)
        case "invalid_request_error", "not_found_error":
            return message.lowercased().contains("prompt is too long") ? .contextTooLong(message) : .badRequest(message)
        default: return .server(status: 500, message: message)
        }
    }
}

/// Turns one Messages stream back into events. Content blocks are numbered across text and tool use;
/// tool calls get their own dense index (0, 1, …) in the order their blocks start.
struct AnthropicStreamDecoder: ProviderStreamDecoder {
    private struct Call {
        var index: Int
        var id: String
        var name: String
        var arguments = ""
    }

    private var calls: [Int: Call] = [:]
    private var nextCallIndex = 0
    private var inputTokens = 0
    private var outputTokens = 0
    private var sawUsage = false
    private var stopReason: StopReason?
    private var done = false
    /// Text deltas go through `AnthropicTextChunk` (no JSON tree); false only in the tests that
    /// check both paths agree.
    var readsTextChunksDirectly = true

    /// A text delta straight from its bytes (the SSE event type is not needed: the data names its
    /// type); any other event goes through `decode(_:)`.
    mutating func decode(event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, _ emit: (LLMStreamEvent) -> Void) {
        emitText(readsTextChunksDirectly && !done ? AnthropicTextChunk.text(data) : nil, orDecodeCopying: event, data: data, emit)
    }

    mutating func decode(_ chunk: StreamChunk) -> [LLMStreamEvent] {
        guard !done else { return [] }
        let data = ProviderWireSupport.trim(chunk.data)
        if data.isEmpty { return [] }
        guard let json = try? JSONValue.parse(data) else {
            done = true
            return [.error(.server(status: 200, message: "unreadable stream event"))]
        }
        let block = json["index"]?.intValue ?? 0
        switch json["type"]?.stringValue ?? chunk.event ?? "" {
        case "message_start":
            recordUsage(json["message"]?["usage"])
        case "content_block_start":
            let content = json["content_block"]
            if content?["type"]?.stringValue == "tool_use" {
                let call = Call(index: nextCallIndex, id: content?["id"]?.stringValue ?? "",
                                name: content?["name"]?.stringValue ?? "")
                nextCallIndex += 1
                calls[block] = call
                return [.toolCallStarted(index: call.index, id: call.id, name: call.name)]
            }
            if content?["type"]?.stringValue == "text", let text = content?["text"]?.stringValue, !text.isEmpty {
                return [.textDelta(text)]
            }
        case "content_block_delta":
            let delta = json["delta"]
            switch delta?["type"]?.stringValue {
            case "text_delta":
                if let text = delta?["text"]?.stringValue, !text.isEmpty { return [.textDelta(text)] }
            case "input_json_delta":
                if let fragment = delta?["partial_json"]?.stringValue, !fragment.isEmpty, calls[block] != nil {
                    calls[block]!.arguments += fragment
                    return [.toolCallArgumentsDelta(index: calls[block]!.index, fragment: fragment)]
                }
            default: break  // thinking and signature deltas are not surfaced
            }
        case "content_block_stop":
            guard let call = calls.removeValue(forKey: block) else { return [] }
            let arguments = call.arguments.isEmpty ? "{}" : call.arguments
            guard (try? JSONValue.parse(arguments)) != nil else {
                done = true
                return [.error(.badRequest("tool call \(call.index) (\(call.name)) has arguments that are not valid JSON"))]
            }
            return [.toolCallFinished(index: call.index, id: call.id, name: call.name, argumentsJSON: arguments)]
        case "message_delta":
            if let reason = json["delta"]?["stop_reason"]?.stringValue { stopReason = Self.stopReason(reason) }
            recordUsage(json["usage"])
        case "message_stop":
            done = true
            let usage: [LLMStreamEvent] = sawUsage
                ? [.usage(TokenUsage(inputTokens: inputTokens, outputTokens: outputTokens))] : []
            return usage + [.finished(stopReason ?? .end)]
        case "error":
            done = true
            return [.error(AnthropicCodec.streamError(json["error"]))]
        default: break  // ping, and event types added after this was written
        }
        return []
    }

    mutating func finish() -> [LLMStreamEvent] {
        guard !done else { return [] }
        done = true
        return [.error(.network("stream ended early"))]
    }

    /// Counts in `message_delta` are cumulative, so the latest value wins.
    private mutating func recordUsage(_ usage: JSONValue?) {
        guard let usage else { return }
        if let input = usage["input_tokens"]?.intValue { inputTokens = input; sawUsage = true }
        if let output = usage["output_tokens"]?.intValue { outputTokens = output; sawUsage = true }
    }

    private static func stopReason(_ reason: String) -> StopReason {
        switch reason {
        case "max_tokens", "model_context_window_exceeded": .length
        case "tool_use": .toolUse
        case "refusal": .contentFilter
        default: .end  // end_turn, stop_sequence, pause_turn
        }
    }
}
