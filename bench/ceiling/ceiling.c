/*
 * ceiling.c - benchmark CEILING driver for Coyote's pool benchmark.
 *
 * A minimal, single-threaded C driver that spawns W PHP workers over pipes,
 * does the goridge pid handshake with each, then keeps every worker busy with
 * echo exec frames (one in flight per worker, which is all the protocol
 * allows) for D seconds and reports throughput and latency percentiles.
 * Whatever this reaches is the practical upper bound ("ceiling") for any
 * server-side pool implementation on the same machine and PHP worker.
 *
 * Usage: ceiling [-w WORKERS] [-d SECONDS] [-s BODY_BYTES] [-u WARMUP_SECONDS]
 *                [-f FRAME_FILE] [-m RR_MODE] [-v] -- command args...
 * -v also prints CPU time per call (driver vs. workers, user/sys) to stderr.
 * -f sends, instead of the echo request, a pre-encoded request frame read
 *    from FRAME_FILE (a whole goridge frame: header, option = context length,
 *    payload = context + body; e.g. the HTTP request frame Coyote sends, as
 *    captured by capture-http.sh), RR_MODE=http by default; each response
 *    must then be an HTTP answer: one option, status 200 in its context
 *    (JSON, or http.v1.Response when CODEC_PROTO is set), non-empty body.
 * -m sets RR_MODE for the workers (default: bench; http with -f).
 * Output: ceiling workers=W calls=N seconds=T calls_per_sec=X p50_us=A p99_us=B
 *         (with -f also: mode=http frame_bytes=F response_body_bytes=R)
 *
 * No external libraries: CRC32 is a small table implementation below; it
 * exists only for this ceiling driver (zlib may not be installed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- goridge constants (see shared spec goridge.md) ---- */
#define F_CONTROL 0x01
#define F_CODEC_RAW 0x04
#define F_CODEC_JSON 0x08
#define F_ERROR 0x40
#define F_CODEC_PROTO 0x80
#define STREAM_BIT 0x01 /* byte 10: more frames follow */
#define HDR_MIN 12
#define MAX_OPTS 10
#define MAX_FRAME ((size_t)1 << 30) /* largest response frame accepted */

/* ---- CRC32 (IEEE, zlib polynomial), table-driven; for the ceiling only ---- */
static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Build a frame header (12 + 4*nopts bytes) into out; returns header size. */
static size_t build_header(uint8_t *out, uint8_t flags, uint32_t plen,
                           const uint32_t *opts, int nopts) {
    out[0] = (uint8_t)(0x10 | (3 + nopts));
    out[1] = flags;
    put_u32(out + 2, plen);
    put_u32(out + 6, crc32_ieee(out, 6));
    out[10] = 0;
    out[11] = 0;
    for (int i = 0; i < nopts; i++)
        put_u32(out + 12 + 4 * i, opts[i]);
    return (size_t)(12 + 4 * nopts);
}

/* ---- time ---- */
static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram: 100 ns buckets up to 100 ms, then 100 µs buckets
 * up to 100 s (large bodies), both preallocated ---- */
#define HIST_RES_NS 100ull
#define HIST_BUCKETS 1000000u /* 100 ms */
#define HIST2_RES_NS 100000ull
#define HIST2_BUCKETS 1000000u /* 100 s */
static uint32_t *hist, *hist2;
static uint64_t hist_count, hist_over;
static inline void hist_add(uint64_t ns) {
    uint64_t b = ns / HIST_RES_NS;
    if (b < HIST_BUCKETS) {
        hist[b]++;
    } else {
        b = ns / HIST2_RES_NS;
        if (b >= HIST2_BUCKETS) { hist_over++; b = HIST2_BUCKETS - 1; }
        hist2[b]++;
    }
    hist_count++;
}
static double hist_pct_us(double pct) {
    if (hist_count == 0) return 0.0;
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)hist_count);
    if (rank >= hist_count) rank = hist_count - 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen > rank)
            return (double)(i * HIST_RES_NS + HIST_RES_NS / 2) / 1000.0;
    }
    for (uint32_t i = 0; i < HIST2_BUCKETS; i++) {
        seen += hist2[i];
        if (seen > rank)
            return (double)(i * HIST2_RES_NS + HIST2_RES_NS / 2) / 1000.0;
    }
    return (double)(HIST2_BUCKETS * HIST2_RES_NS) / 1000.0;
}

/* ---- workers ---- */
typedef struct {
    pid_t pid;
    int in_fd;   /* we write -> worker stdin */
    int out_fd;  /* worker stdout -> we read */
    uint8_t *buf;
    size_t cap;  /* allocated size of buf; grows to the largest response */
    size_t have;
    int busy;
    size_t wrote; /* bytes of the current request written so far */
    uint64_t sent_at;
} worker_t;

static void die(const char *msg) {
    fprintf(stderr, "ceiling: %s\n", msg);
    exit(1);
}
static void die_errno(const char *msg) {
    fprintf(stderr, "ceiling: %s: %s\n", msg, strerror(errno));
    exit(1);
}

static worker_t *workers;
static int nworkers;
static struct pollfd *pfds; /* [0, W): stdout (POLLIN); [W, 2W): stdin while a write is pending */

static void kill_all(void) {
    for (int i = 0; i < nworkers; i++)
        if (workers[i].pid > 0) kill(workers[i].pid, SIGKILL);
}

static void write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                poll(&pf, 1, 1000);
                continue;
            }
            kill_all();
            die_errno("write to worker");
        }
        p += r;
        n -= (size_t)r;
    }
}

static void read_exact(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            kill_all();
            die_errno("read from worker");
        }
        if (r == 0) { kill_all(); die("worker closed stdout during handshake"); }
        p += r;
        n -= (size_t)r;
    }
}

/* Validate a header; returns total frame size, fills flags/nopts/plen. */
static size_t parse_header(const uint8_t *h, size_t cap, uint8_t *flags,
                           int *nopts, uint32_t *plen) {
    int hl = h[0] & 0x0F;
    if (hl < 3 || hl > 3 + MAX_OPTS) { kill_all(); die("bad header length"); }
    if (crc32_ieee(h, 6) != get_u32(h + 6)) { kill_all(); die("header CRC mismatch"); }
    *flags = h[1];
    *nopts = hl - 3;
    *plen = get_u32(h + 2);
    size_t total = (size_t)hl * 4 + *plen;
    if (total > cap) { kill_all(); die("frame larger than the limit"); }
    return total;
}

/* Make room for a frame of `total` bytes in w->buf (grows once per new
 * maximum, so no allocation per call once the sizes are known). */
static void reserve(worker_t *w, size_t total) {
    if (total <= w->cap) return;
    uint8_t *nb = realloc(w->buf, total);
    if (!nb) { kill_all(); die("out of memory"); }
    w->buf = nb;
    w->cap = total;
}

/* HTTP mode: does the response context say status 200? JSON
 * `{"status":200,...}` (flags 0 or CODEC_JSON), or http.v1.Response
 * (CODEC_PROTO): field 1 (status, varint). */
static int status_is_200(const uint8_t *ctx, size_t n, uint8_t flags) {
    if (flags & F_CODEC_PROTO) {
        size_t i = 0;
        while (i < n) {
            uint64_t key = 0; int sh = 0;
            while (i < n && sh < 64) { key |= (uint64_t)(ctx[i] & 0x7F) << sh; sh += 7; if (!(ctx[i++] & 0x80)) break; }
            if ((key & 7) == 0) { /* varint */
                uint64_t v = 0; sh = 0;
                while (i < n && sh < 64) { v |= (uint64_t)(ctx[i] & 0x7F) << sh; sh += 7; if (!(ctx[i++] & 0x80)) break; }
                if ((key >> 3) == 1) return v == 200;
            } else if ((key & 7) == 2) { /* length-delimited: skip */
                uint64_t len = 0; sh = 0;
                while (i < n && sh < 64) { len |= (uint64_t)(ctx[i] & 0x7F) << sh; sh += 7; if (!(ctx[i++] & 0x80)) break; }
                if (len > n - i) return 0;
                i += (size_t)len;
            } else {
                return 0;
            }
        }
        return 0;
    }
    static const char key[] = "\"status\"";
    const uint8_t *p = memmem(ctx, n, key, sizeof key - 1);
    if (!p) return 0;
    const uint8_t *end = ctx + n;
    p += sizeof key - 1;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p >= end || *p++ != ':') return 0;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (end - p < 3 || memcmp(p, "200", 3) != 0) return 0;
    return end - p == 3 || !(p[3] >= '0' && p[3] <= '9');
}

/* Read a whole file (the -f frame) into a malloc'd buffer. */
static uint8_t *read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die_errno(path);
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    if (!b) die("out of memory");
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FRAME) die("frame file too large");
            cap *= 2;
            b = realloc(b, cap);
            if (!b) die("out of memory");
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0) { if (errno == EINTR) continue; die_errno(path); }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return b;
}

static const char *rr_mode = "bench";

static pid_t spawn(char **argv, int *in_fd, int *out_fd) {
    int pin[2], pout[2];
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0) die_errno("pipe");
    pid_t pid = fork();
    if (pid < 0) die_errno("fork");
    if (pid == 0) {
        if (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0) _exit(127);
        setenv("RR_RELAY", "pipes", 1);
        setenv("RR_MODE", rr_mode, 1);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "ceiling: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    *in_fd = pin[1];
    *out_fd = pout[0];
    return pid;
}

/* CPU accounting for -v: driver from getrusage, workers from /proc/PID/stat. */
typedef struct { double drv_user, drv_sys, wrk_user, wrk_sys; } cpu_t;
static void snap_cpu(cpu_t *c, int W) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    c->drv_user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    c->drv_sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    c->wrk_user = c->wrk_sys = 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    for (int i = 0; i < W; i++) {
        char path[64], line[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)workers[i].pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(line, sizeof line, f)) {
            char *p = strrchr(line, ')');
            unsigned long ut = 0, st = 0;
            /* after ") " : state(3) ... utime is field 14, stime 15 */
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                            &ut, &st) == 2) {
                c->wrk_user += (double)ut / hz;
                c->wrk_sys += (double)st / hz;
            }
        }
        fclose(f);
    }
}

/* Writes as much of the current request to worker i as its stdin pipe takes
 * (non-blocking); the rest is written when poll() reports POLLOUT, so a large
 * request to one worker never stalls the others' responses. A request that
 * fits the pipe is one write(), as before. */
static void push(int i, const uint8_t *req, size_t req_len) {
    worker_t *w = &workers[i];
    while (w->wrote < req_len) {
        ssize_t r = write(w->in_fd, req + w->wrote, req_len - w->wrote);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { pfds[nworkers + i].fd = w->in_fd; return; }
            kill_all();
            die_errno("write to worker");
        }
        w->wrote += (size_t)r;
    }
    pfds[nworkers + i].fd = -1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: ceiling [-w WORKERS] [-d SECONDS] [-s BODY_BYTES] "
            "[-u WARMUP_SECONDS] [-f FRAME_FILE] [-m RR_MODE] [-v] -- command args...\n");
    exit(2);
}

int main(int argc, char **argv) {
    int W = 1, verbose = 0;
    double D = 3.0, warmup = 0.5;
    long S = 32;
    const char *frame_file = NULL, *mode = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+w:d:s:u:f:m:vh")) != -1) {
        switch (opt) {
        case 'f': frame_file = optarg; break;
        case 'm': mode = optarg; break;
        case 'w': W = atoi(optarg); break;
        case 'd': D = atof(optarg); break;
        case 's': S = atol(optarg); break;
        case 'u': warmup = atof(optarg); break;
        case 'v': verbose = 1; break;
        default: usage();
        }
    }
    if (optind >= argc || W < 1 || W > 4096 || D <= 0 || S < 0 || S > (64 << 20) ||
        warmup < 0)
        usage();
    char **cmd = argv + optind;

    signal(SIGPIPE, SIG_IGN);
    crc_init();
    hist = calloc(HIST_BUCKETS, sizeof *hist);
    hist2 = calloc(HIST2_BUCKETS, sizeof *hist2);
    if (!hist || !hist2) die("out of memory");

    int http = frame_file != NULL;
    rr_mode = mode ? mode : http ? "http" : "bench";
    uint8_t *req;
    size_t req_len;
    if (http) {
        /* Pre-encoded request frame, sent byte for byte as read. */
        req = read_file(frame_file, &req_len);
        if (req_len < HDR_MIN) die("frame file shorter than a frame header");
        uint8_t fl; int no; uint32_t pl;
        size_t total = parse_header(req, MAX_FRAME, &fl, &no, &pl);
        if (total != req_len) {
            fprintf(stderr, "ceiling: %s: frame is %zu bytes by its header, the file %zu\n",
                    frame_file, total, req_len);
            exit(1);
        }
        if (fl & F_CONTROL) die("the frame file holds a CONTROL frame, not a request");
        if (no < 1 || get_u32(req + 12) > pl) die("the frame file's option (context length) is missing or too large");
        S = (long)(pl - get_u32(req + 12)); /* request body bytes, for the buffer size */
    } else {
        /* Prebuilt request: header(16) + "{}" + S body bytes. */
        const char *ctx = "{}";
        uint32_t ctxlen = 2;
        req_len = 16 + ctxlen + (size_t)S;
        req = malloc(req_len);
        if (!req) die("out of memory");
        uint32_t o = ctxlen;
        build_header(req, F_CODEC_RAW, ctxlen + (uint32_t)S, &o, 1);
        memcpy(req + 16, ctx, ctxlen);
        for (long i = 0; i < S; i++) req[16 + ctxlen + i] = (uint8_t)('a' + i % 26);
    }
    /* Response: header (<=52) + echo header + body; allow generous slack.
     * A larger response (HTTP mode) grows the buffer (reserve()). */
    size_t cap = 64 + 4096 + (size_t)S;
    uint64_t resp_body = 0; /* HTTP mode: body bytes of the last response */

    nworkers = W;
    workers = calloc((size_t)W, sizeof *workers);
    pfds = calloc(2 * (size_t)W, sizeof *pfds);
    if (!workers || !pfds) die("out of memory");

    /* Spawn + handshake. */
    char hs[64];
    int hslen = snprintf(hs, sizeof hs, "{\"pid\":%d}", (int)getpid());
    uint8_t hsframe[12 + 64];
    build_header(hsframe, F_CONTROL | F_CODEC_JSON, (uint32_t)hslen, NULL, 0);
    memcpy(hsframe + 12, hs, (size_t)hslen);
    for (int i = 0; i < W; i++) {
        worker_t *w = &workers[i];
        w->pid = spawn(cmd, &w->in_fd, &w->out_fd);
        w->buf = malloc(cap);
        if (!w->buf) die("out of memory");
        w->cap = cap;
    }
    for (int i = 0; i < W; i++) {
        worker_t *w = &workers[i];
        write_all(w->in_fd, hsframe, 12 + (size_t)hslen);
        uint8_t h[HDR_MIN + 4 * MAX_OPTS];
        read_exact(w->out_fd, h, HDR_MIN);
        uint8_t flags; int nopts; uint32_t plen;
        parse_header(h, MAX_FRAME, &flags, &nopts, &plen);
        read_exact(w->out_fd, h + HDR_MIN, (size_t)nopts * 4);
        char pl[256];
        if (plen >= sizeof pl) { kill_all(); die("handshake reply too long"); }
        read_exact(w->out_fd, (uint8_t *)pl, plen);
        pl[plen] = 0;
        if (!(flags & F_CONTROL)) { kill_all(); die("handshake reply lacks CONTROL flag"); }
        const char *p = strstr(pl, "\"pid\"");
        long rpid = 0;
        if (p && (p = strchr(p, ':'))) rpid = strtol(p + 1, NULL, 10);
        if (rpid <= 0) { kill_all(); die("handshake reply without pid"); }
        if (rpid != (long)w->pid)
            fprintf(stderr, "ceiling: note: worker %d reported pid %ld, spawned %d\n",
                    i, rpid, (int)w->pid);
        if (fcntl(w->out_fd, F_SETFL, fcntl(w->out_fd, F_GETFL) | O_NONBLOCK) < 0)
            die_errno("fcntl");
        if (fcntl(w->in_fd, F_SETFL, fcntl(w->in_fd, F_GETFL) | O_NONBLOCK) < 0)
            die_errno("fcntl");
        pfds[i].fd = w->out_fd;
        pfds[i].events = POLLIN;
        pfds[W + i].fd = -1; /* no write pending */
        pfds[W + i].events = POLLOUT;
    }

    /* Load. */
    cpu_t cpu0 = {0}, cpu1 = {0};
    uint64_t polls = 0;
    uint64_t t_start = now_ns();
    uint64_t t_measure = t_start + (uint64_t)(warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(D * 1e9);
    uint64_t calls = 0;
    int measuring = (warmup == 0), stopping = 0, inflight = 0;
    uint64_t t_stop = 0;

    for (int i = 0; i < W; i++) {
        workers[i].sent_at = now_ns();
        workers[i].busy = 1;
        workers[i].wrote = 0;
        inflight++;
        push(i, req, req_len);
    }

    while (inflight > 0) {
        int n = poll(pfds, 2 * (nfds_t)W, stopping ? 5000 : 1000);
        if (measuring && !stopping) polls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            kill_all();
            die_errno("poll");
        }
        if (n == 0) {
            if (stopping) { fprintf(stderr, "ceiling: timeout draining workers\n"); break; }
            kill_all();
            die("no worker answered within 1 s");
        }
        for (int i = W; i < 2 * W && n > 0; i++) { /* pending request writes */
            if (!pfds[i].revents) continue;
            n--;
            push(i - W, req, req_len);
        }
        for (int i = 0; i < W && n > 0; i++) {
            if (!pfds[i].revents) continue;
            n--;
            worker_t *w = &workers[i];
            ssize_t r = read(w->out_fd, w->buf + w->have, w->cap - w->have);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                kill_all();
                die_errno("read");
            }
            if (r == 0) { kill_all(); die("worker exited (EOF on stdout)"); }
            w->have += (size_t)r;
            if (w->have < HDR_MIN) continue;
            uint8_t flags; int nopts; uint32_t plen;
            size_t total = parse_header(w->buf, MAX_FRAME, &flags, &nopts, &plen);
            if (w->have < total) { reserve(w, total); continue; } /* room for the rest */
            uint64_t t = now_ns();
            if (w->have > total || !w->busy) { kill_all(); die("unexpected extra data from worker"); }
            if (w->wrote < req_len) { kill_all(); die("worker answered before its request was written"); }
            if (flags & F_ERROR) {
                fprintf(stderr, "ceiling: worker error: %.*s\n", (int)plen,
                        (char *)w->buf + 12 + 4 * nopts);
                kill_all();
                exit(1);
            }
            if (nopts != 1) { kill_all(); die("response must have exactly one option"); }
            uint32_t hlen = get_u32(w->buf + 12);
            if (hlen > plen) { kill_all(); die("response header length > payload"); }
            if (http) {
                if (w->buf[10] & STREAM_BIT) { kill_all(); die("streamed response (STREAM bit): not supported"); }
                if (!status_is_200(w->buf + 16, hlen, flags)) {
                    fprintf(stderr, "ceiling: response context is not status 200: %.*s\n",
                            (int)(hlen > 200 ? 200 : hlen), (char *)w->buf + 16);
                    kill_all();
                    exit(1);
                }
                if (plen == hlen) { kill_all(); die("empty response body"); }
                resp_body = plen - hlen;
            } else if ((long)(plen - hlen) != S) {
                fprintf(stderr, "ceiling: echoed body is %u bytes, expected %ld\n",
                        plen - hlen, S);
                kill_all();
                exit(1);
            }
            w->have = 0;
            w->busy = 0;
            inflight--;

            if (!measuring && !stopping && t >= t_measure) {
                measuring = 1;
                if (verbose) snap_cpu(&cpu0, W);
            }
            if (measuring && !stopping) {
                if (t >= t_end) {
                    stopping = 1;
                    t_stop = t;
                    if (verbose) snap_cpu(&cpu1, W);
                } else {
                    calls++;
                    hist_add(t - w->sent_at);
                }
            }
            if (!stopping) {
                w->busy = 1;
                inflight++;
                w->sent_at = now_ns();
                w->wrote = 0;
                push(i, req, req_len);
            }
        }
    }
    if (!t_stop) t_stop = now_ns();
    double secs = (double)(t_stop - t_measure) / 1e9;

    /* Stop workers: stop control frame, close stdin, wait, then kill. */
    const char *stop = "{\"stop\":true}";
    uint8_t sframe[12 + 16];
    build_header(sframe, F_CONTROL | F_CODEC_JSON, (uint32_t)strlen(stop), NULL, 0);
    memcpy(sframe + 12, stop, strlen(stop));
    for (int i = 0; i < W; i++) {
        ssize_t r = write(workers[i].in_fd, sframe, 12 + strlen(stop));
        (void)r;
        close(workers[i].in_fd);
    }
    uint64_t deadline = now_ns() + 2000000000ull;
    int alive = W;
    while (alive > 0 && now_ns() < deadline) {
        for (int i = 0; i < W; i++) {
            if (workers[i].pid > 0 && waitpid(workers[i].pid, NULL, WNOHANG) == workers[i].pid) {
                workers[i].pid = 0;
                alive--;
            }
        }
        if (alive > 0) usleep(5000);
    }
    for (int i = 0; i < W; i++) {
        if (workers[i].pid > 0) {
            kill(workers[i].pid, SIGKILL);
            waitpid(workers[i].pid, NULL, 0);
        }
        close(workers[i].out_fd);
    }
    if (hist_over)
        fprintf(stderr, "ceiling: %llu calls above 100 s (clamped)\n",
                (unsigned long long)hist_over);

    printf("ceiling workers=%d calls=%llu seconds=%.3f calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f",
           W, (unsigned long long)calls, secs, secs > 0 ? (double)calls / secs : 0.0,
           hist_pct_us(50.0), hist_pct_us(99.0));
    if (http)
        printf(" mode=%s frame_bytes=%zu response_body_bytes=%llu", rr_mode, req_len,
               (unsigned long long)resp_body);
    printf("\n");
    fflush(stdout);
    if (verbose && calls > 0) {
        double k = 1e6 / (double)calls;
        fprintf(stderr,
                "ceiling cpu_us_per_call: driver user=%.2f sys=%.2f workers user=%.2f sys=%.2f "
                "(total %.2f; %.2f cores busy) calls_per_poll=%.2f\n",
                (cpu1.drv_user - cpu0.drv_user) * k, (cpu1.drv_sys - cpu0.drv_sys) * k,
                (cpu1.wrk_user - cpu0.wrk_user) * k, (cpu1.wrk_sys - cpu0.wrk_sys) * k,
                (cpu1.drv_user - cpu0.drv_user + cpu1.drv_sys - cpu0.drv_sys +
                 cpu1.wrk_user - cpu0.wrk_user + cpu1.wrk_sys - cpu0.wrk_sys) * k,
                (cpu1.drv_user - cpu0.drv_user + cpu1.drv_sys - cpu0.drv_sys +
                 cpu1.wrk_user - cpu0.wrk_user + cpu1.wrk_sys - cpu0.wrk_sys) / secs,
                polls ? (double)calls / (double)polls : 0.0);
    }
    return 0;
}
