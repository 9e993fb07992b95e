/* schedule.c - resource-constrained list scheduling of instruction groups.
 *
 * Takes: groups in program order, each timed relative to its own start (lo_finish).
 * Gives: each group's start cycle, a queue for each instruction and a stream register for
 * each instruction's output; buffer lifetimes; the program's exact cycle count.
 * Rules kept: a queue runs one instruction at a time (an MXM queue is held from its LW to
 * the end of the MM that uses the plane); a stream carries one producer's vectors at a
 * time; two accesses to overlapping bytes of one buffer, one of them a write, never
 * overlap in time and keep program order (the verifier's memory-race rule, and the data
 * dependences between groups). Groups are placed in program order, each at the earliest
 * cycle where all of that holds, so independent work overlaps on different queues. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

/* ---- interval sets: busy cycles of one resource ----------------------------------------- */
typedef struct span {
  uint64_t s, e;
} span;
typedef struct busy {
  span *v;
  int n, cap;
} busy;

/* Smallest start >= at with [start, start+len) free. */
static uint64_t next_free(const busy *b, uint64_t at, uint64_t len) {
  int lo = 0, hi = b->n; /* first span ending after at */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (b->v[mid].e <= at) lo = mid + 1;
    else hi = mid;
  }
  for (int i = lo; i < b->n && b->v[i].s < at + len; i++)
    if (b->v[i].e > at) at = b->v[i].e;
  return at;
}

static void take(busy *b, uint64_t s, uint64_t e) {
  if (e <= s) return;
  int lo = 0, hi = b->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (b->v[mid].s < s) lo = mid + 1;
    else hi = mid;
  }
  if (b->n == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 64;
    b->v = realloc(b->v, sizeof *b->v * (size_t)b->cap);
    if (!b->v) {
      fprintf(stderr, "lockstep: out of memory scheduling\n");
      exit(1);
    }
  }
  memmove(b->v + lo + 1, b->v + lo, sizeof *b->v * (size_t)(b->n - lo));
  b->v[lo] = (span){s, e};
  b->n++;
}

/* ---- memory accesses per buffer --------------------------------------------------------- */
typedef struct acc {
  uint64_t s, e, lo, hi; /* absolute time window, byte range within the buffer */
  int write;
} acc;
typedef struct accs {
  acc *v;
  int n, cap;
} accs;

/* Time window [s, e) relative to the group and bytes [lo, hi) of a memory node, as the
 * verifier defines them. Returns 0 if the node does not touch memory. */
static int mem_window(const ls_target *t, const lo_group *g, int i, int64_t *s, int64_t *e, uint64_t *lo, uint64_t *hi,
                      int *write) {
  const lo_insn *x = &g->insn[i];
  const ls_insn *in = &x->in;
  size_t sz = ls_dtype_size((ls_dtype)in->t0);
  uint64_t vb = (uint64_t)(in->aux && (in->op == LS_OP_READ || in->op == LS_OP_WRITE) ? in->aux : t->lanes) * sz;
  uint32_t lat = ls_insn_latency(t, in);
  switch (in->op) {
  case LS_OP_READ:
  case LS_OP_WRITE: {
    uint64_t reach = (uint64_t)(in->n - 1) * (uint64_t)(in->stride < 0 ? -in->stride : in->stride);
    *lo = in->stride < 0 ? in->addr - reach : in->addr;
    *hi = (in->stride < 0 ? in->addr : in->addr + reach) + vb;
    *write = in->op == LS_OP_WRITE;
    break;
  }
  case LS_OP_GATHER:
  case LS_OP_SCATTER:
    *lo = in->addr, *hi = in->addr + (uint64_t)in->aux * sz;
    *write = in->op == LS_OP_SCATTER;
    break;
  default: return 0;
  }
  *s = x->t;
  *e = x->t + (*write ? lat : 0) + in->n;
  /* rows read into a plane count as in use until the last MM multiplies with them: the
   * machine copies them, but the fast executor multiplies with them where they are */
  if (in->op == LS_OP_READ)
    for (int j = 0; j < g->n; j++)
      if (g->insn[j].in.op == LS_OP_LW && g->insn[j].src[0] == i)
        for (int k = 0; k < g->n; k++)
          if (g->insn[k].plane == j && g->insn[k].t + (int64_t)g->insn[k].in.n > *e) *e = g->insn[k].t + (int64_t)g->insn[k].in.n;
  return 1;
}

static uint32_t insn_busy(const lo_insn *x) { return ls_insn_busy(&x->in); }

int lo_schedule(lo_module *m, char *err, size_t errlen) {
  const ls_target *t = &m->t;
  uint32_t nq[LS_UNIT_COUNT];
  int qbase[LS_UNIT_COUNT], total_q = 0;
  for (int u = 0; u < LS_UNIT_COUNT; u++) {
    nq[u] = u == LS_UNIT_ICU ? 0 : t->slices[u];
    qbase[u] = total_q;
    total_q += (int)nq[u];
  }
  const int ns = 2 * (int)t->streams;
  busy *qb = calloc((size_t)total_q, sizeof *qb), *sb = calloc((size_t)ns, sizeof *sb);
  accs *ba = calloc((size_t)(m->n_bufs ? m->n_bufs : 1), sizeof *ba);
  if (!qb || !sb || !ba) {
    snprintf(err, errlen, "out of memory scheduling");
    return -1;
  }
  for (int b = 0; b < m->n_bufs; b++) m->bufs[b].used = 0;
  uint64_t cycles = 0;
  for (int gi = 0; gi < m->n_groups; gi++) {
    lo_group *g = &m->groups[gi];
    g->queue = calloc((size_t)(g->n ? g->n : 1), 1);
    g->stream = calloc((size_t)(g->n ? g->n : 1), 1);
    if (!g->queue || !g->stream) {
      snprintf(err, errlen, "out of memory scheduling");
      return -1;
    }
    /* memory: after every earlier conflicting access has finished */
    uint64_t start = 0;
    for (int i = 0; i < g->n; i++) {
      int64_t s, e;
      uint64_t lo, hi;
      int w;
      if (!mem_window(t, g, i, &s, &e, &lo, &hi, &w)) continue;
      const accs *a = &ba[g->insn[i].buf];
      for (int k = 0; k < a->n; k++)
        if ((w || a->v[k].write) && lo < a->v[k].hi && a->v[k].lo < hi && a->v[k].e > (uint64_t)s) {
          uint64_t need = a->v[k].e - (uint64_t)s;
          if (need > start) start = need;
        }
    }
    /* queues and streams: slide until everything fits at once */
    for (int guard = 0;; guard++) {
      if (guard > 1000000) {
        snprintf(err, errlen, "internal: cannot place the instructions of %s", g->what);
        return -1;
      }
      uint64_t want = start;
      /* hold: the span each node keeps its queue (an LW holds its plane until its MM ends) */
      for (int i = 0; i < g->n && want == start; i++) {
        const lo_insn *x = &g->insn[i];
        ls_unit u = ls_ops[x->in.op].unit;
        if (x->in.op == LS_OP_MM) continue; /* rides on its LW's reservation */
        uint64_t s = start + (uint64_t)x->t, len = insn_busy(x);
        if (x->in.op == LS_OP_LW)
          for (int j = 0; j < g->n; j++)
            if (g->insn[j].plane == i) len = (uint64_t)(g->insn[j].t + insn_busy(&g->insn[j]) - x->t);
        uint64_t best = UINT64_MAX;
        int bq = -1;
        for (uint32_t q = 0; q < nq[u]; q++) {
          /* a queue already chosen for an earlier node of this group is busy then too */
          uint64_t f = next_free(&qb[qbase[u] + (int)q], s, len);
          int clash = 0;
          for (int j = 0; j < i && !clash; j++) {
            const lo_insn *y = &g->insn[j];
            if (ls_ops[y->in.op].unit != u || g->queue[j] != q || y->in.op == LS_OP_MM) continue;
            uint64_t ys = start + (uint64_t)y->t, ylen = insn_busy(y);
            if (y->in.op == LS_OP_LW)
              for (int k = 0; k < g->n; k++)
                if (g->insn[k].plane == j) ylen = (uint64_t)(g->insn[k].t + insn_busy(&g->insn[k]) - y->t);
            if (f < ys + ylen && ys < f + len) clash = 1;
          }
          if (clash) continue;
          if (f < best) best = f, bq = (int)q;
          if (f == s) break;
        }
        if (bq < 0) { /* every queue of the unit is taken by this group at that time */
          want = start + 1;
          break;
        }
        g->queue[i] = (uint8_t)bq;
        if (best > s) want = start + (best - s);
      }
      for (int i = 0; i < g->n && want == start; i++) {
        const lo_insn *x = &g->insn[i];
        uint32_t outs = ls_insn_outputs(&x->in);
        if (!outs) continue;
        uint64_t s = start + (uint64_t)x->t + ls_insn_out_delay(t, &x->in);
        uint64_t best = UINT64_MAX;
        int bs = -1;
        for (int st = 0; st < ns; st++) {
          uint64_t f = next_free(&sb[st], s, outs);
          int clash = 0;
          for (int j = 0; j < i && !clash; j++) {
            const lo_insn *y = &g->insn[j];
            uint32_t yo = ls_insn_outputs(&y->in);
            if (!yo || g->stream[j] != st) continue;
            uint64_t ys = start + (uint64_t)y->t + ls_insn_out_delay(t, &y->in);
            if (f < ys + yo && ys < f + outs) clash = 1;
          }
          if (clash) continue;
          if (f < best) best = f, bs = st;
          if (f == s) break;
        }
        if (bs < 0) {
          want = start + 1;
          break;
        }
        g->stream[i] = (uint8_t)bs;
        if (best > s) want = start + (best - s);
      }
      if (want == start) break;
      start = want;
    }
    /* MM runs on its LW's queue */
    for (int i = 0; i < g->n; i++)
      if (g->insn[i].in.op == LS_OP_MM) g->queue[i] = g->queue[g->insn[i].plane];
    /* commit */
    g->start = start;
    for (int i = 0; i < g->n; i++) {
      const lo_insn *x = &g->insn[i];
      ls_unit u = ls_ops[x->in.op].unit;
      uint64_t s = start + (uint64_t)x->t;
      if (x->in.op != LS_OP_MM) {
        uint64_t len = insn_busy(x);
        if (x->in.op == LS_OP_LW)
          for (int j = 0; j < g->n; j++)
            if (g->insn[j].plane == i) len = (uint64_t)(g->insn[j].t + insn_busy(&g->insn[j]) - x->t);
        take(&qb[qbase[u] + g->queue[i]], s, s + len);
      }
      uint32_t outs = ls_insn_outputs(&x->in);
      if (outs) {
        uint64_t a = s + ls_insn_out_delay(t, &x->in);
        take(&sb[g->stream[i]], a, a + outs);
      }
      int64_t ms, me;
      uint64_t lo, hi;
      int w;
      if (mem_window(t, g, i, &ms, &me, &lo, &hi, &w)) {
        accs *a = &ba[x->buf];
        if (a->n == a->cap) {
          a->cap = a->cap ? a->cap * 2 : 16;
          a->v = realloc(a->v, sizeof *a->v * (size_t)a->cap);
          if (!a->v) {
            snprintf(err, errlen, "out of memory scheduling");
            return -1;
          }
        }
        a->v[a->n++] = (acc){start + (uint64_t)ms, start + (uint64_t)me, lo, hi, w};
        lo_buf *b = &m->bufs[x->buf];
        if (!b->used || start + (uint64_t)ms < b->first) b->first = start + (uint64_t)ms;
        if (!b->used || start + (uint64_t)me > b->last) b->last = start + (uint64_t)me;
        b->used = 1;
      }
    }
    if (start + (uint64_t)g->length > cycles) cycles = start + (uint64_t)g->length;
  }
  m->cycles = cycles;
  for (int q = 0; q < total_q; q++) free(qb[q].v);
  for (int s = 0; s < ns; s++) free(sb[s].v);
  for (int b = 0; b < m->n_bufs; b++) free(ba[b].v);
  free(qb);
  free(sb);
  free(ba);
  return 0;
}
