import Net

/// Runs generations for one event loop: walks the model chain, retries with backoff, skips
/// providers whose circuit is open, and streams events to the caller. Everything here, breakers
/// included, is touched only on `loop`, so no locks.
public final class LLMRouter {
    public let loop: EventLoop
    public let registry: ProviderRegistry
    public var retryPolicy = RetryPolicy()
    public var timeouts = ProviderTimeouts()
    private let client: HTTPClient
    private var breakers: [String: CircuitBreaker] = [:]
    private let breakerTemplate: CircuitBreaker
    /// Generations still running. The router owns them so that a caller may drop the handle
    /// (`generate` is discardable) without stopping the stream; each leaves when it ends.
    private var active: [ObjectIdentifier: Generation] = [:]

    /// Generations currently running on this loop.
    public var activeGenerations: Int { active.count }

    public init(loop: EventLoop, registry: ProviderRegistry, breaker: CircuitBreaker = CircuitBreaker()) {
        self.loop = loop
        self.registry = registry
        client = HTTPClient(loop: loop, caBundlePath: registry.caBundlePath)
        breakerTemplate = breaker
    }

    /// The breaker state of a provider, for health reporting.
    public func breakerState(_ provider: String) -> CircuitBreaker.State {
        breakers[provider]?.state ?? breakerTemplate.state
    }

    /// Starts a generation. `onEvent` receives each event with the model producing it; the sequence
    /// always ends with `.finished` or `.error`. Call on the loop.
    @discardableResult
    public func generate(_ request: LLMRequest, chain: [ModelReference],
                         onEvent: @escaping (LLMStreamEvent, ModelReference) -> Void) -> Generation {
        let generation = Generation(router: self, request: request, chain: chain.isEmpty ? registry.defaultChain : chain,
                                    onEvent: onEvent)
        active[ObjectIdentifier(generation)] = generation
        generation.next()
        return generation
    }

    /// Stops every transfer; the router must not be used afterwards.
    public func close() { client.close() }

    fileprivate func ended(_ generation: Generation) {
        active[ObjectIdentifier(generation)] = nil
    }

    fileprivate func breakerAllows(_ provider: String) -> Bool {
        var breaker = breakers[provider] ?? breakerTemplate
        defer { breakers[provider] = breaker }
        return breaker.allowsCall(now: loop.now)
    }

    fileprivate func record(_ provider: String, error: LLMError?) {
        var breaker = breakers[provider] ?? breakerTemplate
        if let error { breaker.recordFailure(error, now: loop.now) } else { breaker.recordSuccess() }
        breakers[provider] = breaker
    }

    fileprivate func startCall(_ reference: ModelReference, _ request: LLMRequest,
                               onEvent: @escaping (LLMStreamEvent) -> Void,
                               onEnd: @escaping (LLMError?) -> Void) -> (() -> Void)? {
        var request = request
        request.options.model = reference.model
        if reference.provider == "offline" {
            return OfflineStream(loop: loop, events: OfflineProvider().respond(to: request), onEvent: onEvent, onEnd: onEnd).cancel
        }
        guard let remote = registry.remotes[reference.provider], remote.isConfigured else { return nil }
        let call = ProviderCall(codec: remote.codec, request: request, endpoint: remote.endpoint, client: client,
                                timeouts: timeouts, onEvent: onEvent, onEnd: onEnd)
        return call.cancel
    }
}

/// One generation's progress through the chain. Cancel it to stop the provider at once.
public final class Generation {
    private unowned let router: LLMRouter
    private let request: LLMRequest
    private let chain: [ModelReference]
    private let onEvent: (LLMStreamEvent, ModelReference) -> Void
    private var index = -1
    private var attempt = 0
    private var outputDelivered = false
    private var cancelCurrent: (() -> Void)?
    private var retryTimer: LoopTimer?
    private var lastError: LLMError?
    private var skipped: [String] = []
    /// True once `.finished` or `.error` has been delivered.
    public private(set) var isDone = false

    fileprivate init(router: LLMRouter, request: LLMRequest, chain: [ModelReference],
                     onEvent: @escaping (LLMStreamEvent, ModelReference) -> Void) {
        self.router = router
        self.request = request
        self.chain = chain
        self.onEvent = onEvent
    }

    /// Stops the generation: the provider transfer is aborted and `.error(.cancelled)` is delivered.
    public func cancel() {
        guard !isDone else { return }
        if let retryTimer { router.loop.cancel(retryTimer) }
        let stop = cancelCurrent
        cancelCurrent = nil
        stop?()
        finish(.error(.cancelled), chain[max(index, 0)])
    }

    /// Moves to the next model in the chain that can be called now.
    fileprivate func next() {
        while !isDone {
            index += 1
            attempt = 0
            guard index < chain.count else {
                let reason = lastError ?? .badRequest("no provider could serve the request; skipped: \(skipped.joined(separator: ", "))")
                finish(.error(reason), chain[chain.count - 1])
                return
            }
            let reference = chain[index]
            if reference.provider != "offline" && !router.breakerAllows(reference.provider) {
                skipped.append("\(reference) (circuit open)")
                continue
            }
            if attemptCall(reference) { return }
            skipped.append("\(reference) (not configured)")
        }
    }

    /// Starts one attempt; false when the provider is unknown or not configured.
    private func attemptCall(_ reference: ModelReference) -> Bool {
        attempt += 1
        let cancel = router.startCall(reference, request, onEvent: { [weak self] event in
            self?.received(event, from: reference)
        }, onEnd: { [weak self] error in
            self?.ended(error, from: reference)
        })
        guard let cancel else { return false }
        cancelCurrent = cancel
        return true
    }

    private func received(_ event: LLMStreamEvent, from reference: ModelReference) {
        guard !isDone else { return }
        switch event {
        case .textDelta, .toolCallStarted, .toolCallArgumentsDelta, .toolCallFinished:
            outputDelivered = true
            onEvent(event, reference)
        case .finished:
            router.record(reference.provider, error: nil)
            finish(event, reference)
        case .usage, .error:
            onEvent(event, reference)
        }
    }

    private func ended(_ error: LLMError?, from reference: ModelReference) {
        cancelCurrent = nil
        guard !isDone else { return }
        guard let error else {
            // A stream that ended without `.finished` is a provider fault.
            ended(.network("the stream ended without a finish reason"), from: reference)
            return
        }
        if error == .cancelled { return }
        if reference.provider != "offline" { router.record(reference.provider, error: error) }
        lastError = error
        if let delay = router.retryPolicy.delay(after: error, attempt: attempt, outputDelivered: outputDelivered,
                                                unit: Double.random(in: 0..<1)) {
            retryTimer = router.loop.schedule(after: delay) { [weak self] in
                guard let self, !self.isDone else { return }
                self.retryTimer = nil
                if !self.attemptCall(reference) { self.next() }
            }
            return
        }
        // Fall back only while nothing reached the caller, and only for faults another provider
        // might not have; a request the provider found malformed would fail everywhere.
        let fallBack: Bool = switch error {
        case .badRequest, .contextTooLong, .cancelled: false
        default: true
        }
        if !outputDelivered && fallBack {
            next()
        } else {
            finish(.error(error), reference)
        }
    }

    private func finish(_ event: LLMStreamEvent, _ reference: ModelReference) {
        guard !isDone else { return }
        isDone = true
        onEvent(event, reference)
        router.ended(self)
    }
}

/// Streams a precomputed event list (the offline provider) one event per tick, like a network
/// provider would, so clients see the same shape of stream.
private final class OfflineStream {
    private var events: [LLMStreamEvent]
    private let onEvent: (LLMStreamEvent) -> Void
    private let onEnd: (LLMError?) -> Void
    private var timer: LoopTimer?
    private unowned let loop: EventLoop

    init(loop: EventLoop, events: [LLMStreamEvent], onEvent: @escaping (LLMStreamEvent) -> Void,
         onEnd: @escaping (LLMError?) -> Void) {
        self.loop = loop
        self.events = events.reversed()
        self.onEvent = onEvent
        self.onEnd = onEnd
        tick()
    }

    private func tick() {
        timer = loop.schedule(after: OfflineProvider.chunkDelay) { [self] in
            timer = nil
            guard let event = events.popLast() else {
                onEnd(nil)
                return
            }
            onEvent(event)
            tick()
        }
    }

    func cancel() {
        if let timer { loop.cancel(timer) }
        timer = nil
        events.removeAll()
        onEnd(.cancelled)
    }
}
