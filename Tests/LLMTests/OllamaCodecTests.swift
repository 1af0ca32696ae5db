import Foundation
import Net
import Testing
import TestSupport
@testable import LLM

/// The Ollama native wire format: `/api/chat` bodies, the NDJSON stream and error responses.
@Suite struct OllamaCodecTests {
    let codec = OllamaCodec(callIDPrefix: "t")
    let endpoint = ProviderEndpoint(baseURL: "http://127.0.0.1:11434/")

    @Test func buildsTheChatRequestWithToolCallsToolResultsAndOptions() throws {
        let request = LLMRequest(
            system: "Be brief.",
            messages: [
                ChatMessage(role: .user, parts: [.text("Weather in Toronto?")]),
                ChatMessage(role: .assistant, parts: [.toolCall(id: "c1", name: "get_weather", argumentsJSON: #"{"city":"Toronto"}"#)]),
                ChatMessage(role: .tool, parts: [.toolResult(callID: "c1", contentJSON: #""11 degrees celsius""#, isError: false)]),
            ],
            tools: [ToolDefinition(name: "get_weather", description: "Current weather",
                                   parametersJSON: #"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#)],
            options: GenerationOptions(model: "llama3.2", temperature: 0.2, maxOutputTokens: 64, stop: ["END"]))
        let wire = try codec.makeRequest(request, endpoint: endpoint)
        #expect(wire.url == "http://127.0.0.1:11434/api/chat")
        #expect(wire.headers["authorization"] == nil)
        let expected = #"""
            {"model": "llama3.2", "stream": true,
             "messages": [
               {"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Weather in Toronto?"},
               {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Toronto"}}}]},
               {"role": "tool", "content": "11 degrees celsius", "tool_name": "get_weather"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
             "options": {"temperature": 0.2, "num_predict": 64, "stop": ["END"]}}
            """#
        #expect(try json(wire.body) == json(Array(expected.utf8)))
    }

    @Test func sendsAKeyAsABearerTokenAndOmitsEmptyOptions() throws {
        let request = LLMRequest(messages: [ChatMessage(role: .user, parts: [.text("hi")])], options: GenerationOptions(model: "m"))
        let wire = try codec.makeRequest(request, endpoint: ProviderEndpoint(baseURL: "https://ollama.com", apiKey: "K"))
        #expect(wire.headers["authorization"] == "Bearer K")
        #expect(try json(wire.body) == json(Array(#"{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#.utf8)))
    }

    // Lines follow the /api/chat examples in Ollama's API reference.
    static let textStream = """
        {"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":"The"},"done":false}
        {"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":" sky"},"done":false}
        {"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}

        """

    @Test func decodesTextAndTheFinalLineWithUsage() {
        #expect(decode(Self.textStream) == [.textDelta("The"), .textDelta(" sky"),
                                            .usage(TokenUsage(inputTokens: 26, outputTokens: 282)), .finished(.end)])
    }

    @Test func decodesCompleteToolCallsAndStopsForToolUse() {
        let stream = """
            {"model":"qwen3","created_at":"2025-05-27T22:54:57.641643Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_current_weather","arguments":{"format":"celsius","location":"Toronto"}}}]},"done":false}
            {"model":"qwen3","created_at":"2025-05-27T22:54:58.100509Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":122,"eval_count":33}

            """
        let arguments = #"{"format":"celsius","location":"Toronto"}"#
        #expect(decode(stream) == [
            .toolCallStarted(index: 0, id: "call_t_0", name: "get_current_weather"),
            .toolCallArgumentsDelta(index: 0, fragment: arguments),
            .toolCallFinished(index: 0, id: "call_t_0", name: "get_current_weather", argumentsJSON: arguments),
            .usage(TokenUsage(inputTokens: 122, outputTokens: 33)), .finished(.toolUse)])
    }

    @Test func mapsTheLengthDoneReason() {
        let stream = #"{"message":{"role":"assistant","content":"a"},"done":true,"done_reason":"length","eval_count":1}"# + "\n"
        #expect(decode(stream) == [.textDelta("a"), .usage(TokenUsage(inputTokens: 0, outputTokens: 1)), .finished(.length)])
    }

    @Test func turnsAnErrorLineIntoAnErrorAndIgnoresTheRest() {
        let stream = #"{"message":{"role":"assistant","content":"a"},"done":false}"# + "\n"
            + #"{"error":"an error was encountered while running the model"}"# + "\n" + Self.textStream
        #expect(decode(stream) == [.textDelta("a"), .error(.server(status: 500, message: "an error was encountered while running the model"))])
    }

    @Test func reportsAStreamThatEndsBeforeDoneAsANetworkError() {
        let cut = Self.textStream.split(separator: "\n").prefix(2).joined(separator: "\n") + "\n"
        #expect(decode(cut) == [.textDelta("The"), .textDelta(" sky"),
                                .error(.network("the Ollama stream ended before its final (done) line"))])
    }

    @Test func decodesIdenticallyHoweverTheBytesAreSplit() {
        let whole = decode(Self.textStream)
        var random = SplitMix64(state: 11)
        for _ in 0..<50 {
            var decoder = codec.makeDecoder()
            var splitter = LineSplitter()
            var bytes = Array(Self.textStream.utf8)[...]
            var events: [LLMStreamEvent] = []
            while !bytes.isEmpty {
                let take = Int.random(in: 1...min(bytes.count, 30), using: &random)
                events += splitter.feed(Array(bytes.prefix(take))).flatMap { decoder.decode($0) }
                bytes = bytes.dropFirst(take)
            }
            #expect(events + decoder.finish() == whole)
        }
    }

    @Test func mapsHTTPErrors() {
        func map(_ status: Int, _ body: String, _ headers: [String: String] = [:]) -> LLMError {
            codec.error(status: status, headers: headers, body: Array(body.utf8))
        }
        #expect(map(404, #"{"error":"model \"nope\" not found, try pulling it first"}"#) == .badRequest(#"model "nope" not found, try pulling it first"#))
        #expect(map(401, #"{"error":"unauthorized"}"#) == .authentication("unauthorized"))
        #expect(map(429, #"{"error":"too many requests"}"#, ["retry-after": "3"]) == .rateLimited(retryAfter: .seconds(3), message: "too many requests"))
        #expect(map(503, #"{"error":"server busy"}"#) == .overloaded("server busy"))
        #expect(map(500, "oops") == .server(status: 500, message: "oops"))
    }

    @Test func decodesTheStreamOfTheFakeOllamaPeer() throws {
        // The fake serves real HTTP; curl fetches the raw NDJSON body so the codec sees its exact bytes.
        // SIGKILL because the test runner's blocked signal mask is inherited: SIGTERM never lands.
        let script = Peers.script("fake_ollama.py")
        let shell = """
            py=$(python3 -c 'import sys; print(sys.executable)'); "$py" '\(script)' > "$T/port" 2>/dev/null & pid=$!; while [ ! -s "$T/port" ]; do sleep 0.05; done
            curl -s -H 'X-Fake-Scenario: tools' "http://127.0.0.1:$(head -1 "$T/port")/api/chat" -d '{"model":"m","messages":[]}'
            kill -9 $pid
            """
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let result = try Peers.run("sh", ["-c", "T='\(directory.path)'; " + shell], timeout: 20)
        let arguments = #"{"city":"Toronto"}"#
        #expect(decode(result.stdout) == [
            .toolCallStarted(index: 0, id: "call_t_0", name: "get_weather"),
            .toolCallArgumentsDelta(index: 0, fragment: arguments),
            .toolCallFinished(index: 0, id: "call_t_0", name: "get_weather", argumentsJSON: arguments),
            .usage(TokenUsage(inputTokens: 26, outputTokens: 3)), .finished(.toolUse)])
    }

    /// As `ProviderCall` does: lines framed by `NDJSONParser`, each decoded from its bytes (so the
    /// decoder's direct reading is exercised; the split test below goes through `decode(_:)`).
    private func decode(_ stream: String) -> [LLMStreamEvent] {
        var decoder = codec.makeDecoder()
        var parser = NDJSONParser()
        var events: [LLMStreamEvent] = []
        Array(stream.utf8).withUnsafeBytes { bytes in
            do throws(StreamParserError) {
                try parser.feed(bytes) { line in decoder.decode(event: nil, data: line) { events.append($0) } }
            } catch {
                Issue.record("the NDJSON parser refused the stream: \(error)")
            }
        }
        parser.finish { line in decoder.decode(event: nil, data: line) { events.append($0) } }
        return events + decoder.finish()
    }
}

private func json(_ bytes: [UInt8]) throws -> NSObject {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? NSObject)
}

/// Splits bytes into NDJSON lines, holding back a partial last line.
private struct LineSplitter {
    private var pending: [UInt8] = []

    mutating func feed(_ bytes: [UInt8]) -> [StreamChunk] {
        pending += bytes
        var chunks: [StreamChunk] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            chunks.append(StreamChunk(data: String(decoding: pending[..<newline], as: UTF8.self)))
            pending.removeSubrange(...newline)
        }
        return chunks
    }
}
