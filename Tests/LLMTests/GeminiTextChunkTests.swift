import Testing
@testable import LLM

/// `GeminiTextChunk` reads text chunks without Foundation's JSON parser; these check which chunks it
/// takes, and that the decoder means the same thing by every chunk (its usage included) with the
/// direct reading on and off.
@Suite struct GeminiTextChunkTests {
    static let usage = #""usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 12,"totalTokenCount": 21,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 9}]}"#

    static func chunk(_ text: String, usage: String = usage) -> String {
        #"{"candidates": [{"content": {"parts": [{"text": ""# + text + #""}],"role": "model"},"index": 0}],"# + usage
            + #","modelVersion": "gemini-2.5-flash","responseId": "mHXfaNrqL8CJ1dkP0YmC6Qw"}"#
    }

    /// Chunks the direct reading takes, with the text and usage it must find.
    static let taken: [(String, String, TokenUsage?)] = [
        (chunk("Hello"), "Hello", TokenUsage(inputTokens: 9, outputTokens: 12)),
        (chunk(""), "", TokenUsage(inputTokens: 9, outputTokens: 12)),
        (chunk(" wörld 👋"), " wörld 👋", TokenUsage(inputTokens: 9, outputTokens: 12)),
        (#"{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}"#, "x", nil),
        (chunk("t", usage: #""usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"thoughtsTokenCount":40,"totalTokenCount":48,"cachedContentTokenCount":2,"cacheTokensDetails":[],"candidatesTokensDetails":[{"modality":"TEXT","tokenCount":3}]}"#),
         "t", TokenUsage(inputTokens: 5, outputTokens: 43)),
        (chunk("u", usage: #""usageMetadata":{}"#), "u", TokenUsage(inputTokens: 0, outputTokens: 0)),
        (#"{"createTime":"2025-10-03T08:52:19Z","candidates":[{"index":0,"content":{"role":"model","parts":[{"text":"y"}]}}]}"#, "y", nil),
    ]

    /// Chunks it must leave to the general path: anything with more meaning, or not the plain shape.
    static let leftToTheGeneralPath: [String] = [
        chunk(#"line\nbreak"#),                                                          // an escape
        chunk(#"\u00e9"#),
        #"{"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"},"finishReason":"STOP","index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}],"role":"model"},"index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a","thoughtSignature":"c2ln"}],"role":"model"},"index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true}],"role":"model"},"index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"},{"text":"b"}],"role":"model"},"index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[],"role":"model"},"index":0}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a","text":"b"}]}}]}"#,          // a repeated key
        #"{"candidates":[{"content":{"role":"model"},"index":0}]}"#,                    // no parts
        #"{"candidates":[{"index":0}]}"#,                                               // no content
        #"{"candidates":[]}"#,
        #"{"usageMetadata":{"promptTokenCount":1}}"#,                                   // no candidates
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]},"index":1}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":1.5}}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":-1}}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":1234567890123456789}}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"trafficType":"ON_DEMAND"}}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"promptFeedback":{"blockReason":"SAFETY"}}"#,
        #"{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}"#,
        #"{"candidates":[{"content":{"parts":[{"text":5}]}}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]} trailing"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]"#,                      // cut short
        "",
        "{}",
        "[1]",
    ]

    @Test func takesPlainTextChunksAndFindsTheirTextAndUsage() {
        for (chunk, text, usage) in Self.taken {
            let reading = read(chunk, with: GeminiTextChunk.read)
            #expect(reading == GeminiTextChunk.Reading(text: text, usage: usage), "\(chunk)")
        }
    }

    @Test func leavesEveryOtherChunkToTheGeneralPath() {
        for chunk in Self.leftToTheGeneralPath {
            #expect(read(chunk, with: GeminiTextChunk.read) == nil, "\(chunk)")
        }
    }

    /// Every chunk above, and every prefix of each, each after a chunk that set a finish reason (so
    /// `finish()` reports the usage too): the decoder's events are the same whether the direct
    /// reading is on (bytes, as the transport hands them) or off.
    @Test func theDecoderMeansTheSameWithAndWithoutTheDirectReading() {
        let chunks = withEveryPrefix(Self.taken.map(\.0) + Self.leftToTheGeneralPath)
        let stop = #"{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}]}"#
        for chunk in chunks {
            var general = GeminiStreamDecoder(callIDPrefix: "t")
            general.readsTextChunksDirectly = false
            var direct = GeminiStreamDecoder(callIDPrefix: "t")
            let expected = general.decode(StreamChunk(data: stop)) + general.decode(StreamChunk(data: chunk))
            #expect(decodeFromBytes(&direct, stop) + decodeFromBytes(&direct, chunk) == expected, "\(chunk)")
            #expect(direct.finish() == general.finish(), "\(chunk)")
        }
    }
}
