import CSystem
import Dispatch
import Glibc
import LLM
import Net
import Synchronization

/// `llm-stream`: N concurrent generations through the real LLMRouter on one loop, against a fake
/// OpenAI-compatible server on another loop that streams `chunks` SSE events per request, one every
/// `interval`. Each chunk carries its send time (TSC), so the relay latency is measured from the
/// moment the fake writes a chunk to the moment its text delta reaches the router's caller.
/// BENCH_PROVIDER=gemini makes the fake speak Gemini's `streamGenerateContent` SSE instead (each
/// chunk with its usage, as Gemini sends them) and the router call the gemini provider.
enum LLMStreamBench {
    /// The wire format the fake provider streams.
    enum Dialect: Sendable {
        case openAI, gemini

        func chunk(text: String) -> String {
            switch self {
            case .openAI: "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\(text)\"},\"finish_reason\":null}]}"
            case .gemini:
                "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\(text)\"}],\"role\": \"model\"},\"index\": 0}],"
                    + "\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 12,\"totalTokenCount\": 21},"
                    + "\"modelVersion\": \"bench\",\"responseId\": \"mHXfaNrqL8CJ1dkP0YmC6Qw\"}"
            }
        }

        /// The events that end a stream.
        var ending: [String] {
            switch self {
            case .openAI: ["{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}", "[DONE]"]
            case .gemini: ["{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}]}"]
            }
        }
    }

    static func run(streams: Int, chunks: Int, interval: Duration) -> Never {
        let dialect: Dialect = getenv("BENCH_PROVIDER").map { String(cString: $0) } == "gemini" ? .gemini : .openAI
        // Calibrate before any loop runs: the first use sleeps 100 ms to measure the TSC rate.
        _ = CycleClock.nanosecondsPerTick
        do {
            let group = try EventLoopGroup(loopCount: 2)
            let providerLoop = group.loops[0]
            let routerLoop = group.loops[1]
            // BENCH_BUSY_POLL_US: the router loop spins that long after an event before sleeping
            // (EventLoop.busyPoll), as `serve --busy-poll-us` does.
            if let value = getenv("BENCH_BUSY_POLL_US"), let micros = Int(String(cString: value)), micros > 0 {
                routerLoop.busyPoll = .microseconds(micros)
            }
            let listener = try Socket.listen(on: try SocketAddress(host: "127.0.0.1", port: 0))
            let port = Socket.localAddress(listener)!.port
            try providerLoop.register(listener, events: EPOLLIN.rawValue,
                                      handler: BenchAcceptor(fd: listener, loop: providerLoop) {
                                          FakeProviderSession(connection: $0, chunks: chunks, interval: interval, dialect: dialect)
                                      })
            try group.start()

            let state = ClientState(streams: streams, chunks: chunks)
            let registry = try ProviderRegistry.fromEnvironment(["OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1",
                                                                 "GEMINI_API_KEY": "bench", "GEMINI_BASE_URL": "http://127.0.0.1:\(port)/v1beta"])
            let model = ModelReference(provider: dialect == .gemini ? "gemini" : "openai", model: "bench")
            let baseline = residentKiB(pid: getpid())
            let cpuStart = Locked<UInt64>(0)
            let done = DispatchSemaphore(value: 0)
            let startedAt = MonotonicClock.now()
            routerLoop.execute {
                cpuStart.withLock { $0 = threadCPUNanoseconds() }
                let router = LLMRouter(loop: routerLoop, registry: registry)
                var timeouts = ProviderTimeouts()
                timeouts.total = .seconds(600)
                router.timeouts = timeouts
                state.router = router
                let request = LLMRequest(messages: [ChatMessage(role: .user, parts: [.text("go")])], options: GenerationOptions(model: "bench"))
                for stream in 0..<streams {
                    router.generate(request, chain: [model]) { event, _ in
                        state.handle(event, stream: stream, done: done)
                    }
                }
            }
            // Memory with every stream open: sample while the streams are mid-way.
            let (seconds, attoseconds) = interval.components
            let intervalNanoseconds = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
            let halfway = UInt64(chunks) * intervalNanoseconds / 2
            usleep(UInt32(min(halfway / 1000, 30_000_000)))
            let midRSS = residentKiB(pid: getpid())
            guard done.wait(timeout: .now() + .seconds(600)) == .success else { die("streams did not finish") }
            let elapsed = Double(MonotonicClock.now() - startedAt) / 1e9
            let cpu = routerLoop.executeAndWait {
                defer { state.router?.close() }
                return threadCPUNanoseconds() - cpuStart.withLock { $0 }
            }
            let sorted = state.latencies.sorted()
            let steady = state.steadyLatencies.sorted()
            let perChunkCPU = Double(cpu) / Double(max(state.received, 1))
            print("| \(streams) | \(chunks) | \(Int(Double(state.received) / elapsed)) | \(format2(perChunkCPU / 1000)) | "
                + "\(format2(percentile(sorted, 0.5))) | \(format2(percentile(sorted, 0.99))) | "
                + "\(steady.count) | \(format2(percentile(steady, 0.5))) | \(format2(percentile(steady, 0.99))) | "
                + "\(format2(percentile(steady, 0.999))) | "
                + "\(format2(Double(midRSS - baseline) / Double(streams))) KiB | \(state.errors) |")
            exit(state.errors == 0 && state.received == streams * chunks ? 0 : 1)
        } catch {
            die("llm-stream: \(error)")
        }
    }
}

/// The router side's tallies; touched only on the router loop.
private final class ClientState: @unchecked Sendable {
    // Invariant: every member is used only on the router loop (and read by the driver after it
    // signalled completion from that loop).
    var router: LLMRouter?
    var latencies: [UInt32] = []
    /// Chunks sent from one second after every stream had delivered its first chunk: the steady
    /// state, without the start-up of 1,000 transfers on the loop (connects, requests) in which the
    /// first streams' chunks wait behind the others' set-up.
    var steadyLatencies: [UInt32] = []
    private var started: [Bool]
    private var startedCount = 0
    private var steadyFromTicks = UInt64.max
    var received = 0
    var finished = 0
    var errors = 0
    let streams: Int

    init(streams: Int, chunks: Int) {
        self.streams = streams
        started = Array(repeating: false, count: streams)
        latencies.reserveCapacity(streams * chunks)
        steadyLatencies.reserveCapacity(streams * chunks)
    }

    func handle(_ event: LLMStreamEvent, stream: Int, done: DispatchSemaphore) {
        switch event {
        case .textDelta(let text):
            let now = CycleClock.now()
            received += 1
            if !started[stream] {
                started[stream] = true
                startedCount += 1
                if startedCount == streams { steadyFromTicks = now &+ UInt64(1e9 / CycleClock.nanosecondsPerTick) }
            }
            if let ticks = UInt64(text.dropFirst(2)) {
                let latency = CycleClock.tenthsOfMicroseconds(now &- ticks)
                latencies.append(latency)
                if ticks >= steadyFromTicks { steadyLatencies.append(latency) }
            }
        case .finished, .error:
            if case .error = event { errors += 1 }
            finished += 1
            if finished == streams { done.signal() }
        default:
            break
        }
    }
}

/// One OpenAI-style streaming response: reads a request (head and Content-Length body), then writes
/// `chunks` SSE events in chunked encoding, one per `interval`, each carrying its send time.
private final class FakeProviderSession: ConnectionHandler {
    let connection: Connection
    let chunks: Int
    let interval: Duration
    let dialect: LLMStreamBench.Dialect
    private var request: [UInt8] = []
    private var sent = 0
    private var streaming = false
    private var nextDeadline: UInt64 = 0

    init(connection: Connection, chunks: Int, interval: Duration, dialect: LLMStreamBench.Dialect) {
        self.connection = connection
        self.chunks = chunks
        self.interval = interval
        self.dialect = dialect
    }

    func connection(_ connection: Connection, received bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard !streaming else { return bytes.count }
        request.append(contentsOf: bytes)
        guard let headEnd = findHeadEnd() else { return bytes.count }
        let head = String(decoding: request[0..<headEnd], as: UTF8.self).lowercased()
        var length = 0
        if let range = head.range(of: "content-length:") {
            length = Int(head[range.upperBound...].prefix { $0 != "\r" }.filter(\.isNumber)) ?? 0
        }
        guard request.count >= headEnd + length else { return bytes.count }
        request = []
        streaming = true
        connection.write(Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        // Independent streams are not phase-locked: each starts at a random point of its first
        // interval, then keeps an exact period (absolute deadlines, no drift).
        let period = FakeProviderSession.nanoseconds(interval)
        nextDeadline = connection.loop.now &+ UInt64.random(in: 0..<max(period, 1))
        scheduleNext()
        return bytes.count
    }

    private func findHeadEnd() -> Int? {
        guard request.count >= 4 else { return nil }
        for i in 3..<request.count where request[i] == 10 && request[i - 1] == 13 && request[i - 2] == 10 && request[i - 3] == 13 {
            return i + 1
        }
        return nil
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    private func scheduleNext() {
        let deadline = nextDeadline
        nextDeadline &+= FakeProviderSession.nanoseconds(interval)
        connection.loop.schedule(at: deadline) { [self] in
            guard !connection.isClosed else { return }
            if sent < chunks {
                sent += 1
                writeEvent(dialect.chunk(text: "t=\(CycleClock.now())"))
                scheduleNext()
            } else {
                for event in dialect.ending { writeEvent(event) }
                connection.write(Array("0\r\n\r\n".utf8))
                streaming = false
            }
        }
    }

    private func writeEvent(_ data: String) {
        let event = "data: \(data)\n\n"
        connection.write(Array((String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n").utf8))
    }

    func connectionDrained(_ connection: Connection) {}
    func connectionReadEOF(_ connection: Connection) { connection.close() }
    func connectionClosed(_ connection: Connection) {}
}
