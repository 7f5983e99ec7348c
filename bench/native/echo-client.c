/*
 * echo-client: the echo benchmark's cheap load generator (issue 18).
 *
 * One thread, epoll (level-triggered), N TCP connections to host:port. Panda's TCP framing: a
 * 2-byte little-endian length, then the payload. Each connection keeps `window` datagrams in
 * flight: it writes the first `window` at once, then, for each read that completed k echoes, k
 * new datagrams in one write, until `count` echoes came back (the same closed loop as the Node
 * client, bench/e2e/load-task.ts).
 *
 * Every echo is verified: length == size, sequence number (u32 LE at 0) == the next one the
 * connection expects, connection tag (u32 LE at 4) == the connection's, and every byte after
 * that == (seq + tag * 3 + i) & 0xff (i = byte offset). A failed check counts as a mismatch.
 *
 * Output: one JSON line per pass on stdout:
 *   {"kind":"result","pass":"measured","connections":..,"datagrams":..,"expected":..,
 *    "mismatches":..,"errors":[..],"elapsedMs":..,"medianConnectionDoneMs":..,"cpuUs":..,
 *    "userUs":..,"sysUs":..,"timedOut":false}
 * `elapsedMs` runs from "go" to the last echo (CLOCK_MONOTONIC); `cpuUs` is this process's own CPU
 * over the same span (getrusage), so a result shows the client's CPU per datagram.
 *
 * With --warmup W, an unmeasured pass of W datagrams per connection (on connections of its own)
 * runs first. With --control, before each pass the client opens the pass's connections, prints
 * {"kind":"ready"} and waits for a line "go" on stdin; between the warm-up and the measured pass
 * it waits for a line "next" (how bench/lib/native-load.ts drives it, mirroring the Node client's
 * IPC in bench/e2e/protocol.ts). Without --control the passes run back to back.
 *
 * Usage: echo-client --port P [--host 127.0.0.1] [--connections 100] [--count 2000]
 *                    [--window 32] [--size 64] [--warmup 0] [--deadline-ms 55000] [--control]
 * Exit status: 0 when every pass got all its echoes with no mismatch, 1 otherwise, 2 on bad usage.
 *
 * Build: cc -O2 -o echo-client echo-client.c  (Linux: epoll)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF (64 * 1024)
#define MAX_ERRORS 10

struct conn {
  int fd;
  uint32_t tag;
  uint32_t sent;     /* datagrams written (or queued in out) */
  uint32_t received; /* echoes received */
  int done;          /* all echoes back */
  int dead;          /* closed or failed before done */
  double done_ms;    /* when done, ms from go */
  uint8_t *partial;  /* bytes of an incomplete frame from the last read */
  size_t partial_len;
  uint8_t *out; /* bytes not yet accepted by the kernel */
  size_t out_len, out_cap;
  int want_out; /* EPOLLOUT registered */
};

static const char *g_host = "127.0.0.1";
static int g_port = -1;
static uint32_t g_connections = 100, g_count = 2000, g_window = 32, g_size = 64, g_warmup = 0;
static long g_deadline_ms = 55000;
static int g_control = 0;

static char g_errors[MAX_ERRORS][200];
static int g_nerrors = 0;
static uint64_t g_mismatches = 0;
static uint8_t *g_frames; /* scratch for building writes: window frames */
static uint8_t g_readbuf[READ_BUF + 65536 + 2];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void cpu_us(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec;
  *sys = (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static void add_error(const char *fmt, uint32_t tag, const char *what) {
  if (g_nerrors >= MAX_ERRORS) return;
  snprintf(g_errors[g_nerrors], sizeof g_errors[0], fmt, tag, what);
  /* keep the JSON simple: no quotes or backslashes in messages */
  for (char *p = g_errors[g_nerrors]; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
  g_nerrors++;
}

static void fill_frame(uint8_t *f, uint32_t seq, uint32_t tag) {
  f[0] = (uint8_t)(g_size & 0xff);
  f[1] = (uint8_t)(g_size >> 8);
  uint8_t *p = f + 2;
  p[0] = (uint8_t)seq; p[1] = (uint8_t)(seq >> 8); p[2] = (uint8_t)(seq >> 16); p[3] = (uint8_t)(seq >> 24);
  p[4] = (uint8_t)tag; p[5] = (uint8_t)(tag >> 8); p[6] = (uint8_t)(tag >> 16); p[7] = (uint8_t)(tag >> 24);
  uint8_t base = (uint8_t)(seq + tag * 3u);
  for (uint32_t i = 8; i < g_size; i++) p[i] = (uint8_t)(base + i);
}

/* 1 when the payload (g_size bytes) is the one datagram `seq` of connection `tag` carries. */
static int payload_ok(const uint8_t *p, uint32_t seq, uint32_t tag) {
  uint32_t s = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
  uint32_t t = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 24);
  if (s != seq || t != tag) return 0;
  uint8_t base = (uint8_t)(seq + tag * 3u);
  for (uint32_t i = 8; i < g_size; i++)
    if (p[i] != (uint8_t)(base + i)) return 0;
  return 1;
}

static void set_out_interest(int ep, struct conn *c, int want) {
  if (c->want_out == want) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = want;
}

static void mark_dead(int ep, struct conn *c, const char *why) {
  if (c->dead || c->done) return;
  c->dead = 1;
  add_error("connection %u: %s", c->tag, why);
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
}

/* Appends bytes to the connection's unsent queue. */
static void queue_out(struct conn *c, const uint8_t *b, size_t n) {
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap * 2 + n;
    c->out = realloc(c->out, cap);
    if (c->out == NULL) { perror("realloc"); exit(1); }
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, b, n);
  c->out_len += n;
}

/* Writes what is queued; returns -1 when the connection failed. */
static int flush_out(int ep, struct conn *c) {
  while (c->out_len > 0) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) { set_out_interest(ep, c, 1); return 0; }
      if (errno == EINTR) continue;
      mark_dead(ep, c, strerror(errno));
      return -1;
    }
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
  }
  set_out_interest(ep, c, 0);
  return 0;
}

/* Writes k new datagrams in one write (what the kernel does not take is queued). */
static void send_more(int ep, struct conn *c, uint32_t k, uint32_t count) {
  if (k > count - c->sent) k = count - c->sent;
  if (k > g_window) k = g_window; /* g_frames holds a window; more only if the server sent extra frames */
  if (k == 0) return;
  size_t frame = (size_t)g_size + 2;
  for (uint32_t i = 0; i < k; i++) fill_frame(g_frames + i * frame, c->sent + i, c->tag);
  c->sent += k;
  size_t n = k * frame;
  if (c->out_len > 0) { /* keep the order: behind what is already queued */
    queue_out(c, g_frames, n);
    flush_out(ep, c);
    return;
  }
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(c->fd, g_frames + off, n - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      mark_dead(ep, c, strerror(errno));
      return;
    }
    off += (size_t)w;
  }
  if (off < n) {
    queue_out(c, g_frames + off, n - off);
    set_out_interest(ep, c, 1);
  }
}

static int open_conn(struct conn *c, uint32_t tag) {
  memset(c, 0, sizeof *c);
  c->tag = tag;
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  if (inet_pton(AF_INET, g_host, &a.sin_addr) != 1) { errno = EINVAL; return -1; }
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  c->partial = malloc((size_t)g_size + 2);
  c->out_cap = ((size_t)g_size + 2) * g_window;
  c->out = malloc(c->out_cap);
  if (c->partial == NULL || c->out == NULL) return -1;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Reads one line from stdin (control mode); returns 0 at EOF. */
static int read_line(char *buf, size_t n) {
  if (fgets(buf, (int)n, stdin) == NULL) return 0;
  buf[strcspn(buf, "\r\n")] = 0;
  return 1;
}

static void wait_for(const char *word) {
  char line[64];
  for (;;) {
    if (!read_line(line, sizeof line)) exit(3); /* the driver went away */
    if (strcmp(line, word) == 0) return;
    fprintf(stderr, "echo-client: expected \"%s\", got \"%s\"\n", word, line);
  }
}

/* Runs one pass; returns 1 when complete and clean. */
static int run_pass(const char *name, uint32_t count, uint32_t tag_base) {
  g_nerrors = 0;
  g_mismatches = 0;
  struct conn *conns = calloc(g_connections, sizeof *conns);
  if (conns == NULL) { perror("calloc"); exit(1); }
  int ep = epoll_create1(0);
  uint32_t opened = 0;
  for (; opened < g_connections; opened++) {
    if (open_conn(&conns[opened], tag_base + opened) != 0) {
      add_error("connect %u: %s", tag_base + opened, strerror(errno));
      break;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[opened]};
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[opened].fd, &ev);
  }
  if (g_control) {
    printf("{\"kind\":\"ready\",\"pass\":\"%s\",\"connections\":%u}\n", name, opened);
    fflush(stdout);
    wait_for("go");
  }

  double u0, s0;
  cpu_us(&u0, &s0);
  double t0 = now_ms();
  double deadline = t0 + (double)g_deadline_ms;
  uint32_t finished = 0; /* done or dead */
  int timed_out = 0;
  size_t frame = (size_t)g_size + 2;
  if (g_nerrors == 0) {
    for (uint32_t i = 0; i < opened; i++) send_more(ep, &conns[i], g_window, count);
    for (uint32_t i = 0; i < opened; i++)
      if (conns[i].dead) finished++;
  } else {
    finished = opened; /* a connect failed: report at once */
  }
  if (count == 0) finished = opened;

  struct epoll_event evs[256];
  while (finished < opened) {
    double left = deadline - now_ms();
    if (left <= 0) { timed_out = 1; break; }
    int n = epoll_wait(ep, evs, 256, left > 100 ? 100 : (int)left + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      add_error("epoll_wait %u: %s", 0, strerror(errno));
      break;
    }
    for (int e = 0; e < n; e++) {
      struct conn *c = evs[e].data.ptr;
      if (c->dead || c->done) continue;
      if (evs[e].events & EPOLLOUT) {
        if (flush_out(ep, c) != 0) { finished++; continue; }
      }
      if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      memcpy(g_readbuf, c->partial, c->partial_len);
      ssize_t r = recv(c->fd, g_readbuf + c->partial_len, READ_BUF, 0);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        mark_dead(ep, c, strerror(errno));
        finished++;
        continue;
      }
      if (r == 0) {
        char why[80];
        snprintf(why, sizeof why, "closed after %u echoes", c->received);
        mark_dead(ep, c, why);
        finished++;
        continue;
      }
      size_t len = c->partial_len + (size_t)r, off = 0;
      uint32_t got = 0;
      while (len - off >= 2) {
        size_t l = (size_t)g_readbuf[off] | ((size_t)g_readbuf[off + 1] << 8);
        if (len - off - 2 < l) break;
        if (l != g_size || !payload_ok(g_readbuf + off + 2, c->received + got, c->tag)) g_mismatches++;
        got++;
        off += 2 + l;
      }
      c->partial_len = len - off;
      if (c->partial_len > frame) { /* a frame longer than ours: cannot be an echo */
        mark_dead(ep, c, "oversized frame");
        finished++;
        continue;
      }
      memcpy(c->partial, g_readbuf + off, c->partial_len);
      if (got == 0) continue;
      c->received += got;
      if (c->received >= count) {
        c->done = 1;
        c->done_ms = now_ms() - t0;
        finished++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
      } else {
        send_more(ep, c, got, count);
        if (c->dead) finished++;
      }
    }
  }
  double t_end = now_ms();
  double u1, s1;
  cpu_us(&u1, &s1);

  double last = 0;
  uint64_t echoes = 0;
  uint32_t ndone = 0;
  double *dones = malloc(sizeof(double) * (opened > 0 ? opened : 1));
  for (uint32_t i = 0; i < opened; i++) {
    echoes += conns[i].received;
    if (conns[i].done) {
      dones[ndone++] = conns[i].done_ms;
      if (conns[i].done_ms > last) last = conns[i].done_ms;
    }
  }
  double elapsed = (ndone == opened && opened > 0 && !timed_out) ? last : t_end - t0;
  qsort(dones, ndone, sizeof(double), cmp_double);
  if (timed_out) add_error("deadline of %u ms passed%s", (uint32_t)g_deadline_ms, "");

  uint64_t expected = (uint64_t)g_connections * count;
  printf("{\"kind\":\"result\",\"pass\":\"%s\",\"connections\":%u,\"datagrams\":%llu,\"expected\":%llu,"
         "\"mismatches\":%llu,\"elapsedMs\":%.3f,\"medianConnectionDoneMs\":%.3f,\"cpuUs\":%.0f,"
         "\"userUs\":%.0f,\"sysUs\":%.0f,\"timedOut\":%s,\"errors\":[",
         name, opened, (unsigned long long)echoes, (unsigned long long)expected, (unsigned long long)g_mismatches,
         elapsed, ndone > 0 ? dones[(ndone - 1) / 2] : -1.0, (u1 - u0) + (s1 - s0), u1 - u0, s1 - s0,
         timed_out ? "true" : "false");
  for (int i = 0; i < g_nerrors; i++) printf("%s\"%s\"", i ? "," : "", g_errors[i]);
  printf("]}\n");
  fflush(stdout);

  int ok = !timed_out && g_nerrors == 0 && g_mismatches == 0 && echoes == expected;
  for (uint32_t i = 0; i < opened; i++) {
    close(conns[i].fd);
    free(conns[i].partial);
    free(conns[i].out);
  }
  free(dones);
  free(conns);
  close(ep);
  return ok;
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo-client --port P [--host 127.0.0.1] [--connections 100] [--count 2000] [--window 32]\n"
          "                   [--size 64] [--warmup 0] [--deadline-ms 55000] [--control]\n");
  exit(2);
}

static long num(const char *s, long lo, long hi) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == 0 || *end != 0 || v < lo || v > hi) usage();
  return v;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--control") == 0) { g_control = 1; continue; }
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (strcmp(a, "--host") == 0) g_host = v;
    else if (strcmp(a, "--port") == 0) g_port = (int)num(v, 1, 65535);
    else if (strcmp(a, "--connections") == 0) g_connections = (uint32_t)num(v, 1, 100000);
    else if (strcmp(a, "--count") == 0) g_count = (uint32_t)num(v, 0, 2000000000);
    else if (strcmp(a, "--window") == 0) g_window = (uint32_t)num(v, 1, 65536);
    else if (strcmp(a, "--size") == 0) g_size = (uint32_t)num(v, 8, 65535);
    else if (strcmp(a, "--warmup") == 0) g_warmup = (uint32_t)num(v, 0, 2000000000);
    else if (strcmp(a, "--deadline-ms") == 0) g_deadline_ms = num(v, 1, 3600000);
    else usage();
  }
  if (g_port < 0) usage();
  g_frames = malloc(((size_t)g_size + 2) * g_window);
  if (g_frames == NULL) { perror("malloc"); return 1; }
  int ok = 1;
  if (g_warmup > 0) {
    ok &= run_pass("warmup", g_warmup, 0);
    if (g_control) wait_for("next");
  }
  /* Both passes tag their connections 0..N-1, like the Node client's tasks. */
  ok &= run_pass("measured", g_count, 0);
  return ok ? 0 : 1;
}
