import Testing
@testable import LLM

/// `OllamaTextChunk` reads text lines without Foundation's JSON parser; these check which lines it
/// takes, and that the decoder means the same thing by every line with the direct reading on and off.
@Suite struct OllamaTextChunkTests {
    static func line(_ content: String) -> String {
        #"{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":""# + content + #""},"done":false}"#
    }

    /// Lines the direct reading takes, with the text it must find.
    static let taken: [(String, String)] = [
        (line("The"), "The"),
        (line(""), ""),
        (line(" wörld 👋"), " wörld 👋"),
        (#"{"done":false,"message":{"content":"x","role":"assistant"},"created_at":"t","model":"m"}"#, "x"),
        (#"  { "message" : { "content" : "spaced" } , "done" : false }  "#, "spaced"),
    ]

    /// Lines it must leave to the general path: anything with more meaning, or not the plain shape.
    static let leftToTheGeneralPath: [String] = [
        line(#"line\nbreak"#),                                                          // an escape
        line(#"quote \"x\""#),
        line(#"\u00e9"#),
        #"{"model":"m","message":{"role":"assistant","content":"a"},"done":true,"done_reason":"stop","eval_count":3}"#,
        #"{"model":"m","message":{"role":"assistant","content":"a"},"done":true}"#,
        #"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":false}"#,
        #"{"model":"m","message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}"#,
        #"{"model":"m","message":{"role":"assistant","content":"a","images":null},"done":false}"#,
        #"{"model":"m","message":{"role":"assistant","content":"a","content":"b"},"done":false}"#,  // a repeated key
        #"{"model":"m","message":{"role":"assistant"},"done":false}"#,                 // no content
        #"{"model":"m","message":{"role":"assistant","content":null},"done":false}"#,
        #"{"model":"m","message":{"role":"assistant","content":5},"done":false}"#,
        #"{"model":"m","message":{"role":"assistant","content":"a"}}"#,                // no done
        #"{"model":"m","done":false}"#,                                                 // no message
        #"{"model":"m","message":{"role":"assistant","content":"a"},"done":0}"#,
        #"{"model":"m","message":{"role":"assistant","content":"a"},"done":falsey}"#,
        #"{"error":"an error was encountered while running the model"}"#,
        #"{"model":"m","message":{"role":"assistant","content":"a"},"done":false,"extra":1}"#,
        #"{"model":"m","message":{"role":"assistant","content":"a"},"done":false} trailing"#,
        #"{"model":"m","message":{"role":"assistant","content":"a"},"done":false"#,    // cut short
        "",
        "{}",
        "[1]",
    ]

    @Test func takesPlainTextLinesAndFindsTheirText() {
        for (line, text) in Self.taken {
            #expect(read(line, with: OllamaTextChunk.text) == text, "\(line)")
        }
    }

    @Test func leavesEveryOtherLineToTheGeneralPath() {
        for line in Self.leftToTheGeneralPath {
            #expect(read(line, with: OllamaTextChunk.text) == nil, "\(line)")
        }
    }

    /// Every line above, and every prefix of each: the decoder's events are the same whether the
    /// direct reading is on (bytes, as the transport hands them) or off.
    @Test func theDecoderMeansTheSameWithAndWithoutTheDirectReading() {
        let lines = withEveryPrefix(Self.taken.map(\.0) + Self.leftToTheGeneralPath)
        for line in lines {
            var general = OllamaStreamDecoder(callIDPrefix: "t")
            general.readsTextChunksDirectly = false
            var direct = OllamaStreamDecoder(callIDPrefix: "t")
            let expected = general.decode(StreamChunk(data: line))
            #expect(decodeFromBytes(&direct, line) == expected, "\(line)")
            #expect(direct.finish() == general.finish(), "\(line)")
        }
    }

    /// After the final line a stream is over: a text line that follows is not read, by either path.
    @Test func nothingIsReadAfterTheFinalLine() {
        var decoder = OllamaStreamDecoder(callIDPrefix: "t")
        #expect(decodeFromBytes(&decoder, Self.line("Hi")) == [.textDelta("Hi")])
        #expect(decodeFromBytes(&decoder, #"{"message":{"role":"assistant","content":""},"done":true}"#) == [.finished(.end)])
        #expect(decodeFromBytes(&decoder, Self.line("late")) == [])
        #expect(decoder.finish() == [])
    }
}
