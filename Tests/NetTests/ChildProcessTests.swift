import Foundation
import Glibc
import TestSupport
import Testing
@testable import Net

/// ChildProcess against real programs: sh, cat, sleep.
@Suite struct ChildProcessTests {
    @Test func echoesManyLinesThroughCatIncludingOneSplitAcrossWrites() throws {
        try withChild { child in
            try child.launch(ChildProcessOptions(executable: "cat"))
            let accepted = child.withProcess { process in
                (0..<1000).allSatisfy { process.write(Array("line \($0)\n".utf8)) } && process.write(Array("split ac".utf8))
            }
            #expect(accepted == true)
            // A separate loop turn later, so that cat has echoed the first half on its own.
            usleep(50_000)
            child.withProcess { process in
                _ = process.write(Array("ross writes\r\n".utf8))
                _ = process.write(Array("last line without a newline".utf8))
                process.closeStdin()
            }
            let closed = Date()
            #expect(child.recorder.waitForExit() == .exited(0))
            // Well under the 1 s drain bound: the EOF behind cat's last output was not missed.
            #expect(Date().timeIntervalSince(closed) < 0.9)
            let state = child.recorder.snapshot
            #expect(state.text == (0..<1000).map { "line \($0)" } + ["split across writes", "last line without a newline"])
            #expect(state.exits.count == 1 && !state.outputAfterExit)
        }
    }

    @Test func aOneMebibyteLineComesBackWhole() throws {
        try withChild { child in
            try child.launch(ChildProcessOptions(executable: "cat"))
            let line = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
            child.withProcess { process in
                _ = process.write(line + [0x0A])
                process.closeStdin()
            }
            #expect(child.recorder.waitForExit() == .exited(0))
            #expect(child.recorder.snapshot.lines == [line])
        }
    }

    @Test func anOverlongStdoutLineFailsTheChildAndKillsIt() throws {
        try withChild { child in
            let script = #"echo ok; head -c 5000 /dev/zero | tr '\0' x; echo; sleep 30"#
            try child.launch(ChildProcessOptions(executable: "/bin/sh", arguments: ["-c", script], maxLineBytes: 1000))
            #expect(child.recorder.waitForExit() == .signaled(SIGKILL))
            let state = child.recorder.snapshot
            #expect(state.text == ["ok"])
            #expect(state.failures == ["stdout line longer than 1000 bytes"])
            #expect(child.withProcess { $0.hasOpenDescriptors } == false)
        }
    }

    @Test func stderrLinesAreCapturedAndLongOnesAreCut() throws {
        try withChild { child in
            let script = #"echo one >&2; printf 'two\r\n' >&2; head -c 10000 /dev/zero | tr '\0' y >&2; echo >&2; printf tail >&2"#
            try child.launch(ChildProcessOptions(executable: "/bin/sh", arguments: ["-c", script]))
            #expect(child.recorder.waitForExit() == .exited(0))
            let state = child.recorder.snapshot
            #expect(state.errorLines == ["one", "two", String(repeating: "y", count: 8192), "tail"])
            #expect(state.lines.isEmpty)
        }
    }

    @Test func environmentPathAndWorkingDirectoryAreHonoured() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try withChild { child in
            let options = ChildProcessOptions(executable: "sh", arguments: ["-c", #"echo "$FOO"; pwd -P; echo "${HOME-unset}""#],
                                              environment: ["FOO": "bar baz", "PATH": "/usr/bin:/bin"],
                                              workingDirectory: directory.path)
            try child.launch(options)
            #expect(child.recorder.waitForExit() == .exited(0))
            let real = realpath(directory.path, nil).map { pointer in
                defer { free(pointer) }
                return String(cString: pointer)
            }
            #expect(child.recorder.snapshot.text == ["bar baz", real ?? "?", "unset"])
        }
    }

    @Test(arguments: [
        (ChildProcessOptions(executable: "no-such-program-4711"), ENOENT, "no-such-program-4711"),
        (ChildProcessOptions(executable: "/nonexistent/program"), ENOENT, "/nonexistent/program"),
        (ChildProcessOptions(executable: "/dev/null"), EACCES, "/dev/null"),
        (ChildProcessOptions(executable: "sh", workingDirectory: "/nonexistent-directory"), ENOENT, "working directory"),
    ])
    func aChildThatCannotStartIsAThrownError(options: ChildProcessOptions, code: Int32, mentions: String) throws {
        try withChild { child in
            let result = child.start(options)
            guard case .failure(let error) = result else {
                Issue.record("started \(options.executable)")
                return
            }
            #expect(error.code == code)
            #expect(error.description.contains(mentions))
            #expect(child.withProcess { $0.hasOpenDescriptors } == false)
        }
    }

    @Test(arguments: [
        ("exit 0", ChildProcess.ExitStatus.exited(0)),
        ("exit 3", .exited(3)),
        ("kill -TERM $$", .signaled(SIGTERM)),
        ("kill -KILL $$", .signaled(SIGKILL)),
    ])
    func exitCodesAndSignalsAreReported(script: String, status: ChildProcess.ExitStatus) throws {
        try withChild { child in
            try child.launch(ChildProcessOptions(executable: "/bin/sh", arguments: ["-c", script]))
            #expect(child.recorder.waitForExit() == status)
            #expect(child.recorder.snapshot.exits == [status])
        }
    }

    @Test func terminateEndsAChildThatStopsAtEndOfInputWithoutSignals() throws {
        try withChild { child in
            try child.launch(ChildProcessOptions(executable: "cat"))
            let started = Date()
            child.withProcess { $0.terminate(grace: .seconds(5)) }
            #expect(child.recorder.waitForExit() == .exited(0))
            #expect(Date().timeIntervalSince(started) < 4)
        }
    }

    @Test func terminateSendsSIGTERMWhenClosingStdinIsIgnored() throws {
        try withChild { child in
            try child.launch(ChildProcessOptions(executable: "sleep", arguments: ["60"]))
            let started = Date()
            child.withProcess { $0.terminate(grace: .milliseconds(200)) }
            #expect(child.recorder.waitForExit() == .signaled(SIGTERM))
            #expect(Date().timeIntervalSince(started) >= 0.15)
        }
    }

    @Test func terminateEndsWithSIGKILLWhenSIGTERMIsIgnored() throws {
        try withChild { child in
            let script = "trap '' TERM; echo ready; sleep 60"
            try child.launch(ChildProcessOptions(executable: "/bin/sh", arguments: ["-c", script]))
            #expect(waitUntil { child.recorder.snapshot.text == ["ready"] })
            let started = Date()
            child.withProcess { $0.terminate(grace: .milliseconds(200)) }
            #expect(child.recorder.waitForExit() == .signaled(SIGKILL))
            #expect(Date().timeIntervalSince(started) >= 0.35)
        }
    }

    @Test func eightMebibytesWrittenToCatAllComeBack() throws {
        try withChild { child in
            try child.launch(ChildProcessOptions(executable: "cat"))
            let lines = (0..<8192).map { i in
                let number = Array(String(i).utf8)
                return number + [UInt8](repeating: UInt8(ascii: "a") &+ UInt8(i % 26), count: 1023 - number.count)
            }
            let queued = child.withProcess { process in
                for line in lines { _ = process.write(line + [0x0A]) }
                let queued = process.pendingWriteBytes
                process.closeStdin()
                return queued
            }
            // The pipe holds 64 KiB: the rest waited for EPOLLOUT.
            #expect((queued ?? 0) > 1 << 20)
            #expect(child.recorder.waitForExit(seconds: 60) == .exited(0))
            let received = child.recorder.snapshot.lines
            #expect(received.count == lines.count)
            #expect(received == lines)
        }
    }

    @Test func writingToAChildThatStoppedReadingReturnsFalse() throws {
        try withChild { child in
            let script = "exec <&-; echo closed; sleep 30"
            try child.launch(ChildProcessOptions(executable: "/bin/sh", arguments: ["-c", script]))
            #expect(waitUntil { child.recorder.snapshot.text == ["closed"] })
            // Either the write meets EPIPE (no SIGPIPE may end the test runner) or stdin is already
            // closed because epoll reported the error; a second write must fail in both cases.
            _ = child.withProcess { $0.write(Array("hello\n".utf8)) }
            #expect(child.withProcess { $0.write(Array("again\n".utf8)) } == false)
            child.withProcess { $0.kill() }
            #expect(child.recorder.waitForExit() == .signaled(SIGKILL))
        }
    }

    @Test func writeAfterExitReturnsFalseAndEverythingIsClosed() throws {
        try withChild { child in
            try child.launch(ChildProcessOptions(executable: "/bin/sh", arguments: ["-c", "exit 0"]))
            #expect(child.recorder.waitForExit() == .exited(0))
            let after = child.withProcess { process in
                let accepted = process.write(Array("late\n".utf8))
                process.kill()
                process.terminate(grace: .milliseconds(10))
                return (accepted, process.pendingWriteBytes, process.hasOpenDescriptors)
            }
            #expect(after?.0 == false && after?.1 == 0 && after?.2 == false)
            usleep(50_000)
            #expect(child.recorder.snapshot.exits.count == 1)
        }
    }

    @Test func exitIsReportedWhenAGrandchildKeepsThePipesOpen() throws {
        try withChild { child in
            let pid = try child.launch(ChildProcessOptions(executable: "/bin/sh", arguments: ["-c", "sleep 30 & echo hi"]))
            // The background sleep is in the child's group, which outlives the child while it runs.
            defer { kill(-pid, SIGKILL) }
            let started = Date()
            #expect(child.recorder.waitForExit() == .exited(0))
            #expect(Date().timeIntervalSince(started) >= 0.8)
            #expect(child.recorder.snapshot.text == ["hi"])
            #expect(child.withProcess { $0.hasOpenDescriptors } == false)
        }
    }

    @Test func droppingARunningChildKillsAndReapsIt() throws {
        try withChild { child in
            let pid = try child.launch(ChildProcessOptions(executable: "sleep", arguments: ["60"]))
            child.release()
            // A zombie still answers kill(pid, 0); only a reaped child is gone.
            #expect(waitUntil { kill(pid, 0) == -1 && errno == ESRCH })
            #expect(child.recorder.snapshot.exits.isEmpty)
        }
    }

    @Test func stoppingTheLoopKillsAndReapsARunningChild() throws {
        try withChild { child in
            let pid = try child.launch(ChildProcessOptions(executable: "sleep", arguments: ["60"]))
            child.stopLoop()
            #expect(kill(pid, 0) == -1 && errno == ESRCH)
        }
    }
}

// MARK: Harness

/// Records what a child delivered: the loop thread writes, the test thread reads.
final class ChildRecorder: ChildProcessDelegate, @unchecked Sendable {
    // Invariant: mutable state lives in `state`, behind its lock.
    struct State {
        var lines: [[UInt8]] = []
        var errorLines: [String] = []
        var failures: [String] = []
        var exits: [ChildProcess.ExitStatus] = []
        var outputAfterExit = false

        var text: [String] { lines.map { String(decoding: $0, as: UTF8.self) } }
    }

    private let state = Locked(State())
    private let exited = DispatchSemaphore(value: 0)

    var snapshot: State { state.withLock { $0 } }

    func childProcess(_ process: ChildProcess, didReadLine line: [UInt8]) {
        state.withLock { state in
            state.outputAfterExit = state.outputAfterExit || !state.exits.isEmpty
            state.lines.append(line)
        }
    }

    func childProcess(_ process: ChildProcess, didReadErrorLine line: String) {
        state.withLock { state in
            state.outputAfterExit = state.outputAfterExit || !state.exits.isEmpty
            state.errorLines.append(line)
        }
    }

    func childProcess(_ process: ChildProcess, didFail reason: String) {
        state.withLock { $0.failures.append(reason) }
    }

    func childProcess(_ process: ChildProcess, didExit status: ChildProcess.ExitStatus) {
        state.withLock { $0.exits.append(status) }
        exited.signal()
    }

    /// The first exit status, or nil if none came within the deadline.
    func waitForExit(seconds: Double = 10) -> ChildProcess.ExitStatus? {
        guard exited.wait(timeout: .now() + seconds) == .success else { return nil }
        return snapshot.exits.first
    }
}

/// One loop running on its own thread and one child on it. Everything that touches the child runs
/// on the loop through `withProcess`.
final class ChildHarness: @unchecked Sendable {
    // Invariant: `process` is touched only on the loop thread while the loop runs, and only by the
    // test thread after `stopLoop`; `loopStopped` only by the test thread.
    let group: EventLoopGroup
    let recorder = ChildRecorder()
    private var process: ChildProcess?
    private var loopStopped = false
    var loop: EventLoop { group.loops[0] }

    init() throws {
        group = try EventLoopGroup(loopCount: 1)
        try group.start()
    }

    /// Creates and starts the child on the loop; its pid.
    @discardableResult
    func launch(_ options: ChildProcessOptions) throws -> Int32 { try start(options).get() }

    /// Creates and starts the child on the loop; its pid, or the start error.
    func start(_ options: ChildProcessOptions) -> Result<Int32, SystemError> {
        onLoop { harness -> Result<Int32, SystemError> in
            let process = ChildProcess(loop: harness.loop, options: options, delegate: harness.recorder)
            harness.process = process
            do throws(SystemError) {
                try process.start()
                return .success(process.pid)
            } catch {
                return .failure(error)
            }
        } ?? .failure(SystemError("start on the loop timed out", code: ETIMEDOUT))
    }

    /// Runs `body` with the child on the loop and waits for it; nil if it did not run within 10 s.
    @discardableResult
    func withProcess<R: Sendable>(_ body: @escaping @Sendable (ChildProcess) -> R) -> R? {
        onLoop { harness in harness.process.map(body) } ?? nil
    }

    /// Drops the child on the loop.
    func release() { _ = onLoop { $0.process = nil } }

    /// Stops the loop while the child still exists.
    func stopLoop() {
        group.shutdown()
        loopStopped = true
    }

    /// Drops the child (killing it if it runs) and stops the loop.
    func shutdown() {
        if loopStopped {
            process = nil
        } else {
            release()
            stopLoop()
        }
    }

    private func onLoop<R: Sendable>(_ body: @escaping @Sendable (ChildHarness) -> R) -> R? {
        let result = Locked<R?>(nil)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            let value = body(self)
            result.withLock { $0 = value }
            done.signal()
        }
        guard done.wait(timeout: .now() + 10) == .success else { return nil }
        return result.withLock { $0 }
    }
}

func withChild(_ body: (ChildHarness) throws -> Void) throws {
    let harness = try ChildHarness()
    defer { harness.shutdown() }
    try body(harness)
}

/// Polls `condition` every 10 ms until it holds or `seconds` pass.
func waitUntil(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
