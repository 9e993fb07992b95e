/* verify.c - check a decoded program against every rule of the machine, and plan its run.
 *
 * Takes: a structurally decoded ls_prog (isa/program.c checked sizes and checksum).
 * Gives: the instance list in execution order with each input linked to the instance that
 * produces it, output slots planned by liveness, and the exact arena layout; or an error
 * that names the queue, instruction, cycle and what was expected.
 * Invariant after success: running instances whole in list order computes exactly what
 * the cycle-level machine computes, and no kernel can touch memory outside the arena. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rt_errorf(ls_error *err, ls_status st, const char *fmt, ...) {
  if (!err) return;
  err->status = st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

static void queue_name(const ls_prog *g, uint32_t q, char *buf, size_t len) {
  const ls_queue *qu = &g->queues[q];
  snprintf(buf, len, "%s%u", qu->unit < LS_UNIT_COUNT ? ls_unit_names[qu->unit] : "?", qu->index);
}

void rt_describe(const ls_program *p, const rt_inst *x, char *buf, size_t len) {
  char qn[16];
  queue_name(&p->prog, x->queue, qn, sizeof qn);
  const ls_insn *in = &x->in;
  const char *mn = in->op < LS_OP_COUNT ? ls_ops[in->op].mnemonic : "?";
  int rep = p->prog.queues[x->queue].insns[x->qinsn].op == LS_OP_REPEAT;
  snprintf(buf, len, "%s insn %u (%s @%llu%s)", qn, x->qinsn, mn, (unsigned long long)in->cycle,
           rep ? ", a repetition" : "");
}

#define VFAIL(...)                                    \
  do {                                                \
    rt_errorf(err, LS_ERR_VERIFY, __VA_ARGS__);       \
    goto fail;                                        \
  } while (0)

/* ---- memory ranges ---------------------------------------------------------------------- */

/* Byte range [lo, hi) touched by n vectors of vb bytes at addr + i*stride; -1 if any byte
 * falls outside [0, mem). */
static int strided_range(uint64_t addr, uint32_t n, int64_t stride, uint64_t vb, uint64_t mem, uint64_t *lo,
                         uint64_t *hi) {
  if (n == 0 || vb > mem || addr > mem - vb) return -1;
  uint64_t span = n - 1, mag = stride < 0 ? (uint64_t)0 - (uint64_t)stride : (uint64_t)stride;
  if (mag && span > mem / mag) return -1;
  uint64_t reach = span * mag;
  if (stride >= 0) {
    if (reach > mem - vb - addr) return -1;
    *lo = addr, *hi = addr + reach + vb;
  } else {
    if (reach > addr) return -1;
    *lo = addr - reach, *hi = addr + vb;
  }
  return 0;
}

/* ---- instance checks --------------------------------------------------------------------- */

typedef struct access {
  uint64_t t0, t1, lo, hi; /* time window [t0, t1), bytes [lo, hi) */
  uint32_t inst;
  uint8_t write;
} access;

typedef struct accvec {
  access *v;
  size_t n, cap;
} accvec;

static int acc_push(accvec *a, access x) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    access *nv = realloc(a->v, cap * sizeof *nv);
    if (!nv) return -1;
    a->v = nv, a->cap = cap;
  }
  a->v[a->n++] = x;
  return 0;
}

/* Element type each input stream of x must carry; LS_DTYPE_COUNT: any. */
static ls_dtype input_dtype(const ls_insn *in, int k) {
  switch (in->op) {
  case LS_OP_SEL: return k == 0 ? LS_BOOL : (ls_dtype)in->t0;
  case LS_OP_GATHER: return LS_I32;
  case LS_OP_SCATTER: return k == 1 ? LS_I32 : (ls_dtype)in->t0;
  case LS_OP_SPLAT: return LS_DTYPE_COUNT;
  case LS_OP_MM: return LS_F32;
  default: return (ls_dtype)in->t0;
  }
}

static uint8_t input_stream(const ls_insn *in, int k) { return k == 0 ? in->a : k == 1 ? in->b : in->c; }

/* Checks one instance on its own: fields, types, operand ranges, memory bounds. */
static ls_status check_insn(ls_program *p, uint32_t xi, accvec *acc, ls_error *err) {
  const ls_prog *g = &p->prog;
  const ls_target *t = &g->target;
  rt_inst *x = &p->inst[xi];
  const ls_insn *in = &x->in;
  char who[96], msg[160];
  rt_describe(p, x, who, sizeof who);
  if (in->op >= LS_OP_COUNT) VFAIL("%s: unknown opcode %u (this build knows %d)", who, in->op, LS_OP_COUNT);
  const ls_opinfo *oi = &ls_ops[in->op];
  const ls_queue *qu = &g->queues[x->queue];
  if (oi->unit != LS_UNIT_ICU && oi->unit != qu->unit)
    VFAIL("%s: %s is a %s instruction, but this queue belongs to %s", who, oi->mnemonic, ls_unit_names[oi->unit],
          ls_unit_names[qu->unit]);
  if (ls_insn_check_fields(in, msg, sizeof msg)) VFAIL("%s: %s", who, msg);
  unsigned f = ls_format_fields((ls_op)in->op);
  if (oi->unit == LS_UNIT_ICU) {
    if (in->op == LS_OP_NOP && in->n == 0) VFAIL("%s: nop needs a count of at least 1", who);
    return LS_OK;
  }
  if (in->t0 >= LS_DTYPE_COUNT) VFAIL("%s: unknown element type %u", who, in->t0);
  if (!ls_op_accepts((ls_op)in->op, (ls_dtype)in->t0))
    VFAIL("%s: %s does not take %s (it takes %s types)", who, oi->mnemonic, ls_dtype_name((ls_dtype)in->t0), oi->types);
  if ((f & LS_F_T1) && in->t1 >= LS_DTYPE_COUNT) VFAIL("%s: unknown output element type %u", who, in->t1);
  if (in->n == 0) VFAIL("%s: n must be at least 1", who);
  const unsigned nstreams = 2 * t->streams;
  const uint8_t streams[4] = {in->dst, in->a, in->b, in->c};
  const unsigned masks[4] = {LS_F_DST, LS_F_A, LS_F_B, LS_F_C};
  for (int k = 0; k < 4; k++) {
    if (!(f & masks[k])) continue;
    if (streams[k] == LS_NO_STREAM && k == 2 && (f & LS_F_B_OPT)) continue;
    if (streams[k] >= nstreams)
      VFAIL("%s: stream %u does not exist (target has e0..e%u and w0..w%u)", who, streams[k], t->streams - 1,
            t->streams - 1);
  }
  const uint64_t mem = g->mem_bytes;
  const size_t sz = ls_dtype_size((ls_dtype)in->t0), vb = (size_t)t->lanes * sz;
  /* a masked read or write touches only its first `aux` lanes */
  const size_t vb_mem = (oi->format == LS_FMT_READ || oi->format == LS_FMT_WRITE) && in->aux ? (size_t)in->aux * sz : vb;
  const uint32_t lat = ls_insn_latency(t, in);
  uint64_t lo, hi;
  switch (oi->format) {
  case LS_FMT_READ:
  case LS_FMT_WRITE: {
    if (in->addr % sz || (uint64_t)(in->stride < 0 ? -in->stride : in->stride) % sz)
      VFAIL("%s: address %llu and stride %lld must be multiples of the %zu-byte element", who,
            (unsigned long long)in->addr, (long long)in->stride, sz);
    if (in->aux > t->lanes) VFAIL("%s: lanes=%u, but a vector has %u lanes", who, in->aux, t->lanes);
    if (strided_range(in->addr, in->n, in->stride, vb_mem, mem, &lo, &hi))
      VFAIL("%s: %u vectors of %zu bytes at address %llu, stride %lld, reach outside memory [0, %llu)", who, in->n,
            vb_mem, (unsigned long long)in->addr, (long long)in->stride, (unsigned long long)mem);
    int w = oi->format == LS_FMT_WRITE;
    access a = {w ? in->cycle : in->cycle, in->cycle + (w ? lat : 0) + in->n, lo, hi, xi, (uint8_t)w};
    if (acc_push(acc, a)) goto nomem;
    break;
  }
  case LS_FMT_GATHER:
  case LS_FMT_SCATTER: {
    if (in->aux == 0) VFAIL("%s: the table size (size=) must be at least 1 element", who);
    if (in->addr % sz) VFAIL("%s: address %llu must be a multiple of the %zu-byte element", who, (unsigned long long)in->addr, sz);
    if (strided_range(in->addr, 1, 0, (uint64_t)in->aux * sz, mem, &lo, &hi))
      VFAIL("%s: table of %u elements at address %llu reaches outside memory [0, %llu)", who, in->aux,
            (unsigned long long)in->addr, (unsigned long long)mem);
    int w = oi->format == LS_FMT_SCATTER;
    access a = {in->cycle, in->cycle + (w ? lat : 0) + in->n, lo, hi, xi, (uint8_t)w};
    if (acc_push(acc, a)) goto nomem;
    break;
  }
  case LS_FMT_PERM: {
    if (in->addr % 4) VFAIL("%s: permutation map address %llu must be a multiple of 4", who, (unsigned long long)in->addr);
    if (strided_range(in->addr, 1, 0, (uint64_t)t->lanes * 4, mem, &lo, &hi))
      VFAIL("%s: permutation map of %u u32 at address %llu reaches outside memory [0, %llu)", who, t->lanes,
            (unsigned long long)in->addr, (unsigned long long)mem);
    access a = {in->cycle, in->cycle + in->n, lo, hi, xi, 0};
    if (acc_push(acc, a)) goto nomem;
    break;
  }
  case LS_FMT_LANE:
    if (in->op == LS_OP_DIST && (in->imm < 0 || in->imm >= (int64_t)t->lanes))
      VFAIL("%s: dist lane %lld is outside 0..%u", who, (long long)in->imm, t->lanes - 1);
    break;
  case LS_FMT_UN:
    if (in->op == LS_OP_TRANSPOSE && in->n % t->lanes)
      VFAIL("%s: transpose streams whole %ux%u blocks; n=%u is not a multiple of %u", who, t->lanes, t->lanes, in->n,
            t->lanes);
    break;
  case LS_FMT_LW:
  case LS_FMT_MM:
    if (in->aux != qu->index) VFAIL("%s: names plane p%u, but queue mxm%u drives plane p%u", who, in->aux, qu->index, qu->index);
    if (oi->format == LS_FMT_LW && in->n > t->lanes)
      VFAIL("%s: a plane holds at most %u weight rows, lw streams %u", who, t->lanes, in->n);
    if (oi->format == LS_FMT_MM && (in->imm < 0 || in->imm > (int64_t)t->lanes))
      VFAIL("%s: cols=%lld is outside 0..%u", who, (long long)in->imm, t->lanes);
    break;
  default: break;
  }
  return LS_OK;
nomem:
  rt_errorf(err, LS_ERR_NOMEM, "out of memory verifying the program");
  return LS_ERR_NOMEM;
fail:
  return LS_ERR_VERIFY;
}

/* ---- streams ------------------------------------------------------------------------------ */

typedef struct window {
  uint64_t start, end, covered; /* cycles [start, end); producers: consumed up to covered */
  uint32_t inst;
  uint8_t stream, operand;
} window;

static int cmp_window(const void *pa, const void *pb) {
  const window *a = pa, *b = pb;
  if (a->stream != b->stream) return a->stream < b->stream ? -1 : 1;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  if (a->inst != b->inst) return a->inst < b->inst ? -1 : 1;
  return (a->operand > b->operand) - (a->operand < b->operand);
}

static ls_status check_streams(ls_program *p, ls_error *err) {
  const ls_target *t = &p->prog.target;
  size_t np = 0, nc = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) {
    const rt_inst *x = &p->inst[i];
    if (x->outs) np++;
    if (ls_ops[x->in.op].unit == LS_UNIT_ICU) continue;
    for (int k = 0; k < 3; k++)
      if (input_stream(&x->in, k) != LS_NO_STREAM) nc++;
  }
  window *prod = malloc((np ? np : 1) * sizeof *prod), *cons = malloc((nc ? nc : 1) * sizeof *cons);
  char who[96], other[96], sn[16];
  ls_status st = LS_ERR_VERIFY;
  if (!prod || !cons) {
    rt_errorf(err, LS_ERR_NOMEM, "out of memory verifying streams");
    st = LS_ERR_NOMEM;
    goto fail;
  }
  np = nc = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) {
    const rt_inst *x = &p->inst[i];
    if (x->outs) {
      uint64_t s = x->in.cycle + x->out_delay;
      prod[np++] = (window){s, s + x->outs, s, i, x->in.dst, 0};
    }
    if (ls_ops[x->in.op].unit == LS_UNIT_ICU) continue;
    for (int k = 0; k < 3; k++) {
      uint8_t s = input_stream(&x->in, k);
      if (s != LS_NO_STREAM) cons[nc++] = (window){x->in.cycle, x->in.cycle + x->in.n, 0, i, s, (uint8_t)k};
    }
  }
  qsort(prod, np, sizeof *prod, cmp_window);
  qsort(cons, nc, sizeof *cons, cmp_window);
  for (size_t i = 1; i < np; i++)
    if (prod[i].stream == prod[i - 1].stream && prod[i].start < prod[i - 1].end) {
      rt_describe(p, &p->inst[prod[i - 1].inst], who, sizeof who);
      rt_describe(p, &p->inst[prod[i].inst], other, sizeof other);
      ls_stream_name(t, prod[i].stream, sn, sizeof sn);
      VFAIL("stream %s at cycle %llu: %s puts a vector there while the one from %s is still unconsumed; it is "
            "overwritten before it is consumed",
            sn, (unsigned long long)prod[i].start, other, who);
    }
  size_t pi = 0;
  for (size_t ci = 0; ci < nc; ci++) {
    window *c = &cons[ci];
    rt_inst *x = &p->inst[c->inst];
    rt_describe(p, x, who, sizeof who);
    ls_stream_name(t, c->stream, sn, sizeof sn);
    while (pi < np && (prod[pi].stream < c->stream || (prod[pi].stream == c->stream && prod[pi].end <= c->start))) {
      if (prod[pi].covered < prod[pi].end) goto unconsumed;
      pi++;
    }
    if (pi == np || prod[pi].stream != c->stream || prod[pi].start > c->start)
      VFAIL("%s: reads stream %s at cycle %llu, but nothing arrives there then", who, sn, (unsigned long long)c->start);
    window *pr = &prod[pi];
    if (c->end > pr->end) {
      int two = pi + 1 < np && prod[pi + 1].stream == c->stream && prod[pi + 1].start == pr->end;
      VFAIL("%s: reads stream %s over cycles %llu..%llu, but %s", who, sn, (unsigned long long)c->start,
            (unsigned long long)(c->end - 1),
            two ? "those vectors come from two producers (a read must lie within one producer's output)"
                : "nothing arrives there after the producer's last vector");
    }
    if (c->start > pr->covered) goto unconsumed; /* vectors [covered, start) are skipped */
    if (c->end > pr->covered) pr->covered = c->end;
    const rt_inst *px = &p->inst[pr->inst];
    ls_dtype want = input_dtype(&x->in, c->operand), have = ls_insn_out_dtype(&px->in);
    if (want != LS_DTYPE_COUNT && want != have) {
      rt_describe(p, px, other, sizeof other);
      VFAIL("%s: expects %s on stream %s, but %s puts %s there", who, ls_dtype_name(want), sn, other, ls_dtype_name(have));
    }
    x->src[c->operand] = pr->inst;
    x->src_off[c->operand] = (uint32_t)(c->start - pr->start);
    if (p->inst[pr->inst].last_use == RT_NONE || p->inst[pr->inst].last_use < c->inst)
      p->inst[pr->inst].last_use = c->inst;
  }
  for (; pi < np; pi++)
    if (prod[pi].covered < prod[pi].end) goto unconsumed;
  free(prod);
  free(cons);
  return LS_OK;
unconsumed: {
  window *u = pi < np ? &prod[pi] : NULL;
  for (size_t i = 0; !u && i < np; i++) u = prod[i].covered < prod[i].end ? &prod[i] : NULL;
  if (u) {
    rt_describe(p, &p->inst[u->inst], who, sizeof who);
    ls_stream_name(t, u->stream, sn, sizeof sn);
    rt_errorf(err, LS_ERR_VERIFY, "%s: its vector %llu arrives on stream %s at cycle %llu and is never consumed", who,
              (unsigned long long)(u->covered - u->start), sn, (unsigned long long)u->covered);
  }
}
fail:
  free(prod);
  free(cons);
  return st;
}

/* ---- memory races ------------------------------------------------------------------------- */

static int cmp_access(const void *pa, const void *pb) {
  const access *a = pa, *b = pb;
  if (a->t0 != b->t0) return a->t0 < b->t0 ? -1 : 1;
  return (a->inst > b->inst) - (a->inst < b->inst);
}

static ls_status check_races(ls_program *p, accvec *acc, ls_error *err) {
  if (acc->n) qsort(acc->v, acc->n, sizeof *acc->v, cmp_access); /* no accesses: v may be NULL */
  size_t *active = malloc((acc->n ? acc->n : 1) * sizeof *active), na = 0;
  if (!active) {
    rt_errorf(err, LS_ERR_NOMEM, "out of memory checking memory races");
    return LS_ERR_NOMEM;
  }
  for (size_t i = 0; i < acc->n; i++) {
    const access *r = &acc->v[i];
    size_t keep = 0;
    for (size_t j = 0; j < na; j++)
      if (acc->v[active[j]].t1 > r->t0) active[keep++] = active[j];
    na = keep;
    for (size_t j = 0; j < na; j++) {
      const access *o = &acc->v[active[j]];
      if ((r->write || o->write) && r->lo < o->hi && o->lo < r->hi) {
        char a[96], b[96];
        rt_describe(p, &p->inst[o->inst], a, sizeof a);
        rt_describe(p, &p->inst[r->inst], b, sizeof b);
        rt_errorf(err, LS_ERR_VERIFY,
                  "memory race: %s (cycles %llu..%llu, bytes %llu..%llu) and %s (cycles %llu..%llu, bytes %llu..%llu) "
                  "touch the same bytes at the same time and one of them writes",
                  a, (unsigned long long)o->t0, (unsigned long long)(o->t1 - 1), (unsigned long long)o->lo,
                  (unsigned long long)(o->hi - 1), b, (unsigned long long)r->t0, (unsigned long long)(r->t1 - 1),
                  (unsigned long long)r->lo, (unsigned long long)(r->hi - 1));
        free(active);
        return LS_ERR_VERIFY;
      }
    }
    active[na++] = i;
  }
  free(active);
  return LS_OK;
}

/* ---- fast mode's plan ----------------------------------------------------------------------
 * Shortcuts the fast mode may take, each safe only under conditions checked here; checked
 * mode takes none of them, and the tests compare the two modes' bytes.
 *   alias      a READ is not run; its consumers read SRAM in place. Needs: nothing writes
 *              those bytes after it issues and before its last consumer (or, for an LW, the
 *              last MM using the plane) runs; a masked READ only if every consumer stays
 *              within the mask (MM x: K lanes; MM acc: cols lanes; LW: in place, cols lanes);
 *              an MM's x in place needs a row stride BLAS accepts (the GEMM path must not
 *              depend on the mode).
 *   plane_ptr  an LW fed in place records where its rows are instead of copying them.
 *   direct     a producer writes straight to the memory of the WRITE that is its only
 *              consumer (the WRITE is skipped): an MM with up to 4 immediate VXM ops after
 *              it (also skipped; the MM applies them), or an elementwise producer whose
 *              WRITE is unmasked and contiguous. Needs: nothing else touches those bytes
 *              between the producer and the WRITE, and the producer's own reads do not
 *              overlap them (except an elementwise op exactly in place). */

typedef struct fast_ctx {
  ls_program *p;
  uint32_t *alias, n_alias; /* the READs consumed in place, in order */
  uint32_t *first, *cons;   /* consumers of instance i: cons[first[i] .. first[i+1]) */
  access *by_inst; /* accesses sorted by instance */
  size_t n;
  uint64_t *lo, *hi; /* per instance: the bytes it touches, lo == hi if none */
} fast_ctx;

static int cmp_by_inst(const void *pa, const void *pb) {
  const access *a = pa, *b = pb;
  if (a->inst != b->inst) return (a->inst > b->inst) - (a->inst < b->inst);
  return (a->write > b->write) - (a->write < b->write); /* an instance reads before it writes */
}

/* the first of the accesses sorted by instance that belongs to an instance after `after` */
static size_t acc_from(const access *by, size_t n, uint32_t after) {
  size_t a = 0, b = n;
  while (a < b) {
    size_t m = (a + b) / 2;
    if (by[m].inst <= after) a = m + 1;
    else b = m;
  }
  return a;
}

/* does an instance at position in (after, upto] touch [lo, hi)? (writes_only: only writes) */
static int touched(const fast_ctx *f, uint32_t after, uint32_t upto, uint64_t lo, uint64_t hi, int writes_only) {
  for (size_t a = acc_from(f->by_inst, f->n, after); a < f->n && f->by_inst[a].inst <= upto; a++) {
    const access *w = &f->by_inst[a];
    if ((w->write || !writes_only) && lo < w->hi && w->lo < hi) return 1;
  }
  return 0;
}

static int overlaps(const fast_ctx *f, uint32_t a, uint32_t b) {
  return f->lo[a] < f->hi[a] && f->lo[b] < f->hi[b] && f->lo[a] < f->hi[b] && f->lo[b] < f->hi[a];
}

static uint32_t mm_cols(const ls_target *t, const ls_insn *in) { return in->imm ? (uint32_t)in->imm : t->lanes; }

/* May READ r be consumed in place? Sets the consumers' plane_ptr when it is for an LW. */
static int can_alias(const fast_ctx *f, uint32_t r) {
  ls_program *p = f->p;
  const ls_target *t = &p->prog.target;
  rt_inst *x = &p->inst[r];
  if (x->last_use == RT_NONE) return 0;
  const uint32_t mask = x->in.aux && x->in.aux != t->lanes ? x->in.aux : 0;
  uint32_t upto = x->last_use;
  for (uint32_t ci = f->first[r]; ci < f->first[r + 1]; ci++) {
    const rt_inst *y = &p->inst[f->cons[ci]];
    for (int k = 0; k < 3; k++) {
      if (y->src[k] != r) continue;
      if (y->in.op == LS_OP_MM && k == 0) { /* x: BLAS reads K lanes of each row, lda = stride */
        const uint32_t K = p->inst[y->plane_lw].in.n;
        if (x->in.stride <= 0 || x->in.stride % 4 || (uint64_t)(x->in.stride / 4) < K) return 0;
        if (mask && mask < K) return 0;
      } else if (y->in.op == LS_OP_MM && k == 1) { /* acc: cols lanes copied */
        if (mask && mask < mm_cols(t, &y->in)) return 0;
      } else if (y->in.op == LS_OP_LW) { /* in place: rows stay where they are */
        if (x->in.stride <= 0 || x->in.stride % 4 || (uint64_t)(x->in.stride / 4) < y->plane_cols) return 0;
        if (mask && mask < y->plane_cols) return 0;
        if (y->plane_end > upto) upto = y->plane_end;
      } else if (mask) {
        return 0;
      }
    }
  }
  if (touched(f, r, upto, f->lo[r], f->hi[r], 1)) return 0;
  x->alias_end = upto;
  return 1;
}

/* live: the aliased READs whose in-place use spans instance i (a <= i <= alias_end) */
static void plan_direct(const fast_ctx *f, uint32_t i, const uint32_t *live, size_t nlive) {
  ls_program *p = f->p;
  const ls_target *t = &p->prog.target;
  rt_inst *x = &p->inst[i];
  const ls_opinfo *oi = &ls_ops[x->in.op];
  if (!x->outs || x->n_cons != 1 || (oi->unit == LS_UNIT_MEM && x->in.op != LS_OP_GATHER)) return;
  /* follow an MM through up to four immediate ops to its WRITE */
  uint32_t chain[4], nch = 0, w = x->cons0;
  if (x->in.op == LS_OP_MM) {
    while (nch < 4 && w != RT_NONE) {
      const rt_inst *y = &p->inst[w];
      int imm_op = y->in.op == LS_OP_ADDS || y->in.op == LS_OP_MULS || y->in.op == LS_OP_MINS || y->in.op == LS_OP_MAXS;
      if (!imm_op || y->in.t0 != LS_F32 || y->n_cons != 1 || y->src_off[0] != 0 || y->in.n != y->outs) break;
      chain[nch++] = w;
      w = y->cons0;
    }
  } else if (oi->out != LS_OUT_N || x->in.op == LS_OP_TRANSPOSE || !k_splittable((ls_op)x->in.op)) {
    return;
  }
  const rt_inst *W = &p->inst[w];
  const uint32_t last = nch ? chain[nch - 1] : i;
  if (W->in.op != LS_OP_WRITE || W->src_off[0] != 0 || W->in.n != p->inst[last].outs) return;
  if (W->in.t0 != ls_insn_out_dtype(&x->in)) return;
  const size_t vb = ls_vector_bytes(t, (ls_dtype)W->in.t0);
  if (x->in.op == LS_OP_MM) {
    const uint32_t lanes = W->in.aux ? W->in.aux : t->lanes;
    if (W->in.stride <= 0 || W->in.stride % 4 || (uint64_t)W->in.stride < (uint64_t)lanes * 4) return;
    if (mm_cols(t, &x->in) > lanes) return; /* the GEMM keeps its width: it may not write past the mask */
    for (int k = 0; k < 2; k++) /* its inputs, read in place, must not overlap where it writes */
      if (x->src[k] != RT_NONE && p->inst[x->src[k]].alias && overlaps(f, x->src[k], w)) return;
  } else {
    if ((W->in.aux && W->in.aux != t->lanes) || W->in.stride != (int64_t)vb) return;
    if (overlaps(f, i, w)) return; /* a gather or permute reading where it would write */
    for (int k = 0; k < 3; k++) {
      if (x->src[k] == RT_NONE || !p->inst[x->src[k]].alias || !overlaps(f, x->src[k], w)) continue;
      const rt_inst *r = &p->inst[x->src[k]];
      int same = r->in.addr + (uint64_t)x->src_off[k] * (uint64_t)r->in.stride == W->in.addr && r->in.stride == W->in.stride &&
                 ls_dtype_size((ls_dtype)r->in.t0) == ls_dtype_size((ls_dtype)W->in.t0);
      if (!same) return; /* only exactly in place */
    }
  }
  if (touched(f, i, w - 1, f->lo[w], f->hi[w], 0)) return;
  /* the store moves from the WRITE's turn to ours: no in-place reader of those bytes (an
   * aliased READ's consumers, a plane's MMs) may be live in between */
  size_t lo = 0, hi = f->n_alias; /* and those that begin between us and the WRITE */
  while (lo < hi) {
    size_t m = (lo + hi) / 2;
    if (f->alias[m] <= i) lo = m + 1;
    else hi = m;
  }
  for (size_t k = 0; k < nlive + (f->n_alias - lo); k++) {
    const uint32_t a = k < nlive ? live[k] : f->alias[lo + (k - nlive)];
    if (a >= w) break;
    int own = x->in.op != LS_OP_MM && (x->src[0] == a || x->src[1] == a || x->src[2] == a); /* vetted above */
    if (!own && overlaps(f, a, w)) return;
  }
  x->direct = w;
  x->n_epi = (uint8_t)nch;
  for (uint32_t k = 0; k < nch; k++) x->epi[k] = chain[k], p->inst[chain[k]].skip = 1;
  p->inst[w].skip = 1;
}

/* ---- chains of elementwise instances ----------------------------------------------------- */

static int chainable(const rt_inst *x, uint32_t n) {
  const ls_op op = (ls_op)x->in.op;
  const ls_format fm = ls_ops[op].format;
  if (ls_ops[op].unit != LS_UNIT_VXM || ls_ops[op].out != LS_OUT_N || x->skip || x->in.n != n || x->outs != n) return 0;
  if (fm != LS_FMT_UN && fm != LS_FMT_BIN && fm != LS_FMT_TER && fm != LS_FMT_IMM) return 0;
  return op != LS_OP_VSUM && op != LS_OP_VMAX && op != LS_OP_LSUM && op != LS_OP_LMAX && op != LS_OP_TRANSPOSE;
}

/* An aliased READ r that a chain ending at WRITE w reads at w's turn: nothing may write its
 * bytes before then, and w may write them only exactly in place. */
static int chain_input_ok(const fast_ctx *f, uint32_t r, uint32_t w) {
  const ls_program *p = f->p;
  const rt_inst *R = &p->inst[r], *W = &p->inst[w];
  if (R->in.op != LS_OP_READ || !R->alias || R->in.aux) return 0;
  if (touched(f, r, w - 1, f->lo[r], f->hi[r], 1)) return 0;
  if (overlaps(f, r, w) && !(R->in.addr == W->in.addr && R->in.stride == W->in.stride && !W->in.aux &&
                              ls_dtype_size((ls_dtype)R->in.t0) == ls_dtype_size((ls_dtype)W->in.t0)))
    return 0;
  return 1;
}

static void plan_chains(fast_ctx *f) {
  ls_program *p = f->p;
  const ls_target *t = &p->prog.target;
  size_t cap = 0;
  uint32_t nodes[64];
  for (uint32_t w = 0; w < p->n_inst; w++) {
    rt_inst *W = &p->inst[w];
    W->nchain = 0;
    if (W->in.op != LS_OP_WRITE || W->skip || W->src[0] == RT_NONE || W->src_off[0] != 0) continue;
    const uint32_t n = W->in.n;
    uint32_t nn = 0, cur = W->src[0];
    while (nn < 64 && chainable(&p->inst[cur], n) && p->inst[cur].n_cons == 1) {
      /* its inputs: at most one chainable producer (the one before), the rest read in place */
      const rt_inst *x = &p->inst[cur];
      uint32_t before = RT_NONE;
      int ok = 1;
      for (int k = 0; k < 3 && ok; k++) {
        const uint32_t s = x->src[k];
        if (s == RT_NONE) continue;
        if (x->src_off[k] == 0 && before == RT_NONE && chainable(&p->inst[s], n) && p->inst[s].n_cons == 1)
          before = s;
        else if (!chain_input_ok(f, s, w))
          ok = 0;
      }
      if (!ok) break;
      nodes[nn++] = cur;
      if (before == RT_NONE) { /* the chain begins here */
        cur = RT_NONE;
        break;
      }
      cur = before;
    }
    if (cur != RT_NONE || nn < 2) continue; /* a chain must begin at inputs read in place */
    if (p->n_chain + nn > cap) {
      size_t nc = cap ? cap * 2 : 1024;
      while (nc < p->n_chain + nn) nc *= 2;
      uint32_t *c2 = realloc(p->chain, nc * sizeof *c2);
      if (!c2) return;
      p->chain = c2, cap = nc;
    }
    W->chain0 = (uint32_t)p->n_chain, W->nchain = nn, W->chain_mac = 0;
    { /* a run of f32 products, each adding to the one before (a depthwise convolution's taps) */
      uint32_t m = 0;
      for (; m < nn && m < RT_CHAIN_MACS; m++) {
        const rt_inst *x = &p->inst[nodes[nn - 1 - m]];
        const int first = m == 0;
        if (x->in.t0 != LS_F32) break;
        if (x->in.op == LS_OP_MUL && first) continue;
        if (x->in.op != LS_OP_MAC) break;
        if (!first && x->src[2] != nodes[nn - m]) break;
        if (x->src[0] == (first ? RT_NONE : nodes[nn - m]) || x->src[1] == (first ? RT_NONE : nodes[nn - m])) break;
      }
      if (m >= 2) W->chain_mac = m;
    }
    for (uint32_t k = 0; k < nn; k++) { /* in execution order */
      const uint32_t x = nodes[nn - 1 - k];
      p->chain[p->n_chain++] = x;
      p->inst[x].skip = 1;
      const size_t vb = ls_vector_bytes(t, ls_insn_out_dtype(&p->inst[x].in));
      if (vb > p->chain_vb) p->chain_vb = vb;
      for (int j = 0; j < 3; j++) { /* inputs read in place stay unwritten until the WRITE */
        const uint32_t s = p->inst[x].src[j];
        if (s != RT_NONE && p->inst[s].in.op == LS_OP_READ && p->inst[s].alias_end < w) p->inst[s].alias_end = w;
      }
    }
  }
}

static ls_status plan_fast(ls_program *p, const accvec *acc, ls_error *err) {
  fast_ctx f = {.p = p,
                .alias = malloc(sizeof(uint32_t) * (p->n_inst ? p->n_inst : 1)),
                .by_inst = malloc(sizeof(access) * (acc->n ? acc->n : 1)),
                .n = acc->n,
                .lo = calloc(p->n_inst ? p->n_inst : 1, sizeof(uint64_t)),
                .hi = calloc(p->n_inst ? p->n_inst : 1, sizeof(uint64_t))};
  uint32_t *plane = malloc(sizeof *plane * 256);
  if (!f.alias || !f.by_inst || !f.lo || !f.hi || !plane) {
    free(f.alias), free(f.by_inst), free(f.lo), free(f.hi), free(plane);
    rt_errorf(err, LS_ERR_NOMEM, "out of memory planning the fast mode");
    return LS_ERR_NOMEM;
  }
  if (acc->n) { /* a program may touch no memory at all; memcpy and qsort want real pointers */
    memcpy(f.by_inst, acc->v, sizeof(access) * acc->n);
    qsort(f.by_inst, f.n, sizeof *f.by_inst, cmp_by_inst);
  }
  for (size_t k = 0; k < acc->n; k++) f.lo[acc->v[k].inst] = acc->v[k].lo, f.hi[acc->v[k].inst] = acc->v[k].hi;
  const ls_target *t = &p->prog.target;
  for (uint32_t i = 0; i < p->n_inst; i++) {
    rt_inst *x = &p->inst[i];
    x->direct = x->cons0 = x->plane_lw = x->plane_end = RT_NONE;
    x->n_cons = x->plane_cols = 0;
  }
  for (int q = 0; q < 256; q++) plane[q] = RT_NONE;
  for (uint32_t i = 0; i < p->n_inst; i++) {
    rt_inst *x = &p->inst[i];
    for (int k = 0; k < 3; k++)
      if (x->src[k] != RT_NONE) {
        rt_inst *pr = &p->inst[x->src[k]];
        if (pr->n_cons++ == 0) pr->cons0 = i;
      }
    if (x->in.op == LS_OP_LW) plane[x->in.aux & 255] = i, x->plane_end = i;
    if (x->in.op == LS_OP_MM) {
      rt_inst *lw = &p->inst[plane[x->in.aux & 255]];
      x->plane_lw = plane[x->in.aux & 255];
      lw->plane_end = i;
      if (mm_cols(t, &x->in) > lw->plane_cols) lw->plane_cols = mm_cols(t, &x->in);
    }
  }
  /* consumer lists (an instance reading a stream twice is listed twice: harmless) */
  f.first = calloc((size_t)p->n_inst + 1, sizeof *f.first);
  f.cons = malloc(sizeof *f.cons * ((size_t)p->n_inst * 3 + 1));
  if (!f.first || !f.cons) {
    free(f.first), free(f.cons), free(f.alias), free(f.by_inst), free(f.lo), free(f.hi), free(plane);
    rt_errorf(err, LS_ERR_NOMEM, "out of memory planning the fast mode");
    return LS_ERR_NOMEM;
  }
  for (uint32_t i = 0; i < p->n_inst; i++) f.first[i + 1] = f.first[i] + p->inst[i].n_cons;
  {
    uint32_t *fill = calloc((size_t)p->n_inst + 1, sizeof *fill);
    if (!fill) {
      free(f.first), free(f.cons), free(f.alias), free(f.by_inst), free(f.lo), free(f.hi), free(plane);
      rt_errorf(err, LS_ERR_NOMEM, "out of memory planning the fast mode");
      return LS_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < p->n_inst; i++)
      for (int k = 0; k < 3; k++) {
        uint32_t pr = p->inst[i].src[k];
        if (pr != RT_NONE) f.cons[f.first[pr] + fill[pr]++] = i;
      }
    free(fill);
  }
  for (uint32_t i = 0; i < p->n_inst; i++) {
    rt_inst *x = &p->inst[i];
    if (x->in.op != LS_OP_READ || !can_alias(&f, i)) continue;
    x->alias = 1;
    f.alias[f.n_alias++] = i;
    for (uint32_t ci = f.first[i]; ci < f.first[i + 1]; ci++)
      if (p->inst[f.cons[ci]].in.op == LS_OP_LW) p->inst[f.cons[ci]].plane_ptr = 1;
  }
  plan_chains(&f); /* out of memory: no chains, which is only slower */
  uint32_t *live = malloc(sizeof *live * (f.n_alias ? f.n_alias : 1));
  size_t nlive = 0, next = 0;
  for (uint32_t i = 0; live && i < p->n_inst; i++) { /* sweep: the in-place reads live at i */
    while (next < f.n_alias && f.alias[next] <= i) live[nlive++] = f.alias[next++];
    size_t keep = 0;
    for (size_t k = 0; k < nlive; k++)
      if (p->inst[live[k]].alias_end >= i) live[keep++] = live[k];
    nlive = keep;
    if (!p->inst[i].skip) plan_direct(&f, i, live, nlive);
  }
  free(live); /* out of memory: no direct writes, which is only slower */
  free(f.first), free(f.cons), free(f.alias), free(f.by_inst), free(f.lo), free(f.hi), free(plane);
  return LS_OK;
}

/* ---- gathers through constant index tables ------------------------------------------------
 * Most gathers a compiler emits (im2col, slices, padding, transposes) read their indices
 * from constants. Their indices are known at load time, so fast mode copies runs of
 * consecutive table elements instead of looking up every element. Used when the runs
 * average at least 4 elements. Same bytes as the element-by-element kernel: a copy. */

static const uint8_t *const_bytes(const ls_prog *g, uint64_t addr, uint64_t len) {
  for (uint32_t c = 0; c < g->n_consts; c++) {
    const ls_const *k = &g->consts[c];
    if (addr >= k->addr && addr + len <= k->addr + k->size) return k->data + (addr - k->addr);
  }
  return NULL;
}

static int push_run(ls_program *p, size_t *cap, rt_run r) {
  if (p->n_gruns == *cap) {
    size_t nc = *cap ? *cap * 2 : 4096;
    rt_run *nr = realloc(p->gruns, nc * sizeof *nr);
    if (!nr) return -1;
    p->gruns = nr, *cap = nc;
  }
  p->gruns[p->n_gruns++] = r;
  return 0;
}

/* Runs that repeat at an even distance in the table, one after another in the output,
 * become one repeated run of n1 rows, then n2 blocks of those (see rt_rep). */
static int same_shape(const rt_rep *a, const rt_rep *b) {
  return a->src != RT_NONE && b->src != RT_NONE && a->len == b->len && a->step == b->step && a->n1 == b->n1 &&
         a->s1 == b->s1 && (uint64_t)b->dst == (uint64_t)a->dst + (uint64_t)a->len * a->n1;
}

static size_t compress_level(rt_rep *r, size_t n, int level) {
  size_t out = 0;
  for (size_t i = 0; i < n;) {
    rt_rep cur = r[i];
    size_t j = i + 1;
    if (j < n && same_shape(&r[j - 1], &r[j]) && (level == 1 || r[i].n1 > 1)) {
      const int64_t d = (int64_t)r[j].src - (int64_t)r[i].src;
      if (d >= INT32_MIN && d <= INT32_MAX) {
        while (j < n && same_shape(&r[j - 1], &r[j]) && (int64_t)r[j].src - (int64_t)r[j - 1].src == d) j++;
        if (level == 1) cur.n1 = (uint32_t)(j - i), cur.s1 = (int32_t)d;
        else cur.n2 = (uint32_t)(j - i), cur.s2 = (int32_t)d;
      } else {
        j = i + 1;
      }
    }
    r[out++] = cur;
    i = j;
  }
  return out;
}

/* Only transposes gain (strided runs whose neighbouring rows, or blocks, sit one or two
 * elements apart in the table, at least 8 of them: the kernel's 8 x 8 tiles; or three rows
 * interleaved, 16 elements of each at a time); other repeats
 * (im2col rows, contiguous runs, a 2 x 2 pooling window) copy faster one run at a time. */
static int tileable(const rt_rep *r) {
  if (r->step != 1 && r->len == 3 && r->n1 >= 16 && r->s1 == 1) return 1; /* an RGB image to channels-last */
  return r->step != 1 && r->len >= 4 && ((r->n1 >= 8 && r->s1 >= -2 && r->s1 <= 2) || (r->n2 >= 8 && r->s2 >= -2 && r->s2 <= 2));
}

/* a repeated run back as its plain runs, written at out; returns how many */
static size_t expand_rep(const rt_rep *c, rt_run *out) {
  size_t k = 0;
  for (uint32_t b = 0; b < c->n2; b++)
    for (uint32_t i = 0; i < c->n1; i++)
      out[k++] = (rt_run){c->dst + (b * c->n1 + i) * c->len,
                          (uint32_t)((int64_t)c->src + (int64_t)b * c->s2 + (int64_t)i * c->s1), c->len, c->step};
  return k;
}

/* The n runs at gruns[first..] into runs (in place, fewer or as many) and repeated runs
 * (pushed to greps). Returns the number of runs left, or n (unchanged) out of memory. */
static size_t split_repeats(ls_program *p, size_t first, size_t n, size_t *cap, uint32_t *nreps) {
  rt_run *r = p->gruns + first;
  rt_rep *c = malloc(sizeof *c * n);
  *nreps = 0;
  if (!c) return n; /* only slower */
  for (size_t i = 0; i < n; i++) c[i] = (rt_rep){r[i].dst, r[i].src, r[i].len, r[i].step, 1, 1, 0, 0};
  const size_t nc = compress_level(c, compress_level(c, n, 1), 2);
  size_t out = 0;
  for (size_t i = 0; i < nc; i++) {
    if (c[i].n1 > 1 && tileable(&c[i]) && p->n_greps == *cap) {
      size_t ncap = *cap ? *cap * 2 : 256;
      rt_rep *g = realloc(p->greps, ncap * sizeof *g);
      if (g) p->greps = g, *cap = ncap;
    }
    if (c[i].n1 > 1 && tileable(&c[i]) && p->n_greps < *cap) {
      p->greps[p->n_greps++] = c[i];
      ++*nreps;
    } else { /* (out of memory too: kept as runs) */
      out += expand_rep(&c[i], r + out);
    }
  }
  free(c);
  return out;
}

static void plan_gathers(ls_program *p) {
  const uint32_t L = p->prog.target.lanes;
  size_t cap = 0, rcap = 0;
  uint32_t *by_runs = calloc((size_t)p->n_inst + 1, sizeof *by_runs); /* per READ: gathers by runs fed */
  for (uint32_t i = 0; i < p->n_inst; i++) {
    rt_inst *x = &p->inst[i];
    x->nruns = x->nreps = 0;
    if (x->in.op != LS_OP_GATHER || x->src[0] == RT_NONE || (uint64_t)x->in.n * L > UINT32_MAX) continue;
    const rt_inst *r = &p->inst[x->src[0]];
    if (r->in.op != LS_OP_READ || r->in.t0 != LS_I32) continue;
    const uint32_t k = r->in.aux ? r->in.aux : L; /* lanes read; the rest hold imm */
    const size_t first = p->n_gruns;
    rt_run cur = {0, 0, 0, 1};
    int ok = 1;
    for (uint32_t v = 0; ok && v < x->in.n; v++) {
      const uint8_t *ix = const_bytes(&p->prog, r->in.addr + (int64_t)(x->src_off[0] + v) * r->in.stride, (uint64_t)k * 4);
      if (!ix) ok = 0;
      for (uint32_t l = 0; ok && l < L; l++) {
        int32_t id = (int32_t)r->in.imm;
        if (l < k) memcpy(&id, ix + 4 * (size_t)l, 4);
        const uint32_t src = id >= 0 && (uint32_t)id < x->in.aux ? (uint32_t)id : RT_NONE;
        const uint32_t dst = v * L + l;
        if (cur.len && cur.dst + cur.len == dst) {
          if (src == RT_NONE && cur.src == RT_NONE) {
            cur.len++;
            continue;
          }
          if (src != RT_NONE && cur.src != RT_NONE) {
            const int64_t want = (int64_t)cur.src + (int64_t)cur.len * cur.step, diff = (int64_t)src - cur.src;
            if (cur.len == 1 && diff >= INT32_MIN && diff <= INT32_MAX) {
              cur.step = (int32_t)diff, cur.len++;
              continue;
            }
            if (cur.len > 1 && want == (int64_t)src) {
              cur.len++;
              continue;
            }
          }
        }
        if (cur.len && push_run(p, &cap, cur)) ok = 0;
        cur = (rt_run){dst, src, 1, 1};
      }
    }
    if (ok && cur.len && push_run(p, &cap, cur)) ok = 0;
    size_t n = p->n_gruns - first;
    const size_t reps0 = p->n_greps;
    if (ok && n) {
      n = split_repeats(p, first, n, &rcap, &x->nreps);
      /* by runs where they are at most a quarter of the elements, once repeats are counted
       * as one (a 3-row transpose: runs of 3) */
      ok = n * 4 <= (size_t)x->in.n * L;
    }
    if (ok && n + x->nreps) {
      p->n_gruns = first + n;
      x->runs0 = (uint32_t)first, x->nruns = (uint32_t)n, x->reps0 = (uint32_t)reps0;
      if (by_runs) by_runs[x->src[0]]++;
    } else { /* element by element */
      p->n_gruns = first, p->n_greps = reps0;
      x->nreps = 0;
    }
  }
  /* a READ of indices that only gathers by runs consume is not run at all */
  for (uint32_t i = 0; by_runs && i < p->n_inst; i++)
    if (by_runs[i] && by_runs[i] == p->inst[i].n_cons && !p->inst[i].alias) p->inst[i].skip = 1;
  free(by_runs);
}

/* ---- gathers run by the MM they feed -------------------------------------------------------
 * A convolution is a gather (im2col) into memory, then an MM reading those rows in place.
 * Run as two instances, the gather's bytes are written by one thread and read by another
 * (the MM's rows are split across threads; the gather's vectors, if at all, differently), and
 * on a machine whose cores do not share a cache that traffic costs more than the copy: a
 * ResNet-18 gather at 2 threads took 5 to 7 times as long as at 1. So fast mode runs such a
 * gather inside the MM: the thread computing rows [v0, v1) first gathers the bytes those
 * rows read, then computes them. Nothing changes but who copies which bytes, and when:
 *
 *   feed   gather y (by runs, written straight to memory: direct) moves to MM x's turn
 *          when its bytes lie within x's rows, x reads them in place, y's table and bytes
 *          are 4-byte aligned, and between y and x nothing else (bar the other gathers
 *          moved, their WRITEs and x's own in-place READ) touches y's bytes or writes its
 *          table; x's output does not overlap any of them, nor does a moved gather read
 *          another's bytes. */

/* does an instance in (after, before), other than those in except, touch [lo, hi)? */
static int acc_hits(const access *by, size_t n, uint32_t after, uint32_t before, const uint32_t *except, int nexcept,
                    uint64_t lo, uint64_t hi, int writes_only) {
  for (size_t k = acc_from(by, n, after); k < n && by[k].inst < before; k++) {
    const access *a = &by[k];
    if ((writes_only && !a->write) || !(lo < a->hi && a->lo < hi)) continue;
    int ok = 0;
    for (int e = 0; e < nexcept; e++) ok |= a->inst == except[e];
    if (!ok) return 1;
  }
  return 0;
}

/* does instance i touch [lo, hi)? */
static int inst_touches(const access *by, size_t n, uint32_t i, uint64_t lo, uint64_t hi) {
  for (size_t k = i ? acc_from(by, n, i - 1) : 0; k < n && by[k].inst == i; k++)
    if (lo < by[k].hi && by[k].lo < hi) return 1;
  return 0;
}

/* the bytes instance i reads (a gather reads only its table); 0 if none */
static int read_range(const access *by, size_t n, uint32_t i, uint64_t *lo, uint64_t *hi) {
  int found = 0;
  for (size_t k = i ? acc_from(by, n, i - 1) : 0; k < n && by[k].inst == i; k++)
    if (!by[k].write) {
      if (!found || by[k].lo < *lo) *lo = by[k].lo;
      if (!found || by[k].hi > *hi) *hi = by[k].hi;
      found = 1;
    }
  return found;
}

static void plan_feeds(ls_program *p, const accvec *acc) {
  const ls_target *t = &p->prog.target;
  const uint64_t vb = (uint64_t)t->lanes * 4;
  for (uint32_t xi = 0; xi < p->n_inst; xi++) p->inst[xi].n_feed = 0;
  access *by = malloc(sizeof(access) * (acc->n ? acc->n : 1));
  if (!by) return; /* out of memory: no feeds, which is only slower */
  if (acc->n) memcpy(by, acc->v, sizeof(access) * acc->n);
  const size_t n = acc->n;
  qsort(by, n, sizeof *by, cmp_by_inst);
  for (uint32_t xi = 0; xi < p->n_inst; xi++) {
    rt_inst *x = &p->inst[xi];
    if (x->in.op != LS_OP_MM || x->src[0] == RT_NONE || x->skip) continue;
    const rt_inst *r = &p->inst[x->src[0]];
    if (!r->alias || r->in.stride <= 0 || r->in.t0 != LS_F32) continue;
    const uint64_t a_lo = r->in.addr + (uint64_t)x->src_off[0] * (uint64_t)r->in.stride,
                   a_hi = a_lo + (uint64_t)x->in.n * (uint64_t)r->in.stride;
    uint64_t o_lo = 0, o_hi = 0; /* the MM's own output bytes, if it writes to memory */
    if (x->direct != RT_NONE) {
      const ls_insn *w = &p->inst[x->direct].in;
      o_lo = w->addr, o_hi = w->addr + (uint64_t)(w->n - 1) * (uint64_t)w->stride + vb;
    }
    /* the gathers writing within its rows, newest first, back to the first other instance
     * that touches them */
    uint32_t cand[RT_FEEDS];
    uint64_t dlo[RT_FEEDS], dhi[RT_FEEDS], tlo[RT_FEEDS], thi[RT_FEEDS];
    int nc = 0;
    for (uint32_t j = xi; j-- > 0 && xi - j <= 4096;) {
      const rt_inst *y = &p->inst[j];
      if (j == x->src[0] || (y->in.op == LS_OP_WRITE && y->skip)) continue; /* (a WRITE: its producer decides) */
      const int touches = inst_touches(by, n, j, a_lo, a_hi);
      if (y->in.op != LS_OP_GATHER || !(y->nruns || y->nreps) || y->direct == RT_NONE || y->nchain ||
          y->in.t0 != LS_F32 || y->skip || y->direct >= xi) {
        if (touches) break;
        continue;
      }
      const ls_insn *w = &p->inst[y->direct].in;
      const uint64_t lo = w->addr, hi = w->addr + (uint64_t)w->n * vb;
      uint64_t l = 0, h = 0;
      int fits = lo >= a_lo && hi <= a_hi && (lo - a_lo) % 4 == 0 && (uint64_t)w->stride == vb &&
                 read_range(by, n, j, &l, &h) && l % 4 == 0;
      for (int k = 0; fits && k < nc; k++) fits = hi <= dlo[k] || dhi[k] <= lo; /* (older, overwritten) */
      if (!fits || nc == RT_FEEDS) {
        if (lo < a_hi && a_lo < hi) break;
        continue;
      }
      cand[nc] = j, dlo[nc] = lo, dhi[nc] = hi, tlo[nc] = l, thi[nc] = h, nc++;
    }
    if (!nc) continue;
    uint32_t except[2 * RT_FEEDS + 1];
    int ne = 0, ok = 1;
    except[ne++] = x->src[0];
    for (int k = 0; k < nc; k++) except[ne++] = cand[k], except[ne++] = p->inst[cand[k]].direct;
    for (int k = 0; ok && k < nc; k++) {
      /* nothing else between y and x reads or writes y's bytes, or writes its table */
      if (acc_hits(by, n, cand[k], xi, except, ne, dlo[k], dhi[k], 0) ||
          acc_hits(by, n, cand[k], xi, except, ne, tlo[k], thi[k], 1))
        ok = 0;
      if (o_lo < o_hi && ((o_lo < dhi[k] && dlo[k] < o_hi) || (o_lo < thi[k] && tlo[k] < o_hi))) ok = 0;
      for (int m = 0; m < nc; m++) /* no moved gather reads the bytes one writes */
        if (tlo[k] < dhi[m] && dlo[m] < thi[k]) ok = 0;
    }
    if (!ok) continue;
    for (int k = nc; k-- > 0;) { /* in their order */
      x->feed[x->n_feed++] = cand[k];
      p->inst[cand[k]].skip = 1;
    }
  }
  free(by);
}

/* ---- slots: output buffers by liveness ---------------------------------------------------- */

typedef struct live {
  uint64_t off, size;
  uint32_t last;
} live;

/* An MM whose accumulator is the output of another MM read by nothing else (a K longer
 * than one plane, chained through the accumulator stream) writes its output over that
 * accumulator, row by row after reading it: its slot is the accumulator's, and the copy of
 * the accumulator into the output (the GEMM adds to what the output holds) disappears. Not
 * for an MM that writes straight to memory, nor one whose output another reads in place. */
static int acc_in_place(const ls_program *p, const rt_inst *x) {
  if (x->in.op != LS_OP_MM || x->src[1] == RT_NONE || x->src_off[1] != 0 || x->direct != RT_NONE || x->skip) return 0;
  const rt_inst *s = &p->inst[x->src[1]];
  return s->in.op == LS_OP_MM && s->direct == RT_NONE && !s->skip && s->n_cons == 1 && s->outs == x->outs;
}

static ls_status plan_slots(ls_program *p, ls_error *err) {
  const ls_target *t = &p->prog.target;
  live *lv = malloc(sizeof *lv * (p->n_inst ? p->n_inst : 1));
  size_t nl = 0;
  uint64_t peak = 0;
  if (!lv) {
    rt_errorf(err, LS_ERR_NOMEM, "out of memory planning stream slots");
    return LS_ERR_NOMEM;
  }
  for (uint32_t i = 0; i < p->n_inst; i++) {
    rt_inst *x = &p->inst[i];
    if (!x->outs) continue;
    size_t keep = 0;
    for (size_t j = 0; j < nl; j++)
      if (lv[j].last >= i) lv[keep++] = lv[j];
    nl = keep; /* lv stays sorted by offset */
    const int in_place = acc_in_place(p, x);
    x->acc_in_place = 0;
    for (size_t j = 0; in_place && j < nl; j++)
      if (lv[j].off == p->inst[x->src[1]].slot) { /* the accumulator's slot, now live as long as ours */
        if (x->last_use > lv[j].last) lv[j].last = x->last_use;
        x->slot = lv[j].off, x->acc_in_place = 1;
        break;
      }
    if (x->acc_in_place) continue;
    uint64_t size = (uint64_t)x->outs * ls_vector_bytes(t, ls_insn_out_dtype(&x->in));
    size = (size + 63) & ~(uint64_t)63;
    uint64_t off = 0;
    size_t at = 0;
    for (; at < nl; at++) {
      if (lv[at].off >= off + size) break;
      off = lv[at].off + lv[at].size;
    }
    memmove(lv + at + 1, lv + at, (nl - at) * sizeof *lv);
    lv[at] = (live){off, size, x->last_use};
    nl++;
    x->slot = off;
    if (off + size > peak) peak = off + size;
  }
  free(lv);
  p->slot_bytes = peak;
  return LS_OK;
}

/* ---- the whole check ---------------------------------------------------------------------- */

static int cmp_inst(const void *pa, const void *pb) {
  const rt_inst *a = pa, *b = pb;
  if (a->in.cycle != b->in.cycle) return a->in.cycle < b->in.cycle ? -1 : 1;
  if (a->queue != b->queue) return a->queue < b->queue ? -1 : 1;
  return (a->qinsn > b->qinsn) - (a->qinsn < b->qinsn); /* repetitions: see cycle order */
}

static ls_status check_program(ls_program *p, ls_error *err) {
  ls_prog *g = &p->prog;
  ls_target *t = &g->target;
  char msg[256];
  if (ls_target_check(t, msg, sizeof msg)) VFAIL("%s", msg);
  if (t->lat[LS_LAT_HOP] < 1) VFAIL("target %s: the hop latency must be at least 1 cycle", t->name);
  if (g->mem_bytes == 0) VFAIL("the program declares no memory");
  if (g->mem_bytes > t->sram_bytes)
    VFAIL("the program needs %llu bytes of SRAM, target %s has %llu", (unsigned long long)g->mem_bytes, t->name,
          (unsigned long long)t->sram_bytes);
  if (g->mem_bytes > RT_MAX_MEM) VFAIL("the program's %llu bytes of memory exceed the runtime's limit", (unsigned long long)g->mem_bytes);
  for (uint32_t i = 0; i < g->n_io; i++) {
    const ls_io *io = &g->io[i];
    if (io->dtype >= LS_DTYPE_COUNT) VFAIL("tensor '%s': unknown element type %u", io->name, io->dtype);
    uint64_t e = 1;
    for (unsigned d = 0; d < io->rank; d++) {
      if (io->dims[d] && e > g->mem_bytes / io->dims[d]) VFAIL("tensor '%s' is larger than memory", io->name);
      e *= io->dims[d];
    }
    uint64_t bytes = e * ls_dtype_size((ls_dtype)io->dtype);
    if (io->addr > g->mem_bytes || bytes > g->mem_bytes - io->addr)
      VFAIL("tensor '%s' (%llu bytes at %llu) reaches outside memory [0, %llu)", io->name, (unsigned long long)bytes,
            (unsigned long long)io->addr, (unsigned long long)g->mem_bytes);
    if (io->addr % ls_dtype_size((ls_dtype)io->dtype)) VFAIL("tensor '%s': address %llu is not aligned to its element", io->name, (unsigned long long)io->addr);
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(g->io[j].name, io->name) == 0) VFAIL("two tensors are named '%s'", io->name);
  }
  for (uint32_t i = 0; i < g->n_consts; i++) {
    const ls_const *c = &g->consts[i];
    if (c->addr > g->mem_bytes || c->size > g->mem_bytes - c->addr)
      VFAIL("constant %u (%llu bytes at %llu) reaches outside memory [0, %llu)", i, (unsigned long long)c->size,
            (unsigned long long)c->addr, (unsigned long long)g->mem_bytes);
  }
  for (uint32_t q = 0; q < g->n_queues; q++) {
    const ls_queue *qu = &g->queues[q];
    if (qu->unit >= LS_UNIT_ICU) VFAIL("queue %u: unit %u is not a slice kind (mem, vxm, mxm, sxm)", q, qu->unit);
    if (qu->index >= t->slices[qu->unit])
      VFAIL("queue %s%u: target %s has only %u %s slices", ls_unit_names[qu->unit], qu->index, t->name,
            t->slices[qu->unit], ls_unit_names[qu->unit]);
    for (uint32_t r = 0; r < q; r++)
      if (g->queues[r].unit == qu->unit && g->queues[r].index == qu->index)
        VFAIL("queue %s%u appears twice", ls_unit_names[qu->unit], qu->index);
  }
  return LS_OK;
fail:
  return LS_ERR_VERIFY;
}

/* Expand every queue, checking that each issues in order without overlapping itself. */
static ls_status expand_queues(ls_program *p, ls_error *err) {
  ls_prog *g = &p->prog;
  uint64_t total = 0;
  for (uint32_t q = 0; q < g->n_queues; q++) {
    uint64_t n = ls_queue_expanded_count(&g->queues[q]);
    if (n > RT_MAX_INSTANCES || total + n > RT_MAX_INSTANCES)
      VFAIL("the program issues more than %u instructions, the runtime's limit", RT_MAX_INSTANCES);
    total += n;
  }
  p->inst = calloc(total ? total : 1, sizeof *p->inst);
  if (!p->inst) {
    rt_errorf(err, LS_ERR_NOMEM, "out of memory for %llu instructions", (unsigned long long)total);
    return LS_ERR_NOMEM;
  }
  uint32_t k = 0;
  char qn[16];
  for (uint32_t q = 0; q < g->n_queues; q++) {
    const ls_queue *qu = &g->queues[q];
    queue_name(g, q, qn, sizeof qn);
    ls_insn prev;
    int have_prev = 0;
    uint64_t free_at = 0;
    uint32_t prev_i = 0;
    for (uint32_t i = 0; i < qu->count; i++) {
      const ls_insn *in = &qu->insns[i];
      uint32_t reps = 1;
      if (in->op == LS_OP_REPEAT) {
        char msg[160];
        if (ls_insn_check_fields(in, msg, sizeof msg)) VFAIL("%s insn %u (repeat): %s", qn, i, msg);
        if (!have_prev) VFAIL("%s insn %u: repeat has no instruction before it to repeat", qn, i);
        if (in->n == 0) VFAIL("%s insn %u: repeat needs a count of at least 1", qn, i);
        if (in->cycle != prev.cycle + in->aux)
          VFAIL("%s insn %u: repeat is written at cycle %llu, but its first repetition issues at %llu (previous at %llu + delay %u)",
                qn, i, (unsigned long long)in->cycle, (unsigned long long)(prev.cycle + in->aux),
                (unsigned long long)prev.cycle, in->aux);
        reps = in->n;
      }
      for (uint32_t r = 0; r < reps; r++) {
        ls_insn cur = in->op == LS_OP_REPEAT ? ls_repeat_instance(&prev, in->aux) : *in;
        if (cur.cycle < free_at)
          VFAIL("%s insn %u (%s @%llu): the queue is busy until cycle %llu with insn %u (%s @%llu); two "
                "instructions on one unit at once",
                qn, i, cur.op < LS_OP_COUNT ? ls_ops[cur.op].mnemonic : "?", (unsigned long long)cur.cycle,
                (unsigned long long)free_at, prev_i, ls_ops[prev.op].mnemonic, (unsigned long long)prev.cycle);
        if (cur.cycle > UINT64_MAX / 4) VFAIL("%s insn %u: issue cycle %llu is implausibly large", qn, i, (unsigned long long)cur.cycle);
        rt_inst *x = &p->inst[k++];
        x->in = cur;
        x->queue = q;
        x->qinsn = i;
        x->src[0] = x->src[1] = x->src[2] = RT_NONE;
        x->last_use = RT_NONE;
        x->slot = RT_NOSLOT;
        x->outs = cur.op < LS_OP_COUNT ? ls_insn_outputs(&cur) : 0;
        x->out_delay = cur.op < LS_OP_COUNT ? ls_insn_out_delay(&g->target, &cur) : 0;
        free_at = cur.cycle + (cur.op < LS_OP_COUNT ? ls_insn_busy(&cur) : 1);
        prev = cur;
        prev_i = i;
        have_prev = 1;
      }
    }
  }
  p->n_inst = k;
  return LS_OK;
fail:
  return LS_ERR_VERIFY;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* SYNC needs a NOTIFY the cycle before; MM needs its plane loaded first. */
static ls_status check_control(ls_program *p, ls_error *err) {
  size_t nn = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) nn += p->inst[i].in.op == LS_OP_NOTIFY;
  uint64_t *notes = malloc((nn ? nn : 1) * sizeof *notes);
  uint8_t loaded[256] = {0};
  char who[96];
  if (!notes) {
    rt_errorf(err, LS_ERR_NOMEM, "out of memory");
    return LS_ERR_NOMEM;
  }
  nn = 0;
  for (uint32_t i = 0; i < p->n_inst; i++)
    if (p->inst[i].in.op == LS_OP_NOTIFY) notes[nn++] = p->inst[i].in.cycle;
  qsort(notes, nn, sizeof *notes, cmp_u64);
  for (uint32_t i = 0; i < p->n_inst; i++) {
    const rt_inst *x = &p->inst[i];
    if (x->in.op == LS_OP_SYNC) {
      const uint32_t lat = p->prog.target.lat[LS_LAT_ICU];
      uint64_t want = x->in.cycle - lat;
      if (x->in.cycle < lat || !bsearch(&want, notes, nn, sizeof *notes, cmp_u64)) {
        rt_describe(p, x, who, sizeof who);
        free(notes);
        rt_errorf(err, LS_ERR_VERIFY, "%s: sync at cycle %llu, but no notify issues at cycle %llu", who,
                  (unsigned long long)x->in.cycle, (unsigned long long)want);
        return LS_ERR_VERIFY;
      }
    }
    if (x->in.op == LS_OP_LW) loaded[x->in.aux & 255] = 1;
    if (x->in.op == LS_OP_MM && !loaded[x->in.aux & 255]) {
      rt_describe(p, x, who, sizeof who);
      free(notes);
      rt_errorf(err, LS_ERR_VERIFY, "%s: multiplies with plane p%u before any lw has loaded it", who, x->in.aux);
      return LS_ERR_VERIFY;
    }
  }
  free(notes);
  return LS_OK;
}

static ls_status check_constant_writes(ls_program *p, const accvec *acc, ls_error *err) {
  const ls_prog *g = &p->prog;
  for (size_t i = 0; i < acc->n; i++) {
    const access *a = &acc->v[i];
    if (!a->write) continue;
    for (uint32_t c = 0; c < g->n_consts; c++) {
      const ls_const *k = &g->consts[c];
      if (k->size && a->lo < k->addr + k->size && k->addr < a->hi) {
        char who[96];
        rt_describe(p, &p->inst[a->inst], who, sizeof who);
        rt_errorf(err, LS_ERR_VERIFY, "%s: writes bytes %llu..%llu, which hold constant %u (bytes %llu..%llu); constants are read-only",
                  who, (unsigned long long)a->lo, (unsigned long long)(a->hi - 1), c, (unsigned long long)k->addr,
                  (unsigned long long)(k->addr + k->size - 1));
        return LS_ERR_VERIFY;
      }
    }
  }
  return LS_OK;
}

/* ---- bytes that cross between cores at 2 threads --------------------------------------------
 * At 2 threads an instance fast mode splits has thread 0 compute the first half of its
 * vectors and thread 1 the second (rt_split_threads, whole grains), and one it runs whole
 * runs on thread 0. A line a thread reads that the other wrote, or writes while only the
 * other holds it, comes from the other core's cache, which on a machine whose cores share
 * no cache costs far more than one of its own (calibrated as `cross`, per byte).
 * plan_cross counts, for each instance of the fast list, those bytes: through memory by
 * 64-byte line (who[line]: bits 0-1 the last writer, 1 or 2, bits 2-3 the threads that
 * hold it), each access's half as its place in the instance's byte span (vectors go up
 * through memory), over two runs of the program of which the second is counted (lines
 * the last run left where they are); and through streams half of every stream read by
 * a split instance from a whole one or the other way round. Not an MM's rows: a GEMM
 * packs them in blocks and computes long on each, and reading them from the other core
 * slowed ResNet-18's split 3136-row MMs by about 0.02 ns a byte, not the 0.15 a streaming
 * instruction pays (`lockstep bench --profile`). An estimate: strided footprints are taken
 * whole, a line's eviction is not followed. */
static void cross_lines(double amount, const access *a, uint8_t *who, uint64_t nlines, int split, double *cross) {
  if (a->lo >= a->hi) return;
  const uint64_t l0 = a->lo / 64, l1 = (a->hi + 63) / 64 < nlines ? (a->hi + 63) / 64 : nlines;
  if (l0 >= l1) return;
  const uint64_t mid = (l0 + l1) / 2, lines = l1 - l0;
  /* a span far wider than what is read (a gather's table): 64 lines spread over it, each
   * for its share of what is read */
  const double span = (double)(a->hi - a->lo);
  const uint64_t step = amount * 4 < span && lines > 64 ? lines / 64 : 1;
  const double each = step > 1 ? amount / (double)(lines / step) : 64;
  for (uint64_t l = l0; l < l1; l += step) {
    const uint8_t mine = split && l >= mid ? 2 : 1; /* the thread (1 or 2) touching this line */
    const uint8_t mbit = (uint8_t)(mine << 2), obit = (uint8_t)((3 - mine) << 2);
    if (a->write) {
      /* a line only the other core holds comes over before it is written */
      if ((who[l] & obit) && !(who[l] & mbit)) *cross += each;
      for (uint64_t m = l; m < l + step && m < l1; m++) who[m] = (uint8_t)((split && m >= mid ? 2 : 1) * 5);
    } else {
      const uint8_t w = who[l] & 3;
      if (w && w != mine && !(who[l] & mbit)) *cross += each;
      who[l] |= mbit;
    }
  }
}

static void plan_cross(ls_program *p, const accvec *acc) {
  const ls_target *t = &p->prog.target;
  const uint32_t nf = p->n_fast, ni = p->n_inst;
  const uint64_t nlines = (p->prog.mem_bytes + 63) / 64;
  uint32_t *by = malloc(sizeof *by * (ni ? ni : 1));
  uint32_t *first = calloc((size_t)ni + 1, sizeof *first), *cons = malloc(sizeof *cons * ((size_t)ni * 3 + 1));
  uint8_t *who = calloc(nlines ? nlines : 1, 1), *split = calloc(nf ? nf : 1, 1);
  double *cross = calloc(nf ? nf : 1, sizeof *cross);
  access *acs = malloc(sizeof *acs * (acc->n ? acc->n : 1));
  for (uint32_t f = 0; f < nf; f++) p->inst[p->fast_list[f]].xbytes = 0;
  if (!by || !first || !cons || !who || !split || !cross || !acs) goto out; /* out of memory: predicted without */
  for (uint32_t i = 0; i < ni; i++) by[i] = RT_NONE;
  for (uint32_t f = 0; f < nf; f++) {
    const uint32_t i = p->fast_list[f];
    const rt_inst *x = &p->inst[i];
    split[f] = rt_split_threads(p, x, 2, 0) > 1;
    by[i] = f;
    if (x->direct != RT_NONE) by[x->direct] = f;
    for (int k = 0; k < x->n_epi; k++) by[x->epi[k]] = f;
    for (uint32_t k = 0; k < x->nchain; k++) by[p->chain[x->chain0 + k]] = f;
    for (int k = 0; k < x->n_feed; k++) {
      by[x->feed[k]] = f;
      if (p->inst[x->feed[k]].direct != RT_NONE) by[p->inst[x->feed[k]].direct] = f;
    }
  }
  for (uint32_t i = 0; i < ni; i++) /* every stream's readers */
    for (int k = 0; k < 3; k++)
      if (p->inst[i].src[k] != RT_NONE) first[p->inst[i].src[k] + 1]++;
  for (uint32_t i = 0; i < ni; i++) first[i + 1] += first[i];
  for (uint32_t i = ni; i > 0; i--) first[i] = first[i - 1];
  for (uint32_t i = 0; i < ni; i++)
    for (int k = 0; k < 3; k++)
      if (p->inst[i].src[k] != RT_NONE) cons[first[p->inst[i].src[k] + 1]++] = i;
  /* memory, in program order (an instance reads before it writes), twice: the first run
   * leaves the lines where the next one finds them, and the second is counted */
  if (acc->n) memcpy(acs, acc->v, sizeof *acs * acc->n);
  qsort(acs, acc->n, sizeof *acs, cmp_by_inst);
  for (size_t k = 0; k < 2 * acc->n; k++) {
    if (k == acc->n)
      for (uint32_t f = 0; f < nf; f++) cross[f] = 0;
    const access *a = &acs[k % acc->n];
    const rt_inst *x = &p->inst[a->inst];
    const double amount = (double)x->in.n * (double)ls_vector_bytes(t, (ls_dtype)x->in.t0); /* (about) what it moves */
    if (!x->alias) {
      if (by[a->inst] != RT_NONE) cross_lines(amount, a, who, nlines, split[by[a->inst]], &cross[by[a->inst]]);
      continue;
    }
    for (uint32_t c = first[a->inst]; c < first[a->inst + 1]; c++) /* read in place by each consumer */
      if (by[cons[c]] != RT_NONE && p->inst[cons[c]].in.op != LS_OP_MM)
        cross_lines(amount, a, who, nlines, split[by[cons[c]]], &cross[by[cons[c]]]);
  }
  /* streams */
  for (uint32_t i = 0; i < ni; i++) {
    const rt_inst *x = &p->inst[i];
    if (by[i] == RT_NONE || x->in.op == LS_OP_MM) continue;
    for (int k = 0; k < 3; k++) {
      const uint32_t r = x->src[k];
      if (r == RT_NONE || p->inst[r].alias || by[r] == RT_NONE || by[r] == by[i] || split[by[r]] == split[by[i]]) continue;
      cross[by[i]] += 0.5 * (double)x->in.n * ls_vector_bytes(t, ls_insn_out_dtype(&p->inst[r].in));
    }
  }
  for (uint32_t f = 0; f < nf; f++) p->inst[p->fast_list[f]].xbytes = (float)cross[f];
out:
  free(by), free(first), free(cons), free(who), free(split), free(cross), free(acs);
}

ls_status rt_verify(ls_program *p, ls_error *err) {
  ls_status st;
  accvec acc = {0};
  if ((st = check_program(p, err)) || (st = expand_queues(p, err))) return st;
  for (uint32_t i = 0; i < p->n_inst; i++)
    if ((st = check_insn(p, i, &acc, err))) goto out;
  /* execution order; access records keep the pre-sort index, so renumber them */
  {
    uint32_t *pos = malloc(sizeof *pos * (p->n_inst ? p->n_inst : 1));
    if (!pos) {
      rt_errorf(err, LS_ERR_NOMEM, "out of memory");
      st = LS_ERR_NOMEM;
      goto out;
    }
    for (uint32_t i = 0; i < p->n_inst; i++) p->inst[i].slot = i; /* borrow: original index */
    qsort(p->inst, p->n_inst, sizeof *p->inst, cmp_inst);
    for (uint32_t i = 0; i < p->n_inst; i++) {
      pos[p->inst[i].slot] = i;
      p->inst[i].slot = RT_NOSLOT;
    }
    for (size_t i = 0; i < acc.n; i++) acc.v[i].inst = pos[acc.v[i].inst];
    free(pos);
  }
  if ((st = check_streams(p, err)) || (st = check_control(p, err)) || (st = check_constant_writes(p, &acc, err)) ||
      (st = check_races(p, &acc, err)))
    goto out;
  if ((st = plan_fast(p, &acc, err)) || (st = plan_slots(p, err))) goto out;
  plan_gathers(p); /* out of memory there: element by element, which is only slower */
  plan_feeds(p, &acc);
  p->fast_list = malloc(sizeof *p->fast_list * (p->n_inst ? p->n_inst : 1));
  if (!p->fast_list) {
    rt_errorf(err, LS_ERR_NOMEM, "out of memory");
    st = LS_ERR_NOMEM;
    goto out;
  }
  p->n_fast = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) {
    const rt_inst *x = &p->inst[i];
    if (!x->alias && !x->skip && ls_ops[x->in.op].unit != LS_UNIT_ICU) p->fast_list[p->n_fast++] = i;
  }
  plan_cross(p, &acc);

  const ls_target *t = &p->prog.target;
  uint64_t cycles = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) {
    uint64_t d = ls_insn_done(t, &p->inst[i].in);
    if (d > cycles) cycles = d;
  }
  p->cycles = cycles;
  p->sram_off = 0;
  p->sram_bytes = (size_t)((p->prog.mem_bytes + 63) & ~(uint64_t)63);
  p->slot_off = p->sram_off + p->sram_bytes;
  p->plane_stride = 64 + (size_t)t->lanes * t->lanes * 4;
  p->plane_off = p->slot_off + p->slot_bytes;
  p->check_off = p->plane_off + p->plane_stride * t->slices[LS_UNIT_MXM];
  p->check_bytes = 2 * (size_t)t->streams * 24 + (size_t)p->n_inst * 4;
  p->check_bytes = (p->check_bytes + 63) & ~(size_t)63;
  p->chain_off = p->check_off + p->check_bytes;
  p->chain_bytes = 2 * RT_CHAIN_BLOCK * p->chain_vb; /* per thread */
  p->arena_bytes = p->chain_off + p->chain_bytes * RT_CHAIN_THREADS;
out:
  free(acc.v);
  return st;
}
