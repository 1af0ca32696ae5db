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
