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
