import CSystem
import Dispatch
import Glibc
import MCP
import Net

/// `mcp-calls` and `mcp-failover`: `echo` tool calls through `MCPManager` (on one loop) to the
/// official Python SDK test server, Tests/Peers/mcp_test_server.py.
///
///   builderai-bench mcp-calls --transport stdio|http --concurrency N --seconds S [--python PATH] [--server-cpus LIST]
///   builderai-bench mcp-failover [--rounds R] [--down-ms MS] [--python PATH] [--server-cpus LIST]
///
/// The Python server's own time dominates a call's latency, so `mcp-calls` also reports the loop
/// thread's CPU per call: what our client costs whatever the server. With `--server-cpus` the
/// servers start under `taskset -c LIST` instead of inheriting the bench's pinning.
enum MCPBench {
    static let script = "Tests/Peers/mcp_test_server.py"

    static func runIfAsked() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let mode = args.first, mode == "mcp-calls" || mode == "mcp-failover" else { return }
        var transport = "stdio"
        var concurrency = 1
        var seconds = 5.0
        var rounds = 3
        var downMilliseconds = 0.0
        var command = ServerCommand()
        var i = 1
        while i < args.count {
            guard i + 1 < args.count else { die("\(args[i]) needs a value") }
            switch args[i] {
            case "--transport": transport = args[i + 1]
            case "--concurrency": concurrency = Int(args[i + 1]) ?? 0
            case "--seconds": seconds = Double(args[i + 1]) ?? 0
            case "--rounds": rounds = Int(args[i + 1]) ?? 0
            case "--down-ms": downMilliseconds = Double(args[i + 1]) ?? 0
            case "--python": command.python = args[i + 1]
            case "--server-cpus": command.cpus = args[i + 1]
            default: die("unknown option \(args[i])")
            }
            i += 2
        }
        guard transport == "stdio" || transport == "http", concurrency > 0, seconds > 0, rounds > 0 else {
            die("\(mode): --transport must be stdio or http; --concurrency, --seconds and --rounds positive")
        }
        guard access(command.python, X_OK) == 0, access(script, R_OK) == 0 else {
            die("\(mode) needs \(command.python) with the MCP SDK (make venv) and \(script) (run from the package root)")
        }
        Log.level = .warning
        // The first use sleeps 100 ms to measure the TSC rate; keep that out of every measurement.
        _ = CycleClock.nanosecondsPerTick
        atexit { for pid in liveServers.withLock({ $0 }) { kill(pid, SIGKILL) } }
        if mode == "mcp-calls" {
            calls(transport: transport, concurrency: concurrency, seconds: seconds, command: command)
        }
        for round in 1...rounds { failoverRound(round, downMilliseconds: downMilliseconds, command: command) }
        exit(0)
    }

    // MARK: mcp-calls

    static func calls(transport: String, concurrency: Int, seconds: Double, command: ServerCommand) -> Never {
        let (group, loop) = startLoop()
        let manager = MCPManager(loops: [loop])
        var server: HTTPTestServer?
        let endpoint: MCPServerDefinition.Endpoint
        if transport == "http" {
            server = HTTPTestServer(command, name: "bench")
            endpoint = .streamableHTTP(url: "http://127.0.0.1:\(server!.port)/mcp", headers: [:])
        } else {
            let argv = command.argv(["--transport", "stdio", "--name", "bench"])
            endpoint = .stdio(executable: argv[0], arguments: Array(argv.dropFirst()),
                              environment: childEnvironment(), workingDirectory: nil)
        }
        do { try manager.add(MCPServerDefinition(name: "bench", endpoint: endpoint)) } catch { die("\(error)") }
        manager.start()
        waitUntil(seconds: 30, "bench is not healthy") { manager.server("bench")?.state == .healthy }

        let pump = CallPump(manager: manager, loop: loop, tool: "bench__echo")
        loop.execute { pump.launch(concurrency) }
        usleep(1_000_000)
        loop.execute { pump.beginMeasuring() }
        usleep(UInt32(seconds * 1_000_000))
        let drained = DispatchSemaphore(value: 0)
        loop.execute { pump.stop(drained) }
        if drained.wait(timeout: .now() + .seconds(60)) == .timedOut { die("calls still in flight 60 s after the end") }

        let sorted = pump.latencies.sorted()
        let elapsed = Double(pump.measuredTicks) * CycleClock.nanosecondsPerTick / 1e9
        let finished = pump.completed + pump.errors
        let cpuPerCall = Double(pump.measuredCPU) / Double(max(finished, 1)) / 1000
        print("| \(transport) | \(concurrency) | \(Int(Double(pump.completed) / elapsed)) | "
            + "\(format2(percentile(sorted, 0.5))) | \(format2(percentile(sorted, 0.99))) | \(format2(cpuPerCall)) | \(pump.errors) |")
        pump.reportErrors("\(transport) ×\(concurrency)")
        blocking { await manager.shutdown(grace: .seconds(2)) }
        group.shutdown()
        server?.kill()
        exit(pump.errors == 0 ? 0 : 1)
    }

    // MARK: mcp-failover

    /// Two HTTP replicas in one group, eight calls in flight: replica A is killed and restarted on its
    /// port once the manager saw it go (or after `downMilliseconds`, if later). "Back to healthy"
    /// counts from A listening again, so Python's start-up is not in it.
    static func failoverRound(_ round: Int, downMilliseconds: Double, command: ServerCommand) {
        let transitions = Locked<[(at: UInt64, server: String, state: MCPServerState)]>([])
        let (group, loop) = startLoop()
        let manager = MCPManager(loops: [loop]) { report in
            transitions.withLock { $0.append((CycleClock.now(), report.server, report.state)) }
        }
        var replicaA = HTTPTestServer(command, name: "replica-a")
        let replicaB = HTTPTestServer(command, name: "replica-b")
        for (name, server) in [("a", replicaA), ("b", replicaB)] {
            var definition = MCPServerDefinition(name: name, group: "pool",
                                                 endpoint: .streamableHTTP(url: "http://127.0.0.1:\(server.port)/mcp", headers: [:]))
            definition.healthInterval = .milliseconds(200)
            definition.healthTimeout = .milliseconds(500)
            do { try manager.add(definition) } catch { die("\(error)") }
        }
        manager.start()
        waitUntil(seconds: 30, "the replicas are not healthy") {
            manager.server("a")?.state == .healthy && manager.server("b")?.state == .healthy
        }
        let pump = CallPump(manager: manager, loop: loop, tool: "pool__echo")
        loop.execute { pump.launch(8) }
        usleep(1_000_000)

        let watching = DispatchSemaphore(value: 0)
        loop.execute { pump.beginWatching(watching) }
        watching.wait()
        let killedAt = CycleClock.now()
        replicaA.kill()
        let detected = waitForTransition(transitions, server: "a", after: killedAt, seconds: 10) { $0 != .healthy }
        usleep(UInt32(max(0, downMilliseconds - milliseconds(detected &- killedAt)) * 1000))
        replicaA = HTTPTestServer(command, name: "replica-a", port: replicaA.port)
        let listeningAt = CycleClock.now()
        let healthy = waitForTransition(transitions, server: "a", after: listeningAt, seconds: 120) { $0 == .healthy }

        let drained = DispatchSemaphore(value: 0)
        loop.execute { pump.stop(drained) }
        if drained.wait(timeout: .now() + .seconds(60)) == .timedOut { die("calls still in flight 60 s after the end") }
        print("| \(format2(milliseconds(detected &- killedAt))) | \(pump.errors) | "
            + "\(format2(milliseconds(pump.longestGap))) | \(format2(milliseconds(healthy &- listeningAt))) |")
        pump.reportErrors("failover round \(round)")
        blocking { await manager.shutdown(grace: .seconds(1)) }
        group.shutdown()
        replicaA.kill()
        replicaB.kill()
    }

    /// When `server` first reported a state that passes `test` after `after` (TSC ticks).
    static func waitForTransition(_ transitions: Locked<[(at: UInt64, server: String, state: MCPServerState)]>,
                                  server: String, after: UInt64, seconds: Int,
                                  _ test: (MCPServerState) -> Bool) -> UInt64 {
        var found: UInt64?
        waitUntil(seconds: seconds, "\(server) did not change state") {
            found = transitions.withLock { $0.first { $0.server == server && $0.at > after && test($0.state) }?.at }
            return found != nil
        }
        return found!
    }

    static func milliseconds(_ ticks: UInt64) -> Double { Double(ticks) * CycleClock.nanosecondsPerTick / 1e6 }

    // MARK: Helpers

    static func startLoop() -> (EventLoopGroup, EventLoop) {
        do {
            let group = try EventLoopGroup(loopCount: 1)
            try group.start()
            return (group, group.loops[0])
        } catch {
            die("\(error)")
        }
    }

    static func waitUntil(seconds: Int, _ failure: String, _ condition: () -> Bool) {
        let deadline = MonotonicClock.now() &+ UInt64(seconds) * 1_000_000_000
        while !condition() {
            guard MonotonicClock.now() < deadline else { die("\(failure) after \(seconds) s") }
            usleep(1_000)
        }
    }

    /// Runs async manager calls from the driver thread, which is no task's.
    @discardableResult
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await body()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    /// What a Python child needs of our environment.
    static func childEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }
}

/// How to start the test server: the venv's Python, under `taskset -c cpus` when given.
struct ServerCommand {
    var python = ".venv/bin/python"
    var cpus: String?

    /// The server's argv; argv[0] is looked up in PATH when it has no slash.
    func argv(_ arguments: [String]) -> [String] {
        let server = [python, MCPBench.script] + arguments
        return cpus.map { ["taskset", "-c", $0] + server } ?? server
    }
}

/// Servers we started ourselves, killed at exit whatever path the exit takes.
private let liveServers = Locked<Set<Int32>>([])

/// A Streamable HTTP test server (the manager spawns only stdio servers): the port is the first
/// line of its stdout; it dies by SIGKILL, as a crashed replica would.
private struct HTTPTestServer {
    let pid: Int32
    let port: Int
    private let stdout: Int32

    init(_ command: ServerCommand, name: String, port: Int = 0) {
        var fds: [Int32] = [-1, -1]
        guard csystem_pipe2(&fds, O_CLOEXEC) == 0 else { die("pipe2: \(String(cString: strerror(errno)))") }
        let arguments = command.argv(["--transport", "streamable-http", "--port", String(port), "--name", name])
        let pid = spawnChild(arguments, environment: MCPBench.childEnvironment(), stdoutFD: fds[1], stderrFD: 2)
        close(fds[1])
        liveServers.withLock { _ = $0.insert(pid) }
        self.pid = pid
        self.stdout = fds[0]
        self.port = HTTPTestServer.readPort(fds[0], pid: pid)
    }

    private static func readPort(_ fd: Int32, pid: Int32) -> Int {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while !line.contains(10) {
            guard poll(&waiting, 1, 30_000) == 1, read(fd, &byte, 1) == 1 else { die("test server \(pid) printed no port") }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line.dropLast(), as: UTF8.self)) else { die("test server printed no port") }
        return port
    }

    func kill() {
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        close(stdout)
        liveServers.withLock { _ = $0.remove(pid) }
    }
}

/// Keeps a fixed number of calls in flight: each completion starts the next. Used only on its loop.
private final class CallPump: @unchecked Sendable {
    // Invariant: every var is touched only on `loop`; the driver reads them after `stop`'s
    // semaphore, which the loop signals once the last call is back.
    let manager: MCPManager
    let loop: EventLoop
    let tool: String
    let arguments: JSONValue = .object(["text": .string("ping")])
    private var running = true
    private var inFlight = 0
    private var drained: DispatchSemaphore?
    private var measuring = false
    private var measureStart: (ticks: UInt64, cpu: UInt64) = (0, 0)
    private(set) var measuredTicks: UInt64 = 0
    private(set) var measuredCPU: UInt64 = 0
    private(set) var latencies: [UInt32] = []
    private(set) var completed = 0
    private(set) var errors = 0
    private var errorKinds: [String: Int] = [:]
    private var lastSuccess: UInt64 = 0
    private(set) var longestGap: UInt64 = 0

    init(manager: MCPManager, loop: EventLoop, tool: String) {
        self.manager = manager
        self.loop = loop
        self.tool = tool
        latencies.reserveCapacity(1 << 20)
    }

    func launch(_ count: Int) {
        for _ in 0..<count { issue() }
    }

    func beginMeasuring() {
        measuring = true
        measureStart = (CycleClock.now(), threadCPUNanoseconds())
    }

    /// Failover rounds count every call from here, and the gaps between successes.
    func beginWatching(_ ready: DispatchSemaphore) {
        measuring = true
        ready.signal()
    }

    func stop(_ drained: DispatchSemaphore) {
        if measureStart.ticks != 0 {
            measuredTicks = CycleClock.now() &- measureStart.ticks
            measuredCPU = threadCPUNanoseconds() &- measureStart.cpu
        }
        if lastSuccess != 0 { longestGap = max(longestGap, CycleClock.now() &- lastSuccess) }
        measuring = false
        running = false
        self.drained = drained
        if inFlight == 0 { drained.signal() }
    }

    func reportErrors(_ label: String) {
        for (kind, count) in errorKinds.sorted(by: { $0.key < $1.key }) { printError("\(label): \(count)× \(kind)") }
    }

    private func issue() {
        inFlight += 1
        let started = CycleClock.now()
        manager.callTool(tool, arguments: arguments, on: loop) { [self] result in finish(result, started: started) }
    }

    private func finish(_ result: Result<MCPToolResult, MCPError>, started: UInt64) {
        inFlight -= 1
        let now = CycleClock.now()
        if measuring {
            switch result {
            case .success(let answer) where !answer.isError:
                completed += 1
                latencies.append(CycleClock.tenthsOfMicroseconds(now &- started))
                if lastSuccess != 0 { longestGap = max(longestGap, now &- lastSuccess) }
            case .success:
                errors += 1
                errorKinds["tool error", default: 0] += 1
            case .failure(let error):
                errors += 1
                errorKinds[String(describing: error).prefix(120).description, default: 0] += 1
            }
        }
        if case .success(let answer) = result, !answer.isError { lastSuccess = now }
        if running { issue() } else if inFlight == 0 { drained?.signal() }
    }
}
