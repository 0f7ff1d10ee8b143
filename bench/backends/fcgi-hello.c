/*
 * A FastCGI responder for the gateway benchmark (bench/run.ts): answers "Hello, world!" with
 * Status 200 and Content-Type, honours FCGI_KEEP_CONN (the FastCGI spec, 5.1: without the flag
 * the application closes the connection after the response), serves any number of
 * connections from one epoll loop. The REQUEST_URI picks the mode:
 *   ...big...     a 1 MiB body (32 KiB STDOUT records)
 *   ...upload...  reads and drops the body, answers "received N bytes"
 *   ...stream...  n chunks (?n=, default 10) ms apart (?ms=, default 20), each starting with
 *                 "@T" + CLOCK_MONOTONIC ns at the moment it is written, for the stream probe
 *   otherwise     hello
 * One request at a time per connection (FCGI_MPXS_CONNS=0): nginx, httpd, lighttpd, Caddy and
 * Portico never multiplex.
 *
 *   fcgi-hello 127.0.0.1:9000 | fcgi-hello unix:/tmp/x.sock
 */
#include "common.h"

enum {
  BEGIN_REQUEST = 1,
  ABORT_REQUEST = 2,
  END_REQUEST = 3,
  PARAMS = 4,
  STDIN = 5,
  STDOUT = 6,
  GET_VALUES = 9,
  GET_VALUES_RESULT = 10,
  UNKNOWN_TYPE = 11,
};
#define KEEP_CONN 1
#define BIG_RECORD 32768

static unsigned char *big_id1; /* the whole 1 MiB response for request id 1 (what every gateway uses) */
static size_t big_id1_len;

static unsigned char *put_header(unsigned char *p, int type, uint16_t id, size_t clen) {
  p[0] = 1;
  p[1] = (unsigned char)type;
  p[2] = (unsigned char)(id >> 8);
  p[3] = (unsigned char)id;
  p[4] = (unsigned char)(clen >> 8);
  p[5] = (unsigned char)clen;
  p[6] = 0; /* padding is optional (spec 3.3): none */
  p[7] = 0;
  return p + 8;
}

static void append_record(struct conn *c, int type, uint16_t id, const void *data, size_t len) {
  unsigned char h[8];
  put_header(h, type, id, len);
  out_append(c, h, 8);
  if (len) out_append(c, data, len);
}

static void append_end(struct conn *c, uint16_t id) {
  unsigned char r[16] = {0};
  put_header(r, STDOUT, id, 0);
  put_header(r + 8, END_REQUEST, id, 8);
  out_append(c, r, 8);
  out_append(c, r + 8, 8);
  unsigned char body[8] = {0}; /* appStatus 0, FCGI_REQUEST_COMPLETE */
  out_append(c, body, 8);
}

static const char BIG_HEAD[] =
    "Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n";

static size_t build_big(unsigned char *buf, uint16_t id) {
  unsigned char *p = buf;
  size_t hl = sizeof BIG_HEAD - 1;
  p = put_header(p, STDOUT, id, hl);
  memcpy(p, BIG_HEAD, hl);
  p += hl;
  for (size_t done = 0; done < BIG_SIZE; done += BIG_RECORD) {
    p = put_header(p, STDOUT, id, BIG_RECORD);
    memset(p, 'x', BIG_RECORD);
    p += BIG_RECORD;
  }
  p = put_header(p, STDOUT, id, 0);
  p = put_header(p, END_REQUEST, id, 8);
  memset(p, 0, 8);
  return (size_t)(p + 8 - buf);
}

static size_t big_size(void) { return 8 + sizeof BIG_HEAD + (BIG_SIZE / BIG_RECORD) * (8 + BIG_RECORD) + 32; }

static void finish_request(struct conn *c) {
  c->active = 0;
  if (!c->keep_conn) c->close_after = 1;
}

static void append_chunk(struct conn *c) {
  unsigned char chunk[STREAM_CHUNK];
  memset(chunk, '.', sizeof chunk);
  int n = snprintf((char *)chunk, sizeof chunk, "@T%020llu\n", (unsigned long long)now_ns());
  chunk[n] = '.';
  chunk[sizeof chunk - 1] = '\n';
  append_record(c, STDOUT, c->req_id, chunk, sizeof chunk);
}

static void on_timer(struct conn *c) {
  append_chunk(c);
  if (--c->stream_left == 0) {
    stream_remove(c);
    append_end(c, c->req_id);
    finish_request(c);
  } else {
    c->stream_due = now_ns() + (uint64_t)c->stream_ms * 1000000ull;
  }
  flush_out(c);
}

static void respond(struct conn *c) {
  uint16_t id = c->req_id;
  if (c->mode == MODE_BIG) {
    if (id == 1) {
      c->ext = big_id1;
      c->ext_len = big_id1_len;
      c->ext_off = 0;
    } else {
      unsigned char *tmp = malloc(big_size());
      if (!tmp) die("malloc");
      out_append(c, tmp, build_big(tmp, id));
      free(tmp);
    }
    finish_request(c);
    return;
  }
  if (c->mode == MODE_STREAM) {
    static const char head[] =
        "Status: 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n\r\n";
    append_record(c, STDOUT, id, head, sizeof head - 1);
    append_chunk(c);
    c->stream_left = c->stream_n;
    if (c->stream_left <= 1) {
      c->stream_left = 0;
      append_end(c, id);
      finish_request(c);
      return;
    }
    c->stream_left--;
    c->stream_due = now_ns() + (uint64_t)c->stream_ms * 1000000ull;
    if (nstreams < MAX_STREAMS) {
      streams[nstreams++] = c;
    } else {
      c->stream_left = 0; /* too many streams at once: end this one now */
      append_end(c, id);
      finish_request(c);
    }
    return;
  }
  char body[64];
  const char *b = HELLO_BODY;
  size_t bl = sizeof HELLO_BODY - 1;
  if (c->mode == MODE_UPLOAD) {
    bl = (size_t)snprintf(body, sizeof body, "received %llu bytes\n", (unsigned long long)c->body_bytes);
    b = body;
  }
  char rec[256];
  int hl = c->mode == MODE_UPLOAD
               ? snprintf(rec, sizeof rec, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n", bl)
               : snprintf(rec, sizeof rec, "%s", HELLO_HEAD);
  memcpy(rec + hl, b, bl);
  append_record(c, STDOUT, id, rec, (size_t)hl + bl);
  append_end(c, id);
  finish_request(c);
}

/* FastCGI name-value pair lengths: 1 byte below 128, else 4 bytes with the top bit set (spec 3.4). */
static int read_len(const unsigned char **p, const unsigned char *end, size_t *out) {
  if (*p >= end) return -1;
  if (**p < 128) {
    *out = *(*p)++;
    return 0;
  }
  if (end - *p < 4) return -1;
  *out = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) | ((size_t)(*p)[2] << 8) | (*p)[3];
  *p += 4;
  return 0;
}

static void params_done(struct conn *c) {
  const unsigned char *p = c->params, *end = c->params + c->params_len;
  while (p < end) {
    size_t nl, vl;
    if (read_len(&p, end, &nl) || read_len(&p, end, &vl) || (size_t)(end - p) < nl + vl) return;
    if (nl == 11 && memcmp(p, "REQUEST_URI", 11) == 0) {
      const char *uri = (const char *)p + nl;
      c->mode = mode_of(uri, vl);
      if (c->mode == MODE_STREAM) {
        c->stream_n = query_int(uri, vl, "n=", 10, 1, 1000);
        c->stream_ms = query_int(uri, vl, "ms=", 20, 0, 1000);
      }
      return;
    }
    p += nl + vl;
  }
}

static void on_data(struct conn *c) {
  size_t pos = 0;
  /* One response at a time: a queued 1 MiB body or a running stream holds further requests. */
  while (c->in_len - pos >= 8 && c->ext_len == 0 && c->stream_left == 0) {
    const unsigned char *h = c->in + pos;
    int type = h[1];
    uint16_t id = (uint16_t)((h[2] << 8) | h[3]);
    size_t clen = ((size_t)h[4] << 8) | h[5];
    size_t total = 8 + clen + h[6];
    if (c->in_len - pos < total) break;
    const unsigned char *body = h + 8;
    pos += total;
    switch (type) {
    case BEGIN_REQUEST:
      if (clen < 8 || c->active) break;
      c->active = 1;
      c->req_id = id;
      c->keep_conn = body[2] & KEEP_CONN;
      c->mode = MODE_HELLO;
      c->params_len = 0;
      c->body_bytes = 0;
      break;
    case PARAMS:
      if (!c->active || id != c->req_id) break;
      if (clen == 0) {
        params_done(c);
        break;
      }
      if (c->params_len + clen > IN_LIMIT) {
        conn_close(c);
        return;
      }
      if (c->params_len + clen > c->params_cap) {
        c->params_cap = (c->params_len + clen) * 2;
        c->params = realloc(c->params, c->params_cap);
        if (!c->params) die("realloc");
      }
      memcpy(c->params + c->params_len, body, clen);
      c->params_len += clen;
      break;
    case STDIN:
      if (!c->active || id != c->req_id) break;
      c->body_bytes += clen;
      if (clen == 0) respond(c);
      break;
    case ABORT_REQUEST:
      if (!c->active || id != c->req_id) break;
      append_end(c, id);
      finish_request(c);
      break;
    case GET_VALUES:
      append_record(c, GET_VALUES_RESULT, 0, NULL, 0);
      break;
    default:
      if (id == 0) {
        unsigned char u[8] = {(unsigned char)type};
        append_record(c, UNKNOWN_TYPE, 0, u, 8);
      }
    }
  }
  if (pos > 0) {
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fcgi-hello 127.0.0.1:PORT | unix:/path\n");
    return 2;
  }
  big_id1 = malloc(big_size());
  if (!big_id1) die("malloc");
  big_id1_len = build_big(big_id1, 1);
  serve(argv[1]);
  return 0;
}
