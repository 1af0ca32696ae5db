import Net
import Testing
import TestSupport
@testable import LLM

/// The OpenAI Chat Completions codec against request shapes and chunk sequences from the API reference.
@Suite struct OpenAICodecTests {
    let codec = OpenAICodec()

    static let conversation = LLMRequest(
        system: "You are terse.",
        messages: [
            ChatMessage(role: .user, parts: [.text("Weather in Paris and Rome?")]),
            ChatMessage(role: .assistant, parts: [
                .toolCall(id: "call_1", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#),
                .toolCall(id: "call_2", name: "get_weather", argumentsJSON: #"{"city":"Rome"}"#),
            ]),
            ChatMessage(role: .tool, parts: [
                .toolResult(callID: "call_1", contentJSON: #""18C, sunny""#, isError: false),
                .toolResult(callID: "call_2", contentJSON: #"{"temp":21}"#, isError: true),
            ]),
        ],
        tools: [ToolDefinition(name: "get_weather", description: "Current weather for a city.",
                               parametersJSON: #"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#)],
        options: GenerationOptions(model: "gpt-4o", temperature: 0.5, maxOutputTokens: 256, stop: ["END"]))

    @Test func buildsTheChatCompletionsRequestForAToolConversation() throws {
        let request = try codec.makeRequest(Self.conversation, endpoint: ProviderEndpoint(
            baseURL: "https://api.openai.com/v1/", apiKey: "sk-test", extraHeaders: ["OpenAI-Organization": "org-1"]))
        #expect(request.method == "POST")
        #expect(request.url == "https://api.openai.com/v1/chat/completions")
        #expect(request.headers == ["Authorization": "Bearer sk-test", "Content-Type": "application/json",
                                    "OpenAI-Organization": "org-1"])
        let expected = try JSONValue.parse(#"""
        {"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
         "temperature":0.5,"max_completion_tokens":256,"stop":["END"],
         "messages":[
          {"role":"system","content":"You are terse."},
          {"role":"user","content":"Weather in Paris and Rome?"},
          {"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"18C, sunny"},
          {"role":"tool","tool_call_id":"call_2","content":"Error: {\"temp\":21}"}],
         "tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city.",
           "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}
        """#)
        #expect(try JSONValue.parse(request.body) == expected)
    }

    @Test func omitsAuthorizationWithoutAKeyAndKeepsAnAzureStyleQuery() throws {
        let request = try OpenAICodec(maxTokensField: .maxTokens).makeRequest(
            Self.conversation, endpoint: ProviderEndpoint(
                baseURL: "https://x.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21",
                extraHeaders: ["api-key": "azure-key"]))
        #expect(request.url == "https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21")
        #expect(request.headers == ["Content-Type": "application/json", "api-key": "azure-key"])
        let body = try JSONValue.parse(request.body)
        #expect(body["max_tokens"] == .number(256))
        #expect(body["max_completion_tokens"] == nil)
    }

    @Test func rejectsAToolWhoseSchemaIsNotJSON() {
        var request = Self.conversation
        request.tools = [ToolDefinition(name: "broken", description: "", parametersJSON: "{type:")]
        #expect(throws: LLMError.self) { try codec.makeRequest(request, endpoint: ProviderEndpoint(baseURL: "http://h/v1")) }
    }

    static let textStream = """
    data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

    data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}

    data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" wörld 👋"},"logprobs":null,"finish_reason":null}],"usage":null}

    data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

    data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}

    data: [DONE]


    """

    @Test func decodesATextStreamWithUsageAndEndsAfterDone() {
        let events = SSETestSplitter.decodeEverySplit(Self.textStream, codec.makeDecoder)
        #expect(events == [.textDelta("Hello"), .textDelta(" wörld 👋"),
                           .usage(TokenUsage(inputTokens: 9, outputTokens: 3)), .finished(.end)])
    }

    static let toolStream = """
    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]},"logprobs":null,"finish_reason":null}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\\": \\"Par"}}]},"logprobs":null,"finish_reason":null}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"is\\"}"}}]},"logprobs":null,"finish_reason":null}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]},"logprobs":null,"finish_reason":null}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\\"tz\\":"}}]},"logprobs":null,"finish_reason":null}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":" \\"CET\\"}"}}]},"logprobs":null,"finish_reason":null}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}

    data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":80,"completion_tokens":40,"total_tokens":120}}

    data: [DONE]


    """

    @Test func decodesTwoToolCallsWhoseArgumentsArriveInPieces() {
        let events = SSETestSplitter.decodeEverySplit(Self.toolStream, codec.makeDecoder)
        #expect(events == [
            .toolCallStarted(index: 0, id: "call_a", name: "get_weather"),
            .toolCallArgumentsDelta(index: 0, fragment: #"{"ci"#),
            .toolCallArgumentsDelta(index: 0, fragment: #"ty": "Par"#),
            .toolCallArgumentsDelta(index: 0, fragment: #"is"}"#),
            .toolCallStarted(index: 1, id: "call_b", name: "get_time"),
            .toolCallArgumentsDelta(index: 1, fragment: #"{"tz":"#),
            .toolCallArgumentsDelta(index: 1, fragment: #" "CET"}"#),
            .toolCallFinished(index: 0, id: "call_a", name: "get_weather", argumentsJSON: #"{"city": "Paris"}"#),
            .toolCallFinished(index: 1, id: "call_b", name: "get_time", argumentsJSON: #"{"tz": "CET"}"#),
            .usage(TokenUsage(inputTokens: 80, outputTokens: 40)),
            .finished(.toolUse),
        ])
    }

    @Test func reportsToolArgumentsThatAreNotJSON() {
        let stream = """
        data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{\\"a\\":"}}]},"finish_reason":null}]}

        data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

        data: [DONE]


        """
        let events = SSETestSplitter.decodeEverySplit(stream, codec.makeDecoder)
        #expect(events.count == 3)
        guard case .error(.badRequest(let message)) = events.last else { Issue.record("\(events)"); return }
        #expect(message.contains("not valid JSON"))
    }

    @Test(arguments: [("length", StopReason.length), ("content_filter", .contentFilter), ("stop", .end)])
    func mapsFinishReasons(reason: String, expected: StopReason) {
        let stream = """
        data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"\(reason)"}]}

        data: [DONE]


        """
        #expect(SSETestSplitter.decodeEverySplit(stream, codec.makeDecoder) == [.textDelta("x"), .finished(expected)])
    }

    @Test func reportsAnErrorObjectSentMidStream() {
        let stream = """
        data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}

        data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}


        """
        #expect(SSETestSplitter.decodeEverySplit(stream, codec.makeDecoder) == [
            .textDelta("Hi"), .error(.server(status: 500, message: "The server had an error while processing your request.")),
        ])
    }

    @Test func reportsAStreamThatEndsBeforeAFinishReason() {
        let stream = """
        data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}


        """
        #expect(SSETestSplitter.decodeEverySplit(stream, codec.makeDecoder) == [
            .textDelta("Hi"), .error(.network("stream ended early")),
        ])
    }

    @Test func finishesAStreamWhoseServerOmitsDone() {
        let stream = """
        data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}


        """
        #expect(SSETestSplitter.decodeEverySplit(stream, codec.makeDecoder) == [
            .textDelta("Hi"), .usage(TokenUsage(inputTokens: 1, outputTokens: 1)), .finished(.end),
        ])
    }

    static func body(_ message: String, code: String? = nil) -> [UInt8] {
        let codeJSON = code.map { "\"\($0)\"" } ?? "null"
        return Array(#"{"error":{"message":"\#(message)","type":"invalid_request_error","param":null,"code":\#(codeJSON)}}"#.utf8)
    }

    @Test func mapsHTTPErrorsToTypedErrors() {
        #expect(codec.error(status: 401, headers: [:], body: Self.body("Incorrect API key provided: sk-ab***cd.", code: "invalid_api_key"))
                == .authentication("Incorrect API key provided: sk-ab***cd."))
        #expect(codec.error(status: 403, headers: [:], body: Self.body("Country not supported")) == .authentication("Country not supported"))
        #expect(codec.error(status: 429, headers: ["retry-after": "1"], body: Self.body("Rate limit reached"))
                == .rateLimited(retryAfter: .seconds(1), message: "Rate limit reached"))
        #expect(codec.error(status: 429, headers: ["retry-after-ms": "250", "retry-after": "1"], body: Self.body("slow"))
                == .rateLimited(retryAfter: .milliseconds(250), message: "slow"))
        #expect(codec.error(status: 429, headers: [:], body: Self.body("slow")) == .rateLimited(retryAfter: nil, message: "slow"))
        #expect(codec.error(status: 400, headers: [:], body: Self.body("maximum context length is 8192 tokens", code: "context_length_exceeded"))
                == .contextTooLong("maximum context length is 8192 tokens"))
        #expect(codec.error(status: 400, headers: [:], body: Self.body("bad")) == .badRequest("bad"))
        #expect(codec.error(status: 404, headers: [:], body: Self.body("The model `x` does not exist")) == .badRequest("The model `x` does not exist"))
        #expect(codec.error(status: 422, headers: [:], body: Self.body("unprocessable")) == .badRequest("unprocessable"))
        #expect(codec.error(status: 500, headers: [:], body: Self.body("oops")) == .server(status: 500, message: "oops"))
        #expect(codec.error(status: 502, headers: [:], body: Array("<html>Bad Gateway</html>".utf8))
                == .server(status: 502, message: "HTTP 502: <html>Bad Gateway</html>"))
        #expect(codec.error(status: 504, headers: [:], body: []) == .server(status: 504, message: "HTTP 504"))
        #expect(codec.error(status: 503, headers: [:], body: Self.body("overloaded")) == .overloaded("overloaded"))
    }
}

/// A tiny SSE framer for tests only (the real one lives in Net): feeds the bytes in the given pieces
/// and hands each complete event to the decoder, so decoders can be checked against every split.
enum SSETestSplitter {
    /// Frames the pieces with the real `SSEParser` and decodes each event from its bytes, as
    /// `ProviderCall` does (so a decoder's direct reading is what these tests exercise).
    static func decode(_ pieces: [[UInt8]], into decoder: inout any ProviderStreamDecoder) -> [LLMStreamEvent] {
        var events: [LLMStreamEvent] = []
        var parser = SSEParser()
        for piece in pieces {
            piece.withUnsafeBytes { bytes in
                do throws(StreamParserError) {
                    try parser.feedBorrowing(bytes) { event in decoder.decode(event: event.type, data: event.data) { events.append($0) } }
                } catch {
                    Issue.record("the SSE parser refused the stream: \(error)")
                }
            }
        }
        return events + decoder.finish()
    }

    /// Decodes whole, byte by byte and in seeded random pieces; records an issue unless all agree.
    static func decodeEverySplit(_ text: String, _ makeDecoder: () -> any ProviderStreamDecoder,
                                 sourceLocation: SourceLocation = #_sourceLocation) -> [LLMStreamEvent] {
        let bytes = Array(text.utf8)
        func run(_ pieces: [[UInt8]]) -> [LLMStreamEvent] {
            var decoder = makeDecoder()
            return decode(pieces, into: &decoder)
        }
        let whole = run([bytes])
        #expect(run(bytes.map { [$0] }) == whole, "byte by byte", sourceLocation: sourceLocation)
        var random = SplitMix64(state: 42)
        for seed in 0..<20 {
            var pieces: [[UInt8]] = []
            var offset = 0
            while offset < bytes.count {
                let size = Int.random(in: 1...64, using: &random)
                pieces.append(Array(bytes[offset..<min(bytes.count, offset + size)]))
                offset += size
            }
            #expect(run(pieces) == whole, "random split \(seed)", sourceLocation: sourceLocation)
        }
        return whole
    }
}

extension OpenAICodecTests {
    @Test func sendsToolResultsRightAfterTheCallsEvenWhenAUserMessageCarriesThem() throws {
        let request = LLMRequest(messages: [
            ChatMessage(role: .assistant, parts: [.toolCall(id: "c1", name: "f", argumentsJSON: "")]),
            ChatMessage(role: .user, parts: [.text("and now?"), .toolResult(callID: "c1", contentJSON: "42", isError: false)]),
        ], options: GenerationOptions(model: "m"))
        let body = try JSONValue.parse(try OpenAICodec().makeRequest(request, endpoint: ProviderEndpoint(baseURL: "http://h/v1")).body)
        #expect(body["messages"] == (try JSONValue.parse(#"""
        [{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
         {"role":"tool","tool_call_id":"c1","content":"42"},
         {"role":"user","content":"and now?"}]
        """#)))
    }
}
