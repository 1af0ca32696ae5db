import Net
import Testing
@testable import LLM

/// Retries, the circuit breaker and model chains: the parts of routing that need no network.
@Suite struct RoutingTests {
    let policy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .seconds(2))

    @Test func backsOffExponentiallyWithJitterUpToTheCap() {
        let error = LLMError.server(status: 502, message: "bad gateway")
        #expect(policy.delay(after: error, attempt: 1, outputDelivered: false, unit: 0.999) ?? .zero < .milliseconds(100))
        #expect(policy.delay(after: error, attempt: 2, outputDelivered: false, unit: 0.5) == .milliseconds(100))
        #expect(policy.delay(after: error, attempt: 3, outputDelivered: false, unit: 0.5) == .milliseconds(200))
        #expect(policy.delay(after: error, attempt: 3, outputDelivered: false, unit: 0) == .zero)
        let capped = RetryPolicy(maxAttempts: 20, baseDelay: .milliseconds(100), maxDelay: .seconds(2))
        #expect(capped.delay(after: error, attempt: 15, outputDelivered: false, unit: 1) == .seconds(2))
    }

    @Test func neverRetriesAfterOutputReachedTheCallerOrPastTheLastAttempt() {
        let error = LLMError.network("reset")
        #expect(policy.delay(after: error, attempt: 1, outputDelivered: true, unit: 0.5) == nil)
        #expect(policy.delay(after: error, attempt: 4, outputDelivered: false, unit: 0.5) == nil)
    }

    @Test(arguments: [LLMError.authentication("no"), .badRequest("bad"), .contextTooLong("long"), .cancelled])
    func doesNotRetryErrorsThatWouldFailAgain(error: LLMError) {
        #expect(policy.delay(after: error, attempt: 1, outputDelivered: false, unit: 0.5) == nil)
    }

    @Test func honoursRetryAfterWhenItIsLongerThanTheBackoff() {
        let limited = LLMError.rateLimited(retryAfter: .seconds(1), message: "slow down")
        #expect(policy.delay(after: limited, attempt: 1, outputDelivered: false, unit: 0.5) == .seconds(1))
        let absurd = LLMError.rateLimited(retryAfter: .seconds(3600), message: "come back tomorrow")
        #expect(policy.delay(after: absurd, attempt: 1, outputDelivered: false, unit: 0.5) == nil)
    }

    @Test func opensAfterConsecutiveFailuresAndLetsOneTrialThroughAfterTheCooldown() {
        var breaker = CircuitBreaker(failureThreshold: 3, cooldown: .seconds(10))
        let failure = LLMError.overloaded("busy")
        for _ in 0..<2 {
            let allowed = breaker.allowsCall(now: 0)
            #expect(allowed)
            breaker.recordFailure(failure, now: 0)
        }
        #expect(breaker.state == .closed(consecutiveFailures: 2))
        breaker.recordFailure(failure, now: 1_000)
        #expect(breaker.state == .open(until: 10_000_001_000))
        let duringCooldown = breaker.allowsCall(now: 5_000_000_000)
        let trial = breaker.allowsCall(now: 10_000_001_000)
        let secondTrial = breaker.allowsCall(now: 10_000_001_001)
        #expect(!duringCooldown)
        #expect(trial)
        #expect(!secondTrial, "only one trial while half-open")
        breaker.recordFailure(failure, now: 11_000_000_000)
        #expect(breaker.state == .open(until: 21_000_000_000))
        let afterSecondCooldown = breaker.allowsCall(now: 21_000_000_000)
        #expect(afterSecondCooldown)
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
    }

    @Test func aSuccessResetsTheCountAndClientErrorsDoNotCount() {
        var breaker = CircuitBreaker(failureThreshold: 2, cooldown: .seconds(1))
        breaker.recordFailure(.network("x"), now: 0)
        breaker.recordSuccess()
        breaker.recordFailure(.network("x"), now: 0)
        breaker.recordFailure(.badRequest("mine"), now: 0)
        breaker.recordFailure(.cancelled, now: 0)
        #expect(breaker.state == .closed(consecutiveFailures: 1))
    }

    @Test func parsesModelReferencesAndFallbackChains() throws {
        #expect(ModelReference("openai/gpt-4o-mini") == ModelReference(provider: "openai", model: "gpt-4o-mini"))
        #expect(ModelReference("Together/meta-llama/Llama-3-70b")?.model == "meta-llama/Llama-3-70b")
        #expect(ModelReference("Together/x")?.provider == "together")
        #expect(ModelReference("gpt-4o") == nil)
        #expect(ModelReference("/gpt") == nil)
        #expect(ModelReference("a b/c") == nil)
        let chain = try ModelReference.chain("anthropic/claude-sonnet-4-5 -> openai/gpt-4o, offline/offline -> openai/gpt-4o")
        #expect(chain.map(\.description) == ["anthropic/claude-sonnet-4-5", "openai/gpt-4o", "offline/offline"])
        let error = #expect(throws: LLMError.self) { try ModelReference.chain("openai/gpt-4o -> nonsense") }
        #expect(error == .badRequest("'nonsense' is not a model reference; write provider/model, e.g. openai/gpt-4o-mini"))
    }

    @Test func readsProvidersFromTheEnvironmentWithOllamaOnItsDefaultPort() throws {
        let bare = try ProviderRegistry.fromEnvironment([:])
        #expect(bare.defaultModel == ModelReference(provider: "offline", model: "offline"))
        #expect(bare.remotes["ollama"]?.isConfigured == true)
        #expect(bare.remotes["ollama"]?.endpoint.baseURL == "http://127.0.0.1:11434")
        #expect(bare.remotes["openai"]?.isConfigured == false)
        #expect(bare.remotes["anthropic"]?.isConfigured == false)
        let keyed = try ProviderRegistry.fromEnvironment(["ANTHROPIC_API_KEY": "k", "OLLAMA_HOST": "gpu-box:11434"])
        #expect(keyed.defaultModel.provider == "anthropic")
        #expect(keyed.remotes["ollama"]?.endpoint.baseURL == "http://gpu-box:11434")
        #expect(keyed.defaultChain == [keyed.defaultModel])
    }
}
