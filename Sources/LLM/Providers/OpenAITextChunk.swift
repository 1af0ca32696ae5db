/// Reads the common Chat Completions chunk, a text delta and nothing else to act on, straight from
/// its bytes, without building a JSON tree: at 50,000 chunks/s the tree's dictionaries, strings and
/// reference counting were a large part of the relay's own cost (docs/performance.md, issue 4).
///
/// It accepts only this shape, keys in any order:
///
///     {"id":"…","object":"…","created":123,"model":"…","system_fingerprint":"…"|null,
///      "service_tier":"…"|null,"obfuscation":"…","usage":null,
///      "choices":[{"index":0,"delta":{"role":"…","content":"…"|null},"logprobs":null,"finish_reason":null}]}
///
/// and gives up (nil) on anything else: an error, usage, tool calls, a refusal, a finish reason, any
/// backslash or control character, another key, another type, a repeated key. The general decoder then
/// reads the chunk, so both paths always agree on what a chunk means (OpenAITextChunkTests).
enum OpenAITextChunk {
    /// The delta's text ("" when it has none), or nil when the chunk is not of the accepted shape.
    /// JSON whitespace around the object is allowed.
    static func text(_ data: UnsafeRawBufferPointer) -> String? {
        var reader = PlainJSONReader(data)
        return reader.openAIChunk()
    }

    fileprivate enum Key: Int, PlainJSONKey {
        case id, object, created, model, usage, choices, obfuscation, systemFingerprint, serviceTier
        case index, delta, logprobs, finishReason
        case role, content

        static let names: [(StaticString, Key)] = [
            ("id", .id), ("object", .object), ("created", .created), ("model", .model), ("usage", .usage),
            ("choices", .choices), ("obfuscation", .obfuscation), ("system_fingerprint", .systemFingerprint),
            ("service_tier", .serviceTier), ("index", .index), ("delta", .delta), ("logprobs", .logprobs),
            ("finish_reason", .finishReason), ("role", .role), ("content", .content),
        ]
    }
}

private extension PlainJSONReader {
    typealias Key = OpenAITextChunk.Key

    mutating func openAIChunk() -> String? {
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .id, .object, .model, .obfuscation: return reader.skipString()
            case .systemFingerprint, .serviceTier: return reader.null() || reader.skipString()
            case .created: return reader.digits()
            case .usage: return reader.null()
            case .choices:
                text = reader.choices()
                return text != nil
            default: return false
            }
        }), atEnd(), seen.contains(.choices) else { return nil }
        return text
    }

    /// `[{…}]`, exactly one choice: index 0, a delta, no logprobs, no finish reason.
    mutating func choices() -> String? {
        guard consume(UInt8(ascii: "[")) else { return nil }
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .index: return reader.literal("0")
            case .logprobs, .finishReason: return reader.null()
            case .delta:
                text = reader.delta()
                return text != nil
            default: return false
            }
        }), seen.contains(.delta), consume(UInt8(ascii: "]")) else { return nil }
        return text
    }

    /// `{"role":…,"content":…}`, both optional; content a string or null.
    mutating func delta() -> String? {
        var text = ""
        guard object({ (reader, key: Key) in
            switch key {
            case .role: return reader.skipString()
            case .content:
                if reader.null() { return true }
                guard let value = reader.string() else { return false }
                text = value
                return true
            default: return false
            }
        }) != nil else { return nil }
        return text
    }
}
