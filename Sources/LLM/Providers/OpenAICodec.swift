import Net
/// The OpenAI Chat Completions wire format (`POST {baseURL}/chat/completions`, streamed as SSE), which
/// most self-hosted and third-party "OpenAI-compatible" servers also speak.
public struct OpenAICodec: ProviderCodec {
    /// Which request field carries the output limit. OpenAI deprecated `max_tokens` in favour of
    /// `max_completion_tokens` (reasoning models reject the old name); some compatible servers only
    /// know the old one.
    public enum MaxTokensField: String, Sendable {
        case maxCompletionTokens = "max_completion_tokens"
        case maxTokens = "max_tokens"
    }

    public var maxTokensField: MaxTokensField

    public init(maxTokensField: MaxTokensField = .maxCompletionTokens) {
        self.maxTokensField = maxTokensField
    }

    public var framing: StreamFraming { .serverSentEvents }

    public func makeRequest(_ request: LLMRequest, endpoint: ProviderEndpoint) throws(LLMError) -> ProviderHTTPRequest {
        var body: [String: JSONValue] = [
            "model": .string(request.options.model),
            "messages": .array(try messages(request)),
            "stream": .bool(true),
            // Without this the stream carries no token counts at all.
            "stream_options": .object(["include_usage": .bool(true)]),
        ]
        if !request.tools.isEmpty {
            body["tools"] = .array(try request.tools.map { tool throws(LLMError) in
                .object(["type": .string("function"), "function": .object([
                    "name": .string(tool.name),
                    "description": .string(tool.description),
                    "parameters": try ProviderWireSupport.parseSchema(tool),
                ])])
            })
        }
        if let temperature = request.options.temperature { body["temperature"] = .number(temperature) }
        if let limit = request.options.maxOutputTokens { body[maxTokensField.rawValue] = .number(Double(limit)) }
        if !request.options.stop.isEmpty { body["stop"] = .array(request.options.stop.map { .string($0) }) }

        var headers = ["Content-Type": "application/json"]
        if let key = endpoint.apiKey, !key.isEmpty { headers["Authorization"] = "Bearer \(key)" }
        headers.merge(endpoint.extraHeaders) { _, extra in extra }
        return ProviderHTTPRequest(url: ProviderWireSupport.url(endpoint.baseURL, path: "/chat/completions"),
                                   headers: headers, body: JSONValue.object(body).serialized())
    }

    private func messages(_ request: LLMRequest) throws(LLMError) -> [JSONValue] {
        var out: [JSONValue] = []
        if let system = request.system, !system.isEmpty {
            out.append(.object(["role": .string("system"), "content": .string(system)]))
        }
        for message in request.messages {
            var text = ""
            var calls: [JSONValue] = []
            // Tool results are separate `tool` messages whatever role they arrived under.
            var results: [JSONValue] = []
            for part in message.parts {
                switch part {
                case .text(let value): text += value
                case .toolCall(let id, let name, let arguments, _):
                    calls.append(.object(["id": .string(id), "type": .string("function"), "function": .object([
                        "name": .string(name), "arguments": .string(arguments.isEmpty ? "{}" : arguments),
                    ])]))
                case .toolResult(let callID, let contentJSON, let isError):
                    // The wire has no error flag, so the model is told in the content itself.
                    let content = ProviderWireSupport.resultText(contentJSON)
                    results.append(.object(["role": .string("tool"), "tool_call_id": .string(callID),
                                            "content": .string(isError ? "Error: \(content)" : content)]))
                }
            }
            // Tool messages must directly follow the assistant turn that called them.
            out.append(contentsOf: results)
            if !text.isEmpty || !calls.isEmpty {
                let role = message.role == .tool ? ChatRole.user : message.role
                var entry: [String: JSONValue] = ["role": .string(role.rawValue)]
                entry["content"] = text.isEmpty ? .null : .string(text)
                if !calls.isEmpty { entry["tool_calls"] = .array(calls) }
                out.append(.object(entry))
            }
        }
        return out
    }

    public func makeDecoder() -> any ProviderStreamDecoder { OpenAIStreamDecoder() }

    public func error(status: Int, headers: [String: String], body: [UInt8]) -> LLMError {
        let parsed = try? JSONValue.parse(body)
        let detail = parsed?["error"]
        let message = detail?["message"]?.stringValue ?? ProviderWireSupport.fallbackMessage(status: status, body: body)
        let code = detail?["code"]?.stringValue ?? detail?["type"]?.stringValue ?? ""
        switch status {
        case 401, 403: return .authentication(message)
        case 429:
            // An exhausted quota is not a rate: waiting does not help, so it is not retried.
            if code == "insufficient_quota" { return .authentication(message) }
            return .rateLimited(retryAfter: ProviderWireSupport.retryAfter(headers), message: message)
        case 413: return .contextTooLong(message)
        case 400 where code == "context_length_exceeded": return .contextTooLong(message)
        case 503: return .overloaded(message)
        case 400..<500: return .badRequest(message)
        default: return .server(status: status, message: message)
        }
    }

    /// Maps an `error` object sent inside a 200 stream, which has no status of its own.
    static func streamError(_ detail: JSONValue) -> LLMError {
        let message = detail["message"]?.stringValue ?? "provider reported an error"
        switch detail["code"]?.stringValue ?? detail["type"]?.stringValue ?? "" {
        case "context_length_exceeded": return .contextTooLong(message)
        case "rate_limit_exceeded": return .rateLimited(retryAfter: nil, message: message)
        case "invalid_request_error": return .badRequest(message)
        case "server_overloaded", "overloaded_error": return .overloaded(message)
        default: return .server(status: 500, message: message)
        }
    }
}

/// Turns one Chat Completions stream back into events. The usage chunk arrives after the one with
/// `finish_reason`, so `.finished` is held back until `[DONE]` (or the end of the stream) to keep it last.
struct OpenAIStreamDecoder: ProviderStreamDecoder {
    private struct Call {
        var id = ""
        var name = ""
        var arguments = ""
        var started = false
    }

    private var calls: [Int: Call] = [:]
    private var stopReason: StopReason?
    private var done = false
    /// Plain text chunks given as bytes go through `OpenAITextChunk` (no JSON tree); false only in
    /// the tests that check both paths agree. `decode(_:)` is always the general path.
    var readsTextChunksDirectly = true

    mutating func decode(_ chunk: StreamChunk) -> [LLMStreamEvent] {
        guard !done else { return [] }
        let data = ProviderWireSupport.trim(chunk.data)
        if data.isEmpty { return [] }
        if data == "[DONE]" {
            done = true
            return [stopReason.map { .finished($0) } ?? .error(.network("stream ended early"))]
        }
        guard let json = try? JSONValue.parse(data) else {
            done = true
            return [.error(.server(status: 200, message: "unreadable stream chunk"))]
        }
        if let detail = json["error"], !detail.isNull {
            done = true
            return [.error(OpenAICodec.streamError(detail))]
        }
        var events: [LLMStreamEvent] = []
        if let choice = json["choices"]?[0] {
            if let delta = choice["delta"] {
                if let text = delta["content"]?.stringValue, !text.isEmpty { events.append(.textDelta(text)) }
                // A refusal is text the user should see; finish_reason still says how it ended.
                if let text = delta["refusal"]?.stringValue, !text.isEmpty { events.append(.textDelta(text)) }
                for (position, fragment) in (delta["tool_calls"]?.arrayValue ?? []).enumerated() {
                    events += toolCallFragment(fragment, position: position)
                }
            }
            if let reason = choice["finish_reason"]?.stringValue {
                events += finishCalls()
                if done { return events }
                stopReason = Self.stopReason(reason)
            }
        }
        if let usage = json["usage"], let input = usage["prompt_tokens"]?.intValue {
            events.append(.usage(TokenUsage(inputTokens: input, outputTokens: usage["completion_tokens"]?.intValue ?? 0)))
        }
        return events
    }

    /// A plain text chunk straight from its bytes: one String (its text), no array; any other
    /// chunk goes through `decode(_:)`.
    mutating func decode(event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, _ emit: (LLMStreamEvent) -> Void) {
        emitText(readsTextChunksDirectly && !done ? OpenAITextChunk.text(data) : nil, orDecodeCopying: event, data: data, emit)
    }

    mutating func finish() -> [LLMStreamEvent] {
        guard !done else { return [] }
        done = true
        // Some compatible servers omit `[DONE]`; a finish_reason already said the turn was complete.
        return [stopReason.map { .finished($0) } ?? .error(.network("stream ended early"))]
    }

    private mutating func toolCallFragment(_ fragment: JSONValue, position: Int) -> [LLMStreamEvent] {
        let index = fragment["index"]?.intValue ?? position
        var call = calls[index] ?? Call()
        var events: [LLMStreamEvent] = []
        if let id = fragment["id"]?.stringValue, !id.isEmpty, call.id.isEmpty { call.id = id }
        if let name = fragment["function"]?["name"]?.stringValue, !name.isEmpty, call.name.isEmpty { call.name = name }
        let arguments = fragment["function"]?["arguments"]?.stringValue ?? ""
        call.arguments += arguments
        if !call.started, !call.id.isEmpty, !call.name.isEmpty {
            call.started = true
            events.append(.toolCallStarted(index: index, id: call.id, name: call.name))
            // Arguments that arrived before the id are delivered now, in one piece.
            if !call.arguments.isEmpty { events.append(.toolCallArgumentsDelta(index: index, fragment: call.arguments)) }
        } else if call.started, !arguments.isEmpty {
            events.append(.toolCallArgumentsDelta(index: index, fragment: arguments))
        }
        calls[index] = call
        return events
    }

    private mutating func finishCalls() -> [LLMStreamEvent] {
        var events: [LLMStreamEvent] = []
        for index in calls.keys.sorted() {
            guard let call = calls[index], call.started else { continue }
            let arguments = call.arguments.isEmpty ? "{}" : call.arguments
            guard (try? JSONValue.parse(arguments)) != nil else {
                done = true
                events.append(.error(.badRequest("tool call \(index) (\(call.name)) has arguments that are not valid JSON")))
                return events
            }
            events.append(.toolCallFinished(index: index, id: call.id, name: call.name, argumentsJSON: arguments))
        }
        calls = [:]
        return events
    }

    private static func stopReason(_ reason: String) -> StopReason {
        switch reason {
        case "length": .length
        case "tool_calls", "function_call": .toolUse
        case "content_filter": .contentFilter
        default: .end
        }
    }
}

/// Wire details shared by the HTTP provider codecs.
enum ProviderWireSupport {
    /// Appends `path` to a base URL, keeping any query (Azure's `api-version`) at the end and leaving a
    /// URL that already names the endpoint alone.
    static func url(_ base: String, path: String) -> String {
        var address = base
        var query = ""
        if let mark = base.firstIndex(of: "?") {
            address = String(base[..<mark])
            query = String(base[mark...])
        }
        while address.hasSuffix("/") { address.removeLast() }
        if !address.hasSuffix(path) { address += path }
        return address + query
    }

    static func parseSchema(_ tool: ToolDefinition) throws(LLMError) -> JSONValue {
        do { return try JSONValue.parse(tool.parametersJSON) } catch {
            throw .badRequest("tool \(tool.name): parameters are not valid JSON (\(error))")
        }
    }

    /// Tool results travel as text: a JSON string is sent as its contents, anything else as JSON text.
    static func resultText(_ contentJSON: String) -> String {
        if let value = try? JSONValue.parse(contentJSON), let text = value.stringValue { return text }
        return contentJSON
    }

    /// `retry-after-ms` (OpenAI) is more precise than `retry-after` (seconds); HTTP dates are ignored.
    static func retryAfter(_ headers: [String: String]) -> Duration? {
        if let text = headers["retry-after-ms"], let ms = Double(trim(text)), ms >= 0 {
            return .milliseconds(Int64(ms.rounded()))
        }
        if let text = headers["retry-after"], let seconds = Double(trim(text)), seconds >= 0 {
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return nil
    }

    static func trim(_ text: String) -> String {
        // Almost every chunk starts with "{" and ends with "}": skip the Character-level walk.
        if let first = text.utf8.first, let last = text.utf8.last,
           first > 0x20, first < 0x80, last > 0x20, last < 0x80 { return text }
        return trim(Substring(text))
    }

    static func trim(_ text: some StringProtocol) -> String {
        var view = Substring(text)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }

    /// A short excerpt of a body that was not the provider's JSON error (e.g. a proxy's HTML page).
    static func fallbackMessage(status: Int, body: [UInt8]) -> String {
        let text = trim(String(decoding: body.prefix(300), as: UTF8.self))
        return text.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(text)"
    }
}

