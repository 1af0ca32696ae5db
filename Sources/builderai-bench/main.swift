import CSystem
import Glibc
import Net

/// builderai-bench: a WebSocket load generator for /ws/echo.
///
///   builderai-bench echo --port P [--host H] [--connections N] [--in-flight K] [--size BYTES] [--seconds S]
///   builderai-bench idle --port P --server-pid PID [--connections N]
///   builderai-bench chat-fanout|chat-load --server BIN [...]   (ChatBench.swift)
///   builderai-bench calibrate-fanout|calibrate-relay|machine-stalls [...]   (CalibrationBench.swift)
///
/// It runs on one thread (pin it with taskset), checks every echo byte for byte and in order, and prints
/// one Markdown table row with messages/s and round-trip latency percentiles.
struct BenchOptions {
    var mode = "echo"
    var host = "127.0.0.1"
    var port = 8080
    var path = "/ws/echo"
    var connections = 100
    var inFlight = 1
    var ownerNumbered = false
    var loops = 2
    var size = 32
    var seconds = 5.0
    var warmup = 1.0
    var serverPID: Int32 = 0
    var busyPollMicroseconds = 0
}

func die(_ message: String) -> Never {
    printError(message)
    exit(64)
}

func printError(_ message: String) {
    let line = Array("builderai-bench: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// `store-write`, `store-read` and `crash-writer` take `--data-dir`, `--producers`, `--seconds`,
/// `--messages`; they never return.
func runStoreModeIfAsked() {
    let args = Array(CommandLine.arguments.dropFirst())
    guard let mode = args.first, ["crash-writer", "store-write", "store-read", "llm-stream"].contains(mode) else { return }
    var dataDir = ""
    var producers = 1
    var seconds = 5.0
    var messages = 1_000_000
    var inFlight = 1
    var ownerNumbered = false
    var loops = 2
    var i = 1
    while i + 1 < args.count {
        switch args[i] {
        case "--data-dir": dataDir = args[i + 1]
        case "--producers": producers = Int(args[i + 1]) ?? 0
        case "--seconds": seconds = Double(args[i + 1]) ?? 0
        case "--messages": messages = Int(args[i + 1]) ?? 0
        case "--in-flight": inFlight = Int(args[i + 1]) ?? 0
        case "--path": ownerNumbered = args[i + 1] == "insert"
        case "--loops": loops = Int(args[i + 1]) ?? 0
        default: die("unknown option \(args[i])")
        }
        i += 2
    }
    if mode == "llm-stream" {
        LLMStreamBench.run(streams: max(1, producers), chunks: max(1, messages), interval: .milliseconds(Int(seconds)))
    }
    guard !dataDir.isEmpty, producers > 0 else { die("\(mode) needs --data-dir and a positive --producers") }
    switch mode {
    case "crash-writer": StoreBench.crashWriter(dataDir: dataDir, producers: producers)
    case "store-write": StoreBench.writeBenchmark(dataDir: dataDir, producers: producers, inFlight: max(1, inFlight), seconds: seconds,
                                                    loops: max(1, loops), ownerNumbered: ownerNumbered)
    default: StoreBench.readBenchmark(dataDir: dataDir, total: messages, reads: 20_000)
    }
}

func parseOptions() -> BenchOptions {
    var options = BenchOptions()
    var args = Array(CommandLine.arguments.dropFirst())
    guard !args.isEmpty else { die("usage: builderai-bench echo|idle|store-write|store-read|crash-writer [options]") }
    options.mode = args.removeFirst()
    guard options.mode == "echo" || options.mode == "idle" else { die("mode must be echo or idle") }
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { die("\(args[i - 1]) needs a value") }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--host": options.host = value()
        case "--port": options.port = Int(value()) ?? 0
        case "--path": options.path = value()
        case "--connections": options.connections = Int(value()) ?? 0
        case "--in-flight": options.inFlight = Int(value()) ?? 0
        case "--size": options.size = Int(value()) ?? 0
        case "--seconds": options.seconds = Double(value()) ?? 0
        case "--warmup": options.warmup = Double(value()) ?? 0
        case "--server-pid": options.serverPID = Int32(value()) ?? 0
        case "--busy-poll-us": options.busyPollMicroseconds = Int(value()) ?? 0
        default: die("unknown option \(args[i])")
        }
        i += 1
    }
    guard options.port > 0, options.connections > 0, options.inFlight > 0, options.seconds > 0 else {
        die("--port, --connections, --in-flight and --seconds must be positive")
    }
    if options.mode == "idle" && options.serverPID <= 0 { die("idle mode needs --server-pid") }
    return options
}

/// A blocking connect, then non-blocking from there on: set-up speed does not matter, and the
/// handshake is written to an established socket.
func connectBlocking(_ address: SocketAddress) -> Int32? {
    guard let fd = try? Socket.connect(to: address) else { return nil }
    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    guard poll(&pfd, 1, 5_000) == 1, Socket.pendingError(fd) == 0 else {
        close(fd)
        return nil
    }
    return fd
}

func residentKiB(pid: Int32) -> Int {
    guard let file = fopen("/proc/\(pid)/status", "r") else { return -1 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = cString(line)
        if text.hasPrefix("VmRSS:") {
            return Int(text.dropFirst(6).filter { $0.isNumber }) ?? -1
        }
    }
    return -1
}

func percentile(_ sorted: [UInt32], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return Double(sorted[max(0, index)]) / 10.0
}

func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func format2(_ value: Double) -> String {
    let scaled = Int((value * 100).rounded())
    let fraction = scaled % 100
    return "\(scaled / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

/// Owns the run: connects every client, then drives the phases on the loop's timers.
final class BenchDriver {
    let options: BenchOptions
    let loop: EventLoop
    let run: BenchRun
    let baselineRSS: Int
    var clients: [BenchClient] = []
    /// CPU ticks (100 Hz) of the server and of this process when measuring began: which side was
    /// the bottleneck, and the server's CPU per message, a throughput ceiling that does not depend
    /// on the load generator keeping up.
    var serverTicksAtStart = 0
    var ownTicksAtStart = 0

    init(options: BenchOptions) {
        self.options = options
        do { loop = try EventLoop(index: 0) } catch { die("\(error)") }
        _ = CycleClock.nanosecondsPerTick
        loop.busyPoll = .microseconds(options.busyPollMicroseconds)
        run = BenchRun(payloadSize: options.size, inFlight: options.inFlight)
        baselineRSS = options.mode == "idle" ? residentKiB(pid: options.serverPID) : 0
    }

    func start() -> Int32 {
        let address: SocketAddress
        do { address = try SocketAddress(host: options.host, port: options.port) } catch { die("\(error)") }
        for _ in 0..<options.connections {
            guard let fd = connectBlocking(address) else { die("cannot connect to \(address) after \(clients.count) connections") }
            do {
                let connection = try Connection(fd: fd, peer: address, loop: loop, counter: nil)
                let client = BenchClient(connection: connection, run: run, path: options.path,
                                         host: "\(options.host):\(options.port)", echo: options.mode == "echo")
                connection.handler = client
                client.start()
                clients.append(client)
            } catch {
                die("\(error)")
            }
        }
        let deadline = loop.now &+ 60_000_000_000
        loop.schedule(after: .milliseconds(1)) { self.waitForHandshakes(deadline: deadline) }
        loop.run()
        return run.errors > 0 ? 1 : 0
    }

    func report() {
        if options.mode == "idle" {
            let rss = residentKiB(pid: options.serverPID)
            let perConnection = Double(rss - baselineRSS) / Double(options.connections)
            print("| idle | \(options.connections) | - | - | - | - | - | - | \(format2(perConnection)) KiB/conn (server RSS \(baselineRSS) → \(rss) KiB) | - | - | - | \(run.failedHandshakes) |")
        } else {
            let sorted = run.latencies.sorted()
            let rate = Double(run.completed) / options.seconds
            let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
            let ownPercent = Double(ChatServerProcess.cpuTicks(getpid()) - ownTicksAtStart) / ticksPerSecond / options.seconds * 100
            var serverColumns = "- | -"
            if options.serverPID > 0 {
                let serverSeconds = Double(ChatServerProcess.cpuTicks(options.serverPID) - serverTicksAtStart) / ticksPerSecond
                let perMessage = run.completed > 0 ? serverSeconds / Double(run.completed) * 1e6 : 0
                serverColumns = "\(Int((serverSeconds / options.seconds * 100).rounded()))% | \(format2(perMessage))"
            }
            print("| echo | \(options.connections) | \(options.inFlight) | \(options.size) B | \(Int(rate)) | "
                + "\(format2(percentile(sorted, 0.50))) | \(format2(percentile(sorted, 0.99))) | \(format2(percentile(sorted, 0.999))) | - | "
                + "\(serverColumns) | \(Int(ownPercent.rounded()))% | \(run.errors + run.failedHandshakes) |")
        }
    }

    /// Phases on the loop's timers: wait for every handshake, warm up, measure, report.
    func waitForHandshakes(deadline: UInt64) {
        if run.established + run.failedHandshakes >= options.connections {
            if run.failedHandshakes > 0 { printError("\(run.failedHandshakes) handshakes failed") }
            if options.mode == "idle" {
                loop.schedule(after: .seconds(2)) {
                    self.report()
                    self.loop.stop()
                }
                return
            }
            for client in clients { client.beginEcho() }
            loop.schedule(after: .milliseconds(Int(options.warmup * 1000))) {
                self.run.measuring = true
                if self.options.serverPID > 0 { self.serverTicksAtStart = ChatServerProcess.cpuTicks(self.options.serverPID) }
                self.ownTicksAtStart = ChatServerProcess.cpuTicks(getpid())
                self.loop.schedule(after: .milliseconds(Int(self.options.seconds * 1000))) {
                    self.run.measuring = false
                    self.report()
                    self.loop.stop()
                }
            }
            return
        }
        if loop.now > deadline { die("only \(run.established) of \(options.connections) handshakes completed") }
        loop.schedule(after: .milliseconds(20)) { self.waitForHandshakes(deadline: deadline) }
    }
}

signal(SIGPIPE, SIG_IGN)
MemoryTuning.apply()
runCalibrationModeIfAsked()
LLMDecodeBench.runIfAsked()
MCPBench.runIfAsked()
ChatBench.runIfAsked()
APIBench.runIfAsked()
runStoreModeIfAsked()
Socket.raiseOpenFileLimit()
exit(BenchDriver(options: parseOptions()).start())
