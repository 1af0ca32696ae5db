import CSystem
import Glibc
import Net

/// Issue 6: the chat engine end to end, over the real `/ws` protocol.
///
///   builderai-bench chat-fanout --server BIN [--server-cpus 0] [--loops 1] [--connections 1000] [--rate 50] [--seconds 10]
///   builderai-bench chat-load   --server BIN [--server-cpus 0] [--loops 1] [--connections 1000] [--seconds 10] [--delay-ms 0] [--think-ms 0]
///
/// The bench seeds a fresh data directory with the `builderai` CLI (one user, one token, one project
/// on `openai/fake`), starts a fake OpenAI-compatible provider on a loop of its own (chunked HTTP/1.1
/// and SSE in OpenAI's chunk format, as in `llm-stream`), spawns `builderai serve` pointed at it
/// (under `taskset -c CPUS` when given), drives the WebSocket clients from one loop on the main
/// thread, prints one Markdown row, and kills the server by PID.
///
/// - `chat-fanout`: all connections join the project and open one conversation; one prompt starts a
///   generation the fake streams at `rate` deltas/s for `seconds` + 1 s warm-up. Each delta's text is
///   `~t<TSC at the fake's write>:<index>~`; latency is from that write to the watcher's socket read.
/// - `chat-load`: one conversation per connection, each prompting again as soon as its generation
///   finishes. The fake answers at once (or after `delay-ms`) with one delta `~t<TSC at write>:<TSC at
///   request read>~`, a stop chunk, a usage chunk and `[DONE]`. Time to first delta is from writing the
///   prompt to reading the first delta; "added" subtracts the fake's own time (request read → write).
///   With `--think-ms 0` the load is closed-loop (the server is saturated by construction); a think
///   time makes the offered rate about connections / (think + response time).
enum ChatBench {
    struct Options {
        var mode = ""
        var server = ".build/release/builderai"
        var serverCPUs = ""
        var loops = 1
        /// Keeps the clients' loop spinning this long after an event before it sleeps (see
        /// `EventLoop.busyPoll`), so the server's sends do not pay for waking the clients' thread.
        var clientBusyPollMicroseconds = 0
        var connections = 1000
        var rate = 50
        var seconds = 10.0
        var warmup = 2.0
        var delayMilliseconds = 0
        /// chat-load: pause between a generation's end and the conversation's next prompt (0: at once).
        var thinkMilliseconds = 0
        /// Load mode: each answer streams this many deltas (the first carries the stamps), one every
        /// `answerIntervalMilliseconds`, so that many generations are in progress at once.
        var answerDeltas = 1
        /// Load mode: conversations are spread over this many projects (one room each, each owned by
        /// one loop), as a server with many users would have them.
        var projects = 1
        var answerIntervalMilliseconds = 0
        var keep = false
    }

    static func runIfAsked() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let mode = args.first, mode == "chat-fanout" || mode == "chat-load" else { return }
        var options = Options()
        options.mode = mode
        var i = 1
        while i < args.count {
            let name = args[i]
            if name == "--keep" {
                options.keep = true
                i += 1
                continue
            }
            guard i + 1 < args.count else { die("\(name) needs a value") }
            let value = args[i + 1]
            switch name {
            case "--server": options.server = value
            case "--server-cpus": options.serverCPUs = value
            case "--loops": options.loops = Int(value) ?? 0
            case "--client-busy-poll-us": options.clientBusyPollMicroseconds = Int(value) ?? 0
            case "--connections": options.connections = Int(value) ?? 0
            case "--rate": options.rate = Int(value) ?? 0
            case "--seconds": options.seconds = Double(value) ?? 0
            case "--warmup": options.warmup = Double(value) ?? -1
            case "--delay-ms": options.delayMilliseconds = Int(value) ?? -1
            case "--think-ms": options.thinkMilliseconds = Int(value) ?? -1
            case "--answer-deltas": options.answerDeltas = Int(value) ?? 0
            case "--projects": options.projects = Int(value) ?? 0
            case "--answer-interval-ms": options.answerIntervalMilliseconds = Int(value) ?? -1
            default: die("unknown option \(name)")
            }
            i += 2
        }
        guard options.loops > 0, options.connections > 0, options.rate > 0, options.seconds > 0, options.warmup >= 0,
              options.delayMilliseconds >= 0, options.thinkMilliseconds >= 0,
              options.answerDeltas > 0, options.answerIntervalMilliseconds >= 0,
              options.projects > 0, options.projects <= options.connections else { die("\(mode): options must be positive") }
        _ = Socket.raiseOpenFileLimit()
        _ = CycleClock.nanosecondsPerTick
        atexit { ChatServerProcess.killLive() }
        let code = ChatBenchDriver(options: options).run()
        exit(code)
    }
}

// MARK: - The server process

/// The spawned `builderai serve`, killed by PID at exit whatever path the exit takes.
enum ChatServerProcess {
    nonisolated(unsafe) static var livePID: pid_t = 0

    static func killLive() {
        let pid = livePID
        guard pid > 0 else { return }
        livePID = 0
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<250 {
            if waitpid(pid, &status, WNOHANG) == pid {
                // A clean shutdown exits 0; anything else (a crash while closing) is worth a line.
                if status != 0 { printError("the server did not exit cleanly on SIGTERM (wait status \(status): signal \(status & 0x7f), code \((status >> 8) & 0xff))") }
                return
            }
            usleep(20_000)
        }
        printError("the server did not stop within 5 s of SIGTERM; killing it")
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
    }

    static func environment(extra: [String: String]) -> [String: String] {
        var environment: [String: String] = [:]
        for name in ["PATH", "HOME", "LANG", "TMPDIR", "SWIFT_BACKTRACE"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment.merging(extra) { $1 }
    }

    /// Runs a CLI command to completion and returns the last line it printed.
    static func capture(_ arguments: [String]) -> String {
        var fds: [Int32] = [-1, -1]
        guard csystem_pipe2(&fds, O_CLOEXEC) == 0 else { die("pipe2 failed") }
        let pid = spawnChild(arguments, environment: environment(extra: [:]), stdoutFD: fds[1], stderrFD: 2)
        close(fds[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n > 0 { output += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        guard status == 0, let line = text.split(separator: "\n").last.map({ $0.trimmingCharacters() }), !line.isEmpty else {
            die("\(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return line
    }

    /// Seeds the data directory, starts the server and waits for its "listening" log line.
    static func start(options: ChatBench.Options, dataDir: String, providerPort: Int) -> (pid: pid_t, port: Int, token: String, projects: [String]) {
        let email = "bench@example.com"
        _ = capture([options.server, "user", "create", "--email", email, "--name", "Bench", "--data-dir", dataDir])
        let token = capture([options.server, "token", "create", "--email", email, "--data-dir", dataDir])
        let projects = (0..<options.projects).map { n in
            capture([options.server, "project", "create", "--email", email, "--name", "bench \(n)", "--model", "openai/fake",
                     "--data-dir", dataDir])
        }
        let logPath = dataDir + "/server.log"
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { die("cannot open \(logPath)") }
        var argv = [options.server, "serve", "--port", "0", "--data-dir", dataDir, "--mcp-servers", "/nonexistent",
                    "--loops", String(options.loops)]
        if !options.serverCPUs.isEmpty { argv = ["taskset", "-c", options.serverCPUs] + argv }
        let env = environment(extra: ["OPENAI_API_KEY": "x", "OPENAI_BASE_URL": "http://127.0.0.1:\(providerPort)/v1"])
        let pid = spawnChild(argv, environment: env, stdoutFD: logFD, stderrFD: logFD)
        close(logFD)
        livePID = pid
        for _ in 0..<600 {
            if let port = listeningPort(logPath) { return (pid, port, token, projects) }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                livePID = 0
                die("the server exited (status \(status)); see \(logPath)")
            }
            usleep(50_000)
        }
        die("the server did not log \"listening\" within 30 s; see \(logPath)")
    }

    private static func listeningPort(_ path: String) -> Int? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = cString(line)
            guard text.contains("\"listening\""), let range = text.range(of: "127.0.0.1:") else { continue }
            return Int(text[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }

    /// Busy clock ticks of the whole machine (every CPU), from /proc/stat.
    static func machineBusyTicks() -> Int {
        guard let file = fopen("/proc/stat", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        guard fgets(&line, Int32(line.count), file) != nil else { return 0 }
        let fields = cString(line).split(separator: " ").dropFirst().compactMap { Int($0) }
        guard fields.count >= 5 else { return 0 }
        return fields.prefix(8).reduce(0, +) - fields[3] - fields[4]
    }

    /// utime + stime of a process, in clock ticks (100 Hz).
    static func cpuTicks(_ pid: pid_t) -> Int {
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 2048)
        guard fgets(&line, Int32(line.count), file) != nil else { return 0 }
        let text = cString(line)
        guard let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the comm field: state is fields[0], utime is field 14 overall → fields[11].
        guard fields.count > 12 else { return 0 }
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }
}

private extension Substring {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\r" || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\r" || $0 == "\t" }.reversed())
    }
}

// MARK: - The fake provider

/// What the fake answers; set before the server starts, read only on the provider loop after.
final class ChatProviderConfig: @unchecked Sendable {
    /// Streaming (fan-out): this many deltas, one every `interval` nanoseconds. Otherwise one delta.
    var streamChunks = 0
    var intervalNanoseconds: UInt64 = 20_000_000
    var delayNanoseconds: UInt64 = 0
    /// Load mode: deltas per answer and the time between them.
    var answerDeltas = 1
    var answerIntervalNanoseconds: UInt64 = 0
    /// Requests and connections seen (touched on the provider loop only; read at the end).
    var requests = 0
    var connections = 0
    var requestBodyBytes = 0
}

/// One keep-alive provider connection: requests one after another, each answered with an SSE stream.
private final class ChatProviderSession: ConnectionHandler {
    let connection: Connection
    let config: ChatProviderConfig
    private var buffer: [UInt8] = []
    private var busy = false

    static let head = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    init(connection: Connection, config: ChatProviderConfig) {
        self.connection = connection
        self.config = config
    }

    func connection(_ connection: Connection, received bytes: UnsafeMutableRawBufferPointer) -> Int {
        let readAt = CycleClock.now()
        buffer.append(contentsOf: bytes)
        serve(readAt: readAt)
        return bytes.count
    }

    private func serve(readAt: UInt64) {
        while !busy, let headEnd = findHeadEnd() {
            let head = String(decoding: buffer[0..<headEnd], as: UTF8.self).lowercased()
            var length = 0
            if let range = head.range(of: "content-length:") {
                length = Int(head[range.upperBound...].prefix { $0 != "\r" }.filter(\.isNumber)) ?? 0
            }
            guard buffer.count >= headEnd + length else { return }
            buffer.removeFirst(headEnd + length)
            config.requests += 1
            config.requestBodyBytes += length
            busy = true
            if config.streamChunks > 0 {
                connection.write(Self.head)
                streamDeltas(0, of: config.streamChunks, at: connection.loop.now &+ config.intervalNanoseconds,
                             interval: config.intervalNanoseconds) { "~t\(CycleClock.now()):\($0)~" }
            } else if config.delayNanoseconds > 0 {
                connection.loop.schedule(after: .nanoseconds(Int64(config.delayNanoseconds))) { [self] in answer(readAt: readAt) }
            } else {
                answer(readAt: readAt)
            }
        }
    }

    /// The load mode's answer: the stamped first delta, then (when asked) more deltas over time.
    private func answer(readAt: UInt64) {
        guard !connection.isClosed else { return }
        var out = Self.head
        Self.appendEvent(&out, Self.contentChunk("~t\(CycleClock.now()):\(readAt)~"))
        if config.answerDeltas > 1 {
            connection.write(out)
            let interval = config.answerIntervalNanoseconds
            streamDeltas(1, of: config.answerDeltas, at: connection.loop.now &+ interval, interval: interval) { _ in " more" }
            return
        }
        Self.appendEnd(&out)
        connection.write(out)
        busy = false
        if !buffer.isEmpty { serve(readAt: CycleClock.now()) }
    }

    /// Writes delta `index` at `deadline`, then the following ones `interval` apart up to `count`; the
    /// last one's write also ends the answer. `text` makes a delta's text when it is written.
    private func streamDeltas(_ index: Int, of count: Int, at deadline: UInt64, interval: UInt64,
                              text: @escaping (Int) -> String) {
        connection.loop.schedule(at: deadline) { [self] in
            guard !connection.isClosed else { return }
            var out: [UInt8] = []
            Self.appendEvent(&out, Self.contentChunk(text(index)))
            if index + 1 < count {
                connection.write(out)
                streamDeltas(index + 1, of: count, at: deadline &+ interval, interval: interval, text: text)
            } else {
                Self.appendEnd(&out)
                connection.write(out)
                busy = false
                if !buffer.isEmpty { serve(readAt: CycleClock.now()) }
            }
        }
    }

    static func contentChunk(_ text: String) -> String {
        "{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\(text)\"},\"finish_reason\":null}]}"
    }

    static func appendEnd(_ out: inout [UInt8]) {
        appendEvent(&out, "{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}")
        appendEvent(&out, "{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}")
        appendEvent(&out, "[DONE]")
        out.append(contentsOf: "0\r\n\r\n".utf8)
    }

    static func appendEvent(_ out: inout [UInt8], _ data: String) {
        let event = "data: \(data)\n\n"
        out.append(contentsOf: (String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n").utf8)
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 3..<buffer.count where buffer[i] == 10 && buffer[i - 1] == 13 && buffer[i - 2] == 10 && buffer[i - 3] == 13 {
            return i + 1
        }
        return nil
    }

    func connectionDrained(_ connection: Connection) {}
    func connectionReadEOF(_ connection: Connection) { connection.close() }
    func connectionClosed(_ connection: Connection) {}
}

// MARK: - The WebSocket clients

/// One `/ws` connection speaking builderai.v1 for the driver; on the client loop only.
final class ChatBenchClient: ConnectionHandler {
    let index: Int
    let connection: Connection
    unowned let driver: ChatBenchDriver
    private let key = "dGhlIHNhbXBsZSBub25jZQ=="
    private var handshakeDone = false
    private var decoder = WebSocketFrameDecoder(role: .client, maxMessageBytes: 1 << 24)
    private var frame: [UInt8] = []
    private var seed: UInt64
    var conversation = ""
    /// Fan-out: deltas received; load: the prompt's send time and whether its first delta came.
    var deltas = 0
    var promptSentAt: UInt64 = 0
    var awaitingFirstDelta = false
    var prompts = 0
    var finished = false

    init(index: Int, connection: Connection, driver: ChatBenchDriver) {
        self.index = index
        self.connection = connection
        self.driver = driver
        seed = 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0x1000_0001
    }

    func start(host: String, token: String) {
        let request = "GET /ws HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: builderai.v1, bearer.\(token)\r\n\r\n"
        connection.write(Array(request.utf8))
    }

    private func nextMaskKey() -> UInt32 {
        seed ^= seed >> 12
        seed ^= seed << 25
        seed ^= seed >> 27
        return UInt32(truncatingIfNeeded: (seed &* 0x2545_F491_4F6C_DD1D) >> 32)
    }

    func send(_ text: String, opcode: WebSocketOpcode = .text) {
        sendBytes(Array(text.utf8), opcode: opcode)
    }

    func sendBytes(_ payload: [UInt8], opcode: WebSocketOpcode) {
        frame.removeAll(keepingCapacity: true)
        let maskKey = nextMaskKey()
        WebSocketFrame.appendHeader(to: &frame, fin: true, rsv1: false, opcode: opcode, length: payload.count, maskKey: maskKey)
        let start = frame.count
        frame.append(contentsOf: payload)
        frame.withUnsafeMutableBytes { raw in
            WebSocketFrame.applyMask(UnsafeMutableRawBufferPointer(rebasing: raw[start...]), key: maskKey, phase: 0)
        }
        connection.write(frame)
    }

    func connection(_ connection: Connection, received bytes: UnsafeMutableRawBufferPointer) -> Int {
        let readAt = CycleClock.now()
        var offset = 0
        if !handshakeDone {
            guard let end = headerEnd(bytes) else { return 0 }
            let head = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
            guard head.hasPrefix("HTTP/1.1 101"), head.contains(WebSocketHandshake.acceptValue(forKey: key)) else {
                driver.failure("client \(index): handshake refused: \(head.prefix(200))")
                connection.close()
                return bytes.count
            }
            handshakeDone = true
            offset = end
        }
        do {
            offset += try decoder.decode(UnsafeMutableRawBufferPointer(rebasing: bytes[offset...])) { event in
                switch event {
                case .message(_, let payload):
                    if ChatBenchClient.isDelta(payload) {
                        self.driver.delta(self, payload: payload, readAt: readAt)
                    } else if let value = try? JSONValue.parse(Array(payload)) {
                        self.driver.control(self, value)
                    } else {
                        self.driver.failure("client \(self.index): unparsable frame")
                    }
                case .ping(let payload):
                    self.sendBytes(Array(payload), opcode: .pong)
                case .pong:
                    break
                case .close(let code, let reason):
                    self.driver.failure("client \(self.index): closed by the server: \(code ?? 0) \(reason)")
                }
            }
        } catch {
            driver.failure("client \(index): bad frame: \(error)")
            connection.close()
            return bytes.count
        }
        return offset
    }

    private static let deltaSuffix = Array("\"type\":\"delta\"}".utf8)

    /// Server objects are serialized with sorted keys, so a delta ends with `"type":"delta"}`.
    static func isDelta(_ payload: UnsafeRawBufferPointer) -> Bool {
        let suffix = deltaSuffix
        guard payload.count > suffix.count else { return false }
        let base = payload.count - suffix.count
        for i in 0..<suffix.count where payload[base + i] != suffix[i] { return false }
        return true
    }

    /// The two numbers of `~t<a>:<b>~` in a delta's text.
    static func stamps(_ payload: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        var i = 0
        while i + 1 < payload.count {
            if payload[i] == UInt8(ascii: "~") && payload[i + 1] == UInt8(ascii: "t") {
                var j = i + 2
                var a: UInt64 = 0
                while j < payload.count, payload[j] >= 48, payload[j] <= 57 {
                    a = a &* 10 &+ UInt64(payload[j] - 48)
                    j += 1
                }
                guard j < payload.count, payload[j] == UInt8(ascii: ":") else { return nil }
                j += 1
                var b: UInt64 = 0
                while j < payload.count, payload[j] >= 48, payload[j] <= 57 {
                    b = b &* 10 &+ UInt64(payload[j] - 48)
                    j += 1
                }
                return (a, b)
            }
            i += 1
        }
        return nil
    }

    func connectionDrained(_ connection: Connection) {}
    func connectionReadEOF(_ connection: Connection) {
        driver.failure("client \(index): the server closed the connection")
        connection.close()
    }
    func connectionClosed(_ connection: Connection) {}
}

// MARK: - The driver

/// Owns the run on the client loop (the main thread): set-up phases, then measuring, then the report.
final class ChatBenchDriver {
    let options: ChatBench.Options
    let clientLoop: EventLoop
    let providerConfig = ChatProviderConfig()
    var clients: [ChatBenchClient] = []
    var token = ""
    var projects: [String] = []
    /// The project of connection (and conversation) `index`.
    func project(_ index: Int) -> String { projects[index % projects.count] }
    /// Projects connection 0 has joined so far (it joins them all to create every conversation).
    var creatorJoins = 0
    var serverPID: pid_t = 0
    var dataDir = ""
    var errors = 0
    var errorSamples: [String] = []
    var hellos = 0
    var joins = 0
    var opens = 0
    var created: [String] = []
    var measuring = false
    var latencies: [UInt32] = []        // tenths of µs
    var rawLatencies: [UInt32] = []     // load: prompt → first delta, before subtracting the fake's time
    var beforeProvider: [UInt32] = []   // load: prompt written → the fake read the request
    var afterProvider: [UInt32] = []    // load: the fake wrote the delta → the client read it
    var completedPrompts = 0
    var generationsFinished = 0
    var phase = "connect"
    var measureStart: (at: UInt64, serverCPU: Int) = (0, 0)
    var measureEnd: (at: UInt64, serverCPU: Int) = (0, 0)
    var benchCPU: (start: Int, end: Int) = (0, 0)
    var machineBusy: (start: Int, end: Int) = (0, 0)
    var warmupDeltas = 0
    var stopped = false
    /// Load mode: prompts sent whose generation has not finished, and its mean at each prompt sent.
    var generating = 0
    var concurrencySum = 0
    var concurrencySamples = 0
    var firstControlLogged = 0

    init(options: ChatBench.Options) {
        self.options = options
        do { clientLoop = try EventLoop(index: 1) } catch { die("\(error)") }
        clientLoop.busyPoll = .microseconds(options.clientBusyPollMicroseconds)
        latencies.reserveCapacity(options.mode == "chat-fanout"
            ? options.connections * Int(Double(options.rate) * options.seconds + 1) : 1 << 20)
    }

    func run() -> Int32 {
        // The fake provider: its own loop and thread.
        let providerGroup: EventLoopGroup
        let providerPort: Int
        do {
            providerGroup = try EventLoopGroup(loopCount: 1)
            let listener = try Socket.listen(on: try SocketAddress(host: "127.0.0.1", port: 0))
            providerPort = Socket.localAddress(listener)!.port
            if options.mode == "chat-fanout" {
                providerConfig.streamChunks = Int((options.seconds + options.warmup) * Double(options.rate))
                providerConfig.intervalNanoseconds = UInt64(1_000_000_000 / options.rate)
            }
            providerConfig.delayNanoseconds = UInt64(options.delayMilliseconds) * 1_000_000
            providerConfig.answerDeltas = options.answerDeltas
            providerConfig.answerIntervalNanoseconds = UInt64(options.answerIntervalMilliseconds) * 1_000_000
            try providerGroup.loops[0].register(listener, events: EPOLLIN.rawValue,
                                                handler: BenchAcceptor(fd: listener, loop: providerGroup.loops[0]) { [providerConfig] connection in
                                                    providerConfig.connections += 1
                                                    return ChatProviderSession(connection: connection, config: providerConfig)
                                                })
            try providerGroup.start()
        } catch {
            die("provider: \(error)")
        }

        var template = Array("/tmp/builderai-chatbench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { die("mkdtemp failed") }
        dataDir = String(cString: made)
        let server = ChatServerProcess.start(options: options, dataDir: dataDir, providerPort: providerPort)
        serverPID = server.pid
        token = server.token
        projects = server.projects

        let address: SocketAddress
        do { address = try SocketAddress(host: "127.0.0.1", port: server.port) } catch { die("\(error)") }
        for index in 0..<options.connections {
            guard let fd = connectBlocking(address) else { die("cannot connect to \(address) after \(clients.count) connections") }
            do {
                let connection = try Connection(fd: fd, peer: address, loop: clientLoop, counter: nil)
                let client = ChatBenchClient(index: index, connection: connection, driver: self)
                connection.handler = client
                client.start(host: "127.0.0.1:\(server.port)", token: token)
                clients.append(client)
            } catch {
                die("\(error)")
            }
        }
        // A hard stop whatever happens: set-up, the run, and 30 s of slack.
        let budget = options.seconds + options.warmup + 90
        clientLoop.schedule(after: .milliseconds(Int(budget * 1000))) { [self] in
            failure("gave up in phase \(phase) after \(Int(budget)) s")
            finish()
        }
        clientLoop.run()
        ChatServerProcess.killLive()
        if !options.keep { _ = ChatServerProcess.capture(["sh", "-c", "rm -rf '\(dataDir)'; echo ok"]) }
        return errors > 0 ? 1 : 0
    }

    func failure(_ message: String) {
        errors += 1
        if errorSamples.count < 5 {
            errorSamples.append(message)
            printError(message)
        }
    }

    // MARK: Control messages

    func control(_ client: ChatBenchClient, _ value: JSONValue) {
        let type = value["type"]?.stringValue ?? ""
        let ref = value["ref"]?.stringValue
        switch type {
        case "hello":
            hellos += 1
            if hellos == options.connections { allConnected() }
        case "joined":
            joins += 1
            if options.mode == "chat-load" {
                if client.index == 0 {
                    // Connection 0 joins every project, then creates every conversation before anyone
                    // else joins: creation is broadcast to the room.
                    creatorJoins += 1
                    guard creatorJoins == projects.count else { return }
                    phase = "create"
                    for k in 0..<options.connections {
                        client.send("{\"type\":\"new_conversation\",\"project\":\"\(project(k))\",\"ref\":\"nc\(k)\"}")
                    }
                } else {
                    client.send("{\"type\":\"open\",\"conversation\":\"\(client.conversation)\",\"ref\":\"open\"}")
                }
                return
            }
            if joins == options.connections { allJoined() }
        case "conversation_created":
            guard let ref, ref.hasPrefix("nc"), let id = value["conversation"]?["id"]?.stringValue else { return }
            created.append(id)
            if options.mode == "chat-fanout" {
                phase = "open"
                for c in clients { c.conversation = id; c.send("{\"type\":\"open\",\"conversation\":\"\(id)\",\"ref\":\"open\"}") }
            } else if let k = Int(ref.dropFirst(2)), k < clients.count {
                clients[k].conversation = id
                if created.count == options.connections {
                    phase = "join-rest"
                    for c in clients.dropFirst() { c.send("{\"type\":\"join\",\"project\":\"\(project(c.index))\",\"ref\":\"join\"}") }
                    clients[0].send("{\"type\":\"open\",\"conversation\":\"\(clients[0].conversation)\",\"ref\":\"open\"}")
                }
            }
        case "opened":
            opens += 1
            if opens == options.connections { allOpened() }
        case "generation_finished":
            generationFinished(client)
        case "error":
            let code = value["code"]?.stringValue ?? "?"
            if options.mode == "chat-load" && (code == "busy" || code == "queue_full") {
                // Not a failure of the bench: try again shortly, and count it.
                failure("client \(client.index): \(code): \(value["message"]?.stringValue ?? "")")
                clientLoop.schedule(after: .milliseconds(10)) { [self] in sendPrompt(client) }
                return
            }
            failure("client \(client.index): error \(code): \(value["message"]?.stringValue ?? "") (ref \(ref ?? "-"))")
        case "resync":
            failure("client \(client.index): told to resync (fell behind)")
        default:
            break   // presence, ok, prompt_accepted, message_started, message_finished, conversation_updated, ...
        }
    }

    func allConnected() {
        phase = "join"
        if options.mode == "chat-load" {
            for p in projects { clients[0].send("{\"type\":\"join\",\"project\":\"\(p)\",\"ref\":\"join\"}") }
        } else {
            for c in clients { c.send("{\"type\":\"join\",\"project\":\"\(project(0))\",\"ref\":\"join\"}") }
        }
    }

    func allJoined() {
        if options.mode == "chat-fanout" {
            phase = "create"
            clients[0].send("{\"type\":\"new_conversation\",\"project\":\"\(project(0))\",\"ref\":\"nc0\"}")
        }
        // chat-load: the rest open their conversation as they join (below).
    }

    func allOpened() {
        phase = "run"
        if options.mode == "chat-fanout" {
            clients[0].send("{\"type\":\"prompt\",\"conversation\":\"\(clients[0].conversation)\",\"client_id\":\"fanout-1\",\"text\":\"go\",\"ref\":\"p\"}")
            // The window opens after the warm-up's deltas (indexes below warmup × rate are not counted).
            warmupDeltas = Int(options.warmup * Double(options.rate))
            return
        }
        for c in clients {
            if options.thinkMilliseconds > 0 {
                // Conversations start spread over one whole cycle (think plus a streamed answer), so
                // prompts arrive unsynchronized rather than in one burst per cycle.
                let cycle = options.thinkMilliseconds + (options.answerDeltas - 1) * options.answerIntervalMilliseconds
                clientLoop.schedule(after: .microseconds(Int.random(in: 0..<cycle * 1000))) { [self] in sendPrompt(c) }
            } else {
                sendPrompt(c)
            }
        }
        clientLoop.schedule(after: .milliseconds(Int(options.warmup * 1000))) { [self] in
            measuring = true
            measureStart = (clientLoop.now, ChatServerProcess.cpuTicks(serverPID))
                benchCPU.start = ChatServerProcess.cpuTicks(getpid())
                machineBusy.start = ChatServerProcess.machineBusyTicks()
            clientLoop.schedule(after: .milliseconds(Int(options.seconds * 1000))) { [self] in
                measuring = false
                measureEnd = (clientLoop.now, ChatServerProcess.cpuTicks(serverPID))
                benchCPU.end = ChatServerProcess.cpuTicks(getpid())
                machineBusy.end = ChatServerProcess.machineBusyTicks()
                finish()
            }
        }
    }

    func sendPrompt(_ client: ChatBenchClient) {
        guard !stopped else { return }
        client.prompts += 1
        if measuring {
            concurrencySum += generating
            concurrencySamples += 1
        }
        generating += 1
        client.awaitingFirstDelta = true
        client.promptSentAt = CycleClock.now()
        client.send("{\"type\":\"prompt\",\"conversation\":\"\(client.conversation)\",\"client_id\":\"c\(client.index)-\(client.prompts)\",\"text\":\"hi\",\"ref\":\"p\"}")
    }

    // MARK: Deltas and ends

    func delta(_ client: ChatBenchClient, payload: UnsafeRawBufferPointer, readAt: UInt64) {
        // Only a load answer's first delta is stamped; the rest just keep the generation going.
        if options.mode == "chat-load" && !client.awaitingFirstDelta { return }
        guard let (a, b) = ChatBenchClient.stamps(payload) else {
            failure("client \(client.index): a delta without a stamp")
            return
        }
        if options.mode == "chat-fanout" {
            client.deltas += 1
            if Int(b) == warmupDeltas && measureStart.at == 0 {
                measureStart = (clientLoop.now, ChatServerProcess.cpuTicks(serverPID))
                benchCPU.start = ChatServerProcess.cpuTicks(getpid())
                machineBusy.start = ChatServerProcess.machineBusyTicks()
            }
            if Int(b) >= warmupDeltas { latencies.append(CycleClock.tenthsOfMicroseconds(readAt &- a)) }
            return
        }
        guard client.awaitingFirstDelta else { return }
        client.awaitingFirstDelta = false
        guard measuring else { return }
        let total = readAt &- client.promptSentAt
        let provider = a &- b
        rawLatencies.append(CycleClock.tenthsOfMicroseconds(total))
        beforeProvider.append(CycleClock.tenthsOfMicroseconds(b &- client.promptSentAt))
        afterProvider.append(CycleClock.tenthsOfMicroseconds(readAt &- a))
        latencies.append(CycleClock.tenthsOfMicroseconds(total > provider ? total - provider : 0))
    }

    func generationFinished(_ client: ChatBenchClient) {
        if options.mode == "chat-fanout" {
            guard !client.finished else { return }
            client.finished = true
            generationsFinished += 1
            if generationsFinished == options.connections {
                measureEnd = (clientLoop.now, ChatServerProcess.cpuTicks(serverPID))
                benchCPU.end = ChatServerProcess.cpuTicks(getpid())
                machineBusy.end = ChatServerProcess.machineBusyTicks()
                finish()
            }
            return
        }
        generating -= 1
        if measuring { completedPrompts += 1 }
        if options.thinkMilliseconds > 0 {
            // Think times vary (±50%) so that conversations do not stay in step.
            let think = options.thinkMilliseconds * 1000
            clientLoop.schedule(after: .microseconds(Int.random(in: think / 2...think * 3 / 2))) { [self] in sendPrompt(client) }
        } else {
            sendPrompt(client)
        }
    }

    func finish() {
        guard !stopped else { return }
        stopped = true
        report()
        clientLoop.stop()
    }

    func report() {
        let elapsed = Double(measureEnd.at &- measureStart.at) / 1e9
        let cpu = elapsed > 0 ? Double(measureEnd.serverCPU - measureStart.serverCPU) / elapsed : 0   // ticks/s = % of a core
        let benchPercent = elapsed > 0 ? Int(Double(benchCPU.end - benchCPU.start) / elapsed) : 0
        // Everything else the machine ran meanwhile: a run is only comparable on a quiet machine.
        let others = elapsed > 0 ? Int(Double(machineBusy.end - machineBusy.start) / elapsed) - benchPercent
            - Int(Double(measureEnd.serverCPU - measureStart.serverCPU) / elapsed) : 0
        printError("\(options.mode): \(projects.count) project(s); the fake provider saw \(providerConfig.requests) requests "
            + "(mean body \(providerConfig.requestBodyBytes / max(providerConfig.requests, 1)) B) on \(providerConfig.connections) connections; "
            + "bench process CPU \(benchPercent)% of a core; other processes \(others)% of a core"
            + (options.mode == "chat-load" ? "; generations in progress when a prompt was sent: \(concurrencySum / max(concurrencySamples, 1)) on average" : ""))
        let sorted = latencies.sorted()
        let p = { (q: Double) in format2(percentile(sorted, q) / 1000) }
        if options.mode == "chat-fanout" {
            let expected = providerConfig.streamChunks * options.connections
            let received = clients.reduce(0) { $0 + $1.deltas }
            if received != expected { failure("\(expected - received) of \(expected) deltas missing") }
            let maxMs = format2(Double(sorted.last ?? 0) / 10_000)
            print("| fan-out | \(options.loops) | \(options.connections) | \(options.rate)/s | \(Int(Double(sorted.count) / max(elapsed, 0.001))) | "
                + "\(p(0.50)) | \(p(0.99)) | \(p(0.999)) | \(maxMs) | \(Int(cpu))% | \(errors) |")
        } else {
            let raw = rawLatencies.sorted()
            let r = { (q: Double) in format2(percentile(raw, q) / 1000) }
            let before = beforeProvider.sorted()
            let after = afterProvider.sorted()
            let split = "\(format2(percentile(before, 0.5) / 1000)) / \(format2(percentile(before, 0.99) / 1000)) | "
                + "\(format2(percentile(after, 0.5) / 1000)) / \(format2(percentile(after, 0.99) / 1000)) | "
            print("| load | \(options.loops) | \(options.connections) | \(options.thinkMilliseconds) ms | \(options.delayMilliseconds) ms | "
                + "\(Int(Double(completedPrompts) / max(elapsed, 0.001))) | \(r(0.50)) | \(r(0.99)) | \(p(0.50)) | \(p(0.99)) | " + split
                + "\(Int(cpu))% | \(errors) |")
        }
    }
}
