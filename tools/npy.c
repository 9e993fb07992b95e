/* npy.c - NumPy .npy reader and writer. See npy.h for what is accepted.
 *
 * File layout (numpy/lib/format.py):
 *   "\x93NUMPY" major minor  header-length (u16 LE for 1.0, u32 LE for 2.0 and 3.0)
 *   header: a Python dict literal, padded with spaces and ending in '\n'
 *   data:   the elements, C order, exactly prod(shape) * itemsize bytes
 */
#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAGIC "\x93" "NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64              /* NumPy's ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21      /* NumPy's GROWTH_AXIS_MAX_DIGITS */
#define NPY_MAX_HEADER (1u << 20) /* NumPy itself refuses more than 10000 by default */
#define NPY_SHAPE_CHARS (LS_MAX_RANK * 22 + 4)
#define NPY_SUPPORTED "f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 in byte order <, >, = or |"

#if defined(__GNUC__)
#define NPY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NPY_PRINTF(f, a)
#endif

/* What the header says, checked. */
typedef struct npy_info {
  ls_dtype dtype;
  int rank;
  uint64_t dims[LS_MAX_RANK];
  int swap;        /* the file's byte order is not the host's */
  uint64_t bytes;  /* data bytes the shape implies (fits in size_t) */
  char descr[48];  /* the descr as quoted in messages */
} npy_info;

/* ---- messages ------------------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...) NPY_PRINTF(4, 5);
static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...) {
  if (err && errlen) {
    int k = snprintf(err, errlen, "%s: ", name);
    if (k >= 0 && (size_t)k < errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return -1;
}

/* s[0..n) as a string in delim quotes, escaped, of at most max source bytes, for messages. */
static void quote(char *dst, size_t cap, const uint8_t *s, size_t n, size_t max, char delim) {
  size_t k = 0;
  if (!cap) return;
#define PUT(c) do { if (k + 1 < cap) dst[k++] = (char)(c); } while (0)
  PUT(delim);
  for (size_t i = 0; i < n && i < max; i++) {
    uint8_t c = s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != (uint8_t)delim) {
      PUT(c);
    } else {
      char e[8];
      snprintf(e, sizeof e, "\\x%02x", (unsigned)c);
      for (const char *q = e; *q; q++) PUT(*q);
    }
  }
  PUT(delim);
  if (n > max) { PUT('.'); PUT('.'); PUT('.'); }
#undef PUT
  dst[k] = '\0';
}

/* A shape exactly as Python's repr of a tuple: (), (3,), (2, 3). */
static void fmt_shape(char *dst, size_t cap, int rank, const uint64_t *dims) {
  size_t k = 0;
  k += (size_t)snprintf(dst, cap, "(");
  for (int i = 0; i < rank && k < cap; i++)
    k += (size_t)snprintf(dst + k, cap - k, "%s%" PRIu64, i ? ", " : "", dims[i]);
  if (k < cap) snprintf(dst + k, cap - k, rank == 1 ? ",)" : ")");
}

static int host_little(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Data bytes of a shape; -1 if the element count or byte count overflows. Like NumPy,
 * zero dims make the array empty but the other dims must still multiply without
 * overflow. */
static int shape_bytes(int rank, const uint64_t *dims, size_t size, uint64_t *bytes) {
  uint64_t n = 1;
  int empty = 0;
  for (int i = 0; i < rank; i++) {
    if (dims[i] > (uint64_t)INT64_MAX) return -1;
    if (dims[i] == 0) { empty = 1; continue; }
    if (n > (uint64_t)INT64_MAX / dims[i]) return -1;
    n *= dims[i];
  }
  if (n > (uint64_t)INT64_MAX / size || n * size > (uint64_t)SIZE_MAX) return -1;
  *bytes = empty ? 0 : n * size;
  return 0;
}

/* ---- preamble: magic, version, header length -------------------------------------------- */

static int parse_preamble(const uint8_t *b, size_t n, const char *name, int *major, size_t *pre,
                          uint32_t *hlen, char *err, size_t errlen) {
  if (n == 0) return fail(err, errlen, name, "empty file (expected a .npy file starting with \\x93NUMPY)");
  size_t m = n < NPY_MAGIC_LEN ? n : NPY_MAGIC_LEN;
  if (memcmp(b, NPY_MAGIC, m) != 0) {
    if (n >= 4 && memcmp(b, "PK\x03\x04", 4) == 0)
      return fail(err, errlen, name,
                  "not a .npy file: this is a zip archive, probably an .npz (expected the magic "
                  "\\x93NUMPY; extract the arrays from the archive first)");
    char q[64];
    quote(q, sizeof q, b, n, NPY_MAGIC_LEN, '\'');
    return fail(err, errlen, name, "not a .npy file: bad magic %s (expected \\x93NUMPY)", q);
  }
  if (n < 8)
    return fail(err, errlen, name,
                "truncated preamble: file is %zu bytes (expected at least 10 bytes of magic, "
                "version and header length)", n);
  unsigned maj = b[6], min = b[7];
  if (maj < 1 || maj > 3 || min != 0)
    return fail(err, errlen, name, "unsupported .npy format version %u.%u (expected 1.0, 2.0 or 3.0)",
                maj, min);
  size_t lb = maj == 1 ? 2 : 4;
  if (n < 8 + lb)
    return fail(err, errlen, name,
                "truncated preamble: file is %zu bytes (expected at least %zu bytes of magic, "
                "version and header length)", n, 8 + lb);
  uint32_t h = (uint32_t)b[8] | (uint32_t)b[9] << 8;
  if (lb == 4) h |= (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
  if (h > NPY_MAX_HEADER)
    return fail(err, errlen, name, "header length %" PRIu32 " is implausibly large (expected at most %u bytes)",
                h, NPY_MAX_HEADER);
  *major = (int)maj;
  *pre = 8 + lb;
  *hlen = h;
  return 0;
}

static int header_truncated(const char *name, uint32_t hlen, uint64_t have, size_t pre, char *err,
                            size_t errlen) {
  return fail(err, errlen, name,
              "truncated header (expected %" PRIu32 " header bytes after the %zu-byte preamble, file has %" PRIu64 ")",
              hlen, pre, have);
}

static int size_mismatch(const char *name, const npy_info *in, uint64_t have, char *err, size_t errlen) {
  char shape[NPY_SHAPE_CHARS];
  fmt_shape(shape, sizeof shape, in->rank, in->dims);
  if (have < in->bytes)
    return fail(err, errlen, name,
                "truncated data (expected %" PRIu64 " data bytes for shape %s of %s, file has %" PRIu64 ")",
                in->bytes, shape, in->descr, have);
  return fail(err, errlen, name,
              "%" PRIu64 " byte%s of trailing data after the array (expected %" PRIu64
              " data bytes for shape %s of %s, file has %" PRIu64 ")",
              have - in->bytes, have - in->bytes == 1 ? "" : "s", in->bytes, shape, in->descr, have);
}

/* ---- the header dictionary --------------------------------------------------------------- */

typedef struct hparse {
  const uint8_t *s, *p, *e; /* header text, cursor, end */
  int major;
  const char *name;
  char *err;
  size_t errlen;
} hparse;

static int hfail(hparse *h, const char *fmt, ...) NPY_PRINTF(2, 3);
static int hfail(hparse *h, const char *fmt, ...) {
  char what[256], text[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  size_t n = (size_t)(h->e - h->s);
  while (n && (h->s[n - 1] == ' ' || h->s[n - 1] == '\n')) n--;
  quote(text, sizeof text, h->s, n, 80, '"');
  return fail(h->err, h->errlen, h->name, "malformed header at byte %zu of the header: %s; header is %s",
              (size_t)(h->p - h->s), what, text);
}

static int peek(const hparse *h) { return h->p < h->e ? *h->p : -1; }

static void skip_ws(hparse *h) {
  while (h->p < h->e && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r' ||
                         *h->p == '\f' || *h->p == '\v'))
    h->p++;
}

static int is_ident(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

static int parse_str(hparse *h, const uint8_t **s, size_t *n, const char *what) {
  int q = peek(h);
  if (q == -1) return hfail(h, "header ends early (expected %s)", what);
  if (q != '\'' && q != '"') return hfail(h, "expected %s in quotes", what);
  const uint8_t *start = ++h->p;
  while (h->p < h->e && *h->p != q && *h->p != '\n') {
    if (*h->p == '\\') return hfail(h, "escape sequences in header strings are not supported");
    h->p++;
  }
  if (peek(h) != q) {
    h->p = start - 1;
    return hfail(h, "unterminated string (expected a closing %c)", q);
  }
  *s = start;
  *n = (size_t)(h->p - start);
  h->p++;
  return 0;
}

/* A bracketed value, such as the list of fields of a structured descr. */
static int skip_nested(hparse *h) {
  const uint8_t *start = h->p;
  int depth = 0;
  while (h->p < h->e) {
    uint8_t c = *h->p;
    if (c == '\'' || c == '"') {
      const uint8_t *s;
      size_t n;
      if (parse_str(h, &s, &n, "a string")) return -1;
      continue;
    }
    if (c == '[' || c == '(' || c == '{') depth++;
    if ((c == ']' || c == ')' || c == '}') && --depth == 0) {
      h->p++;
      return 0;
    }
    h->p++;
  }
  h->p = start;
  return hfail(h, "header ends inside the value of 'descr'");
}

/* True or False. */
static int parse_bool(hparse *h, int *v) {
  const uint8_t *start = h->p;
  while (h->p < h->e && is_ident(*h->p)) h->p++;
  size_t n = (size_t)(h->p - start);
  if (n == 4 && memcmp(start, "True", 4) == 0) { *v = 1; return 0; }
  if (n == 5 && memcmp(start, "False", 5) == 0) { *v = 0; return 0; }
  h->p = start;
  return hfail(h, "fortran_order must be True or False");
}

/* One dimension: a non-negative decimal integer (a Python 2 'L' suffix is fine before 3.0). */
static int parse_dim(hparse *h, uint64_t *v) {
  const uint8_t *start = h->p;
  int neg = 0;
  if (peek(h) == '-') { neg = 1; h->p++; }
  uint64_t x = 0;
  int digits = 0;
  while (h->p < h->e && *h->p >= '0' && *h->p <= '9') {
    unsigned d = (unsigned)(*h->p - '0');
    if (x > ((uint64_t)INT64_MAX - d) / 10) {
      h->p = start;
      return hfail(h, "dimension too large in shape (expected at most %" PRId64 ")", INT64_MAX);
    }
    x = x * 10 + d;
    digits++;
    h->p++;
  }
  if (!digits) {
    h->p = start;
    if (peek(h) == -1) return hfail(h, "header ends inside shape (expected a dimension or ')')");
    return hfail(h, "expected a non-negative integer dimension or ')' in shape");
  }
  if (h->major < 3 && (peek(h) == 'L' || peek(h) == 'l')) h->p++;
  if (is_ident(peek(h)) || peek(h) == '.') {
    h->p = start;
    return hfail(h, "dimension in shape is not a plain integer");
  }
  if (neg && x) {
    h->p = start;
    return hfail(h, "negative dimension -%" PRIu64 " in shape (expected sizes >= 0)", x);
  }
  *v = x;
  return 0;
}

/* A tuple of dimensions: (), (3,), (2, 3), (2, 3,). *rank counts them all; dims gets the
 * first LS_MAX_RANK. */
static int parse_shape(hparse *h, int *rank, uint64_t *dims) {
  if (peek(h) != '(') return hfail(h, "shape must be a tuple such as (), (3,) or (2, 3)");
  const uint8_t *open = h->p++;
  int n = 0, comma = 0;
  skip_ws(h);
  while (peek(h) != ')') {
    uint64_t spare;
    if (parse_dim(h, n < LS_MAX_RANK ? &dims[n] : &spare)) return -1;
    n++;
    skip_ws(h);
    if (peek(h) == ',') {
      h->p++;
      comma = 1;
      skip_ws(h);
    } else if (peek(h) == ')') {
      comma = 0;
    } else if (peek(h) == -1) {
      return hfail(h, "header ends inside shape (expected ',' or ')')");
    } else {
      return hfail(h, "expected ',' or ')' in shape");
    }
  }
  h->p++;
  if (n == 1 && !comma) {
    h->p = open;
    return hfail(h, "shape (%" PRIu64 ") is a number, not a tuple (expected (%" PRIu64 ",))", dims[0],
                 dims[0]);
  }
  *rank = n;
  return 0;
}

static int decode_descr(const uint8_t *s, size_t n, npy_info *in, const char *name, char *err,
                        size_t errlen) {
  quote(in->descr, sizeof in->descr, s, n, 24, '\'');
  size_t i = 0;
  char order = '=';
  if (i < n && (s[i] == '<' || s[i] == '>' || s[i] == '=' || s[i] == '|')) order = (char)s[i++];
  char kind = i < n ? (char)s[i++] : '\0';
  unsigned size = 0;
  int digits = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 4) size = size * 10 + (unsigned)(s[i++] - '0'), digits++;
  int ok = i == n && digits > 0;
  int t = -1;
  if (ok) {
    switch (kind) {
    case 'f': t = size == 2 ? LS_F16 : size == 4 ? LS_F32 : size == 8 ? LS_F64 : -1; break;
    case 'i': t = size == 1 ? LS_I8 : size == 2 ? LS_I16 : size == 4 ? LS_I32 : size == 8 ? LS_I64 : -1; break;
    case 'u': t = size == 1 ? LS_U8 : size == 2 ? LS_U16 : size == 4 ? LS_U32 : size == 8 ? LS_U64 : -1; break;
    case 'b': t = size == 1 ? LS_BOOL : -1; break;
    default: break;
    }
  }
  if (t < 0) {
    const char *why;
    switch (kind) {
    case 'c': why = "complex numbers"; break;
    case 'O': why = "Python objects (pickled)"; break;
    case 'U': why = "unicode strings"; break;
    case 'S': case 'a': why = "byte strings"; break;
    case 'V': why = "raw void records"; break;
    case 'M': why = "datetime64"; break;
    case 'm': why = "timedelta64"; break;
    case 'f': why = ok && size > 8 ? "extended precision floats (long double)" : "a float size Lockstep has no type for"; break;
    case 'i': case 'u': why = "an integer size Lockstep has no type for"; break;
    case 'b': why = "a bool size Lockstep has no type for"; break;
    default: why = "not a NumPy type Lockstep knows"; break;
    }
    return fail(err, errlen, name, "unsupported dtype %s: %s (expected one of " NPY_SUPPORTED ")", in->descr, why);
  }
  in->dtype = (ls_dtype)t;
  in->swap = ls_dtype_size(in->dtype) > 1 && ((order == '>' && host_little()) || (order == '<' && !host_little()));
  return 0;
}

static int parse_header(const uint8_t *text, size_t len, int major, const char *name, npy_info *in,
                        char *err, size_t errlen) {
  hparse h = {text, text, text + len, major, name, err, errlen};
  const uint8_t *descr = NULL;
  size_t descr_len = 0;
  int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0, structured = 0, rank = 0;
  memset(in, 0, sizeof *in);

  skip_ws(&h);
  if (peek(&h) != '{') return hfail(&h, "expected a dictionary starting with '{'");
  h.p++;
  for (;;) {
    skip_ws(&h);
    if (peek(&h) == '}') break;
    const uint8_t *key, *key_at = h.p;
    size_t klen;
    if (parse_str(&h, &key, &klen, "a key ('descr', 'fortran_order' or 'shape')")) return -1;
    skip_ws(&h);
    if (peek(&h) != ':') return hfail(&h, "expected ':' after a key");
    h.p++;
    skip_ws(&h);
    int *seen;
    if (klen == 5 && memcmp(key, "descr", 5) == 0) seen = &have_descr;
    else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) seen = &have_fortran;
    else if (klen == 5 && memcmp(key, "shape", 5) == 0) seen = &have_shape;
    else {
      char q[64];
      quote(q, sizeof q, key, klen, 32, '\'');
      h.p = key_at;
      return hfail(&h, "unexpected key %s (expected only 'descr', 'fortran_order' and 'shape')", q);
    }
    if (*seen) {
      h.p = key_at;
      return hfail(&h, "duplicate key '%.*s'", (int)klen, (const char *)key);
    }
    *seen = 1;
    if (seen == &have_descr) {
      if (peek(&h) == '[') { /* the fields of a structured array */
        descr = h.p;
        if (skip_nested(&h)) return -1;
        descr_len = (size_t)(h.p - descr);
        structured = 1;
      } else if (parse_str(&h, &descr, &descr_len, "a dtype string for 'descr' such as '<f4'")) {
        return -1;
      }
    } else if (seen == &have_fortran) {
      if (parse_bool(&h, &fortran)) return -1;
    } else {
      if (parse_shape(&h, &rank, in->dims)) return -1;
    }
    skip_ws(&h);
    if (peek(&h) == ',') {
      h.p++;
      continue;
    }
    if (peek(&h) == '}') break;
    if (peek(&h) == -1) return hfail(&h, "header ends inside the dictionary (expected ',' or '}')");
    return hfail(&h, "expected ',' or '}' after the value of '%.*s'", (int)klen, (const char *)key);
  }
  h.p++;
  skip_ws(&h);
  if (h.p != h.e) return hfail(&h, "unexpected text after the dictionary (expected only spaces and '\\n')");
  if (!have_descr || !have_fortran || !have_shape)
    return fail(err, errlen, name, "header has no '%s' key (expected 'descr', 'fortran_order' and 'shape')",
                !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");

  if (structured) {
    char q[96];
    quote(q, sizeof q, descr, descr_len, 64, '"');
    return fail(err, errlen, name,
                "structured arrays are not supported: descr is the field list %s (expected a plain dtype "
                "such as '<f4'; save each field as its own array)", q);
  }
  if (decode_descr(descr, descr_len, in, name, err, errlen)) return -1;
  if (fortran)
    return fail(err, errlen, name,
                "fortran_order arrays are not supported; save with np.ascontiguousarray (expected fortran_order False)");
  if (rank > LS_MAX_RANK)
    return fail(err, errlen, name, "shape has %d dimensions (expected rank <= LS_MAX_RANK = %d)", rank,
                LS_MAX_RANK);
  in->rank = rank;
  if (shape_bytes(in->rank, in->dims, ls_dtype_size(in->dtype), &in->bytes)) {
    char shape[NPY_SHAPE_CHARS];
    fmt_shape(shape, sizeof shape, in->rank, in->dims);
    return fail(err, errlen, name, "shape %s of %s is too large: its byte count overflows (expected fewer than 2^63 bytes)",
                shape, in->descr);
  }
  return 0;
}

/* ---- results ----------------------------------------------------------------------------- */

static void to_host(const npy_info *in, uint8_t *d) {
  size_t size = ls_dtype_size(in->dtype), n = (size_t)in->bytes;
  if (in->swap) {
    for (size_t i = 0; i + size <= n; i += size)
      for (size_t a = 0, b = size - 1; a < b; a++, b--) {
        uint8_t t = d[i + a];
        d[i + a] = d[i + b];
        d[i + b] = t;
      }
  }
  if (in->dtype == LS_BOOL)
    for (size_t i = 0; i < n; i++) d[i] = d[i] != 0;
}

static void fill(npy_array *out, const npy_info *in, void *data) {
  out->dtype = in->dtype;
  out->rank = in->rank;
  for (int i = 0; i < LS_MAX_RANK; i++) out->dims[i] = i < in->rank ? in->dims[i] : 0;
  out->data = data;
  out->bytes = (size_t)in->bytes;
}

int npy_parse(const uint8_t *buf, size_t len, const char *name_for_errors, npy_array *out, char *err,
              size_t errlen) {
  const char *name = name_for_errors ? name_for_errors : "<memory>";
  npy_info in;
  int major;
  size_t pre;
  uint32_t hlen;
  if (err && errlen) err[0] = '\0';
  if (out) memset(out, 0, sizeof *out);
  if (!out) return fail(err, errlen, name, "no output array (expected a npy_array to fill)");
  if (!buf && len) return fail(err, errlen, name, "no buffer (expected %zu bytes)", len);
  if (parse_preamble(buf, len, name, &major, &pre, &hlen, err, errlen)) return -1;
  if (len - pre < hlen) return header_truncated(name, hlen, len - pre, pre, err, errlen);
  if (parse_header(buf + pre, hlen, major, name, &in, err, errlen)) return -1;
  size_t off = pre + hlen;
  if (len - off != in.bytes) return size_mismatch(name, &in, len - off, err, errlen);
  uint8_t *d = malloc(in.bytes ? (size_t)in.bytes : 1);
  if (!d) return fail(err, errlen, name, "out of memory (expected to allocate %" PRIu64 " bytes)", in.bytes);
  if (in.bytes) memcpy(d, buf + off, (size_t)in.bytes);
  to_host(&in, d);
  fill(out, &in, d);
  return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errlen) {
  const char *name = path ? path : "(null)";
  if (err && errlen) err[0] = '\0';
  if (out) memset(out, 0, sizeof *out);
  if (!out) return fail(err, errlen, name, "no output array (expected a npy_array to fill)");
  if (!path) return fail(err, errlen, name, "no path (expected a .npy file name)");
  FILE *f = fopen(path, "rb");
  if (!f) return fail(err, errlen, name, "cannot open: %s (expected a readable .npy file)", strerror(errno));

  struct stat st;
  int sized = 0;
  uint64_t fsize = 0;
  if (fstat(fileno(f), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      fclose(f);
      return fail(err, errlen, name, "is a directory (expected a .npy file)");
    }
    if (S_ISREG(st.st_mode) && st.st_size >= 0) {
      sized = 1;
      fsize = (uint64_t)st.st_size;
    }
  }

  uint8_t *hdr = NULL, *d = NULL;
  int rc = -1, major = 0;
  size_t pre = 0;
  uint32_t hlen = 0;
  npy_info in;
  uint8_t b[12];
  size_t got = fread(b, 1, 8, f);
  if (got == 8 && b[6] >= 1 && b[6] <= 3) got += fread(b + 8, 1, b[6] == 1 ? 2 : 4, f);
  if (ferror(f)) goto io_error;
  if (parse_preamble(b, got, name, &major, &pre, &hlen, err, errlen)) goto done;
  if (sized && fsize < pre + (uint64_t)hlen) {
    header_truncated(name, hlen, fsize > pre ? fsize - pre : 0, pre, err, errlen);
    goto done;
  }
  hdr = malloc(hlen ? hlen : 1);
  if (!hdr) {
    fail(err, errlen, name, "out of memory (expected to allocate %" PRIu32 " header bytes)", hlen);
    goto done;
  }
  got = fread(hdr, 1, hlen, f);
  if (ferror(f)) goto io_error;
  if (got < hlen) {
    header_truncated(name, hlen, got, pre, err, errlen);
    goto done;
  }
  if (parse_header(hdr, hlen, major, name, &in, err, errlen)) goto done;
  uint64_t off = pre + (uint64_t)hlen;
  if (sized && (fsize < off || fsize - off != in.bytes)) {
    size_mismatch(name, &in, fsize > off ? fsize - off : 0, err, errlen);
    goto done;
  }
  d = malloc(in.bytes ? (size_t)in.bytes : 1);
  if (!d) {
    fail(err, errlen, name, "out of memory (expected to allocate %" PRIu64 " bytes)", in.bytes);
    goto done;
  }
  got = in.bytes ? fread(d, 1, (size_t)in.bytes, f) : 0;
  if (ferror(f)) goto io_error;
  uint64_t have = got;
  if (got == in.bytes) { /* the file may have grown, or is a pipe: count what follows */
    uint8_t extra[4096];
    size_t k;
    while ((k = fread(extra, 1, sizeof extra, f)) > 0) have += k;
    if (ferror(f)) goto io_error;
  }
  if (have != in.bytes) {
    size_mismatch(name, &in, have, err, errlen);
    goto done;
  }
  to_host(&in, d);
  fill(out, &in, d);
  d = NULL;
  rc = 0;
  goto done;
io_error:
  fail(err, errlen, name, "read error: %s (expected a readable .npy file)", strerror(errno));
done:
  free(hdr);
  free(d);
  fclose(f);
  return rc;
}

/* ---- writing ------------------------------------------------------------------------------- */

int npy_write(const char *path, ls_dtype dtype, int rank, const uint64_t *dims, const void *data,
              char *err, size_t errlen) {
  const char *name = path ? path : "(null)";
  if (err && errlen) err[0] = '\0';
  if (!path) return fail(err, errlen, name, "no path (expected a file name to write)");
  if ((unsigned)dtype >= LS_DTYPE_COUNT)
    return fail(err, errlen, name, "invalid element type %d (expected an ls_dtype)", (int)dtype);
  if (dtype == LS_BF16)
    return fail(err, errlen, name,
                "bfloat16 has no NumPy dtype (expected f32, or the raw bits as u16: convert before saving)");
  if (rank < 0 || rank > LS_MAX_RANK)
    return fail(err, errlen, name, "rank %d out of range (expected 0..%d)", rank, LS_MAX_RANK);
  if (rank > 0 && !dims) return fail(err, errlen, name, "no dims (expected %d dimensions)", rank);
  uint64_t bytes;
  char shape[NPY_SHAPE_CHARS];
  fmt_shape(shape, sizeof shape, rank, dims);
  if (shape_bytes(rank, dims, ls_dtype_size(dtype), &bytes))
    return fail(err, errlen, name, "shape %s is too large: its byte count overflows (expected fewer than 2^63 bytes)",
                shape);
  if (bytes && !data) return fail(err, errlen, name, "no data (expected %" PRIu64 " bytes)", bytes);

  const char *kind;
  switch (dtype) {
  case LS_F32: kind = "f4"; break;
  case LS_F16: kind = "f2"; break;
  case LS_F64: kind = "f8"; break;
  case LS_I8: kind = "i1"; break;
  case LS_U8: kind = "u1"; break;
  case LS_I16: kind = "i2"; break;
  case LS_U16: kind = "u2"; break;
  case LS_I32: kind = "i4"; break;
  case LS_U32: kind = "u4"; break;
  case LS_I64: kind = "i8"; break;
  case LS_U64: kind = "u8"; break;
  case LS_BOOL: kind = "b1"; break;
  default: return fail(err, errlen, name, "invalid element type %d (expected an ls_dtype)", (int)dtype);
  }
  char order = ls_dtype_size(dtype) == 1 ? '|' : host_little() ? '<' : '>';

  /* NumPy's _write_array_header and _wrap_header for version 1.0. */
  char text[NPY_SHAPE_CHARS + 2 * NPY_ALIGN + 96];
  int n = snprintf(text, sizeof text, "{'descr': '%c%s', 'fortran_order': False, 'shape': %s, }", order,
                   kind, shape);
  size_t len = (size_t)n;
  if (rank > 0) {
    char first[24];
    int digits = snprintf(first, sizeof first, "%" PRIu64, dims[0]);
    for (int i = digits; i < NPY_GROWTH_DIGITS; i++) text[len++] = ' ';
  }
  size_t hlen = len + 1;
  size_t pad = NPY_ALIGN - (NPY_MAGIC_LEN + 2 + 2 + hlen) % NPY_ALIGN;
  memset(text + len, ' ', pad);
  len += pad;
  text[len++] = '\n';
  uint8_t pre[10];
  memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
  pre[6] = 1;
  pre[7] = 0;
  pre[8] = (uint8_t)(len & 0xff);
  pre[9] = (uint8_t)(len >> 8);

  FILE *f = fopen(path, "wb");
  if (!f) return fail(err, errlen, name, "cannot create: %s (expected a writable path)", strerror(errno));
  int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(text, 1, len, f) == len &&
           (!bytes || fwrite(data, 1, (size_t)bytes, f) == bytes) && fflush(f) == 0;
  int e = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (!ok) return fail(err, errlen, name, "write failed: %s (expected %zu bytes written)", strerror(e),
                       sizeof pre + len + (size_t)bytes);
  return 0;
}

void npy_free(npy_array *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}
