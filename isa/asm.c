/* asm.c - Lockstep assembly text: the assembler (text -> ls_prog) and the disassembler.
 *
 * The assembler works one logical line at a time (comment stripped, '\' continuations
 * joined) and builds the program in place, in one pass. That is why tensors must be declared
 * before an address names them, and why the target freezes at the first queue label: stream
 * names and default strides depend on it. Errors carry the physical line of the offending
 * token, so a bad value deep in a continued .const list is reported where it is.
 *
 * The disassembler prints every field explicitly (cycles, n, addresses as [name+off] where a
 * tensor covers them) so that its text assembles back to the same bytes. */
#include "asm.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- characters and slices --------------------------------------------------------------- */

typedef struct slice {
  const char *s;
  size_t n;
} slice;

/* for "%.*s": at most 60 characters of a slice, so a runaway token cannot drown the message */
#define SL(t) (int)((t).n > 60 ? 60 : (t).n), (t).s

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_ident_start(char c) { return is_alpha(c) || c == '_'; }
static int is_ident_char(char c) { return is_ident_start(c) || is_digit(c) || c == '.'; }

static int hex_val(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int slice_eq(slice t, const char *lit) { return t.n == strlen(lit) && memcmp(t.s, lit, t.n) == 0; }

static slice trim(slice t) {
  while (t.n && is_space(t.s[0])) t.s++, t.n--;
  while (t.n && is_space(t.s[t.n - 1])) t.n--;
  return t;
}

static void skip_ws(const char **p) {
  while (is_space(**p)) (*p)++;
}

/* The next run of non-blank characters. */
static slice read_word(const char **p) {
  skip_ws(p);
  const char *st = *p;
  while (**p && !is_space(**p)) (*p)++;
  return (slice){st, (size_t)(*p - st)};
}

static int is_plain_name(const char *s, size_t n) {
  if (n == 0 || !is_ident_start(s[0])) return 0;
  for (size_t i = 1; i < n; i++)
    if (!is_ident_char(s[i])) return 0;
  return 1;
}

/* Two's complement reinterpretation without implementation-defined conversions. */
static int64_t i64_bits(uint64_t u) {
  int64_t v;
  memcpy(&v, &u, sizeof v);
  return v;
}
static uint64_t u64_bits(int64_t v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static uint64_t sat_mul(uint64_t a, uint64_t b) { return b && a > UINT64_MAX / b ? UINT64_MAX : a * b; }

/* ---- assembler state and errors ---------------------------------------------------------- */

/* Where a physical line starts inside the joined logical line. */
typedef struct seg {
  size_t off;
  unsigned line;
} seg;

/* Per queue: what the next instruction without '@' needs to know. */
typedef struct qstate {
  uint32_t cap;       /* allocated instructions */
  int have_last;
  ls_insn last;       /* last instance issued, REPEATs expanded */
  uint64_t next_free; /* first cycle the queue is free again */
} qstate;

typedef struct asm_state {
  const char *file;
  char *err;
  size_t errlen;
  unsigned lineno; /* physical lines read so far */
  char *line;      /* the current logical line, NUL-terminated */
  size_t len, cap;
  seg *segs;
  size_t nsegs, capsegs;
  ls_prog p;
  uint32_t cap_io, cap_consts, cap_queues, cap_qs;
  qstate *qs;
  int have_target, have_memory, have_label;
  int cur; /* queue the instructions go to, -1 before the first label */
} asm_state;

static int fail_line(asm_state *s, unsigned line, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (s->err && s->errlen) snprintf(s->err, s->errlen, "%s:%u: %s", s->file, line, msg);
  return -1;
}

/* The physical line of a position inside the current logical line. */
static unsigned line_of(const asm_state *s, const char *at) {
  if (s->nsegs == 0) return s->lineno ? s->lineno : 1;
  unsigned ln = s->segs[0].line;
  size_t off = (size_t)(at - s->line);
  for (size_t i = 1; i < s->nsegs && s->segs[i].off <= off; i++) ln = s->segs[i].line;
  return ln;
}

static int fail(asm_state *s, const char *at, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return fail_line(s, line_of(s, at), "%s", msg);
}

static int oom(asm_state *s) { return fail_line(s, s->lineno ? s->lineno : 1, "out of memory"); }

/* arr (of *cap elements of size sz) grown to hold at least need elements; NULL if that
 * fails, and arr is then untouched. Counts in a program are u32, so capacities are too. */
static void *grow(void *arr, uint32_t *cap, uint64_t need, size_t sz) {
  if (need <= *cap) return arr;
  if (need > UINT32_MAX) return NULL;
  uint64_t c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  if (c > UINT32_MAX) c = UINT32_MAX;
  void *n = realloc(arr, (size_t)c * sz);
  if (n) *cap = (uint32_t)c;
  return n;
}

/* ---- numbers ------------------------------------------------------------------------------ */

/* Unsigned decimal or 0x-hex. 0, or -1 if malformed, -2 if it does not fit. */
static int slice_u64(slice t, uint64_t *out) {
  size_t i = 0;
  unsigned base = 10;
  if (t.n > 2 && t.s[0] == '0' && (t.s[1] == 'x' || t.s[1] == 'X')) base = 16, i = 2;
  if (i >= t.n) return -1;
  uint64_t v = 0;
  for (; i < t.n; i++) {
    int d = hex_val(t.s[i]);
    if (d < 0 || (unsigned)d >= base) return -1;
    if (v > (UINT64_MAX - (unsigned)d) / base) return -2;
    v = v * base + (unsigned)d;
  }
  *out = v;
  return 0;
}

/* An unsigned number no greater than max; what names it in messages. */
static int get_uint(asm_state *s, slice t, const char *what, uint64_t max, uint64_t *out) {
  uint64_t v;
  int rc = slice_u64(t, &v);
  if (rc == -1) return fail(s, t.s, "bad %s '%.*s' (expected a decimal or 0x number)", what, SL(t));
  if (rc == -2 || v > max)
    return fail(s, t.s, "%s %.*s is too large (at most %llu)", what, SL(t), (unsigned long long)max);
  *out = v;
  return 0;
}

static int get_u32(asm_state *s, slice t, const char *what, uint32_t *out) {
  uint64_t v = 0;
  if (get_uint(s, t, what, UINT32_MAX, &v)) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* A signed integer in [lo, hi]: optional sign, then decimal or 0x-hex magnitude. */
static int get_int(asm_state *s, slice t, const char *what, int64_t lo, int64_t hi, int64_t *out) {
  slice m = t;
  int neg = 0;
  if (m.n && (m.s[0] == '-' || m.s[0] == '+')) neg = m.s[0] == '-', m.s++, m.n--;
  uint64_t mag;
  int rc = slice_u64(m, &mag);
  if (rc == -1) return fail(s, t.s, "bad %s '%.*s' (expected an integer)", what, SL(t));
  int64_t v = 0;
  if (rc == 0 && !neg && mag <= (uint64_t)INT64_MAX) v = (int64_t)mag;
  else if (rc == 0 && neg && mag <= (uint64_t)INT64_MAX + 1) v = i64_bits(0 - mag);
  else rc = -2;
  if (rc == -2 || v < lo || v > hi)
    return fail(s, t.s, "%s %.*s is out of range (%lld..%lld)", what, SL(t), (long long)lo, (long long)hi);
  *out = v;
  return 0;
}

enum { REAL_BAD = -1, REAL_NUM, REAL_INF, REAL_NAN };

/* Sort a float literal: inf or nan (with sign), or a number, copied NUL-terminated into buf
 * for strtod/strtof. Only literal characters pass, so strtod cannot skip blanks or accept
 * "infinity" or "nan(...)" forms that the disassembler would never write. */
static int real_kind(slice v, char *buf, size_t cap, int *neg) {
  slice m = v;
  *neg = 0;
  if (m.n && (m.s[0] == '-' || m.s[0] == '+')) *neg = m.s[0] == '-', m.s++, m.n--;
  if (slice_eq(m, "inf")) return REAL_INF;
  if (slice_eq(m, "nan")) return REAL_NAN;
  if (v.n == 0 || v.n >= cap) return REAL_BAD;
  for (size_t i = 0; i < v.n; i++) {
    char c = v.s[i];
    if (hex_val(c) < 0 && c != '.' && c != '+' && c != '-' && c != 'x' && c != 'X' && c != 'p' && c != 'P')
      return REAL_BAD;
  }
  memcpy(buf, v.s, v.n);
  buf[v.n] = '\0';
  return REAL_NUM;
}

#define F64_QNAN 0x7ff8000000000000ull
#define F64_SIGN 0x8000000000000000ull

static int bad_real(asm_state *s, slice v) {
  return fail(s, v.s, "bad number '%.*s' (expected a decimal or hex float, inf or nan)", SL(v));
}

static int get_f64(asm_state *s, slice v, double *out) {
  char buf[512], *end;
  int neg, kind = real_kind(v, buf, sizeof buf, &neg);
  if (kind == REAL_INF) *out = neg ? -INFINITY : INFINITY;
  else if (kind == REAL_NAN) {
    uint64_t bits = F64_QNAN | (neg ? F64_SIGN : 0);
    memcpy(out, &bits, sizeof bits);
  } else if (kind == REAL_NUM) {
    double d = strtod(buf, &end);
    if (end == buf || *end) return bad_real(s, v);
    if (isinf(d)) return fail(s, v.s, "%.*s is out of range for f64", SL(v));
    *out = d;
  } else return bad_real(s, v);
  return 0;
}

/* f32 straight from the decimal (strtof), so it is correctly rounded, not rounded twice. */
static int get_f32(asm_state *s, slice v, uint32_t *bits) {
  char buf[512], *end;
  int neg, kind = real_kind(v, buf, sizeof buf, &neg);
  float f;
  if (kind == REAL_INF) *bits = neg ? 0xff800000u : 0x7f800000u;
  else if (kind == REAL_NAN) *bits = neg ? 0xffc00000u : 0x7fc00000u;
  else if (kind == REAL_NUM) {
    f = strtof(buf, &end);
    if (end == buf || *end) return bad_real(s, v);
    if (isinf(f)) return fail(s, v.s, "%.*s is out of range for f32", SL(v));
    memcpy(bits, &f, sizeof f);
  } else return bad_real(s, v);
  return 0;
}

/* ---- names, element types, streams, addresses --------------------------------------------- */

/* A name at *p: an identifier, or a "string" with \" \\ \xHH escapes. NUL-terminated into
 * out, at most cap-1 bytes. what names it in messages. */
static int read_name(asm_state *s, const char **p, char *out, size_t cap, const char *what) {
  skip_ws(p);
  const char *st = *p, *q = *p;
  size_t n = 0;
  if (*q == '"') {
    for (q++;; n++) {
      char c = *q;
      if (c == '\0') return fail(s, st, "unterminated string");
      if (c == '"') break;
      if (c != '\\') q++;
      else if (q[1] == '"' || q[1] == '\\') c = q[1], q += 2;
      else if (q[1] == 'x' && hex_val(q[2]) >= 0 && hex_val(q[3]) >= 0) {
        c = (char)(hex_val(q[2]) * 16 + hex_val(q[3]));
        if (c == '\0') return fail(s, q, "a name cannot contain a NUL byte");
        q += 4;
      } else return fail(s, q, "bad escape in string (expected \\\", \\\\ or \\xHH)");
      if (n + 1 >= cap) return fail(s, st, "%s is longer than %zu characters", what, cap - 1);
      out[n] = c;
    }
    q++;
  } else {
    if (!is_ident_start(*q)) return fail(s, st, "expected %s", what);
    for (; is_ident_char(*q); q++, n++) {
      if (n + 1 >= cap) return fail(s, st, "%s is longer than %zu characters", what, cap - 1);
      out[n] = *q;
    }
  }
  if (*q && !is_space(*q)) return fail(s, q, "unexpected '%c' in %s", *q, what);
  out[n] = '\0';
  *p = q;
  return 0;
}

static int get_dtype(asm_state *s, slice t, uint8_t *out) {
  int d = ls_dtype_parse(t.s, t.n);
  if (d < 0) {
    char list[128] = "";
    for (int i = 0; i < LS_DTYPE_COUNT; i++) {
      size_t l = strlen(list);
      snprintf(list + l, sizeof list - l, "%s%s", i ? " " : "", ls_dtype_name((ls_dtype)i));
    }
    return fail(s, t.s, "unknown element type '%.*s' (expected one of: %s)", SL(t), list);
  }
  *out = (uint8_t)d;
  return 0;
}

/* e<k> is stream k, w<k> is stream streams + k. */
static int get_stream(asm_state *s, slice t, uint8_t *out) {
  const ls_target *tg = &s->p.target;
  uint64_t k;
  int ok = t.n >= 2 && (t.s[0] == 'e' || t.s[0] == 'w');
  for (size_t i = 1; ok && i < t.n; i++) ok = is_digit(t.s[i]);
  if (!ok || slice_u64((slice){t.s + 1, t.n - 1}, &k) != 0)
    return fail(s, t.s, "bad stream '%.*s' (expected e<k> or w<k>)", SL(t));
  if (k >= tg->streams)
    return fail(s, t.s, "stream %.*s does not exist: target %s has %u streams per direction", SL(t), tg->name,
                tg->streams);
  uint64_t id = t.s[0] == 'e' ? k : tg->streams + k;
  if (id >= LS_NO_STREAM) return fail(s, t.s, "stream %.*s has no id below 255 (too many streams)", SL(t));
  *out = (uint8_t)id;
  return 0;
}

static int get_plane(asm_state *s, slice t, uint32_t *out) {
  if (t.n < 2 || t.s[0] != 'p' || !is_digit(t.s[1]))
    return fail(s, t.s, "bad plane '%.*s' (expected p<k>)", SL(t));
  return get_u32(s, (slice){t.s + 1, t.n - 1}, "plane", out);
}

static int find_io(const asm_state *s, const char *name, size_t n) {
  for (uint32_t i = 0; i < s->p.n_io; i++)
    if (strlen(s->p.io[i].name) == n && memcmp(s->p.io[i].name, name, n) == 0) return (int)i;
  return -1;
}

/* [123], [0x400], [name], [name+64], [name-8] */
static int get_addr(asm_state *s, slice t, uint64_t *out) {
  if (t.n < 2 || t.s[0] != '[' || t.s[t.n - 1] != ']')
    return fail(s, t.s, "bad address '%.*s' (expected [64], [x] or [x+64])", SL(t));
  slice in = trim((slice){t.s + 1, t.n - 2});
  if (in.n && is_digit(in.s[0])) return get_uint(s, in, "address", UINT64_MAX, out);
  size_t k = 0;
  while (k < in.n && is_ident_char(in.s[k])) k++;
  if (k == 0 || !is_ident_start(in.s[0]))
    return fail(s, t.s, "bad address '%.*s' (expected [64], [x] or [x+64])", SL(t));
  int io = find_io(s, in.s, k);
  if (io < 0) return fail(s, in.s, "unknown tensor '%.*s' (declare it with .input or .output first)", (int)k, in.s);
  uint64_t base = s->p.io[io].addr, off = 0;
  slice rest = trim((slice){in.s + k, in.n - k});
  if (rest.n == 0) {
    *out = base;
    return 0;
  }
  if (rest.s[0] != '+' && rest.s[0] != '-') return fail(s, rest.s, "expected '+' or '-' after tensor name");
  if (get_uint(s, trim((slice){rest.s + 1, rest.n - 1}), "address offset", UINT64_MAX, &off)) return -1;
  if (rest.s[0] == '+' && off > UINT64_MAX - base) return fail(s, t.s, "address %.*s overflows", SL(t));
  if (rest.s[0] == '-' && off > base) return fail(s, t.s, "address %.*s is negative", SL(t));
  *out = rest.s[0] == '+' ? base + off : base - off;
  return 0;
}

/* @<number> */
static int get_at(asm_state *s, slice t, const char *what, uint64_t *out) {
  if (t.n == 0 || t.s[0] != '@') return fail(s, t.s, "expected @<%s>", what);
  return get_uint(s, (slice){t.s + 1, t.n - 1}, what, UINT64_MAX, out);
}

static int expect_end(asm_state *s, const char *p) {
  skip_ws(&p);
  if (*p) return fail(s, p, "unexpected '%.*s' at end of statement", SL(((slice){p, strlen(p)})));
  return 0;
}

/* ---- directives --------------------------------------------------------------------------- */

static int dir_target(asm_state *s, const char *at, const char *p) {
  if (s->have_target) return fail(s, at, ".target given twice");
  slice w = read_word(&p);
  char name[16] = "";
  if (w.n < sizeof name) memcpy(name, w.s, w.n);
  if (w.n >= sizeof name || ls_target_preset(name, &s->p.target) != 0)
    return fail(s, w.s, "unknown target preset '%.*s' (expected host or tsp)", SL(w));
  s->have_target = 1;
  return expect_end(s, p);
}

static int dir_set(asm_state *s, const char *at, const char *p) {
  if (s->have_label)
    return fail(s, at, ".set must come before the first queue label: instructions depend on the target");
  slice key = read_word(&p);
  char k[64] = "", v[256], msg[256];
  if (key.n == 0) return fail(s, at, ".set expects a target field and a value");
  memcpy(k, key.s, key.n < sizeof k ? key.n : sizeof k - 1);
  skip_ws(&p);
  if (*p == '"') {
    if (read_name(s, &p, v, sizeof v, "value")) return -1;
  } else {
    slice w = read_word(&p);
    if (w.n == 0) return fail(s, p, ".set %.*s expects a value", SL(key));
    if (w.n >= sizeof v) return fail(s, w.s, "value is too long");
    memcpy(v, w.s, w.n);
    v[w.n] = '\0';
  }
  if (expect_end(s, p)) return -1;
  if (ls_target_set(&s->p.target, k, v, msg, sizeof msg) != 0) return fail(s, key.s, "%s", msg);
  return 0;
}

static int dir_memory(asm_state *s, const char *at, const char *p) {
  if (s->have_memory) return fail(s, at, ".memory given twice");
  if (get_uint(s, read_word(&p), "memory size", UINT64_MAX, &s->p.mem_bytes)) return -1;
  s->have_memory = 1;
  return expect_end(s, p);
}

/* [d0,d1,...] or [] */
static int parse_shape(asm_state *s, const char **pp, ls_io *io) {
  const char *p = *pp;
  skip_ws(&p);
  if (*p != '[') return fail(s, p, "expected a shape like [4,16] ([] for a scalar)");
  p++;
  skip_ws(&p);
  if (*p == ']') {
    *pp = p + 1;
    return 0;
  }
  for (;;) {
    skip_ws(&p);
    const char *st = p;
    while (*p && *p != ',' && *p != ']' && !is_space(*p)) p++;
    if (io->rank == LS_MAX_RANK) return fail(s, st, "a tensor has at most %d dimensions", LS_MAX_RANK);
    if (get_uint(s, (slice){st, (size_t)(p - st)}, "dimension", UINT64_MAX, &io->dims[io->rank])) return -1;
    io->rank++;
    skip_ws(&p);
    if (*p == ']') break;
    if (*p != ',') return fail(s, p, "expected ',' or ']' in shape");
    p++;
  }
  *pp = p + 1;
  return 0;
}

/* .input/.output name dtype [shape] @addr */
static int dir_io(asm_state *s, const char *p, int is_output) {
  ls_io io;
  memset(&io, 0, sizeof io);
  io.is_output = (uint8_t)is_output;
  skip_ws(&p);
  const char *name_at = p;
  if (read_name(s, &p, io.name, sizeof io.name, "tensor name")) return -1;
  if (io.name[0] == '\0') return fail(s, name_at, "empty tensor name");
  if (find_io(s, io.name, strlen(io.name)) >= 0) return fail(s, name_at, "duplicate tensor name '%s'", io.name);
  slice dt = read_word(&p);
  if (get_dtype(s, dt, &io.dtype) || parse_shape(s, &p, &io)) return -1;
  if (get_at(s, read_word(&p), "tensor address", &io.addr) || expect_end(s, p)) return -1;
  ls_io *all = grow(s->p.io, &s->cap_io, (uint64_t)s->p.n_io + 1, sizeof io);
  if (!all) return oom(s);
  s->p.io = all;
  s->p.io[s->p.n_io++] = io;
  return 0;
}

typedef struct bytebuf {
  uint8_t *d;
  uint32_t n, cap;
} bytebuf;

static void put_le(uint8_t *out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes && i < 8; i++) out[i] = (uint8_t)(v >> (8 * i)); /* (v has 8 bytes) */
}

/* One typed .const value as little-endian bytes (ls_dtype_size(dt) of them) in out. */
static int encode_value(asm_state *s, slice v, uint8_t dt, uint8_t *out) {
  size_t size = ls_dtype_size((ls_dtype)dt);
  unsigned bits = (unsigned)size * 8;
  uint32_t f = 0;
  uint64_t u = 0;
  int64_t i = 0;
  switch (ls_dtype_class((ls_dtype)dt)) {
  case 'B':
    if (slice_eq(v, "0") || slice_eq(v, "false")) out[0] = 0;
    else if (slice_eq(v, "1") || slice_eq(v, "true")) out[0] = 1;
    else return fail(s, v.s, "bad bool '%.*s' (expected 0, 1, true or false)", SL(v));
    return 0;
  case 'U':
    if (get_uint(s, v, ls_dtype_name((ls_dtype)dt), bits == 64 ? UINT64_MAX : (1ull << bits) - 1, &u)) return -1;
    put_le(out, u, size);
    return 0;
  case 'I':
    if (get_int(s, v, ls_dtype_name((ls_dtype)dt), bits == 64 ? INT64_MIN : -(int64_t)(1ull << (bits - 1)),
                bits == 64 ? INT64_MAX : (int64_t)((1ull << (bits - 1)) - 1), &i))
      return -1;
    put_le(out, u64_bits(i), size);
    return 0;
  }
  if (dt == LS_F64) {
    double d;
    if (get_f64(s, v, &d)) return -1;
    memcpy(&u, &d, sizeof u);
    put_le(out, u, 8);
    return 0;
  }
  if (get_f32(s, v, &f)) return -1;
  if (dt == LS_F32) {
    put_le(out, f, 4);
    return 0;
  }
  /* f16/bf16: from the decimal via float, rounded by the ISA's own converters */
  float fl;
  memcpy(&fl, &f, sizeof fl);
  uint16_t h = dt == LS_F16 ? ls_f32_to_f16(fl) : ls_f32_to_bf16(fl);
  uint16_t inf = dt == LS_F16 ? 0x7c00u : 0x7f80u;
  if ((h & 0x7fffu) == inf && (f & 0x7fffffffu) != 0x7f800000u)
    return fail(s, v.s, "%.*s is out of range for %s", SL(v), ls_dtype_name((ls_dtype)dt));
  put_le(out, h, 2);
  return 0;
}

static int bb_push(bytebuf *b, const uint8_t *d, size_t n) {
  uint8_t *nd = grow(b->d, &b->cap, (uint64_t)b->n + n, 1);
  if (!nd) return -1;
  b->d = nd;
  memcpy(b->d + b->n, d, n);
  b->n += (uint32_t)n;
  return 0;
}

/* hex bytes; each blank-separated group holds whole bytes */
static int const_hex(asm_state *s, const char *p, bytebuf *b) {
  for (slice w = read_word(&p); w.n; w = read_word(&p)) {
    if (w.n % 2) return fail(s, w.s, "odd number of hex digits in '%.*s'", SL(w));
    for (size_t i = 0; i < w.n; i += 2) {
      int hi = hex_val(w.s[i]), lo = hex_val(w.s[i + 1]);
      if (hi < 0 || lo < 0) return fail(s, w.s + i, "bad hex byte '%.2s'", w.s + i);
      uint8_t byte = (uint8_t)(hi * 16 + lo);
      if (bb_push(b, &byte, 1)) return oom(s);
    }
  }
  return 0;
}

/* typed values separated by blanks and/or commas */
static int const_typed(asm_state *s, slice ty, const char *p, bytebuf *b) {
  uint8_t dt;
  if (get_dtype(s, ty, &dt)) return -1;
  for (;;) {
    while (is_space(*p) || *p == ',') p++;
    if (!*p) return 0;
    const char *st = p;
    while (*p && !is_space(*p) && *p != ',') p++;
    uint8_t bytes[8];
    if (encode_value(s, (slice){st, (size_t)(p - st)}, dt, bytes)) return -1;
    if (bb_push(b, bytes, ls_dtype_size((ls_dtype)dt))) return oom(s);
  }
}

/* .const @addr <dtype> values... | .const @addr hex bytes... */
static int dir_const(asm_state *s, const char *at, const char *p) {
  ls_const c = {0, 0, NULL}, *all = NULL;
  bytebuf b = {NULL, 0, 0};
  if (get_at(s, read_word(&p), "constant address", &c.addr)) return -1;
  slice ty = read_word(&p);
  if (ty.n == 0) return fail(s, at, ".const expects an element type or 'hex' after the address");
  int rc = slice_eq(ty, "hex") ? const_hex(s, p, &b) : const_typed(s, ty, p, &b);
  if (rc == 0 && !b.d && !(b.d = malloc(1))) rc = oom(s); /* an empty constant still owns a buffer */
  if (rc == 0 && !(all = grow(s->p.consts, &s->cap_consts, (uint64_t)s->p.n_consts + 1, sizeof c))) rc = oom(s);
  if (rc) {
    free(b.d);
    return -1;
  }
  c.size = b.n;
  c.data = b.d;
  s->p.consts = all;
  s->p.consts[s->p.n_consts++] = c;
  return 0;
}

static int parse_directive(asm_state *s, const char *p) {
  const char *at = p;
  p++;
  while (is_ident_char(*p)) p++;
  slice d = {at, (size_t)(p - at)};
  if (slice_eq(d, ".target")) return dir_target(s, at, p);
  if (!s->have_target) return fail(s, at, "expected .target (e.g. '.target host') before %.*s", SL(d));
  if (slice_eq(d, ".set")) return dir_set(s, at, p);
  if (slice_eq(d, ".memory")) return dir_memory(s, at, p);
  if (slice_eq(d, ".input")) return dir_io(s, p, 0);
  if (slice_eq(d, ".output")) return dir_io(s, p, 1);
  if (slice_eq(d, ".const")) return dir_const(s, at, p);
  return fail(s, at, "unknown directive '%.*s' (expected .target, .set, .memory, .input, .output or .const)",
              SL(d));
}

/* ---- queue labels ------------------------------------------------------------------------- */

/* <unit><index>: switch to that queue, creating it on first sight. */
static int parse_label(asm_state *s, const char *p, const char *end) {
  const ls_target *t = &s->p.target;
  slice lab = {p, (size_t)(end - p)};
  const char *d = p;
  while (d < end && is_alpha(*d)) d++;
  int unit = -1;
  for (int u = 0; u < LS_UNIT_COUNT; u++)
    if (u != LS_UNIT_ICU && slice_eq((slice){p, (size_t)(d - p)}, ls_unit_names[u])) unit = u;
  if (unit < 0) {
    if (slice_eq((slice){p, (size_t)(d - p)}, "icu"))
      return fail(s, p, "icu has no queue of its own: put nop/repeat/sync/notify on any queue");
    return fail(s, p, "unknown queue label '%.*s' (expected mem<k>, vxm<k>, mxm<k> or sxm<k>)", SL(lab));
  }
  uint64_t idx;
  int rc = slice_u64((slice){d, (size_t)(end - d)}, &idx);
  if (d == end || rc == -1) return fail(s, p, "queue label '%.*s' needs a decimal index, e.g. %s0", SL(lab), ls_unit_names[unit]);
  if (rc == -2 || idx >= t->slices[unit] || idx > UINT8_MAX)
    return fail(s, p, "queue %.*s does not exist: target %s has %u %s slices", SL(lab), t->name, t->slices[unit],
                ls_unit_names[unit]);
  s->have_label = 1;
  for (uint32_t q = 0; q < s->p.n_queues; q++)
    if (s->p.queues[q].unit == unit && s->p.queues[q].index == idx) {
      s->cur = (int)q;
      return 0;
    }
  uint64_t need = (uint64_t)s->p.n_queues + 1;
  ls_queue *qs = grow(s->p.queues, &s->cap_queues, need, sizeof *qs);
  if (qs) s->p.queues = qs;
  qstate *st = grow(s->qs, &s->cap_qs, need, sizeof *st);
  if (st) s->qs = st;
  if (!qs || !st) return oom(s);
  s->p.queues[s->p.n_queues] = (ls_queue){(uint8_t)unit, (uint8_t)idx, 0, NULL};
  memset(&s->qs[s->p.n_queues], 0, sizeof *s->qs);
  s->cur = (int)s->p.n_queues++;
  return 0;
}

/* ---- instructions ------------------------------------------------------------------------- */

enum { OPT_N = 1, OPT_STRIDE = 2, OPT_SIZE = 4, OPT_COLS = 8, OPT_LANES = 16, OPT_FILL = 32, OPT_COUNT = 6 };
static const char *const opt_names[OPT_COUNT] = {"n", "stride", "size", "cols", "lanes", "fill"};

static unsigned format_options(ls_format f) {
  switch (f) {
  case LS_FMT_READ: return OPT_N | OPT_STRIDE | OPT_LANES | OPT_FILL;
  case LS_FMT_WRITE: return OPT_N | OPT_STRIDE | OPT_LANES;
  case LS_FMT_GATHER:
  case LS_FMT_SCATTER: return OPT_N | OPT_SIZE;
  case LS_FMT_MM: return OPT_N | OPT_COLS;
  case LS_FMT_UN:
  case LS_FMT_BIN:
  case LS_FMT_TER:
  case LS_FMT_IMM:
  case LS_FMT_LANE:
  case LS_FMT_PERM:
  case LS_FMT_LW: return OPT_N;
  default: return 0;
  }
}

/* Positional operands each format takes: at least lo, at most hi. */
static void operand_range(ls_format f, int *lo, int *hi) {
  static const int count[LS_FMT_COUNT] = {
      [LS_FMT_NONE] = 0, [LS_FMT_IDLE] = 1, [LS_FMT_REPEAT] = 2, [LS_FMT_READ] = 2, [LS_FMT_WRITE] = 2,
      [LS_FMT_GATHER] = 3, [LS_FMT_SCATTER] = 3, [LS_FMT_UN] = 2, [LS_FMT_BIN] = 3, [LS_FMT_TER] = 4,
      [LS_FMT_IMM] = 3, [LS_FMT_LANE] = 3, [LS_FMT_PERM] = 3, [LS_FMT_LW] = 2, [LS_FMT_MM] = 3};
  *lo = count[f];
  *hi = f == LS_FMT_MM ? 4 : count[f]; /* mm's accumulator is optional */
}

/* mnemonic[.dtype[.dtype2]] at *p: sets op, t0, t1 and clears everything else. */
static int parse_mnemonic(asm_state *s, const char **p, ls_insn *in, slice *mn) {
  skip_ws(p);
  const char *st = *p;
  while (**p && !is_space(**p) && **p != ',') (*p)++;
  *mn = (slice){st, (size_t)(*p - st)};
  if (mn->n == 0) return fail(s, st, "expected an instruction");
  slice part[3];
  int np = 0;
  const char *b = st;
  for (const char *q = st;; q++) {
    if (q < *p && *q != '.') continue;
    if (np == 3) return fail(s, st, "too many element types in '%.*s'", SL(*mn));
    part[np++] = (slice){b, (size_t)(q - b)};
    b = q + 1;
    if (q == *p) break;
  }
  int op = ls_op_parse(part[0].s, part[0].n);
  if (op < 0) return fail(s, st, "unknown mnemonic '%.*s'", SL(part[0]));
  memset(in, 0, sizeof *in);
  in->op = (uint16_t)op;
  in->dst = in->a = in->b = in->c = LS_NO_STREAM;
  const char *name = ls_ops[op].mnemonic;
  int want = ls_ops[op].unit == LS_UNIT_ICU ? 0 : op == LS_OP_CVT ? 2 : 1;
  if (np - 1 != want) {
    if (want == 0) return fail(s, st, "%s takes no element type", name);
    if (want == 2) return fail(s, st, "cvt needs two element types, input then output (e.g. cvt.f32.i32)");
    if (np == 1) return fail(s, st, "%s needs an element type (e.g. %s.f32)", name, name);
    return fail(s, st, "%s takes one element type", name);
  }
  if (want >= 1 && get_dtype(s, part[1], &in->t0)) return -1;
  if (want == 2 && get_dtype(s, part[2], &in->t1)) return -1;
  return 0;
}

#define MAX_ITEMS 12

/* Comma-separated, trimmed operands and options. */
static int split_items(asm_state *s, const char *p, slice *it, int *count) {
  *count = 0;
  skip_ws(&p);
  if (!*p) return 0;
  for (;;) {
    const char *st = p;
    while (*p && *p != ',') p++;
    slice t = trim((slice){st, (size_t)(p - st)});
    if (t.n == 0) return fail(s, st, "empty operand (stray ',')");
    if (*count == MAX_ITEMS) return fail(s, st, "too many operands");
    it[(*count)++] = t;
    if (!*p) return 0;
    p++;
  }
}

/* An IMM operand: float types take a float literal or bits:<u64> (the f64 bits themselves),
 * integer and bool types a signed integer. */
static int get_imm(asm_state *s, slice t, uint8_t t0, int64_t *imm) {
  if (ls_dtype_class((ls_dtype)t0) != 'F') return get_int(s, t, "immediate", INT64_MIN, INT64_MAX, imm);
  uint64_t bits = 0;
  double d = 0;
  if (t.n > 5 && memcmp(t.s, "bits:", 5) == 0) {
    if (get_uint(s, (slice){t.s + 5, t.n - 5}, "immediate bits", UINT64_MAX, &bits)) return -1;
  } else {
    if (get_f64(s, t, &d)) return -1;
    memcpy(&bits, &d, sizeof bits);
  }
  *imm = i64_bits(bits);
  return 0;
}

/* The positional operands it[0..n) into in's fields, by format. */
static int fill_operands(asm_state *s, ls_insn *in, const slice *it, int n, slice mn) {
  ls_format f = ls_ops[in->op].format;
  const char *name = ls_ops[in->op].mnemonic;
  int lo, hi;
  operand_range(f, &lo, &hi);
  if (f == LS_FMT_NONE && n) return fail(s, it[0].s, "%s takes no operands", name);
  if (n < lo || n > hi) {
    if (lo == hi)
      return fail(s, mn.s, "%s expects %d operand%s (%s), got %d", name, lo, lo == 1 ? "" : "s",
                  ls_format_operands[f], n);
    return fail(s, mn.s, "%s expects %d or %d operands (%s), got %d", name, lo, hi, ls_format_operands[f], n);
  }
  int bad = 0;
  switch (f) {
  case LS_FMT_NONE: break;
  case LS_FMT_IDLE: bad = get_u32(s, it[0], "idle count", &in->n); break;
  case LS_FMT_REPEAT:
    bad = get_u32(s, it[0], "repeat count", &in->n) || get_u32(s, it[1], "repeat delay", &in->aux);
    break;
  case LS_FMT_READ: bad = get_stream(s, it[0], &in->dst) || get_addr(s, it[1], &in->addr); break;
  case LS_FMT_WRITE: bad = get_addr(s, it[0], &in->addr) || get_stream(s, it[1], &in->a); break;
  case LS_FMT_GATHER:
    bad = get_stream(s, it[0], &in->dst) || get_addr(s, it[1], &in->addr) || get_stream(s, it[2], &in->a);
    break;
  case LS_FMT_SCATTER:
    bad = get_addr(s, it[0], &in->addr) || get_stream(s, it[1], &in->a) || get_stream(s, it[2], &in->b);
    break;
  case LS_FMT_UN: bad = get_stream(s, it[0], &in->dst) || get_stream(s, it[1], &in->a); break;
  case LS_FMT_BIN:
    bad = get_stream(s, it[0], &in->dst) || get_stream(s, it[1], &in->a) || get_stream(s, it[2], &in->b);
    break;
  case LS_FMT_TER:
    bad = get_stream(s, it[0], &in->dst) || get_stream(s, it[1], &in->a) || get_stream(s, it[2], &in->b) ||
          get_stream(s, it[3], &in->c);
    break;
  case LS_FMT_IMM:
    bad = get_stream(s, it[0], &in->dst) || get_stream(s, it[1], &in->a) || get_imm(s, it[2], in->t0, &in->imm);
    break;
  case LS_FMT_LANE:
    bad = get_stream(s, it[0], &in->dst) || get_stream(s, it[1], &in->a) ||
          get_int(s, it[2], "lane count", INT64_MIN, INT64_MAX, &in->imm);
    break;
  case LS_FMT_PERM:
    bad = get_stream(s, it[0], &in->dst) || get_stream(s, it[1], &in->a) || get_addr(s, it[2], &in->addr);
    break;
  case LS_FMT_LW: bad = get_plane(s, it[0], &in->aux) || get_stream(s, it[1], &in->a); break;
  case LS_FMT_MM:
    bad = get_stream(s, it[0], &in->dst) || get_plane(s, it[1], &in->aux) || get_stream(s, it[2], &in->a) ||
          (n == 4 && get_stream(s, it[3], &in->b));
    break;
  case LS_FMT_COUNT: break;
  }
  return bad ? -1 : 0;
}

/* key=value options it[0..n), after the defaults: n=1, stride = one vector. */
static int apply_options(asm_state *s, ls_insn *in, const slice *it, int n, slice mn) {
  const char *name = ls_ops[in->op].mnemonic;
  unsigned allowed = format_options(ls_ops[in->op].format), seen = 0;
  if (allowed & OPT_N) in->n = 1;
  if (allowed & OPT_STRIDE) in->stride = (int64_t)((uint64_t)s->p.target.lanes * ls_dtype_size((ls_dtype)in->t0));
  for (int i = 0; i < n; i++) {
    const char *eq = memchr(it[i].s, '=', it[i].n); /* parse_insn made sure there is one */
    slice key = trim((slice){it[i].s, (size_t)(eq - it[i].s)});
    slice val = trim((slice){eq + 1, it[i].n - (size_t)(eq + 1 - it[i].s)});
    int k = -1;
    for (int j = 0; j < OPT_COUNT; j++)
      if (slice_eq(key, opt_names[j])) k = j;
    if (k < 0) return fail(s, key.s, "unknown option '%.*s' (options are n, stride, size, cols, lanes and fill)", SL(key));
    unsigned bit = 1u << k;
    if (!(allowed & bit)) {
      char list[64] = "";
      for (int j = 0; j < OPT_COUNT; j++)
        if (allowed & (1u << j)) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", opt_names[j]);
      return fail(s, key.s, "option '%s' does not apply to %s (%s%s)", opt_names[k], name,
                  allowed ? "it takes " : "it takes no options", list);
    }
    if (seen & bit) return fail(s, key.s, "option '%s' given twice", opt_names[k]);
    seen |= bit;
    int bad = 0;
    switch (bit) {
    case OPT_N: bad = get_u32(s, val, "n", &in->n); break;
    case OPT_STRIDE: bad = get_int(s, val, "stride", INT64_MIN, INT64_MAX, &in->stride); break;
    case OPT_SIZE: bad = get_u32(s, val, "size", &in->aux); break;
    case OPT_COLS: bad = get_int(s, val, "cols", INT64_MIN, INT64_MAX, &in->imm); break;
    case OPT_LANES: bad = get_u32(s, val, "lanes", &in->aux); break;
    case OPT_FILL: bad = get_imm(s, val, in->t0, &in->imm); break;
    }
    if (bad) return -1;
  }
  if ((allowed & OPT_SIZE) && !(seen & OPT_SIZE))
    return fail(s, mn.s, "%s needs size=<elements in the table>", name);
  return 0;
}

/* Give in its cycle (explicit, or when the queue is next free) and advance the queue. */
static void schedule(qstate *q, ls_insn *in, int explicit_cycle, uint64_t cycle) {
  if (in->op == LS_OP_REPEAT) {
    /* a REPEAT is stored at its first repetition; the queue is then busy until the last
     * repetition's instance is done */
    in->cycle = explicit_cycle ? cycle : q->have_last ? q->last.cycle + in->aux : q->next_free;
    if (q->have_last) {
      q->last.cycle += (uint64_t)in->n * in->aux;
      q->next_free = q->last.cycle + ls_insn_busy(&q->last);
    }
    return;
  }
  in->cycle = explicit_cycle ? cycle : q->next_free;
  q->last = *in;
  q->have_last = 1;
  q->next_free = in->cycle + ls_insn_busy(in);
}

static int parse_insn(asm_state *s, const char *p) {
  if (s->cur < 0) return fail(s, p, "instruction before any queue label (start a queue with e.g. 'mem0:')");
  uint64_t cycle = 0;
  int explicit_cycle = *p == '@';
  if (explicit_cycle) {
    slice w = read_word(&p);
    if (get_uint(s, (slice){w.s + 1, w.n - 1}, "cycle", UINT64_MAX, &cycle)) return -1;
  }
  ls_insn in;
  slice mn, it[MAX_ITEMS];
  int n, npos = 0;
  if (parse_mnemonic(s, &p, &in, &mn) || split_items(s, p, it, &n)) return -1;
  while (npos < n && !memchr(it[npos].s, '=', it[npos].n)) npos++;
  for (int i = npos; i < n; i++)
    if (!memchr(it[i].s, '=', it[i].n))
      return fail(s, it[i].s, "operand '%.*s' after options (options go last)", SL(it[i]));
  if (fill_operands(s, &in, it, npos, mn) || apply_options(s, &in, it + npos, n - npos, mn)) return -1;

  ls_queue *q = &s->p.queues[s->cur];
  qstate *qs = &s->qs[s->cur];
  schedule(qs, &in, explicit_cycle, cycle);
  ls_insn *all = grow(q->insns, &qs->cap, (uint64_t)q->count + 1, sizeof in);
  if (!all) return oom(s);
  q->insns = all;
  q->insns[q->count++] = in;
  return 0;
}

/* ---- lines -------------------------------------------------------------------------------- */

/* Length of the statement part of a physical line: comment cut (outside strings), trailing
 * blanks and a continuation backslash dropped; *cont says whether there was one. */
static size_t strip_comment(const char *ph, size_t n, int *cont) {
  int inq = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    char c = ph[i];
    if (inq) {
      if (c == '\\' && i + 1 < n) i++;
      else if (c == '"') inq = 0;
    } else if (c == '"') inq = 1;
    else if (c == ';' || c == '#') break;
  }
  size_t e = i;
  while (e > 0 && is_space(ph[e - 1])) e--;
  *cont = !inq && e > 0 && ph[e - 1] == '\\';
  return *cont ? e - 1 : e;
}

static int line_append(asm_state *s, const char *d, size_t n) {
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + n + 1) cap *= 2;
    char *nl = realloc(s->line, cap);
    if (!nl) return -1;
    s->line = nl;
    s->cap = cap;
  }
  memcpy(s->line + s->len, d, n);
  s->len += n;
  s->line[s->len] = '\0';
  return 0;
}

/* The next logical line into s->line. 1 if one was read, 0 at the end, -1 on error. */
static int next_line(asm_state *s, const char *src, size_t len, size_t *pos) {
  if (*pos >= len) return 0;
  s->len = 0;
  s->nsegs = 0;
  if (line_append(s, "", 0)) return oom(s);
  for (int cont = 1; cont && *pos < len;) {
    const char *ph = src + *pos, *nl = memchr(ph, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - ph) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    s->lineno++;
    if (memchr(ph, '\0', n)) return fail_line(s, s->lineno, "NUL byte in source");
    if (s->nsegs == s->capsegs) {
      size_t c = s->capsegs ? s->capsegs * 2 : 8;
      seg *ns = realloc(s->segs, c * sizeof *ns);
      if (!ns) return oom(s);
      s->segs = ns;
      s->capsegs = c;
    }
    s->segs[s->nsegs++] = (seg){s->len, s->lineno};
    n = strip_comment(ph, n, &cont);
    if (line_append(s, ph, n) || (cont && line_append(s, " ", 1))) return oom(s);
  }
  return 1;
}

static int parse_line(asm_state *s) {
  const char *p = s->line;
  skip_ws(&p);
  if (!*p) return 0;
  if (*p == '.') return parse_directive(s, p);
  if (!s->have_target) return fail(s, p, "expected .target (e.g. '.target host') before anything else");
  const char *q = p;
  while (is_alpha(*q) || is_digit(*q)) q++;
  if (q > p && *q == ':') {
    if (parse_label(s, p, q)) return -1;
    p = q + 1;
    skip_ws(&p);
    if (!*p) return 0;
  }
  return parse_insn(s, p);
}

/* ---- default memory size ------------------------------------------------------------------ */

/* One past the highest byte an instruction touches over its instances (1 + repetitions; READ
 * and WRITE advance by n*stride per instance). 0 if it touches none. */
static uint64_t insn_extent(const ls_target *t, const ls_insn *in, uint64_t instances) {
  uint64_t esz = ls_dtype_size((ls_dtype)in->t0), hi;
  switch (in->op) {
  case LS_OP_READ:
  case LS_OP_WRITE: {
    uint64_t vecs = sat_mul(in->n, instances);
    if (vecs == 0) return 0;
    hi = sat_add(in->addr, sat_mul(t->lanes, esz)); /* the first vector; with stride <= 0 the highest */
    if (in->stride > 0) hi = sat_add(hi, sat_mul(vecs - 1, (uint64_t)in->stride));
    return hi;
  }
  case LS_OP_GATHER:
  case LS_OP_SCATTER: return in->n ? sat_add(in->addr, sat_mul(in->aux, esz)) : 0;
  case LS_OP_PERMUTE: return in->n ? sat_add(in->addr, sat_mul(t->lanes, 4)) : 0;
  default: return 0;
  }
}

/* The smallest multiple of 64 covering tensors, constants and every memory access. */
static uint64_t default_memory(const ls_prog *p) {
  uint64_t hi = 0, e;
  for (uint32_t i = 0; i < p->n_io; i++)
    if ((e = sat_add(p->io[i].addr, ls_io_bytes(&p->io[i]))) > hi) hi = e;
  for (uint32_t i = 0; i < p->n_consts; i++)
    if ((e = sat_add(p->consts[i].addr, p->consts[i].size)) > hi) hi = e;
  for (uint32_t q = 0; q < p->n_queues; q++) {
    const ls_queue *qu = &p->queues[q];
    for (uint32_t i = 0; i < qu->count; i++) {
      if (qu->insns[i].op == LS_OP_REPEAT) continue;
      uint64_t instances = 1;
      for (uint32_t j = i + 1; j < qu->count && qu->insns[j].op == LS_OP_REPEAT; j++)
        instances = sat_add(instances, qu->insns[j].n);
      if ((e = insn_extent(&p->target, &qu->insns[i], instances)) > hi) hi = e;
    }
  }
  return hi > UINT64_MAX - 63 ? UINT64_MAX : (hi + 63) & ~(uint64_t)63;
}

int ls_assemble(const char *src, size_t len, const char *filename, ls_prog *out, char *err, size_t errlen) {
  asm_state s;
  memset(&s, 0, sizeof s);
  s.file = filename ? filename : "<input>";
  s.err = err;
  s.errlen = errlen;
  s.cur = -1;
  if (err && errlen) err[0] = '\0';
  size_t pos = 0;
  int rc;
  while ((rc = next_line(&s, src, len, &pos)) > 0)
    if (parse_line(&s)) {
      rc = -1;
      break;
    }
  if (rc == 0 && !s.have_target) {
    s.nsegs = 0;
    rc = fail_line(&s, s.lineno ? s.lineno : 1, "no .target: a program starts with e.g. '.target host'");
  }
  if (rc == 0 && !s.have_memory) s.p.mem_bytes = default_memory(&s.p);
  free(s.line);
  free(s.segs);
  free(s.qs);
  if (rc != 0) {
    ls_prog_free(&s.p);
    memset(out, 0, sizeof *out);
    return -1;
  }
  *out = s.p;
  return 0;
}

/* ---- disassembler ------------------------------------------------------------------------- */

/* A name as the assembler reads it: bare if it is an identifier, else a string. */
static void put_name(FILE *f, const char *name, size_t n) {
  if (is_plain_name(name, n)) {
    fwrite(name, 1, n, f);
    return;
  }
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c >= 0x20 && c < 0x7f) fputc(c, f);
    else fprintf(f, "\\x%02x", c);
  }
  fputc('"', f);
}

static void print_target(const ls_target *t, FILE *f) {
  size_t nl = strnlen(t->name, sizeof t->name);
  const char *preset = nl == 3 && memcmp(t->name, "tsp", 3) == 0 ? "tsp" : "host";
  ls_target b;
  ls_target_preset(preset, &b);
  fprintf(f, ".target %s\n", preset);
  if (nl != strlen(b.name) || memcmp(t->name, b.name, nl) != 0) {
    fputs(".set name ", f);
    put_name(f, t->name, nl);
    fputc('\n', f);
  }
  if (t->lanes != b.lanes) fprintf(f, ".set lanes %u\n", t->lanes);
  for (int u = 0; u < LS_UNIT_COUNT; u++) {
    if (t->slices[u] == b.slices[u]) continue;
    if (u == LS_UNIT_ICU) fprintf(f, "; target: icu slices = %u has no assembly form\n", t->slices[u]);
    else fprintf(f, ".set %s %u\n", ls_unit_names[u], t->slices[u]);
  }
  if (t->streams != b.streams) fprintf(f, ".set streams %u\n", t->streams);
  if (t->sram_bytes != b.sram_bytes) fprintf(f, ".set sram %llu\n", (unsigned long long)t->sram_bytes);
  if (t->clock_mhz != b.clock_mhz) fprintf(f, ".set clock %u\n", t->clock_mhz);
  for (int l = 0; l < LS_LAT_COUNT; l++)
    if (t->lat[l] != b.lat[l]) fprintf(f, ".set lat.%s %u\n", ls_lat_names[l], t->lat[l]);
}

/* The name length the encoder writes. */
static size_t io_name_len(const ls_io *io) { return strnlen(io->name, LS_MAX_NAME - 1); }

static int io_printable(const ls_io *io) {
  return io->dtype < LS_DTYPE_COUNT && io->is_output <= 1 && io->rank <= LS_MAX_RANK && io_name_len(io) > 0;
}

static void print_io(const ls_io *io, FILE *f) {
  if (!io_printable(io)) {
    fprintf(f, "; bad tensor '%.*s': dtype %u, is_output %u, rank %u\n", (int)io_name_len(io), io->name, io->dtype,
            io->is_output, io->rank);
    return;
  }
  fputs(io->is_output ? ".output " : ".input  ", f);
  put_name(f, io->name, io_name_len(io));
  fprintf(f, " %s [", ls_dtype_name((ls_dtype)io->dtype));
  for (unsigned d = 0; d < io->rank; d++) fprintf(f, "%s%llu", d ? "," : "", (unsigned long long)io->dims[d]);
  fprintf(f, "] @%llu\n", (unsigned long long)io->addr);
}

/* 32 bytes a line in groups of 4, continued with '\'. */
static void print_const(const ls_const *c, FILE *f) {
  static const char hex[] = "0123456789abcdef";
  fprintf(f, ".const @%llu hex", (unsigned long long)c->addr);
  char line[32 * 2 + 8 + 1];
  size_t k = 0;
  for (uint64_t i = 0; i < c->size; i++) {
    if (i % 4 == 0) line[k++] = ' ';
    line[k++] = hex[c->data[i] >> 4];
    line[k++] = hex[c->data[i] & 15];
    if (i % 32 == 31 || i + 1 == c->size) {
      fwrite(line, 1, k, f);
      if (i + 1 < c->size) fputs(" \\\n          ", f);
      k = 0;
    }
  }
  fputc('\n', f);
}

/* A small bounded string builder for one instruction line. */
typedef struct sbuf {
  char *b;
  size_t cap, n;
} sbuf;

static void sb_add(sbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(sb->b + sb->n, sb->cap - sb->n, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  sb->n = (size_t)k >= sb->cap - sb->n ? sb->cap - 1 : sb->n + (size_t)k;
}

/* e<k> / w<k>; -1 if the id names no stream of the target. */
static int stream_text(const ls_target *t, unsigned id, char *buf, size_t len) {
  if (id == LS_NO_STREAM) return -1; /* "none" where the format needs a stream */
  if (id < t->streams) snprintf(buf, len, "e%u", id);
  else if (id - t->streams < t->streams) snprintf(buf, len, "w%u", id - t->streams);
  else return -1;
  return 0;
}

/* [name], [name+off] inside a tensor the assembler can name, else [decimal]. */
static void addr_text(const ls_prog *p, uint64_t addr, char *buf, size_t len) {
  for (uint32_t i = 0; i < p->n_io; i++) {
    const ls_io *io = &p->io[i];
    size_t nl = io_name_len(io);
    if (!io_printable(io) || !is_plain_name(io->name, nl)) continue;
    if (addr < io->addr || addr - io->addr >= ls_io_bytes(io)) continue;
    if (addr == io->addr) snprintf(buf, len, "[%.*s]", (int)nl, io->name);
    else snprintf(buf, len, "[%.*s+%llu]", (int)nl, io->name, (unsigned long long)(addr - io->addr));
    return;
  }
  snprintf(buf, len, "[%llu]", (unsigned long long)addr);
}

/* A float immediate: shortest exact form "%.17g" / inf / nan, or bits:0x... when no decimal
 * gives back the same bits (NaN payloads). */
static void imm_float_text(int64_t imm, char *buf, size_t len) {
  uint64_t bits = u64_bits(imm), back;
  double d;
  memcpy(&d, &bits, sizeof d);
  if (isinf(d)) snprintf(buf, len, "%s", d < 0 ? "-inf" : "inf");
  else if (bits == F64_QNAN || bits == (F64_QNAN | F64_SIGN)) snprintf(buf, len, "%s", bits == F64_QNAN ? "nan" : "-nan");
  else {
    snprintf(buf, len, "%.17g", d);
    double r = strtod(buf, NULL);
    memcpy(&back, &r, sizeof back);
    if (isnan(d) || back != bits) snprintf(buf, len, "bits:0x%016llx", (unsigned long long)bits);
  }
}

/* One instruction as text (without indentation); -1 with the reason in why if it has none. */
static int format_insn(const ls_prog *p, const ls_insn *in, sbuf *sb, char *why, size_t whylen) {
  const ls_target *t = &p->target;
  if (in->op >= LS_OP_COUNT) {
    snprintf(why, whylen, "unknown op %u", in->op);
    return -1;
  }
  if (ls_insn_check_fields(in, why, whylen)) return -1;
  unsigned f = ls_format_fields((ls_op)in->op);
  ls_format fmt = ls_ops[in->op].format;
  if (((f & LS_F_T0) && in->t0 >= LS_DTYPE_COUNT) || ((f & LS_F_T1) && in->t1 >= LS_DTYPE_COUNT)) {
    snprintf(why, whylen, "%s with unknown element type %u/%u", ls_ops[in->op].mnemonic, in->t0, in->t1);
    return -1;
  }
  char sn[4][16] = {"", "", "", ""}, addr[LS_MAX_NAME + 32], imm[40];
  const uint8_t ids[4] = {in->dst, in->a, in->b, in->c};
  const unsigned use[4] = {LS_F_DST, LS_F_A, LS_F_B, LS_F_C};
  for (int i = 0; i < 4; i++) {
    if (!(f & use[i]) || (i == 2 && (f & LS_F_B_OPT) && ids[i] == LS_NO_STREAM)) continue;
    if (stream_text(t, ids[i], sn[i], sizeof sn[i])) {
      snprintf(why, whylen, "%s with stream id %u, which a target with %u streams lacks", ls_ops[in->op].mnemonic,
               ids[i], t->streams);
      return -1;
    }
  }
  const char *dst = sn[0], *a = sn[1], *b = sn[2], *c = sn[3];
  addr_text(p, in->addr, addr, sizeof addr);
  if (ls_dtype_class((ls_dtype)in->t0) == 'F') imm_float_text(in->imm, imm, sizeof imm);
  else snprintf(imm, sizeof imm, "%lld", (long long)in->imm);

  sb_add(sb, "@%llu %s", (unsigned long long)in->cycle, ls_ops[in->op].mnemonic);
  if (f & LS_F_T0) sb_add(sb, ".%s", ls_dtype_name((ls_dtype)in->t0));
  if (f & LS_F_T1) sb_add(sb, ".%s", ls_dtype_name((ls_dtype)in->t1));
  switch (fmt) {
  case LS_FMT_NONE: break;
  case LS_FMT_IDLE: sb_add(sb, " %u", in->n); break;
  case LS_FMT_REPEAT: sb_add(sb, " %u, %u", in->n, in->aux); break;
  case LS_FMT_READ: sb_add(sb, " %s, %s", dst, addr); break;
  case LS_FMT_WRITE: sb_add(sb, " %s, %s", addr, a); break;
  case LS_FMT_GATHER: sb_add(sb, " %s, %s, %s", dst, addr, a); break;
  case LS_FMT_SCATTER: sb_add(sb, " %s, %s, %s", addr, a, b); break;
  case LS_FMT_UN: sb_add(sb, " %s, %s", dst, a); break;
  case LS_FMT_BIN: sb_add(sb, " %s, %s, %s", dst, a, b); break;
  case LS_FMT_TER: sb_add(sb, " %s, %s, %s, %s", dst, a, b, c); break;
  case LS_FMT_IMM: sb_add(sb, " %s, %s, %s", dst, a, imm); break;
  case LS_FMT_LANE: sb_add(sb, " %s, %s, %lld", dst, a, (long long)in->imm); break;
  case LS_FMT_PERM: sb_add(sb, " %s, %s, %s", dst, a, addr); break;
  case LS_FMT_LW: sb_add(sb, " p%u, %s", in->aux, a); break;
  case LS_FMT_MM: sb_add(sb, " %s, p%u, %s%s%s", dst, in->aux, a, b[0] ? ", " : "", b); break;
  case LS_FMT_COUNT: break;
  }
  /* options: n for every typed format (IDLE and REPEAT carry it positionally) */
  if (f & LS_F_T0) sb_add(sb, ", n=%u", in->n);
  if ((f & LS_F_STRIDE) && (uint64_t)in->stride != (uint64_t)t->lanes * ls_dtype_size((ls_dtype)in->t0))
    sb_add(sb, ", stride=%lld", (long long)in->stride);
  if (fmt == LS_FMT_GATHER || fmt == LS_FMT_SCATTER) sb_add(sb, ", size=%u", in->aux);
  if (fmt == LS_FMT_MM && in->imm) sb_add(sb, ", cols=%lld", (long long)in->imm);
  if ((fmt == LS_FMT_READ || fmt == LS_FMT_WRITE) && in->aux) sb_add(sb, ", lanes=%u", in->aux);
  if (fmt == LS_FMT_READ && in->imm) sb_add(sb, ", fill=%s", imm);
  return 0;
}

/* seen: one bit per (unit, index) labelled so far, since a second queue with the same label
 * would merge into the first on re-assembly. */
static void print_queue(const ls_prog *p, const ls_queue *q, uint8_t seen[LS_UNIT_COUNT][32], FILE *f) {
  const ls_target *t = &p->target;
  /* a queue without a label form is kept visible, commented out */
  const char *cm = "; ";
  if (q->unit >= LS_UNIT_COUNT || q->unit == LS_UNIT_ICU || q->index >= t->slices[q->unit])
    fprintf(f, "\n; bad queue: unit %u index %u\n", q->unit, q->index);
  else if (seen[q->unit][q->index / 8] & (1u << (q->index % 8)))
    fprintf(f, "\n; bad queue: %s%u appears twice\n", ls_unit_names[q->unit], q->index);
  else {
    seen[q->unit][q->index / 8] |= (uint8_t)(1u << (q->index % 8));
    fprintf(f, "\n%s%u:\n", ls_unit_names[q->unit], q->index);
    cm = "";
  }
  for (uint32_t i = 0; i < q->count; i++) {
    const ls_insn *in = &q->insns[i];
    char line[512], why[160];
    sbuf sb = {line, sizeof line, 0};
    line[0] = '\0';
    if (format_insn(p, in, &sb, why, sizeof why) == 0) {
      fprintf(f, "%s    %s\n", cm, line);
      continue;
    }
    fprintf(f,
            "%s    ; bad instruction: %s (@%llu op=%u t0=%u t1=%u dst=%u a=%u b=%u c=%u n=%u aux=%u imm=%lld "
            "addr=%llu stride=%lld)\n",
            cm, why, (unsigned long long)in->cycle, in->op, in->t0, in->t1, in->dst, in->a, in->b, in->c, in->n,
            in->aux, (long long)in->imm, (unsigned long long)in->addr, (long long)in->stride);
  }
}

int ls_disassemble(const ls_prog *p, FILE *out) {
  ls_prog_stats st;
  ls_prog_stats_compute(p, &st);
  fprintf(out, "; %llu instructions, %llu cycles\n", (unsigned long long)st.insns, (unsigned long long)st.cycles);
  print_target(&p->target, out);
  fprintf(out, ".memory %llu\n", (unsigned long long)p->mem_bytes);
  for (uint32_t i = 0; i < p->n_io; i++) print_io(&p->io[i], out);
  for (uint32_t i = 0; i < p->n_consts; i++) print_const(&p->consts[i], out);
  uint8_t seen[LS_UNIT_COUNT][32];
  memset(seen, 0, sizeof seen);
  for (uint32_t q = 0; q < p->n_queues; q++) print_queue(p, &p->queues[q], seen, out);
  return ferror(out) ? -1 : 0;
}
