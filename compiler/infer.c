/* infer.c - shape and type inference, with constant folding on the way.
 *
 * Takes: an imported graph whose inputs have static shapes (after --bind).
 * Gives: every tensor's element type and shape; every node whose inputs are all constant
 * evaluated here (its outputs become constants and the node is removed), so that shape
 * computations (Shape -> Gather -> Div -> Slice ...) disappear before lowering.
 * Invariant: every live node's inputs and outputs have known types and static shapes, or
 * the pass fails naming the node and what it could not work out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

#define FOLD_MAX_ELEMS (1 << 24)

/* ---- small helpers shared by the passes ------------------------------------------------ */

int cg_is_dead(const cg_node *n) { return strcmp(n->op, CG_DEAD_OP) == 0; }

void cg_kill(cg_node *n) {
  char *op = malloc(sizeof CG_DEAD_OP);
  if (!op) return;
  memcpy(op, CG_DEAD_OP, sizeof CG_DEAD_OP);
  free(n->op);
  n->op = op;
}

void cg_replace_uses(cg_graph *g, int from, int to) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] == from) g->nodes[i].inputs[k] = to;
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == from) g->outputs[i] = to;
}

int cg_uses(const cg_graph *g, int t) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (cg_is_dead(&g->nodes[i])) continue;
    for (int k = 0; k < g->nodes[i].n_inputs; k++) n += g->nodes[i].inputs[k] == t;
  }
  for (int i = 0; i < g->n_outputs; i++) n += g->outputs[i] == t;
  return n;
}

static cg_attr *attr_slot(cg_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  cg_attr *a = realloc(n->attrs, sizeof *a * (size_t)(n->n_attrs + 1));
  if (!a) return NULL;
  n->attrs = a;
  a = &n->attrs[n->n_attrs++];
  memset(a, 0, sizeof *a);
  size_t len = strlen(name) + 1;
  a->name = malloc(len);
  if (a->name) memcpy(a->name, name, len);
  return a;
}

int cg_set_attr_int(cg_node *n, const char *name, int64_t v) {
  cg_attr *a = attr_slot(n, name);
  if (!a) return -1;
  a->kind = CG_ATTR_INT;
  a->i = v;
  return 0;
}

int cg_set_attr_float(cg_node *n, const char *name, float v) {
  cg_attr *a = attr_slot(n, name);
  if (!a) return -1;
  a->kind = CG_ATTR_FLOAT;
  a->f = v;
  return 0;
}

int cg_set_const(cg_tensor *t, const void *data, size_t bytes) {
  uint8_t *d = malloc(bytes ? bytes : 1);
  if (!d) return -1;
  if (bytes) memcpy(d, data, bytes);
  free(t->data);
  t->data = d;
  return 0;
}

/* ---- broadcasting ------------------------------------------------------------------------- */

int cg_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *ro, int64_t *out) {
  int r = ra > rb ? ra : rb;
  for (int i = 0; i < r; i++) {
    int64_t x = i - (r - ra) >= 0 ? a[i - (r - ra)] : 1, y = i - (r - rb) >= 0 ? b[i - (r - rb)] : 1;
    if (x != y && x != 1 && y != 1) return -1;
    out[i] = x == 1 ? y : x;
  }
  *ro = r;
  return 0;
}

void cg_broadcast_index(int ri, const int64_t *in, int ro, const int64_t *out, int64_t *idx) {
  int64_t total = 1;
  for (int d = 0; d < ro; d++) total *= out[d];
  int64_t istride[LS_MAX_RANK] = {0};
  int64_t s = 1;
  for (int d = ri - 1; d >= 0; d--) {
    istride[d] = in[d] == 1 ? 0 : s;
    s *= in[d];
  }
  int64_t coord[LS_MAX_RANK] = {0};
  for (int64_t i = 0; i < total; i++) {
    int64_t k = 0;
    for (int d = 0; d < ri; d++) k += coord[d + (ro - ri)] * istride[d];
    idx[i] = k;
    for (int d = ro - 1; d >= 0; d--) {
      if (++coord[d] < out[d]) break;
      coord[d] = 0;
    }
  }
}

/* ---- element access for folding ---------------------------------------------------------- */

static int is_float(ls_dtype t) { return ls_dtype_class(t) == 'F'; }

static int64_t get_i(const cg_tensor *t, int64_t i) { return is_float(t->dtype) ? (int64_t)cg_const_double(t, i) : cg_const_int(t, i); }

static void put(uint8_t *base, ls_dtype dt, int64_t i, double d, int64_t v, int from_float) {
  uint8_t *p = base + (size_t)i * ls_dtype_size(dt);
  if (is_float(dt)) {
    double x = from_float ? d : (double)v;
    switch (dt) {
    case LS_F32: { float f = (float)x; memcpy(p, &f, 4); break; }
    case LS_F64: memcpy(p, &x, 8); break;
    case LS_F16: { uint16_t h = ls_f32_to_f16((float)x); memcpy(p, &h, 2); break; }
    default: { uint16_t h = ls_f32_to_bf16((float)x); memcpy(p, &h, 2); break; }
    }
    return;
  }
  int64_t x = v;
  if (from_float) x = d != d ? 0 : d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
  if (dt == LS_BOOL) x = from_float ? d != 0 : v != 0;
  size_t sz = ls_dtype_size(dt);
  for (size_t b = 0; b < sz; b++) p[b] = (uint8_t)((uint64_t)x >> (8 * b));
}

/* ---- shapes ------------------------------------------------------------------------------- */

typedef struct ictx {
  cg_graph *g;
  cg_node *n;
  char *err;
  size_t errlen;
} ictx;

static int fail(ictx *c, const char *fmt, const char *detail) {
  snprintf(c->err, c->errlen, "%s: node %s (%s): ", c->g->source ? c->g->source : "model", c->n->name, c->n->op);
  size_t k = strlen(c->err);
  snprintf(c->err + k, c->errlen - k, fmt, detail);
  return -1;
}

static cg_tensor *in_t(ictx *c, int k) {
  return k < c->n->n_inputs && c->n->inputs[k] != CG_NONE ? &c->g->tensors[c->n->inputs[k]] : NULL;
}
static cg_tensor *out_t(ictx *c, int k) {
  return k < c->n->n_outputs && c->n->outputs[k] != CG_NONE ? &c->g->tensors[c->n->outputs[k]] : NULL;
}

static void set_shape(cg_tensor *t, ls_dtype dt, int rank, const int64_t *dims) {
  t->dtype = dt;
  t->rank = rank;
  for (int d = 0; d < LS_MAX_RANK; d++) t->dims[d] = d < rank ? dims[d] : -1;
}

static int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

/* ONNX TensorProto.DataType -> ls_dtype */
static int onnx_dtype(int64_t v) {
  switch (v) {
  case 1: return LS_F32;
  case 2: return LS_U8;
  case 3: return LS_I8;
  case 4: return LS_U16;
  case 5: return LS_I16;
  case 6: return LS_I32;
  case 7: return LS_I64;
  case 9: return LS_BOOL;
  case 10: return LS_F16;
  case 11: return LS_F64;
  case 12: return LS_U32;
  case 13: return LS_U64;
  case 16: return LS_BF16;
  default: return -1;
  }
}

/* Read an int64 list: from input k if given (must be constant), else from attribute name. */
static int int_list(ictx *c, int k, const char *attr, int64_t *v, int *count, int max) {
  const cg_tensor *t = in_t(c, k);
  if (t) {
    if (!t->data) return fail(c, "input %s must be a constant (bind it with --bind)", t->name);
    int64_t n = cg_tensor_elems(t);
    if (n > max) return fail(c, "too many values in %s", t->name);
    for (int64_t i = 0; i < n; i++) v[i] = cg_const_int(t, i);
    *count = (int)n;
    return 0;
  }
  int n = 0;
  const int64_t *a = cg_attr_ints(c->n, attr, &n);
  if (!a) {
    *count = -1;
    return 0;
  }
  if (n > max) return fail(c, "too many values in attribute %s", attr);
  memcpy(v, a, sizeof *v * (size_t)n);
  *count = n;
  return 0;
}

/* values of Slice parameter k (input k, else attribute `attr`): count, or -1 if absent */
static int slice_list(const cg_graph *g, const cg_node *n, int k, const char *attr, int64_t *v) {
  if (k < n->n_inputs && n->inputs[k] != CG_NONE) {
    const cg_tensor *t = &g->tensors[n->inputs[k]];
    int64_t e = cg_tensor_elems(t);
    if (!t->data || e < 0 || e > LS_MAX_RANK) return -2;
    for (int64_t i = 0; i < e; i++) v[i] = cg_const_int(t, i);
    return (int)e;
  }
  int cnt = 0;
  const int64_t *a = cg_attr_ints(n, attr, &cnt);
  if (!a || cnt > LS_MAX_RANK) return -1;
  memcpy(v, a, sizeof *v * (size_t)cnt);
  return cnt;
}

int cg_slice_params(const cg_graph *g, const cg_node *n, int rank, const int64_t *dims, int64_t *start, int64_t *step) {
  int64_t st[LS_MAX_RANK], ax[LS_MAX_RANK], sp[LS_MAX_RANK];
  int ns = slice_list(g, n, 1, "starts", st), na = slice_list(g, n, 3, "axes", ax), nst = slice_list(g, n, 4, "steps", sp);
  if (ns < 0 || na == -2 || nst == -2) return -1;
  for (int d = 0; d < rank; d++) start[d] = 0, step[d] = 1;
  for (int q = 0; q < ns; q++) {
    int a = (int)(na > 0 ? ax[q] : q);
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return -1;
    int64_t dim = dims[a], s0 = st[q] < 0 ? st[q] + dim : st[q];
    step[a] = nst > 0 ? sp[q] : 1;
    s0 = step[a] > 0 ? (s0 < 0 ? 0 : s0 > dim ? dim : s0) : (s0 < 0 ? -1 : s0 > dim - 1 ? dim - 1 : s0);
    start[a] = s0;
  }
  return 0;
}

void cg_matmul_dims(const cg_tensor *a, const cg_tensor *b, int64_t *ad, int *ra, int64_t *bd, int *rb) {
  memcpy(ad, a->dims, sizeof a->dims);
  memcpy(bd, b->dims, sizeof b->dims);
  *ra = a->rank, *rb = b->rank;
  if (*ra == 1) ad[1] = ad[0], ad[0] = 1, *ra = 2; /* a vector times a matrix: a row */
  if (*rb == 1) bd[1] = 1, *rb = 2;                /* a matrix times a vector: a column */
}

/* spatial output size of a convolution or pooling window */
static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, int ceil_mode) {
  int64_t span = in + pb + pe - d * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t o = ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
  if (ceil_mode && (o - 1) * s >= in + pb) o--; /* the last window must start inside the input or its begin pad */
  return o;
}

/* kernel/strides/pads/dilations of Conv and pooling nodes, with auto_pad resolved */
int cg_window_params(const cg_node *n, int sp, int64_t *kernel, int64_t *strides, int64_t *pads, int64_t *dil,
                     const int64_t *in_dims, const int64_t *w_dims) {
  int cnt;
  const int64_t *v;
  for (int i = 0; i < sp; i++) strides[i] = 1, dil[i] = 1, pads[i] = pads[i + sp] = 0;
  if (w_dims) for (int i = 0; i < sp; i++) kernel[i] = w_dims[2 + i];
  if ((v = cg_attr_ints(n, "kernel_shape", &cnt)) && cnt == sp) memcpy(kernel, v, sizeof *v * (size_t)sp);
  if ((v = cg_attr_ints(n, "strides", &cnt)) && cnt == sp) memcpy(strides, v, sizeof *v * (size_t)sp);
  if ((v = cg_attr_ints(n, "dilations", &cnt)) && cnt == sp) memcpy(dil, v, sizeof *v * (size_t)sp);
  if ((v = cg_attr_ints(n, "pads", &cnt)) && cnt == 2 * sp) memcpy(pads, v, sizeof *v * (size_t)(2 * sp));
  const char *ap = cg_attr_string(n, "auto_pad", "NOTSET");
  if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
    for (int i = 0; i < sp; i++) {
      int64_t in = in_dims[2 + i], out = (in + strides[i] - 1) / strides[i];
      int64_t total = (out - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1 - in;
      if (total < 0) total = 0;
      int64_t small = total / 2, big = total - small;
      pads[i] = strcmp(ap, "SAME_UPPER") == 0 ? small : big;
      pads[i + sp] = total - pads[i];
    }
  } else if (strcmp(ap, "VALID") == 0) {
    for (int i = 0; i < 2 * sp; i++) pads[i] = 0;
  }
  for (int i = 0; i < sp; i++)
    if (kernel[i] < 1 || strides[i] < 1 || dil[i] < 1) return -1;
  return 0;
}

/* Infer node c->n's outputs. Returns 0, or -1 with the message set. */
static int infer_node(ictx *c) {
  const char *op = c->n->op;
  cg_tensor *x = in_t(c, 0), *y = out_t(c, 0);
  if (!y) return 0;
  if (x && x->rank < 0) return fail(c, "the shape of input %s is unknown", x->name);
  int64_t d[LS_MAX_RANK];
  int r;

#define IS(name) (strcmp(op, name) == 0)
  if (IS("Relu") || IS("Sqrt") || IS("Erf") || IS("Exp") || IS("Log") || IS("Tanh") || IS("Sigmoid") ||
      IS("Neg") || IS("Abs") || IS("Reciprocal") || IS("Floor") || IS("Ceil") || IS("Identity") || IS("Dropout") ||
      IS("Clip") || IS("LeakyRelu") || IS("Softmax") || IS("BatchNormalization") || IS("Round") || IS("Sin") ||
      IS("Cos") || IS("Not") || IS("HardSigmoid") || IS("Elu") || IS("Selu") || IS("Softplus") || IS("LogSoftmax") ||
      IS("Tan") || IS("Atan") || IS("Asin") || IS("Acos") || IS("Sinh") || IS("Cosh") || IS("Asinh") || IS("Acosh") ||
      IS("Atanh") || IS("Sign") || IS("IsNaN") || IS("IsInf") || IS("HardSwish") || IS("Celu") || IS("Softsign") ||
      IS("ThresholdedRelu") || IS("Shrink") || IS("CastLike") || IS("Hardmax") || IS("CumSum")) {
    if (IS("CumSum") && in_t(c, 1) && !in_t(c, 1)->data) return fail(c, "input %s must be a constant", in_t(c, 1)->name);
    ls_dtype dt = IS("IsNaN") || IS("IsInf") ? LS_BOOL : IS("CastLike") ? in_t(c, 1)->dtype : x->dtype;
    set_shape(y, dt, x->rank, x->dims);
    if (IS("Dropout")) {
      const cg_tensor *tm = in_t(c, 2), *ratio = in_t(c, 1);
      if (tm && !tm->data) return fail(c, "input %s (training_mode) must be a constant", tm->name);
      if (ratio && !ratio->data) return fail(c, "input %s (ratio) must be a constant", ratio->name);
      double rv = ratio ? (ratio->dtype == LS_F32 ? (double)*(const float *)ratio->data : cg_const_double(ratio, 0)) : 0.5;
      if (tm && cg_const_int(tm, 0) && rv != 0)
        return fail(c, "%s", "training-mode Dropout draws random numbers (expected training_mode false or ratio 0)");
    }
    if (IS("Dropout") && out_t(c, 1)) { /* the mask: all true when nothing is dropped */
      cg_tensor *mk = out_t(c, 1);
      set_shape(mk, LS_BOOL, x->rank, x->dims);
      int64_t n = cg_tensor_elems(x);
      uint8_t *ones = malloc((size_t)(n ? n : 1));
      if (!ones) return fail(c, "%s", "out of memory");
      memset(ones, 1, (size_t)(n ? n : 1));
      int rc = cg_set_const(mk, ones, (size_t)n);
      free(ones);
      if (rc) return fail(c, "%s", "out of memory");
      mk->producer = CG_NONE;
    }
    return 0;
  }
  if (IS("Cast")) {
    int dt = onnx_dtype(cg_attr_int(c->n, "to", 0));
    if (dt < 0) return fail(c, "cast to an unsupported type (%s)", "to");
    set_shape(y, (ls_dtype)dt, x->rank, x->dims);
    return 0;
  }
  if (IS("Add") || IS("Sub") || IS("Mul") || IS("Div") || IS("Pow") || IS("Equal") || IS("Less") || IS("Greater") ||
      IS("LessOrEqual") || IS("GreaterOrEqual") || IS("And") || IS("Or") || IS("Xor") || IS("Mod") || IS("Max") ||
      IS("Min") || IS("Sum") || IS("Where") || IS("PRelu") || IS("Mean") || IS("BitShift")) {
    int64_t cur[LS_MAX_RANK];
    int rc = x->rank;
    memcpy(cur, x->dims, sizeof cur);
    for (int k = 1; k < c->n->n_inputs; k++) {
      cg_tensor *z = in_t(c, k);
      if (!z) continue;
      if (z->rank < 0) return fail(c, "the shape of input %s is unknown", z->name);
      if (cg_broadcast(rc, cur, z->rank, z->dims, &r, d)) return fail(c, "inputs do not broadcast (%s)", z->name);
      rc = r;
      memcpy(cur, d, sizeof cur);
    }
    ls_dtype dt = x->dtype;
    if (IS("Where")) dt = in_t(c, 1)->dtype;
    if (IS("Equal") || IS("Less") || IS("Greater") || IS("LessOrEqual") || IS("GreaterOrEqual")) dt = LS_BOOL;
    set_shape(y, dt, rc, cur);
    return 0;
  }
  if (IS("Gemm")) {
    cg_tensor *b = in_t(c, 1);
    if (x->rank != 2 || !b || b->rank != 2) return fail(c, "%s", "Gemm takes two matrices");
    int64_t ta = cg_attr_int(c->n, "transA", 0), tb = cg_attr_int(c->n, "transB", 0);
    int64_t M = ta ? x->dims[1] : x->dims[0], K = ta ? x->dims[0] : x->dims[1];
    int64_t K2 = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != K2) return fail(c, "%s", "the inner dimensions of A and B differ");
    d[0] = M, d[1] = N;
    set_shape(y, x->dtype, 2, d);
    return 0;
  }
  if (IS("MatMul")) {
    cg_tensor *b = in_t(c, 1);
    if (x->rank < 1 || !b || b->rank < 1) return fail(c, "%s", "MatMul takes two tensors of rank >= 1");
    int64_t ad[LS_MAX_RANK + 1], bd[LS_MAX_RANK + 1];
    int ra, rb;
    cg_matmul_dims(x, b, ad, &ra, bd, &rb);
    if (ad[ra - 1] != bd[rb - 2]) return fail(c, "%s", "the inner dimensions of A and B differ");
    if (cg_broadcast(ra - 2, ad, rb - 2, bd, &r, d)) return fail(c, "%s", "the batch dimensions do not broadcast");
    d[r++] = ad[ra - 2];
    d[r++] = bd[rb - 1];
    if (x->rank == 1) d[r - 2] = d[r - 1], r--;
    if (b->rank == 1) r--;
    set_shape(y, x->dtype, r, d);
    return 0;
  }
  if (IS("Conv") || IS("MaxPool") || IS("AveragePool")) {
    const int sp = x->rank - 2;
    if (sp < 1 || sp > 3) return fail(c, "%s", "expected an input of rank 3 to 5 (N, C, spatial...)");
    cg_tensor *w = IS("Conv") ? in_t(c, 1) : NULL;
    if (IS("Conv") && (!w || w->rank != x->rank)) return fail(c, "%s", "the weight's rank must match the input's");
    int64_t k[3], s[3], p[6], dl[3];
    if (cg_window_params(c->n, sp, k, s, p, dl, x->dims, w ? w->dims : NULL))
      return fail(c, "%s", "bad kernel_shape, strides or dilations");
    int ceil_mode = (int)cg_attr_int(c->n, "ceil_mode", 0);
    d[0] = x->dims[0];
    d[1] = w ? w->dims[0] : x->dims[1];
    for (int i = 0; i < sp; i++) d[2 + i] = window_out(x->dims[2 + i], k[i], s[i], dl[i], p[i], p[i + sp], ceil_mode);
    if (w && x->dims[1] != w->dims[1] * cg_attr_int(c->n, "group", 1))
      return fail(c, "%s", "input channels do not match the weight's channels times group");
    set_shape(y, x->dtype, x->rank, d);
    if (IS("MaxPool") && out_t(c, 1)) set_shape(out_t(c, 1), LS_I64, x->rank, d);
    return 0;
  }
  if (IS("GlobalAveragePool") || IS("GlobalMaxPool")) {
    memcpy(d, x->dims, sizeof d);
    for (int i = 2; i < x->rank; i++) d[i] = 1;
    set_shape(y, x->dtype, x->rank, d);
    return 0;
  }
  if (IS("Flatten")) {
    int a = norm_axis(cg_attr_int(c->n, "axis", 1), x->rank);
    d[0] = d[1] = 1;
    for (int i = 0; i < x->rank; i++) d[i < a ? 0 : 1] *= x->dims[i];
    set_shape(y, x->dtype, 2, d);
    return 0;
  }
  if (IS("Reshape")) {
    int64_t v[LS_MAX_RANK];
    int n;
    if (int_list(c, 1, "shape", v, &n, LS_MAX_RANK)) return -1;
    if (n < 0) return fail(c, "%s", "no target shape");
    int64_t known = 1, total = cg_tensor_elems(x);
    int minus = -1;
    int allowzero = (int)cg_attr_int(c->n, "allowzero", 0);
    for (int i = 0; i < n; i++) {
      if (v[i] == 0 && !allowzero) v[i] = x->dims[i];
      if (v[i] == -1) minus = i;
      else known *= v[i];
    }
    if (minus >= 0) v[minus] = known ? total / known : 0;
    int64_t check = 1;
    for (int i = 0; i < n; i++) check *= v[i];
    if (check != total) return fail(c, "%s", "the new shape has a different number of elements");
    set_shape(y, x->dtype, n, v);
    return 0;
  }
  if (IS("Transpose")) {
    int64_t perm[LS_MAX_RANK];
    int n = 0;
    const int64_t *pv = cg_attr_ints(c->n, "perm", &n);
    for (int i = 0; i < x->rank; i++) perm[i] = pv && n == x->rank ? pv[i] : x->rank - 1 - i;
    for (int i = 0; i < x->rank; i++) d[i] = x->dims[perm[i]];
    set_shape(y, x->dtype, x->rank, d);
    return 0;
  }
  if (IS("Shape")) {
    int64_t st = cg_attr_int(c->n, "start", 0), en = cg_attr_int(c->n, "end", x->rank);
    if (st < 0) st += x->rank;
    if (en < 0) en += x->rank;
    if (st < 0) st = 0;
    if (en > x->rank) en = x->rank;
    d[0] = en > st ? en - st : 0;
    set_shape(y, LS_I64, 1, d);
    return 0;
  }
  if (IS("Gather")) {
    cg_tensor *ix = in_t(c, 1);
    int a = norm_axis(cg_attr_int(c->n, "axis", 0), x->rank);
    if (a < 0 || a >= x->rank) return fail(c, "%s", "axis out of range");
    r = 0;
    for (int i = 0; i < a; i++) d[r++] = x->dims[i];
    for (int i = 0; i < ix->rank; i++) d[r++] = ix->dims[i];
    for (int i = a + 1; i < x->rank; i++) d[r++] = x->dims[i];
    if (r > LS_MAX_RANK) return fail(c, "%s", "result rank too large");
    set_shape(y, x->dtype, r, d);
    return 0;
  }
  if (IS("Slice")) {
    int64_t st[LS_MAX_RANK], en[LS_MAX_RANK], ax[LS_MAX_RANK], sp[LS_MAX_RANK];
    int ns, ne, na, nst;
    if (int_list(c, 1, "starts", st, &ns, LS_MAX_RANK) || int_list(c, 2, "ends", en, &ne, LS_MAX_RANK) ||
        int_list(c, 3, "axes", ax, &na, LS_MAX_RANK) || int_list(c, 4, "steps", sp, &nst, LS_MAX_RANK))
      return -1;
    if (ns < 0 || ne != ns) return fail(c, "%s", "starts and ends must be given, of equal length");
    memcpy(d, x->dims, sizeof d);
    for (int i = 0; i < ns; i++) {
      int a = norm_axis(na > 0 ? ax[i] : i, x->rank);
      int64_t step = nst > 0 ? sp[i] : 1, dim = x->dims[a];
      if (step == 0) return fail(c, "%s", "a step of 0");
      int64_t s0 = st[i] < 0 ? st[i] + dim : st[i], e0 = en[i] < 0 ? en[i] + dim : en[i];
      if (step > 0) {
        s0 = s0 < 0 ? 0 : s0 > dim ? dim : s0;
        e0 = e0 < 0 ? 0 : e0 > dim ? dim : e0;
        d[a] = e0 > s0 ? (e0 - s0 + step - 1) / step : 0;
      } else {
        s0 = s0 < 0 ? -1 : s0 > dim - 1 ? dim - 1 : s0;
        e0 = e0 < -1 ? -1 : e0 > dim - 1 ? dim - 1 : e0;
        d[a] = s0 > e0 ? (s0 - e0 + (-step) - 1) / (-step) : 0;
      }
    }
    set_shape(y, x->dtype, x->rank, d);
    return 0;
  }
  if (IS("Concat")) {
    int a = norm_axis(cg_attr_int(c->n, "axis", 0), x->rank);
    memcpy(d, x->dims, sizeof d);
    d[a] = 0;
    for (int k = 0; k < c->n->n_inputs; k++) d[a] += in_t(c, k)->dims[a];
    set_shape(y, x->dtype, x->rank, d);
    return 0;
  }
  if (IS("Unsqueeze") || IS("Squeeze")) {
    int64_t ax[LS_MAX_RANK];
    int na;
    if (int_list(c, 1, "axes", ax, &na, LS_MAX_RANK)) return -1;
    if (IS("Unsqueeze")) {
      int ro = x->rank + (na > 0 ? na : 0);
      if (ro > LS_MAX_RANK) return fail(c, "%s", "result rank too large");
      int mark[LS_MAX_RANK] = {0};
      for (int i = 0; i < na; i++) mark[norm_axis(ax[i], ro)] = 1;
      for (int i = 0, j = 0; i < ro; i++) d[i] = mark[i] ? 1 : x->dims[j++];
      set_shape(y, x->dtype, ro, d);
    } else {
      int mark[LS_MAX_RANK] = {0};
      if (na < 0)
        for (int i = 0; i < x->rank; i++) mark[i] = x->dims[i] == 1;
      for (int i = 0; i < na; i++) mark[norm_axis(ax[i], x->rank)] = 1;
      r = 0;
      for (int i = 0; i < x->rank; i++)
        if (!mark[i]) d[r++] = x->dims[i];
      set_shape(y, x->dtype, r, d);
    }
    return 0;
  }
  if (IS("ReduceMean") || IS("ReduceSum") || IS("ReduceMax") || IS("ReduceMin") || IS("ReduceProd") || IS("ReduceL1") ||
      IS("ReduceL2") || IS("ReduceLogSum") || IS("ReduceLogSumExp") || IS("ReduceSumSquare")) {
    int64_t ax[LS_MAX_RANK];
    int na;
    if (int_list(c, IS("ReduceSum") ? 1 : 99, "axes", ax, &na, LS_MAX_RANK)) return -1;
    int keep = (int)cg_attr_int(c->n, "keepdims", 1);
    int mark[LS_MAX_RANK] = {0};
    if (na <= 0 && !cg_attr_int(c->n, "noop_with_empty_axes", 0))
      for (int i = 0; i < x->rank; i++) mark[i] = 1;
    for (int i = 0; i < na; i++) mark[norm_axis(ax[i], x->rank)] = 1;
    r = 0;
    for (int i = 0; i < x->rank; i++) {
      if (!mark[i]) d[r++] = x->dims[i];
      else if (keep) d[r++] = 1;
    }
    set_shape(y, x->dtype, r, d);
    return 0;
  }
  if (IS("Expand")) {
    int64_t v[LS_MAX_RANK];
    int n;
    if (int_list(c, 1, "shape", v, &n, LS_MAX_RANK)) return -1;
    if (n < 0 || cg_broadcast(x->rank, x->dims, n, v, &r, d)) return fail(c, "%s", "the shape does not broadcast with the input");
    set_shape(y, x->dtype, r, d);
    return 0;
  }
  if (IS("Split")) {
    int a = norm_axis(cg_attr_int(c->n, "axis", 0), x->rank);
    if (a < 0 || a >= x->rank) return fail(c, "%s", "axis out of range");
    int64_t sp[64];
    int ns;
    if (int_list(c, 1, "split", sp, &ns, 64)) return -1;
    const int no = c->n->n_outputs;
    if (ns < 0) { /* equal parts, the last one smaller if need be */
      int64_t part = (x->dims[a] + no - 1) / no;
      for (int k = 0; k < no && k < 64; k++) sp[k] = k < no - 1 ? part : x->dims[a] - part * (no - 1);
      ns = no;
    }
    if (ns != no) return fail(c, "%s", "the split sizes do not match the outputs");
    int64_t sum = 0;
    for (int k = 0; k < no; k++) {
      sum += sp[k];
      memcpy(d, x->dims, sizeof d);
      d[a] = sp[k];
      if (out_t(c, k)) set_shape(out_t(c, k), x->dtype, x->rank, d);
    }
    if (sum != x->dims[a]) return fail(c, "%s", "the split sizes do not add up to the axis");
    return 0;
  }
  if (IS("Size")) {
    set_shape(y, LS_I64, 0, d);
    int64_t n = cg_tensor_elems(x);
    if (cg_set_const(y, &n, 8)) return fail(c, "%s", "out of memory");
    return 0;
  }
  if (IS("ConstantOfShape") || IS("EyeLike") || IS("Range")) { /* values known here */
    int64_t v[LS_MAX_RANK];
    int n = 0;
    ls_dtype dt = LS_F32;
    uint8_t one[8] = {0};
    if (IS("ConstantOfShape")) {
      if (int_list(c, 0, "", v, &n, LS_MAX_RANK)) return -1;
      const cg_attr *va = cg_attr_find(c->n, "value");
      if (va && va->kind == CG_ATTR_TENSOR) {
        const cg_tensor *vt = &c->g->tensors[va->i];
        dt = vt->dtype;
        memcpy(one, vt->data, ls_dtype_size(dt));
      }
    } else if (IS("EyeLike")) {
      if (x->rank != 2) return fail(c, "%s", "EyeLike takes a matrix");
      n = 2, v[0] = x->dims[0], v[1] = x->dims[1];
      int od = onnx_dtype(cg_attr_int(c->n, "dtype", -1));
      dt = cg_attr_find(c->n, "dtype") ? (od < 0 ? LS_F32 : (ls_dtype)od) : x->dtype;
    } else {
      for (int k = 0; k < 3; k++)
        if (!in_t(c, k) || !in_t(c, k)->data) return fail(c, "input %s must be a constant", in_t(c, k) ? in_t(c, k)->name : "?");
      dt = x->dtype;
      double st = cg_const_double(x, 0), lim = cg_const_double(in_t(c, 1), 0), dl = cg_const_double(in_t(c, 2), 0);
      double cnt = dl != 0 ? ceil((lim - st) / dl) : 0;
      n = 1, v[0] = cnt > 0 ? (int64_t)cnt : 0;
    }
    set_shape(y, dt, n, v);
    int64_t total = cg_tensor_elems(y);
    if (total < 0 || total > FOLD_MAX_ELEMS) return fail(c, "%s", "too many elements to make");
    size_t sz = ls_dtype_size(dt);
    uint8_t *buf = calloc((size_t)(total ? total : 1), sz);
    if (!buf) return fail(c, "%s", "out of memory");
    int64_t k = cg_attr_int(c->n, "k", 0);
    for (int64_t i = 0; i < total; i++) {
      if (IS("ConstantOfShape")) memcpy(buf + (size_t)i * sz, one, sz);
      else if (IS("EyeLike")) put(buf, dt, i, 1, 1, 0), put(buf, dt, i, 0, i % v[1] - i / v[1] == k, 0);
      else if (is_float(dt)) put(buf, dt, i, cg_const_double(x, 0) + (double)i * cg_const_double(in_t(c, 2), 0), 0, 1);
      else put(buf, dt, i, 0, get_i(x, 0) + i * get_i(in_t(c, 2), 0), 0);
    }
    int rc = cg_set_const(y, buf, (size_t)total * sz);
    free(buf);
    return rc ? fail(c, "%s", "out of memory") : 0;
  }
  if (IS("NegativeLogLikelihoodLoss") || IS("SoftmaxCrossEntropyLoss")) {
    cg_tensor *t = in_t(c, 1);
    if (!t || x->rank < 2 || t->rank != x->rank - 1) return fail(c, "%s", "expected scores (N, C, d...) and targets (N, d...)");
    if (strcmp(cg_attr_string(c->n, "reduction", "mean"), "none")) set_shape(y, x->dtype, 0, d);
    else set_shape(y, x->dtype, t->rank, t->dims);
    if (out_t(c, 1)) set_shape(out_t(c, 1), x->dtype, x->rank, x->dims);
    return 0;
  }
  if (IS("ArgMax") || IS("ArgMin")) {
    int a = norm_axis(cg_attr_int(c->n, "axis", 0), x->rank);
    if (a < 0 || a >= x->rank) return fail(c, "%s", "axis out of range");
    int keep = (int)cg_attr_int(c->n, "keepdims", 1);
    r = 0;
    for (int i = 0; i < x->rank; i++)
      if (i != a) d[r++] = x->dims[i];
      else if (keep) d[r++] = 1;
    set_shape(y, LS_I64, r, d);
    return 0;
  }
  if (IS("GatherElements")) {
    cg_tensor *ix = in_t(c, 1);
    if (!ix || ix->rank != x->rank) return fail(c, "%s", "indices of the input's rank expected");
    set_shape(y, x->dtype, ix->rank, ix->dims);
    return 0;
  }
  if (IS("Trilu")) {
    cg_tensor *k = in_t(c, 1);
    if (k && !k->data) return fail(c, "input %s must be a constant", k->name);
    if (x->rank < 2) return fail(c, "%s", "Trilu takes a tensor of rank >= 2");
    set_shape(y, x->dtype, x->rank, x->dims);
    return 0;
  }
  if (IS("Constant")) return 0; /* folded */
  snprintf(c->err, c->errlen, "%s: node %s: unsupported operator %s%s%s (opset %lld)",
           c->g->source ? c->g->source : "model", c->n->name, c->n->domain[0] ? c->n->domain : "",
           c->n->domain[0] ? "." : "", op, (long long)c->g->opset);
  return -1;
#undef IS
}

/* ---- folding ------------------------------------------------------------------------------- */

static double apply_d(const char *op, double a, double b) {
  if (!strcmp(op, "Add")) return a + b;
  if (!strcmp(op, "Sub")) return a - b;
  if (!strcmp(op, "Mul")) return a * b;
  if (!strcmp(op, "Div")) return a / b;
  if (!strcmp(op, "Pow")) return pow(a, b);
  if (!strcmp(op, "Max")) return a > b ? a : b;
  if (!strcmp(op, "Min")) return a < b ? a : b;
  if (!strcmp(op, "Equal")) return a == b;
  if (!strcmp(op, "Less")) return a < b;
  if (!strcmp(op, "Greater")) return a > b;
  return NAN;
}
static int64_t apply_i(const char *op, int64_t a, int64_t b) {
  if (!strcmp(op, "Add")) return (int64_t)((uint64_t)a + (uint64_t)b);
  if (!strcmp(op, "Sub")) return (int64_t)((uint64_t)a - (uint64_t)b);
  if (!strcmp(op, "Mul")) return (int64_t)((uint64_t)a * (uint64_t)b);
  if (!strcmp(op, "Div")) return b == 0 ? 0 : (a == INT64_MIN && b == -1) ? a : a / b;
  if (!strcmp(op, "Max")) return a > b ? a : b;
  if (!strcmp(op, "Min")) return a < b ? a : b;
  if (!strcmp(op, "Equal")) return a == b;
  if (!strcmp(op, "Less")) return a < b;
  if (!strcmp(op, "Greater")) return a > b;
  if (!strcmp(op, "Pow")) {
    int64_t r = 1;
    for (int64_t i = 0; i < b && i < 64; i++) r = (int64_t)((uint64_t)r * (uint64_t)a);
    return r;
  }
  return 0;
}
static double apply_u(const char *op, double a) {
  if (!strcmp(op, "Sqrt")) return sqrt(a);
  if (!strcmp(op, "Neg")) return -a;
  if (!strcmp(op, "Relu")) return a < 0 ? 0 : a;
  if (!strcmp(op, "Abs")) return fabs(a);
  if (!strcmp(op, "Exp")) return exp(a);
  if (!strcmp(op, "Erf")) return erf(a);
  if (!strcmp(op, "Floor")) return floor(a);
  if (!strcmp(op, "Ceil")) return ceil(a);
  if (!strcmp(op, "Reciprocal")) return 1 / a;
  return a; /* Identity and friends */
}

/* Evaluate c->n whose inputs are constant. 1 if folded, 0 if this op is not folded here. */
static int fold_node(ictx *c) {
  const char *op = c->n->op;
  cg_tensor *x = in_t(c, 0), *y = out_t(c, 0);
#define IS(name) (strcmp(op, name) == 0)
  if (IS("Constant")) {
    const cg_attr *v = cg_attr_find(c->n, "value");
    if (v && v->kind == CG_ATTR_TENSOR) {
      cg_tensor *src = &c->g->tensors[v->i];
      set_shape(y, src->dtype, src->rank, src->dims);
      return cg_set_const(y, src->data, cg_tensor_bytes(src)) ? -1 : 1;
    }
    int64_t one = 1;
    if ((v = cg_attr_find(c->n, "value_float"))) {
      set_shape(y, LS_F32, 0, &one);
      return cg_set_const(y, &v->f, 4) ? -1 : 1;
    }
    if ((v = cg_attr_find(c->n, "value_int"))) {
      set_shape(y, LS_I64, 0, &one);
      return cg_set_const(y, &v->i, 8) ? -1 : 1;
    }
    if ((v = cg_attr_find(c->n, "value_ints"))) {
      int64_t n = v->n;
      set_shape(y, LS_I64, 1, &n);
      return cg_set_const(y, v->ints, sizeof(int64_t) * (size_t)v->n) ? -1 : 1;
    }
    if ((v = cg_attr_find(c->n, "value_floats"))) {
      int64_t n = v->n;
      set_shape(y, LS_F32, 1, &n);
      return cg_set_const(y, v->floats, 4 * (size_t)v->n) ? -1 : 1;
    }
    return fail(c, "%s", "a Constant without a supported value attribute");
  }
  if (IS("Shape")) {
    int64_t n = y->dims[0], st = cg_attr_int(c->n, "start", 0);
    if (st < 0) st += x->rank;
    if (st < 0) st = 0;
    int64_t v[LS_MAX_RANK];
    for (int64_t i = 0; i < n; i++) v[i] = x->dims[st + i];
    return cg_set_const(y, v, sizeof(int64_t) * (size_t)n) ? -1 : 1;
  }
  for (int k = 0; k < c->n->n_inputs; k++)
    if (in_t(c, k) && !in_t(c, k)->data) return 0;
  int64_t total = cg_tensor_elems(y);
  if (total < 0 || total > FOLD_MAX_ELEMS) return 0;
  uint8_t *buf = malloc((size_t)(total ? total : 1) * ls_dtype_size(y->dtype));
  if (!buf) return fail(c, "%s", "out of memory folding a constant");
  int done = 1;
  if (IS("Identity") || IS("Reshape") || IS("Flatten") || IS("Squeeze") || IS("Unsqueeze") || IS("Dropout")) {
    memcpy(buf, x->data, cg_tensor_bytes(x));
  } else if (IS("Expand")) {
    int64_t *ix = malloc(sizeof *ix * (size_t)(total ? total : 1));
    if (!ix) return free(buf), fail(c, "%s", "out of memory folding a constant");
    cg_broadcast_index(x->rank, x->dims, y->rank, y->dims, ix);
    size_t sz = ls_dtype_size(y->dtype);
    for (int64_t i = 0; i < total; i++) memcpy(buf + (size_t)i * sz, x->data + (size_t)ix[i] * sz, sz);
    free(ix);
  } else if (IS("Cast")) {
    for (int64_t i = 0; i < total; i++) put(buf, y->dtype, i, cg_const_double(x, i), get_i(x, i), is_float(x->dtype));
  } else if (IS("Add") || IS("Sub") || IS("Mul") || IS("Div") || IS("Pow") || IS("Max") || IS("Min") ||
             IS("Equal") || IS("Less") || IS("Greater")) {
    cg_tensor *b = in_t(c, 1);
    int64_t *ia = malloc(sizeof *ia * (size_t)(total ? total : 1)), *ib = malloc(sizeof *ib * (size_t)(total ? total : 1));
    if (!ia || !ib) {
      free(ia), free(ib), free(buf);
      return fail(c, "%s", "out of memory folding a constant");
    }
    cg_broadcast_index(x->rank, x->dims, y->rank, y->dims, ia);
    cg_broadcast_index(b->rank, b->dims, y->rank, y->dims, ib);
    int fl = is_float(x->dtype);
    for (int64_t i = 0; i < total; i++) {
      if (fl) put(buf, y->dtype, i, apply_d(op, cg_const_double(x, ia[i]), cg_const_double(b, ib[i])), 0, 1);
      else put(buf, y->dtype, i, 0, apply_i(op, get_i(x, ia[i]), get_i(b, ib[i])), 0);
    }
    free(ia), free(ib);
  } else if (IS("Sqrt") || IS("Neg") || IS("Relu") || IS("Abs") || IS("Exp") || IS("Erf") || IS("Floor") ||
             IS("Ceil") || IS("Reciprocal")) {
    for (int64_t i = 0; i < total; i++) {
      if (is_float(x->dtype)) put(buf, y->dtype, i, apply_u(op, cg_const_double(x, i)), 0, 1);
      else put(buf, y->dtype, i, 0, IS("Neg") ? -get_i(x, i) : IS("Abs") ? llabs(get_i(x, i)) : get_i(x, i), 0);
    }
  } else if (IS("Gather") || IS("Slice") || IS("Transpose") || IS("Concat")) {
    /* index arithmetic over output coordinates; the source element for each */
    size_t sz = ls_dtype_size(y->dtype);
    int64_t coord[LS_MAX_RANK] = {0}, xs[LS_MAX_RANK], sl_start[LS_MAX_RANK], sl_step[LS_MAX_RANK];
    if (IS("Slice") && cg_slice_params(c->g, c->n, x->rank, x->dims, sl_start, sl_step)) done = -1;
    int64_t s = 1;
    for (int dd = x->rank - 1; dd >= 0; dd--) xs[dd] = s, s *= x->dims[dd];
    for (int64_t i = 0; i < total && done == 1; i++) {
      const cg_tensor *src = x;
      int64_t k = 0;
      if (IS("Transpose")) {
        int n = 0;
        const int64_t *pv = cg_attr_ints(c->n, "perm", &n);
        for (int dd = 0; dd < y->rank; dd++) k += coord[dd] * xs[pv && n == y->rank ? pv[dd] : y->rank - 1 - dd];
      } else if (IS("Slice")) {
        for (int dd = 0; dd < y->rank; dd++) k += (sl_start[dd] + coord[dd] * sl_step[dd]) * xs[dd];
      } else if (IS("Gather")) {
        cg_tensor *ix = in_t(c, 1);
        int a = norm_axis(cg_attr_int(c->n, "axis", 0), x->rank);
        int64_t ii = 0, is = 1;
        for (int dd = a + ix->rank - 1; dd >= a; dd--) ii += coord[dd] * is, is *= y->dims[dd];
        int64_t j = cg_const_int(ix, ii);
        if (j < 0) j += x->dims[a];
        if (j < 0 || j >= x->dims[a]) {
          done = -1;
          break;
        }
        for (int dd = 0; dd < a; dd++) k += coord[dd] * xs[dd];
        k += j * xs[a];
        for (int dd = a + 1; dd < x->rank; dd++) k += coord[dd + ix->rank - 1] * xs[dd];
      } else { /* Concat */
        int a = norm_axis(cg_attr_int(c->n, "axis", 0), x->rank);
        int64_t pos = coord[a];
        int q = 0;
        while (pos >= in_t(c, q)->dims[a]) pos -= in_t(c, q)->dims[a], q++;
        src = in_t(c, q);
        int64_t ss = 1;
        for (int dd = src->rank - 1; dd >= 0; dd--) k += (dd == a ? pos : coord[dd]) * ss, ss *= src->dims[dd];
      }
      memcpy(buf + (size_t)i * sz, src->data + (size_t)k * sz, sz);
      for (int dd = y->rank - 1; dd >= 0; dd--) {
        if (++coord[dd] < y->dims[dd]) break;
        coord[dd] = 0;
      }
    }
  } else {
    done = 0;
  }
#undef IS
  if (done == 1 && cg_set_const(y, buf, (size_t)total * ls_dtype_size(y->dtype))) done = -1;
  free(buf);
  if (done < 0) return fail(c, "%s", "an index is out of range");
  return done;
}

int cg_infer(cg_graph *g, char *err, size_t errlen) {
  for (int i = 0; i < g->n_inputs; i++) {
    const cg_tensor *t = &g->tensors[g->inputs[i]];
    if (t->rank < 0) {
      snprintf(err, errlen, "%s: input %s has no shape", g->source ? g->source : "model", t->name);
      return -1;
    }
    for (int d = 0; d < t->rank; d++)
      if (t->dims[d] < 0) {
        snprintf(err, errlen, "%s: input %s has a dimension that is not fixed (dimension %d); bind it with --bind %s=FILE.npy",
                 g->source ? g->source : "model", t->name, d, t->name);
        return -1;
      }
  }
  for (int i = 0; i < g->n_nodes; i++) {
    ictx c = {g, &g->nodes[i], err, errlen};
    if (cg_is_dead(c.n)) continue;
    if (c.n->domain[0] && strcmp(c.n->domain, "ai.onnx") != 0) {
      snprintf(err, errlen, "%s: node %s: unsupported operator %s.%s (opset %lld)", g->source ? g->source : "model",
               c.n->name, c.n->domain, c.n->op, (long long)g->opset);
      return -1;
    }
    if (infer_node(&c)) return -1;
    int f = c.n->n_outputs > 0 && c.n->outputs[0] != CG_NONE && g->tensors[c.n->outputs[0]].data &&
            (!strcmp(c.n->op, "Size") || !strcmp(c.n->op, "ConstantOfShape") || !strcmp(c.n->op, "EyeLike") ||
             !strcmp(c.n->op, "Range")) ? 1 : fold_node(&c);
    if (f < 0) return -1;
    if (f == 1) {
      for (int k = 0; k < c.n->n_outputs; k++)
        if (c.n->outputs[k] != CG_NONE) g->tensors[c.n->outputs[k]].producer = CG_NONE;
      cg_kill(c.n);
    }
  }
  return 0;
}
