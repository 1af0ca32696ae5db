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
///   array by the codec's general path, `decode(_:)` (a JSON tree or Foundation's parser).
///
/// The shapes: the chunk `llm-stream`'s fake sends (a timestamp as text, too long for a small
/// String), then each provider's text chunk as it sends it, with a one-token text (Ollama's are
/// NDJSON lines, framed by `NDJSONParser`).
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
        let shapes: [Shape] = [
            Shape(name: "llm-stream's chunk", provider: .openAI, event: "data: " + #"{"choices":[{"index":0,"delta":{"content":"t=12345678901234567"},"finish_reason":null}]}"#),
            Shape(name: "OpenAI's chunk, one token", provider: .openAI, event: "data: " + #"{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_a1102cf978","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}],"usage":null}"#),
            Shape(name: "Anthropic's text delta, one token", provider: .anthropic, event: "event: content_block_delta\ndata: " + #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the"}}"#),
            Shape(name: "Gemini's chunk, one token", provider: .gemini, event: "data: " + #"{"candidates": [{"content": {"parts": [{"text": " the"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 12,"totalTokenCount": 21,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 9}]},"modelVersion": "gemini-2.5-flash","responseId": "mHXfaNrqL8CJ1dkP0YmC6Qw"}"#),
            Shape(name: "Ollama's line, one token", provider: .ollama, event: #"{"model":"llama3.2","created_at":"2025-10-03T08:52:19.385406455Z","message":{"role":"assistant","content":" the"},"done":false}"#),
        ]
        print("| chunk | path | ns per chunk | text bytes per chunk |")
        print("|---|---|---|---|")
        for shape in shapes {
            let codec = shape.provider.codec()
            let frame = Array((codec.framing == .serverSentEvents ? "\(shape.event)\n\n" : "\(shape.event)\n").utf8)
            for path in ["borrowed", "owned"] {
                var best = UInt64.max
                var textBytes = 0
                for _ in 0..<3 {
                    let (nanoseconds, bytes) = measure(codec, frame: frame, chunks: chunks, borrowed: path == "borrowed")
                    best = min(best, nanoseconds)
                    textBytes = bytes
                }
                let perChunk = Double(best) / Double(chunks)
                print("| \(shape.name) | \(path) | \(format2(perChunk)) | \(textBytes / chunks) |")
            }
        }
        exit(0)
    }

    /// One provider's event, SSE fields or an NDJSON line, without the blank line that ends it.
    private struct Shape {
        let name: String
        let provider: Provider
        let event: String
    }

    private enum Provider {
        case openAI, anthropic, gemini, ollama

        /// Made here rather than written into `Shape` as `any ProviderCodec`: in a release build of
        /// that form, Swift 6.3.1 left the existentials' payloads of the array literal uninitialized
        /// (the disassembly stores each codec's type and witness table but never its fields), and
        /// copying the GeminiCodec element crashed. See docs/architecture.md.
        @inline(never)
        func codec() -> any ProviderCodec {
            switch self {
            case .openAI: OpenAICodec()
            case .anthropic: AnthropicCodec()
            case .gemini: GeminiCodec()
            case .ollama: OllamaCodec()
            }
        }
    }

    /// Thread CPU for `chunks` frames, and the text bytes decoded (so the work cannot be skipped and
    /// a path that lost text would show).
    private static func measure(_ codec: any ProviderCodec, frame: [UInt8], chunks: Int, borrowed: Bool) -> (UInt64, Int) {
        var parser = SSEParser()
        var lines = NDJSONParser()
        let isSSE = codec.framing == .serverSentEvents
        var decoder = codec.makeDecoder()
        var textBytes = 0
        let sink: (LLMStreamEvent) -> Void = { event in
            if case .textDelta(let text) = event { textBytes += text.utf8.count }
        }
        let start = threadCPUNanoseconds()
        frame.withUnsafeBytes { bytes in
            for _ in 0..<chunks {
                if !isSSE {
                    try? lines.feed(bytes) { line in
                        if borrowed {
                            decoder.decode(event: nil, data: line, sink)
                        } else {
                            for decoded in decoder.decode(StreamChunk(data: String(decoding: line, as: UTF8.self))) { sink(decoded) }
                        }
                    }
                } else if borrowed {
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
