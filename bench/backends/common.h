/*
 * Shared event loop of the bench backends (fcgi-hello.c, scgi-hello.c): one thread, epoll,
 * non-blocking sockets, one connection struct per fd. The backends must cost the gateway's
 * load generator as little CPU as possible so the gateway is the bottleneck, hence C, one
 * thread, no allocation per request on the hello path (static responses, writev).
 *
 * A protocol file defines on_data(struct conn *) (parse c->in, queue output) and optionally
 * on_timer(struct conn *) for streaming, then calls serve(address).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536
#define IN_LIMIT (1 << 20)  /* an input buffer never grows past 1 MiB: a record is < 64 KiB + 8 + 255 */
#define MAX_STREAMS 256

struct conn {
  int fd;
  unsigned char *in;
  size_t in_len, in_cap;
  unsigned char *out;
  size_t out_len, out_off, out_cap;
  const unsigned char *ext; /* a static payload written after out (the 1 MiB body) */
  size_t ext_len, ext_off;
  uint32_t ev_mask; /* events registered with epoll */
  int close_after;  /* close once the output is flushed */
  int peer_eof;
  /* protocol state */
  int active;
  int keep_conn;
  uint16_t req_id;
  int mode;
  uint64_t body_bytes;   /* received so far */
  uint64_t body_expect;  /* SCGI: CONTENT_LENGTH */
  int head_done;         /* SCGI: netstring parsed */
  unsigned char *params;
  size_t params_len, params_cap;
  /* streaming */
  int stream_n, stream_left, stream_ms; /* chunks asked for, chunks still to send, interval */
  uint64_t stream_due;
};

static int epfd;
static struct conn *conns[MAX_FDS];
static struct conn *streams[MAX_STREAMS];
static int nstreams;

static void on_data(struct conn *c);
static void on_timer(struct conn *c);

static uint64_t now_ns(void) {
  struct timespec ts;
  /* CLOCK_MONOTONIC: the clock Node's process.hrtime.bigint() reads, so the stream probe can
     subtract a timestamp written here from its own arrival time. */
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void out_append(struct conn *c, const void *data, size_t len) {
  if (c->out_len + len > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len) cap *= 2;
    c->out = realloc(c->out, cap);
    if (!c->out) die("realloc");
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
}

/* After the peer's EOF, EPOLLIN would fire forever (level-triggered): watch output only. */
static void set_events(struct conn *c, int want_out) {
  uint32_t mask = (c->peer_eof ? 0 : EPOLLIN) | (want_out ? EPOLLOUT : 0);
  if (c->ev_mask == mask) return;
  struct epoll_event ev = {.events = mask, .data.fd = c->fd};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->ev_mask = mask;
}

static void stream_remove(struct conn *c) {
  for (int i = 0; i < nstreams; i++) {
    if (streams[i] == c) {
      streams[i] = streams[--nstreams];
      return;
    }
  }
}

static void conn_close(struct conn *c) {
  if (c->stream_left > 0) stream_remove(c);
  conns[c->fd] = NULL;
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c->params);
  free(c);
}

static int pending(struct conn *c) { return c->out_off < c->out_len || c->ext_off < c->ext_len; }

/* Writes what is queued; returns -1 when the connection was closed. */
static int flush_out(struct conn *c) {
  while (pending(c)) {
    struct iovec iov[2];
    int n = 0;
    if (c->out_off < c->out_len) iov[n++] = (struct iovec){c->out + c->out_off, c->out_len - c->out_off};
    if (c->ext_off < c->ext_len) iov[n++] = (struct iovec){(void *)(c->ext + c->ext_off), c->ext_len - c->ext_off};
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        set_events(c, 1);
        return 0;
      }
      conn_close(c);
      return -1;
    }
    size_t left = (size_t)w;
    size_t a = c->out_len - c->out_off;
    if (left >= a) {
      c->out_off = c->out_len;
      left -= a;
      c->ext_off += left;
    } else {
      c->out_off += left;
    }
  }
  c->out_off = c->out_len = 0;
  c->ext = NULL;
  c->ext_len = c->ext_off = 0;
  set_events(c, 0);
  if (c->close_after && c->stream_left == 0) {
    conn_close(c);
    return -1;
  }
  return 0;
}

static void on_readable(struct conn *c) {
  /* One read per event, parsed at once: the buffer holds at most one partial record plus a
     read's worth; level-triggered epoll reports the socket again if more is waiting. */
  if (c->in_cap - c->in_len < 16384) {
    size_t cap = c->in_cap ? c->in_cap * 2 : 65536 + 512;
    if (cap > IN_LIMIT) {
      conn_close(c);
      return;
    }
    c->in = realloc(c->in, cap);
    if (!c->in) die("realloc");
    c->in_cap = cap;
  }
  ssize_t r;
  do r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) return;
    conn_close(c);
    return;
  }
  if (r == 0) c->peer_eof = 1;
  c->in_len += (size_t)r;
  int fd = c->fd;
  on_data(c);
  if (conns[fd] != c) return;
  if (c->peer_eof) {
    /* A gateway may half-close after sending the request: finish what is queued first. */
    if (!pending(c) && c->stream_left == 0) {
      conn_close(c);
      return;
    }
    c->close_after = 1;
    set_events(c, pending(c));
  }
  if (pending(c)) flush_out(c);
}

static int open_listener(const char *address) {
  int fd;
  if (strncmp(address, "unix:", 5) == 0) {
    const char *path = address + 5;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) die("socket path too long");
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    /* Apache's children run as www-data: the socket must be connectable by them. */
    chmod(path, 0666);
  } else {
    const char *colon = strrchr(address, ':');
    if (!colon) die("address must be HOST:PORT or unix:/path");
    char host[64];
    size_t hl = (size_t)(colon - address);
    if (hl >= sizeof host) die("host too long");
    memcpy(host, address, hl);
    host[hl] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("bad IPv4 host");
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  }
  if (listen(fd, 4096) < 0) die("listen");
  return fd;
}

static void accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return; /* EAGAIN, or EMFILE: try again on the next event */
    }
    if (fd >= MAX_FDS) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on unix sockets */
    struct conn *c = calloc(1, sizeof *c);
    if (!c) die("calloc");
    c->fd = fd;
    conns[fd] = c;
    c->ev_mask = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  }
}

/* At most a second between checks that the bench that started us is still there. */
static int next_timeout_ms(void) {
  if (nstreams == 0) return 1000;
  uint64_t now = now_ns(), min = UINT64_MAX;
  for (int i = 0; i < nstreams; i++)
    if (streams[i]->stream_due < min) min = streams[i]->stream_due;
  if (min <= now) return 0;
  uint64_t ms = (min - now + 999999) / 1000000;
  return ms > 1000 ? 1000 : (int)ms;
}

static void run_timers(void) {
  uint64_t now = now_ns();
  for (int i = 0; i < nstreams;) {
    struct conn *c = streams[i];
    if (c->stream_due <= now) {
      int before = nstreams;
      on_timer(c); /* may remove c from streams, or close c */
      if (nstreams < before) continue;
    }
    i++;
  }
}

static void serve(const char *address) {
  signal(SIGPIPE, SIG_IGN);
  int lfd = open_listener(address);
  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  printf("ready %s\n", address);
  fflush(stdout);
  struct epoll_event events[512];
  /* The bench spawns us detached: if it dies without stopping us, we are reparented. Exit then,
     so a killed bench run leaves no backend behind. */
  pid_t parent = getppid();
  unsigned loops = 0;
  for (;;) {
    int n = epoll_wait(epfd, events, 512, next_timeout_ms());
    if (n < 0 && errno != EINTR) die("epoll_wait");
    if ((n <= 0 || (++loops & 0xffff) == 0) && getppid() != parent) exit(0);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        accept_all(lfd);
        continue;
      }
      struct conn *c = conns[fd];
      if (!c) continue;
      if (events[i].events & EPOLLOUT) {
        if (flush_out(c) < 0) continue;
        if (!pending(c) && c->in_len > 0) {
          on_data(c); /* input that waited for a queued response */
          if (conns[fd] != c) continue;
          if (pending(c) && flush_out(c) < 0) continue;
        }
      }
      if (events[i].events & (EPOLLHUP | EPOLLERR) && c->peer_eof) {
        conn_close(c); /* the peer is gone both ways: nothing queued can be delivered */
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
    if (nstreams > 0) run_timers();
  }
}

/* Mode of a request from its REQUEST_URI (path or query): "big", "upload", "stream" or hello. */
enum { MODE_HELLO, MODE_BIG, MODE_UPLOAD, MODE_STREAM };

static int mode_of(const char *uri, size_t len) {
  char buf[512];
  if (len >= sizeof buf) len = sizeof buf - 1;
  memcpy(buf, uri, len);
  buf[len] = 0;
  if (strstr(buf, "big")) return MODE_BIG;
  if (strstr(buf, "upload")) return MODE_UPLOAD;
  if (strstr(buf, "stream")) return MODE_STREAM;
  return MODE_HELLO;
}

/* The integer after "key=" in the URI, bounded to [lo, hi], else def. */
static int query_int(const char *uri, size_t len, const char *key, int def, int lo, int hi) {
  char buf[512];
  if (len >= sizeof buf) len = sizeof buf - 1;
  memcpy(buf, uri, len);
  buf[len] = 0;
  char *p = strstr(buf, key);
  if (!p) return def;
  int v = atoi(p + strlen(key));
  return v < lo ? lo : v > hi ? hi : v;
}

#define HELLO_HEAD "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
#define HELLO_BODY "Hello, world!"
#define BIG_SIZE (1024 * 1024)
#define STREAM_CHUNK 1024
