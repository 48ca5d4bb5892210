// Linux calls that Glibc's Swift module hides (it is built without _GNU_SOURCE), and the few
// typed-enum constants Swift cannot combine. Header-only: everything here is static inline.
#ifndef SLUICE_CSYS_SHIM_H
#define SLUICE_CSYS_SHIM_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <malloc.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/inotify.h>
#include <malloc.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

// accept4 is declared by <sys/socket.h> only under _GNU_SOURCE.
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

static inline int sluice_errno(void) { return errno; }

static const int sluice_SOCK_STREAM_NONBLOCK_CLOEXEC = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
static const int sluice_SOCK_NONBLOCK_CLOEXEC = SOCK_NONBLOCK | SOCK_CLOEXEC;
static const uint32_t sluice_EPOLLIN = EPOLLIN;
static const uint32_t sluice_EPOLLOUT = EPOLLOUT;
static const uint32_t sluice_EPOLLERR = EPOLLERR;
static const uint32_t sluice_EPOLLHUP = EPOLLHUP;
static const uint32_t sluice_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t sluice_EPOLLET = EPOLLET;

static inline uint64_t sluice_monotonic_nanos(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t sluice_realtime_nanos(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Blocks the given signals in the calling thread (and threads it creates later) so that a
// signalfd receives them instead of a handler.
static inline int sluice_block_signals(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static inline int sluice_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static inline int sluice_ignore_sigpipe(void) {
    return signal(SIGPIPE, SIG_IGN) == SIG_ERR ? -1 : 0;
}

/// Gives freed heap pages back to the kernel (glibc): after a policy load, whose parse churn
/// would otherwise stay resident.
static inline int sluice_release_free_memory(void) { return malloc_trim(0); }

#endif
