import Glibc
import Net

/// Which providers exist and how to reach them, read from the usual environment variables.
///
/// | provider | key | base URL |
/// | --- | --- | --- |
/// | openai (and any OpenAI-compatible server) | OPENAI_API_KEY | OPENAI_BASE_URL, default https://api.openai.com/v1 |
/// | anthropic | ANTHROPIC_API_KEY | ANTHROPIC_BASE_URL, default https://api.anthropic.com/v1 |
/// | gemini | GEMINI_API_KEY | GEMINI_BASE_URL, default https://generativelanguage.googleapis.com/v1beta |
/// | ollama | none | OLLAMA_HOST, default http://127.0.0.1:11434 |
/// | offline | none | built in, no network |
///
/// A global fallback chain comes from BUILDERAI_MODEL_CHAIN. The default model is its first entry, else
/// BUILDERAI_DEFAULT_MODEL when set; otherwise the first provider with a key
/// (OpenAI, Anthropic, Gemini, in that order) with a sensible model; otherwise `offline/offline`,
/// so a fresh install answers without any key. Keys never appear in logs, errors or descriptions.
///
/// BUILDERAI_PROVIDER_CA_BUNDLE names a PEM file of CA certificates that https:// providers are
/// verified against instead of the system's (a gateway with a private CA, or a test peer); it is the
/// whole trust store, and must be readable when the registry is built. Verification itself cannot be
/// turned off.
public struct ProviderRegistry: Sendable {
    /// A provider reachable over HTTP.
    public struct Remote: Sendable {
        public var codec: any ProviderCodec
        public var endpoint: ProviderEndpoint
        /// Whether it can be called at all (a key where one is required).
        public var isConfigured: Bool
    }

    public private(set) var remotes: [String: Remote]
    public var defaultModel: ModelReference
    /// What a generation tries when the caller names no chain: BUILDERAI_MODEL_CHAIN
    /// ("anthropic/claude-sonnet-4-5 -> openai/gpt-4o-mini -> offline/offline"), else the default model.
    public var defaultChain: [ModelReference]
    /// The CA bundle provider calls trust instead of libcurl's default (BUILDERAI_PROVIDER_CA_BUNDLE); nil
    /// keeps the default.
    public var caBundlePath: String?

    public init(remotes: [String: Remote], defaultModel: ModelReference, defaultChain: [ModelReference]? = nil,
                caBundlePath: String? = nil) {
        self.remotes = remotes
        self.defaultModel = defaultModel
        self.defaultChain = defaultChain ?? [defaultModel]
        self.caBundlePath = caBundlePath
    }

    /// Builds the registry from an environment dictionary.
    public static func fromEnvironment(_ environment: [String: String]) throws(LLMError) -> ProviderRegistry {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingWhitespace(), !v.isEmpty else { return nil }
            return v
        }
        /// `<PROVIDER>_EXTRA_HEADERS`: a JSON object of header names to string values, for gateways and
        /// Azure-style deployments (`{"api-key": "…"}` with the deployment URL as the base URL).
        func headers(_ name: String) throws(LLMError) -> [String: String] {
            guard let text = value(name) else { return [:] }
            guard let parsed = try? JSONValue.parse(text), let object = parsed.objectValue else {
                throw .badRequest("\(name) must be a JSON object of header names to strings")
            }
            var headers: [String: String] = [:]
            for (key, raw) in object {
                guard let string = raw.stringValue, !key.isEmpty,
                      key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ":") }),
                      !string.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a }) else {
                    // The value is never echoed: it is usually a secret.
                    throw .badRequest("\(name): header \"\(key)\" must be a token name with a one-line string value")
                }
                headers[key] = string
            }
            return headers
        }
        var remotes: [String: Remote] = [:]
        let openAIKey = value("OPENAI_API_KEY")
        remotes["openai"] = Remote(codec: OpenAICodec(),
                                   endpoint: ProviderEndpoint(baseURL: value("OPENAI_BASE_URL") ?? "https://api.openai.com/v1", apiKey: openAIKey,
                                                              extraHeaders: try headers("OPENAI_EXTRA_HEADERS")),
                                   isConfigured: openAIKey != nil || value("OPENAI_BASE_URL") != nil)
        let anthropicKey = value("ANTHROPIC_API_KEY")
        remotes["anthropic"] = Remote(codec: AnthropicCodec(),
                                      endpoint: ProviderEndpoint(baseURL: value("ANTHROPIC_BASE_URL") ?? "https://api.anthropic.com/v1", apiKey: anthropicKey,
                                                                 extraHeaders: try headers("ANTHROPIC_EXTRA_HEADERS")),
                                      isConfigured: anthropicKey != nil)
        let geminiKey = value("GEMINI_API_KEY")
        remotes["gemini"] = Remote(codec: GeminiCodec(),
                                   endpoint: ProviderEndpoint(baseURL: value("GEMINI_BASE_URL") ?? "https://generativelanguage.googleapis.com/v1beta", apiKey: geminiKey,
                                                              extraHeaders: try headers("GEMINI_EXTRA_HEADERS")),
                                   isConfigured: geminiKey != nil)
        var ollama = value("OLLAMA_HOST") ?? "http://127.0.0.1:11434"
        if !ollama.hasPrefix("http://") && !ollama.hasPrefix("https://") { ollama = "http://" + ollama }
        // Ollama needs no key and its clients default to the local port, so it is always callable;
        // if nothing listens there, the call fails with a connection error that says so.
        remotes["ollama"] = Remote(codec: OllamaCodec(), endpoint: ProviderEndpoint(baseURL: ollama, extraHeaders: try headers("OLLAMA_EXTRA_HEADERS")),
                                   isConfigured: true)

        let model: ModelReference
        if let configured = value("BUILDERAI_DEFAULT_MODEL") {
            guard let parsed = ModelReference(configured) else {
                throw .badRequest("BUILDERAI_DEFAULT_MODEL '\(configured)' is not provider/model")
            }
            model = parsed
        } else if openAIKey != nil {
            model = ModelReference(provider: "openai", model: "gpt-4o-mini")
        } else if anthropicKey != nil {
            model = ModelReference(provider: "anthropic", model: "claude-sonnet-4-5")
        } else if geminiKey != nil {
            model = ModelReference(provider: "gemini", model: "gemini-2.5-flash")
        } else {
            model = ModelReference(provider: "offline", model: "offline")
        }
        let chain = try value("BUILDERAI_MODEL_CHAIN").map { text throws(LLMError) in try ModelReference.chain(text) }
        let caBundle = value("BUILDERAI_PROVIDER_CA_BUNDLE")
        // Checked here so that a wrong path stops `serve` at start instead of failing every call.
        if let caBundle, access(caBundle, R_OK) != 0 {
            throw .badRequest("BUILDERAI_PROVIDER_CA_BUNDLE: cannot read \(caBundle)")
        }
        return ProviderRegistry(remotes: remotes, defaultModel: chain?.first ?? model, defaultChain: chain,
                                caBundlePath: caBundle)
    }
}
