import Testing
@testable import LLM

/// `AnthropicTextChunk` reads text deltas without a JSON tree; these check which events it takes,
/// and that the decoder means the same thing by every event with the direct reading on and off.
@Suite struct AnthropicTextChunkTests {
    static func delta(_ text: String) -> String {
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""# + text + #""}}"#
    }

    /// Events the direct reading takes, with the text it must find.
    static let taken: [(String, String)] = [
        (delta("Hello"), "Hello"),
        (delta(""), ""),
        (delta(" wörld 👋"), " wörld 👋"),
        (#"{"delta":{"text":"x","type":"text_delta"},"index":12,"type":"content_block_delta"}"#, "x"),
        (#"  { "type" : "content_block_delta" , "index" : 1 , "delta" : { "type" : "text_delta" , "text" : "spaced" } }  "#, "spaced"),
        (#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"no index"}}"#, "no index"),
    ]

    /// Events it must leave to the general path: anything with more meaning, or not the plain shape.
    static let leftToTheGeneralPath: [String] = [
        delta(#"line\nbreak"#),                                                    // an escape
        delta(#"quote \"x\""#),
        delta(#"\u00e9"#),
        #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","text":"b"}}"#,  // a repeated key
        #"{"type":"content_block_delta","type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"text":"a"}}"#,            // no delta type
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta"}}"#,   // no text
        #"{"type":"content_block_delta","index":0}"#,                                 // no delta
        #"{"index":0,"delta":{"type":"text_delta","text":"a"}}"#,                     // no type: the SSE event decides
        #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hi"}}"#,
        #"{"type":"message_stop"}"#,
        #"{"type":"ping"}"#,
        #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        #"{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"a"}}"#,
        #"{"type":"content_block_delta","index":0.5,"delta":{"type":"text_delta","text":"a"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"usage":{}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","citations":[]}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}} trailing"#,
        #"{"type":"content_block_deltb","index":0,"delta":{"type":"text_delta","text":"a"}}"#,  // as long, not it
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_deltb","text":"a"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a""#,   // cut short
        "",
        "{}",
        "[1]",
    ]

    @Test func takesPlainTextDeltasAndFindsTheirText() {
        for (event, text) in Self.taken {
            #expect(read(event, with: AnthropicTextChunk.text) == text, "\(event)")
        }
    }

    @Test func leavesEveryOtherEventToTheGeneralPath() {
        for event in Self.leftToTheGeneralPath {
            #expect(read(event, with: AnthropicTextChunk.text) == nil, "\(event)")
        }
    }

    /// Every event above, and every prefix of each, with and without an SSE event type: the decoder's
    /// events are the same whether the direct reading is on (bytes, as the transport hands them) or off.
    @Test func theDecoderMeansTheSameWithAndWithoutTheDirectReading() {
        let events = withEveryPrefix(Self.taken.map(\.0) + Self.leftToTheGeneralPath)
        for data in events {
            for type in [nil, "content_block_delta", "ping"] as [String?] {
                var general = AnthropicStreamDecoder()
                general.readsTextChunksDirectly = false
                var direct = AnthropicStreamDecoder()
                let expected = general.decode(StreamChunk(event: type, data: data))
                #expect(decodeFromBytes(&direct, event: type, data) == expected, "\(String(describing: type)) \(data)")
                #expect(direct.finish() == general.finish(), "\(data)")
            }
        }
    }

    /// After `message_stop` a stream is over: a text delta that follows is not read, by either path.
    @Test func nothingIsReadAfterMessageStop() {
        var decoder = AnthropicStreamDecoder()
        #expect(decodeFromBytes(&decoder, event: "content_block_delta", Self.delta("Hi")) == [.textDelta("Hi")])
        #expect(decodeFromBytes(&decoder, event: "message_stop", #"{"type":"message_stop"}"#) == [.finished(.end)])
        #expect(decodeFromBytes(&decoder, event: "content_block_delta", Self.delta("late")) == [])
        #expect(decoder.finish() == [])
    }

    /// A whole recorded stream, text and tool use, gives the same events through either path.
    @Test func aWholeStreamIsTheSameThroughEitherPath() {
        for stream in [AnthropicCodecTests.textStream, AnthropicCodecTests.toolStream] {
            let generalPath = SSETestSplitter.decodeEverySplit(stream) {
                var decoder = AnthropicStreamDecoder()
                decoder.readsTextChunksDirectly = false
                return decoder
            }
            #expect(SSETestSplitter.decodeEverySplit(stream) { AnthropicStreamDecoder() } == generalPath)
            #expect(generalPath.contains { if case .textDelta = $0 { true } else { false } })
        }
    }
}
