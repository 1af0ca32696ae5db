/// When to try a failed call again, and after how long.
///
/// Exponential backoff with full jitter (a random delay between zero and the exponential cap), so
/// that many clients failing together do not retry together; a provider's own Retry-After wins when
/// it is longer. Nothing is retried once any output reached the caller: the user would see the
/// answer start twice.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(250), maxDelay: Duration = .seconds(8)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The delay before attempt `attempt + 1` after `error` on attempt `attempt` (1-based), or nil
    /// when the call must not be retried. `unit` is a random number in [0, 1).
    public func delay(after error: LLMError, attempt: Int, outputDelivered: Bool, unit: Double) -> Duration? {
        guard !outputDelivered, error.isRetryable, attempt < maxAttempts else { return nil }
        let exponent = min(attempt - 1, 30)
        let cap = min(baseDelay * (1 << exponent), maxDelay)
        let jittered = cap * max(0, min(unit, 1))
        if case .rateLimited(let retryAfter?, _) = error {
            // Waiting longer than we would ever back off is pointless within one request.
            guard retryAfter <= maxDelay * 4 else { return nil }
            return max(retryAfter, jittered)
        }
        return jittered
    }
}
