import Net

/// Keeps one tool result from flooding the LLM's context and our memory: content beyond the
/// server's `maxResultBytes` is cut, and a text block says what was cut and why.
enum MCPResultLimit {
    static func apply(_ result: MCPToolResult, maxBytes: Int) -> MCPToolResult {
        let total = result.json.serialized().count
        guard total > maxBytes else { return result }
        var budget = maxBytes
        var content: [JSONValue] = []
        for block in result.content {
            guard budget > 0 else { break }
            if block["type"]?.stringValue == "text", let text = block["text"]?.stringValue {
                let bytes = Array(text.utf8)
                if bytes.count <= budget {
                    content.append(block)
                    budget -= bytes.count
                } else {
                    var cut = budget
                    // Cut on a character boundary: never split a UTF-8 sequence.
                    while cut > 0, cut < bytes.count, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
                    var trimmed = block
                    if case .object(var members) = block {
                        members["text"] = .string(String(decoding: bytes[0..<cut], as: UTF8.self))
                        trimmed = .object(members)
                    }
                    content.append(trimmed)
                    budget = 0
                }
            } else {
                let size = block.serialized().count
                guard size <= budget else { budget = 0; break }
                content.append(block)
                budget -= size
            }
        }
        var structured = result.structuredContent
        if let value = structured, value.serialized().count > budget { structured = nil }
        content.append(.object(["type": .string("text"),
                                 "text": .string("[truncated by BuilderAI: the tool returned \(total) bytes; the limit is \(maxBytes)]")]))
        var limited = MCPToolResult(content: content, structuredContent: structured, isError: result.isError)
        limited.truncated = true
        return limited
    }
}
