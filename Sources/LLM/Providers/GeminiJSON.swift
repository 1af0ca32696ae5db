import Foundation

/// JSON plumbing shared by the native codecs (Gemini, Ollama) and the offline provider: parsing
/// provider text into Foundation values and writing request bodies. Output uses sorted keys so
/// bodies and tool arguments are byte-for-byte deterministic, which the tests rely on.
enum NativeJSON {
    /// Any JSON value (object, array, string, number, literal), or nil if the text is not JSON.
    static func parse(_ text: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    static func parseObject(_ text: String) -> [String: Any]? {
        parse(text) as? [String: Any]
    }

    static func parseObject(_ bytes: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [])) as? [String: Any]
    }

    /// Compact JSON text with sorted keys; "null" for values Foundation cannot encode.
    static func text(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(
            withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    static func bytes(_ object: [String: Any]) -> [UInt8] {
        Array(text(object).utf8)
    }

    /// Integers arrive as Int, Double or NSNumber depending on the platform's Foundation.
    static func int(_ value: Any?) -> Int? {
        switch value {
        case let int as Int: int
        case let double as Double: Int(exactly: double.rounded())
        case let number as NSNumber: number.intValue
        default: nil
        }
    }

    static func trimmingSlashes(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// A tool result's JSON content as a readable string: a JSON string is unwrapped, anything
    /// else (objects, numbers, invalid JSON) is passed through as text.
    static func plainText(ofJSON json: String) -> String {
        (parse(json) as? String) ?? json
    }
}

/// The function name of every tool call in a conversation, by call id, so a tool result can name
/// its function (Ollama's `tool_name`, Gemini's `functionResponse.name`).
struct NativeToolCallNames {
    private var names: [String: String] = [:]

    init(_ messages: [ChatMessage]) {
        for message in messages {
            for case .toolCall(let id, let name, _, _) in message.parts { names[id] = name }
        }
    }

    subscript(id: String) -> String? { names[id] }
}

/// Eight random hex digits: one per stream keeps generated call ids unique within a conversation.
func nativeRandomCallIDPrefix() -> String {
    let hex = String(UInt32.random(in: .min ... .max), radix: 16)
    return String(repeating: "0", count: 8 - hex.count) + hex
}

/// `Retry-After` in seconds (the HTTP-date form is rare from these providers and ignored).
func nativeRetryAfter(_ headers: [String: String]) -> Duration? {
    guard let value = headers["retry-after"], let seconds = Double(value.trimmingWhitespace()), seconds >= 0 else { return nil }
    return .milliseconds(Int64((seconds * 1000).rounded()))
}

/// A tool's JSON Schema as Gemini gets it.
///
/// `FunctionDeclaration.parameters` takes only Gemini's OpenAPI 3.0 subset (`Schema`: no `$ref`,
/// `$defs`, `oneOf`, `additionalProperties`, `const`, …) and answers 400 to anything else, while
/// MCP tools publish arbitrary JSON Schema. The API's `parametersJsonSchema` (mutually exclusive
/// with `parameters`) takes JSON Schema, so the schema goes there nearly as is, and nothing of
/// its meaning is thrown away. Two things are changed, both without changing what the schema
/// accepts: `$schema` is dropped (it only names the dialect), and local references (`#/…`, e.g.
/// into `$defs`) are inlined, the definitions then dropped, because Gemini has been seen to refuse
/// a `$ref` with sibling keywords and references it failed to resolve. Only a recursive schema
/// loses something: a reference back into itself is expanded once, then cut to its `type`; so is
/// everything past a budget of expansions, so a schema cannot blow up the request.
enum GeminiToolSchema {
    /// True for an object schema that declares no arguments at all: the declaration then carries
    /// no schema, as the API documents for functions without parameters.
    static func takesNoArguments(_ schema: [String: Any]) -> Bool {
        if let properties = schema["properties"] as? [String: Any], !properties.isEmpty { return false }
        if let required = schema["required"] as? [Any], !required.isEmpty { return false }
        if let additional = schema["additionalProperties"], !(additional is Bool) { return false }
        let noMeaning: Set<String> = ["$schema", "$id", "$comment", "type", "title", "description", "properties", "required",
                                      "additionalProperties"]
        return (schema["type"] as? String ?? "object") == "object" && schema.keys.allSatisfy(noMeaning.contains)
    }

    static func prepared(_ schema: [String: Any]) -> [String: Any] {
        var inliner = Inliner(root: schema)
        return inliner.schema(schema) as? [String: Any] ?? schema
    }

    private struct Inliner {
        let root: [String: Any]
        var resolving: [String] = []
        var expansions = 0
        static let maxExpansions = 500

        /// Keywords whose value is a schema, or an array of them, or a map of them.
        static let single: Set<String> = ["items", "additionalItems", "additionalProperties", "unevaluatedItems",
                                          "unevaluatedProperties", "contains", "propertyNames", "not", "if", "then", "else"]
        static let list: Set<String> = ["allOf", "anyOf", "oneOf", "prefixItems"]
        static let map: Set<String> = ["properties", "patternProperties", "dependentSchemas"]

        mutating func schema(_ value: Any) -> Any {
            guard let object = value as? [String: Any] else { return value }
            if let reference = object["$ref"] as? String, reference.hasPrefix("#"),
               let target = pointer(reference) {
                let target = target as? [String: Any] ?? [:]
                if resolving.contains(reference) || expansions >= Self.maxExpansions {
                    var cut: [String: Any] = ["type": target["type"] ?? "object"]
                    if let description = object["description"] ?? target["description"] { cut["description"] = description }
                    return cut
                }
                expansions += 1
                resolving.append(reference)
                defer { resolving.removeLast() }
                // The referenced schema with the reference's own keywords on top.
                var merged = target
                for (key, sibling) in object where key != "$ref" { merged[key] = sibling }
                return schema(merged)
            }
            var out: [String: Any] = [:]
            for (key, sub) in object {
                switch key {
                case "$schema", "$defs", "definitions":
                    continue
                case _ where Self.single.contains(key):
                    // `items` may still be an array of schemas (drafts before 2020-12).
                    out[key] = (sub as? [Any]).map { $0.map { schema($0) } } ?? schema(sub)
                case _ where Self.list.contains(key):
                    out[key] = (sub as? [Any]).map { $0.map { schema($0) } } ?? sub
                case _ where Self.map.contains(key):
                    out[key] = (sub as? [String: Any]).map { $0.mapValues { schema($0) } } ?? sub
                default:
                    out[key] = sub   // annotations and data (`enum`, `const`, `default`, `examples`) as they are
                }
            }
            return out
        }

        /// A JSON Pointer in a URI fragment (`#/$defs/a~1b`), resolved against the whole schema.
        private func pointer(_ reference: String) -> Any? {
            guard let fragment = reference.dropFirst().removingPercentEncoding else { return nil }
            if fragment.isEmpty { return root }
            guard fragment.hasPrefix("/") else { return nil }   // a named anchor: not supported
            var node: Any = root
            for token in fragment.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
                let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                if let object = node as? [String: Any], let next = object[key] {
                    node = next
                } else if let array = node as? [Any], let index = Int(key), array.indices.contains(index) {
                    node = array[index]
                } else {
                    return nil
                }
            }
            return node
        }
    }
}
