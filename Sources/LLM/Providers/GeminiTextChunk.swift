/// Reads Gemini's common stream chunk, one text part with the running usage, straight from its
/// bytes, without Foundation's JSON parser, which cost ~8.5 µs per chunk (`llm-decode`,
/// docs/performance.md issue 4): at 50,000 chunks/s that alone would be 40% of a core.
///
/// It accepts only this shape, keys in any order:
///
///     {"candidates":[{"content":{"parts":[{"text":"…"}],"role":"…"},"index":0}],
///      "usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":12,"totalTokenCount":21,
///        "thoughtsTokenCount":0,"cachedContentTokenCount":0,
///        "promptTokensDetails":[{"modality":"TEXT","tokenCount":9}],"candidatesTokensDetails":[…],
///        "cacheTokensDetails":[…]},
///      "modelVersion":"…","responseId":"…","createTime":"…"}
///
/// (usage, its counts and everything but `candidates` optional) and gives up (nil) on anything
/// else: a finish reason, a function call, a thought or its signature, several parts or
/// candidates, prompt feedback, an error, any backslash or control character, another key, a
/// repeated key. The general decoder then reads the chunk, so both paths agree on what it means
/// (GeminiTextChunkTests).
enum GeminiTextChunk {
    struct Reading: Equatable {
        var text: String
        /// As the general path computes it: prompt tokens in, candidate plus thought tokens out.
        var usage: TokenUsage?
    }

    static func read(_ data: UnsafeRawBufferPointer) -> Reading? {
        var reader = PlainJSONReader(data)
        return reader.geminiChunk()
    }

    fileprivate enum Key: Int, PlainJSONKey {
        case candidates, usageMetadata, modelVersion, responseId, createTime
        case content, index, parts, role, text
        case promptTokenCount, candidatesTokenCount, totalTokenCount, thoughtsTokenCount, cachedContentTokenCount
        case promptTokensDetails, candidatesTokensDetails, cacheTokensDetails, modality, tokenCount

        static let names: [(StaticString, Key)] = [
            ("candidates", .candidates), ("usageMetadata", .usageMetadata), ("modelVersion", .modelVersion),
            ("responseId", .responseId), ("createTime", .createTime), ("content", .content), ("index", .index),
            ("parts", .parts), ("role", .role), ("text", .text), ("promptTokenCount", .promptTokenCount),
            ("candidatesTokenCount", .candidatesTokenCount), ("totalTokenCount", .totalTokenCount),
            ("thoughtsTokenCount", .thoughtsTokenCount), ("cachedContentTokenCount", .cachedContentTokenCount),
            ("promptTokensDetails", .promptTokensDetails), ("candidatesTokensDetails", .candidatesTokensDetails),
            ("cacheTokensDetails", .cacheTokensDetails), ("modality", .modality), ("tokenCount", .tokenCount),
        ]
    }
}

private extension PlainJSONReader {
    typealias Key = GeminiTextChunk.Key

    mutating func geminiChunk() -> GeminiTextChunk.Reading? {
        var text: String?
        var usage: TokenUsage?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .modelVersion, .responseId, .createTime: return reader.skipString()
            case .candidates:
                text = reader.oneCandidate()
                return text != nil
            case .usageMetadata:
                usage = reader.usageMetadata()
                return usage != nil
            default: return false
            }
        }), atEnd(), seen.contains(.candidates), let text else { return nil }
        return GeminiTextChunk.Reading(text: text, usage: usage)
    }

    /// `[{"content":{"parts":[{"text":"…"}],"role":"…"},"index":0}]`: one candidate, one text part.
    mutating func oneCandidate() -> String? {
        guard consume(UInt8(ascii: "[")) else { return nil }
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .index: return reader.literal("0")
            case .content:
                text = reader.candidateContent()
                return text != nil
            default: return false
            }
        }), seen.contains(.content), consume(UInt8(ascii: "]")) else { return nil }
        return text
    }

    mutating func candidateContent() -> String? {
        var text: String?
        guard let seen = object({ (reader, key: Key) in
            switch key {
            case .role: return reader.skipString()
            case .parts:
                guard reader.consume(UInt8(ascii: "[")) else { return false }
                guard let part = reader.object({ (reader, key: Key) in
                    guard key == .text, let value = reader.string() else { return false }
                    text = value
                    return true
                }), part.contains(.text) else { return false }
                return reader.consume(UInt8(ascii: "]"))
            default: return false
            }
        }), seen.contains(.parts) else { return nil }
        return text
    }

    mutating func usageMetadata() -> TokenUsage? {
        var prompt = 0
        var candidates = 0
        var thoughts = 0
        guard object({ (reader, key: Key) in
            switch key {
            case .promptTokenCount: return reader.count(into: &prompt)
            case .candidatesTokenCount: return reader.count(into: &candidates)
            case .thoughtsTokenCount: return reader.count(into: &thoughts)
            case .totalTokenCount, .cachedContentTokenCount: return reader.integer() != nil
            case .promptTokensDetails, .candidatesTokensDetails, .cacheTokensDetails: return reader.modalityCounts()
            default: return false
            }
        }) != nil else { return nil }
        return TokenUsage(inputTokens: prompt, outputTokens: candidates + thoughts)
    }

    mutating func count(into value: inout Int) -> Bool {
        guard let count = integer() else { return false }
        value = count
        return true
    }

    /// `[{"modality":"TEXT","tokenCount":9},…]`, possibly empty: checked, not kept.
    mutating func modalityCounts() -> Bool {
        guard consume(UInt8(ascii: "[")) else { return false }
        if consume(UInt8(ascii: "]")) { return true }
        repeat {
            guard object({ (reader, key: Key) in
                switch key {
                case .modality: return reader.skipString()
                case .tokenCount: return reader.integer() != nil
                default: return false
                }
            }) != nil else { return false }
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "]"))
    }
}
