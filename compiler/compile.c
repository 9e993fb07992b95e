/* compile.c - the compiler's pipeline, on one screen:
 *
 *   import -> bind -> infer (+ fold) -> simplify -> lower -> schedule -> plan memory -> emit
 *
 * Each pass is in its own file (see passes.h); this file only runs them in order, times
 * them and collects the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compile.h"
#include "passes.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --bind: the named input becomes a constant with the given value */
static int bind_inputs(cg_graph *g, const cg_options *o, char *err, size_t errlen) {
  for (int b = 0; b < o->n_binds; b++) {
    const cg_binding *bd = &o->binds[b];
    int at = -1;
    for (int i = 0; i < g->n_inputs; i++)
      if (strcmp(g->tensors[g->inputs[i]].name, bd->name) == 0) at = i;
    if (at < 0) {
      snprintf(err, errlen, "%s: --bind %s: the model has no input of that name", g->source, bd->name);
      return -1;
    }
    cg_tensor *t = &g->tensors[g->inputs[at]];
    if (t->dtype != bd->dtype || t->rank != bd->rank) {
      snprintf(err, errlen, "%s: --bind %s: the input is %s of rank %d, the file holds %s of rank %d", g->source,
               bd->name, ls_dtype_name(t->dtype), t->rank, ls_dtype_name(bd->dtype), bd->rank);
      return -1;
    }
    for (int d = 0; d < t->rank; d++) {
      if (t->dims[d] >= 0 && (uint64_t)t->dims[d] != bd->dims[d]) {
        snprintf(err, errlen, "%s: --bind %s: dimension %d is %lld in the model, %llu in the file", g->source, bd->name,
                 d, (long long)t->dims[d], (unsigned long long)bd->dims[d]);
        return -1;
      }
      t->dims[d] = (int64_t)bd->dims[d];
    }
    if (cg_set_const(t, bd->data, cg_tensor_bytes(t))) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    t->is_input = 0;
    memmove(g->inputs + at, g->inputs + at + 1, sizeof *g->inputs * (size_t)(g->n_inputs - at - 1));
    g->n_inputs--;
  }
  return 0;
}

static void count_ops(const cg_graph *g, cg_report *r) {
  const char *names[256];
  int counts[256], n = 0;
  r->live_nodes = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (cg_is_dead(&g->nodes[i])) continue;
    r->live_nodes++;
    int k = 0;
    while (k < n && strcmp(names[k], g->nodes[i].op) != 0) k++;
    if (k == n && n < 256) names[n] = g->nodes[i].op, counts[n++] = 0;
    if (k < n) counts[k]++;
  }
  r->ops[0] = '\0';
  for (int k = 0; k < n; k++) {
    size_t len = strlen(r->ops);
    snprintf(r->ops + len, sizeof r->ops - len, "%s%s %d", k ? ", " : "", names[k], counts[k]);
  }
}

int cg_compile_file(const char *path, const cg_options *o, ls_prog *out, cg_report *r, char *err, size_t errlen) {
  cg_report dummy;
  if (!r) r = &dummy;
  memset(r, 0, sizeof *r);
  memset(out, 0, sizeof *out);
  char msg[512];
  if (ls_target_check(&o->target, msg, sizeof msg)) {
    snprintf(err, errlen, "%s", msg);
    return -1;
  }
  cg_graph g;
  lo_module m;
  char **out_names = NULL;
  cg_graph_init(&g);
  lo_module_init(&m, &o->target);
  double t0 = now(), t = t0;
  int rc = -1;
#define LAP(k)                         \
  do {                                 \
    double t1 = now();                 \
    r->seconds[k] = t1 - t;            \
    t = t1;                            \
  } while (0)
  if (cg_import_onnx(path, &g, err, errlen)) goto out;
  r->nodes = g.n_nodes;
  out_names = calloc((size_t)(g.n_outputs ? g.n_outputs : 1), sizeof *out_names);
  if (!out_names) goto out;
  for (int i = 0; i < g.n_outputs; i++) {
    const char *nm = g.tensors[g.outputs[i]].name;
    out_names[i] = malloc(strlen(nm) + 1);
    if (!out_names[i]) goto out;
    strcpy(out_names[i], nm);
  }
  LAP(0);
  if (bind_inputs(&g, o, err, errlen) || cg_infer(&g, err, errlen)) goto out;
  LAP(1);
  if (cg_simplify(&g, err, errlen)) goto out;
  count_ops(&g, r);
  LAP(2);
  if (cg_lower(&g, &m, out_names, err, errlen)) goto out;
  LAP(3);
  if (lo_schedule(&m, msg, sizeof msg)) {
    snprintf(err, errlen, "%s: %s", path, msg);
    goto out;
  }
  LAP(4);
  if (lo_plan_memory(&m, msg, sizeof msg)) {
    snprintf(err, errlen, "%s: %s", path, msg);
    goto out;
  }
  LAP(5);
  if (lo_emit(&m, out, err, errlen)) goto out;
  LAP(6);
  r->groups = (uint64_t)m.n_groups;
  r->cycles = m.cycles;
  r->mem_bytes = m.mem_bytes;
  r->const_bytes = m.const_bytes;
  r->peak_live = m.peak_live;
  uint64_t busy[LS_UNIT_COUNT] = {0};
  for (int gi = 0; gi < m.n_groups; gi++)
    for (int i = 0; i < m.groups[gi].n; i++) {
      const ls_insn *in = &m.groups[gi].insn[i].in;
      busy[ls_ops[in->op].unit] += ls_insn_busy(in);
      r->insns++;
    }
  for (int u = 0; u < LS_UNIT_COUNT; u++)
    if (u != LS_UNIT_ICU && m.cycles)
      r->busy[u] = (double)busy[u] / ((double)m.cycles * o->target.slices[u]);
  r->seconds[7] = now() - t0;
  rc = 0;
out:
  if (rc) ls_prog_free(out);
  for (int i = 0; out_names && i < g.n_outputs; i++) free(out_names[i]);
  free(out_names);
  lo_module_free(&m);
  cg_graph_free(&g);
  return rc;
#undef LAP
}
