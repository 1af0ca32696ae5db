/// "provider/model", e.g. "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "ollama/llama3.1",
/// "offline/offline". The model part may itself contain slashes (OpenAI-compatible servers often
/// name models "org/model"), so only the first slash separates.
public struct ModelReference: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var provider: String
    public var model: String

    public init(provider: String, model: String) {
        self.provider = provider
        self.model = model
    }

    /// nil unless both parts are non-empty and the provider is a plain name.
    public init?(_ text: String) {
        let trimmed = text.trimmingWhitespace()
        guard let slash = trimmed.firstIndex(of: "/") else { return nil }
        let provider = String(trimmed[..<slash])
        let model = String(trimmed[trimmed.index(after: slash)...])
        guard !provider.isEmpty, !model.isEmpty,
              provider.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        self.init(provider: provider.lowercased(), model: model)
    }

    public var description: String { "\(provider)/\(model)" }

    /// Parses a fallback chain written "a/x -> b/y -> offline/offline" (or comma-separated).
    /// Throws `LLMError.badRequest` naming the first entry that is not a model reference.
    public static func chain(_ text: String) throws(LLMError) -> [ModelReference] {
        let parts = text.replacingArrows().split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        var chain: [ModelReference] = []
        for part in parts {
            guard let reference = ModelReference(part) else {
                throw .badRequest("'\(part)' is not a model reference; write provider/model, e.g. openai/gpt-4o-mini")
            }
            if !chain.contains(reference) { chain.append(reference) }
        }
        guard !chain.isEmpty else { throw .badRequest("the model chain is empty") }
        return chain
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view = view.dropFirst() }
        while let last = view.last, last.isWhitespace { view = view.dropLast() }
        return String(view)
    }

    fileprivate func replacingArrows() -> String {
        var out = ""
        var iterator = self.makeIterator()
        while let character = iterator.next() {
            if character == "-" {
                if let next = iterator.next() {
                    if next == ">" { out.append(",") } else { out.append(character); out.append(next) }
                } else {
                    out.append(character)
                }
            } else {
                out.append(character)
            }
        }
        return out
    }
}
