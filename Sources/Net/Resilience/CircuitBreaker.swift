/// Keeps calls away from a service (an LLM provider, an MCP replica) that keeps failing, so a dead one
/// costs one fast skip instead of a timeout per request.
///
/// Closed: calls flow; `failureThreshold` consecutive failures open it. Open: calls are refused until
/// `cooldown` has passed. Half-open: one trial call is let through; success closes it, failure opens
/// it again for another cooldown. Not thread-safe: each event loop keeps its own breakers, which also
/// keeps the hot path free of locks. Times are monotonic nanoseconds.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: UInt64)
        case halfOpen(trialInFlight: Bool)
    }

    public private(set) var state: State = .closed(consecutiveFailures: 0)
    public let failureThreshold: Int
    public let cooldown: Duration

    public init(failureThreshold: Int = 5, cooldown: Duration = .seconds(30)) {
        self.failureThreshold = failureThreshold
        self.cooldown = cooldown
    }

    /// Whether a call may start now; in half-open state this claims the single trial.
    public mutating func allowsCall(now: UInt64) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen(trialInFlight: true)
            return true
        case .halfOpen(let trialInFlight):
            if trialInFlight { return false }
            state = .halfOpen(trialInFlight: true)
            return true
        }
    }

    public mutating func recordSuccess() {
        state = .closed(consecutiveFailures: 0)
    }

    /// A failure that says something about the service (it is down, overloaded, timing out).
    public mutating func recordFailure(now: UInt64) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= failureThreshold ? .open(until: now &+ nanoseconds(cooldown))
                                                     : .closed(consecutiveFailures: failures + 1)
        case .halfOpen, .open:
            state = .open(until: now &+ nanoseconds(cooldown))
        }
    }

    /// A call that ended without telling anything about the service's health (the caller's own bad
    /// request, a cancellation): it neither opens nor closes the breaker, but frees a half-open trial.
    public mutating func recordNeutralOutcome() {
        if case .halfOpen = state { state = .halfOpen(trialInFlight: false) }
    }

    private func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}
