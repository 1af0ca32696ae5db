import CSystem
import Glibc

/// What to run and how to read it.
public struct ChildProcessOptions: Sendable {
    /// An absolute path, a path relative to the working directory, or a name looked up in `PATH`
    /// (the one in `environment` if it sets one, else this process's).
    public var executable: String
    public var arguments: [String]
    /// The complete environment of the child; nothing is inherited.
    public var environment: [String: String]
    /// Where the child starts; nil keeps ours.
    public var workingDirectory: String?
    /// The longest stdout line accepted, in bytes before the "\n"; a longer one fails the process.
    public var maxLineBytes: Int

    public init(executable: String, arguments: [String] = [], environment: [String: String] = [:],
                workingDirectory: String? = nil, maxLineBytes: Int = 16 << 20) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.maxLineBytes = maxLineBytes
    }
}

/// Receives a child's output and its end. Called on the child's loop.
public protocol ChildProcessDelegate: AnyObject {
    /// One stdout line, without its "\n" (and without a "\r" before it).
    func childProcess(_ process: ChildProcess, didReadLine line: [UInt8])
    /// One stderr line, decoded as lossy UTF-8; lines are cut at 8 KiB.
    func childProcess(_ process: ChildProcess, didReadErrorLine line: String)
    /// The child broke the protocol (a stdout line over the limit); it is being killed.
    func childProcess(_ process: ChildProcess, didFail reason: String)
    /// Exactly once, after every line of output has been delivered.
    func childProcess(_ process: ChildProcess, didExit status: ChildProcess.ExitStatus)
}

/// A child process whose stdin, stdout and stderr are pipes driven by an event loop, for servers
/// that speak newline-delimited JSON (MCP over stdio).
///
/// Spawned with posix_spawn into a process group of its own, with an empty signal mask and default
/// signal dispositions (our loops block SIGINT and SIGTERM, and a child would inherit that). Its exit
/// is seen through a pidfd on the loop, not SIGCHLD. Signals from `terminate` and `kill` go to the
/// whole group, so that a wrapper's descendants (npx → node) end with it.
///
/// Use it only on its loop. The loop holds it weakly: dropping the last reference to a running child
/// kills its group and closes every pipe at once, and a reaper left on the loop waits for the exit
/// through the pidfd (or, should the loop end first, blocks for it, which SIGKILL keeps short). If
/// the loop ends while a child runs, the same happens then. Neither tells the delegate anything.
public final class ChildProcess {
    /// How a child ended.
    public enum ExitStatus: Sendable, Equatable {
        /// It called exit with this code. -1 if someone else in this process reaped it first.
        case exited(Int32)
        /// A signal ended it.
        case signaled(Int32)
    }

    /// The loop that owns this child; touch the child only there.
    public let loop: EventLoop
    public let options: ChildProcessOptions
    /// Held weakly: the delegate usually owns the process.
    public weak var delegate: (any ChildProcessDelegate)?
    /// 0 until `start()` succeeds.
    public private(set) var pid: Int32 = 0
    /// Set once the child has been reaped, possibly before `didExit` (which waits for its output).
    public private(set) var exitStatus: ExitStatus?

    /// How long output pipes may stay open after the exit; a grandchild may hold them forever.
    static let outputDrainBound: Duration = .seconds(1)
    static let stderrLineLimit = 8 * 1024
    private static let readEvents = EPOLLIN.rawValue | EPOLLET.rawValue

    private var stdinFD: Int32 = -1
    private var stdoutFD: Int32 = -1
    private var stderrFD: Int32 = -1
    /// Open from `start()` until the child is reaped (or handed to a reaper): while it is, `pid` is
    /// ours and cannot have been reused, so signalling it is safe.
    private var pidFD: Int32 = -1
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var watchingWritable = false
    private var closeStdinWhenFlushed = false
    private var stdoutLines: LineSplitter
    private var stderrLines = LineSplitter(limit: ChildProcess.stderrLineLimit, overflow: .truncate)
    private var terminating = false
    private var failed = false
    private var exitReported = false
    /// Either the steps of `terminate` (before the exit) or the output drain bound (after it).
    private var timer = ConnectionTimer()

    public init(loop: EventLoop, options: ChildProcessOptions, delegate: any ChildProcessDelegate) {
        self.loop = loop
        self.options = options
        self.delegate = delegate
        stdoutLines = LineSplitter(limit: options.maxLineBytes, overflow: .fail)
    }

    deinit { abandon() }

    /// Spawns the child. Throws when it cannot run: executable not found, bad working directory.
    public func start() throws(SystemError) {
        precondition(pid == 0, "ChildProcess.start() called twice")
        _ = ChildProcess.ignoreSIGPIPE
        let child = try ChildSpawn.spawn(options)
        pid = child.pid
        stdinFD = child.stdin
        stdoutFD = child.stdout
        stderrFD = child.stderr
        let pidFD = csystem_pidfd_open(child.pid, 0)
        guard pidFD >= 0 else {
            let error = SystemError("pidfd_open")
            _ = Glibc.kill(-child.pid, SIGKILL)
            _ = ChildSpawn.waitForExit(child.pid, blocking: true)
            for fd in [stdinFD, stdoutFD, stderrFD] { Glibc.close(fd) }
            (stdinFD, stdoutFD, stderrFD) = (-1, -1, -1)
            throw error
        }
        self.pidFD = pidFD
        do {
            try loop.register(stdoutFD, events: ChildProcess.readEvents, handler: Watcher(self, .stdout))
            try loop.register(stderrFD, events: ChildProcess.readEvents, handler: Watcher(self, .stderr))
            try loop.register(stdinFD, events: EPOLLET.rawValue, handler: Watcher(self, .stdin))
            try loop.register(pidFD, events: EPOLLIN.rawValue, handler: Watcher(self, .pidfd))
        } catch {
            abandon()
            throw error
        }
    }

    /// Writing to a child that has exited raises SIGPIPE, which by default ends this process. The
    /// server ignores it in main; for other hosts (tests, tools) it is ignored here, once, unless
    /// they installed a handler of their own. The child gets the default back (see ChildSpawn).
    private static let ignoreSIGPIPE: Void = {
        var current = sigaction()
        if sigaction(SIGPIPE, nil, &current) == 0 && current.__sigaction_handler.sa_handler == nil {
            _ = signal(SIGPIPE, SIG_IGN)
        }
    }()

    // MARK: Stdin

    /// Bytes accepted by `write` that the pipe has not taken yet.
    public var pendingWriteBytes: Int { output.count - outputOffset }

    /// Writes what the pipe takes now and queues the rest. False once stdin is closed or the child
    /// has stopped reading it (exited).
    public func write(_ bytes: [UInt8]) -> Bool {
        guard stdinFD >= 0, !closeStdinWhenFlushed else { return false }
        if bytes.isEmpty { return true }
        if pendingWriteBytes > 0 {
            output.append(contentsOf: bytes)
            return true
        }
        guard let written = bytes.withUnsafeBytes({ writeSome($0) }) else {
            closeStdinNow()
            return false
        }
        if written < bytes.count {
            output.append(contentsOf: bytes[written...])
            watchWritable(true)
        }
        return true
    }

    /// Closes stdin once the queued bytes are written, so that the child reads everything, then EOF.
    public func closeStdin() {
        guard stdinFD >= 0 else { return }
        if pendingWriteBytes == 0 {
            closeStdinNow()
        } else {
            closeStdinWhenFlushed = true
        }
    }

    /// One write(2) of as much as the pipe takes: the count written (0 when full), nil when broken.
    private func writeSome(_ bytes: UnsafeRawBufferPointer) -> Int? {
        while true {
            let n = Glibc.write(stdinFD, bytes.baseAddress, bytes.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : nil
        }
    }

    private func flushQueued() {
        while pendingWriteBytes > 0 {
            let offset = outputOffset
            guard let written = output.withUnsafeBytes({ writeSome(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) else {
                closeStdinNow()
                return
            }
            if written == 0 {
                // Still full. Drop what was sent once it is most of a large queue, so a queue that
                // never empties does not grow without bound.
                if outputOffset >= 1 << 20 && outputOffset * 2 >= output.count {
                    output.removeFirst(outputOffset)
                    outputOffset = 0
                }
                return
            }
            outputOffset += written
        }
        output = []
        outputOffset = 0
        watchWritable(false)
        if closeStdinWhenFlushed { closeStdinNow() }
    }

    /// Edge-triggered EPOLLOUT only while bytes wait: a pipe reports writable after every read the
    /// child makes, which would wake us for each message it takes.
    private func watchWritable(_ on: Bool) {
        guard on != watchingWritable else { return }
        watchingWritable = on
        loop.modify(stdinFD, events: on ? EPOLLOUT.rawValue | EPOLLET.rawValue : EPOLLET.rawValue)
    }

    private func closeStdinNow() {
        guard stdinFD >= 0 else { return }
        loop.deregister(stdinFD)
        Glibc.close(stdinFD)
        stdinFD = -1
        output = []
        outputOffset = 0
        watchingWritable = false
        closeStdinWhenFlushed = false
    }

    // MARK: Ending

    /// Ends the child: closes stdin (after the queued bytes) and waits `grace`; then SIGTERM and waits
    /// `grace`; then SIGKILL. `didExit` tells how it ended. Does nothing once the child has exited.
    public func terminate(grace: Duration) {
        guard pidFD >= 0, !terminating else { return }
        terminating = true
        closeStdin()
        timer.arm(at: loop.now &+ grace.nanoseconds, on: loop) { [weak self] in
            guard let self else { return }
            self.signalGroup(SIGTERM)
            self.timer.arm(at: self.loop.now &+ grace.nanoseconds, on: self.loop) { [weak self] in
                self?.signalGroup(SIGKILL)
            }
        }
    }

    /// SIGKILL to the child's group, now.
    public func kill() { signalGroup(SIGKILL) }

    private func signalGroup(_ signal: Int32) {
        guard pidFD >= 0 else { return }
        // The group is gone if the child moved itself out of it and took the rest along.
        if Glibc.kill(-pid, signal) != 0 { _ = Glibc.kill(pid, signal) }
    }

    private func processExited() {
        guard pidFD >= 0, let status = ChildSpawn.waitForExit(pid, blocking: false) else { return }
        exitStatus = status
        loop.deregister(pidFD)
        Glibc.close(pidFD)
        pidFD = -1
        timer.cancel(on: loop)
        closeStdinNow()
        if stdoutFD >= 0 || stderrFD >= 0 {
            timer.arm(at: loop.now &+ ChildProcess.outputDrainBound.nanoseconds, on: loop) { [weak self] in
                self?.stopWaitingForOutput()
            }
        }
        reportExitIfDone()
    }

    /// The drain bound passed: take what is already in the pipes and stop there.
    private func stopWaitingForOutput() {
        for stream in [Descriptor.stdout, .stderr] {
            readAvailable(stream, hangUp: false)
            if fd(of: stream) >= 0 { endOfOutput(stream) }
        }
    }

    private func reportExitIfDone() {
        guard let exitStatus, !exitReported, stdoutFD < 0, stderrFD < 0 else { return }
        exitReported = true
        timer.cancel(on: loop)
        delegate?.childProcess(self, didExit: exitStatus)
    }

    /// Ends the child without telling anyone (deinit, or the loop ending): SIGKILL to its group,
    /// every pipe closed, and the pidfd handed to a reaper that takes over its loop registration.
    private func abandon() {
        timer.cancel(on: loop)
        closeStdinNow()
        for stream in [Descriptor.stdout, .stderr] { closeOutput(stream) }
        exitReported = true
        guard pidFD >= 0 else { return }
        signalGroup(SIGKILL)
        // If the loop has ended, nothing is registered any more and the reaper, released right here,
        // waits in its deinit.
        loop.replaceHandler(pidFD, with: ChildReaper(pid: pid, pidFD: pidFD, loop: loop))
        pidFD = -1
    }

    // MARK: Stdout and stderr

    fileprivate enum Descriptor { case stdin, stdout, stderr, pidfd }

    fileprivate func handle(_ descriptor: Descriptor, events: UInt32) {
        switch descriptor {
        case .stdout, .stderr:
            readAvailable(descriptor, hangUp: events & EPOLLHUP.rawValue != 0)
        case .stdin:
            if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                closeStdinNow()  // the child closed its end or exited
            } else if events & EPOLLOUT.rawValue != 0 {
                flushQueued()
            }
        case .pidfd:
            processExited()
        }
    }

    private func fd(of stream: Descriptor) -> Int32 { stream == .stdout ? stdoutFD : stderrFD }

    /// Edge-triggered: reads until EAGAIN or EOF, or until a short read unless the writer hung up (then
    /// no further edge would come for the EOF behind the data). At most a few buffers per wake-up, so
    /// that a chatty child cannot starve the loop; EPOLL_CTL_MOD below re-queues it if it has more.
    private func readAvailable(_ stream: Descriptor, hangUp: Bool) {
        let scratch = loop.readBuffer
        for _ in 0..<4 {
            let fd = fd(of: stream)
            guard fd >= 0 else { return }
            let n = csystem_read(fd, scratch.baseAddress!, scratch.count)
            if n > 0 {
                deliver(UnsafeRawBufferPointer(rebasing: scratch[0..<n]), from: stream)
                if n < scratch.count && !hangUp { return }
            } else if n == 0 {
                endOfOutput(stream)
                return
            } else if errno == EINTR {
                continue
            } else {
                if errno != EAGAIN && errno != EWOULDBLOCK { endOfOutput(stream) }
                return
            }
        }
        let fd = fd(of: stream)
        if fd >= 0 { loop.modify(fd, events: ChildProcess.readEvents) }
    }

    private func deliver(_ bytes: UnsafeRawBufferPointer, from stream: Descriptor) {
        if stream == .stderr {
            _ = stderrLines.feed(bytes) { delegate?.childProcess(self, didReadErrorLine: String(decoding: $0, as: UTF8.self)) }
        } else if !stdoutLines.feed(bytes, { delegate?.childProcess(self, didReadLine: $0) }) {
            fail("stdout line longer than \(options.maxLineBytes) bytes")
        }
    }

    private func endOfOutput(_ stream: Descriptor) {
        if stream == .stderr {
            stderrLines.finish { delegate?.childProcess(self, didReadErrorLine: String(decoding: $0, as: UTF8.self)) }
        } else {
            stdoutLines.finish { delegate?.childProcess(self, didReadLine: $0) }
        }
        closeOutput(stream)
        reportExitIfDone()
    }

    /// The child broke the protocol: kill it, stop reading its stdout, tell the delegate. Killed
    /// before the pipe closes, so that its status says SIGKILL rather than the SIGPIPE its next write
    /// to a closed pipe would bring.
    private func fail(_ reason: String) {
        guard !failed else { return }
        failed = true
        kill()
        closeOutput(.stdout)
        delegate?.childProcess(self, didFail: reason)
        reportExitIfDone()
    }

    private func closeOutput(_ stream: Descriptor) {
        let fd = fd(of: stream)
        guard fd >= 0 else { return }
        loop.deregister(fd)
        Glibc.close(fd)
        if stream == .stdout { stdoutFD = -1 } else { stderrFD = -1 }
    }

    /// Whether any descriptor is still open, for tests.
    var hasOpenDescriptors: Bool { stdinFD >= 0 || stdoutFD >= 0 || stderrFD >= 0 || pidFD >= 0 }

    /// Routes readiness of one descriptor to its child, held weakly so that dropping the child ends it.
    private final class Watcher: IOHandler, LoopTeardown {
        weak var process: ChildProcess?
        let descriptor: Descriptor

        init(_ process: ChildProcess, _ descriptor: Descriptor) {
            self.process = process
            self.descriptor = descriptor
        }

        func handleIO(events: UInt32) { process?.handle(descriptor, events: events) }

        func teardown() {
            if descriptor == .pidfd { process?.abandon() }
        }
    }
}
