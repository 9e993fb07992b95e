/* lower_graph.c - every live node of the graph becomes instruction groups over buffers.
 *
 * Takes: a simplified graph (shapes known, constants folded, activations fused).
 * Gives: a module of buffers (one per tensor; reshapes share their input's) and groups.
 * Layout: every tensor is stored row-major and contiguous, as ONNX defines it (a 4-D one
 * between convolutions and poolings channels-last instead: plan_layouts); a vector is
 * L consecutive elements. Three building blocks cover every operator:
 *   - elementwise trees over flat ranges (operands broadcast beforehand when they must be);
 *   - the tiled GEMM on the MXM planes (Gemm, MatMul, and Conv after an im2col gather);
 *   - gathers through constant index tables (transposes, slices, im2col, pooling windows,
 *     broadcasting), followed where needed by reductions over the gathered rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"
#include "tile.h"

typedef struct lctx {
  cg_graph *g;
  lo_module *m;
  int *buf;     /* per tensor: its buffer, or LO_NONE */
  int *splat;   /* per tensor: a one-vector splat of a one-element constant, or LO_NONE */
  uint8_t *nhwc; /* per tensor: 1 if stored channels-last (see plan_layouts) */
  int *phases;   /* per tensor: the phase images a depthwise convolution reads it from, when
                  * the 1x1 convolution that makes it wrote them (it has no buffer), or LO_NONE */
  cg_node *n;
  char *err;
  size_t errlen;
} lctx;

#define L (c->m->t.lanes)

static int fail(lctx *c, const char *msg) {
  snprintf(c->err, c->errlen, "%s: node %s (%s): %s", c->g->source ? c->g->source : "model", c->n->name, c->n->op, msg);
  return -1;
}

static cg_tensor *T(lctx *c, int k) {
  return k < c->n->n_inputs && c->n->inputs[k] != CG_NONE ? &c->g->tensors[c->n->inputs[k]] : NULL;
}
static int tid(lctx *c, int k) { return k < c->n->n_inputs ? c->n->inputs[k] : CG_NONE; }

/* the buffer of tensor t, made on first use */
static int buf_of(lctx *c, int t) {
  if (c->buf[t] != LO_NONE) return c->buf[t];
  const cg_tensor *x = &c->g->tensors[t];
  size_t bytes = cg_tensor_bytes(x);
  c->buf[t] = x->data ? lo_buf_const(c->m, x->name, x->data, bytes) : lo_buf_new(c->m, x->name, bytes);
  return c->buf[t];
}

static int64_t elems(const cg_tensor *t) { return cg_tensor_elems(t); }

/* ---- elementwise ------------------------------------------------------------------------- */

typedef struct ew_operand {
  int buf;
  uint64_t off;
  int splat; /* read one vector n times */
  ls_dtype t;
} ew_operand;

typedef struct ew_job {
  ew_operand in[3];
  int n_in;
  ls_op op;         /* LS_OP_COUNT: the tree is built by `build` instead */
  int swap;         /* read operands b, a (for > and >=) */
  ls_dtype t;       /* operation type */
  ls_dtype out_t;
  int out_buf;
  uint64_t out_off;
  int n_post;       /* immediates applied after */
  ls_op post[4];
  double post_imm[4];
  const ls_target *tg;
} ew_job;

static int ew_read(lo_group *g, const ew_job *j, int k, uint64_t first, uint32_t n, uint32_t lanes) {
  const ew_operand *o = &j->in[k];
  size_t sz = ls_dtype_size(o->t);
  if (o->splat) return lo_read(g, o->buf, o->off, n, 0, o->t, 0, 0);
  return lo_read(g, o->buf, o->off + first * sz, n, (int64_t)(j->tg->lanes * sz), o->t, lanes, 0);
}

static void ew_range(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes) {
  const ew_job *j = user;
  int v;
  if (j->op == LS_OP_COUNT) { /* a copy */
    v = ew_read(g, j, 0, first, n, lanes);
  } else if (j->op == LS_OP_CVT) {
    v = lo_cvt(g, j->t, j->out_t, ew_read(g, j, 0, first, n, lanes));
  } else {
    int a = LO_NONE, b = LO_NONE, cc = LO_NONE;
    if (j->n_in > 0) a = ew_read(g, j, j->swap ? 1 : 0, first, n, lanes);
    if (j->n_in > 1) b = ew_read(g, j, j->swap ? 0 : 1, first, n, lanes);
    if (j->n_in > 2) cc = ew_read(g, j, 2, first, n, lanes);
    v = lo_op(g, j->op, j->t, a, b, cc);
  }
  for (int p = 0; p < j->n_post; p++) v = lo_op_imm(g, j->post[p], j->out_t, v, j->post_imm[p]);
  lo_write(g, j->out_buf, j->out_off + first * ls_dtype_size(j->out_t), (int64_t)(j->tg->lanes * ls_dtype_size(j->out_t)),
           j->out_t, lanes, v);
}

static int operand_of(lctx *c, int t, const cg_tensor *y, ew_operand *o);
/* Make operand k of the node usable by a flat elementwise pass over output y. */
static int operand(lctx *c, int k, const cg_tensor *y, ew_operand *o) { return operand_of(c, tid(c, k), y, o); }

/* ... or tensor t */
static int operand_of(lctx *c, int t, const cg_tensor *y, ew_operand *o) {
  const cg_tensor *x = &c->g->tensors[t];
  o->t = x->dtype;
  o->off = 0;
  o->splat = 0;
  int same = x->rank == y->rank || elems(x) == elems(y);
  for (int d = 0; same && x->rank == y->rank && d < x->rank; d++) same = x->dims[d] == y->dims[d];
  if (same && elems(x) == elems(y)) {
    o->buf = buf_of(c, t);
    return 0;
  }
  size_t sz = ls_dtype_size(x->dtype);
  if (elems(x) == 1 && x->data) { /* a constant scalar: one splatted vector, read n times */
    if (c->splat[t] == LO_NONE) {
      uint8_t *v = malloc(L * sz);
      if (!v) return fail(c, "out of memory");
      for (uint32_t l = 0; l < L; l++) memcpy(v + l * sz, x->data, sz);
      char name[200];
      snprintf(name, sizeof name, "%s.splat", x->name);
      c->splat[t] = lo_buf_const(c->m, name, v, L * sz);
      free(v);
    }
    o->buf = c->splat[t];
    o->splat = 1;
    return 0;
  }
  /* broadcast: a constant is expanded here; a runtime tensor is gathered into a temporary */
  int64_t total = elems(y);
  int64_t *idx = malloc(sizeof *idx * (size_t)(total ? total : 1));
  if (!idx) return fail(c, "out of memory");
  cg_broadcast_index(x->rank, x->dims, y->rank, y->dims, idx);
  char name[200];
  snprintf(name, sizeof name, "%s.bcast", x->name);
  if (x->data) {
    uint8_t *v = malloc((size_t)total * sz);
    if (!v) return free(idx), fail(c, "out of memory");
    for (int64_t i = 0; i < total; i++) memcpy(v + (size_t)i * sz, x->data + (size_t)idx[i] * sz, sz);
    o->buf = lo_buf_const(c->m, name, v, (uint64_t)total * sz);
    free(v);
    free(idx);
    return 0;
  }
  int32_t *i32 = malloc(sizeof *i32 * (size_t)(total ? total : 1));
  if (!i32) return free(idx), fail(c, "out of memory");
  for (int64_t i = 0; i < total; i++) i32[i] = (int32_t)idx[i];
  free(idx);
  o->buf = lo_buf_new(c->m, name, (uint64_t)total * sz);
  int rc = lo_gather_copy(c->m, c->n->name, o->buf, 0, buf_of(c, t), 0, (uint64_t)elems(x), x->dtype, i32,
                          (uint64_t)total, c->err, c->errlen);
  free(i32);
  return rc;
}

static int lower_ew(lctx *c, ls_op op, int n_in, int swap) {
  const cg_tensor *y = &c->g->tensors[c->n->outputs[0]];
  ew_job j = {0};
  j.n_in = n_in;
  j.op = op;
  j.swap = swap;
  j.t = T(c, op == LS_OP_SEL ? 1 : 0)->dtype;
  j.out_t = y->dtype;
  j.tg = &c->m->t;
  for (int k = 0; k < n_in; k++)
    if (operand(c, k, y, &j.in[k])) return -1;
  j.out_buf = buf_of(c, c->n->outputs[0]);
  return lo_flat(c->m, c->n->name, (uint64_t)elems(y), ew_range, &j, c->err, c->errlen);
}

/* an elementwise op with immediates only (x op imm, ...) */
static int lower_imm(lctx *c, int n_post, const ls_op *ops, const double *imms, ls_op first) {
  const cg_tensor *y = &c->g->tensors[c->n->outputs[0]];
  ew_job j = {0};
  j.n_in = 1;
  j.op = first;
  j.t = j.out_t = y->dtype;
  j.tg = &c->m->t;
  if (operand(c, 0, y, &j.in[0])) return -1;
  j.n_post = n_post;
  for (int p = 0; p < n_post; p++) j.post[p] = ops[p], j.post_imm[p] = imms[p];
  j.out_buf = buf_of(c, c->n->outputs[0]);
  return lo_flat(c->m, c->n->name, (uint64_t)elems(y), ew_range, &j, c->err, c->errlen);
}

/* ---- elementwise expression trees ----------------------------------------------------------
 * A tree in prefix order over the node's operands, lowered as one flat pass: E_OP(op) takes
 * its operands from the tokens after it; E_IN(k) reads operand k (again at every use: a
 * stream has one consumer); E_IMM(op, v) applies an immediate op to the tree after it;
 * E_CONST(v) is v in every lane (a splat timed by a read of operand 0); E_CVT(t) converts
 * the tree after it to type t (LS_DTYPE_COUNT: the output's type; nothing if already so).
 * An op's type is its first operand's (SEL: its second's). */
enum { EX_OP, EX_IN, EX_IMM, EX_CONST, EX_CVT };
typedef struct ex_tok {
  uint8_t kind;
  ls_op op;
  int in;
  double imm;
  ls_dtype t;
} ex_tok;
#define E_OP(o) ((ex_tok){EX_OP, (o), 0, 0, LS_DTYPE_COUNT})
#define E_IN(k) ((ex_tok){EX_IN, LS_OP_COUNT, (k), 0, LS_DTYPE_COUNT})
#define E_IMM(o, v) ((ex_tok){EX_IMM, (o), 0, (v), LS_DTYPE_COUNT})
#define E_CONST(v) ((ex_tok){EX_CONST, LS_OP_SPLAT, 0, (v), LS_DTYPE_COUNT})
#define E_CONST_T(v, ty) ((ex_tok){EX_CONST, LS_OP_SPLAT, 0, (v), (ty)})
#define E_CVT(ty) ((ex_tok){EX_CVT, LS_OP_CVT, 0, 0, (ty)})
#define EX_MAX 96

typedef struct ex_job {
  ew_operand in[8];
  int n_in;
  ex_tok tok[EX_MAX];
  int n_tok;
  ls_dtype out_t, const_t; /* const_t: the type of E_CONST without one (the first operand's) */
  int out_buf;
  const ls_target *tg;
  /* while building */
  lo_group *g;
  uint64_t first;
  uint32_t n, lanes;
  int pos;
} ex_job;

static int ex_read(ex_job *j, int k) {
  const ew_operand *o = &j->in[k];
  size_t sz = ls_dtype_size(o->t);
  if (o->splat) return lo_read(j->g, o->buf, o->off, j->n, 0, o->t, 0, 0);
  return lo_read(j->g, o->buf, o->off + j->first * sz, j->n, (int64_t)(j->tg->lanes * sz), o->t, j->lanes, 0);
}

static int ex_build(ex_job *j, ls_dtype *t) {
  const ex_tok *k = &j->tok[j->pos++];
  int a, b = LO_NONE, cc = LO_NONE;
  ls_dtype ta, tb = LS_DTYPE_COUNT;
  switch (k->kind) {
  case EX_IN:
    *t = j->in[k->in].t;
    return ex_read(j, k->in);
  case EX_CONST:
    *t = k->t == LS_DTYPE_COUNT ? j->const_t : k->t;
    return lo_op_imm(j->g, LS_OP_SPLAT, *t, ex_read(j, 0), k->imm);
  case EX_CVT: {
    ls_dtype to = k->t == LS_DTYPE_COUNT ? j->out_t : k->t;
    a = ex_build(j, &ta);
    *t = to;
    return ta == to ? a : lo_cvt(j->g, ta, to, a);
  }
  case EX_IMM:
    a = ex_build(j, &ta);
    *t = ta;
    return lo_op_imm(j->g, k->op, ta, a, k->imm);
  default: break;
  }
  const ls_format f = ls_ops[k->op].format;
  a = ex_build(j, &ta);
  if (f == LS_FMT_BIN || f == LS_FMT_TER) b = ex_build(j, &tb);
  if (f == LS_FMT_TER) {
    ls_dtype tc;
    cc = ex_build(j, &tc);
  }
  ls_dtype opt = k->op == LS_OP_SEL ? tb : ta;
  *t = k->op == LS_OP_EQ || k->op == LS_OP_NE || k->op == LS_OP_LT || k->op == LS_OP_LE ? LS_BOOL : opt;
  return lo_op(j->g, k->op, opt, a, b, cc);
}

static void ex_range(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes) {
  ex_job *j = user;
  j->g = g, j->first = first, j->n = n, j->lanes = lanes, j->pos = 0;
  ls_dtype t;
  int v = ex_build(j, &t);
  if (t != j->out_t) v = lo_cvt(g, t, j->out_t, v);
  lo_write(g, j->out_buf, first * ls_dtype_size(j->out_t), (int64_t)(j->tg->lanes * ls_dtype_size(j->out_t)), j->out_t,
           lanes, v);
}

/* the node's output 0 = the tree over its inputs (broadcast to the output's shape) and
 * `extra` operands (E_IN(4 + i)) */
/* the node's output 0 = j's expression, one flat pass; frees j */
static int flat_expr(lctx *c, ex_job *j, ls_dtype const_t) {
  const cg_tensor *y = &c->g->tensors[c->n->outputs[0]];
  j->out_t = y->dtype;
  j->const_t = const_t;
  j->out_buf = buf_of(c, c->n->outputs[0]);
  j->tg = &c->m->t;
  int rc = lo_flat(c->m, c->n->name, (uint64_t)elems(y), ex_range, j, c->err, c->errlen);
  free(j);
  return rc;
}

static int lower_expr_with(lctx *c, const ex_tok *tok, int n_tok, const ew_operand *extra, int n_extra) {
  const cg_tensor *y = &c->g->tensors[c->n->outputs[0]];
  ex_job *j = calloc(1, sizeof *j);
  if (!j || n_tok > EX_MAX) return free(j), fail(c, "out of memory");
  for (int k = 0; k < c->n->n_inputs && k < (n_extra ? 4 : 8); k++) {
    if (!T(c, k)) continue;
    if (operand(c, k, y, &j->in[k])) return free(j), -1;
    j->n_in = k + 1;
  }
  for (int k = 0; k < n_extra && k < 4; k++) j->in[4 + k] = extra[k], j->n_in = 5 + k;
  memcpy(j->tok, tok, sizeof *tok * (size_t)n_tok);
  j->n_tok = n_tok;
  return flat_expr(c, j, T(c, 0)->dtype);
}
static int lower_expr(lctx *c, const ex_tok *tok, int n_tok) { return lower_expr_with(c, tok, n_tok, NULL, 0); }
#define EXPR(...)                                              \
  do {                                                         \
    const ex_tok tk_[] = {__VA_ARGS__};                        \
    return lower_expr(c, tk_, (int)(sizeof tk_ / sizeof *tk_)); \
  } while (0)

/* copy tensor src into tensor dst's buffer (graph outputs that alias something else) */
static int copy_tensor(lctx *c, int src, int dst_buf) {
  const cg_tensor *x = &c->g->tensors[src];
  ew_job j = {0};
  j.op = LS_OP_COUNT;
  j.in[0] = (ew_operand){buf_of(c, src), 0, 0, x->dtype};
  j.n_in = 1;
  j.t = j.out_t = x->dtype;
  j.out_buf = dst_buf;
  j.tg = &c->m->t;
  return lo_flat(c->m, x->name, (uint64_t)elems(x), ew_range, &j, c->err, c->errlen);
}

/* ---- data movement by index tables --------------------------------------------------------- */

/* y[i] = x[idx[i]] (idx -1: zero) with idx from the caller */
static int lower_gather_table(lctx *c, int src_t, int dst_buf, const int32_t *idx, uint64_t count) {
  const cg_tensor *x = &c->g->tensors[src_t];
  return lo_gather_copy(c->m, c->n->name, dst_buf, 0, buf_of(c, src_t), 0, (uint64_t)elems(x), x->dtype, idx, count,
                        c->err, c->errlen);
}

static void strides_of(const cg_tensor *x, int64_t *st) {
  int64_t s = 1;
  for (int d = x->rank - 1; d >= 0; d--) st[d] = s, s *= x->dims[d];
}

/* Transpose, Slice and Gather with constant indices: the source element of every output */
static int lower_index(lctx *c) {
  const cg_tensor *x = T(c, 0), *y = &c->g->tensors[c->n->outputs[0]];
  const char *op = c->n->op;
  int64_t total = elems(y), xs[LS_MAX_RANK], coord[LS_MAX_RANK] = {0};
  strides_of(x, xs);
  int32_t *idx = malloc(sizeof *idx * (size_t)(total ? total : 1));
  if (!idx) return fail(c, "out of memory");
  int64_t start[LS_MAX_RANK], step[LS_MAX_RANK], perm[LS_MAX_RANK];
  for (int d = 0; d < x->rank; d++) start[d] = 0, step[d] = 1, perm[d] = x->rank - 1 - d;
  int axis = 0;
  const cg_tensor *ix = NULL;
  if (!strcmp(op, "Transpose")) {
    int n = 0;
    const int64_t *pv = cg_attr_ints(c->n, "perm", &n);
    if (pv && n == x->rank) memcpy(perm, pv, sizeof *pv * (size_t)n);
  } else if (!strcmp(op, "Slice")) {
    if (cg_slice_params(c->g, c->n, x->rank, x->dims, start, step)) {
      free(idx);
      return fail(c, "Slice's starts, ends, axes and steps must be constants");
    }
  } else { /* Gather */
    ix = T(c, 1);
    axis = (int)cg_attr_int(c->n, "axis", 0);
    if (axis < 0) axis += x->rank;
  }
  for (int64_t i = 0; i < total; i++) {
    int64_t k = 0;
    if (!strcmp(op, "Transpose")) {
      for (int d = 0; d < y->rank; d++) k += coord[d] * xs[perm[d]];
    } else if (!strcmp(op, "Slice")) {
      for (int d = 0; d < y->rank; d++) k += (start[d] + coord[d] * step[d]) * xs[d];
    } else {
      int64_t ii = 0, is = 1;
      for (int d = axis + ix->rank - 1; d >= axis; d--) ii += coord[d] * is, is *= y->dims[d];
      int64_t j = cg_const_int(ix, ii);
      if (j < 0) j += x->dims[axis];
      if (j < 0 || j >= x->dims[axis]) {
        free(idx);
        return fail(c, "an index is out of range");
      }
      for (int d = 0; d < axis; d++) k += coord[d] * xs[d];
      k += j * xs[axis];
      for (int d = axis + 1; d < x->rank; d++) k += coord[d + ix->rank - 1] * xs[d];
    }
    idx[i] = (int32_t)k;
    for (int d = y->rank - 1; d >= 0; d--) {
      if (++coord[d] < y->dims[d]) break;
      coord[d] = 0;
    }
  }
  int rc = lower_gather_table(c, tid(c, 0), buf_of(c, c->n->outputs[0]), idx, (uint64_t)total);
  free(idx);
  return rc;
}

/* ---- reductions over gathered rows ---------------------------------------------------------
 * G[r][q] (R rows of Q values) is reduced over r, block by block of L columns. */

typedef struct red_job {
  int gbuf, out_buf;
  uint32_t R;
  uint64_t Q;
  ls_op op;        /* VSUM or VMAX; MUL or MIN: a chain over the rows */
  double scale;    /* 1: none */
  ls_dtype t;
  ls_op pre, post; /* LS_OP_COUNT: none; pre MUL: squared */
} red_job;

static int lower_reduce_rows(lctx *c, const red_job *j) {
  const uint64_t blocks = (j->Q + L - 1) / L;
  const size_t sz = ls_dtype_size(j->t);
  const int chain = j->op == LS_OP_MUL || j->op == LS_OP_MIN;
  if (chain && j->R > 256) return fail(c, "a product or minimum over more than 256 values is not supported");
  for (uint64_t b = 0; b < blocks; b++) {
    uint32_t lanes = b + 1 == blocks && j->Q % L ? (uint32_t)(j->Q % L) : 0;
    lo_group *g = lo_group_new(c->m, c->n->name);
    int v;
    if (chain) {
      v = lo_read(g, j->gbuf, b * L * sz, 1, 0, j->t, lanes, 0);
      for (uint32_t r = 1; r < j->R; r++)
        v = lo_op(g, j->op, j->t, v, lo_read(g, j->gbuf, (r * j->Q + b * L) * sz, 1, 0, j->t, lanes, 0), LO_NONE);
    } else {
      v = lo_read(g, j->gbuf, b * L * sz, j->R, (int64_t)(j->Q * sz), j->t, lanes, 0);
      if (j->pre == LS_OP_MUL)
        v = lo_op(g, LS_OP_MUL, j->t, v, lo_read(g, j->gbuf, b * L * sz, j->R, (int64_t)(j->Q * sz), j->t, lanes, 0), LO_NONE);
      else if (j->pre != LS_OP_COUNT && j->pre != 0)
        v = lo_op(g, j->pre, j->t, v, LO_NONE, LO_NONE);
      v = lo_op(g, j->op, j->t, v, LO_NONE, LO_NONE);
    }
    if (j->scale != 1.0) v = lo_op_imm(g, LS_OP_MULS, j->t, v, j->scale);
    if (j->post != LS_OP_COUNT && j->post != 0) v = lo_op(g, j->post, j->t, v, LO_NONE, LO_NONE);
    lo_write(g, j->out_buf, b * L * sz, (int64_t)(L * sz), j->t, lanes, v);
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return -1;
  }
  return 0;
}

/* The table putting reduced axes (mask) in rows and kept axes in columns. */
static int32_t *reduce_table(const cg_tensor *x, const int *mask, uint32_t *R, uint64_t *Q) {
  int64_t xs[LS_MAX_RANK];
  strides_of(x, xs);
  uint64_t r = 1, q = 1;
  for (int d = 0; d < x->rank; d++) {
    if (mask[d]) r *= (uint64_t)x->dims[d];
    else q *= (uint64_t)x->dims[d];
  }
  int32_t *idx = malloc(sizeof *idx * (size_t)(r * q > 0 ? r * q : 1));
  if (!idx) return NULL;
  int64_t coord[LS_MAX_RANK] = {0};
  for (uint64_t i = 0; i < r * q; i++) {
    /* i enumerates x in row-major order; place it at (row of its reduced coords, column of its kept coords) */
    uint64_t row = 0, col = 0;
    for (int d = 0; d < x->rank; d++) {
      if (mask[d]) row = row * (uint64_t)x->dims[d] + (uint64_t)coord[d];
      else col = col * (uint64_t)x->dims[d] + (uint64_t)coord[d];
    }
    idx[row * q + col] = (int32_t)i;
    for (int d = x->rank - 1; d >= 0; d--) {
      if (++coord[d] < x->dims[d]) break;
      coord[d] = 0;
    }
  }
  *R = (uint32_t)r;
  *Q = q;
  return idx;
}

static int lower_reduce(lctx *c) {
  const cg_tensor *x = T(c, 0);
  const char *op = c->n->op;
  int mask[LS_MAX_RANK] = {0}, any = 0;
  if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool")) {
    for (int d = 2; d < x->rank; d++) mask[d] = 1;
  } else {
    int na = 0;
    const int64_t *ax = cg_attr_ints(c->n, "axes", &na);
    const cg_tensor *at = T(c, 1);
    for (int i = 0; at ? i < elems(at) : i < na; i++) {
      int64_t a = at ? cg_const_int(at, i) : ax[i];
      mask[a < 0 ? a + x->rank : a] = 1;
      any = 1;
    }
    if (!any && !cg_attr_int(c->n, "noop_with_empty_axes", 0))
      for (int d = 0; d < x->rank; d++) mask[d] = 1;
  }
  cg_tensor xv = *x; /* an NHWC input (a global pooling): the same reduction over its own axes */
  if (c->nhwc[tid(c, 0)]) {
    xv.dims[1] = x->dims[2], xv.dims[2] = x->dims[3], xv.dims[3] = x->dims[1];
    mask[1] = mask[2] = 1, mask[3] = 0;
  }
  uint32_t R;
  uint64_t Q;
  int32_t *idx = reduce_table(&xv, mask, &R, &Q);
  if (!idx) return fail(c, "out of memory");
  char name[200];
  snprintf(name, sizeof name, "%s.rows", c->n->name);
  int gb = lo_buf_new(c->m, name, (uint64_t)R * Q * ls_dtype_size(x->dtype));
  int rc = lower_gather_table(c, tid(c, 0), gb, idx, (uint64_t)R * Q);
  free(idx);
  if (rc) return rc;
  int is_max = !strcmp(op, "ReduceMax") || !strcmp(op, "GlobalMaxPool");
  red_job j = {gb, buf_of(c, c->n->outputs[0]), R, Q, is_max ? LS_OP_VMAX : LS_OP_VSUM, 1.0, x->dtype, LS_OP_COUNT, LS_OP_COUNT};
  if (!strcmp(op, "ReduceMean") || !strcmp(op, "GlobalAveragePool")) j.scale = 1.0 / R;
  if (!strcmp(op, "ReduceMin")) j.op = LS_OP_MIN;
  if (!strcmp(op, "ReduceProd")) j.op = LS_OP_MUL;
  if (!strcmp(op, "ReduceL1")) j.pre = LS_OP_ABS;
  if (!strcmp(op, "ReduceL2") || !strcmp(op, "ReduceSumSquare")) j.pre = LS_OP_MUL;
  if (!strcmp(op, "ReduceL2")) j.post = LS_OP_SQRT;
  if (!strcmp(op, "ReduceLogSum")) j.post = LS_OP_LOG;
  if (!strcmp(op, "ReduceLogSumExp")) j.pre = LS_OP_EXP, j.post = LS_OP_LOG;
  if ((j.pre == LS_OP_EXP || j.post != LS_OP_COUNT) && ls_dtype_class(x->dtype) != 'F')
    return fail(c, "this reduction is supported for float types");
  if (R == 0) return fail(c, "a reduction over no elements is not supported");
  return lower_reduce_rows(c, &j);
}

/* Softmax: rows gathered so the softmax axis runs down the rows of G[R][Q]; per block of
 * L columns: max, exp(x - max), sum, divide; then gathered back. */
static int softmax_rows(lctx *c, int xt, const int *mask, int is_log, int dst_buf) {
  const cg_tensor *x = &c->g->tensors[xt];
  if (x->dtype != LS_F32) return fail(c, "Softmax is supported for f32");
  uint32_t R;
  uint64_t Q;
  int32_t *idx = reduce_table(x, mask, &R, &Q);
  if (!idx) return fail(c, "out of memory");
  const uint64_t RQ = (uint64_t)R * Q;
  char name[200];
  snprintf(name, sizeof name, "%s.rows", c->n->name);
  int gb = lo_buf_new(c->m, name, RQ * 4);
  snprintf(name, sizeof name, "%s.exp", c->n->name);
  int eb = lo_buf_new(c->m, name, RQ * 4);
  const uint64_t blocks = (Q + L - 1) / L;
  snprintf(name, sizeof name, "%s.stat", c->n->name);
  int sb = lo_buf_new(c->m, name, blocks * L * 4 * 2);
  if (lower_gather_table(c, xt, gb, idx, RQ)) return free(idx), -1;
  for (uint64_t b = 0; b < blocks; b++) {
    uint32_t lanes = b + 1 == blocks && Q % L ? (uint32_t)(Q % L) : 0;
    const uint64_t col = b * L * 4, mx = b * 2 * L * 4, sm = mx + L * 4;
    const int64_t rs = (int64_t)(Q * 4);
    lo_group *g = lo_group_new(c->m, c->n->name);
    lo_write(g, sb, mx, 0, LS_F32, 0, lo_op(g, LS_OP_VMAX, LS_F32, lo_read(g, gb, col, R, rs, LS_F32, lanes, 0), LO_NONE, LO_NONE));
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return free(idx), -1;
    g = lo_group_new(c->m, c->n->name);
    int d = lo_op(g, LS_OP_SUB, LS_F32, lo_read(g, gb, col, R, rs, LS_F32, lanes, 0), lo_read(g, sb, mx, R, 0, LS_F32, 0, 0), LO_NONE);
    lo_write(g, eb, col, rs, LS_F32, lanes, lo_op(g, LS_OP_EXP, LS_F32, d, LO_NONE, LO_NONE));
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return free(idx), -1;
    g = lo_group_new(c->m, c->n->name);
    lo_write(g, sb, sm, 0, LS_F32, 0, lo_op(g, LS_OP_VSUM, LS_F32, lo_read(g, eb, col, R, rs, LS_F32, lanes, 0), LO_NONE, LO_NONE));
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return free(idx), -1;
    g = lo_group_new(c->m, c->n->name);
    int q;
    if (is_log) { /* (x - max) - log(sum) */
      q = lo_op(g, LS_OP_SUB, LS_F32, lo_read(g, gb, col, R, rs, LS_F32, lanes, 0), lo_read(g, sb, mx, R, 0, LS_F32, 0, 0), LO_NONE);
      q = lo_op(g, LS_OP_SUB, LS_F32, q, lo_op(g, LS_OP_LOG, LS_F32, lo_read(g, sb, sm, R, 0, LS_F32, 0, 0), LO_NONE, LO_NONE), LO_NONE);
      lo_write(g, eb, col, rs, LS_F32, lanes, q);
    } else {
      q = lo_op(g, LS_OP_DIV, LS_F32, lo_read(g, eb, col, R, rs, LS_F32, lanes, 0), lo_read(g, sb, sm, R, 0, LS_F32, 0, 0), LO_NONE);
      lo_write(g, gb, col, rs, LS_F32, lanes, q);
    }
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return free(idx), -1;
  }
  /* back: out[i] sits at G[row][col] where idx[row*Q+col] == i */
  int32_t *inv = malloc(sizeof *inv * (size_t)(RQ ? RQ : 1));
  if (!inv) return free(idx), fail(c, "out of memory");
  for (uint64_t k = 0; k < RQ; k++) inv[idx[k]] = (int32_t)k;
  free(idx);
  int rc = lo_gather_copy(c->m, c->n->name, dst_buf, 0, is_log ? eb : gb, 0, RQ, LS_F32, inv, RQ, c->err, c->errlen);
  free(inv);
  return rc;
}

/* The row of the first (last) largest value of each column of G[R][Q] (t), as i32 into
 * am_buf: per block of L columns the max, then max over rows of (G == max ? -r : -R) (for
 * the last: r : -1), negated. `neg`: of -G, for the smallest. */
static int argmax_rows(lctx *c, int gb, uint32_t R, uint64_t Q, ls_dtype t, int neg, int last, int am_buf) {
  const size_t sz = ls_dtype_size(t);
  const uint64_t blocks = (Q + L - 1) / L;
  char name[200];
  int32_t *rows = malloc(sizeof *rows * (size_t)R * L);
  if (!rows) return fail(c, "out of memory");
  for (uint32_t r = 0; r < R; r++)
    for (uint32_t l = 0; l < L; l++) rows[(size_t)r * L + l] = last ? (int32_t)r : -(int32_t)r;
  snprintf(name, sizeof name, "%s.rowidx", c->n->name);
  int rb = lo_buf_const(c->m, name, rows, (uint64_t)R * L * 4);
  free(rows);
  snprintf(name, sizeof name, "%s.max", c->n->name);
  int mb = lo_buf_new(c->m, name, blocks * L * sz);
  const int64_t rs = (int64_t)(Q * sz);
  for (uint64_t b = 0; b < blocks; b++) {
    uint32_t lanes = b + 1 == blocks && Q % L ? (uint32_t)(Q % L) : 0;
    const uint64_t col = b * L * sz;
    lo_group *g = lo_group_new(c->m, c->n->name);
    int v = lo_read(g, gb, col, R, rs, t, lanes, 0);
    if (neg) v = lo_op(g, LS_OP_NEG, t, v, LO_NONE, LO_NONE);
    lo_write(g, mb, col, 0, t, 0, lo_op(g, LS_OP_VMAX, t, v, LO_NONE, LO_NONE));
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return -1;
    g = lo_group_new(c->m, c->n->name);
    v = lo_read(g, gb, col, R, rs, t, lanes, 0);
    if (neg) v = lo_op(g, LS_OP_NEG, t, v, LO_NONE, LO_NONE);
    int eq = lo_op(g, LS_OP_EQ, t, v, lo_read(g, mb, col, R, 0, t, 0, 0), LO_NONE);
    int ri = lo_read(g, rb, 0, R, (int64_t)L * 4, LS_I32, 0, 0);
    int none = lo_op_int(g, LS_OP_SPLAT, LS_I32, lo_read(g, rb, 0, R, (int64_t)L * 4, LS_I32, 0, 0), last ? -1 : -(int64_t)R);
    v = lo_op(g, LS_OP_VMAX, LS_I32, lo_op(g, LS_OP_SEL, LS_I32, eq, ri, none), LO_NONE, LO_NONE);
    if (!last) v = lo_op(g, LS_OP_NEG, LS_I32, v, LO_NONE, LO_NONE);
    lo_write(g, am_buf, b * L * 4, 0, LS_I32, lanes, v);
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return -1;
  }
  return 0;
}

/* CumSum: row k of G[A][total] holds x at position k along the axis where it counts toward
 * y[i] (else 0); y is the sum over the rows */
static int lower_cumsum(lctx *c) {
  const cg_tensor *x = T(c, 0), *ax = T(c, 1);
  if (!ax || !ax->data) return fail(c, "the axis must be a constant");
  int axis = (int)cg_const_int(ax, 0);
  if (axis < 0) axis += x->rank;
  if (axis < 0 || axis >= x->rank) return fail(c, "axis out of range");
  const int excl = (int)cg_attr_int(c->n, "exclusive", 0), rev = (int)cg_attr_int(c->n, "reverse", 0);
  int64_t xs[LS_MAX_RANK];
  strides_of(x, xs);
  const int64_t A = x->dims[axis], total = elems(x);
  if (A * total > (int64_t)1 << 26) return fail(c, "too large");
  int32_t *idx = malloc(sizeof *idx * (size_t)(A * total > 0 ? A * total : 1));
  if (!idx) return fail(c, "out of memory");
  for (int64_t i = 0; i < total; i++) {
    int64_t a = i / xs[axis] % A, rest = i - a * xs[axis];
    for (int64_t k = 0; k < A; k++) {
      int in = rev ? (excl ? k > a : k >= a) : (excl ? k < a : k <= a);
      idx[k * total + i] = in ? (int32_t)(rest + k * xs[axis]) : -1;
    }
  }
  char name[200];
  snprintf(name, sizeof name, "%s.rows", c->n->name);
  int gb = lo_buf_new(c->m, name, (uint64_t)(A * total) * ls_dtype_size(x->dtype));
  int rc = lower_gather_table(c, tid(c, 0), gb, idx, (uint64_t)(A * total));
  free(idx);
  if (rc) return rc;
  red_job j = {gb, buf_of(c, c->n->outputs[0]), (uint32_t)A, (uint64_t)total, LS_OP_VSUM, 1.0, x->dtype, LS_OP_COUNT, LS_OP_COUNT};
  return lower_reduce_rows(c, &j);
}

/* ArgMax, ArgMin: the rows gathered, argmax_rows, widened to i64 */
static int lower_argmax(lctx *c) {
  const cg_tensor *x = T(c, 0);
  int axis = (int)cg_attr_int(c->n, "axis", 0);
  if (axis < 0) axis += x->rank;
  int mask[LS_MAX_RANK] = {0};
  mask[axis] = 1;
  uint32_t R;
  uint64_t Q;
  int32_t *idx = reduce_table(x, mask, &R, &Q);
  if (!idx) return fail(c, "out of memory");
  if (R == 0) return free(idx), fail(c, "an ArgMax over an empty axis");
  char name[200];
  snprintf(name, sizeof name, "%s.rows", c->n->name);
  int gb = lo_buf_new(c->m, name, (uint64_t)R * Q * ls_dtype_size(x->dtype));
  int rc = lower_gather_table(c, tid(c, 0), gb, idx, (uint64_t)R * Q);
  free(idx);
  if (rc) return rc;
  snprintf(name, sizeof name, "%s.am", c->n->name);
  int am = lo_buf_new(c->m, name, ((Q + L - 1) / L) * L * 4);
  if (argmax_rows(c, gb, R, Q, x->dtype, !strcmp(c->n->op, "ArgMin"), (int)cg_attr_int(c->n, "select_last_index", 0), am))
    return -1;
  ew_job j = {0};
  j.n_in = 1, j.op = LS_OP_CVT, j.t = LS_I32, j.out_t = LS_I64, j.tg = &c->m->t;
  j.in[0] = (ew_operand){am, 0, 0, LS_I32};
  j.out_buf = buf_of(c, c->n->outputs[0]);
  return lo_flat(c->m, c->n->name, Q, ew_range, &j, c->err, c->errlen);
}

/* The axes Softmax, LogSoftmax and Hardmax work along: the axis attribute, and before opset
 * 13 everything from it on (the trailing block taken as one axis). */
static void softmax_axes(const lctx *c, const cg_tensor *x, int *mask) {
  int axis = (int)cg_attr_int(c->n, "axis", c->g->opset >= 13 ? -1 : 1);
  if (axis < 0) axis += x->rank;
  memset(mask, 0, sizeof(int) * LS_MAX_RANK);
  if (c->g->opset >= 13) mask[axis] = 1;
  else
    for (int d = axis; d < x->rank; d++) mask[d] = 1;
}

/* Hardmax: 1 at the first largest value along the axis, else 0 */
static int lower_hardmax(lctx *c) {
  const cg_tensor *x = T(c, 0);
  int mask[LS_MAX_RANK];
  softmax_axes(c, x, mask);
  uint32_t R;
  uint64_t Q;
  int32_t *idx = reduce_table(x, mask, &R, &Q);
  if (!idx) return fail(c, "out of memory");
  const uint64_t RQ = (uint64_t)R * Q;
  const size_t sz = ls_dtype_size(x->dtype);
  char name[200];
  snprintf(name, sizeof name, "%s.rows", c->n->name);
  int gb = lo_buf_new(c->m, name, RQ * sz);
  snprintf(name, sizeof name, "%s.am", c->n->name);
  int am = lo_buf_new(c->m, name, ((Q + L - 1) / L) * L * 4);
  snprintf(name, sizeof name, "%s.onehot", c->n->name);
  int hb = lo_buf_new(c->m, name, RQ * sz);
  int32_t *rows = malloc(sizeof *rows * (size_t)R * L);
  if (!rows) return free(idx), fail(c, "out of memory");
  for (uint32_t r = 0; r < R; r++)
    for (uint32_t l = 0; l < L; l++) rows[(size_t)r * L + l] = (int32_t)r;
  snprintf(name, sizeof name, "%s.rownum", c->n->name);
  int rb = lo_buf_const(c->m, name, rows, (uint64_t)R * L * 4);
  free(rows);
  if (lower_gather_table(c, tid(c, 0), gb, idx, RQ) || argmax_rows(c, gb, R, Q, x->dtype, 0, 0, am)) return free(idx), -1;
  const uint64_t blocks = (Q + L - 1) / L;
  for (uint64_t b = 0; b < blocks; b++) {
    uint32_t lanes = b + 1 == blocks && Q % L ? (uint32_t)(Q % L) : 0;
    lo_group *g = lo_group_new(c->m, c->n->name);
    int eq = lo_op(g, LS_OP_EQ, LS_I32, lo_read(g, rb, 0, R, (int64_t)L * 4, LS_I32, 0, 0), lo_read(g, am, b * L * 4, R, 0, LS_I32, 0, 0),
                   LO_NONE);
    lo_write(g, hb, b * L * sz, (int64_t)(Q * sz), x->dtype, lanes, lo_cvt(g, LS_BOOL, x->dtype, eq));
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return free(idx), -1;
  }
  int32_t *inv = malloc(sizeof *inv * (size_t)(RQ ? RQ : 1));
  if (!inv) return free(idx), fail(c, "out of memory");
  for (uint64_t k = 0; k < RQ; k++) inv[idx[k]] = (int32_t)k;
  free(idx);
  int rc = lo_gather_copy(c->m, c->n->name, buf_of(c, c->n->outputs[0]), 0, hb, 0, RQ, x->dtype, inv, RQ, c->err, c->errlen);
  free(inv);
  return rc;
}

static int lower_softmax(lctx *c) {
  int mask[LS_MAX_RANK];
  softmax_axes(c, T(c, 0), mask);
  return softmax_rows(c, tid(c, 0), mask, !strcmp(c->n->op, "LogSoftmax"), buf_of(c, c->n->outputs[0]));
}

/* ---- losses -----------------------------------------------------------------------------------
 * NegativeLogLikelihoodLoss over x (N, C, d...) and a target (N, d...) known at run time:
 * per target element, the gather index n*C*D + t*D + d is computed on the VXM (a constant
 * base plus t*D), loss = -x[index] * w[t] (0 where t is ignore_index); then none, sum or
 * mean (the sum of losses over the sum of the weights taken). */
typedef struct nll_job {
  int x_buf, t_buf, base_buf, w_buf, loss_buf, wsum_buf;
  uint32_t x_elems, w_elems;
  int64_t D, ignore;
  int has_ignore;
  ls_dtype xt, tt;
  const ls_target *tg;
} nll_job;

/* elements [first, first + n*L) of an integer tensor in buf, as an i32 index stream */
static int read_index(lo_group *g, const ls_target *tg, int buf, ls_dtype t, uint64_t first, uint32_t n, uint32_t lanes) {
  const size_t sz = ls_dtype_size(t);
  int v = lo_read(g, buf, first * sz, n, (int64_t)(tg->lanes * sz), t, lanes, 0);
  return t == LS_I32 ? v : lo_cvt(g, t, LS_I32, v);
}

static int nll_target(lo_group *g, const nll_job *j, uint64_t first, uint32_t n, uint32_t lanes) {
  return read_index(g, j->tg, j->t_buf, j->tt, first, n, lanes);
}

/* w[t], or 1; 0 where t is ignore_index */
static int nll_weight(lo_group *g, const nll_job *j, uint64_t first, uint32_t n, uint32_t lanes) {
  int w;
  if (j->w_buf != LO_NONE) w = lo_gather(g, j->w_buf, 0, j->w_elems, j->xt, nll_target(g, j, first, n, lanes));
  else w = lo_op_imm(g, LS_OP_SPLAT, j->xt, nll_target(g, j, first, n, lanes), 1);
  if (j->has_ignore) {
    const size_t ts = ls_dtype_size(j->tt);
    int t = lo_read(g, j->t_buf, first * ts, n, (int64_t)(j->tg->lanes * ts), j->tt, lanes, 0);
    int ii = lo_op_imm(g, LS_OP_SPLAT, j->tt, lo_read(g, j->t_buf, first * ts, n, (int64_t)(j->tg->lanes * ts), j->tt, lanes, 0),
                       (double)j->ignore);
    int keep = lo_op(g, LS_OP_NE, j->tt, t, ii, LO_NONE);
    w = lo_op(g, LS_OP_SEL, j->xt, keep, w, lo_op_imm(g, LS_OP_SPLAT, j->xt, nll_target(g, j, first, n, lanes), 0));
  }
  return w;
}

static void nll_range(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes) {
  const nll_job *j = user;
  const size_t xs = ls_dtype_size(j->xt);
  const int64_t vb = (int64_t)j->tg->lanes;
  int idx = lo_op_int(g, LS_OP_MULS, LS_I32, nll_target(g, j, first, n, lanes), j->D);
  idx = lo_op(g, LS_OP_ADD, LS_I32, idx, lo_read(g, j->base_buf, first * 4, n, vb * 4, LS_I32, lanes, 0), LO_NONE);
  int v = lo_op(g, LS_OP_NEG, j->xt, lo_gather(g, j->x_buf, 0, j->x_elems, j->xt, idx), LO_NONE, LO_NONE);
  v = lo_op(g, LS_OP_MUL, j->xt, v, nll_weight(g, j, first, n, lanes), LO_NONE);
  lo_write(g, j->loss_buf, first * xs, vb * (int64_t)xs, j->xt, lanes, v);
  if (j->wsum_buf != LO_NONE) lo_write(g, j->wsum_buf, first * xs, vb * (int64_t)xs, j->xt, lanes, nll_weight(g, j, first, n, lanes));
}

/* the sum of count elements of buf as one vector (lane 0 holds it) */
static int sum_all(lo_group *g, int buf, uint64_t count, ls_dtype t, uint32_t L_) {
  const size_t sz = ls_dtype_size(t);
  const uint64_t full = count / L_, tail = count % L_;
  int v = LO_NONE;
  if (full) v = lo_op(g, LS_OP_VSUM, t, lo_read(g, buf, 0, (uint32_t)full, (int64_t)(L_ * sz), t, 0, 0), LO_NONE, LO_NONE);
  if (tail) {
    int r = lo_read(g, buf, full * L_ * sz, 1, 0, t, (uint32_t)tail, 0);
    v = v == LO_NONE ? r : lo_op(g, LS_OP_ADD, t, v, r, LO_NONE);
  }
  return lo_op(g, LS_OP_LSUM, t, v, LO_NONE, LO_NONE);
}

static int nll_core(lctx *c, int x_buf, const cg_tensor *x, int tt, int wt, int out_buf) {
  const cg_tensor *tg = &c->g->tensors[tt];
  if (ls_dtype_class(x->dtype) != 'F' || ls_dtype_class(tg->dtype) == 'F') return fail(c, "expected float scores and integer targets");
  const char *red = cg_attr_string(c->n, "reduction", "mean");
  const int64_t C = x->dims[1], Nt = elems(tg), D = Nt / (x->dims[0] ? x->dims[0] : 1);
  if ((uint64_t)elems(x) > INT32_MAX) return fail(c, "too large to index");
  nll_job j = {x_buf, buf_of(c, tt), LO_NONE, wt == CG_NONE ? LO_NONE : buf_of(c, wt), LO_NONE, LO_NONE, (uint32_t)elems(x),
               (uint32_t)C, D, cg_attr_int(c->n, "ignore_index", 0), cg_attr_find(c->n, "ignore_index") != NULL,
               x->dtype, tg->dtype, &c->m->t};
  int32_t *base = malloc(sizeof *base * (size_t)(Nt ? Nt : 1));
  if (!base) return fail(c, "out of memory");
  for (int64_t i = 0; i < Nt; i++) base[i] = (int32_t)(i / D * C * D + i % D);
  char name[200];
  snprintf(name, sizeof name, "%s.base", c->n->name);
  j.base_buf = lo_buf_const(c->m, name, base, (uint64_t)Nt * 4);
  free(base);
  const size_t xs = ls_dtype_size(x->dtype);
  const int none = !strcmp(red, "none"), mean = !strcmp(red, "mean");
  if (none) j.loss_buf = out_buf;
  else {
    snprintf(name, sizeof name, "%s.loss", c->n->name);
    j.loss_buf = lo_buf_new(c->m, name, (uint64_t)Nt * xs);
  }
  if (mean) {
    snprintf(name, sizeof name, "%s.weights", c->n->name);
    j.wsum_buf = lo_buf_new(c->m, name, (uint64_t)Nt * xs);
  }
  if (lo_flat(c->m, c->n->name, (uint64_t)Nt, nll_range, &j, c->err, c->errlen)) return -1;
  if (none) return 0;
  lo_group *g = lo_group_new(c->m, c->n->name);
  int v = sum_all(g, j.loss_buf, (uint64_t)Nt, x->dtype, L);
  if (mean) v = lo_op(g, LS_OP_DIV, x->dtype, v, sum_all(g, j.wsum_buf, (uint64_t)Nt, x->dtype, L), LO_NONE);
  lo_write(g, out_buf, 0, 0, x->dtype, 1, v);
  return lo_finish(g, &c->m->t, c->err, c->errlen);
}

/* y[i] = x[base[i] + k[i]*S], k the index tensor's element for i (taken through a constant
 * table when the index tensor is not in y's order), a negative k counting from dim. */
typedef struct rg_job {
  int x_buf, k_buf, base_buf;
  uint32_t x_elems;
  int64_t S, dim;
  ls_dtype xt, kt;
  int y_buf;
  const ls_target *tg;
} rg_job;

static int rg_index(lo_group *g, const rg_job *j, uint64_t first, uint32_t n, uint32_t lanes) {
  return read_index(g, j->tg, j->k_buf, j->kt, first, n, lanes);
}

static void rg_range(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes) {
  const rg_job *j = user;
  const int64_t vb = (int64_t)j->tg->lanes;
  /* k < 0 ? k + dim : k */
  int neg = lo_op(g, LS_OP_LT, LS_I32, rg_index(g, j, first, n, lanes),
                  lo_op_int(g, LS_OP_SPLAT, LS_I32, rg_index(g, j, first, n, lanes), 0), LO_NONE);
  int k = lo_op(g, LS_OP_SEL, LS_I32, neg, lo_op_int(g, LS_OP_ADDS, LS_I32, rg_index(g, j, first, n, lanes), j->dim),
                rg_index(g, j, first, n, lanes));
  int idx = lo_op(g, LS_OP_MAC, LS_I32, k, lo_op_int(g, LS_OP_SPLAT, LS_I32, rg_index(g, j, first, n, lanes), j->S),
                  lo_read(g, j->base_buf, first * 4, n, vb * 4, LS_I32, lanes, 0));
  const size_t xs = ls_dtype_size(j->xt);
  lo_write(g, j->y_buf, first * xs, vb * (int64_t)xs, j->xt, lanes, lo_gather(g, j->x_buf, 0, j->x_elems, j->xt, idx));
}

/* Gather and GatherElements with indices known only at run time */
static int lower_runtime_gather(lctx *c) {
  const cg_tensor *x = T(c, 0), *ix = T(c, 1), *y = &c->g->tensors[c->n->outputs[0]];
  if (ls_dtype_class(ix->dtype) == 'F' || ls_dtype_class(ix->dtype) == 'B') return fail(c, "expected integer indices");
  if ((uint64_t)elems(x) > INT32_MAX || (uint64_t)elems(y) > INT32_MAX) return fail(c, "too large to index");
  int axis = (int)cg_attr_int(c->n, "axis", 0);
  if (axis < 0) axis += x->rank;
  const int elements = !strcmp(c->n->op, "GatherElements");
  int64_t xs[LS_MAX_RANK], total = elems(y), coord[LS_MAX_RANK] = {0};
  strides_of(x, xs);
  int32_t *base = malloc(sizeof *base * (size_t)(total ? total : 1)), *kmap = malloc(sizeof *kmap * (size_t)(total ? total : 1));
  if (!base || !kmap) return free(base), free(kmap), fail(c, "out of memory");
  for (int64_t i = 0; i < total; i++) {
    int64_t b = 0, ki = 0, ks = 1;
    if (elements) {
      for (int d = 0; d < x->rank; d++) b += d == axis ? 0 : coord[d] * xs[d];
      ki = i;
    } else { /* y = x[:axis] idx x[axis+1:] */
      for (int d = 0; d < axis; d++) b += coord[d] * xs[d];
      for (int d = axis + 1; d < x->rank; d++) b += coord[d + ix->rank - 1] * xs[d];
      for (int d = axis + ix->rank - 1; d >= axis; d--) ki += coord[d] * ks, ks *= y->dims[d];
    }
    base[i] = (int32_t)b, kmap[i] = (int32_t)ki;
    for (int d = y->rank - 1; d >= 0; d--) {
      if (++coord[d] < y->dims[d]) break;
      coord[d] = 0;
    }
  }
  char name[200];
  int kb = buf_of(c, tid(c, 1));
  int rc = 0;
  if (!elements) { /* the indices in y's order */
    snprintf(name, sizeof name, "%s.k", c->n->name);
    kb = lo_buf_new(c->m, name, (uint64_t)total * ls_dtype_size(ix->dtype));
    rc = lower_gather_table(c, tid(c, 1), kb, kmap, (uint64_t)total);
  }
  snprintf(name, sizeof name, "%s.base", c->n->name);
  rg_job j = {buf_of(c, tid(c, 0)), kb, lo_buf_const(c->m, name, base, (uint64_t)total * 4), (uint32_t)elems(x), xs[axis],
              x->dims[axis], x->dtype, ix->dtype, buf_of(c, c->n->outputs[0]), &c->m->t};
  free(base), free(kmap);
  if (rc) return rc;
  return lo_flat(c->m, c->n->name, (uint64_t)total, rg_range, &j, c->err, c->errlen);
}

static int lower_nll(lctx *c) {
  return nll_core(c, buf_of(c, tid(c, 0)), T(c, 0), tid(c, 1), T(c, 2) ? tid(c, 2) : CG_NONE, buf_of(c, c->n->outputs[0]));
}

/* SoftmaxCrossEntropyLoss: log-softmax over axis 1 (into the log_prob output if wanted),
 * then the NLL loss over it */
static int lower_sce(lctx *c) {
  const cg_tensor *x = T(c, 0);
  if (x->dtype != LS_F32) return fail(c, "SoftmaxCrossEntropyLoss is supported for f32");
  int mask[LS_MAX_RANK] = {0};
  mask[1] = 1;
  int lp = c->n->n_outputs > 1 && c->n->outputs[1] != CG_NONE ? buf_of(c, c->n->outputs[1]) : LO_NONE;
  if (lp == LO_NONE) {
    char name[200];
    snprintf(name, sizeof name, "%s.log_prob", c->n->name);
    lp = lo_buf_new(c->m, name, (uint64_t)elems(x) * 4);
  }
  if (softmax_rows(c, tid(c, 0), mask, 1, lp)) return -1;
  return nll_core(c, lp, x, tid(c, 1), T(c, 2) ? tid(c, 2) : CG_NONE, buf_of(c, c->n->outputs[0]));
}

/* ---- GEMM-shaped operators ----------------------------------------------------------------- */

static void epilogue_of(const cg_node *n, lo_epilogue *ep) {
  ep->n = 0;
  int64_t act = cg_attr_int(n, "lockstep.act", 0);
  if (act == 1) ep->op[ep->n] = LS_OP_MAXS, ep->imm[ep->n++] = 0;
  if (act == 2) {
    float lo = cg_attr_float(n, "lockstep.lo", -INFINITY), hi = cg_attr_float(n, "lockstep.hi", INFINITY);
    if (lo > -INFINITY) ep->op[ep->n] = LS_OP_MAXS, ep->imm[ep->n++] = lo;
    if (hi < INFINITY) ep->op[ep->n] = LS_OP_MINS, ep->imm[ep->n++] = hi;
  }
}

/* a constant 2-D matrix transposed on the host (rows x cols -> cols x rows) */
static int const_transposed(lctx *c, const cg_tensor *w, int64_t rows, int64_t cols, float scale) {
  float *v = malloc(sizeof *v * (size_t)(rows * cols > 0 ? rows * cols : 1));
  if (!v) return fail(c, "out of memory");
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      float f;
      memcpy(&f, w->data + (size_t)(i * cols + j) * 4, 4);
      v[j * rows + i] = f * scale;
    }
  char name[200];
  snprintf(name, sizeof name, "%s.T", w->name);
  int b = lo_buf_const(c->m, name, v, (uint64_t)(rows * cols) * 4);
  free(v);
  return b;
}

/* a runtime 2-D matrix transposed by a gather */
static int runtime_transposed(lctx *c, int t, int64_t rows, int64_t cols) {
  int32_t *idx = malloc(sizeof *idx * (size_t)(rows * cols > 0 ? rows * cols : 1));
  if (!idx) return fail(c, "out of memory");
  for (int64_t j = 0; j < cols; j++)
    for (int64_t i = 0; i < rows; i++) idx[j * rows + i] = (int32_t)(i * cols + j);
  char name[200];
  snprintf(name, sizeof name, "%s.T", c->g->tensors[t].name);
  int b = lo_buf_new(c->m, name, (uint64_t)(rows * cols) * 4);
  int rc = lower_gather_table(c, t, b, idx, (uint64_t)(rows * cols));
  free(idx);
  return rc ? -1 : b;
}

static int lower_gemm(lctx *c) {
  const cg_tensor *a = T(c, 0), *b = T(c, 1), *cc = T(c, 2), *y = &c->g->tensors[c->n->outputs[0]];
  if (a->dtype != LS_F32 || b->dtype != LS_F32) return fail(c, "Gemm is supported for f32");
  const int ta = (int)cg_attr_int(c->n, "transA", 0), tb = (int)cg_attr_int(c->n, "transB", 0);
  const float alpha = cg_attr_float(c->n, "alpha", 1), beta = cg_attr_float(c->n, "beta", 1);
  const int64_t M = y->dims[0], N = y->dims[1], K = ta ? a->dims[0] : a->dims[1];
  int abuf = ta ? (a->data ? const_transposed(c, a, K, M, 1) : runtime_transposed(c, tid(c, 0), K, M)) : buf_of(c, tid(c, 0));
  int bbuf;
  if (b->data && (tb || alpha != 1)) bbuf = tb ? const_transposed(c, b, N, K, alpha) : const_transposed(c, b, K, N, 1);
  else if (alpha != 1) return fail(c, "alpha != 1 needs a constant B");
  else bbuf = tb ? runtime_transposed(c, tid(c, 1), N, K) : buf_of(c, tid(c, 1));
  if (b->data && !tb && alpha != 1) { /* transposed twice: scale only */
    float *v = malloc(sizeof *v * (size_t)(K * N));
    if (!v) return fail(c, "out of memory");
    for (int64_t i = 0; i < K * N; i++) memcpy(&v[i], b->data + (size_t)i * 4, 4), v[i] *= alpha;
    bbuf = lo_buf_const(c->m, "gemm.b", v, (uint64_t)(K * N) * 4);
    free(v);
  }
  if (abuf < 0 || bbuf < 0) return -1;
  lo_mat X = {abuf, 0, K * 4, 0}, W = {bbuf, 0, N * 4, 0}, Y = {buf_of(c, c->n->outputs[0]), 0, N * 4, 0};
  lo_mat acc, *accp = NULL;
  if (cc) {
    if (cc->dtype != LS_F32) return fail(c, "Gemm's C must be f32");
    int64_t ce = elems(cc);
    if (cc->data && (beta != 1 || (ce != N && ce != M * N))) { /* expand and scale on the host */
      int64_t *ix = malloc(sizeof *ix * (size_t)(M * N));
      float *v = malloc(sizeof *v * (size_t)(M * N));
      if (!ix || !v) return free(ix), free(v), fail(c, "out of memory");
      int64_t yd[2] = {M, N};
      cg_broadcast_index(cc->rank, cc->dims, 2, yd, ix);
      for (int64_t i = 0; i < M * N; i++) memcpy(&v[i], cc->data + (size_t)ix[i] * 4, 4), v[i] *= beta;
      acc = (lo_mat){lo_buf_const(c->m, "gemm.c", v, (uint64_t)(M * N) * 4), 0, N * 4, (int64_t)L * 4};
      free(ix), free(v);
    } else if (beta != 1) {
      return fail(c, "beta != 1 needs a constant C");
    } else if (ce == M * N && !(cc->rank == 1 && M > 1)) {
      acc = (lo_mat){buf_of(c, tid(c, 2)), 0, N * 4, (int64_t)L * 4};
    } else if (ce == N) {
      acc = (lo_mat){buf_of(c, tid(c, 2)), 0, 0, (int64_t)L * 4}; /* one row for every row */
    } else {
      return fail(c, "this broadcast of C is supported only for a constant C");
    }
    accp = &acc;
  }
  lo_epilogue ep;
  epilogue_of(c->n, &ep);
  return lo_gemm(c->m, c->n->name, (uint32_t)M, (uint32_t)K, (uint32_t)N, X, W, accp, Y, &ep, c->err, c->errlen);
}

static int lower_matmul(lctx *c) {
  const cg_tensor *a = T(c, 0), *b = T(c, 1);
  if (a->dtype != LS_F32 || b->dtype != LS_F32) return fail(c, "MatMul is supported for f32");
  int64_t ad[LS_MAX_RANK + 1], bd[LS_MAX_RANK + 1];
  int ra, rb;
  cg_matmul_dims(a, b, ad, &ra, bd, &rb);
  const int64_t M = ad[ra - 2], K = ad[ra - 1], N = bd[rb - 1];
  int64_t bat[LS_MAX_RANK];
  int rbat;
  cg_broadcast(ra - 2, ad, rb - 2, bd, &rbat, bat);
  int64_t nb = 1;
  for (int d = 0; d < rbat; d++) nb *= bat[d];
  int64_t *ia = malloc(sizeof *ia * (size_t)nb), *ib = malloc(sizeof *ib * (size_t)nb);
  if (!ia || !ib) return free(ia), free(ib), fail(c, "out of memory");
  cg_broadcast_index(ra - 2, ad, rbat, bat, ia);
  cg_broadcast_index(rb - 2, bd, rbat, bat, ib);
  lo_epilogue ep;
  epilogue_of(c->n, &ep);
  int rc = 0;
  /* B without batch: A's batches are the rows of one GEMM ([..., M, K] is [nb*M, K]) */
  const int64_t gemms = rb == 2 ? 1 : nb, rows = rb == 2 ? nb * M : M;
  for (int64_t i = 0; i < gemms && !rc; i++) {
    lo_mat X = {buf_of(c, tid(c, 0)), (uint64_t)(ia[i] * M * K) * 4, K * 4, 0};
    lo_mat W = {buf_of(c, tid(c, 1)), (uint64_t)(ib[i] * K * N) * 4, N * 4, 0};
    lo_mat Y = {buf_of(c, c->n->outputs[0]), (uint64_t)(i * M * N) * 4, N * 4, 0};
    rc = lo_gemm(c->m, c->n->name, (uint32_t)rows, (uint32_t)K, (uint32_t)N, X, W, NULL, Y, &ep, c->err, c->errlen);
  }
  free(ia), free(ib);
  return rc;
}

/* ---- channels-last regions ---------------------------------------------------------------------
 * A convolution is a GEMM over pixels when its image is stored channels-last (NHWC):
 * Y[pixel][M] = A[pixel][K] W^T[K][M], the weights on the planes and every pixel of every
 * image streamed through them, A the image itself (1x1) or its im2col rows, whose channels
 * are contiguous runs (stored NCHW, it is one small GEMM per 256 pixels with the image on
 * the planes). A depthwise convolution works channels-last anyway (its phase images), and a
 * pooling gathers its windows in either layout. So a rank-4 f32 tensor is stored NHWC when
 * the node that makes it and every node that reads it is one of those, or elementwise over
 * tensors of its shape (a residual Add), or a global pooling that reads it: MobileNetV2 and
 * ResNet-18 then run without a transpose between their first convolution and their global
 * pooling. Where a region meets an NCHW tensor, the convolution transposes at its edge.
 * Graph inputs and outputs stay NCHW. */

/* 1: a 1x1 convolution with stride 1, no padding and one group; 2: a depthwise one (as
 * lower_conv takes it); 3: any other with one group; 0: another grouped one, or not f32
 * with constant weights over a 4-D image */
static int conv_kind(const cg_graph *g, const cg_node *n) {
  if (strcmp(n->op, "Conv") || n->n_inputs < 2 || n->inputs[1] == CG_NONE) return 0;
  const cg_tensor *x = &g->tensors[n->inputs[0]], *w = &g->tensors[n->inputs[1]];
  if (x->dtype != LS_F32 || x->rank != 4 || !w->data || w->rank != 4) return 0;
  int64_t k[2], s[2], p[4], dl[2];
  if (cg_window_params(n, 2, k, s, p, dl, x->dims, w->dims)) return 0;
  const int64_t C = x->dims[1], G = cg_attr_int(n, "group", 1), M = w->dims[0];
  if (G == 1 && k[0] == 1 && k[1] == 1 && s[0] == 1 && s[1] == 1 && !p[0] && !p[1] && !p[2] && !p[3]) return 1;
  if (G == C && M == C && C > 1 && dl[0] == 1 && dl[1] == 1 && k[0] * k[1] > 1 && s[0] <= 2 && s[1] <= 2) return 2;
  return G == 1 ? 3 : 0;
}

/* pooling over windows of a 4-D f32 image (and no indices output): gathers either layout */
static int pool_node(const cg_graph *g, const cg_node *n) {
  if (strcmp(n->op, "MaxPool") && strcmp(n->op, "AveragePool")) return 0;
  const cg_tensor *x = &g->tensors[n->inputs[0]];
  return x->rank == 4 && x->dtype == LS_F32 && (n->n_outputs < 2 || n->outputs[1] == CG_NONE || !cg_uses(g, n->outputs[1]));
}

/* elementwise f32 nodes whose inputs are all of the output's shape (or one element):
 * they compute the same in any layout */
static int layout_free(const cg_graph *g, const cg_node *n) {
  static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Relu", "Clip", "Sigmoid", "Tanh", "Neg", "Abs"};
  int known = 0;
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) known |= !strcmp(n->op, ops[i]);
  if (!known || n->n_outputs != 1) return 0;
  const cg_tensor *y = &g->tensors[n->outputs[0]];
  if (y->dtype != LS_F32 || y->rank != 4) return 0;
  for (int k = 0; k < n->n_inputs; k++) {
    if (n->inputs[k] == CG_NONE) continue;
    const cg_tensor *a = &g->tensors[n->inputs[k]];
    if (cg_tensor_elems(a) == 1 && a->data) continue;
    if (a->rank != 4 || a->data || memcmp(a->dims, y->dims, sizeof(int64_t) * 4)) return 0;
  }
  return 1;
}

/* nodes that can write their output NHWC; and those that can read an NHWC input (the same,
 * and the global poolings, whose [N, C, 1, 1] output is the same bytes in either layout) */
static int writes_nhwc(const cg_graph *g, const cg_node *n) {
  return !cg_is_dead(n) && (conv_kind(g, n) || layout_free(g, n) || pool_node(g, n));
}
static int reads_nhwc(const cg_graph *g, const cg_node *n) {
  if (writes_nhwc(g, n)) return 1;
  return !cg_is_dead(n) && (!strcmp(n->op, "GlobalAveragePool") || !strcmp(n->op, "GlobalMaxPool")) &&
         g->tensors[n->inputs[0]].rank == 4;
}

static void plan_layouts(const cg_graph *g, uint8_t *nhwc) {
  memset(nhwc, 0, (size_t)g->n_tensors);
  for (int t = 0; t < g->n_tensors; t++) {
    const cg_tensor *x = &g->tensors[t];
    if (x->data || x->is_input || x->is_output || x->rank != 4 || x->dtype != LS_F32 || x->producer == CG_NONE ||
        !writes_nhwc(g, &g->nodes[x->producer]))
      continue;
    int readers = 0, ok = 1;
    for (int i = 0; i < g->n_nodes && ok; i++)
      for (int k = 0; k < g->nodes[i].n_inputs && ok; k++)
        if (g->nodes[i].inputs[k] == t && !cg_is_dead(&g->nodes[i])) readers++, ok = reads_nhwc(g, &g->nodes[i]);
    for (int o = 0; o < g->n_outputs; o++) ok &= g->outputs[o] != t;
    nhwc[t] = (uint8_t)(ok && readers > 0);
  }
  /* an elementwise node computes in one layout: where its tensors disagree, all are NCHW */
  for (int changed = 1; changed;) {
    changed = 0;
    for (int i = 0; i < g->n_nodes; i++) {
      const cg_node *n = &g->nodes[i];
      if (cg_is_dead(n) || !layout_free(g, n)) continue;
      int any = nhwc[n->outputs[0]], all = any;
      for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] != CG_NONE && g->tensors[n->inputs[k]].rank == 4)
          any |= nhwc[n->inputs[k]], all &= nhwc[n->inputs[k]];
      if (any && !all) {
        nhwc[n->outputs[0]] = 0;
        for (int k = 0; k < n->n_inputs; k++)
          if (n->inputs[k] != CG_NONE) nhwc[n->inputs[k]] = 0;
        changed = 1;
      }
    }
  }
}

/* images [R][Q] -> [Q][R], n of them, by gathers that share one table */
static int transpose_images(lctx *c, int dst, int src, int64_t n, int64_t R, int64_t Q) {
  int32_t *idx = malloc(sizeof *idx * (size_t)(R * Q));
  if (!idx) return fail(c, "out of memory");
  for (int64_t q = 0; q < Q; q++)
    for (int64_t r = 0; r < R; r++) idx[q * R + r] = (int32_t)(r * Q + q);
  char name[200];
  snprintf(name, sizeof name, "%s.transpose%lldx%lld", c->n->name, (long long)R, (long long)Q);
  const int tab = lo_buf_const(c->m, name, idx, (uint64_t)(R * Q) * 4);
  free(idx);
  for (int64_t i = 0; i < n; i++)
    if (lo_gather_with(c->m, c->n->name, dst, (uint64_t)(i * R * Q) * 4, src, (uint64_t)(i * R * Q) * 4,
                       (uint64_t)(R * Q), LS_F32, tab, (uint64_t)(R * Q), c->err, c->errlen))
      return -1;
  return 0;
}

/* rows x (K = C * taps) rows of xb (im2col rows [pixel][(ky, kx, c)], or pixels of an NHWC
 * image for a 1x1 convolution) times the node's weights as W^T[(ky, kx, c)][m], plus its
 * bias, through its fused activation, into yb [row][M] */
static int conv_gemm_nhwc(lctx *c, int xb, uint64_t rows, int64_t T2, int yb) {
  const cg_tensor *w = T(c, 1), *bias = T(c, 2);
  const int64_t M = w->dims[0], C = w->dims[1], K = C * T2;
  float *wt = malloc(sizeof *wt * (size_t)(K * M));
  if (!wt) return fail(c, "out of memory");
  for (int64_t m = 0; m < M; m++)
    for (int64_t ch = 0; ch < C; ch++)
      for (int64_t t = 0; t < T2; t++) memcpy(&wt[(t * C + ch) * M + m], w->data + (size_t)((m * C + ch) * T2 + t) * 4, 4);
  char name[200];
  snprintf(name, sizeof name, "%s.wT", c->n->name);
  const int wtb = lo_buf_const(c->m, name, wt, (uint64_t)(K * M) * 4);
  free(wt);
  lo_epilogue ep;
  epilogue_of(c->n, &ep);
  lo_mat X = {xb, 0, K * 4, 0}, W = {wtb, 0, M * 4, 0}, Y = {yb, 0, M * 4, 0};
  lo_mat acc = {bias ? buf_of(c, tid(c, 2)) : LO_NONE, 0, 0, (int64_t)L * 4}; /* one row for every row */
  return lo_gemm(c->m, c->n->name, (uint32_t)rows, (uint32_t)K, (uint32_t)M, X, W, bias ? &acc : NULL, Y, &ep, c->err,
                 c->errlen);
}

/* A convolution (one group) with an NHWC input or output: one GEMM over every pixel of every
 * image, Y[N*Ho*Wo][M] = A[N*Ho*Wo][K] W^T[K][M] + bias, with A the input itself (a 1x1
 * convolution over NHWC) or its im2col rows [pixel][(ky, kx, c)] gathered from either layout
 * (channels contiguous in NHWC: long runs); an NCHW output is transposed at the end */
static int lower_conv_nhwc(lctx *c, const int64_t *k, const int64_t *s, const int64_t *p, const int64_t *dl, int in_nhwc,
                           int out_nhwc) {
  const cg_tensor *x = T(c, 0), *w = T(c, 1), *y = &c->g->tensors[c->n->outputs[0]];
  const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], Wd = x->dims[3], M = w->dims[0];
  const int64_t Ho = y->dims[2], Wo = y->dims[3], P = Ho * Wo, T2 = k[0] * k[1], K = C * T2;
  const int pointwise = conv_kind(c->g, c->n) == 1;
  char name[200];
  int xb = buf_of(c, tid(c, 0)), yb = buf_of(c, c->n->outputs[0]);
  if (!(pointwise && in_nhwc)) { /* im2col rows, one table for every image */
    int32_t *idx = malloc(sizeof *idx * (size_t)(P * K));
    if (!idx) return fail(c, "out of memory");
    for (int64_t oy = 0; oy < Ho; oy++)
      for (int64_t ox = 0; ox < Wo; ox++)
        for (int64_t t = 0; t < T2; t++) {
          const int64_t iy = oy * s[0] - p[0] + (t / k[1]) * dl[0], ix = ox * s[1] - p[1] + (t % k[1]) * dl[1];
          const int in = iy >= 0 && iy < H && ix >= 0 && ix < Wd;
          int32_t *row = idx + ((oy * Wo + ox) * T2 + t) * C;
          for (int64_t ch = 0; ch < C; ch++)
            row[ch] = !in ? -1 : (int32_t)(in_nhwc ? (iy * Wd + ix) * C + ch : (ch * H + iy) * Wd + ix);
        }
    snprintf(name, sizeof name, "%s.im2col_nhwc", c->n->name);
    const int tab = lo_buf_const(c->m, name, idx, (uint64_t)(P * K) * 4);
    free(idx);
    snprintf(name, sizeof name, "%s.rows", c->n->name);
    const int ab = lo_buf_new(c->m, name, (uint64_t)(N * P * K) * 4);
    for (int64_t i = 0; i < N; i++)
      if (lo_gather_with(c->m, c->n->name, ab, (uint64_t)(i * P * K) * 4, xb, (uint64_t)(i * C * H * Wd) * 4,
                         (uint64_t)(C * H * Wd), LS_F32, tab, (uint64_t)(P * K), c->err, c->errlen))
        return -1;
    xb = ab;
  }
  int gb = yb;
  if (!out_nhwc) {
    snprintf(name, sizeof name, "%s.nhwc_out", c->n->name);
    gb = lo_buf_new(c->m, name, cg_tensor_bytes(y));
  }
  if (conv_gemm_nhwc(c, xb, (uint64_t)(N * P), T2, gb)) return -1;
  return out_nhwc ? 0 : transpose_images(c, yb, gb, N, P, M);
}

/* ---- depthwise convolution (one channel per group) ------------------------------------------
 * Channels go on lanes. A gather copies the padded image into channels-last phase images
 * (stride s: s*s phases, so that every tap reads its phase at a constant pixel shift); one
 * output grid Q[pixel][channel], Ho rows of Wq pixels (columns Wo.. are never used), is
 *   Q = bias + sum over taps of X_tap * w_tap   (mac, in tap order)
 * with w_tap the tap's weights of the lanes' channels, read as one vector n times; a
 * vector holds g = L / C whole pixels (C <= L) or L channels of one pixel. A second gather
 * takes Q back to [channel][Ho][Wo], DW_CHANNELS channels at a time. */
#define DW_CHUNK 64
#define DW_CHANNELS 16

/* taps per group: two reads each, plus the partial sum and the write, on the MEM slices */
static int64_t dw_taps_per_group(const lctx *c) {
  const uint32_t mem = c->m->t.slices[LS_UNIT_MEM];
  return mem > 4 ? (mem - 2) / 2 : 1;
}

typedef struct dw_plan {
  int64_t C, H, W, kh, kw, sy, sx, pt, pl, Ho, Wo;
  int64_t Hq, Wq, Hq2, PS; /* phase rows (real, with margin), phase width, pixels per phase */
  int64_t g, nch, nv;      /* pixels per vector, channel chunks, vectors per chunk */
} dw_plan;

static int dw_mac_groups(lctx *c, const dw_plan *d, int xq, int wt, int bb, int tmp[2], int yq, const lo_epilogue *ep) {
  const int64_t T = d->kh * d->kw, C = d->C, per = dw_taps_per_group(c);
  const int64_t vstride = d->g * C * 4;
  for (int64_t j = 0; j < d->nch; j++) {
    const uint32_t lanes_j = (uint32_t)(C <= L ? d->g * C : (C - j * L < L ? C - j * L : L));
    const uint32_t mask = lanes_j < L ? lanes_j : 0;
    for (int64_t v0 = 0; v0 < d->nv; v0 += DW_CHUNK) {
      const uint32_t n = (uint32_t)(d->nv - v0 < DW_CHUNK ? d->nv - v0 : DW_CHUNK);
      const uint64_t qoff = (uint64_t)(v0 * d->g * C + j * L) * 4; /* this range in Q's layout */
      int step = 0;
      for (int64_t t0 = 0; t0 < T; t0 += per, step++) {
        const int64_t t1 = t0 + per < T ? t0 + per : T;
        const int last = t1 == T;
        /* partial sums alternate between the temporaries, ending in Q */
        const int64_t groups = (T + per - 1) / per;
        const int dst = last ? yq : tmp[(groups - 2 - step) % 2];
        lo_group *g = lo_group_new(c->m, c->n->name);
        int acc = LO_NONE;
        /* reads take whole vectors (in place in fast mode): lanes past the mask hold other
         * pixels' values, multiplied by zero weights and never stored; the buffers end in a
         * vector of slack for them */
        if (t0 > 0) acc = lo_read(g, tmp[(groups - 1 - step) % 2], qoff, n, vstride, LS_F32, 0, 0);
        else if (bb != LO_NONE) acc = lo_read(g, bb, (uint64_t)(j * L) * 4, n, 0, LS_F32, 0, 0);
        for (int64_t t = t0; t < t1; t++) {
          const int64_t ky = t / d->kw, kx = t % d->kw;
          const int64_t ph = (ky % d->sy) * d->sx + kx % d->sx, shift = (ky / d->sy) * d->Wq + kx / d->sx;
          const uint64_t xoff = (uint64_t)((ph * d->PS + shift + v0 * d->g) * C + j * L) * 4;
          int x = lo_read(g, xq, xoff, n, vstride, LS_F32, 0, 0);
          if (wt == LO_NONE) { /* max pooling: the running max, in tap order */
            acc = acc == LO_NONE ? x : lo_op(g, LS_OP_MAX, LS_F32, acc, x, LO_NONE);
            continue;
          }
          int w = lo_read(g, wt, (uint64_t)((t * d->nch + j) * L) * 4, n, 0, LS_F32, 0, 0);
          acc = acc == LO_NONE ? lo_op(g, LS_OP_MUL, LS_F32, x, w, LO_NONE) : lo_op(g, LS_OP_MAC, LS_F32, x, w, acc);
        }
        if (last)
          for (int e = 0; e < ep->n; e++) acc = lo_op_imm(g, ep->op[e], LS_F32, acc, ep->imm[e]);
        lo_write(g, dst, qoff, vstride, LS_F32, mask, acc);
        if (lo_finish(g, &c->m->t, c->err, c->errlen)) return -1;
      }
    }
  }
  return 0;
}

static dw_plan dw_plan_of(const cg_tensor *x, const cg_tensor *y, const int64_t *k, const int64_t *s, const int64_t *p,
                          uint32_t lanes) {
  dw_plan d = {0};
  d.C = x->dims[1], d.H = x->dims[2], d.W = x->dims[3], d.kh = k[0], d.kw = k[1], d.sy = s[0], d.sx = s[1];
  d.pt = p[0], d.pl = p[1], d.Ho = y->dims[2], d.Wo = y->dims[3];
  const int64_t C = d.C, Hp = d.H + p[0] + p[2], Wp = d.W + p[1] + p[3];
  d.Hq = (Hp + d.sy - 1) / d.sy, d.Wq = (Wp + d.sx - 1) / d.sx;
  d.g = C <= lanes ? lanes / C : 1, d.nch = C <= lanes ? 1 : (C + lanes - 1) / lanes;
  d.nv = (d.Ho * d.Wq + d.g - 1) / d.g;
  const int64_t maxshift = ((d.kh - 1) / d.sy) * d.Wq + (d.kw - 1) / d.sx;
  d.Hq2 = (d.nv * d.g + maxshift + d.Wq - 1) / d.Wq;
  if (d.Hq2 < d.Hq) d.Hq2 = d.Hq;
  d.PS = d.Hq2 * d.Wq;
  return d;
}

/* phase row a of phase (py, px) holds image row iy = a * sy + py - pt, pixel b image column
 * ix = b * sx + px - pl; anything else there is padding (zero) */
static int dw_row_real(const dw_plan *d, int64_t py, int64_t a) {
  const int64_t iy = a * d->sy + py - d->pt;
  return a < d->Hq && iy >= 0 && iy < d->H;
}

/* the gather tables that copy an image row of cin channels (NHWC, or NCHW when !in_nhwc)
 * into a phase row [Wq][cin], one per column phase; then a row of zeros. tabs: sx + 1. */
static int dw_row_tables(lctx *c, const dw_plan *d, int64_t cin, int in_nhwc, int clamp, const char *what, int *tabs) {
  const int64_t rowlen = d->Wq * cin, HW = d->H * d->W;
  int32_t *ti = malloc(sizeof *ti * (size_t)((d->sx + 1) * rowlen));
  if (!ti) return fail(c, "out of memory");
  for (int64_t px = 0; px < d->sx; px++)
    for (int64_t b = 0; b < d->Wq; b++)
      for (int64_t ch = 0; ch < cin; ch++) {
        int64_t ix = b * d->sx + px - d->pl;
        if (clamp) ix = ix < 0 ? 0 : ix >= d->W ? d->W - 1 : ix;
        ti[px * rowlen + b * cin + ch] = ix < 0 || ix >= d->W ? -1 : (int32_t)(in_nhwc ? ix * cin + ch : ch * HW + ix);
      }
  for (int64_t e = 0; e < rowlen; e++) ti[d->sx * rowlen + e] = -1;
  char name[200];
  for (int64_t px = 0; px <= d->sx; px++) {
    snprintf(name, sizeof name, "%s.rows%d", what, (int)px);
    tabs[px] = lo_buf_const(c->m, name, ti + px * rowlen, (uint64_t)rowlen * 4);
  }
  free(ti);
  return 0;
}

/* image n of xb (cin channels) into phase images at dst_buf [phase][PS][cin] */
static int dw_gather_phases(lctx *c, const dw_plan *d, int64_t cin, int in_nhwc, int clamp, const int *tabs, int dst_buf,
                            int xb, int64_t n) {
  const int64_t HW = d->H * d->W, row_elems = in_nhwc ? d->W * cin : d->W, rowlen = d->Wq * cin;
  const uint64_t xoff = (uint64_t)(n * cin * HW) * 4;
  for (int64_t py = 0; py < d->sy; py++)
    for (int64_t px = 0; px < d->sx; px++)
      for (int64_t a = 0; a < d->Hq2; a++) {
        int64_t iy = a * d->sy + py - d->pt;
        if (clamp) iy = iy < 0 ? 0 : iy >= d->H ? d->H - 1 : iy;
        const uint64_t dst = (uint64_t)(((py * d->sx + px) * d->PS + a * d->Wq) * cin) * 4;
        const int real = clamp || dw_row_real(d, py, a);
        if (lo_gather_with(c->m, c->n->name, dst_buf, dst, xb, xoff + (real ? (uint64_t)(iy * row_elems) * 4 : 0),
                           (uint64_t)(cin * HW - (real ? iy * row_elems : 0)), LS_F32, real ? tabs[px] : tabs[d->sx],
                           (uint64_t)rowlen, c->err, c->errlen))
          return -1;
      }
  return 0;
}

static int lower_depthwise(lctx *c, const int64_t *k, const int64_t *s, const int64_t *p, int in_nhwc, int out_nhwc,
                           int pool) {
  const cg_tensor *x = T(c, 0), *y = &c->g->tensors[c->n->outputs[0]];
  const cg_tensor *w = pool ? NULL : T(c, 1), *bias = pool ? NULL : T(c, 2);
  dw_plan d = dw_plan_of(x, y, k, s, p, L);
  const int64_t N = x->dims[0], C = d.C, T = d.kh * d.kw;
  const int64_t phases = d.sy * d.sx, P = d.Ho * d.Wo;
  char name[200];
  int wt = LO_NONE, bb = LO_NONE; /* max pooling: no weights */
  if (!pool) { /* tap weights [tap][chunk][L] and bias [chunk][L], lane l holding its channel's value */
    float *wv = calloc((size_t)((T + 1) * d.nch * L), sizeof *wv);
    if (!wv) return fail(c, "out of memory");
    for (int64_t j = 0; j < d.nch; j++)
      for (uint32_t l = 0; l < L; l++) {
        const int64_t ch = C <= L ? (l < d.g * C ? (int64_t)l % C : -1) : (j * L + l < C ? j * L + l : -1);
        if (ch < 0) continue;
        for (int64_t t = 0; t < T; t++) memcpy(&wv[(t * d.nch + j) * L + l], w->data + (size_t)(ch * T + t) * 4, 4);
        if (bias) memcpy(&wv[(T * d.nch + j) * L + l], bias->data + (size_t)ch * 4, 4);
      }
    snprintf(name, sizeof name, "%s.taps", c->n->name);
    wt = lo_buf_const(c->m, name, wv, (uint64_t)(T * d.nch * L) * 4);
    snprintf(name, sizeof name, "%s.bias", c->n->name);
    bb = bias ? lo_buf_const(c->m, name, wv + T * d.nch * L, (uint64_t)(d.nch * L) * 4) : LO_NONE;
    free(wv);
  }
  /* gather tables: the phase rows' (unless the 1x1 convolution before wrote the phase
   * images; for max pooling, padding holds the nearest pixel, which its window holds too);
   * Q back to [channel][Ho][Wo] for DW_CHANNELS channels, relative to the first, or (NHWC)
   * one output row [Wo][C] of Q's row */
  const int pre = pool ? LO_NONE : c->phases[tid(c, 0)];
  int rowtab[3];
  if (pre == LO_NONE && dw_row_tables(c, &d, C, in_nhwc, pool, c->n->name, rowtab)) return -1;
  const int64_t CB = out_nhwc ? 1 : C < DW_CHANNELS ? C : DW_CHANNELS, OUT = out_nhwc ? d.Wo * C : CB * P;
  const int64_t rowlen = d.Wq * C;
  int32_t *to = malloc(sizeof *to * (size_t)OUT);
  if (!to) return fail(c, "out of memory");
  if (out_nhwc)
    for (int64_t e = 0; e < OUT; e++) to[e] = (int32_t)e;
  else
    for (int64_t ch = 0; ch < CB; ch++)
      for (int64_t q = 0; q < P; q++) to[ch * P + q] = (int32_t)(((q / d.Wo) * d.Wq + q % d.Wo) * C + ch);
  snprintf(name, sizeof name, "%s.cols", c->n->name);
  const int outtab = lo_buf_const(c->m, name, to, (uint64_t)OUT * 4);
  free(to);
  snprintf(name, sizeof name, "%s.phases", c->n->name);
  const int xq = pre != LO_NONE ? pre : lo_buf_new(c->m, name, (uint64_t)(phases * d.PS * C + L) * 4);
  snprintf(name, sizeof name, "%s.grid", c->n->name);
  const uint64_t qbytes = (uint64_t)(d.nv * d.g * C) * 4;
  const int yq = lo_buf_new(c->m, name, qbytes + L * 4);
  int tmp[2] = {LO_NONE, LO_NONE};
  for (int b = 0; b < 2 && T > dw_taps_per_group(c) * (b + 1); b++) {
    snprintf(name, sizeof name, "%s.partial%d", c->n->name, b);
    tmp[b] = lo_buf_new(c->m, name, qbytes + L * 4);
  }
  lo_epilogue ep;
  epilogue_of(c->n, &ep);
  const int xb = pre != LO_NONE ? LO_NONE : buf_of(c, tid(c, 0)), yb = buf_of(c, c->n->outputs[0]);
  for (int64_t n = 0; n < N; n++) {
    if (pre == LO_NONE && dw_gather_phases(c, &d, C, in_nhwc, pool, rowtab, xq, xb, n)) return -1;
    if (dw_mac_groups(c, &d, xq, wt, bb, tmp, yq, &ep)) return -1;
    if (out_nhwc) { /* Q's rows without their last Wq - Wo pixels */
      for (int64_t oy = 0; oy < d.Ho; oy++)
        if (lo_gather_with(c->m, c->n->name, yb, (uint64_t)(((n * d.Ho + oy) * d.Wo) * C) * 4, yq,
                           (uint64_t)(oy * rowlen) * 4, qbytes / 4 - (uint64_t)(oy * rowlen), LS_F32, outtab,
                           (uint64_t)OUT, c->err, c->errlen))
          return -1;
      continue;
    }
    /* Q -> Y, DW_CHANNELS channels at a time (one table serves every block) */
    for (int64_t c0 = 0; c0 < C; c0 += DW_CHANNELS) {
      const int64_t cb = C - c0 < DW_CHANNELS ? C - c0 : DW_CHANNELS;
      if (lo_gather_with(c->m, c->n->name, yb, (uint64_t)((n * C + c0) * P) * 4, yq, (uint64_t)c0 * 4,
                         qbytes / 4 - (uint64_t)c0, LS_F32, outtab, (uint64_t)(cb * P), c->err, c->errlen))
        return -1;
    }
  }
  return 0;
}

/* ---- a 1x1 convolution straight into a depthwise convolution's phase images ----------------
 * A depthwise convolution reads its input from phase images that a gather per image row
 * fills (dw_gather_phases): for MobileNetV2's expansions, a copy of a tensor six times wider
 * than the 1x1 convolution's input that made it (112 x 112 x 96 floats, 4.8 MB, for the
 * first). When the 1x1 convolution's output is NHWC and read by that depthwise convolution
 * alone, the gather moves the 1x1 convolution's input into phase order instead and the GEMM
 * writes its rows where the depthwise convolution reads them: a pixel's output depends on
 * that pixel's input alone. Phase positions that are padding get a zero input, so the GEMM
 * puts bias and activation there; writes of zeros put them back. Taken where the phase
 * images have at most 1/8 more pixels than the image (the GEMM's extra rows). */

/* the depthwise convolution that alone reads the output of this 1x1 convolution (c->n), with
 * its plan; NULL if none qualifies */
static const cg_node *pw_into_dw(lctx *c, dw_plan *d) {
  const cg_graph *g = c->g;
  const int t = c->n->outputs[0];
  if (conv_kind(g, c->n) != 1 || !c->nhwc[tid(c, 0)] || !c->nhwc[t] || T(c, 0)->dims[0] != 1) return NULL;
  const cg_node *r = NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    const cg_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs && !cg_is_dead(n); k++)
      if (n->inputs[k] == t) {
        if (r || k != 0) return NULL;
        r = n;
      }
  }
  if (!r || conv_kind(g, r) != 2 || r->n_outputs != 1) return NULL;
  const cg_tensor *x = &g->tensors[t], *y = &g->tensors[r->outputs[0]];
  int64_t k[2], s[2], p[4], dl[2];
  if (cg_window_params(r, 2, k, s, p, dl, x->dims, g->tensors[r->inputs[1]].dims)) return NULL;
  *d = dw_plan_of(x, y, k, s, p, L);
  return 8 * d->sy * d->sx * d->PS <= 9 * d->H * d->W ? r : NULL;
}

static int lower_pw_into_phases(lctx *c, const cg_node *dw, const dw_plan *d) {
  const cg_tensor *x = T(c, 0);
  const int64_t cin = x->dims[1], C = d->C, phases = d->sy * d->sx, rows = phases * d->PS;
  char name[200];
  snprintf(name, sizeof name, "%s.phases", dw->name);
  const int xq = lo_buf_new(c->m, name, (uint64_t)(rows * C + L) * 4);
  snprintf(name, sizeof name, "%s.in_phases", c->n->name);
  const int xp = lo_buf_new(c->m, name, (uint64_t)(rows * cin) * 4);
  int tabs[3];
  if (dw_row_tables(c, d, cin, 1, 0, c->n->name, tabs) ||
      dw_gather_phases(c, d, cin, 1, 0, tabs, xp, buf_of(c, tid(c, 0)), 0))
    return -1;
  if (conv_gemm_nhwc(c, xp, (uint64_t)rows, 1, xq)) return -1;
  /* the padding back to zero: whole rows by a gather of nothing, the columns of the real rows
   * by writes of a zero vector, L channels at a time */
  const int64_t rowlen = d->Wq * C;
  float *z = calloc(L, sizeof *z);
  if (!z) return fail(c, "out of memory");
  snprintf(name, sizeof name, "%s.zero", c->n->name);
  const int zb = lo_buf_const(c->m, name, z, (uint64_t)L * 4);
  free(z);
  int32_t *none = malloc(sizeof *none * (size_t)rowlen);
  if (!none) return fail(c, "out of memory");
  for (int64_t e = 0; e < rowlen; e++) none[e] = -1;
  snprintf(name, sizeof name, "%s.none", c->n->name);
  const int nonetab = lo_buf_const(c->m, name, none, (uint64_t)rowlen * 4);
  free(none);
  for (int64_t py = 0; py < d->sy; py++)
    for (int64_t px = 0; px < d->sx; px++) {
      const int64_t ph = py * d->sx + px;
      int64_t a0 = -1, a1 = -1; /* the real rows: [a0, a1) */
      for (int64_t a = 0; a < d->Hq2; a++) {
        const uint64_t off = (uint64_t)((ph * d->PS + a * d->Wq) * C) * 4;
        if (dw_row_real(d, py, a)) {
          if (a0 < 0) a0 = a;
          a1 = a + 1;
          continue;
        }
        if (lo_gather_with(c->m, c->n->name, xq, off, zb, 0, 1, LS_F32, nonetab, (uint64_t)rowlen, c->err, c->errlen))
          return -1;
      }
      for (int64_t b = 0; b < d->Wq && a0 >= 0; b++) {
        const int64_t ix = b * d->sx + px - d->pl;
        if (ix >= 0 && ix < d->W) continue;
        for (int64_t c0 = 0; c0 < C; c0 += L) {
          const uint32_t lanes = (uint32_t)(C - c0 < L ? C - c0 : L);
          lo_group *g = lo_group_new(c->m, c->n->name);
          int r = lo_read(g, zb, 0, (uint32_t)(a1 - a0), 0, LS_F32, 0, 0);
          lo_write(g, xq, (uint64_t)(((ph * d->PS + a0 * d->Wq + b) * C) + c0) * 4, rowlen * 4, LS_F32,
                   lanes < L ? lanes : 0, r);
          if (lo_finish(g, &c->m->t, c->err, c->errlen)) return -1;
        }
      }
    }
  c->phases[c->n->outputs[0]] = xq;
  return 0;
}

/* Conv: Y_g[M_g][P] = W_g[M_g][K] A_g[K][P], with A_g the im2col rows of group g gathered
 * from the input (a 1x1 convolution with stride 1 reads its input directly). */
static int lower_conv(lctx *c) {
  const cg_tensor *x = T(c, 0), *w = T(c, 1), *bias = T(c, 2), *y = &c->g->tensors[c->n->outputs[0]];
  if (x->dtype != LS_F32 || !w->data) return fail(c, "Conv is supported for f32 with constant weights");
  if (x->rank != 4) return fail(c, "Conv is supported for 2-D images (N, C, H, W)");
  int64_t k[2], s[2], p[4], dl[2];
  cg_window_params(c->n, 2, k, s, p, dl, x->dims, w->dims);
  const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], Wd = x->dims[3];
  const int64_t G = cg_attr_int(c->n, "group", 1), M = w->dims[0], Mg = M / G, Cg = C / G;
  const int64_t Ho = y->dims[2], Wo = y->dims[3], P = Ho * Wo, K = Cg * k[0] * k[1];
  const int direct = k[0] == 1 && k[1] == 1 && s[0] == 1 && s[1] == 1 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0;
  const int kind = conv_kind(c->g, c->n), in_nhwc = c->nhwc[tid(c, 0)], out_nhwc = c->nhwc[c->n->outputs[0]];
  if (kind == 2) return lower_depthwise(c, k, s, p, in_nhwc, out_nhwc, 0);
  dw_plan dp;
  const cg_node *dw = pw_into_dw(c, &dp);
  if (dw) return lower_pw_into_phases(c, dw, &dp);
  /* (kind 1 or 3: plan_layouts) an NCHW input's im2col rows are long runs in [K][P] order, and
   * short ones (C) in [P][K]: a wider convolution into NCHW, then its output transposed */
  const int nchw_then_transpose = out_nhwc && !in_nhwc && kind == 3;
  if ((in_nhwc || out_nhwc) && !nchw_then_transpose) return lower_conv_nhwc(c, k, s, p, dl, in_nhwc, out_nhwc);
  /* bias as a per-row splat: row m holds bias[m] in every lane */
  float *bs = calloc((size_t)(M * L), sizeof *bs);
  if (!bs) return fail(c, "out of memory");
  if (bias)
    for (int64_t m = 0; m < M; m++)
      for (uint32_t l = 0; l < L; l++) memcpy(&bs[m * L + l], bias->data + (size_t)m * 4, 4);
  char name[200];
  snprintf(name, sizeof name, "%s.bias", c->n->name);
  int bbuf = bias ? lo_buf_const(c->m, name, bs, (uint64_t)(M * L) * 4) : LO_NONE;
  free(bs);
  int tbl = LO_NONE;
  int32_t *idx = NULL;
  if (!direct) { /* one table serves every image and group: it indexes within Cg channels */
    idx = malloc(sizeof *idx * (size_t)(K * P));
    if (!idx) return fail(c, "out of memory");
    for (int64_t ci = 0; ci < Cg; ci++)
      for (int64_t ky = 0; ky < k[0]; ky++)
        for (int64_t kx = 0; kx < k[1]; kx++) {
          int64_t row = (ci * k[0] + ky) * k[1] + kx;
          for (int64_t oy = 0; oy < Ho; oy++)
            for (int64_t ox = 0; ox < Wo; ox++) {
              int64_t iy = oy * s[0] - p[0] + ky * dl[0], ix = ox * s[1] - p[1] + kx * dl[1];
              idx[row * P + oy * Wo + ox] = iy < 0 || iy >= H || ix < 0 || ix >= Wd ? -1 : (int32_t)((ci * H + iy) * Wd + ix);
            }
        }
    (void)tbl;
  }
  lo_epilogue ep;
  epilogue_of(c->n, &ep);
  const int xb = buf_of(c, tid(c, 0)), wb = buf_of(c, tid(c, 1));
  int yb = buf_of(c, c->n->outputs[0]);
  if (nchw_then_transpose) {
    snprintf(name, sizeof name, "%s.nchw_out", c->n->name);
    yb = lo_buf_new(c->m, name, cg_tensor_bytes(y));
  }
  /* two im2col buffers, alternating between groups (and images): the next group's gather
   * need not wait for the last group's products, and can write straight to memory */
  const int nbuf = N * G > 1 ? 2 : 1;
  int abuf[2] = {LO_NONE, LO_NONE};
  for (int b = 0; b < nbuf && !direct; b++) {
    snprintf(name, sizeof name, "%s.im2col%d", c->n->name, b);
    abuf[b] = lo_buf_new(c->m, name, (uint64_t)(K * P) * 4);
  }
  int rc = 0;
  for (int64_t n = 0; n < N && !rc; n++)
    for (int64_t grp = 0; grp < G && !rc; grp++) {
      const int ab = abuf[(n * G + grp) % nbuf];
      uint64_t xoff = (uint64_t)((n * C + grp * Cg) * H * Wd) * 4;
      lo_mat A = {xb, xoff, P * 4, 0};
      if (!direct) {
        rc = lo_gather_copy(c->m, c->n->name, ab, 0, xb, xoff, (uint64_t)(Cg * H * Wd), LS_F32, idx, (uint64_t)(K * P),
                            c->err, c->errlen);
        A = (lo_mat){ab, 0, P * 4, 0};
      }
      if (rc) break;
      lo_mat Wm = {wb, (uint64_t)(grp * Mg * K) * 4, K * 4, 0};
      lo_mat Y = {yb, (uint64_t)((n * M + grp * Mg) * P) * 4, P * 4, 0};
      lo_mat acc = {bbuf, (uint64_t)(grp * Mg * L) * 4, (int64_t)L * 4, 0};
      rc = lo_gemm(c->m, c->n->name, (uint32_t)Mg, (uint32_t)K, (uint32_t)P, Wm, A, bias ? &acc : NULL, Y, &ep, c->err,
                   c->errlen);
    }
  free(idx);
  if (!rc && nchw_then_transpose) rc = transpose_images(c, buf_of(c, c->n->outputs[0]), yb, N, M, P);
  return rc;
}

/* A max pooling over an NHWC image into NHWC, lowered as a depthwise convolution with max
 * for the multiply-adds (lower_depthwise, pool): phase images whose padding holds the
 * nearest real pixel instead of -inf, so that each tap reads a phase at a constant shift
 * and a chain of maxes reads them in place, instead of every window gathered into rows
 * and reduced row by row (ResNet-18's 3 x 3 pool: a 7 MB gather and 784 reductions). The
 * nearest pixel leaves a window's max as it was when the window holds it: taken where
 * every window of dilation 1 holds a real pixel and fits one group of taps. */
static int max_pool_by_phases(lctx *c, const int64_t *k, const int64_t *s, const int64_t *p, const int64_t *dl) {
  const cg_tensor *x = T(c, 0), *y = &c->g->tensors[c->n->outputs[0]];
  if (dl[0] != 1 || dl[1] != 1 || k[0] * k[1] > dw_taps_per_group(c) || k[0] * k[1] < 2) return 0;
  /* the window of the last output row and column starts inside the image, the first ends inside */
  if (p[0] >= k[0] || p[1] >= k[1] || (y->dims[2] - 1) * s[0] - p[0] >= x->dims[2] ||
      (y->dims[3] - 1) * s[1] - p[1] >= x->dims[3])
    return 0;
  return 1;
}

/* MaxPool / AveragePool: windows gathered into rows G[kh*kw][N*C*Ho*Wo], then reduced. */
static int lower_pool(lctx *c) {
  const cg_tensor *x = T(c, 0), *y = &c->g->tensors[c->n->outputs[0]];
  if (x->rank != 4 || x->dtype != LS_F32) return fail(c, "pooling is supported for f32 2-D images");
  if (c->n->n_outputs > 1 && c->n->outputs[1] != CG_NONE && cg_uses(c->g, c->n->outputs[1]))
    return fail(c, "MaxPool's indices output is not supported");
  int64_t k[2], s[2], p[4], dl[2];
  if (cg_window_params(c->n, 2, k, s, p, dl, x->dims, NULL)) return fail(c, "bad pooling window");
  const int is_max = !strcmp(c->n->op, "MaxPool");
  const int in_nhwc = c->nhwc[tid(c, 0)], out_nhwc = c->nhwc[c->n->outputs[0]];
  if (is_max && in_nhwc && out_nhwc && max_pool_by_phases(c, k, s, p, dl)) return lower_depthwise(c, k, s, p, 1, 1, 1);
  const int64_t NC = x->dims[0] * x->dims[1], H = x->dims[2], Wd = x->dims[3], Ho = y->dims[2], Wo = y->dims[3];
  const int64_t Cn = x->dims[1];
  const uint32_t R = (uint32_t)(k[0] * k[1]);
  const uint64_t Q = (uint64_t)(NC * Ho * Wo), numel = (uint64_t)elems(x);
  int32_t *idx = malloc(sizeof *idx * (size_t)(R * Q));
  float *cnt = malloc(sizeof *cnt * (size_t)Q);
  if (!idx || !cnt) return free(idx), free(cnt), fail(c, "out of memory");
  int padded = 0, uneven = 0;
  for (uint64_t q = 0; q < Q; q++) { /* output element q: (n, c, oy, ox), or (n, oy, ox, c) when NHWC */
    int64_t nc = (int64_t)q / (Ho * Wo), oy = (int64_t)q / Wo % Ho, ox = (int64_t)q % Wo;
    if (out_nhwc)
      nc = (int64_t)q / (Ho * Wo * Cn) * Cn + (int64_t)q % Cn, oy = (int64_t)q / (Wo * Cn) % Ho, ox = (int64_t)q / Cn % Wo;
    int valid = 0;
    for (int64_t ky = 0; ky < k[0]; ky++)
      for (int64_t kx = 0; kx < k[1]; kx++) {
        int64_t iy = oy * s[0] - p[0] + ky * dl[0], ix = ox * s[1] - p[1] + kx * dl[1];
        int in = iy >= 0 && iy < H && ix >= 0 && ix < Wd;
        /* outside: for max, an extra element holding -inf (index numel); for average, 0 */
        const int64_t at = in_nhwc ? ((nc / Cn * H + iy) * Wd + ix) * Cn + nc % Cn : (nc * H + iy) * Wd + ix;
        idx[(uint64_t)(ky * k[1] + kx) * Q + q] = in ? (int32_t)at : is_max ? (int32_t)numel : -1;
        valid += in;
        padded |= !in;
      }
    cnt[q] = (float)valid;
    if (valid != (int)R) uneven = 1;
  }
  int src = buf_of(c, tid(c, 0));
  uint64_t src_elems = numel;
  char name[200];
  if (is_max && padded) { /* the input followed by one -inf */
    snprintf(name, sizeof name, "%s.padded", c->n->name);
    int ext = lo_buf_new(c->m, name, (numel + 1) * 4);
    if (copy_tensor(c, tid(c, 0), ext)) return free(idx), free(cnt), -1;
    float ninf[1] = {-INFINITY};
    snprintf(name, sizeof name, "%s.ninf", c->n->name);
    int nb = lo_buf_const(c->m, name, ninf, 4);
    lo_group *g = lo_group_new(c->m, c->n->name);
    lo_write(g, ext, numel * 4, 0, LS_F32, 1, lo_read(g, nb, 0, 1, 0, LS_F32, 1, 0));
    if (lo_finish(g, &c->m->t, c->err, c->errlen)) return free(idx), free(cnt), -1;
    src = ext, src_elems = numel + 1;
  }
  snprintf(name, sizeof name, "%s.rows", c->n->name);
  int gb = lo_buf_new(c->m, name, (uint64_t)R * Q * 4);
  int rc = lo_gather_copy(c->m, c->n->name, gb, 0, src, 0, src_elems, LS_F32, idx, (uint64_t)R * Q, c->err, c->errlen);
  free(idx);
  if (rc) return free(cnt), rc;
  const int count_pad = (int)cg_attr_int(c->n, "count_include_pad", 0);
  if (!is_max && uneven && !count_pad) { /* divide by each window's own count */
    snprintf(name, sizeof name, "%s.sum", c->n->name);
    int sb = lo_buf_new(c->m, name, Q * 4);
    red_job j = {gb, sb, R, Q, LS_OP_VSUM, 1.0, LS_F32, LS_OP_COUNT, LS_OP_COUNT};
    if (lower_reduce_rows(c, &j)) return free(cnt), -1;
    snprintf(name, sizeof name, "%s.count", c->n->name);
    int cb = lo_buf_const(c->m, name, cnt, Q * 4);
    free(cnt);
    ew_job e = {0};
    e.n_in = 2, e.op = LS_OP_DIV, e.t = e.out_t = LS_F32, e.tg = &c->m->t;
    e.in[0] = (ew_operand){sb, 0, 0, LS_F32};
    e.in[1] = (ew_operand){cb, 0, 0, LS_F32};
    e.out_buf = buf_of(c, c->n->outputs[0]);
    return lo_flat(c->m, c->n->name, Q, ew_range, &e, c->err, c->errlen);
  }
  free(cnt);
  red_job j = {gb, buf_of(c, c->n->outputs[0]), R, Q, is_max ? LS_OP_VMAX : LS_OP_VSUM, is_max ? 1.0 : 1.0 / R, LS_F32,
               LS_OP_COUNT, LS_OP_COUNT};
  return lower_reduce_rows(c, &j);
}

/* ---- operators built from the blocks above -------------------------------------------------- */

typedef struct leaky_job {
  int in_buf, out_buf;
  double alpha;
  const ls_target *tg;
} leaky_job;

/* max(x, 0) + alpha * min(x, 0): x is read twice, one read per branch of the tree */
static void leaky_range(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes) {
  const leaky_job *j = user;
  const int64_t vb = (int64_t)j->tg->lanes * 4;
  int pos = lo_op_imm(g, LS_OP_MAXS, LS_F32, lo_read(g, j->in_buf, first * 4, n, vb, LS_F32, lanes, 0), 0.0);
  int neg = lo_op_imm(g, LS_OP_MINS, LS_F32, lo_read(g, j->in_buf, first * 4, n, vb, LS_F32, lanes, 0), 0.0);
  neg = lo_op_imm(g, LS_OP_MULS, LS_F32, neg, j->alpha);
  lo_write(g, j->out_buf, first * 4, vb, LS_F32, lanes, lo_op(g, LS_OP_ADD, LS_F32, pos, neg, LO_NONE));
}

static int lower_leaky_relu(lctx *c) {
  const cg_tensor *x = T(c, 0);
  if (x->dtype != LS_F32) return fail(c, "LeakyRelu is supported for f32");
  leaky_job j = {buf_of(c, tid(c, 0)), buf_of(c, c->n->outputs[0]), cg_attr_float(c->n, "alpha", 0.01f), &c->m->t};
  return lo_flat(c->m, c->n->name, (uint64_t)elems(x), leaky_range, &j, c->err, c->errlen);
}

/* y = x * s + t per channel (axis 1), s = gamma / sqrt(var + eps), t = beta - mean * s; s and
 * t are expanded over the whole tensor on the host, so the pass is one mac per element */
static int lower_batchnorm(lctx *c) {
  const cg_tensor *x = T(c, 0);
  if (x->dtype != LS_F32 || x->rank < 2) return fail(c, "BatchNormalization is supported for f32 of rank >= 2");
  for (int k = 1; k < 5; k++)
    if (!T(c, k) || !T(c, k)->data || T(c, k)->dtype != LS_F32) return fail(c, "BatchNormalization needs constant f32 parameters");
  const int64_t C = x->dims[1], total = elems(x), inner = total / (x->dims[0] * C);
  const float eps = cg_attr_float(c->n, "epsilon", 1e-5f);
  float *S = malloc(sizeof *S * (size_t)total), *Tt = malloc(sizeof *Tt * (size_t)total);
  if (!S || !Tt) return free(S), free(Tt), fail(c, "out of memory");
  const float *gam = (const float *)T(c, 1)->data, *bet = (const float *)T(c, 2)->data;
  const float *mean = (const float *)T(c, 3)->data, *var = (const float *)T(c, 4)->data;
  for (int64_t i = 0; i < total; i++) {
    int64_t ch = i / inner % C;
    double s = gam[ch] / sqrt((double)var[ch] + eps);
    S[i] = (float)s;
    Tt[i] = (float)(bet[ch] - mean[ch] * s);
  }
  char name[200];
  ew_job j = {0};
  j.n_in = 3, j.op = LS_OP_MAC, j.t = j.out_t = LS_F32, j.tg = &c->m->t;
  j.in[0] = (ew_operand){buf_of(c, tid(c, 0)), 0, 0, LS_F32};
  snprintf(name, sizeof name, "%s.scale", c->n->name);
  j.in[1] = (ew_operand){lo_buf_const(c->m, name, S, (uint64_t)total * 4), 0, 0, LS_F32};
  snprintf(name, sizeof name, "%s.shift", c->n->name);
  j.in[2] = (ew_operand){lo_buf_const(c->m, name, Tt, (uint64_t)total * 4), 0, 0, LS_F32};
  free(S), free(Tt);
  j.out_buf = buf_of(c, c->n->outputs[0]);
  return lo_flat(c->m, c->n->name, (uint64_t)total, ew_range, &j, c->err, c->errlen);
}

typedef struct scatter_job {
  int src_buf, idx_buf, dst_buf;
  uint32_t dst_elems;
  ls_dtype t;
  const ls_target *tg;
} scatter_job;

static void scatter_range(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes) {
  const scatter_job *j = user;
  const size_t sz = ls_dtype_size(j->t);
  const int64_t L_ = j->tg->lanes;
  int v = lo_read(g, j->src_buf, first * sz, n, L_ * (int64_t)sz, j->t, lanes, 0);
  int ix = lo_read(g, j->idx_buf, first * 4, n, L_ * 4, LS_I32, lanes, -1); /* -1: masked lanes go nowhere */
  lo_scatter(g, j->dst_buf, 0, j->dst_elems, j->t, v, ix);
}

/* For each element of `part` (row-major), its flat index in a larger tensor of strides
 * `big` where part sits at offset `at` along `axis` (Concat's inputs, Split's outputs). */
static int32_t *block_index(const cg_tensor *part, int axis, int64_t at, const int64_t *big) {
  int64_t total = elems(part), coord[LS_MAX_RANK] = {0};
  int32_t *idx = malloc(sizeof *idx * (size_t)(total ? total : 1));
  if (!idx) return NULL;
  for (int64_t i = 0; i < total; i++) {
    int64_t o = 0;
    for (int d = 0; d < part->rank; d++) o += (coord[d] + (d == axis ? at : 0)) * big[d];
    idx[i] = (int32_t)o;
    for (int d = part->rank - 1; d >= 0; d--) {
      if (++coord[d] < part->dims[d]) break;
      coord[d] = 0;
    }
  }
  return idx;
}

/* Concat: each input scattered to its places in the output */
static int lower_concat(lctx *c) {
  const cg_tensor *y = &c->g->tensors[c->n->outputs[0]];
  int axis = (int)cg_attr_int(c->n, "axis", 0);
  if (axis < 0) axis += y->rank;
  if (elems(y) > INT32_MAX) return fail(c, "the result is too large to index");
  int64_t ys[LS_MAX_RANK], at = 0;
  strides_of(y, ys);
  for (int k = 0; k < c->n->n_inputs; k++) {
    const cg_tensor *x = T(c, k);
    int64_t total = elems(x);
    if (total == 0) continue;
    int32_t *idx = block_index(x, axis, at, ys);
    if (!idx) return fail(c, "out of memory");
    char name[200];
    snprintf(name, sizeof name, "%s.idx%d", c->n->name, k);
    scatter_job j = {buf_of(c, tid(c, k)), lo_buf_const(c->m, name, idx, (uint64_t)total * 4), buf_of(c, c->n->outputs[0]),
                     (uint32_t)elems(y), x->dtype, &c->m->t};
    free(idx);
    if (lo_flat(c->m, c->n->name, (uint64_t)total, scatter_range, &j, c->err, c->errlen)) return -1;
    at += x->dims[axis];
  }
  return 0;
}

/* Split: each output gathered from its slice of the input */
static int lower_split(lctx *c) {
  const cg_tensor *x = T(c, 0);
  int axis = (int)cg_attr_int(c->n, "axis", 0);
  if (axis < 0) axis += x->rank;
  int64_t xs[LS_MAX_RANK], at = 0;
  strides_of(x, xs);
  for (int k = 0; k < c->n->n_outputs; k++) {
    if (c->n->outputs[k] == CG_NONE) continue;
    const cg_tensor *y = &c->g->tensors[c->n->outputs[k]];
    int64_t total = elems(y);
    int32_t *idx = block_index(y, axis, at, xs);
    if (!idx) return fail(c, "out of memory");
    int rc = total ? lower_gather_table(c, tid(c, 0), buf_of(c, c->n->outputs[k]), idx, (uint64_t)total) : 0;
    free(idx);
    if (rc) return rc;
    at += y->dims[axis];
  }
  return 0;
}

/* Expand: a broadcast, gathered */
static int lower_expand(lctx *c) {
  const cg_tensor *x = T(c, 0), *y = &c->g->tensors[c->n->outputs[0]];
  int64_t total = elems(y);
  int64_t *ix = malloc(sizeof *ix * (size_t)(total ? total : 1));
  int32_t *idx = malloc(sizeof *idx * (size_t)(total ? total : 1));
  if (!ix || !idx) return free(ix), free(idx), fail(c, "out of memory");
  cg_broadcast_index(x->rank, x->dims, y->rank, y->dims, ix);
  for (int64_t i = 0; i < total; i++) idx[i] = (int32_t)ix[i];
  free(ix);
  int rc = lower_gather_table(c, tid(c, 0), buf_of(c, c->n->outputs[0]), idx, (uint64_t)total);
  free(idx);
  return rc;
}

/* Operators that are one expression tree. Returns 0 or -1 when it lowered (or failed on) the
 * node, 1 if the node is not one of them. */
static int lower_more_elementwise(lctx *c, const char *op) {
#define IS(name) (strcmp(op, name) == 0)
#define O(x) E_OP(LS_OP_##x)
#define I(x, v) E_IMM(LS_OP_##x, v)
  if (c->n->n_outputs < 1 || c->n->outputs[0] == CG_NONE) return 1;
  const ls_dtype yt = c->g->tensors[c->n->outputs[0]].dtype;
  const double PI_2 = 1.5707963267948966;
  const float alpha = cg_attr_float(c->n, "alpha", IS("Selu") ? 1.67326319217681884765625f : IS("HardSigmoid") ? 0.2f
                                                 : IS("LeakyRelu") ? 0.01f : 1.0f);
  c->err[0] = 0;
  if (IS("Atan")) EXPR(O(ATAN), E_IN(0));
  if (IS("Tan")) EXPR(O(DIV), O(SIN), E_IN(0), O(COS), E_IN(0));
  if (IS("Sinh")) EXPR(I(MULS, 0.5), O(SUB), O(EXP), E_IN(0), O(EXP), O(NEG), E_IN(0));
  if (IS("Cosh")) EXPR(I(MULS, 0.5), O(ADD), O(EXP), E_IN(0), O(EXP), O(NEG), E_IN(0));
#define ASIN O(ATAN), O(DIV), E_IN(0), O(SQRT), I(ADDS, 1), I(MULS, -1), O(MUL), E_IN(0), E_IN(0)
  if (IS("Asin")) EXPR(ASIN);
  if (IS("Acos")) EXPR(I(ADDS, PI_2), I(MULS, -1), ASIN);
#undef ASIN
  if (IS("Asinh")) EXPR(O(LOG), O(ADD), E_IN(0), O(SQRT), I(ADDS, 1), O(MUL), E_IN(0), E_IN(0));
  if (IS("Acosh")) EXPR(O(LOG), O(ADD), E_IN(0), O(SQRT), I(ADDS, -1), O(MUL), E_IN(0), E_IN(0));
  if (IS("Atanh")) EXPR(I(MULS, 0.5), O(LOG), O(DIV), I(ADDS, 1), E_IN(0), I(ADDS, 1), I(MULS, -1), E_IN(0));
  if (IS("Sign")) EXPR(O(SUB), E_CVT(yt), O(LT), E_CONST(0), E_IN(0), E_CVT(yt), O(LT), E_IN(0), E_CONST(0));
  if (IS("IsNaN")) EXPR(O(NE), E_IN(0), E_IN(0));
  if (IS("IsInf")) {
    const int pos = (int)cg_attr_int(c->n, "detect_positive", 1), neg = (int)cg_attr_int(c->n, "detect_negative", 1);
    if (pos && neg) EXPR(O(OR), O(EQ), E_IN(0), E_CONST(INFINITY), O(EQ), E_IN(0), E_CONST(-INFINITY));
    if (pos) EXPR(O(EQ), E_IN(0), E_CONST(INFINITY));
    if (neg) EXPR(O(EQ), E_IN(0), E_CONST(-INFINITY));
    EXPR(O(LT), E_IN(0), E_CONST(-INFINITY)); /* never */
  }
  if (IS("HardSwish")) EXPR(O(MUL), E_IN(0), I(MINS, 1), I(MAXS, 0), I(ADDS, 0.5), I(MULS, 1.0 / 6), E_IN(0));
  if (IS("HardSigmoid"))
    EXPR(I(MINS, 1), I(MAXS, 0), I(ADDS, cg_attr_float(c->n, "beta", 0.5f)), I(MULS, alpha), E_IN(0));
  if (IS("Elu")) EXPR(O(SEL), O(LT), E_IN(0), E_CONST(0), I(MULS, alpha), I(ADDS, -1), O(EXP), E_IN(0), E_IN(0));
  if (IS("Selu"))
    EXPR(I(MULS, cg_attr_float(c->n, "gamma", 1.05070102214813232421875f)), O(SEL), O(LE), E_IN(0), E_CONST(0),
         I(MULS, alpha), I(ADDS, -1), O(EXP), E_IN(0), E_IN(0));
  if (IS("Celu"))
    EXPR(O(ADD), I(MAXS, 0), E_IN(0), I(MINS, 0), I(MULS, alpha), I(ADDS, -1), O(EXP), I(MULS, 1.0 / alpha), E_IN(0));
  if (IS("Softplus")) EXPR(O(LOG), I(ADDS, 1), O(EXP), E_IN(0));
  if (IS("Softsign")) EXPR(O(DIV), E_IN(0), I(ADDS, 1), O(ABS), E_IN(0));
  if (IS("ThresholdedRelu")) EXPR(O(SEL), O(LT), E_CONST(alpha), E_IN(0), E_IN(0), E_CONST(0));
  if (IS("Shrink")) {
    const double l = cg_attr_float(c->n, "lambd", 0.5f), b = cg_attr_float(c->n, "bias", 0);
    EXPR(O(SEL), O(LT), E_IN(0), E_CONST(-l), I(ADDS, b), E_IN(0), O(SEL), O(LT), E_CONST(l), E_IN(0), I(ADDS, -b),
         E_IN(0), E_CONST(0));
  }
  if (IS("PRelu")) EXPR(O(SEL), O(LT), E_IN(0), E_CONST(0), O(MUL), E_IN(0), E_IN(1), E_IN(0));
  if (IS("Mod")) EXPR(O(FMOD), E_IN(0), E_IN(1)); /* fmod = 1; fmod = 0 is lowered before */
  if (IS("BitShift")) {
    if (!strcmp(cg_attr_string(c->n, "direction", ""), "RIGHT")) EXPR(O(SHR), E_IN(0), E_IN(1));
    EXPR(O(SHL), E_IN(0), E_IN(1));
  }
  if (IS("Pow")) { /* mixed or integer types: through a float type */
    ls_dtype ft = ls_dtype_class(T(c, 0)->dtype) == 'F' ? T(c, 0)->dtype : LS_F64;
    EXPR(E_CVT(yt), O(POW), E_CVT(ft), E_IN(0), E_CVT(ft), E_IN(1));
  }
  if (IS("Clip")) { /* bounds computed at run time */
    ex_tok t[8];
    int n = 0;
    if (T(c, 2)) t[n++] = O(MIN);
    if (T(c, 1)) t[n++] = O(MAX);
    t[n++] = E_IN(0);
    if (T(c, 1)) t[n++] = E_IN(1);
    if (T(c, 2)) t[n++] = E_IN(2);
    return lower_expr(c, t, n);
  }
  if (IS("Sum") || IS("Mean") || IS("Max") || IS("Min")) {
    ex_tok t[EX_MAX];
    int n = 0, k = c->n->n_inputs;
    if (k > EX_MAX / 2 || k > 8) return fail(c, "too many inputs");
    if (IS("Mean")) t[n++] = I(MULS, 1.0 / k);
    for (int i = 1; i < k; i++) t[n++] = IS("Max") ? O(MAX) : IS("Min") ? O(MIN) : O(ADD);
    t[n++] = E_IN(0);
    for (int i = 1; i < k; i++) t[n++] = E_IN(i);
    return lower_expr(c, t, n);
  }
  if (IS("CastLike")) return lower_ew(c, LS_OP_CVT, 1, 0);
  if (IS("Trilu")) { /* x where a constant mask is true, else 0 */
    const cg_tensor *x = T(c, 0);
    const int64_t k = T(c, 1) ? cg_const_int(T(c, 1), 0) : 0, upper = cg_attr_int(c->n, "upper", 1);
    const int64_t total = elems(x), R = x->dims[x->rank - 2], C = x->dims[x->rank - 1];
    uint8_t *mk = malloc((size_t)(total ? total : 1));
    if (!mk) return fail(c, "out of memory");
    for (int64_t i = 0; i < total; i++) {
      int64_t col = i % C, row = i / C % R;
      mk[i] = upper ? col - row >= k : col - row <= k;
    }
    char name[200];
    snprintf(name, sizeof name, "%s.mask", c->n->name);
    ew_operand m = {lo_buf_const(c->m, name, mk, (uint64_t)total), 0, 0, LS_BOOL};
    free(mk);
    const ex_tok t[] = {O(SEL), E_IN(4), E_IN(0), E_CONST(0)};
    return lower_expr_with(c, t, 4, &m, 1);
  }
  return 1;
#undef O
#undef I
#undef IS
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* ---- elementwise nodes fused ---------------------------------------------------------------
 * A chain or tree of f32 elementwise nodes (GELU's Div, Erf, Add, Mul, Mul; a bias and an
 * activation) is lowered as one expression, one flat pass: a node whose only consumer is the
 * next, with the same shape, is not lowered on its own but inlined where that one reads it
 * (its output never reaches memory). At most FUSE_READS operand reads a pass. */
#define FUSE_READS 8
static const struct {
  const char *name;
  ls_op op;
  int n_in;
} fusable_ops[] = {{"Add", LS_OP_ADD, 2},       {"Sub", LS_OP_SUB, 2},   {"Mul", LS_OP_MUL, 2},   {"Div", LS_OP_DIV, 2},
                   {"Relu", LS_OP_RELU, 1},     {"Sqrt", LS_OP_SQRT, 1}, {"Erf", LS_OP_ERF, 1},   {"Exp", LS_OP_EXP, 1},
                   {"Tanh", LS_OP_TANH, 1},     {"Sigmoid", LS_OP_SIGMOID, 1}, {"Neg", LS_OP_NEG, 1}, {"Abs", LS_OP_ABS, 1},
                   {"Reciprocal", LS_OP_RECIP, 1}};

/* the fusable op of node n (f32 in and out, all inputs present), or -1 */
static int fusable(const cg_graph *g, const cg_node *n) {
  if (cg_is_dead(n) || n->n_outputs < 1 || n->outputs[0] == CG_NONE || g->tensors[n->outputs[0]].dtype != LS_F32) return -1;
  for (size_t i = 0; i < sizeof fusable_ops / sizeof *fusable_ops; i++) {
    if (strcmp(n->op, fusable_ops[i].name) || n->n_inputs != fusable_ops[i].n_in) continue;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] == CG_NONE || g->tensors[n->inputs[k]].dtype != LS_F32) return -1;
    return (int)i;
  }
  return -1;
}

static int same_dims(const cg_tensor *a, const cg_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

/* absorbed[i]: node i is inlined into its consumer */
static int plan_fusion(const cg_graph *g, uint8_t *absorbed) {
  int *uses = calloc((size_t)g->n_tensors, sizeof *uses);
  int *reads = malloc(sizeof *reads * (size_t)(g->n_nodes ? g->n_nodes : 1)); /* operand reads of i's tree */
  if (!uses || !reads) return free(uses), free(reads), -1;
  for (int i = 0; i < g->n_nodes; i++)
    if (!cg_is_dead(&g->nodes[i]))
      for (int k = 0; k < g->nodes[i].n_inputs; k++)
        if (g->nodes[i].inputs[k] != CG_NONE) uses[g->nodes[i].inputs[k]]++;
  for (int j = 0; j < g->n_nodes; j++) {
    absorbed[j] = 0, reads[j] = 0;
    const cg_node *n = &g->nodes[j];
    if (fusable(g, n) < 0) continue;
    const cg_tensor *y = &g->tensors[n->outputs[0]];
    for (int k = 0; k < n->n_inputs; k++) {
      const int t = n->inputs[k], a = g->tensors[t].producer;
      const int inline_it = a != CG_NONE && fusable(g, &g->nodes[a]) >= 0 && uses[t] == 1 && !g->tensors[t].is_output &&
                            same_dims(&g->tensors[t], y) && reads[j] + reads[a] + (n->n_inputs - 1 - k) <= FUSE_READS;
      if (inline_it) absorbed[a] = 1, reads[j] += reads[a];
      else reads[j] += 1;
    }
  }
  free(uses);
  free(reads);
  return 0;
}

typedef struct fuse_build {
  ex_job *j;
  const uint8_t *absorbed;
  const cg_tensor *y;
  int n_in;
} fuse_build;

static int fuse_tokens(lctx *c, fuse_build *b, int node) {
  const cg_node *n = &c->g->nodes[node];
  const int f = fusable(c->g, n);
  if (f < 0 || b->j->n_tok >= EX_MAX) return -1;
  b->j->tok[b->j->n_tok++] = E_OP(fusable_ops[f].op);
  for (int k = 0; k < n->n_inputs; k++) {
    const int t = n->inputs[k], a = c->g->tensors[t].producer;
    if (a != CG_NONE && b->absorbed[a]) {
      if (fuse_tokens(c, b, a)) return -1;
      continue;
    }
    if (b->n_in >= FUSE_READS || b->j->n_tok >= EX_MAX) return -1;
    if (operand_of(c, t, b->y, &b->j->in[b->n_in])) return -1;
    b->j->tok[b->j->n_tok++] = E_IN(b->n_in);
    b->n_in++;
  }
  return 0;
}

static int lower_fused(lctx *c, int node, const uint8_t *absorbed) {
  const cg_tensor *y = &c->g->tensors[c->n->outputs[0]];
  ex_job *j = calloc(1, sizeof *j);
  if (!j) return fail(c, "out of memory");
  fuse_build b = {j, absorbed, y, 0};
  if (fuse_tokens(c, &b, node)) {
    free(j);
    return c->err[0] ? -1 : fail(c, "internal error: a fused expression is too large");
  }
  j->n_in = b.n_in;
  return flat_expr(c, j, LS_F32);
}

static int lower_node(lctx *c) {
  const char *op = c->n->op;
#define IS(name) (strcmp(op, name) == 0)
  static const struct {
    const char *name;
    ls_op op;
  } unary[] = {{"Relu", LS_OP_RELU},   {"Sqrt", LS_OP_SQRT},     {"Erf", LS_OP_ERF},         {"Exp", LS_OP_EXP},
               {"Log", LS_OP_LOG},     {"Tanh", LS_OP_TANH},     {"Sigmoid", LS_OP_SIGMOID}, {"Neg", LS_OP_NEG},
               {"Abs", LS_OP_ABS},     {"Reciprocal", LS_OP_RECIP}, {"Floor", LS_OP_FLOOR},  {"Ceil", LS_OP_CEIL},
               {"Round", LS_OP_ROUND}, {"Sin", LS_OP_SIN},       {"Cos", LS_OP_COS},         {"Not", LS_OP_NOT}},
    binary[] = {{"Add", LS_OP_ADD}, {"Sub", LS_OP_SUB}, {"Mul", LS_OP_MUL}, {"Div", LS_OP_DIV}, {"Pow", LS_OP_POW},
                {"Max", LS_OP_MAX}, {"Min", LS_OP_MIN}, {"Equal", LS_OP_EQ}, {"Less", LS_OP_LT},
                {"LessOrEqual", LS_OP_LE}, {"And", LS_OP_AND}, {"Or", LS_OP_OR}, {"Xor", LS_OP_XOR}};
  for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
    if (IS(unary[i].name)) return lower_ew(c, unary[i].op, 1, 0);
  for (size_t i = 0; i < sizeof binary / sizeof *binary; i++)
    if (IS(binary[i].name)) {
      if ((IS("Max") || IS("Min")) && c->n->n_inputs != 2) break;
      if (IS("Pow") && (T(c, 1)->dtype != T(c, 0)->dtype || ls_dtype_class(T(c, 0)->dtype) != 'F')) break;
      return lower_ew(c, binary[i].op, 2, 0);
    }
  if (IS("Greater")) return lower_ew(c, LS_OP_LT, 2, 1);
  if (IS("GreaterOrEqual")) return lower_ew(c, LS_OP_LE, 2, 1);
  if (IS("Where")) return lower_ew(c, LS_OP_SEL, 3, 0);
  if (IS("Mod")) {
    if (!cg_attr_int(c->n, "fmod", 0)) return lower_ew(c, LS_OP_MOD, 2, 0);
  }
  if (IS("Cast")) return lower_ew(c, LS_OP_CVT, 1, 0);
  if (IS("Clip") && !((T(c, 1) && !T(c, 1)->data) || (T(c, 2) && !T(c, 2)->data))) { /* else: below */
    double lo = -INFINITY, hi = INFINITY;
    for (int k = 1; k <= 2; k++) {
      const cg_tensor *b = T(c, k);
      if (!b) continue;
      double v = ls_dtype_class(b->dtype) == 'F' ? (double)((const float *)b->data)[0] : (double)cg_const_int(b, 0);
      if (k == 1) lo = v;
      else hi = v;
    }
    if (c->g->opset < 11) lo = cg_attr_float(c->n, "min", -INFINITY), hi = cg_attr_float(c->n, "max", INFINITY);
    ls_op ops[2];
    double imms[2];
    int n = 0;
    if (lo > -INFINITY) ops[n] = LS_OP_MAXS, imms[n++] = lo;
    if (hi < INFINITY) ops[n] = LS_OP_MINS, imms[n++] = hi;
    return lower_imm(c, n, ops, imms, LS_OP_COUNT);
  }
  if (IS("LeakyRelu")) return lower_leaky_relu(c);
  if (IS("BatchNormalization")) return lower_batchnorm(c);
  if (IS("Concat")) return lower_concat(c);
  if (IS("Split")) return lower_split(c);
  if (IS("Expand")) return lower_expand(c);
  if (IS("Gemm")) return lower_gemm(c);
  if (IS("MatMul")) return lower_matmul(c);
  if (IS("Conv")) return lower_conv(c);
  if (IS("MaxPool") || IS("AveragePool")) return lower_pool(c);
  if (IS("GlobalAveragePool") || IS("GlobalMaxPool") || !strncmp(op, "Reduce", 6)) return lower_reduce(c);
  if (IS("Softmax") || IS("LogSoftmax")) return lower_softmax(c);
  if (IS("NegativeLogLikelihoodLoss")) return lower_nll(c);
  if (IS("GatherElements")) return lower_runtime_gather(c);
  if (IS("ArgMax") || IS("ArgMin")) return lower_argmax(c);
  if (IS("Hardmax")) return lower_hardmax(c);
  if (IS("CumSum")) return lower_cumsum(c);
  if (IS("SoftmaxCrossEntropyLoss")) return lower_sce(c);
  if (IS("Transpose") || IS("Slice")) return lower_index(c);
  if (IS("Gather")) {
    if (!T(c, 1)->data) return lower_runtime_gather(c);
    return lower_index(c);
  }
  if (IS("Reshape") || IS("Flatten") || IS("Squeeze") || IS("Unsqueeze") || IS("Identity") || IS("Dropout")) {
    /* the same bytes: share the buffer */
    c->buf[c->n->outputs[0]] = buf_of(c, tid(c, 0));
    return 0;
  }
  if (lower_more_elementwise(c, op) != 1) return c->err[0] ? -1 : 0;
  return fail(c, "has no lowering yet");
#undef IS
}

int cg_lower(cg_graph *g, lo_module *m, char *const *output_names, char *err, size_t errlen) {
  const size_t nt = (size_t)g->n_tensors + 1;
  lctx c = {g, m, malloc(sizeof(int) * nt), malloc(sizeof(int) * nt), malloc(nt), malloc(sizeof(int) * nt), NULL, err, errlen};
  if (!c.buf || !c.splat || !c.nhwc || !c.phases) {
    free(c.buf), free(c.splat), free(c.nhwc), free(c.phases);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  plan_layouts(g, c.nhwc);
  for (int i = 0; i < g->n_tensors; i++) c.buf[i] = c.splat[i] = c.phases[i] = LO_NONE;
  /* graph inputs, and a buffer of its own for every graph output */
  for (int i = 0; i < g->n_inputs; i++) {
    const cg_tensor *t = &g->tensors[g->inputs[i]];
    lo_io(m, buf_of(&c, g->inputs[i]), t->name, 0, t->dtype, t->rank, t->dims);
  }
  int *out_buf = malloc(sizeof(int) * (size_t)(g->n_outputs ? g->n_outputs : 1));
  if (!out_buf) {
    free(c.buf), free(c.splat), free(c.nhwc), free(c.phases);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int t = g->outputs[i];
    const cg_tensor *x = &g->tensors[t];
    int producer_is_alias = x->producer != CG_NONE && !cg_is_dead(&g->nodes[x->producer]) &&
                            (!strcmp(g->nodes[x->producer].op, "Reshape") || !strcmp(g->nodes[x->producer].op, "Flatten") ||
                             !strcmp(g->nodes[x->producer].op, "Squeeze") || !strcmp(g->nodes[x->producer].op, "Unsqueeze") ||
                             !strcmp(g->nodes[x->producer].op, "Identity") || !strcmp(g->nodes[x->producer].op, "Dropout"));
    int copied = x->data || x->is_input || x->producer == CG_NONE || producer_is_alias;
    for (int j = 0; j < i; j++) copied |= g->outputs[j] == t; /* the same tensor twice */
    out_buf[i] = copied ? lo_buf_new(m, x->name, cg_tensor_bytes(x)) : buf_of(&c, t);
  }
  uint8_t *absorbed = malloc((size_t)(g->n_nodes ? g->n_nodes : 1));
  int rc = !absorbed || plan_fusion(g, absorbed) ? -1 : 0;
  if (rc) snprintf(err, errlen, "out of memory");
  for (int i = 0; i < g->n_nodes && !rc; i++) {
    c.n = &g->nodes[i];
    if (cg_is_dead(c.n) || absorbed[i]) continue;
    c.err[0] = 0;
    /* a node with others inlined into it is one expression */
    int fused = 0;
    for (int k = 0; k < c.n->n_inputs && !fused; k++)
      fused = c.n->inputs[k] != CG_NONE && g->tensors[c.n->inputs[k]].producer != CG_NONE &&
              absorbed[g->tensors[c.n->inputs[k]].producer];
    rc = fused ? lower_fused(&c, i, absorbed) : lower_node(&c);
  }
  free(absorbed);
  for (int i = 0; i < g->n_outputs && !rc; i++) {
    int t = g->outputs[i];
    const cg_tensor *x = &g->tensors[t];
    if (out_buf[i] != buf_of(&c, t)) {
      c.n = NULL;
      rc = copy_tensor(&c, t, out_buf[i]);
    }
    if (!rc) lo_io(m, out_buf[i], output_names ? output_names[i] : x->name, 1, x->dtype, x->rank, x->dims);
  }
  free(out_buf);
  free(c.buf);
  free(c.splat);
  free(c.nhwc);
  free(c.phases);
  return rc;
}
