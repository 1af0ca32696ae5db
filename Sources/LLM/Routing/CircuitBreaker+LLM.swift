import Net

extension CircuitBreaker {
    /// Only failures that say something about the provider count (not bad requests or cancellations).
    public mutating func recordFailure(_ error: LLMError, now: UInt64) {
        if error.isRetryable { recordFailure(now: now) } else { recordNeutralOutcome() }
    }
}
