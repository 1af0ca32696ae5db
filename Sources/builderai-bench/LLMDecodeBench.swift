import Glibc
import LLM
import Net

/// `llm-decode [--chunks 1000000]`: what the relay's own code costs per chunk, without the kernel
/// and libcurl, which in `llm-stream` move by ±10% from one run to the next and hide a change of a
/// few hundred nanoseconds. Feeds SSE-framed provider events, one write callback's worth at a time,
/// through the SSE parser and the provider's decoder on one thread and reports thread CPU per chunk:
///
/// - "borrowed": what `ProviderCall` does (`SSEParser.feedBorrowing`, then
///   `decode(event:data:_:)`): the data is read in place, events are handed over one by one;
/// - "owned": each event copied into a `ServerSentEvent` and decoded from a `StreamChunk` into an
///   array (the codecs' general path, and the transport's before session 7).
///
/// Three shapes: the chunk `llm-stream`'s fake sends (a timestamp as text, too long for a small
/// String), a whole chunk as OpenAI sends it with a one-token text, and Anthropic's text delta event.
/// Best of three runs.
enum LLMDecodeBench {
    static func runIfAsked() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard args.first == "llm-decode" else { return }
        var chunks = 1_000_000
        if args.count == 3, args[1] == "--chunks", let value = Int(args[2]), value > 0 {
            chunks = value
        } else if args.count != 1 {
            die("usage: llm-decode [--chunks N]")
        }
        let openAI = OpenAICodec()
        let shapes: [(String, any ProviderCodec, String)] = [
            ("llm-stream's chunk", openAI, "data: " + #"{"choices":[{"index":0,"delta":{"content":"t=12345678901234567"},"finish_reason":null}]}"#),
            ("OpenAI's chunk, one token", openAI, "data: " + #"{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_a1102cf978","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}],"usage":null}"#),
            ("Anthropic's text delta, one token", AnthropicCodec(), "event: content_block_delta\ndata: " + #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the"}}"#),
        ]
        print("| chunk | path | ns per chunk | text bytes per chunk |")
        print("|---|---|---|---|")
        for (name, codec, event) in shapes {
            let frame = Array("\(event)\n\n".utf8)
            for path in ["borrowed", "owned"] {
                var best = UInt64.max
                var textBytes = 0
                for _ in 0..<3 {
                    let (nanoseconds, bytes) = measure(codec, frame: frame, chunks: chunks, borrowed: path == "borrowed")
                    best = min(best, nanoseconds)
                    textBytes = bytes
                }
                let perChunk = Double(best) / Double(chunks)
                print("| \(name) | \(path) | \(format2(perChunk)) | \(textBytes / chunks) |")
            }
        }
        exit(0)
    }

    /// Thread CPU for `chunks` frames, and the text bytes decoded (so the work cannot be skipped and
    /// a path that lost text would show).
    private static func measure(_ codec: any ProviderCodec, frame: [UInt8], chunks: Int, borrowed: Bool) -> (UInt64, Int) {
        var parser = SSEParser()
        var decoder = codec.makeDecoder()
        var textBytes = 0
        let sink: (LLMStreamEvent) -> Void = { event in
            if case .textDelta(let text) = event { textBytes += text.utf8.count }
        }
        let start = threadCPUNanoseconds()
        frame.withUnsafeBytes { bytes in
            for _ in 0..<chunks {
                if borrowed {
                    try? parser.feedBorrowing(bytes) { event in decoder.decode(event: event.type, data: event.data, sink) }
                } else {
                    try? parser.feed(bytes) { event in
                        for decoded in decoder.decode(StreamChunk(event: event.event, data: event.data)) { sink(decoded) }
                    }
                }
            }
        }
        return (threadCPUNanoseconds() - start, textBytes)
    }
}
