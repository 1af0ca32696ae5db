/// Reads Ollama's common stream line, a text delta that is not the last, straight from its bytes,
/// without Foundation's JSON parser, which cost ~3.6 µs per line (`llm-decode`, docs/performance.md
/// issue 4): a local model at 100 tokens/s on a thousand streams would spend a third of a core there.
///
/// It accepts only this shape, keys in any order:
///
///     {"model":"…","created_at":"…","message":{"role":"…","content":"…"},"done":false}
///
/// and gives up (nil) on anything else: the final line (`done: true`, with counts), tool calls,
/// thinking, images, an error, any backslash or control character, another key, a repeated key.
/// The general decoder then reads the line, so both paths agree on what it means
/// (OllamaTextChunkTests).
enum OllamaTextChunk {
    /// The message's text, or nil when the line is not of the accepted shape.
    static func text(_ line: UnsafeRawBufferPointer) -> String? {
        var reader = PlainJSONReader(line)
        return reader.ollamaLine()
    }

    fileprivate enum Key: Int, PlainJSONKey {
        case model, createdAt, message, done, role, content

        static let names: [(StaticString, Key)] = [
            ("model", .model), ("created_at", .createdAt), ("message", .message), ("done", .done),
            ("role", .role), ("content", .content),
        ]
    }
}

private extension PlainJSONReader {
    typealias Key = OllamaTextChunk.Key

    mutating func ollamaLine() -> String? {
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .model, .createdAt: return reader.skipString()
            case .done: return reader.literal("false")
            case .message:
                text = reader.message()
                return text != nil
            case .role, .content: return false
            }
        }), atEnd(), seen.contains(.message), seen.contains(.done) else { return nil }
        return text
    }

    /// `{"role":"…","content":"…"}`, content required.
    mutating func message() -> String? {
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .role: return reader.skipString()
            case .content:
                text = reader.string()
                return text != nil
            default: return false
            }
        }), seen.contains(.content) else { return nil }
        return text
    }
}
