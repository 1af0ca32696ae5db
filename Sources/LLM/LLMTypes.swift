/// A tool the model may call, described by a JSON Schema for its arguments.
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String
    /// The JSON Schema of the arguments object, as JSON text.
    public var parametersJSON: String

    public init(name: String, description: String, parametersJSON: String) {
        self.name = name
        self.description = description
        self.parametersJSON = parametersJSON
    }
}

/// How to generate: which model and with what limits.
public struct GenerationOptions: Sendable, Equatable {
    public var model: String
    public var temperature: Double?
    public var maxOutputTokens: Int?
    public var stop: [String]

    public init(model: String, temperature: Double? = nil, maxOutputTokens: Int? = nil, stop: [String] = []) {
        self.model = model
        self.temperature = temperature
        self.maxOutputTokens = maxOutputTokens
        self.stop = stop
    }
}

/// One generation request in provider-neutral form. System text is separate because providers
/// place it differently (a message, a top-level field, `systemInstruction`).
public struct LLMRequest: Sendable, Equatable {
    public var system: String?
    public var messages: [ChatMessage]
    public var tools: [ToolDefinition]
    public var options: GenerationOptions

    public init(system: String? = nil, messages: [ChatMessage], tools: [ToolDefinition] = [], options: GenerationOptions) {
        self.system = system
        self.messages = messages
        self.tools = tools
        self.options = options
    }
}

/// Why generation stopped.
public enum StopReason: String, Sendable, Equatable {
    case end, length, toolUse, contentFilter
}

/// What went wrong, typed so the router knows what to retry and the client what to say.
public enum LLMError: Error, Sendable, Equatable {
    /// The key was missing, wrong or lacks access (401/403). Never retried.
    case authentication(String)
    /// 429: retried after `retryAfter` when the provider said, else with backoff.
    case rateLimited(retryAfter: Duration?, message: String)
    /// The provider is overloaded (Anthropic 529, 503). Retried.
    case overloaded(String)
    /// The request was refused as malformed (400/404/422). Never retried.
    case badRequest(String)
    /// The prompt does not fit the model's context window. Never retried.
    case contextTooLong(String)
    /// 5xx other than overload. Retried.
    case server(status: Int, message: String)
    /// Connection failed or dropped. Retried if nothing reached the caller yet.
    case network(String)
    /// Connect, first-byte, idle or total timeout.
    case timeout(String)
    /// The caller cancelled.
    case cancelled

    /// Whether a retry (before any output was delivered) may succeed.
    public var isRetryable: Bool {
        switch self {
        case .rateLimited, .overloaded, .server, .network, .timeout: true
        case .authentication, .badRequest, .contextTooLong, .cancelled: false
        }
    }
}

/// Token counts for one call.
public struct TokenUsage: Sendable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int

    public init(inputTokens: Int, outputTokens: Int) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

/// What a streaming generation reports, in order. Tool calls are identified by `index` within the
/// turn (several may stream interleaved); `toolCallFinished` carries the complete arguments, which
/// are valid JSON, and the provider's opaque signature for the call if it sent one (see
/// `ContentPart.toolCall`): whoever keeps the call must keep the signature with it.
public enum LLMStreamEvent: Sendable, Equatable {
    case textDelta(String)
    case toolCallStarted(index: Int, id: String, name: String)
    case toolCallArgumentsDelta(index: Int, fragment: String)
    case toolCallFinished(index: Int, id: String, name: String, argumentsJSON: String, signature: String? = nil)
    case usage(TokenUsage)
    case finished(StopReason)
    case error(LLMError)
}

/// The HTTP request a provider codec wants sent. Headers may hold secrets: never log them.
public struct ProviderHTTPRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String = "POST", url: String, headers: [String: String], body: [UInt8]) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// How a provider frames its stream.
public enum StreamFraming: Sendable {
    /// Server-sent events (OpenAI, Anthropic, Gemini with alt=sse).
    case serverSentEvents
    /// One JSON object per line (Ollama).
    case newlineDelimitedJSON
}

/// Where and how to reach a provider. The key is a secret: never log it.
public struct ProviderEndpoint: Sendable, Equatable {
    public var baseURL: String
    public var apiKey: String?
    /// Extra headers (e.g. an Azure-style `api-key`, or an organization header).
    public var extraHeaders: [String: String]

    public init(baseURL: String, apiKey: String? = nil, extraHeaders: [String: String] = [:]) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.extraHeaders = extraHeaders
    }
}

/// One unit of a provider's stream, already framed: an SSE event or an NDJSON line.
public struct StreamChunk: Sendable, Equatable {
    /// The SSE `event:` field, nil for NDJSON and for SSE events without one.
    public var event: String?
    /// The SSE data (multi-line data joined with "\n") or the NDJSON line.
    public var data: String

    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }
}

/// A provider's wire format: builds the HTTP request and turns its stream back into events.
/// Codecs are pure: no I/O, so they are tested against recorded chunk sequences.
public protocol ProviderCodec: Sendable {
    var framing: StreamFraming { get }
    func makeRequest(_ request: LLMRequest, endpoint: ProviderEndpoint) throws(LLMError) -> ProviderHTTPRequest
    /// A fresh decoder for one response stream.
    func makeDecoder() -> any ProviderStreamDecoder
    /// Maps a non-2xx response (status, headers lower-cased, body) to a typed error.
    func error(status: Int, headers: [String: String], body: [UInt8]) -> LLMError
}

/// Decodes one response stream chunk by chunk.
public protocol ProviderStreamDecoder {
    mutating func decode(_ chunk: StreamChunk) -> [LLMStreamEvent]
    /// The same for a chunk given as bytes (valid only during the call), handing each event to
    /// `emit`. This is what the transport calls; the default makes a `StreamChunk`, and a decoder
    /// overrides it to read its common chunks without making Strings or an array per chunk.
    mutating func decode(event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, _ emit: (LLMStreamEvent) -> Void)
    /// The stream ended (cleanly or not): emit whatever completes it, or an error if it was cut short.
    mutating func finish() -> [LLMStreamEvent]
}

extension ProviderStreamDecoder {
    public mutating func decode(event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, _ emit: (LLMStreamEvent) -> Void) {
        decodeCopying(event: event, data: data, emit)
    }

    /// The byte path of a decoder with a direct reading of its text chunks: `text` is what the
    /// reading found (nil when it declined, or was not asked): emitted unless empty, and a declined
    /// chunk is decoded from an owned copy.
    mutating func emitText(_ text: String?, orDecodeCopying event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer,
                           _ emit: (LLMStreamEvent) -> Void) {
        guard let text else { return decodeCopying(event: event, data: data, emit) }
        if !text.isEmpty { emit(.textDelta(text)) }
    }

    /// `decode(_:)` on an owned copy of the bytes: the default, and what a direct reading falls
    /// back to for a chunk it declines.
    mutating func decodeCopying(event: UnsafeRawBufferPointer?, data: UnsafeRawBufferPointer, _ emit: (LLMStreamEvent) -> Void) {
        let chunk = StreamChunk(event: event.map { String(decoding: $0, as: UTF8.self) }, data: String(decoding: data, as: UTF8.self))
        for decoded in decode(chunk) { emit(decoded) }
    }
}
