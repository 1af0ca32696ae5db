import Testing
@testable import LLM

/// `OpenAITextChunk` reads plain text chunks without a JSON tree; these check which chunks it takes,
/// and that the decoder means the same thing by every chunk with the direct reading on and off.
@Suite struct OpenAITextChunkTests {
    static let prefix = #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":"#
    static let suffix = #","logprobs":null,"finish_reason":null}],"usage":null}"#

    static func chunk(delta: String) -> String { prefix + delta + suffix }

    /// Chunks the direct reading takes, with the text it must find.
    static let taken: [(String, String)] = [
        (chunk(delta: #"{"content":"Hello"}"#), "Hello"),
        (chunk(delta: #"{"role":"assistant","content":""}"#), ""),
        (chunk(delta: #"{"content":" wörld 👋"}"#), " wörld 👋"),
        (chunk(delta: #"{"content":null}"#), ""),
        (chunk(delta: "{}"), ""),
        (#"  { "choices" : [ { "delta" : { "content" : "spaced" } , "index" : 0 } ] }  "#, "spaced"),
        (#"{"choices":[{"index":0,"delta":{"content":"x"}}],"service_tier":"default","obfuscation":"abc","system_fingerprint":null}"#, "x"),
    ]

    /// Chunks it must leave to the general path: anything with more meaning, or not the plain shape.
    static let leftToTheGeneralPath: [String] = [
        chunk(delta: #"{"content":"line\nbreak"}"#),                      // an escape
        chunk(delta: #"{"content":"quote \"x\""}"#),
        chunk(delta: #"{"content":"\u00e9"}"#),
        chunk(delta: #"{"refusal":"I can't"}"#),
        chunk(delta: #"{"content":null,"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}"#),
        chunk(delta: #"{"content":"a","content":"b"}"#),                  // a repeated key
        chunk(delta: #"{"content":5}"#),
        prefix + #"{"content":"a"},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
        prefix + #"{"content":"a"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
        prefix + #"{"content":"a"},"logprobs":null,"finish_reason":null},{"index":1,"delta":{"content":"b"}}]}"#,
        #"{"choices":[{"index":1,"delta":{"content":"a"}}]}"#,
        #"{"choices":[{"index":01,"delta":{"content":"a"}}]}"#,
        #"{"choices":[{"index":0}]}"#,                                      // no delta
        #"{"choices":[]}"#,
        #"{"id":"x"}"#,                                                     // no choices
        #"{"error":{"message":"boom","type":"server_error"}}"#,
        #"{"choices":[{"index":0,"delta":{"content":"a"}}]} trailing"#,
        #"{"choices":[{"index":0,"delta":{"content":"a"}}],"created":1.5}"#,
        #"{"choices":[{"index":0,"delta":{"content":"a"}}],"extra":true}"#,
        #"{"choices":[{"index":0,"delta":{"content":"a"}}],"modal":"x"}"#,  // as long as "model", not it
        #"{"choices":[{"index":0,"delta":{"content":"a"}}],"":"x"}"#,
        #"{"choices":[{"index":0,"delta":{"content":"a"}}]"#,               // cut short
        #"{"choices":[{"index":0,"delta":{"content":"a"#,
        "",
        "[1]",
    ]

    @Test func takesPlainTextChunksAndFindsTheirText() {
        for (chunk, text) in Self.taken {
            #expect(read(chunk, with: OpenAITextChunk.text) == text, "\(chunk)")
        }
    }

    @Test func leavesEveryOtherChunkToTheGeneralPath() {
        for chunk in Self.leftToTheGeneralPath {
            #expect(read(chunk, with: OpenAITextChunk.text) == nil, "\(chunk)")
        }
    }

    /// After `[DONE]` a stream is over: a text chunk that follows is not read, by either path.
    @Test func nothingIsReadAfterTheStreamSaidDone() {
        var decoder = OpenAIStreamDecoder()
        let text = Self.chunk(delta: #"{"content":"Hi"}"#)
        let stop = Self.prefix + #"{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#
        #expect(decodeFromBytes(&decoder, text) == [.textDelta("Hi")])
        #expect(decodeFromBytes(&decoder, stop) == [])
        #expect(decodeFromBytes(&decoder, "[DONE]") == [.finished(.end)])
        #expect(decodeFromBytes(&decoder, text) == [])
        #expect(decoder.finish() == [])
    }

    /// Every chunk above, and every prefix of each (a cut chunk must never be taken as another one),
    /// decoded three ways (from a String with the direct reading off, from a String with it on, from
    /// bytes as the transport hands them): the decoder's events are the same whichever path read it.
    @Test func theDecoderMeansTheSameWithAndWithoutTheDirectReading() {
        let chunks = withEveryPrefix(Self.taken.map(\.0) + Self.leftToTheGeneralPath)
        for chunk in chunks {
            var general = OpenAIStreamDecoder()
            general.readsTextChunksDirectly = false
            var direct = OpenAIStreamDecoder()
            var fromBytes = OpenAIStreamDecoder()
            let event = StreamChunk(event: nil, data: chunk)
            let expected = general.decode(event)
            #expect(direct.decode(event) == expected, "\(chunk)")
            #expect(decodeFromBytes(&fromBytes, chunk) == expected, "\(chunk)")
            let end = general.finish()
            #expect(direct.finish() == end, "\(chunk)")
            #expect(fromBytes.finish() == end, "\(chunk)")
        }
    }
}
