/* group.c - buffers and instruction groups: building them, and timing each group.
 *
 * lo_finish takes a group whose nodes name their inputs (a tree: each output feeds one
 * consumer; MM also depends on its LW through the plane) and gives every node an issue
 * cycle relative to the group's start such that each operand arrives exactly when its
 * consumer reads it, and each LW finishes streaming its rows just as its MM begins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

static void *grow(void *p, int *cap, int need, size_t size) {
  if (need <= *cap) return p;
  int c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *np = realloc(p, (size_t)c * size);
  if (!np) {
    fprintf(stderr, "lockstep: out of memory in the compiler\n");
    exit(1);
  }
  *cap = c;
  return np;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (!d) {
    fprintf(stderr, "lockstep: out of memory in the compiler\n");
    exit(1);
  }
  return memcpy(d, s, n);
}

void lo_module_init(lo_module *m, const ls_target *t) {
  memset(m, 0, sizeof *m);
  m->t = *t;
}

void lo_module_free(lo_module *m) {
  for (int i = 0; i < m->n_bufs; i++) free(m->bufs[i].name), free(m->bufs[i].data);
  for (int i = 0; i < m->n_groups; i++) free(m->groups[i].insn), free(m->groups[i].queue), free(m->groups[i].stream);
  free(m->bufs);
  free(m->groups);
  free(m->io);
  free(m->io_buf);
  memset(m, 0, sizeof *m);
}

int lo_buf_new(lo_module *m, const char *name, uint64_t bytes) {
  m->bufs = grow(m->bufs, &m->cap_bufs, m->n_bufs + 1, sizeof *m->bufs);
  lo_buf *b = &m->bufs[m->n_bufs];
  memset(b, 0, sizeof *b);
  b->name = dup_str(name);
  b->bytes = bytes ? bytes : 1;
  b->io = LO_NONE;
  return m->n_bufs++;
}

int lo_buf_const(lo_module *m, const char *name, const void *data, uint64_t bytes) {
  int i = lo_buf_new(m, name, bytes);
  m->bufs[i].data = malloc(bytes ? bytes : 1);
  if (!m->bufs[i].data) {
    fprintf(stderr, "lockstep: out of memory for a %llu-byte constant\n", (unsigned long long)bytes);
    exit(1);
  }
  if (bytes) memcpy(m->bufs[i].data, data, bytes);
  return i;
}

int lo_io(lo_module *m, int buf, const char *name, int is_output, ls_dtype dt, int rank, const int64_t *dims) {
  m->io = grow(m->io, &m->cap_io, m->n_io + 1, sizeof *m->io);
  m->io_buf = realloc(m->io_buf, sizeof *m->io_buf * (size_t)m->cap_io);
  ls_io *io = &m->io[m->n_io];
  memset(io, 0, sizeof *io);
  snprintf(io->name, sizeof io->name, "%s", name);
  io->is_output = (uint8_t)is_output;
  io->dtype = (uint8_t)dt;
  io->rank = (uint8_t)rank;
  for (int d = 0; d < rank; d++) io->dims[d] = (uint64_t)dims[d];
  m->io_buf[m->n_io] = buf;
  m->bufs[buf].io = m->n_io;
  return m->n_io++;
}

/* ---- group building -------------------------------------------------------------------- */

lo_group *lo_group_new(lo_module *m, const char *what) {
  m->groups = grow(m->groups, &m->cap_groups, m->n_groups + 1, sizeof *m->groups);
  lo_group *g = &m->groups[m->n_groups++];
  memset(g, 0, sizeof *g);
  g->what = what;
  return g;
}

static int node(lo_group *g, ls_op op, ls_dtype t, uint32_t n, int a, int b, int c) {
  g->insn = grow(g->insn, &g->cap, g->n + 1, sizeof *g->insn);
  lo_insn *x = &g->insn[g->n];
  memset(x, 0, sizeof *x);
  x->in.op = (uint16_t)op;
  x->in.t0 = (uint8_t)(ls_ops[op].unit == LS_UNIT_ICU ? 0 : t);
  x->in.dst = x->in.a = x->in.b = x->in.c = LS_NO_STREAM;
  x->in.n = n;
  x->buf = LO_NONE;
  x->src[0] = a, x->src[1] = b, x->src[2] = c;
  x->plane = LO_NONE;
  for (int k = 0; k < 3; k++)
    if (x->src[k] != LO_NONE) g->insn[x->src[k]].consumers++;
  return g->n++;
}

/* vectors a node puts out */
static uint32_t outs_of(const lo_group *g, int i) { return ls_insn_outputs(&g->insn[i].in); }

int lo_read(lo_group *g, int buf, uint64_t off, uint32_t n, int64_t stride, ls_dtype t, uint32_t lanes, double fill) {
  int i = node(g, LS_OP_READ, t, n, LO_NONE, LO_NONE, LO_NONE);
  lo_insn *x = &g->insn[i];
  x->buf = buf;
  x->in.addr = off;
  x->in.stride = stride;
  x->in.aux = lanes;
  if (lanes) {
    if (ls_dtype_class(t) == 'F') memcpy(&x->in.imm, &fill, 8);
    else x->in.imm = (int64_t)fill;
  }
  return i;
}

int lo_write(lo_group *g, int buf, uint64_t off, int64_t stride, ls_dtype t, uint32_t lanes, int src) {
  int i = node(g, LS_OP_WRITE, t, outs_of(g, src), src, LO_NONE, LO_NONE);
  lo_insn *x = &g->insn[i];
  x->buf = buf;
  x->in.addr = off;
  x->in.stride = stride;
  x->in.aux = lanes;
  return i;
}

int lo_op(lo_group *g, ls_op op, ls_dtype t, int a, int b, int c) {
  return node(g, op, t, outs_of(g, a), a, b, c);
}

int lo_op_imm(lo_group *g, ls_op op, ls_dtype t, int a, double imm) {
  int i = node(g, op, t, outs_of(g, a), a, LO_NONE, LO_NONE);
  if (ls_dtype_class(t) == 'F') memcpy(&g->insn[i].in.imm, &imm, 8);
  else g->insn[i].in.imm = (int64_t)imm;
  return i;
}

int lo_op_int(lo_group *g, ls_op op, ls_dtype t, int a, int64_t imm) {
  int i = node(g, op, t, outs_of(g, a), a, LO_NONE, LO_NONE);
  g->insn[i].in.imm = imm;
  return i;
}

int lo_cvt(lo_group *g, ls_dtype from, ls_dtype to, int a) {
  int i = node(g, LS_OP_CVT, from, outs_of(g, a), a, LO_NONE, LO_NONE);
  g->insn[i].in.t1 = (uint8_t)to;
  return i;
}

int lo_gather(lo_group *g, int table_buf, uint64_t off, uint32_t table_elems, ls_dtype t, int idx) {
  int i = node(g, LS_OP_GATHER, t, outs_of(g, idx), idx, LO_NONE, LO_NONE);
  g->insn[i].buf = table_buf;
  g->insn[i].in.addr = off;
  g->insn[i].in.aux = table_elems;
  return i;
}

int lo_scatter(lo_group *g, int table_buf, uint64_t off, uint32_t table_elems, ls_dtype t, int src, int idx) {
  int i = node(g, LS_OP_SCATTER, t, outs_of(g, src), src, idx, LO_NONE);
  g->insn[i].buf = table_buf;
  g->insn[i].in.addr = off;
  g->insn[i].in.aux = table_elems;
  return i;
}

int lo_lw(lo_group *g, int src) { return node(g, LS_OP_LW, LS_F32, outs_of(g, src), src, LO_NONE, LO_NONE); }

int lo_mm(lo_group *g, int lw, int x, int acc, uint32_t cols) {
  int i = node(g, LS_OP_MM, LS_F32, outs_of(g, x), x, acc, LO_NONE);
  g->insn[i].plane = lw;
  g->insn[i].in.imm = cols;
  return i;
}

/* ---- timing ------------------------------------------------------------------------------- */

int lo_finish(lo_group *g, const ls_target *t, char *err, size_t errlen) {
  /* forward: as soon as possible (inputs are built before their consumers) */
  for (int i = 0; i < g->n; i++) {
    lo_insn *x = &g->insn[i];
    int64_t at = 0;
    for (int k = 0; k < 3; k++) {
      if (x->src[k] == LO_NONE) continue;
      const lo_insn *p = &g->insn[x->src[k]];
      if (p->consumers != 1) {
        snprintf(err, errlen, "internal: group %s: node %d feeds %d consumers", g->what, x->src[k], p->consumers);
        return -1;
      }
      if (outs_of(g, x->src[k]) != x->in.n) {
        snprintf(err, errlen, "internal: group %s: node %d puts out %u vectors, node %d reads %u", g->what, x->src[k],
                 outs_of(g, x->src[k]), i, x->in.n);
        return -1;
      }
      int64_t arrive = p->t + (int64_t)ls_insn_out_delay(t, &p->in);
      if (arrive > at) at = arrive;
    }
    if (x->plane != LO_NONE) { /* after its LW has streamed all its rows */
      const lo_insn *w = &g->insn[x->plane];
      if (w->t + (int64_t)w->in.n > at) at = w->t + (int64_t)w->in.n;
    }
    x->t = at;
  }
  /* backward: delay each producer (and so its subtree) to arrive exactly on time, and
   * each LW to finish just as its MM starts, holding the plane no longer than needed */
  for (int i = g->n - 1; i >= 0; i--) {
    const lo_insn *x = &g->insn[i];
    for (int k = 0; k < 3; k++)
      if (x->src[k] != LO_NONE) {
        lo_insn *p = &g->insn[x->src[k]];
        p->t = x->t - (int64_t)ls_insn_out_delay(t, &p->in);
      }
    if (x->plane != LO_NONE) g->insn[x->plane].t = x->t - (int64_t)g->insn[x->plane].in.n;
  }
  int64_t lo = INT64_MAX, end = 0;
  for (int i = 0; i < g->n; i++) {
    const lo_insn *x = &g->insn[i];
    if (x->consumers == 0 && ls_insn_outputs(&x->in) > 0) {
      snprintf(err, errlen, "internal: group %s: the output of node %d (%s) is never consumed", g->what, i,
               ls_ops[x->in.op].mnemonic);
      return -1;
    }
    if (x->t < lo) lo = x->t;
  }
  for (int i = 0; i < g->n; i++) {
    lo_insn *x = &g->insn[i];
    x->t -= lo;
    ls_insn at = x->in;
    at.cycle = (uint64_t)x->t;
    int64_t d = (int64_t)ls_insn_done(t, &at);
    if (d > end) end = d;
  }
  g->length = end;
  return 0;
}
