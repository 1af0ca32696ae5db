import CSystem
import Glibc
import Net

/// posix_spawnp for the bench's children (servers, CLI runs): stdin from /dev/null, stdout to
/// `stdoutFD`, stderr to `stderrFD`, no other descriptors, and the signal mask and dispositions
/// reset (loop threads block signals and the bench ignores SIGPIPE).
func spawnChild(_ arguments: [String], environment: [String: String], stdoutFD: Int32, stderrFD: Int32) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
    posix_spawn_file_actions_adddup2(&actions, stderrFD, 2)
    csystem_spawn_addclosefrom(&actions, 3)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    resetSignals(in: &attributes, ownProcessGroup: false)
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
    guard rc == 0 else { die("spawn \(arguments[0]): \(String(cString: strerror(rc)))") }
    return pid
}
