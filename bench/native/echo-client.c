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
 * With --phases it is instead the fixed-rate client of the latency and budget workloads (see
 * "phases mode" below).
 *
 * Usage: echo-client --port P [--host 127.0.0.1] [--connections 100] [--count 2000]
 *                    [--window 32] [--size 64] [--warmup 0] [--deadline-ms 55000] [--control]
 *        echo-client --phases --port P [--host 127.0.0.1] [--connections 100] [--size 64]
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
static int g_phases = 0;

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


/* ---- phases mode (--phases): the fixed-rate client of the latency and budget workloads ---------
 *
 * The same phases as the Node rate client (bench/e2e/rate-task.ts), one thread for all connections:
 * - "max <id> <inFlight> <warmupMs> <measureMs> <drainMs>": closed loop, inFlight datagrams
 *   outstanding per connection until the measured part ends; counts the echoes received in it.
 * - "rate <id> <ratePerSec> <warmupMs> <measureMs> <drainMs>": open loop. Datagram i is due at
 *   t0 + i / rate; a 1 ms ticker writes everything due (round-robin over the connections, one write
 *   per connection per tick). Each datagram carries its due time and its write time; its round trip
 *   is timed from the due time (no coordinated omission); the ticker's lateness (sendLag) and the
 *   round trip from the write (service) are recorded too. Datagrams still missing drainMs after the
 *   last send are charged the time waited so far (a lower bound) and counted as missing.
 * - "end": close and exit.
 * Payload (size >= 24): seq u32 | connection u16 | phase u16 | due f64 ms | written f64 ms | bytes
 * (seq + connection * 3 + i) & 0xff. Echoes of an earlier phase are ignored; out of order, another
 * connection's or corrupt ones are mismatches; a gap in the sequence is datagrams the server
 * dropped. Each phase answers one line: {"kind":"phaseResult",...} with exact nearest-rank
 * percentiles (µs) of every measured datagram, and this process's CPU over the phase.
 */

struct rec { double *v; size_t n, cap; uint64_t overflow; };

static void rec_reset(struct rec *r) { r->n = 0; r->overflow = 0; }

static void rec_add(struct rec *r, double x) {
  if (r->n == r->cap) {
    if (r->cap >= 2000000) { r->overflow++; return; }
    size_t cap = r->cap ? r->cap * 2 : 65536;
    if (cap > 2000000) cap = 2000000;
    double *v = realloc(r->v, cap * sizeof(double));
    if (v == NULL) { r->overflow++; return; }
    r->v = v;
    r->cap = cap;
  }
  r->v[r->n++] = x;
}

static void print_num(double x) {
  if (x != x) printf("null");
  else printf("%.3f", x);
}

static double rank_of(const double *v, size_t n, double q) {
  if (n == 0) return 0.0 / 0.0;
  double r = q * (double)n;
  size_t rank = (size_t)r;
  if ((double)rank < r) rank++;
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}

static void print_percentiles(const char *name, struct rec *r) {
  qsort(r->v, r->n, sizeof(double), cmp_double);
  double sum = 0;
  for (size_t i = 0; i < r->n; i++) sum += r->v[i];
  double nan = 0.0 / 0.0;
  printf(",\"%s\":{\"count\":%zu,\"min\":", name, r->n);
  print_num(r->n ? r->v[0] : nan);
  printf(",\"p50\":"); print_num(rank_of(r->v, r->n, 0.5));
  printf(",\"p90\":"); print_num(rank_of(r->v, r->n, 0.9));
  printf(",\"p99\":"); print_num(rank_of(r->v, r->n, 0.99));
  printf(",\"p999\":"); print_num(rank_of(r->v, r->n, 0.999));
  printf(",\"max\":"); print_num(r->n ? r->v[r->n - 1] : nan);
  printf(",\"mean\":"); print_num(r->n ? sum / (double)r->n : nan);
  printf(",\"overflow\":%llu}", (unsigned long long)r->overflow);
}

struct rconn {
  int fd;
  uint16_t index;
  uint32_t send_seq, recv_seq;
  double *due; /* due times written and not yet echoed (rate), from due_head */
  size_t due_head, due_len, due_cap;
  uint8_t *partial;
  size_t partial_len;
  uint8_t *out;
  size_t out_len, out_cap;
  int want_out, dead;
  double *batch; /* this tick's due times for this connection */
  size_t batch_len, batch_cap;
};

struct phase {
  int active;
  uint16_t id;
  int rate; /* 0: max */
  uint32_t in_flight;
  double measure_start, measure_end;
  int sending;
  uint64_t received, measured_received, mismatches, dropped;
  struct rec latency, service, send_lag;
};

static struct rconn *g_rc;
static uint32_t g_nrc;
static int g_rep;
static struct phase g_ph;
static uint8_t *g_scratch;
static size_t g_scratch_cap;

static void dpush(double **v, size_t *len, size_t *cap, double x) {
  if (*len == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    *v = realloc(*v, *cap * sizeof(double));
    if (*v == NULL) { perror("realloc"); exit(1); }
  }
  (*v)[(*len)++] = x;
}

static void rc_set_out(struct rconn *c, int want) {
  if (c->want_out == want) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(g_rep, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = want;
}

static void rc_dead(struct rconn *c, const char *why) {
  if (c->dead) return;
  c->dead = 1;
  add_error("connection %u: %s", c->index, why);
  epoll_ctl(g_rep, EPOLL_CTL_DEL, c->fd, NULL);
}

static void rc_flush(struct rconn *c) {
  while (c->out_len > 0) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) { rc_set_out(c, 1); return; }
      rc_dead(c, strerror(errno));
      return;
    }
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
  }
  rc_set_out(c, 0);
}

/* Writes k datagrams with the given due times (written = now) in one write. */
static void rc_write(struct rconn *c, const double *dues, size_t k, double now) {
  if (k == 0 || c->dead) return;
  size_t frame = (size_t)g_size + 2, n = k * frame;
  if (n > g_scratch_cap) {
    g_scratch_cap = n * 2;
    g_scratch = realloc(g_scratch, g_scratch_cap);
    if (g_scratch == NULL) { perror("realloc"); exit(1); }
  }
  for (size_t i = 0; i < k; i++) {
    uint8_t *f = g_scratch + i * frame;
    uint32_t seq = c->send_seq + (uint32_t)i;
    f[0] = (uint8_t)(g_size & 0xff); f[1] = (uint8_t)(g_size >> 8);
    uint8_t *p = f + 2;
    p[0] = (uint8_t)seq; p[1] = (uint8_t)(seq >> 8); p[2] = (uint8_t)(seq >> 16); p[3] = (uint8_t)(seq >> 24);
    p[4] = (uint8_t)c->index; p[5] = (uint8_t)(c->index >> 8);
    p[6] = (uint8_t)g_ph.id; p[7] = (uint8_t)(g_ph.id >> 8);
    memcpy(p + 8, &dues[i], 8);
    memcpy(p + 16, &now, 8);
    uint8_t base = (uint8_t)(seq + (uint32_t)c->index * 3u);
    for (uint32_t j = 24; j < g_size; j++) p[j] = (uint8_t)(base + j);
  }
  c->send_seq += (uint32_t)k;
  if (c->out_len + n > c->out_cap) {
    c->out_cap = (c->out_len + n) * 2;
    c->out = realloc(c->out, c->out_cap);
    if (c->out == NULL) { perror("realloc"); exit(1); }
  }
  memcpy(c->out + c->out_len, g_scratch, n);
  c->out_len += n;
  rc_flush(c);
}

static void rc_read(struct rconn *c) {
  memcpy(g_readbuf, c->partial, c->partial_len);
  ssize_t r = recv(c->fd, g_readbuf + c->partial_len, READ_BUF, 0);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    rc_dead(c, strerror(errno));
    return;
  }
  if (r == 0) { rc_dead(c, "closed by the server"); return; }
  double now = now_ms();
  size_t len = c->partial_len + (size_t)r, off = 0;
  uint32_t got = 0, freed = 0;
  struct phase *st = &g_ph;
  while (len - off >= 2) {
    size_t l = (size_t)g_readbuf[off] | ((size_t)g_readbuf[off + 1] << 8);
    if (len - off - 2 < l) break;
    const uint8_t *p = g_readbuf + off + 2;
    off += 2 + l;
    if (!st->active || l != g_size || ((uint16_t)(p[6] | (p[7] << 8))) != st->id) continue; /* stale */
    uint32_t seq = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    uint16_t idx = (uint16_t)(p[4] | (p[5] << 8));
    int bad = seq < c->recv_seq || seq >= c->send_seq || idx != c->index;
    uint8_t base = (uint8_t)(seq + (uint32_t)c->index * 3u);
    for (uint32_t j = 24; !bad && j < g_size; j++)
      if (p[j] != (uint8_t)(base + j)) bad = 1;
    if (bad) { st->mismatches++; continue; }
    if (seq > c->recv_seq) { /* the server dropped these: charge each the time waited so far */
      uint32_t skipped = seq - c->recv_seq;
      st->dropped += skipped;
      if (st->rate) {
        for (uint32_t j = 0; j < skipped && c->due_head < c->due_len; j++) {
          double lost = c->due[c->due_head++];
          if (lost >= st->measure_start && lost < st->measure_end) rec_add(&st->latency, (now - lost) * 1000);
        }
      }
      freed += skipped;
      c->recv_seq = seq;
    }
    c->recv_seq++;
    got++;
    double due, written;
    memcpy(&due, p + 8, 8);
    memcpy(&written, p + 16, 8);
    if (st->rate) {
      if (c->due_head < c->due_len) c->due_head++;
      if (c->due_head > 4096 && c->due_head * 2 > c->due_len) {
        memmove(c->due, c->due + c->due_head, (c->due_len - c->due_head) * sizeof(double));
        c->due_len -= c->due_head;
        c->due_head = 0;
      }
      if (due >= st->measure_start && due < st->measure_end) {
        rec_add(&st->latency, (now - due) * 1000);
        rec_add(&st->service, (now - written) * 1000);
        st->measured_received++;
      }
    } else if (now >= st->measure_start && now < st->measure_end) {
      st->measured_received++;
    }
  }
  c->partial_len = len - off;
  if (c->partial_len > (size_t)g_size + 2) { rc_dead(c, "oversized frame"); return; }
  memcpy(c->partial, g_readbuf + off, c->partial_len);
  if (got + freed == 0 || !st->active) return;
  st->received += got;
  if (!st->rate && st->sending) {
    size_t k = got + freed;
    if (k > st->in_flight) k = st->in_flight;
    double dues[k];
    for (size_t i = 0; i < k; i++) dues[i] = now;
    rc_write(c, dues, k, now);
  }
}

/* Serves the sockets until `until` (ms, monotonic) or, when `stop` is given, until it says so. */
static void rc_poll_until(double until, int (*stop)(void)) {
  struct epoll_event evs[256];
  for (;;) {
    if (stop != NULL && stop()) return;
    double left = until - now_ms();
    if (left <= 0) return;
    int n = epoll_wait(g_rep, evs, 256, (int)left + (left - (int)left > 0 ? 1 : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int e = 0; e < n; e++) {
      struct rconn *c = evs[e].data.ptr;
      if (c->dead) continue;
      if (evs[e].events & EPOLLOUT) rc_flush(c);
      if (!c->dead && (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) rc_read(c);
    }
  }
}

static int rc_all_back(void) {
  for (uint32_t i = 0; i < g_nrc; i++)
    if (!g_rc[i].dead && g_rc[i].send_seq != g_rc[i].recv_seq) return 0;
  return 1;
}

static void run_phase(int rate, uint16_t id, double arg, double warmup_ms, double measure_ms, double drain_ms) {
  g_nerrors = 0;
  struct phase *st = &g_ph;
  st->id = id;
  st->rate = rate;
  st->in_flight = rate ? 0 : (uint32_t)arg;
  st->received = st->measured_received = st->mismatches = st->dropped = 0;
  rec_reset(&st->latency); rec_reset(&st->service); rec_reset(&st->send_lag);
  for (uint32_t i = 0; i < g_nrc; i++) {
    struct rconn *c = &g_rc[i];
    c->send_seq = c->recv_seq = 0;
    c->due_head = c->due_len = 0;
    c->batch_len = 0;
  }
  double u0, s0;
  cpu_us(&u0, &s0);
  double t0 = now_ms() + 2;
  st->measure_start = t0 + warmup_ms;
  st->measure_end = st->measure_start + measure_ms;
  st->sending = 1;
  st->active = 1;
  uint64_t sent = 0, measured = 0;
  rc_poll_until(t0, NULL);
  if (!rate) {
    double now = now_ms();
    uint32_t k = st->in_flight;
    double *dues = malloc(sizeof(double) * (k ? k : 1));
    for (uint32_t i = 0; i < k; i++) dues[i] = now;
    for (uint32_t i = 0; i < g_nrc; i++) rc_write(&g_rc[i], dues, k, now);
    free(dues);
    sent = (uint64_t)g_nrc * k;
    rc_poll_until(st->measure_end, NULL);
    st->sending = 0;
    measured = st->measured_received;
  } else {
    double per_ms = arg / 1000.0;
    uint64_t total = (uint64_t)((st->measure_end - t0) * per_ms);
    for (;;) {
      double now = now_ms();
      uint64_t due = (uint64_t)((now - t0) * per_ms) + 1;
      if (due > total) due = total;
      for (; sent < due; sent++) {
        double at = t0 + (double)sent / per_ms;
        struct rconn *c = &g_rc[sent % g_nrc];
        dpush(&c->batch, &c->batch_len, &c->batch_cap, at);
        if (at >= st->measure_start && at < st->measure_end) {
          measured++;
          rec_add(&st->send_lag, (now - at) * 1000);
        }
      }
      for (uint32_t i = 0; i < g_nrc; i++) {
        struct rconn *c = &g_rc[i];
        if (c->batch_len == 0) continue;
        for (size_t j = 0; j < c->batch_len; j++) dpush(&c->due, &c->due_len, &c->due_cap, c->batch[j]);
        rc_write(c, c->batch, c->batch_len, now);
        c->batch_len = 0;
      }
      if (sent >= total) break;
      rc_poll_until(now + 1, NULL);
    }
    st->sending = 0;
  }
  rc_poll_until(now_ms() + drain_ms, rc_all_back);
  double end_now = now_ms();
  uint64_t missing = 0;
  for (uint32_t i = 0; i < g_nrc; i++) {
    struct rconn *c = &g_rc[i];
    missing += c->send_seq - c->recv_seq;
    if (rate) {
      for (size_t j = c->due_head; j < c->due_len; j++) {
        double d = c->due[j];
        if (d >= st->measure_start && d < st->measure_end) rec_add(&st->latency, (end_now - d) * 1000);
      }
    }
  }
  double u1, s1;
  cpu_us(&u1, &s1);
  uint64_t total_sent = 0;
  for (uint32_t i = 0; i < g_nrc; i++) total_sent += g_rc[i].send_seq;
  (void)sent;
  printf("{\"kind\":\"phaseResult\",\"id\":%u,\"mode\":\"%s\",\"sent\":%llu,\"received\":%llu,\"measured\":%llu,"
         "\"measuredReceived\":%llu,\"missing\":%llu,\"dropped\":%llu,\"mismatches\":%llu,\"measuredMs\":%.3f,\"cpuUs\":%.0f",
         id, rate ? "rate" : "max", (unsigned long long)total_sent, (unsigned long long)st->received,
         (unsigned long long)(rate ? measured : st->measured_received), (unsigned long long)st->measured_received,
         (unsigned long long)missing, (unsigned long long)st->dropped, (unsigned long long)st->mismatches, measure_ms,
         (u1 - u0) + (s1 - s0));
  if (rate) {
    print_percentiles("latency", &st->latency);
    print_percentiles("service", &st->service);
    print_percentiles("sendLag", &st->send_lag);
  } else {
    printf(",\"latency\":null,\"service\":null,\"sendLag\":null");
  }
  printf(",\"errors\":[");
  for (int i = 0; i < g_nerrors; i++) printf("%s\"%s\"", i ? "," : "", g_errors[i]);
  printf("]}\n");
  fflush(stdout);
  st->active = 0;
}

static int run_phases(void) {
  if (g_size < 24) { fprintf(stderr, "echo-client: --phases needs --size >= 24\n"); return 2; }
  g_rep = epoll_create1(0);
  g_nrc = g_connections;
  g_rc = calloc(g_nrc, sizeof *g_rc);
  if (g_rc == NULL) { perror("calloc"); return 1; }
  for (uint32_t i = 0; i < g_nrc; i++) {
    struct rconn *c = &g_rc[i];
    struct conn tmp;
    if (open_conn(&tmp, i) != 0) {
      printf("{\"kind\":\"error\",\"message\":\"connect %u: %s\"}\n", i, strerror(errno));
      fflush(stdout);
      return 1;
    }
    free(tmp.out);
    c->fd = tmp.fd;
    c->index = (uint16_t)i;
    c->partial = tmp.partial;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(g_rep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  printf("{\"kind\":\"ready\",\"connections\":%u}\n", g_nrc);
  fflush(stdout);
  char line[256];
  while (read_line(line, sizeof line)) {
    char mode[16];
    unsigned id;
    double arg, warm, meas, drain;
    if (strcmp(line, "end") == 0) break;
    if (sscanf(line, "%15s %u %lf %lf %lf %lf", mode, &id, &arg, &warm, &meas, &drain) == 6 && (strcmp(mode, "max") == 0 || strcmp(mode, "rate") == 0) &&
        arg > 0 && warm >= 0 && meas > 0 && drain >= 0) {
      run_phase(strcmp(mode, "rate") == 0, (uint16_t)id, arg, warm, meas, drain);
    } else {
      printf("{\"kind\":\"error\",\"message\":\"bad command\"}\n");
      fflush(stdout);
    }
  }
  for (uint32_t i = 0; i < g_nrc; i++) close(g_rc[i].fd);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo-client --port P [--host 127.0.0.1] [--connections 100] [--count 2000] [--window 32]\n"
          "                   [--size 64] [--warmup 0] [--deadline-ms 55000] [--control]\n"
          "       echo-client --phases --port P [--host 127.0.0.1] [--connections 100] [--size 64]\n"
          "                   (then on stdin: max|rate <id> <inFlight|ratePerSec> <warmupMs> <measureMs> <drainMs>, end)\n");
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
    if (strcmp(a, "--phases") == 0) { g_phases = 1; continue; }
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
  if (g_phases) return run_phases();
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
