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
