import Foundation
import Testing
import TestSupport
@testable import LLM

/// The Gemini wire format: request bodies, the SSE stream and error responses.
@Suite struct GeminiCodecTests {
    let codec = GeminiCodec(callIDPrefix: "t")
    let endpoint = ProviderEndpoint(baseURL: "https://generativelanguage.googleapis.com/v1beta/", apiKey: "KEY")

    static let conversation = LLMRequest(
        system: "Be brief.",
        messages: [
            ChatMessage(role: .user, parts: [.text("Weather in Paris?")]),
            ChatMessage(role: .assistant, parts: [.text("Checking."), .toolCall(id: "c1", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#)]),
            ChatMessage(role: .tool, parts: [.toolResult(callID: "c1", contentJSON: #"{"tempC":21}"#, isError: false)]),
        ],
        tools: [ToolDefinition(name: "get_weather", description: "Current weather",
                               parametersJSON: #"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#),
                ToolDefinition(name: "now", description: "The time", parametersJSON: #"{"type":"object","properties":{}}"#)],
        options: GenerationOptions(model: "gemini-2.5-flash", temperature: 0.5, maxOutputTokens: 100, stop: ["END"]))

    @Test func buildsTheStreamingRequestWithContentsToolsAndGenerationConfig() throws {
        let request = try codec.makeRequest(Self.conversation, endpoint: endpoint)
        #expect(request.method == "POST")
        #expect(request.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        #expect(request.headers["x-goog-api-key"] == "KEY")
        #expect(request.headers["content-type"] == "application/json")
        let expected = #"""
        {"contents": [
           {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
           {"role": "model", "parts": [{"text": "Checking."},
              {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "skip_thought_signature_validator"}]},
           {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"tempC": 21}}}]}],
         "systemInstruction": {"parts": [{"text": "Be brief."}]},
         "tools": [{"functionDeclarations": [
           {"name": "get_weather", "description": "Current weather",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
           {"name": "now", "description": "The time"}]}],
         "generationConfig": {"temperature": 0.5, "maxOutputTokens": 100, "stopSequences": ["END"]}}
        """#
        #expect(try json(request.body) == json(Array(expected.utf8)))
    }

    @Test func wrapsNonObjectAndFailedToolResultsAndMergesParallelResults() throws {
        var request = Self.conversation
        request.messages[1].parts.append(.toolCall(id: "c2", name: "now", argumentsJSON: "{}"))
        request.messages[2] = ChatMessage(role: .tool, parts: [.toolResult(callID: "c1", contentJSON: #""sunny""#, isError: false)])
        request.messages.append(ChatMessage(role: .tool, parts: [.toolResult(callID: "c2", contentJSON: #""clock broke""#, isError: true)]))
        let body = try #require(try json(codec.makeRequest(request, endpoint: endpoint).body) as? NSDictionary)
        let contents = try #require(body["contents"] as? [NSDictionary])
        #expect(contents.count == 3)
        let expected = try json(Array(#"""
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
                                       {"functionResponse": {"name": "now", "response": {"error": "clock broke"}}}]}
            """#.utf8))
        #expect(contents[2] == expected as? NSDictionary)
    }

    @Test func refusesAToolResultWhoseCallIsNotInTheConversationAndAMissingKey() {
        var request = Self.conversation
        request.messages[2] = ChatMessage(role: .tool, parts: [.toolResult(callID: "nope", contentJSON: "1", isError: false)])
        #expect(throws: LLMError.self) { try codec.makeRequest(request, endpoint: endpoint) }
        #expect(throws: LLMError.authentication("Gemini needs an API key")) {
            try codec.makeRequest(Self.conversation, endpoint: ProviderEndpoint(baseURL: "https://x"))
        }
    }

    // Chunk shapes follow the streamGenerateContent examples in Google's API reference.
    static let textStream = """
        data: {"candidates": [{"content": {"parts": [{"text": "The"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 8,"totalTokenCount": 8},"modelVersion": "gemini-2.5-flash"}

        data: {"candidates": [{"content": {"parts": [{"text": " sky is blue."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 8,"totalTokenCount": 8},"modelVersion": "gemini-2.5-flash"}

        data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 8,"candidatesTokenCount": 5,"thoughtsTokenCount": 2,"totalTokenCount": 15},"modelVersion": "gemini-2.5-flash"}


        """

    @Test func decodesTextAndReportsUsageOnceFromTheLastChunk() {
        #expect(decode(Self.textStream) == [.textDelta("The"), .textDelta(" sky is blue."),
                                            .usage(TokenUsage(inputTokens: 8, outputTokens: 7)), .finished(.end)])
    }

    @Test func decodesFunctionCallsWithGeneratedIdsAndStopsForToolUse() {
        let stream = """
            data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}},"thoughtSignature": "abc"}, {"functionCall": {"name": "now","args": {}}}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 30,"candidatesTokenCount": 12,"totalTokenCount": 42}}


            """
        // Calls finish when the stream does: a signature may still come (see below).
        #expect(decode(stream) == [
            .toolCallStarted(index: 0, id: "call_t_0", name: "get_weather"),
            .toolCallArgumentsDelta(index: 0, fragment: #"{"city":"Paris"}"#),
            .toolCallStarted(index: 1, id: "call_t_1", name: "now"),
            .toolCallArgumentsDelta(index: 1, fragment: "{}"),
            .toolCallFinished(index: 0, id: "call_t_0", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#, signature: "abc"),
            .toolCallFinished(index: 1, id: "call_t_1", name: "now", argumentsJSON: "{}", signature: nil),
            .usage(TokenUsage(inputTokens: 30, outputTokens: 12)), .finished(.toolUse)])
    }

    // A Gemini 3 step streamed the way the thought-signatures page describes: parallel calls with
    // the signature on the first only; or the signature on an empty text part of its own, later.
    static let signedCalls = """
        data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}},"thoughtSignature": "CiQBcsjafA+/x1ZmQ9Zq=="}, {"functionCall": {"name": "get_weather","args": {"city": "Rome"}}}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 30,"totalTokenCount": 30},"modelVersion": "gemini-3-pro-preview"}

        data: {"candidates": [{"content": {"parts": [{"text": "","thoughtSignature": "bGF0ZQ=="}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 30,"candidatesTokenCount": 20,"thoughtsTokenCount": 64,"totalTokenCount": 114},"modelVersion": "gemini-3-pro-preview"}


        """

    static let signatureApart = """
        data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}}}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 30,"totalTokenCount": 30},"modelVersion": "gemini-3-pro-preview"}

        data: {"candidates": [{"content": {"parts": [{"text": "","thoughtSignature": "Q2lRQmNzamFmQQ=="}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 30,"candidatesTokenCount": 9,"totalTokenCount": 39},"modelVersion": "gemini-3-pro-preview"}


        """

    @Test func handsEachCallTheSignatureItCameWithAndOnlyThat() {
        let finished = decode(Self.signedCalls).filter { if case .toolCallFinished = $0 { true } else { false } }
        #expect(finished == [
            .toolCallFinished(index: 0, id: "call_t_0", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#,
                              signature: "CiQBcsjafA+/x1ZmQ9Zq=="),
            .toolCallFinished(index: 1, id: "call_t_1", name: "get_weather", argumentsJSON: #"{"city":"Rome"}"#, signature: nil)])
    }

    @Test func keepsASignatureStreamedOnAPartOfItsOwnForTheFirstCallHoweverTheBytesAreSplit() {
        let expected: [LLMStreamEvent] = [
            .toolCallStarted(index: 0, id: "call_t_0", name: "get_weather"),
            .toolCallArgumentsDelta(index: 0, fragment: #"{"city":"Paris"}"#),
            .toolCallFinished(index: 0, id: "call_t_0", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#,
                              signature: "Q2lRQmNzamFmQQ=="),
            .usage(TokenUsage(inputTokens: 30, outputTokens: 9)), .finished(.toolUse)]
        #expect(decode(Self.signatureApart) == expected)
        var random = SplitMix64(state: 11)
        for _ in 0..<50 {
            #expect(decode(Self.signatureApart, splitting: &random) == expected)
            #expect(decode(Self.signedCalls, splitting: &random) == decode(Self.signedCalls))
        }
        // A text answer's signature (last, on an empty part) has no call to go with and is not kept.
        let text = Self.textStream.replacingOccurrences(of: #"{"text": ""}"#, with: #"{"text": "", "thoughtSignature": "dGV4dA=="}"#)
        #expect(text != Self.textStream)
        #expect(decode(text) == decode(Self.textStream))
    }

    @Test func sendsSignaturesBackOnTheCallsThatCameWithThemAndAStandInOnlyForUnsignedSteps() throws {
        var request = Self.conversation
        request.messages = [
            ChatMessage(role: .user, parts: [.text("Weather in Paris and Rome?")]),
            // A parallel step from Gemini: only the first call was signed.
            ChatMessage(role: .assistant, parts: [
                .text("Checking."),
                .toolCall(id: "c1", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#, signature: "CiQBcsjafA+/x1ZmQ9Zq=="),
                .toolCall(id: "c2", name: "get_weather", argumentsJSON: #"{"city":"Rome"}"#)]),
            ChatMessage(role: .tool, parts: [.toolResult(callID: "c1", contentJSON: #"{"tempC":21}"#, isError: false)]),
            ChatMessage(role: .tool, parts: [.toolResult(callID: "c2", contentJSON: #"{"tempC":25}"#, isError: false)]),
            // A step made by another provider (or stored before signatures were kept): no signatures.
            ChatMessage(role: .assistant, parts: [
                .toolCall(id: "c3", name: "now", argumentsJSON: "{}"),
                .toolCall(id: "c4", name: "now", argumentsJSON: "{}")]),
            ChatMessage(role: .tool, parts: [.toolResult(callID: "c3", contentJSON: #""noon""#, isError: false),
                                             .toolResult(callID: "c4", contentJSON: #""noon""#, isError: false)]),
        ]
        let body = try #require(try json(codec.makeRequest(request, endpoint: endpoint).body) as? NSDictionary)
        let contents = try #require(body["contents"] as? [NSDictionary])
        #expect(contents.count == 5)
        let first = try #require(contents[1]["parts"] as? [NSDictionary])
        #expect(first.map { $0["thoughtSignature"] as? String } == [nil, "CiQBcsjafA+/x1ZmQ9Zq==", nil])
        let second = try #require(contents[3]["parts"] as? [NSDictionary])
        #expect(second.map { $0["thoughtSignature"] as? String } == ["skip_thought_signature_validator", nil])
    }

    @Test func sendsAnMCPToolsJSONSchemaAsParametersJsonSchemaWithReferencesInlined() throws {
        // As MCP servers publish them (pydantic-style $defs), with what `parameters` would refuse.
        let schema = #"""
            {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
             "properties": {
               "target": {"$ref": "#/$defs/Target", "description": "What to change"},
               "mode": {"oneOf": [{"const": "fast"}, {"type": "string", "enum": ["careful", "slow"]}]},
               "tree": {"$ref": "#/$defs/Node"}},
             "required": ["target"], "additionalProperties": false,
             "$defs": {
               "Target": {"type": "object", "description": "A target", "properties": {"path": {"type": "string"}},
                          "additionalProperties": false, "required": ["path"]},
               "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}}
            """#
        var request = Self.conversation
        request.tools = [ToolDefinition(name: "edit", description: "Edits", parametersJSON: schema)]
        let bytes = try codec.makeRequest(request, endpoint: endpoint).body
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""additionalProperties":false"#), "a boolean, not 0")
        let body = try #require(try json(bytes) as? NSDictionary)
        let declaration = try #require(((body["tools"] as? [NSDictionary])?.first?["functionDeclarations"] as? [NSDictionary])?.first)
        #expect(declaration["parameters"] == nil)
        let expected = try json(Array(#"""
            {"type": "object",
             "properties": {
               "target": {"type": "object", "description": "What to change", "properties": {"path": {"type": "string"}},
                          "additionalProperties": false, "required": ["path"]},
               "mode": {"oneOf": [{"const": "fast"}, {"type": "string", "enum": ["careful", "slow"]}]},
               "tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"type": "object"}}}}},
             "required": ["target"], "additionalProperties": false}
            """#.utf8))
        #expect(declaration["parametersJsonSchema"] as? NSDictionary == expected as? NSDictionary)
    }

    @Test(arguments: [("MAX_TOKENS", StopReason.length), ("SAFETY", .contentFilter), ("RECITATION", .contentFilter),
                      ("BLOCKLIST", .contentFilter), ("PROHIBITED_CONTENT", .contentFilter), ("STOP", .end)])
    func mapsFinishReasons(reason: String, stop: StopReason) {
        let stream = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"x\"}],\"role\": \"model\"},\"finishReason\": \"\(reason)\"}]}\n\n"
        #expect(decode(stream) == [.textDelta("x"), .finished(stop)])
    }

    @Test func reportsABlockedPromptAsContentFilter() {
        let stream = #"data: {"promptFeedback": {"blockReason": "SAFETY"},"usageMetadata": {"promptTokenCount": 4,"totalTokenCount": 4}}"# + "\n\n"
        #expect(decode(stream) == [.usage(TokenUsage(inputTokens: 4, outputTokens: 0)), .finished(.contentFilter)])
    }

    @Test func turnsAMidStreamErrorIntoATypedErrorAndIgnoresTheRest() {
        let stream = Self.textStream.components(separatedBy: "\n\n")[0] + "\n\n"
            + #"data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"# + "\n\n"
            + Self.textStream
        #expect(decode(stream) == [.textDelta("The"), .error(.overloaded("The model is overloaded."))])
    }

    @Test func reportsAStreamThatEndsBeforeAFinishReasonAsANetworkError() {
        let cut = Self.textStream.components(separatedBy: "\n\n").prefix(2).joined(separator: "\n\n") + "\n\n"
        #expect(decode(cut) == [.textDelta("The"), .textDelta(" sky is blue."),
                                .error(.network("the Gemini stream ended before a finish reason"))])
    }

    @Test func decodesIdenticallyHoweverTheBytesAreSplit() {
        let whole = decode(Self.textStream)
        var random = SplitMix64(state: 7)
        for _ in 0..<50 {
            #expect(decode(Self.textStream, splitting: &random) == whole)
        }
    }

    @Test func mapsHTTPErrors() {
        func map(_ status: Int, _ body: String, _ headers: [String: String] = [:]) -> LLMError {
            codec.error(status: status, headers: headers, body: Array(body.utf8))
        }
        #expect(map(400, #"{"error": {"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}}"#)
            == .badRequest("Invalid JSON payload received."))
        let long = "The input token count (1300000) exceeds the maximum number of tokens allowed (1048576)."
        #expect(map(400, #"{"error": {"code": 400, "message": "\#(long)", "status": "INVALID_ARGUMENT"}}"#) == .contextTooLong(long))
        #expect(map(403, #"{"error": {"code": 403, "message": "Permission denied.", "status": "PERMISSION_DENIED"}}"#)
            == .authentication("Permission denied."))
        let quota = #"""
            [{"error": {"code": 429, "message": "You exceeded your current quota.", "status": "RESOURCE_EXHAUSTED",
              "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                          {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3.700s"}]}}]
            """#
        #expect(map(429, quota) == .rateLimited(retryAfter: .milliseconds(3700), message: "You exceeded your current quota."))
        #expect(map(429, #"{"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}"#, ["retry-after": "2"])
            == .rateLimited(retryAfter: .seconds(2), message: "slow"))
        #expect(map(500, #"{"error": {"code": 500, "message": "Internal error.", "status": "INTERNAL"}}"#)
            == .server(status: 500, message: "Internal error."))
        #expect(map(503, #"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#)
            == .overloaded("The model is overloaded."))
        #expect(map(502, "<html>bad gateway</html>") == .server(status: 502, message: "<html>bad gateway</html>"))
    }

    @Test func decodesTheStreamOfTheFakeGeminiPeer() throws {
        // The fake serves real HTTP; curl fetches the raw SSE body so the codec sees its exact bytes.
        // SIGKILL because the test runner's blocked signal mask is inherited: SIGTERM never lands.
        let script = Peers.script("fake_gemini.py")
        let body = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#
        let shell = """
            py=$(python3 -c 'import sys; print(sys.executable)'); "$py" '\(script)' > "$T/port" 2>/dev/null & pid=$!; while [ ! -s "$T/port" ]; do sleep 0.05; done
            curl -s -H 'x-goog-api-key: K' "http://127.0.0.1:$(head -1 "$T/port")/v1beta/models/text:streamGenerateContent?alt=sse" -d '\(body)'
            kill -9 $pid
            """
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let result = try Peers.run("sh", ["-c", "T='\(directory.path)'; " + shell], timeout: 20)
        #expect(decode(result.stdout) == ["Hello", " from", " the", " fake", " Gemini."].map { .textDelta($0) }
            + [.usage(TokenUsage(inputTokens: 8, outputTokens: 5)), .finished(.end)])
    }

    private func decode(_ stream: String) -> [LLMStreamEvent] {
        var decoder = codec.makeDecoder()
        var framer = SSEFramer()
        var events = framer.feed(Array(stream.utf8)).flatMap { decoder.decode($0) }
        events += decoder.finish()
        return events
    }

    private func decode(_ stream: String, splitting random: inout SplitMix64) -> [LLMStreamEvent] {
        var decoder = codec.makeDecoder()
        var framer = SSEFramer()
        var bytes = Array(stream.utf8)[...]
        var events: [LLMStreamEvent] = []
        while !bytes.isEmpty {
            let take = Int.random(in: 1...max(1, min(bytes.count, 40)), using: &random)
            events += framer.feed(Array(bytes.prefix(take))).flatMap { decoder.decode($0) }
            bytes = bytes.dropFirst(take)
        }
        return events + decoder.finish()
    }
}

private func json(_ bytes: [UInt8]) throws -> NSObject {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? NSObject)
}

/// A minimal SSE framer for the tests: `event:` and `data:` lines, an empty line ends an event.
private struct SSEFramer {
    private var pending: [UInt8] = []
    private var event: String?
    private var data: [String] = []

    mutating func feed(_ bytes: [UInt8]) -> [StreamChunk] {
        pending += bytes
        var chunks: [StreamChunk] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { chunks.append(StreamChunk(event: event, data: data.joined(separator: "\n"))) }
                event = nil
                data = []
            } else if line.hasPrefix("data:") {
                data.append(String(line.dropFirst(5).drop { $0 == " " }))
            } else if line.hasPrefix("event:") {
                event = String(line.dropFirst(6).drop { $0 == " " })
            }
        }
        return chunks
    }
}
