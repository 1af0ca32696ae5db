import CSystem
import Glibc

/// Makes spawn attributes give a child the signal state of a fresh process: nothing blocked, every
/// disposition the default. Our threads block SIGINT/SIGTERM and we ignore SIGPIPE; both would be
/// inherited, and a child with SIGTERM blocked outlives being told to stop. `ownProcessGroup` also
/// starts it in a process group of its own.
public func resetSignals(in attributes: inout posix_spawnattr_t, ownProcessGroup: Bool) {
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
    if ownProcessGroup {
        posix_spawnattr_setpgroup(&attributes, 0)
        flags |= POSIX_SPAWN_SETPGROUP
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
}

/// posix_spawn and waitpid for `ChildProcess`: the executable looked up, three pipes made, the child
/// started in a process group of its own with a clean signal state and only fds 0, 1 and 2.
enum ChildSpawn {
    /// A started child and our ends of its pipes (close-on-exec, non-blocking).
    struct Child {
        let pid: Int32
        let stdin: Int32
        let stdout: Int32
        let stderr: Int32
    }

    static func spawn(_ options: ChildProcessOptions) throws(SystemError) -> Child {
        let path = try resolve(options.executable, environment: options.environment)
        if let directory = options.workingDirectory {
            // posix_spawn reports a failed chdir as ENOENT too, which would read as a missing program.
            var info = stat()
            guard stat(directory, &info) == 0 else { throw SystemError("working directory \(directory)") }
            guard info.st_mode & S_IFMT == S_IFDIR else { throw SystemError("working directory \(directory)", code: ENOTDIR) }
        }

        var pipes: [Int32] = []
        defer { for fd in pipes { Glibc.close(fd) } }
        for _ in 0..<3 { pipes += try makePipe() }
        // pipes: stdin (read, write), stdout (read, write), stderr (read, write). The child's ends stay
        // blocking, as programs expect of their standard streams.
        let (stdinChild, stdinOurs) = (pipes[0], pipes[1])
        let (stdoutOurs, stdoutChild) = (pipes[2], pipes[3])
        let (stderrOurs, stderrChild) = (pipes[4], pipes[5])
        for fd in [stdinOurs, stdoutOurs, stderrOurs] {
            guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else { throw SystemError("fcntl(O_NONBLOCK)") }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinChild, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutChild, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrChild, 2)
        // Whatever another library opened without O_CLOEXEC stays with us.
        csystem_spawn_addclosefrom(&actions, 3)
        if let directory = options.workingDirectory { csystem_spawn_addchdir(&actions, directory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own group keeps a Ctrl-C on our terminal off it.
        resetSignals(in: &attributes, ownProcessGroup: true)

        let argv = ([options.executable] + options.arguments).map { strdup($0) } + [nil]
        let envp = options.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }

        var pid: pid_t = 0
        // glibc's posix_spawn waits for the exec, so a missing or non-executable file is this result.
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SystemError("spawn \(path)", code: rc) }
        pipes = [stdinChild, stdoutChild, stderrChild]  // ours are kept, the child's are closed by the defer
        return Child(pid: pid, stdin: stdinOurs, stdout: stdoutOurs, stderr: stderrOurs)
    }

    /// The path to execute: `executable` itself if it has a slash, else the first executable regular
    /// file of that name in PATH.
    static func resolve(_ executable: String, environment: [String: String]) throws(SystemError) -> String {
        if executable.contains("/") { return executable }
        let search = environment["PATH"] ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        if !executable.isEmpty {
            for directory in search.split(separator: ":", omittingEmptySubsequences: false) {
                let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + executable
                var info = stat()
                if stat(candidate, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(candidate, X_OK) == 0 {
                    return candidate
                }
            }
        }
        throw SystemError("find \"\(executable)\" in PATH", code: ENOENT)
    }

    /// A close-on-exec pipe with both ends above 2, so that the child's dup2 onto 0, 1 and 2 cannot
    /// overwrite one end with another when this process runs with a standard stream closed.
    private static func makePipe() throws(SystemError) -> [Int32] {
        var fds: [Int32] = [-1, -1]
        guard csystem_pipe2(&fds, O_CLOEXEC) == 0 else { throw SystemError("pipe2") }
        for i in 0..<2 where fds[i] < 3 {
            let moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)
            let error = errno
            Glibc.close(fds[i])
            fds[i] = moved
            guard moved >= 0 else {
                for fd in fds where fd >= 0 { Glibc.close(fd) }
                throw SystemError("fcntl(F_DUPFD_CLOEXEC)", code: error)
            }
        }
        return fds
    }

    /// waitpid for one child; nil while it runs (only when not blocking).
    static func waitForExit(_ pid: Int32, blocking: Bool) -> ChildProcess.ExitStatus? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if r == pid { break }
            if r == 0 { return nil }
            if errno == EINTR { continue }
            Log.warning("child process was reaped elsewhere", ["pid": String(pid), "errno": String(errno)])
            return .exited(-1)
        }
        // WIFEXITED and friends are macros Swift does not import; without WUNTRACED only these two occur.
        return status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
    }
}

/// Waits for a child killed by `ChildProcess.abandon`, so it does not stay a zombie: on the loop
/// through its pidfd, or, if the loop lets go of it first (the loop ended), by blocking in deinit.
final class ChildReaper: IOHandler {
    let pid: Int32
    let pidFD: Int32
    unowned let loop: EventLoop
    private var reaped = false

    init(pid: Int32, pidFD: Int32, loop: EventLoop) {
        self.pid = pid
        self.pidFD = pidFD
        self.loop = loop
    }

    func handleIO(events: UInt32) {
        guard !reaped, ChildSpawn.waitForExit(pid, blocking: false) != nil else { return }
        reaped = true
        loop.deregister(pidFD)
        Glibc.close(pidFD)
    }

    deinit {
        guard !reaped else { return }
        _ = ChildSpawn.waitForExit(pid, blocking: true)
        Glibc.close(pidFD)
    }
}
