// Linux system headers that Swift's Glibc module does not bring in.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <pthread.h>
// GNU extensions that Swift's Glibc module hides (it is built without _GNU_SOURCE); glibc exports them.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);
#include <malloc.h>
#include <time.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif
// A cheap timestamp for the load generator. On VMs clock_gettime can fall back to a system call;
// the invariant TSC is read in ~20 cycles. Other architectures use CLOCK_MONOTONIC.
static inline uint64_t csystem_cycle_counter(void) {
#if defined(__x86_64__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}
#include <sys/syscall.h>
#include <unistd.h>
// read(2) and send(2) through syscall(2): glibc's own wrappers are pthread cancellation points and
// toggle the cancellation state around every call, which showed up at ~1.5% of an echo server's time.
// Nothing in this process uses pthread cancellation.
static inline long csystem_read(int fd, void *buffer, size_t count) {
    return syscall(SYS_read, fd, buffer, count);
}
// recvfrom rather than read for sockets: read goes through the VFS layer first (vfs_read,
// fdget_pos, rw_verify_area), ~5% of an echo server's profile at 1,000 connections.
static inline long csystem_recv(int fd, void *buffer, size_t count) {
    return syscall(SYS_recvfrom, fd, buffer, count, 0, (void *)0, (void *)0);
}
static inline long csystem_send(int fd, const void *buffer, size_t count, int flags) {
    return syscall(SYS_sendto, fd, buffer, count, flags, (void *)0, 0);
}
#include <spawn.h>
// Child processes (Net/Process): GNU extensions hidden like accept4 above, and pidfd_open, which
// glibc 2.36 has no wrapper for. pidfd_open is 434 on every architecture.
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int pipe2(int fds[2], int flags);
static inline int csystem_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}
static inline int csystem_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
static inline int csystem_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
static inline int csystem_pidfd_open(pid_t pid, unsigned int flags) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, flags);
#else
    return (int)syscall(434, pid, flags);
#endif
}
#include <errno.h>
// epoll_pwait2 (Linux 5.11): epoll_wait with a nanosecond timeout. epoll_wait's milliseconds made a
// timer due in 0.2 ms fire after a whole millisecond, so timers on one loop fired in 1 ms bursts.
// Returns -1 with errno ENOSYS on older kernels; the caller then falls back to epoll_wait.
static inline int csystem_epoll_wait_nanoseconds(int epfd, struct epoll_event *events, int maxevents,
                                                 int64_t timeout_ns) {
#ifdef SYS_epoll_pwait2
    struct timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
    return (int)syscall(SYS_epoll_pwait2, epfd, events, maxevents, timeout_ns < 0 ? (void *)0 : &ts,
                        (void *)0, (size_t)0);
#else
    errno = ENOSYS;
    return -1;
#endif
}
// Pins the calling thread to one CPU (the calibration modes). sched_setaffinity and the CPU_SET
// macros need _GNU_SOURCE, which Swift's Glibc module lacks; the raw system call takes a plain mask.
static inline int csystem_pin_current_thread(int cpu) {
    unsigned long mask[16] = {0};
    if (cpu < 0 || cpu >= (int)(8 * sizeof mask)) return -1;
    mask[cpu / (8 * sizeof(unsigned long))] |= 1UL << (cpu % (8 * sizeof(unsigned long)));
    return (int)syscall(SYS_sched_setaffinity, 0, sizeof mask, mask);
}
