/* program.c - the binary program file: encode, decode (structure only), REPEAT expansion.
 *
 * Layout, all little-endian:
 *   header   magic "LSTP", u16 version, u16 header bytes (32), u64 file bytes,
 *            u32 crc32 of the file with this field zeroed, u32 flags, u64 reserved
 *   target   char name[16], u32 lanes, u32 slices[units], u32 streams, u64 sram,
 *            u32 clock MHz, u32 latency count, u32 lat[count]
 *   program  u64 mem bytes, u32 constants, u32 inputs+outputs, u32 queues
 *   consts   per constant: u64 addr, u64 size, size bytes
 *   io       per tensor: u8 name length, name, u8 is_output, u8 dtype, u8 rank,
 *            u64 dims[rank], u64 addr
 *   queues   per queue: u8 unit, u8 index, u16 0, u32 count, count x 48-byte instructions
 * The decoder trusts nothing: every count is checked against the bytes that remain before
 * anything is allocated, so a corrupt file cannot make it allocate or read out of bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa.h"

/* ---- crc32 (IEEE 802.3, reflected) ------------------------------------------------------ */
/* The table is built per call (2,048 steps): no shared state, so loads may run in parallel. */
static uint32_t crc_update(uint32_t c, const uint8_t *buf, size_t len) {
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t v = i;
    for (int k = 0; k < 8; k++) v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
    table[i] = v;
  }
  for (size_t i = 0; i < len; i++) c = table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
  return c;
}

uint32_t ls_crc32(const uint8_t *buf, size_t len) { return crc_update(0xffffffffu, buf, len) ^ 0xffffffffu; }

/* crc32 of a file image with its crc field (bytes 16..19) read as zero */
static uint32_t file_crc(const uint8_t *buf, size_t len) {
  static const uint8_t zero[4];
  uint32_t c = crc_update(0xffffffffu, buf, 16);
  c = crc_update(c, zero, 4);
  return crc_update(c, buf + 20, len - 20) ^ 0xffffffffu;
}

/* ---- writer ------------------------------------------------------------------------------ */
typedef struct {
  uint8_t *buf;
  size_t len, cap;
  int failed;
} writer;

static void w_bytes(writer *w, const void *p, size_t n) {
  if (w->failed) return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n) cap *= 2;
    uint8_t *nb = realloc(w->buf, cap);
    if (!nb) {
      w->failed = 1;
      return;
    }
    w->buf = nb;
    w->cap = cap;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}
static void w_u(writer *w, uint64_t v, int bytes) {
  uint8_t b[8];
  for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
  w_bytes(w, b, (size_t)bytes);
}
#define w_u8(w, v) w_u(w, (uint64_t)(v), 1)
#define w_u16(w, v) w_u(w, (uint64_t)(v), 2)
#define w_u32(w, v) w_u(w, (uint64_t)(v), 4)
#define w_u64(w, v) w_u(w, (uint64_t)(v), 8)

static void w_insn(writer *w, const ls_insn *in) {
  w_u64(w, in->cycle);
  w_u16(w, in->op);
  w_u8(w, in->t0);
  w_u8(w, in->t1);
  w_u8(w, in->dst);
  w_u8(w, in->a);
  w_u8(w, in->b);
  w_u8(w, in->c);
  w_u32(w, in->n);
  w_u32(w, in->aux);
  w_u64(w, (uint64_t)in->imm);
  w_u64(w, in->addr);
  w_u64(w, (uint64_t)in->stride);
}

int ls_prog_encode(const ls_prog *p, uint8_t **out, size_t *outlen) {
  writer w = {0};
  w_bytes(&w, LS_FILE_MAGIC, 4);
  w_u16(&w, LS_FILE_VERSION);
  w_u16(&w, 32);
  w_u64(&w, 0); /* file size, patched below */
  w_u32(&w, 0); /* crc, patched below */
  w_u32(&w, 0);
  w_u64(&w, 0);

  const ls_target *t = &p->target;
  char name[16] = {0};
  memcpy(name, t->name, strnlen(t->name, sizeof name));
  w_bytes(&w, name, 16);
  w_u32(&w, t->lanes);
  for (int u = 0; u < LS_UNIT_COUNT; u++) w_u32(&w, t->slices[u]);
  w_u32(&w, t->streams);
  w_u64(&w, t->sram_bytes);
  w_u32(&w, t->clock_mhz);
  w_u32(&w, LS_LAT_COUNT);
  for (int l = 0; l < LS_LAT_COUNT; l++) w_u32(&w, t->lat[l]);

  w_u64(&w, p->mem_bytes);
  w_u32(&w, p->n_consts);
  w_u32(&w, p->n_io);
  w_u32(&w, p->n_queues);
  for (uint32_t i = 0; i < p->n_consts; i++) {
    w_u64(&w, p->consts[i].addr);
    w_u64(&w, p->consts[i].size);
    w_bytes(&w, p->consts[i].data, p->consts[i].size);
  }
  for (uint32_t i = 0; i < p->n_io; i++) {
    const ls_io *io = &p->io[i];
    size_t nl = strnlen(io->name, LS_MAX_NAME - 1);
    w_u8(&w, nl);
    w_bytes(&w, io->name, nl);
    w_u8(&w, io->is_output);
    w_u8(&w, io->dtype);
    w_u8(&w, io->rank);
    for (unsigned d = 0; d < io->rank && d < LS_MAX_RANK; d++) w_u64(&w, io->dims[d]);
    w_u64(&w, io->addr);
  }
  for (uint32_t q = 0; q < p->n_queues; q++) {
    const ls_queue *qu = &p->queues[q];
    w_u8(&w, qu->unit);
    w_u8(&w, qu->index);
    w_u16(&w, 0);
    w_u32(&w, qu->count);
    for (uint32_t i = 0; i < qu->count; i++) w_insn(&w, &qu->insns[i]);
  }
  if (w.failed) {
    free(w.buf);
    return -1;
  }
  for (int i = 0; i < 8; i++) w.buf[8 + i] = (uint8_t)((uint64_t)w.len >> (8 * i));
  uint32_t crc = file_crc(w.buf, w.len);
  for (int i = 0; i < 4; i++) w.buf[16 + i] = (uint8_t)(crc >> (8 * i));
  *out = w.buf;
  *outlen = w.len;
  return 0;
}

/* ---- reader ------------------------------------------------------------------------------ */
typedef struct {
  const uint8_t *buf;
  size_t len, pos;
  char *err;
  size_t errlen;
  int failed;
} reader;

static int r_need(reader *r, size_t n, const char *what) {
  if (r->failed) return -1;
  if (r->len - r->pos < n) {
    snprintf(r->err, r->errlen, "truncated program: %s at byte %zu needs %zu bytes, %zu remain", what,
             r->pos, n, r->len - r->pos);
    r->failed = 1;
    return -1;
  }
  return 0;
}
static uint64_t r_u(reader *r, int bytes, const char *what) {
  if (r_need(r, (size_t)bytes, what)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)r->buf[r->pos + (size_t)i] << (8 * i);
  r->pos += (size_t)bytes;
  return v;
}

static void r_insn(reader *r, ls_insn *in) {
  in->cycle = r_u(r, 8, "instruction");
  in->op = (uint16_t)r_u(r, 2, "instruction");
  in->t0 = (uint8_t)r_u(r, 1, "instruction");
  in->t1 = (uint8_t)r_u(r, 1, "instruction");
  in->dst = (uint8_t)r_u(r, 1, "instruction");
  in->a = (uint8_t)r_u(r, 1, "instruction");
  in->b = (uint8_t)r_u(r, 1, "instruction");
  in->c = (uint8_t)r_u(r, 1, "instruction");
  in->n = (uint32_t)r_u(r, 4, "instruction");
  in->aux = (uint32_t)r_u(r, 4, "instruction");
  in->imm = (int64_t)r_u(r, 8, "instruction");
  in->addr = r_u(r, 8, "instruction");
  in->stride = (int64_t)r_u(r, 8, "instruction");
}

void ls_prog_free(ls_prog *p) {
  if (!p) return;
  for (uint32_t i = 0; p->consts && i < p->n_consts; i++) free(p->consts[i].data);
  free(p->consts);
  free(p->io);
  for (uint32_t q = 0; p->queues && q < p->n_queues; q++) free(p->queues[q].insns);
  free(p->queues);
  memset(p, 0, sizeof *p);
}

#define FAIL(...)                                  \
  do {                                             \
    if (!r.failed) snprintf(err, errlen, __VA_ARGS__); \
    goto fail;                                     \
  } while (0)

int ls_prog_decode(const uint8_t *buf, size_t len, ls_prog *p, char *err, size_t errlen) {
  reader r = {buf, len, 0, err, errlen, 0};
  memset(p, 0, sizeof *p);
  if (len < 32) FAIL("truncated program: %zu bytes is shorter than the 32-byte header", len);
  if (memcmp(buf, LS_FILE_MAGIC, 4) != 0) FAIL("not a Lockstep program: bad magic (expected \"LSTP\")");
  r.pos = 4;
  uint64_t version = r_u(&r, 2, "header");
  if (version != LS_FILE_VERSION)
    FAIL("program format version %llu is not supported (expected %d)", (unsigned long long)version,
         LS_FILE_VERSION);
  uint64_t hdr = r_u(&r, 2, "header");
  if (hdr != 32) FAIL("bad header size %llu (expected 32)", (unsigned long long)hdr);
  uint64_t fsize = r_u(&r, 8, "header");
  if (fsize > len)
    FAIL("truncated program: header says %llu bytes, file has %zu", (unsigned long long)fsize, len);
  if (fsize < len)
    FAIL("oversized program: header says %llu bytes, file has %zu (%zu trailing)", (unsigned long long)fsize,
         len, len - (size_t)fsize);
  uint32_t crc = (uint32_t)r_u(&r, 4, "header");
  uint32_t actual = file_crc(buf, len);
  if (actual != crc) FAIL("corrupt program: checksum %08x, expected %08x", actual, crc);
  r.pos = 32;

  ls_target *t = &p->target;
  if (r_need(&r, 16, "target")) goto fail;
  memcpy(t->name, buf + r.pos, 16);
  t->name[15] = '\0';
  r.pos += 16;
  t->lanes = (uint32_t)r_u(&r, 4, "target");
  for (int u = 0; u < LS_UNIT_COUNT; u++) t->slices[u] = (uint32_t)r_u(&r, 4, "target");
  t->streams = (uint32_t)r_u(&r, 4, "target");
  t->sram_bytes = r_u(&r, 8, "target");
  t->clock_mhz = (uint32_t)r_u(&r, 4, "target");
  uint64_t nlat = r_u(&r, 4, "target");
  if (r.failed) goto fail;
  if (nlat != LS_LAT_COUNT) FAIL("target has %llu latency classes, expected %d", (unsigned long long)nlat, LS_LAT_COUNT);
  for (int l = 0; l < LS_LAT_COUNT; l++) t->lat[l] = (uint32_t)r_u(&r, 4, "target");

  p->mem_bytes = r_u(&r, 8, "program header");
  uint64_t nc = r_u(&r, 4, "program header");
  uint64_t nio = r_u(&r, 4, "program header");
  uint64_t nq = r_u(&r, 4, "program header");
  if (r.failed) goto fail;
  size_t rest = len - r.pos;
  if (nc > rest / 16) FAIL("corrupt program: %llu constants cannot fit in %zu bytes", (unsigned long long)nc, rest);
  if (nio > rest / 12) FAIL("corrupt program: %llu tensors cannot fit in %zu bytes", (unsigned long long)nio, rest);
  if (nq > rest / 8) FAIL("corrupt program: %llu queues cannot fit in %zu bytes", (unsigned long long)nq, rest);
  p->consts = calloc(nc ? nc : 1, sizeof *p->consts);
  p->io = calloc(nio ? nio : 1, sizeof *p->io);
  p->queues = calloc(nq ? nq : 1, sizeof *p->queues);
  if (!p->consts || !p->io || !p->queues) FAIL("out of memory");

  for (uint64_t i = 0; i < nc; i++) {
    ls_const *c = &p->consts[i];
    c->addr = r_u(&r, 8, "constant");
    c->size = r_u(&r, 8, "constant");
    if (r.failed) goto fail;
    p->n_consts = (uint32_t)i + 1;
    if (c->size > len - r.pos)
      FAIL("truncated program: constant %llu says %llu bytes, %zu remain", (unsigned long long)i,
           (unsigned long long)c->size, len - r.pos);
    c->data = malloc(c->size ? c->size : 1);
    if (!c->data) FAIL("out of memory for constant %llu", (unsigned long long)i);
    memcpy(c->data, buf + r.pos, c->size);
    r.pos += c->size;
  }
  for (uint64_t i = 0; i < nio; i++) {
    ls_io *io = &p->io[i];
    uint64_t nl = r_u(&r, 1, "tensor name");
    if (r.failed) goto fail;
    if (nl == 0 || nl >= LS_MAX_NAME) FAIL("corrupt program: tensor %llu name length %llu", (unsigned long long)i, (unsigned long long)nl);
    if (r_need(&r, nl, "tensor name")) goto fail;
    memcpy(io->name, buf + r.pos, nl);
    io->name[nl] = '\0';
    if (strlen(io->name) != nl) FAIL("corrupt program: tensor %llu name contains a NUL byte", (unsigned long long)i);
    r.pos += nl;
    io->is_output = (uint8_t)r_u(&r, 1, "tensor");
    io->dtype = (uint8_t)r_u(&r, 1, "tensor");
    io->rank = (uint8_t)r_u(&r, 1, "tensor");
    if (r.failed) goto fail;
    if (io->rank > LS_MAX_RANK) FAIL("tensor '%s' has rank %u, at most %d supported", io->name, io->rank, LS_MAX_RANK);
    for (unsigned d = 0; d < io->rank; d++) io->dims[d] = r_u(&r, 8, "tensor dims");
    io->addr = r_u(&r, 8, "tensor");
    p->n_io = (uint32_t)i + 1;
  }
  for (uint64_t q = 0; q < nq; q++) {
    ls_queue *qu = &p->queues[q];
    qu->unit = (uint8_t)r_u(&r, 1, "queue");
    qu->index = (uint8_t)r_u(&r, 1, "queue");
    (void)r_u(&r, 2, "queue");
    uint64_t cnt = r_u(&r, 4, "queue");
    if (r.failed) goto fail;
    p->n_queues = (uint32_t)q + 1;
    if (cnt > (len - r.pos) / LS_INSN_BYTES)
      FAIL("truncated program: queue %llu says %llu instructions, room for %zu", (unsigned long long)q,
           (unsigned long long)cnt, (len - r.pos) / LS_INSN_BYTES);
    qu->insns = malloc((cnt ? cnt : 1) * sizeof *qu->insns);
    if (!qu->insns) FAIL("out of memory for queue %llu", (unsigned long long)q);
    qu->count = (uint32_t)cnt;
    for (uint64_t i = 0; i < cnt; i++) r_insn(&r, &qu->insns[i]);
  }
  if (r.failed) goto fail;
  if (r.pos != len) FAIL("oversized program: %zu bytes after the last queue", len - r.pos);
  return 0;
fail:
  ls_prog_free(p);
  return -1;
}

/* ---- REPEAT expansion and statistics ------------------------------------------------------ */

ls_insn ls_repeat_instance(const ls_insn *prev, uint32_t delay) {
  ls_insn x = *prev;
  x.cycle = prev->cycle + delay;
  if (x.op == LS_OP_READ || x.op == LS_OP_WRITE) x.addr = prev->addr + (uint64_t)prev->n * (uint64_t)prev->stride; /* wraps: no UB */
  return x;
}

uint64_t ls_queue_expanded_count(const ls_queue *q) {
  uint64_t n = 0;
  int have_prev = 0;
  for (uint32_t i = 0; i < q->count; i++) {
    const ls_insn *in = &q->insns[i];
    uint64_t add = 1;
    if (in->op == LS_OP_REPEAT) add = have_prev ? in->n : 0;
    else have_prev = 1;
    if (n > UINT64_MAX - add) return UINT64_MAX;
    n += add;
  }
  return n;
}

size_t ls_queue_expand(const ls_queue *q, ls_insn *out, size_t cap) {
  size_t k = 0;
  ls_insn prev;
  int have_prev = 0;
  for (uint32_t i = 0; i < q->count && k < cap; i++) {
    const ls_insn *in = &q->insns[i];
    if (in->op != LS_OP_REPEAT) {
      out[k++] = prev = *in;
      have_prev = 1;
      continue;
    }
    if (!have_prev) continue;
    for (uint32_t r = 0; r < in->n && k < cap; r++) out[k++] = prev = ls_repeat_instance(&prev, in->aux);
  }
  return k;
}

void ls_prog_stats_compute(const ls_prog *p, ls_prog_stats *s) {
  s->insns = 0;
  s->cycles = 0;
  for (uint32_t q = 0; q < p->n_queues; q++) {
    const ls_queue *qu = &p->queues[q];
    ls_insn prev;
    int have_prev = 0;
    for (uint32_t i = 0; i < qu->count; i++) {
      const ls_insn *in = &qu->insns[i];
      if (in->op != LS_OP_REPEAT) {
        prev = *in;
        have_prev = 1;
        s->insns++;
        uint64_t d = ls_insn_done(&p->target, in);
        if (d > s->cycles) s->cycles = d;
        continue;
      }
      if (!have_prev || in->n == 0) continue;
      /* repetitions differ only in cycle and address, so the last one finishes last */
      prev.cycle += (uint64_t)in->n * in->aux;
      if (prev.op == LS_OP_READ || prev.op == LS_OP_WRITE)
        prev.addr += (uint64_t)in->n * ((uint64_t)prev.n * (uint64_t)prev.stride);
      s->insns += in->n;
      uint64_t d = ls_insn_done(&p->target, &prev);
      if (d > s->cycles) s->cycles = d;
    }
  }
}
