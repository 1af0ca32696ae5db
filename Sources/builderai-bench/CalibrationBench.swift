import CSystem
import Glibc
import Net

/// The machine's floor, printed by `make bench` beside the real benchmarks: the fan-out and relay
/// patterns done by code that does the minimum (raw sockets, epoll, pinned pthreads, no event loop),
/// and the vCPU's own stalls, so a latency target can be judged against what this VM allows at all.
///
///   builderai-bench calibrate-fanout [--connections 1000] [--rate 50] [--seconds 10] [--warmup 1] [--size 120]
///   builderai-bench calibrate-relay  [--streams 1000] [--interval-ms 20] [--chunks 500] [--size 200]
///   builderai-bench machine-stalls   [--seconds 10]
///   builderai-bench calibrate-echo   --port P
///   builderai-bench calibrate-curl-relay [--streams 1000] [--interval-ms 20] [--chunks 500]  (CalibrationCurlRelay.swift)
///
/// - calibrate-fanout: N loopback TCP pairs. A sender thread on core 0 sends one message to every
///   pair `rate` times a second (absolute deadlines); the main thread on core 1 reads them with epoll.
///   Latency runs from the start of the send round, as a chat delta's fan-out would.
/// - calibrate-relay: a writer thread on core 1 writes one chunk per stream every interval, each
///   stream at a random fixed phase; the main thread on core 0 reads with epoll, one read per ready
///   socket. Latency runs from the actual write.
/// - machine-stalls: spins on the TSC and counts gaps between consecutive reads (time this thread was
///   not running): one spinner on core 0 with core 1 idle, then one spinner on each core at once.
///   Each phase lasts --seconds, so the mode takes twice that.
/// - calibrate-echo: the least a WebSocket echo server can do, run on the calling thread until killed
///   (`make bench` pins it to core 0 and measures it with `builderai-bench echo --server-pid`, like
///   the real servers): level-triggered epoll, the opening handshake answered from its key alone,
///   then per ready socket one `recv`, unmask, a server frame, one `send`. No event loop, timers,
///   limits, UTF-8 check or buffering beyond a frame split across reads.
///
/// Messages carry the TSC in their first 8 bytes. One Markdown row per run (per spinner for stalls);
/// any error (short send, missing or extra data) goes to stderr with exit status 1.
func runCalibrationModeIfAsked() {
    let args = Array(CommandLine.arguments.dropFirst())
    guard let mode = args.first else { return }
    var options: [String: Double]
    switch mode {
    case "calibrate-fanout": options = ["--connections": 1000, "--rate": 50, "--seconds": 10, "--warmup": 1, "--size": 120]
    case "calibrate-relay": options = ["--streams": 1000, "--interval-ms": 20, "--chunks": 500, "--size": 200]
    case "machine-stalls": options = ["--seconds": 10]
    case "calibrate-echo": options = ["--port": 0]
    case "calibrate-curl-relay": options = ["--streams": 1000, "--interval-ms": 20, "--chunks": 500]
    default: return
    }
    var i = 1
    while i < args.count {
        guard options[args[i]] != nil else { die("\(mode): unknown option \(args[i])") }
        guard i + 1 < args.count, let value = Double(args[i + 1]), value >= 0 else { die("\(args[i]) needs a number ≥ 0") }
        options[args[i]] = value
        i += 2
    }
    let cores = CalibrationBench.cores()
    switch mode {
    case "calibrate-fanout":
        let rate = Int(options["--rate"]!)
        let rounds = Int((options["--seconds"]! * Double(rate)).rounded())
        guard rate > 0, rounds > 0, Int(options["--size"]!) >= 8, Int(options["--connections"]!) > 0 else {
            die("calibrate-fanout needs --connections, --rate and --seconds > 0 and --size ≥ 8")
        }
        CalibrationBench.fanOut(connections: Int(options["--connections"]!), rate: rate, rounds: rounds,
                                warmupRounds: Int((options["--warmup"]! * Double(rate)).rounded()),
                                size: Int(options["--size"]!), senderCore: cores.0, readerCore: cores.1)
    case "calibrate-relay":
        let interval = Int(options["--interval-ms"]!)
        guard interval > 0, Int(options["--chunks"]!) > 0, Int(options["--size"]!) >= 8, Int(options["--streams"]!) > 0 else {
            die("calibrate-relay needs --streams, --interval-ms and --chunks > 0 and --size ≥ 8")
        }
        CalibrationBench.relay(streams: Int(options["--streams"]!), intervalMilliseconds: interval,
                               chunks: Int(options["--chunks"]!), size: Int(options["--size"]!),
                               readerCore: cores.0, writerCore: cores.1)
    case "calibrate-curl-relay":
        guard Int(options["--interval-ms"]!) > 0, Int(options["--chunks"]!) > 0, Int(options["--streams"]!) > 0 else {
            die("calibrate-curl-relay needs --streams, --interval-ms and --chunks > 0")
        }
        CalibrationBench.curlRelay(streams: Int(options["--streams"]!), intervalMilliseconds: Int(options["--interval-ms"]!),
                                   chunks: Int(options["--chunks"]!), readerCore: cores.0, writerCore: cores.1)
    case "calibrate-echo":
        guard let port = UInt16(exactly: options["--port"]!), port > 0 else { die("calibrate-echo needs --port") }
        CalibrationBench.echo(port: port)
    default:
        guard options["--seconds"]! > 0 else { die("machine-stalls needs --seconds > 0") }
        CalibrationBench.stalls(seconds: options["--seconds"]!, cores: cores)
    }
}

enum CalibrationBench {
    /// Written by one worker thread; read by the main thread only after pthread_join.
    final class Tally: @unchecked Sendable {
        /// Fan-out: time in the measured rounds' send loops. Stalls: time in gaps ≥ 20 µs.
        var ticks: UInt64 = 0
        /// Stalls: gaps at or above each of `stallLimitsMilliseconds`, and the longest gap.
        var counts = [Int](repeating: 0, count: stallLimitsMilliseconds.count)
        var longest: UInt64 = 0
    }

    static let stallLimitsMilliseconds = [0.1, 0.5, 1, 2, 5]

    static func fail(_ message: String) -> Never {
        printError(message)
        exit(1)
    }

    /// Cores 0 and 1, or core 0 twice on a one-CPU machine.
    static func cores() -> (Int32, Int32) {
        if sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 { return (0, 1) }
        printError("fewer than 2 online CPUs: every thread is pinned to core 0")
        return (0, 0)
    }

    static func pin(_ core: Int32) {
        guard csystem_pin_current_thread(core) == 0 else { fail("cannot pin a thread to core \(core) (errno \(errno))") }
    }

    static func startPinned(_ name: String, core: Int32, _ body: @escaping @Sendable () -> Void) -> pthread_t {
        do {
            return try startThread(name: name) {
                pin(core)
                body()
            }
        } catch {
            fail("\(error)")
        }
    }

    static func sleep(nanoseconds: UInt64, absolute: Bool) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while clock_nanosleep(CLOCK_MONOTONIC, absolute ? TIMER_ABSTIME : 0, &request, &remaining) == EINTR {
            if !absolute { request = remaining }
        }
    }

    // MARK: Sockets

    /// `count` connected loopback TCP pairs: (accepted side, TCP_NODELAY, for writing; connecting
    /// side, for reading). Blocking sockets: reads only follow epoll readiness, and a writer that
    /// blocks is itself a result.
    static func loopbackPairs(_ count: Int) -> (accepted: [Int32], connected: [Int32]) {
        let limit = Socket.raiseOpenFileLimit()
        guard limit >= 2 * count + 16 else { fail("\(count) pairs need \(2 * count + 16) open files; the limit is \(limit)") }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1024) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard listener >= 0, listening else { fail("cannot listen on 127.0.0.1 (errno \(errno))") }
        var accepted: [Int32] = []
        var connected: [Int32] = []
        for _ in 0..<count {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) }
            }
            let server = rc == 0 ? accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue)) : -1
            guard client >= 0, server >= 0 else { fail("loopback pair \(accepted.count + 1) failed (errno \(errno))") }
            setsockopt(server, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
            accepted.append(server)
            connected.append(client)
        }
        close(listener)
        return (accepted, connected)
    }

    static func closeAll(_ pairs: (accepted: [Int32], connected: [Int32])) {
        for fd in pairs.accepted + pairs.connected { close(fd) }
    }

    struct Reads {
        /// now − stamp, in TSC ticks, sorted.
        var latencies: [UInt64]
        var cpuNanoseconds: UInt64
        /// TSC at the first and the last recorded read.
        var first: UInt64
        var last: UInt64
    }

    /// Reads `perSocket` messages of `size` bytes from every socket on the calling thread: epoll,
    /// level-triggered, one read per ready socket, several messages per read when they queued up.
    /// Records latencies (and thread CPU) only after each socket's first `skip` messages.
    static func readStamped(_ fds: [Int32], size: Int, perSocket: Int, skip: Int, silenceMilliseconds: Int32) -> Reads {
        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { fail("epoll_create1 (errno \(errno))") }
        for (index, fd) in fds.enumerated() {
            var ev = epoll_event()
            ev.events = EPOLLIN.rawValue
            ev.data.u32 = UInt32(index)
            guard epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 else { fail("epoll_ctl (errno \(errno))") }
        }
        let maxEvents = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        let readSize = 16_384
        // A message split across reads (rare) is carried to the front of the next read's buffer.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size + readSize, alignment: 16)
        let carry = UnsafeMutableRawPointer.allocate(byteCount: fds.count * size, alignment: 16)
        var carried = [Int](repeating: 0, count: fds.count)
        var seen = [Int](repeating: 0, count: fds.count)
        let total = fds.count * perSocket
        let latencies = UnsafeMutablePointer<UInt64>.allocate(capacity: fds.count * (perSocket - skip))
        var recorded = 0
        var received = 0
        var cpuStart = threadCPUNanoseconds()
        var measuring = skip == 0
        var first: UInt64 = 0
        var last: UInt64 = 0
        while received < total {
            let ready = epoll_wait(epfd, events, Int32(maxEvents), silenceMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                fail("epoll_wait (errno \(errno))")
            }
            guard ready > 0 else { fail("missing messages: \(received) of \(total) arrived, then none for \(silenceMilliseconds) ms") }
            for k in 0..<Int(ready) {
                let index = Int(events[k].data.u32)
                let held = carried[index]
                if held > 0 { buffer.copyMemory(from: carry + index * size, byteCount: held) }
                let got = csystem_read(fds[index], buffer + held, readSize)
                let now = csystem_cycle_counter()
                guard got > 0 else { fail(got == 0 ? "a reading socket was closed" : "read (errno \(errno))") }
                let end = held + got
                var offset = 0
                var count = seen[index]
                while offset + size <= end {
                    guard count < perSocket else { fail("more than \(perSocket) messages on one socket") }
                    if count >= skip {
                        let stamp = (buffer + offset).loadUnaligned(as: UInt64.self)
                        latencies[recorded] = now > stamp ? now &- stamp : 0
                        if recorded == 0 { first = now }
                        recorded += 1
                    }
                    count += 1
                    offset += size
                }
                received += count - seen[index]
                seen[index] = count
                carried[index] = end - offset
                if end > offset { (carry + index * size).copyMemory(from: buffer + offset, byteCount: end - offset) }
                last = now
            }
            if !measuring && received >= fds.count * skip {
                measuring = true
                cpuStart = threadCPUNanoseconds()
            }
        }
        let cpu = threadCPUNanoseconds() - cpuStart
        close(epfd)
        let sorted = Array(UnsafeBufferPointer(start: latencies, count: recorded)).sorted()
        events.deallocate()
        buffer.deallocate()
        carry.deallocate()
        latencies.deallocate()
        return Reads(latencies: sorted, cpuNanoseconds: cpu, first: first, last: last)
    }

    /// Nanoseconds at percentile `p` of sorted tick counts (same rank rule as `percentile`).
    static func nanoseconds(_ sorted: [UInt64], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))
        return Double(sorted[index]) * CycleClock.nanosecondsPerTick
    }

    // MARK: Modes

    static func fanOut(connections: Int, rate: Int, rounds: Int, warmupRounds: Int, size: Int,
                       senderCore: Int32, readerCore: Int32) -> Never {
        let tick = CycleClock.nanosecondsPerTick
        let pairs = loopbackPairs(connections)
        pin(readerCore)
        let sender = Tally()
        let targets = pairs.accepted
        let thread = startPinned("calib-sender", core: senderCore) {
            var message = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            let period = 1_000_000_000 / UInt64(rate)
            // Absolute deadlines: a slow round does not push the later ones back.
            var deadline = MonotonicClock.now() + 50_000_000
            message.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                for round in 0..<(warmupRounds + rounds) {
                    sleep(nanoseconds: deadline, absolute: true)
                    deadline += period
                    let start = csystem_cycle_counter()
                    base.storeBytes(of: start, as: UInt64.self)
                    for fd in targets {
                        let sent = csystem_send(fd, base, size, Int32(MSG_NOSIGNAL))
                        guard sent == size else { fail("short send: \(sent) of \(size) bytes (errno \(errno))") }
                    }
                    if round >= warmupRounds { sender.ticks &+= csystem_cycle_counter() &- start }
                }
            }
        }
        let reads = readStamped(pairs.connected, size: size, perSocket: warmupRounds + rounds, skip: warmupRounds,
                                silenceMilliseconds: Int32(max(2_000, 3_000 / rate)))
        pthread_join(thread, nil)
        closeAll(pairs)
        let messages = Double(reads.latencies.count)
        let ms = { (p: Double) in format2(nanoseconds(reads.latencies, p) / 1e6) }
        print("| fan-out floor | \(connections) | \(rate)/s | \(size) B | \(ms(0.5)) | \(ms(0.99)) | \(ms(0.999)) | \(ms(1)) | "
            + "\(format2(Double(sender.ticks) * tick / Double(rounds * connections) / 1e3)) | "
            + "\(format2(Double(reads.cpuNanoseconds) / messages / 1e3)) |")
        exit(0)
    }

    static func relay(streams: Int, intervalMilliseconds: Int, chunks: Int, size: Int, readerCore: Int32, writerCore: Int32) -> Never {
        let tick = CycleClock.nanosecondsPerTick
        let pairs = loopbackPairs(streams)
        pin(readerCore)
        let targets = pairs.accepted
        let thread = startPinned("calib-writer", core: writerCore) {
            var message = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            message.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                pacedWrites(streams: streams, intervalMilliseconds: intervalMilliseconds, chunks: chunks) { i in
                    base.storeBytes(of: csystem_cycle_counter(), as: UInt64.self)
                    let sent = csystem_send(targets[i], base, size, Int32(MSG_NOSIGNAL))
                    guard sent == size else { fail("short send: \(sent) of \(size) bytes (errno \(errno))") }
                }
            }
        }
        let reads = readStamped(pairs.connected, size: size, perSocket: chunks, skip: 0,
                                silenceMilliseconds: Int32(2_000 + 3 * intervalMilliseconds))
        pthread_join(thread, nil)
        closeAll(pairs)
        let count = Double(reads.latencies.count)
        let span = Double(reads.last - reads.first) * tick / 1e9
        let us = { (p: Double) in String(Int((nanoseconds(reads.latencies, p) / 1e3).rounded())) }
        print("| relay floor | \(streams) | \(intervalMilliseconds) | \(Int((count / span).rounded())) | "
            + "\(format2(Double(reads.cpuNanoseconds) / count / 1e3)) | \(us(0.5)) | \(us(0.99)) | \(us(0.999)) | \(us(1)) |")
        exit(0)
    }

    /// Calls `write(stream)` for every stream once per interval, each stream at a random fixed phase
    /// (absolute deadlines, no drift), until each has had `chunks`; then `finished(stream)`. Sleeps
    /// until 50 µs before the next due write: shorter waits are not worth a sleep.
    static func pacedWrites(streams: Int, intervalMilliseconds: Int, chunks: Int,
                            write: (Int) -> Void, finished: (Int) -> Void = { _ in }) {
        let tick = CycleClock.nanosecondsPerTick
        let period = UInt64(Double(intervalMilliseconds) * 1e6 / tick)
        let start = csystem_cycle_counter() + UInt64(5e6 / tick)
        var next = (0..<streams).map { _ in start + UInt64.random(in: 0..<period) }
        var written = [Int](repeating: 0, count: streams)
        var remaining = streams
        while remaining > 0 {
            let now = csystem_cycle_counter()
            var soonest = UInt64.max
            for i in 0..<streams where written[i] < chunks {
                if next[i] <= now {
                    write(i)
                    next[i] += period
                    written[i] += 1
                    if written[i] == chunks {
                        finished(i)
                        remaining -= 1
                        continue
                    }
                }
                soonest = min(soonest, next[i])
            }
            let after = csystem_cycle_counter()
            if remaining > 0 && soonest > after {
                let left = Double(soonest - after) * tick
                if left > 60_000 { sleep(nanoseconds: UInt64(left - 50_000), absolute: false) }
            }
        }
    }

    static func stalls(seconds: Double, cores: (Int32, Int32)) -> Never {
        let tick = CycleClock.nanosecondsPerTick
        let duration = UInt64(seconds * 1e9 / tick)
        // Gaps under 20 µs are timer ticks and cache misses, not the vCPU being taken away.
        let lostFrom = UInt64(20_000 / tick)
        let limits = stallLimitsMilliseconds.map { UInt64($0 * 1e6 / tick) }

        func spinners(on spinCores: [Int32]) -> [Tally] {
            // A common start, so two spinners cover the same interval.
            let start = csystem_cycle_counter() + UInt64(20e6 / tick)
            let tallies = spinCores.map { _ in Tally() }
            let threads = zip(spinCores, tallies).map { core, tally in
                startPinned("calib-spin\(core)", core: core) {
                    while csystem_cycle_counter() < start {}
                    let end = start + duration
                    var previous = csystem_cycle_counter()
                    var longest: UInt64 = 0
                    while previous < end {
                        let now = csystem_cycle_counter()
                        let gap = now &- previous
                        previous = now
                        if gap > longest { longest = gap }
                        if gap >= lostFrom {
                            tally.ticks += gap
                            for (j, limit) in limits.enumerated() where gap >= limit { tally.counts[j] += 1 }
                        }
                    }
                    tally.longest = longest
                }
            }
            for thread in threads { pthread_join(thread, nil) }
            return tallies
        }

        func row(_ busy: String, _ core: Int32, _ tally: Tally) {
            let counts = tally.counts.map(String.init).joined(separator: " | ")
            print("| stalls | \(busy) | \(core) | \(counts) | \(format2(Double(tally.longest) * tick / 1e6)) | "
                + "\(format2(100 * Double(tally.ticks) / Double(duration))) |")
        }

        row("no", cores.0, spinners(on: [cores.0])[0])
        let both = spinners(on: [cores.0, cores.1])
        row("yes", cores.0, both[0])
        row("yes", cores.1, both[1])
        exit(0)
    }

    static func echo(port: UInt16) -> Never {
        let listener: Int32
        do {
            listener = try Socket.listen(on: try SocketAddress(host: "127.0.0.1", port: Int(port)))
        } catch {
            fail("cannot listen on 127.0.0.1:\(port): \(error)")
        }
        var one: Int32 = 1
        let limit = min(Socket.raiseOpenFileLimit(), 1 << 20)
        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        func watch(_ fd: Int32) {
            var ev = epoll_event()
            ev.events = EPOLLIN.rawValue
            ev.data.fd = fd
            guard epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 else { fail("epoll_ctl (errno \(errno))") }
        }
        watch(listener)
        // Per socket (indexed by fd): bytes of an incomplete request or frame, and whether the
        // handshake is done.
        var pending = [[UInt8]](repeating: [], count: limit)
        var open = [Bool](repeating: false, count: limit)
        let capacity = 65_536
        let input = UnsafeMutableRawPointer.allocate(byteCount: 2 * capacity, alignment: 16)
        let output = UnsafeMutableRawPointer.allocate(byteCount: 2 * capacity, alignment: 16)
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: 256)

        func drop(_ fd: Int32) {
            close(fd)
            open[Int(fd)] = false
            pending[Int(fd)] = []
        }
        /// Answers the opening handshake once the request is complete; false if it is not yet.
        func handshake(_ fd: Int32, _ request: [UInt8]) -> Bool {
            guard let text = String(validating: request, as: UTF8.self), text.hasSuffix("\r\n\r\n") else { return false }
            let key = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }?
                .dropFirst(18).trimmingPrefix(" ")
            guard let key else {
                drop(fd)
                return true
            }
            let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: \(WebSocketHandshake.acceptValue(forKey: String(key)))\r\n\r\n"
            _ = Array(response.utf8).withUnsafeBytes { csystem_send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            open[Int(fd)] = true
            return true
        }

        while true {
            let ready = epoll_wait(epfd, events, 256, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                fail("epoll_wait (errno \(errno))")
            }
            for k in 0..<Int(ready) {
                let fd = events[k].data.fd
                if fd == listener {
                    let client = accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
                    guard client >= 0 else { continue }
                    guard client < limit else {
                        close(client)
                        continue
                    }
                    setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
                    watch(client)
                    continue
                }
                let held = pending[Int(fd)].count
                if held > 0 { pending[Int(fd)].withUnsafeBytes { input.copyMemory(from: $0.baseAddress!, byteCount: held) } }
                let got = csystem_recv(fd, input + held, capacity)
                guard got > 0 else {
                    drop(fd)
                    continue
                }
                let end = held + got
                guard open[Int(fd)] else {
                    let request = Array(UnsafeRawBufferPointer(start: input, count: end))
                    pending[Int(fd)] = handshake(fd, request) ? [] : request
                    continue
                }
                // Client frames: FIN + opcode, MASK + 7-bit or 16-bit length, 4-byte key, payload.
                let bytes = input.assumingMemoryBound(to: UInt8.self)
                var offset = 0
                var written = 0
                var closed = false
                while end - offset >= 6 {
                    var length = Int(bytes[offset + 1] & 0x7F)
                    var header = 2
                    if length == 126 {
                        guard end - offset >= 8 else { break }
                        length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
                        header = 4
                    } else if length == 127 || bytes[offset + 1] & 0x80 == 0 || bytes[offset] & 0x0F == 0x8 {
                        closed = true
                        break
                    }
                    guard end - offset >= header + 4 + length else { break }
                    guard written + header + length <= 2 * capacity else { break }
                    let out = output.assumingMemoryBound(to: UInt8.self)
                    out[written] = bytes[offset]
                    out[written + 1] = bytes[offset + 1] & 0x7F
                    if header == 4 {
                        out[written + 2] = bytes[offset + 2]
                        out[written + 3] = bytes[offset + 3]
                    }
                    let key = offset + header
                    // Unmask eight bytes at a time, as any fast server does; the tail byte by byte.
                    let mask32 = UInt64((input + key).loadUnaligned(as: UInt32.self))
                    let mask = mask32 | mask32 << 32
                    let source = input + key + 4
                    let target = output + written + header
                    var i = 0
                    while i + 8 <= length {
                        target.storeBytes(of: source.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ mask, toByteOffset: i, as: UInt64.self)
                        i += 8
                    }
                    while i < length {
                        out[written + header + i] = bytes[key + 4 + i] ^ bytes[key + (i & 3)]
                        i += 1
                    }
                    written += header + length
                    offset = key + 4 + length
                }
                if closed {
                    drop(fd)
                    continue
                }
                if written > 0 {
                    let sent = csystem_send(fd, output, written, Int32(MSG_NOSIGNAL))
                    guard sent == written else {
                        drop(fd)
                        continue
                    }
                }
                if offset < end {
                    pending[Int(fd)] = Array(UnsafeRawBufferPointer(start: input + offset, count: end - offset))
                } else if held > 0 {
                    pending[Int(fd)] = []
                }
            }
        }
    }
}
