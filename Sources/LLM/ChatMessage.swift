/// Who said a message in a provider-neutral conversation (issue 4 builds the adapters on this).
public enum ChatRole: String, Sendable, Codable {
    case system, user, assistant, tool
}

/// One part of a message's content.
public enum ContentPart: Sendable, Equatable {
    case text(String)
    /// `signature` is an opaque value the provider attached to the call (Gemini's
    /// `thoughtSignature`), kept so the call can be sent back to that provider exactly as received;
    /// nil when there was none. Providers without such a notion ignore it.
    case toolCall(id: String, name: String, argumentsJSON: String, signature: String? = nil)
    case toolResult(callID: String, contentJSON: String, isError: Bool)
}

/// A message in provider-neutral form.
public struct ChatMessage: Sendable, Equatable {
    public var role: ChatRole
    public var parts: [ContentPart]

    public init(role: ChatRole, parts: [ContentPart]) {
        self.role = role
        self.parts = parts
    }
}
