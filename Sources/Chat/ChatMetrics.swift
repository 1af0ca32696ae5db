import Net

/// The chat engine's series in the process metrics.
enum ChatMetrics {
    static func timeToFirstToken(_ provider: String) -> Metrics.Histogram {
        Metrics.shared.histogram("builderai_llm_time_to_first_token_seconds",
                                 "From sending a request to the provider to its first output", labels: [("provider", provider)])
    }

    static func tokens(_ provider: String, _ direction: String) -> Metrics.Counter {
        Metrics.shared.counter("builderai_llm_tokens_total", "Tokens reported by providers",
                               labels: [("provider", provider), ("direction", direction)])
    }

    static func toolCall(_ kind: String, _ failed: Bool) -> Metrics.Histogram {
        Metrics.shared.histogram("builderai_tool_call_seconds", "Tool call latency as the chat engine sees it",
                                 labels: [("kind", kind), ("outcome", failed ? "error" : "ok")])
    }

    static let messagesIn = Metrics.shared.counter("builderai_ws_chat_messages_total", "Chat messages by direction",
                                                   labels: [("direction", "in")])
    static let framesOut = Metrics.shared.counter("builderai_ws_chat_messages_total", "Chat messages by direction",
                                                  labels: [("direction", "out")])
}
