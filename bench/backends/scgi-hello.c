/*
 * An SCGI server for the gateway benchmark (bench/run.ts): reads the netstring header and
 * CONTENT_LENGTH bytes of body, answers, closes (SCGI carries one request per connection).
 * Same modes as fcgi-hello.c, chosen by REQUEST_URI: big (1 MiB), upload (drop the body,
 * answer "received N bytes"), stream (?n= chunks ?ms= apart, each "@T" + CLOCK_MONOTONIC ns),
 * otherwise "Hello, world!".
 *
 *   scgi-hello 127.0.0.1:4000 | scgi-hello unix:/tmp/x.sock
 */
#include "common.h"

#define MAX_HEADER (1 << 20)

static unsigned char *big_resp;
static size_t big_resp_len;

static void append_chunk(struct conn *c) {
  char chunk[STREAM_CHUNK];
  memset(chunk, '.', sizeof chunk);
  int n = snprintf(chunk, sizeof chunk, "@T%020llu\n", (unsigned long long)now_ns());
  chunk[n] = '.';
  chunk[sizeof chunk - 1] = '\n';
  out_append(c, chunk, sizeof chunk);
}

static void on_timer(struct conn *c) {
  append_chunk(c);
  if (--c->stream_left == 0) {
    stream_remove(c);
    c->close_after = 1;
  } else {
    c->stream_due = now_ns() + (uint64_t)c->stream_ms * 1000000ull;
  }
  flush_out(c);
}

static void respond(struct conn *c) {
  c->active = 0;
  c->close_after = 1;
  if (c->mode == MODE_BIG) {
    c->ext = big_resp;
    c->ext_len = big_resp_len;
    c->ext_off = 0;
    return;
  }
  if (c->mode == MODE_STREAM) {
    static const char head[] =
        "Status: 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n\r\n";
    out_append(c, head, sizeof head - 1);
    append_chunk(c);
    c->stream_left = c->stream_n;
    if (c->stream_left > 1 && nstreams < MAX_STREAMS) {
      c->stream_left--;
      c->stream_due = now_ns() + (uint64_t)c->stream_ms * 1000000ull;
      streams[nstreams++] = c;
    } else {
      c->stream_left = 0;
    }
    return;
  }
  if (c->mode == MODE_UPLOAD) {
    char body[64], head[128];
    int bl = snprintf(body, sizeof body, "received %llu bytes\n", (unsigned long long)c->body_bytes);
    int hl = snprintf(head, sizeof head, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", bl);
    out_append(c, head, (size_t)hl);
    out_append(c, body, (size_t)bl);
    return;
  }
  static const char hello[] = HELLO_HEAD HELLO_BODY;
  out_append(c, hello, sizeof hello - 1);
}

/* The netstring "len:headers," (SCGI spec): NUL-separated name/value pairs, CONTENT_LENGTH first. */
static int parse_head(struct conn *c, size_t *used) {
  size_t i = 0, len = 0;
  while (i < c->in_len && c->in[i] >= '0' && c->in[i] <= '9' && i < 8) len = len * 10 + (c->in[i++] - '0');
  if (i == c->in_len) return 0;
  if (c->in[i] != ':' || i == 0 || len > MAX_HEADER) return -1;
  size_t start = i + 1;
  if (c->in_len < start + len + 1) return 0;
  if (c->in[start + len] != ',') return -1;
  const char *p = (const char *)c->in + start, *end = p + len;
  c->mode = MODE_HELLO;
  c->body_expect = 0;
  while (p < end) {
    const char *name = p;
    const char *nz = memchr(p, 0, (size_t)(end - p));
    if (!nz) return -1;
    const char *value = nz + 1;
    const char *vz = memchr(value, 0, (size_t)(end - value));
    if (!vz) return -1;
    if (strcmp(name, "CONTENT_LENGTH") == 0) c->body_expect = strtoull(value, NULL, 10);
    if (strcmp(name, "REQUEST_URI") == 0) {
      size_t vl = (size_t)(vz - value);
      c->mode = mode_of(value, vl);
      if (c->mode == MODE_STREAM) {
        c->stream_n = query_int(value, vl, "n=", 10, 1, 1000);
        c->stream_ms = query_int(value, vl, "ms=", 20, 0, 1000);
      }
    }
    p = vz + 1;
  }
  *used = start + len + 1;
  return 1;
}

static void on_data(struct conn *c) {
  if (!c->head_done) {
    size_t used = 0;
    int r = parse_head(c, &used);
    if (r < 0) {
      conn_close(c);
      return;
    }
    if (r == 0) return;
    c->head_done = 1;
    c->active = 1;
    c->body_bytes = 0;
    /* A stream's chunk count is set by parse_head; respond() takes it from there. */
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
  }
  if (!c->active) {
    c->in_len = 0; /* bytes after the body: SCGI has no next request */
    return;
  }
  uint64_t want = c->body_expect - c->body_bytes;
  uint64_t take = c->in_len < want ? c->in_len : want;
  c->body_bytes += take;
  c->in_len = 0;
  if (c->body_bytes >= c->body_expect) respond(c);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: scgi-hello 127.0.0.1:PORT | unix:/path\n");
    return 2;
  }
  static const char head[] =
      "Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n";
  big_resp_len = sizeof head - 1 + BIG_SIZE;
  big_resp = malloc(big_resp_len);
  if (!big_resp) die("malloc");
  memcpy(big_resp, head, sizeof head - 1);
  memset(big_resp + sizeof head - 1, 'x', BIG_SIZE);
  serve(argv[1]);
  return 0;
}
