/* simplify.c - graph rewrites that make lowering simpler and the program faster.
 *
 * Takes: an inferred graph (shapes known, constants folded).
 * Gives: the same function with
 *   - Identity and (inference-mode) Dropout removed: their consumers read the input;
 *   - BatchNormalization folded into the Conv before it (scaled weights, shifted bias)
 *     when its parameters and the Conv's weights are constants and the Conv feeds nothing
 *     else;
 *   - Relu and Clip fused into the Conv, Gemm or MatMul before it (attribute
 *     "lockstep.act": 1 relu, 2 clip with "lockstep.lo"/"lockstep.hi"), so the activation
 *     is applied on the way from the matrix unit to memory;
 *   - Pow with a constant exponent of 2 made a Mul of its input by itself (x*x is the
 *     correctly rounded square; a pow call per element costs 10x more).
 * Invariant: node order stays topological; removed nodes are marked dead. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static int is_output(const cg_graph *g, int t) {
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == t) return 1;
  return 0;
}

/* the single live consumer of tensor t, or -1 */
static int only_consumer(const cg_graph *g, int t) {
  int who = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const cg_node *n = &g->nodes[i];
    if (cg_is_dead(n)) continue;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] == t) {
        if (who >= 0 && who != i) return -1;
        who = i;
      }
  }
  return who;
}

static float f32_at(const cg_tensor *t, int64_t i) {
  float v;
  memcpy(&v, t->data + (size_t)i * 4, 4);
  return v;
}

/* Conv -> BatchNormalization: w'[m] = w[m] * s[m], b'[m] = (b[m] - mean[m]) * s[m] + beta[m],
 * s = gamma / sqrt(var + eps). Returns 1 if folded. */
static int fold_bn(cg_graph *g, int bi) {
  cg_node *bn = &g->nodes[bi];
  int x = bn->inputs[0];
  const cg_tensor *xt = &g->tensors[x];
  if (xt->producer == CG_NONE || xt->dtype != LS_F32) return 0;
  cg_node *cv = &g->nodes[xt->producer];
  if (strcmp(cv->op, "Conv") != 0 || only_consumer(g, x) != bi || is_output(g, x)) return 0;
  for (int k = 1; k < 5; k++)
    if (bn->inputs[k] == CG_NONE || !g->tensors[bn->inputs[k]].data || g->tensors[bn->inputs[k]].dtype != LS_F32) return 0;
  cg_tensor *w = &g->tensors[cv->inputs[1]];
  if (!w->data || w->dtype != LS_F32) return 0;
  const int64_t M = w->dims[0], per = cg_tensor_elems(w) / M;
  const cg_tensor *gam = &g->tensors[bn->inputs[1]], *bet = &g->tensors[bn->inputs[2]];
  const cg_tensor *mean = &g->tensors[bn->inputs[3]], *var = &g->tensors[bn->inputs[4]];
  const float eps = cg_attr_float(bn, "epsilon", 1e-5f);
  float *nw = malloc(sizeof *nw * (size_t)(M * per)), *nb = malloc(sizeof *nb * (size_t)M);
  if (!nw || !nb) {
    free(nw), free(nb);
    return 0;
  }
  const cg_tensor *ob = cv->n_inputs > 2 && cv->inputs[2] != CG_NONE ? &g->tensors[cv->inputs[2]] : NULL;
  for (int64_t m = 0; m < M; m++) {
    double s = f32_at(gam, m) / sqrt((double)f32_at(var, m) + eps);
    for (int64_t k = 0; k < per; k++) nw[m * per + k] = (float)(f32_at(w, m * per + k) * s);
    double b = ob && ob->data ? f32_at(ob, m) : 0.0;
    nb[m] = (float)((b - f32_at(mean, m)) * s + f32_at(bet, m));
  }
  /* new constant tensors, so that weights shared with another node stay as they were */
  char name[256];
  snprintf(name, sizeof name, "%s.bn_weight", cv->name);
  int tw = cg_add_tensor(g, name, LS_F32, w->rank, g->tensors[cv->inputs[1]].dims);
  snprintf(name, sizeof name, "%s.bn_bias", cv->name);
  int tb = cg_add_tensor(g, name, LS_F32, 1, &M);
  cv = &g->nodes[g->tensors[x].producer]; /* tensors may have moved */
  if (tw == CG_NONE || tb == CG_NONE || cg_set_const(&g->tensors[tw], nw, sizeof *nw * (size_t)(M * per)) ||
      cg_set_const(&g->tensors[tb], nb, sizeof *nb * (size_t)M)) {
    free(nw), free(nb);
    return 0;
  }
  free(nw), free(nb);
  cv->inputs[1] = tw;
  if (cv->n_inputs > 2) cv->inputs[2] = tb;
  else {
    int *ni = realloc(cv->inputs, sizeof *ni * 3);
    if (!ni) return 0;
    cv->inputs = ni;
    cv->inputs[2] = tb;
    cv->n_inputs = 3;
  }
  cg_replace_uses(g, g->nodes[bi].outputs[0], x);
  cg_kill(&g->nodes[bi]);
  return 1;
}

/* Conv/Gemm/MatMul -> Relu/Clip: 1 if fused. */
static int fuse_act(cg_graph *g, int ai) {
  cg_node *act = &g->nodes[ai];
  int x = act->inputs[0];
  const cg_tensor *xt = &g->tensors[x];
  if (xt->producer == CG_NONE || xt->dtype != LS_F32) return 0;
  cg_node *p = &g->nodes[xt->producer];
  if (strcmp(p->op, "Conv") && strcmp(p->op, "Gemm") && strcmp(p->op, "MatMul")) return 0;
  if (cg_attr_find(p, "lockstep.act") || only_consumer(g, x) != ai || is_output(g, x)) return 0;
  if (strcmp(act->op, "Relu") == 0) {
    cg_set_attr_int(p, "lockstep.act", 1);
  } else {
    float lo = -INFINITY, hi = INFINITY;
    if (act->n_inputs > 1 && act->inputs[1] != CG_NONE) {
      const cg_tensor *t = &g->tensors[act->inputs[1]];
      if (!t->data || t->dtype != LS_F32) return 0;
      lo = f32_at(t, 0);
    } else if (g->opset < 11) {
      lo = cg_attr_float(act, "min", -INFINITY);
    }
    if (act->n_inputs > 2 && act->inputs[2] != CG_NONE) {
      const cg_tensor *t = &g->tensors[act->inputs[2]];
      if (!t->data || t->dtype != LS_F32) return 0;
      hi = f32_at(t, 0);
    } else if (g->opset < 11) {
      hi = cg_attr_float(act, "max", INFINITY);
    }
    cg_set_attr_int(p, "lockstep.act", 2);
    cg_set_attr_float(p, "lockstep.lo", lo);
    cg_set_attr_float(p, "lockstep.hi", hi);
  }
  cg_replace_uses(g, act->outputs[0], x);
  cg_kill(act);
  return 1;
}

/* Pow(x, 2) -> Mul(x, x) for f32/f64 x and a one-element constant exponent equal to 2 */
static void square_pow(cg_graph *g, int pi) {
  cg_node *n = &g->nodes[pi];
  if (n->n_inputs != 2 || n->inputs[0] == CG_NONE || n->inputs[1] == CG_NONE) return;
  const cg_tensor *x = &g->tensors[n->inputs[0]], *e = &g->tensors[n->inputs[1]];
  if ((x->dtype != LS_F32 && x->dtype != LS_F64) || !e->data || e->rank < 0 || e->rank > x->rank) return;
  if (cg_tensor_elems(e) != 1 || cg_const_double(e, 0) != 2.0 || cg_set_op(n, "Mul")) return;
  n->inputs[1] = n->inputs[0];
}

int cg_simplify(cg_graph *g, char *err, size_t errlen) {
  (void)err, (void)errlen;
  for (int i = 0; i < g->n_nodes; i++) {
    cg_node *n = &g->nodes[i];
    if (cg_is_dead(n)) continue;
    if ((strcmp(n->op, "Identity") == 0 || strcmp(n->op, "Dropout") == 0) &&
        (n->n_outputs < 2 || n->outputs[1] == CG_NONE || cg_uses(g, n->outputs[1]) == 0)) {
      int out = n->outputs[0], in = n->inputs[0];
      if (is_output(g, out) && (g->tensors[in].producer == CG_NONE)) continue; /* keep: lowering copies */
      cg_replace_uses(g, out, in);
      cg_kill(n);
    }
  }
  for (int i = 0; i < g->n_nodes; i++) {
    if (cg_is_dead(&g->nodes[i])) continue;
    if (strcmp(g->nodes[i].op, "BatchNormalization") == 0) fold_bn(g, i);
    else if (strcmp(g->nodes[i].op, "Relu") == 0 || strcmp(g->nodes[i].op, "Clip") == 0) fuse_act(g, i);
    else if (strcmp(g->nodes[i].op, "Pow") == 0) square_pow(g, i);
  }
  return 0;
}
