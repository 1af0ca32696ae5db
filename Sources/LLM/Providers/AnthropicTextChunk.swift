/// Reads Anthropic's common stream event, a text delta, straight from its bytes (the SSE data of a
/// `content_block_delta`), without building a JSON tree: through the general path it cost 1.4 µs
/// per chunk, three times an OpenAI chunk (`llm-decode`, docs/performance.md issue 4).
///
/// It accepts only this shape, keys in any order:
///
///     {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"…"}}
///
/// and gives up (nil) on anything else: another event or delta type (tool input, thinking,
/// signatures, citations), any backslash or control character, another key, a repeated key. The
/// general decoder then reads the event, so both paths agree on what it means
/// (AnthropicTextChunkTests).
enum AnthropicTextChunk {
    /// The delta's text, or nil when the event is not of the accepted shape.
    static func text(_ data: UnsafeRawBufferPointer) -> String? {
        var reader = PlainJSONReader(data)
        return reader.anthropicTextDelta()
    }

    fileprivate enum Key: Int, PlainJSONKey {
        case type, index, delta, text

        static let names: [(StaticString, Key)] = [("type", .type), ("index", .index), ("delta", .delta), ("text", .text)]
    }
}

private extension PlainJSONReader {
    typealias Key = AnthropicTextChunk.Key

    mutating func anthropicTextDelta() -> String? {
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .type: return reader.exactString("content_block_delta")
            case .index: return reader.digits()
            case .delta:
                text = reader.textDelta()
                return text != nil
            case .text: return false
            }
        }), atEnd(), seen.contains(.type), seen.contains(.delta) else { return nil }
        return text
    }

    /// `{"type":"text_delta","text":"…"}`, both required.
    mutating func textDelta() -> String? {
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .type: return reader.exactString("text_delta")
            case .text:
                text = reader.string()
                return text != nil
            case .index, .delta: return false
            }
        }), seen.contains(.type) else { return nil }
        return text
    }
}
