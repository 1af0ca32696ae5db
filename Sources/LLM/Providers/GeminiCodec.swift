/// Google Gemini's native API: `POST {baseURL}/models/{model}:streamGenerateContent?alt=sse` with
/// the key in `x-goog-api-key`; each SSE event carries a whole `GenerateContentResponse`.
///
/// Function calls arrive complete in one chunk, usually without an id, so the decoder invents
/// ids. A tool result becomes a `functionResponse` part, which needs the function's name: it is
/// looked up from the call with the same id earlier in the conversation.
///
/// Thinking models (2.5, 3) attach an opaque `thoughtSignature` to function calls (of parallel
/// calls, only the first carries one) and Gemini 3 refuses a history whose calls of the current
/// turn come back without theirs. The decoder hands each signature over with its call
/// (`toolCallFinished`), the caller keeps it in `ContentPart.toolCall`, and the request puts it
/// back on that call's part, exactly as received and nowhere else. A step none of whose calls has
/// a signature (made by another provider, or stored before signatures were kept) gets the
/// documented `skip_thought_signature_validator` on its first call instead: accepted, at the cost
/// of the model's earlier reasoning. Signatures on text parts are not kept: the docs recommend
/// but do not require sending them back, and streamed text is merged into one part, which they
/// could not be put back on as received.
///
/// Tool schemas go in `parametersJsonSchema` (see `GeminiToolSchema`), not `parameters`.
public struct GeminiCodec: ProviderCodec {
    /// Fixed prefix for generated tool-call ids (tests); nil draws a fresh random one per stream.
    public var callIDPrefix: String?

    public init(callIDPrefix: String? = nil) {
        self.callIDPrefix = callIDPrefix
    }

    public var framing: StreamFraming { .serverSentEvents }

    static let skipSignature = "skip_thought_signature_validator"

    public func makeRequest(_ request: LLMRequest, endpoint: ProviderEndpoint) throws(LLMError) -> ProviderHTTPRequest {
        guard let key = endpoint.apiKey, !key.isEmpty else {
            throw .authentication("Gemini needs an API key")
        }
        var body: [String: Any] = ["contents": try Self.contents(request.messages)]
        // Gemini has no system role: system text from anywhere goes to systemInstruction.
        let systemTexts = [request.system ?? ""] + request.messages.filter { $0.role == .system }.map(\.text)
        let system = systemTexts.filter { !$0.isEmpty }.map { ["text": $0] }
        if !system.isEmpty { body["systemInstruction"] = ["parts": system] }
        if !request.tools.isEmpty {
            body["tools"] = [["functionDeclarations": try request.tools.map(Self.declaration)]]
        }
        var config: [String: Any] = [:]
        if let temperature = request.options.temperature { config["temperature"] = temperature }
        if let maxTokens = request.options.maxOutputTokens { config["maxOutputTokens"] = maxTokens }
        if !request.options.stop.isEmpty { config["stopSequences"] = request.options.stop }
        if !config.isEmpty { body["generationConfig"] = config }

        var model = request.options.model
        if model.hasPrefix("models/") { model.removeFirst("models/".count) }
        var headers = ["content-type": "application/json", "x-goog-api-key": key]
        headers.merge(endpoint.extraHeaders) { _, extra in extra }
        return ProviderHTTPRequest(
            url: NativeJSON.trimmingSlashes(endpoint.baseURL) + "/models/\(model):streamGenerateContent?alt=sse",
            headers: headers, body: NativeJSON.bytes(body))
    }

    public func makeDecoder() -> any ProviderStreamDecoder {
        GeminiStreamDecoder(callIDPrefix: callIDPrefix ?? nativeRandomCallIDPrefix())
    }

    public func error(status: Int, headers: [String: String], body: [UInt8]) -> LLMError {
        let text = String(decoding: body, as: UTF8.self)
        // Errors are `{"error": {code, message, status, details}}`, sometimes wrapped in an array.
        let parsed = NativeJSON.parse(text)
        let error = ((parsed as? [String: Any]) ?? (parsed as? [[String: Any]])?.first)?["error"] as? [String: Any]
        return Self.error(status: status, error: error ?? ["message": String(text.prefix(500))], headers: headers)
    }

    static func error(status: Int, error: [String: Any], headers: [String: String]) -> LLMError {
        let message = error["message"] as? String ?? "HTTP \(status)"
        switch status {
        case 400 where message.lowercased().contains("input token count"):
            return .contextTooLong(message)
        case 401, 403:
            return .authentication(message)
        case 429:
            return .rateLimited(retryAfter: retryDelay(error) ?? nativeRetryAfter(headers), message: message)
        case 503:
            return .overloaded(message)
        case 504:
            return .timeout(message)
        case 500...:
            return .server(status: status, message: message)
        default:
            return .badRequest(message)
        }
    }

    /// `RetryInfo.retryDelay` is a protobuf Duration in JSON form: seconds with an "s", e.g. "27s", "3.700s".
    private static func retryDelay(_ error: [String: Any]) -> Duration? {
        for detail in error["details"] as? [[String: Any]] ?? [] {
            guard (detail["@type"] as? String)?.hasSuffix("google.rpc.RetryInfo") == true,
                  let delay = detail["retryDelay"] as? String, delay.hasSuffix("s"),
                  let seconds = Double(delay.dropLast()), seconds >= 0 else { continue }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return nil
    }

    private static func contents(_ messages: [ChatMessage]) throws(LLMError) -> [[String: Any]] {
        let callNames = NativeToolCallNames(messages)
        var contents: [[String: Any]] = []
        for message in messages where message.role != .system {
            let role = message.role == .assistant ? "model" : "user"
            var parts: [[String: Any]] = []
            var firstCall: Int?
            var signed = false
            for part in message.parts {
                switch part {
                case .text(let text):
                    if !text.isEmpty { parts.append(["text": text]) }
                case .toolCall(_, let name, let arguments, let signature):
                    guard let args = NativeJSON.parseObject(arguments) else {
                        throw .badRequest("arguments of the call to \(name) are not a JSON object")
                    }
                    var call: [String: Any] = ["functionCall": ["name": name, "args": args]]
                    if let signature {
                        call["thoughtSignature"] = signature
                        signed = true
                    }
                    if firstCall == nil { firstCall = parts.count }
                    parts.append(call)
                case .toolResult(let callID, let content, let isError):
                    guard let name = callNames[callID] else {
                        throw .badRequest("tool result for unknown call id \(callID)")
                    }
                    parts.append(["functionResponse": ["name": name, "response": responseObject(content, isError: isError)]])
                }
            }
            // A step's first call must carry a signature on Gemini 3; one that never had any gets
            // the documented stand-in (only there, as Gemini itself signs only the first call).
            if let firstCall, !signed { parts[firstCall]["thoughtSignature"] = skipSignature }
            guard !parts.isEmpty else { continue }
            // Results of parallel calls must reach Gemini as one turn, so adjacent same-role
            // messages are merged.
            if var last = contents.last, last["role"] as? String == role {
                last["parts"] = (last["parts"] as? [[String: Any]] ?? []) + parts
                contents[contents.count - 1] = last
            } else {
                contents.append(["role": role, "parts": parts])
            }
        }
        return contents
    }

    /// `functionResponse.response` must be an object; Gemini's docs suggest "output" for a result
    /// and "error" for a failure.
    private static func responseObject(_ json: String, isError: Bool) -> [String: Any] {
        let value = NativeJSON.parse(json) ?? json
        if isError { return ["error": value] }
        return value as? [String: Any] ?? ["output": value]
    }

    private static func declaration(_ tool: ToolDefinition) throws(LLMError) -> [String: Any] {
        guard let schema = NativeJSON.parseObject(tool.parametersJSON) else {
            throw .badRequest("the parameters schema of tool \(tool.name) is not a JSON object")
        }
        var declaration: [String: Any] = ["name": tool.name, "description": tool.description]
        // A tool without arguments sends no schema at all, as Gemini's own examples do.
        if !GeminiToolSchema.takesNoArguments(schema) {
            declaration["parametersJsonSchema"] = GeminiToolSchema.prepared(schema)
        }
        return declaration
    }
}

/// Decodes Gemini's SSE stream. Usage and the stop reason are held back to `finish()` because
/// several chunks may carry them and only the last counts. So are the calls' `toolCallFinished`
/// events: a call arrives whole in one part, but a stream may deliver the step's signature later,
/// on a part of its own (no text, or empty text); such a signature goes to the first call when no
/// call came with one.
struct GeminiStreamDecoder: ProviderStreamDecoder {
    let callIDPrefix: String
    private var calls: [(id: String, name: String, arguments: String, signature: String?)] = []
    /// The first signature seen on a part that carried nothing else.
    private var looseSignature: String?
    private var usage: TokenUsage?
    private var stop: StopReason?
    private var ended = false
    /// Plain text chunks go through `GeminiTextChunk` (no Foundation JSON); false only in the tests
    /// that check both paths agree.
    var readsTextChunksDirectly = true

    init(callIDPrefix: String) {
        self.callIDPrefix = callIDPrefix
    }

    /// A text chunk straight from its bytes; any other chunk goes through `decode(_:)`.
    mutating func decode(event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, _ emit: (LLMStreamEvent) -> Void) {
        let reading = readsTextChunksDirectly && !ended ? GeminiTextChunk.read(data) : nil
        if let usage = reading?.usage { self.usage = usage }
        emitText(reading?.text, orDecodeCopying: event, data: data, emit)
    }

    mutating func decode(_ chunk: StreamChunk) -> [LLMStreamEvent] {
        guard !ended else { return [] }
        guard let response = NativeJSON.parseObject(chunk.data) else {
            return fail(.server(status: 200, message: "Gemini sent an event that is not JSON"))
        }
        if let error = response["error"] as? [String: Any] {
            return fail(GeminiCodec.error(status: NativeJSON.int(error["code"]) ?? 500, error: error, headers: [:]))
        }
        if let metadata = response["usageMetadata"] as? [String: Any] {
            // Thinking tokens are billed as output but reported apart from the candidates.
            let output = (NativeJSON.int(metadata["candidatesTokenCount"]) ?? 0) + (NativeJSON.int(metadata["thoughtsTokenCount"]) ?? 0)
            usage = TokenUsage(inputTokens: NativeJSON.int(metadata["promptTokenCount"]) ?? 0, outputTokens: output)
        }
        if let feedback = response["promptFeedback"] as? [String: Any], feedback["blockReason"] != nil {
            stop = .contentFilter
            return []
        }
        guard let candidate = (response["candidates"] as? [[String: Any]])?.first else { return [] }
        var events: [LLMStreamEvent] = []
        let parts = (candidate["content"] as? [String: Any])?["parts"] as? [[String: Any]] ?? []
        for part in parts {
            let signature = (part["thoughtSignature"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            if let call = part["functionCall"] as? [String: Any], let name = call["name"] as? String {
                events += callStarted(call, name: name, signature: signature)
                continue
            }
            let text = part["text"] as? String ?? ""
            // Thought summaries (`thought: true`) are the model's reasoning, not the reply.
            let isThought = part["thought"] as? Bool == true
            if !text.isEmpty, !isThought { events.append(.textDelta(text)) }
            if let signature, text.isEmpty || isThought, looseSignature == nil { looseSignature = signature }
        }
        if let reason = candidate["finishReason"] as? String {
            switch reason {
            case "MAX_TOKENS": stop = .length
            case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY": stop = .contentFilter
            case "MALFORMED_FUNCTION_CALL":
                return events + fail(.server(status: 502, message: "Gemini produced a malformed function call"))
            default: stop = .end
            }
        }
        return events
    }

    mutating func finish() -> [LLMStreamEvent] {
        guard !ended else { return [] }
        ended = true
        guard var stop else {
            return [.error(.network("the Gemini stream ended before a finish reason"))]
        }
        if stop == .end && !calls.isEmpty { stop = .toolUse }
        let anySigned = calls.contains { $0.signature != nil }
        let finished: [LLMStreamEvent] = calls.enumerated().map { index, call in
            .toolCallFinished(index: index, id: call.id, name: call.name, argumentsJSON: call.arguments,
                              signature: call.signature ?? (index == 0 && !anySigned ? looseSignature : nil))
        }
        return finished + (usage.map { [.usage($0)] } ?? []) + [.finished(stop)]
    }

    private mutating func fail(_ error: LLMError) -> [LLMStreamEvent] {
        ended = true
        return [.error(error)]
    }

    private mutating func callStarted(_ call: [String: Any], name: String, signature: String?) -> [LLMStreamEvent] {
        let index = calls.count
        let id = (call["id"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "call_\(callIDPrefix)_\(index)"
        let arguments = NativeJSON.text(call["args"] as? [String: Any] ?? [:])
        calls.append((id, name, arguments, signature))
        return [.toolCallStarted(index: index, id: id, name: name),
                .toolCallArgumentsDelta(index: index, fragment: arguments)]
    }
}

extension ChatMessage {
    /// The message's text parts, joined.
    fileprivate var text: String {
        parts.compactMap { part -> String? in
            if case .text(let text) = part { return text } else { return nil }
        }.joined()
    }
}
