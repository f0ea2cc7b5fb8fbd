/*
 * An independent check of the floors of `mycelium-bench compare --only w8,w9`: the same
 * round trips and one-way streams, written again in plain C with nothing shared with the
 * Rust harness but the sizes. If a floor of the harness is much slower than this one, the
 * ratios measured against it flatter Mycelium.
 *
 *     cc -O2 -o /tmp/floors benches/floors/floors.c
 *     /tmp/floors rtt unix spin        # w8: raw over a Unix socket pair, 112-byte frames
 *     /tmp/floors rtt tcp block        # w8: raw over loopback TCP (TCP_NODELAY)
 *     /tmp/floors stream unix spin     # w9: one write per frame, one-byte answer at the end
 *     /tmp/floors rtt ring spin        # w8 over shared memory: a ring of 64-byte slots
 *     /tmp/floors stream ring block    # w9 over shared memory
 *
 * Sockets: frames of 112 bytes (a mycelium frame of the benchmark's `Quote` to service
 * `echo`); spin mode reads a non-blocking socket in a loop, block mode a blocking one.
 * Rings: one single-producer/single-consumer ring per direction of 16384 slots of 64 bytes
 * (1 MiB, a link's ring by default) in a shared anonymous mapping made before `fork`; the
 * consumer copies each slot out. In block mode an end that finds nothing to do sets its
 * index's sleeping word, fences and looks again before it parks on the index's futex; the
 * other end publishes, fences, and wakes it only if that word is set.
 *
 * Prints lines in the harness's own form: `w8 ... p50_ns=.. p99_ns=..` or
 * `w9 ... msgs_per_sec=..`. Exit status 1 on any error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { FRAME = 112, SLOT = 64, SLOTS = 16384, ROUNDS = 100000, WARMUP = 10000 };
enum { STREAM_SOCKET = 1000000, STREAM_RING = 10000000 };

static int spin;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report_rtt(const char *what, int64_t *samples) {
    qsort(samples, ROUNDS, sizeof *samples, by_value);
    printf("w8 independent %s mode=%s p50_ns=%lld p99_ns=%lld\n", what, spin ? "spin" : "block",
           (long long)samples[ROUNDS / 2], (long long)samples[(long)ROUNDS * 99 / 100]);
}

static void report_rate(const char *what, long n, int64_t ns) {
    printf("w9 independent %s mode=%s msgs_per_sec=%.0f\n", what, spin ? "spin" : "block",
           n / (ns / 1e9));
}

/* Forks; the child is killed if this process dies first (a ring's end would wait forever). */
static pid_t fork_child(void) {
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
        _exit(1);
    return pid;
}

/* ---- sockets ---------------------------------------------------------------------- */

/* Reads exactly `n` bytes; returns 0 at end of file. */
static int read_all(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            return 0;
        else if (errno != EAGAIN && errno != EINTR)
            die("read");
    }
    return 1;
}

static void write_all(int fd, const char *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, buf + put, n - put);
        if (r > 0)
            put += (size_t)r;
        else if (r < 0 && errno != EAGAIN && errno != EINTR)
            die("write");
    }
}

static void socket_pair(const char *kind, int fds[2]) {
    if (!strcmp(kind, "unix")) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
            die("socketpair");
    } else {
        struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof at;
        int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || bind(l, (void *)&at, sizeof at) || listen(l, 1) ||
            getsockname(l, (void *)&at, &len))
            die("listen");
        fds[0] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[0] < 0 || connect(fds[0], (void *)&at, sizeof at))
            die("connect");
        if ((fds[1] = accept(l, NULL, NULL)) < 0)
            die("accept");
        close(l);
        for (int i = 0; i < 2; i++)
            if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
                die("TCP_NODELAY");
    }
    for (int i = 0; spin && i < 2; i++)
        if (fcntl(fds[i], F_SETFL, O_NONBLOCK))
            die("O_NONBLOCK");
}

static void socket_rtt(const char *kind) {
    int fds[2];
    char frame[FRAME];
    memset(frame, 7, sizeof frame);
    socket_pair(kind, fds);
    pid_t echo = fork_child();
    if (echo == 0) {
        close(fds[0]);
        while (read_all(fds[1], frame, FRAME))
            write_all(fds[1], frame, FRAME);
        _exit(0);
    }
    close(fds[1]);
    int64_t *samples = malloc(sizeof(int64_t) * ROUNDS);
    for (long i = 0; i < WARMUP + ROUNDS; i++) {
        int64_t t0 = now_ns();
        write_all(fds[0], frame, FRAME);
        if (!read_all(fds[0], frame, FRAME))
            die("echo ended");
        if (i >= WARMUP)
            samples[i - WARMUP] = now_ns() - t0;
    }
    close(fds[0]);
    waitpid(echo, NULL, 0);
    report_rtt(kind, samples);
    free(samples);
}

static void socket_stream(const char *kind) {
    int fds[2];
    static char buf[1 << 16];
    memset(buf, 7, sizeof buf);
    socket_pair(kind, fds);
    long total = (long)STREAM_SOCKET * FRAME;
    pid_t sink = fork_child();
    if (sink == 0) {
        close(fds[0]);
        for (long got = 0; got < total;) {
            ssize_t r = read(fds[1], buf, sizeof buf);
            if (r > 0)
                got += r;
            else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                _exit(1);
        }
        write_all(fds[1], buf, 1);
        _exit(0);
    }
    close(fds[1]);
    int64_t t0 = now_ns();
    for (long i = 0; i < STREAM_SOCKET; i++)
        write_all(fds[0], buf, FRAME);
    if (!read_all(fds[0], buf, 1))
        die("sink ended");
    int64_t ns = now_ns() - t0;
    int status;
    waitpid(sink, &status, 0);
    if (status)
        die("sink failed");
    report_rate(kind, STREAM_SOCKET, ns);
}

/* ---- rings ------------------------------------------------------------------------ */

/* An index and the sleeping word of the end that parks on it, on a cache line pair. */
struct line {
    _Atomic uint32_t index;
    _Atomic uint32_t sleeping;
    char pad[120];
};

struct ring {
    struct line write, read;
    uint64_t slots[SLOTS][SLOT / 8];
};

static uint32_t wait_move(struct line *l, uint32_t seen) {
    for (;;) {
        uint32_t v = atomic_load_explicit(&l->index, memory_order_acquire);
        if (v != seen)
            return v;
        if (spin)
            continue;
        atomic_store_explicit(&l->sleeping, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&l->index, memory_order_acquire) == seen)
            syscall(SYS_futex, &l->index, FUTEX_WAIT, seen, NULL, NULL, 0);
        atomic_store_explicit(&l->sleeping, 0, memory_order_relaxed);
    }
}

static void publish(struct line *l, uint32_t v) {
    atomic_store_explicit(&l->index, v, memory_order_release);
    if (spin)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&l->sleeping, memory_order_relaxed))
        syscall(SYS_futex, &l->index, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* One end of one direction: its own index, and the other end's as last read. */
struct end {
    uint32_t mine, seen;
};

static void ring_send(struct ring *r, struct end *e, const uint64_t *msg) {
    while (e->mine - e->seen >= SLOTS) {
        e->seen = atomic_load_explicit(&r->read.index, memory_order_acquire);
        if (e->mine - e->seen >= SLOTS)
            e->seen = wait_move(&r->read, e->seen);
    }
    memcpy(r->slots[e->mine % SLOTS], msg, SLOT);
    publish(&r->write, ++e->mine);
}

static void ring_recv(struct ring *r, struct end *e, uint64_t *msg) {
    if (e->seen == e->mine)
        e->seen = wait_move(&r->write, e->mine);
    memcpy(msg, r->slots[e->mine % SLOTS], SLOT);
    publish(&r->read, ++e->mine);
}

static struct ring *two_rings(void) {
    struct ring *r = mmap(NULL, 2 * sizeof(struct ring), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        die("mmap");
    return r;
}

static void ring_rtt(void) {
    struct ring *r = two_rings();
    uint64_t msg[SLOT / 8] = {0};
    long n = WARMUP + ROUNDS;
    pid_t echo = fork_child();
    if (echo == 0) {
        struct end in = {0}, out = {0};
        for (long i = 0; i < n; i++) {
            ring_recv(&r[0], &in, msg);
            msg[0] += 1;
            ring_send(&r[1], &out, msg);
        }
        _exit(0);
    }
    struct end out = {0}, in = {0};
    int64_t *samples = malloc(sizeof(int64_t) * ROUNDS);
    for (long i = 0; i < n; i++) {
        msg[0] = (uint64_t)i;
        int64_t t0 = now_ns();
        ring_send(&r[0], &out, msg);
        ring_recv(&r[1], &in, msg);
        int64_t dt = now_ns() - t0;
        if (msg[0] != (uint64_t)i + 1)
            die("ring echo");
        if (i >= WARMUP)
            samples[i - WARMUP] = dt;
    }
    waitpid(echo, NULL, 0);
    report_rtt("ring", samples);
    free(samples);
}

static void ring_stream(void) {
    struct ring *r = two_rings();
    uint64_t msg[SLOT / 8] = {0};
    pid_t sink = fork_child();
    if (sink == 0) {
        struct end in = {0}, out = {0};
        for (long i = 0; i < STREAM_RING; i++) {
            ring_recv(&r[0], &in, msg);
            if (msg[0] != (uint64_t)i)
                _exit(1);
        }
        ring_send(&r[1], &out, msg);
        _exit(0);
    }
    struct end out = {0}, in = {0};
    int64_t t0 = now_ns();
    for (long i = 0; i < STREAM_RING; i++) {
        msg[0] = (uint64_t)i;
        ring_send(&r[0], &out, msg);
    }
    ring_recv(&r[1], &in, msg);
    int64_t ns = now_ns() - t0;
    int status;
    waitpid(sink, &status, 0);
    if (status || msg[0] != STREAM_RING - 1)
        die("ring sink");
    report_rate("ring", STREAM_RING, ns);
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "rtt") && strcmp(argv[1], "stream")) ||
        (strcmp(argv[2], "unix") && strcmp(argv[2], "tcp") && strcmp(argv[2], "ring")) ||
        (strcmp(argv[3], "spin") && strcmp(argv[3], "block"))) {
        fprintf(stderr, "usage: %s rtt|stream unix|tcp|ring spin|block\n", argv[0]);
        return 1;
    }
    spin = !strcmp(argv[3], "spin");
    int rtt = !strcmp(argv[1], "rtt");
    if (!strcmp(argv[2], "ring"))
        rtt ? ring_rtt() : ring_stream();
    else
        rtt ? socket_rtt(argv[2]) : socket_stream(argv[2]);
    return 0;
}
