/* ir.c - building and querying the compiler's graph IR (see ir.h). */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Make room for one more element in an array of `size`-byte elements (doubling). */
static int grow(void **arr, int *cap, int count, size_t size) {
  if (count < *cap) return 0;
  if (*cap > (1 << 29)) return -1;
  int ncap = *cap ? *cap * 2 : 16;
  void *p = realloc(*arr, (size_t)ncap * size);
  if (!p) return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}

void cg_graph_init(cg_graph *g) { memset(g, 0, sizeof *g); }

static void free_attr(cg_attr *a) {
  free(a->name);
  free(a->s);
  free(a->ints);
  free(a->floats);
}

static void free_node(cg_node *n) {
  free(n->op);
  free(n->domain);
  free(n->name);
  free(n->inputs);
  free(n->outputs);
  for (int i = 0; i < n->n_attrs; i++) free_attr(&n->attrs[i]);
  free(n->attrs);
}

void cg_graph_free(cg_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_tensors; i++) {
    free(g->tensors[i].name);
    free(g->tensors[i].data);
  }
  free(g->tensors);
  for (int i = 0; i < g->n_nodes; i++) free_node(&g->nodes[i]);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g->source);
  cg_graph_init(g); /* safe to free again, or to reuse */
}

int cg_add_tensor(cg_graph *g, const char *name, ls_dtype dtype, int rank, const int64_t *dims) {
  if (rank > LS_MAX_RANK || rank < -1 || (rank > 0 && !dims)) return CG_NONE;
  if (grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors, sizeof *g->tensors)) return CG_NONE;
  cg_tensor *t = &g->tensors[g->n_tensors];
  memset(t, 0, sizeof *t);
  t->name = dup_str(name);
  if (!t->name) return CG_NONE;
  t->dtype = dtype;
  t->rank = rank;
  for (int d = 0; d < LS_MAX_RANK; d++) t->dims[d] = d < rank ? dims[d] : -1;
  t->data = NULL;
  t->producer = CG_NONE;
  return g->n_tensors++;
}

int cg_add_node(cg_graph *g, const char *op, const char *name, const int *inputs, int n_inputs,
                const int *outputs, int n_outputs) {
  if (n_inputs < 0 || n_outputs < 0) return CG_NONE;
  if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes)) return CG_NONE;
  cg_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = dup_str(op);
  n->domain = dup_str("");
  n->name = dup_str(name);
  /* at least one element each, so that an empty list is still a valid pointer */
  n->inputs = malloc(sizeof(int) * (size_t)(n_inputs ? n_inputs : 1));
  n->outputs = malloc(sizeof(int) * (size_t)(n_outputs ? n_outputs : 1));
  if (!n->op || !n->domain || !n->name || !n->inputs || !n->outputs) {
    free_node(n);
    return CG_NONE;
  }
  if (n_inputs) memcpy(n->inputs, inputs, sizeof(int) * (size_t)n_inputs);
  if (n_outputs) memcpy(n->outputs, outputs, sizeof(int) * (size_t)n_outputs);
  n->n_inputs = n_inputs;
  n->n_outputs = n_outputs;
  return g->n_nodes++;
}

int cg_find_tensor(const cg_graph *g, const char *name) {
  if (!name) return CG_NONE;
  for (int i = 0; i < g->n_tensors; i++)
    if (strcmp(g->tensors[i].name, name) == 0) return i;
  return CG_NONE;
}

const cg_attr *cg_attr_find(const cg_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

int64_t cg_attr_int(const cg_node *n, const char *name, int64_t dflt) {
  const cg_attr *a = cg_attr_find(n, name);
  return a && a->kind == CG_ATTR_INT ? a->i : dflt;
}

float cg_attr_float(const cg_node *n, const char *name, float dflt) {
  const cg_attr *a = cg_attr_find(n, name);
  return a && a->kind == CG_ATTR_FLOAT ? a->f : dflt;
}

const char *cg_attr_string(const cg_node *n, const char *name, const char *dflt) {
  const cg_attr *a = cg_attr_find(n, name);
  return a && a->kind == CG_ATTR_STRING && a->s ? a->s : dflt;
}

const int64_t *cg_attr_ints(const cg_node *n, const char *name, int *count) {
  const cg_attr *a = cg_attr_find(n, name);
  if (!a || a->kind != CG_ATTR_INTS) {
    if (count) *count = 0;
    return NULL;
  }
  if (count) *count = a->n;
  return a->ints;
}

int64_t cg_tensor_elems(const cg_tensor *t) {
  if (t->rank < 0) return -1;
  int64_t e = 1;
  for (int d = 0; d < t->rank; d++) {
    if (t->dims[d] < 0) return -1;
    if (t->dims[d] > 0 && e > INT64_MAX / t->dims[d]) return -1;
    e *= t->dims[d];
  }
  return e;
}

size_t cg_tensor_bytes(const cg_tensor *t) {
  if ((unsigned)t->dtype >= LS_DTYPE_COUNT) return 0;
  int64_t e = cg_tensor_elems(t);
  if (e < 0) return 0;
  size_t sz = ls_dtype_size(t->dtype);
  if ((uint64_t)e > SIZE_MAX / sz) return 0;
  return (size_t)e * sz;
}

/* Little-endian loads (the data layout of constants), independent of host order. */
static uint64_t load_le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t k = 0; k < n; k++) v |= (uint64_t)p[k] << (8 * k);
  return v;
}

static int64_t sat_int(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

int64_t cg_const_int(const cg_tensor *t, int64_t i) {
  if (!t->data || i < 0 || (unsigned)t->dtype >= LS_DTYPE_COUNT) return 0;
  int64_t e = cg_tensor_elems(t);
  if (e >= 0 && i >= e) return 0;
  size_t sz = ls_dtype_size(t->dtype);
  uint64_t v = load_le(t->data + (size_t)i * sz, sz);
  switch (t->dtype) {
  case LS_I8: return (int8_t)(uint8_t)v;
  case LS_U8: return (int64_t)(uint8_t)v;
  case LS_I16: return (int16_t)(uint16_t)v;
  case LS_U16: return (int64_t)(uint16_t)v;
  case LS_I32: return (int32_t)(uint32_t)v;
  case LS_U32: return (int64_t)(uint32_t)v;
  case LS_I64: return (int64_t)v;
  case LS_U64: return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
  case LS_BOOL: return v != 0;
  /* Float constants (shape arithmetic sometimes sees them): truncated, saturated. */
  case LS_F32: {
    uint32_t b = (uint32_t)v;
    float f;
    memcpy(&f, &b, sizeof f);
    return sat_int(f);
  }
  case LS_F64: {
    double d;
    memcpy(&d, &v, sizeof d);
    return sat_int(d);
  }
  case LS_F16: return sat_int(ls_f16_to_f32((uint16_t)v));
  case LS_BF16: return sat_int(ls_bf16_to_f32((uint16_t)v));
  case LS_DTYPE_COUNT: break;
  }
  return 0;
}

double cg_const_double(const cg_tensor *t, int64_t i) {
  if (!t->data || i < 0) return 0;
  const uint8_t *p = t->data + (size_t)i * ls_dtype_size(t->dtype);
  switch (t->dtype) {
  case LS_F32: { float v; memcpy(&v, p, 4); return v; }
  case LS_F64: { double v; memcpy(&v, p, 8); return v; }
  case LS_F16: { uint16_t h; memcpy(&h, p, 2); return ls_f16_to_f32(h); }
  case LS_BF16: { uint16_t h; memcpy(&h, p, 2); return ls_bf16_to_f32(h); }
  default: return (double)cg_const_int(t, i);
  }
}

int cg_set_op(cg_node *n, const char *op) {
  char *s = dup_str(op);
  if (!s) return -1;
  free(n->op);
  n->op = s;
  return 0;
}
