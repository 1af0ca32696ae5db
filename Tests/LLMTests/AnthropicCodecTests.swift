import Net
import Testing
@testable import LLM

/// The Anthropic Messages codec against request shapes and event sequences from the API reference.
@Suite struct AnthropicCodecTests {
    let codec = AnthropicCodec()

    @Test func buildsTheMessagesRequestWithToolResultsInOneUserTurn() throws {
        var conversation = OpenAICodecTests.conversation
        conversation.options.maxOutputTokens = nil
        let request = try codec.makeRequest(conversation, endpoint: ProviderEndpoint(
            baseURL: "https://api.anthropic.com/v1", apiKey: "sk-ant-test"))
        #expect(request.url == "https://api.anthropic.com/v1/messages")
        #expect(request.headers == ["x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01",
                                    "content-type": "application/json"])
        let expected = try JSONValue.parse(#"""
        {"model":"gpt-4o","max_tokens":4096,"stream":true,"temperature":0.5,"stop_sequences":["END"],
         "system":"You are terse.",
         "messages":[
          {"role":"user","content":[{"type":"text","text":"Weather in Paris and Rome?"}]},
          {"role":"assistant","content":[
            {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
            {"type":"tool_use","id":"call_2","name":"get_weather","input":{"city":"Rome"}}]},
          {"role":"user","content":[
            {"type":"tool_result","tool_use_id":"call_1","content":"18C, sunny","is_error":false},
            {"type":"tool_result","tool_use_id":"call_2","content":"{\"temp\":21}","is_error":true}]}],
         "tools":[{"name":"get_weather","description":"Current weather for a city.",
           "input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}
        """#)
        #expect(try JSONValue.parse(request.body) == expected)
    }

    @Test func sendsTheCallersOutputLimitAndNoKeyHeaderWithoutAKey() throws {
        let request = try codec.makeRequest(OpenAICodecTests.conversation, endpoint: ProviderEndpoint(baseURL: "http://127.0.0.1:9/v1/"))
        #expect(request.url == "http://127.0.0.1:9/v1/messages")
        #expect(request.headers["x-api-key"] == nil)
        #expect(try JSONValue.parse(request.body)["max_tokens"] == .number(256))
    }

    static let textStream = """
    event: message_start
    data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-6", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

    event: content_block_start
    data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

    event: ping
    data: {"type": "ping"}

    event: content_block_delta
    data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

    event: content_block_delta
    data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "! ünïcode 🎉"}}

    event: content_block_stop
    data: {"type": "content_block_stop", "index": 0}

    event: message_delta
    data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}

    event: message_stop
    data: {"type": "message_stop"}


    """

    @Test func decodesATextStreamIgnoringPings() {
        #expect(SSETestSplitter.decodeEverySplit(Self.textStream, codec.makeDecoder) == [
            .textDelta("Hello"), .textDelta("! ünïcode 🎉"),
            .usage(TokenUsage(inputTokens: 25, outputTokens: 15)), .finished(.end),
        ])
    }

    static let toolStream = """
    event: message_start
    data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-6","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

    event: content_block_start
    data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

    event: content_block_delta
    data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking both."}}

    event: content_block_stop
    data: {"type":"content_block_stop","index":0}

    event: content_block_start
    data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

    event: content_block_delta
    data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

    event: content_block_delta
    data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}

    event: content_block_delta
    data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \\"San Francisco, CA\\"}"}}

    event: content_block_stop
    data: {"type":"content_block_stop","index":1}

    event: content_block_start
    data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}}

    event: ping
    data: {"type": "ping"}

    event: content_block_stop
    data: {"type":"content_block_stop","index":2}

    event: message_delta
    data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

    event: message_stop
    data: {"type":"message_stop"}


    """

    @Test func decodesToolUseBlocksAsDenselyNumberedToolCalls() {
        #expect(SSETestSplitter.decodeEverySplit(Self.toolStream, codec.makeDecoder) == [
            .textDelta("Checking both."),
            .toolCallStarted(index: 0, id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather"),
            .toolCallArgumentsDelta(index: 0, fragment: #"{"location":"#),
            .toolCallArgumentsDelta(index: 0, fragment: #" "San Francisco, CA"}"#),
            .toolCallFinished(index: 0, id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather",
                              argumentsJSON: #"{"location": "San Francisco, CA"}"#),
            .toolCallStarted(index: 1, id: "toolu_02", name: "get_time"),
            .toolCallFinished(index: 1, id: "toolu_02", name: "get_time", argumentsJSON: "{}"),
            .usage(TokenUsage(inputTokens: 472, outputTokens: 89)),
            .finished(.toolUse),
        ])
    }

    @Test(arguments: [("max_tokens", StopReason.length), ("refusal", .contentFilter), ("stop_sequence", .end)])
    func mapsStopReasons(reason: String, expected: StopReason) {
        let stream = """
        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"\(reason)","stop_sequence":null},"usage":{"output_tokens":3}}

        event: message_stop
        data: {"type":"message_stop"}


        """
        #expect(SSETestSplitter.decodeEverySplit(stream, codec.makeDecoder) == [
            .usage(TokenUsage(inputTokens: 0, outputTokens: 3)), .finished(expected),
        ])
    }

    @Test func reportsAnOverloadedErrorEventMidStream() {
        let stream = """
        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

        event: error
        data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


        """
        #expect(SSETestSplitter.decodeEverySplit(stream, codec.makeDecoder) == [.textDelta("Hi"), .error(.overloaded("Overloaded"))])
    }

    @Test func reportsAStreamThatEndsBeforeMessageStop() {
        let events = SSETestSplitter.decodeEverySplit(String(Self.textStream.prefix(700)), codec.makeDecoder)
        #expect(events.last == .error(.network("stream ended early")))
    }

    static func body(_ type: String, _ message: String) -> [UInt8] {
        Array(#"{"type":"error","error":{"type":"\#(type)","message":"\#(message)"},"request_id":"req_011"}"#.utf8)
    }

    @Test func mapsHTTPErrorsToTypedErrors() {
        #expect(codec.error(status: 401, headers: [:], body: Self.body("authentication_error", "invalid x-api-key"))
                == .authentication("invalid x-api-key"))
        #expect(codec.error(status: 403, headers: [:], body: Self.body("permission_error", "no access")) == .authentication("no access"))
        #expect(codec.error(status: 429, headers: ["retry-after": "1"], body: Self.body("rate_limit_error", "slow down"))
                == .rateLimited(retryAfter: .seconds(1), message: "slow down"))
        #expect(codec.error(status: 529, headers: [:], body: Self.body("overloaded_error", "Overloaded")) == .overloaded("Overloaded"))
        #expect(codec.error(status: 400, headers: [:], body: Self.body("invalid_request_error", "prompt is too long: 205351 tokens > 200000 maximum"))
                == .contextTooLong("prompt is too long: 205351 tokens > 200000 maximum"))
        #expect(codec.error(status: 400, headers: [:], body: Self.body("invalid_request_error", "messages: bad")) == .badRequest("messages: bad"))
        #expect(codec.error(status: 404, headers: [:], body: Self.body("not_found_error", "model: x")) == .badRequest("model: x"))
        #expect(codec.error(status: 413, headers: [:], body: Self.body("request_too_large", "too large")) == .contextTooLong("too large"))
        #expect(codec.error(status: 500, headers: [:], body: Self.body("api_error", "Internal")) == .server(status: 500, message: "Internal"))
        #expect(codec.error(status: 502, headers: [:], body: []) == .server(status: 502, message: "HTTP 502"))
    }
}

/// The JSON value the codecs build bodies with: parsing edge cases and deterministic output.
@Suite struct JSONValueTests {
    @Test func roundTripsEscapesAndSurrogatePairsWithSortedKeys() throws {
        let value = try JSONValue.parse(#" {"b":[1,2.5,-3e2,true,null],"a":"q\"\\\/\n\t\u00e9\ud83d\ude00\u0001"} "#)
        #expect(value["a"] == .string("q\"\\/\n\té😀\u{1}"))
        #expect(value.serializedString == #"{"a":"q\"\\/\n\té😀\u0001","b":[1,2.5,-300,true,null]}"#)
        #expect(try JSONValue.parse(value.serialized()) == value)
    }

    /// Integers of up to 15 digits and strings without escapes skip the general paths; the results
    /// must be the same as the general paths give.
    @Test func readsIntegersAndPlainStringsExactly() throws {
        let value = try JSONValue.parse(#"[0,-0,7,-12,123456789012345,-999999999999999,1234567890123456789,12e1,12E-1,1.5,-2.25e2]"#)
        #expect(value == .array([.number(0), .number(-0.0), .number(7), .number(-12), .number(123456789012345),
                                 .number(-999999999999999), .number(1.2345678901234568e18), .number(120), .number(1.2),
                                 .number(1.5), .number(-225)]))
        #expect(value[1].map { if case .number(let n) = $0 { n.sign == .minus } else { false } } == true)
        #expect(value[4]?.intValue == 123456789012345)
        let strings = try JSONValue.parse(#"{"plain":"héllo 😀","after":"ab\ncd","first":"\"q","empty":""}"#)
        #expect(strings["plain"] == .string("héllo 😀"))
        #expect(strings["after"] == .string("ab\ncd"))
        #expect(strings["first"] == .string("\"q"))
        #expect(strings["empty"] == .string(""))
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("\"abc\u{1F}\"") }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("\"abc") }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("-") }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("1.") }
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "\"\u{1}\"", "01x", "tru", "[1] 2", String(repeating: "[", count: 600)])
    func rejectsMalformedDocuments(text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(text) }
    }
}

extension AnthropicCodecTests {
    @Test func putsToolResultsBeforeTextWhenAUserTurnHasBoth() throws {
        let request = LLMRequest(messages: [
            ChatMessage(role: .assistant, parts: [.toolCall(id: "t1", name: "f", argumentsJSON: "")]),
            ChatMessage(role: .tool, parts: [.toolResult(callID: "t1", contentJSON: "42", isError: false)]),
            ChatMessage(role: .user, parts: [.text("and now?")]),
        ], options: GenerationOptions(model: "claude"))
        let body = try JSONValue.parse(try codec.makeRequest(request, endpoint: ProviderEndpoint(baseURL: "http://h/v1")).body)
        #expect(body["messages"] == (try JSONValue.parse(#"""
        [{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
         {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"42","is_error":false},
                                   {"type":"text","text":"and now?"}]}]
        """#)))
    }
}
