/* test_import.c - the graph IR helpers and the ONNX importer.
 * The models come from make_import_models.py (run at build time by Debian's python3 with
 * python3-onnx); the expected values below are written by hand against that script. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "ir.h"

#ifndef IMPORT_MODELS
#define IMPORT_MODELS "import_models"
#endif
#ifndef PYTHON3
#define PYTHON3 "/usr/bin/python3"
#endif
#ifndef MAKE_MODELS
#define MAKE_MODELS "make_import_models.py"
#endif
#ifndef BIG_MODEL
#define BIG_MODEL "big_import.onnx"
#endif

/* ---- helpers ----------------------------------------------------------------------------- */
static const char *model_path(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s.onnx", IMPORT_MODELS, name);
  return path;
}

static void need_models(void) {
  FILE *f = fopen(model_path("mlp"), "rb");
  if (!f) cr_skip_test("no test models in %s (is python3-onnx installed for /usr/bin/python3?)", IMPORT_MODELS);
  fclose(f);
}

static void load_ok(const char *name, cg_graph *g) {
  need_models();
  char err[1024] = "";
  int rc = cg_import_onnx(model_path(name), g, err, sizeof err);
  cr_assert_eq(rc, 0, "%s: %s", name, err);
}

/* Import must fail with a message "path: ..." containing want. */
static void load_fail(const char *name, const char *want) {
  need_models();
  cg_graph g;
  char err[1024] = "";
  const char *path = model_path(name);
  int rc = cg_import_onnx(path, &g, err, sizeof err);
  cr_assert_eq(rc, -1, "%s: imported but should fail with '%s'", name, want);
  cr_assert(strncmp(err, path, strlen(path)) == 0 && strncmp(err + strlen(path), ": ", 2) == 0,
            "message does not start with the file name: %s", err);
  cr_assert(strstr(err, want), "%s: message '%s' lacks '%s'", name, err, want);
  cr_assert_eq(g.n_tensors, 0);
  cr_assert_eq(g.n_nodes, 0);
  cr_assert_null(g.tensors);
  cg_graph_free(&g); /* harmless after a failed import */
}

static int tensor(const cg_graph *g, const char *name) {
  int t = cg_find_tensor(g, name);
  cr_assert_neq(t, CG_NONE, "no tensor '%s'", name);
  return t;
}

static int node(const cg_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].name, name) == 0) return i;
  cr_assert_fail("no node '%s'", name);
  return -1;
}

static float f32_at(const cg_tensor *t, int64_t i) {
  float f;
  memcpy(&f, t->data + i * 4, 4);
  return f;
}

static void expect_dims(const cg_tensor *t, int rank, const int64_t *dims) {
  cr_assert_eq(t->rank, rank, "%s: rank %d, expected %d", t->name, t->rank, rank);
  for (int d = 0; d < rank; d++)
    cr_assert_eq(t->dims[d], dims[d], "%s: dim %d is %lld, expected %lld", t->name, d, (long long)t->dims[d],
                 (long long)dims[d]);
}

/* ---- IR helpers ---------------------------------------------------------------------------- */
Test(ir, tensors_grow_and_are_found) {
  cg_graph g;
  cg_graph_init(&g);
  int64_t dims[2] = {3, 5};
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "t%d", i);
    cr_assert_eq(cg_add_tensor(&g, name, LS_F32, 2, dims), i);
  }
  cr_assert_eq(g.n_tensors, 1000);
  cr_assert_geq(g.cap_tensors, 1000);
  cr_assert_eq(cg_find_tensor(&g, "t0"), 0);
  cr_assert_eq(cg_find_tensor(&g, "t777"), 777);
  cr_assert_eq(cg_find_tensor(&g, "t1000"), CG_NONE);
  const cg_tensor *t = &g.tensors[5];
  cr_assert_eq(t->producer, CG_NONE);
  cr_assert_null(t->data);
  cr_assert_eq(t->dims[2], -1);
  cr_assert_eq(cg_tensor_elems(t), 15);
  cr_assert_eq(cg_tensor_bytes(t), 60);

  int u = cg_add_tensor(&g, "unknown", LS_DTYPE_COUNT, -1, NULL);
  cr_assert_eq(cg_tensor_elems(&g.tensors[u]), -1);
  cr_assert_eq(cg_tensor_bytes(&g.tensors[u]), 0);
  int64_t sym[2] = {-1, 4};
  int s = cg_add_tensor(&g, "sym", LS_F16, 2, sym);
  cr_assert_eq(cg_tensor_elems(&g.tensors[s]), -1);
  cr_assert_eq(cg_tensor_bytes(&g.tensors[s]), 0);
  int sc = cg_add_tensor(&g, "scalar", LS_I64, 0, NULL);
  cr_assert_eq(cg_tensor_elems(&g.tensors[sc]), 1);
  cr_assert_eq(cg_tensor_bytes(&g.tensors[sc]), 8);
  int64_t big[LS_MAX_RANK + 1] = {0};
  cr_assert_eq(cg_add_tensor(&g, "too_deep", LS_F32, LS_MAX_RANK + 1, big), CG_NONE);

  cg_graph_free(&g);
  cr_assert_eq(g.n_tensors, 0);
  cg_graph_free(&g); /* twice is fine */
}

Test(ir, nodes_and_attributes) {
  cg_graph g;
  cg_graph_init(&g);
  int a = cg_add_tensor(&g, "a", LS_F32, 0, NULL);
  int b = cg_add_tensor(&g, "b", LS_F32, 0, NULL);
  for (int i = 0; i < 100; i++) {
    int ins[2] = {a, CG_NONE};
    cr_assert_eq(cg_add_node(&g, "Relu", "r", ins, 2, &b, 1), i);
  }
  cg_node *n = &g.nodes[0];
  cr_assert_str_eq(n->op, "Relu");
  cr_assert_str_eq(n->domain, "");
  cr_assert_eq(n->n_inputs, 2);
  cr_assert_eq(n->inputs[1], CG_NONE);
  cr_assert_eq(n->outputs[0], b);
  cr_assert_eq(cg_add_node(&g, "Constant", "c", NULL, 0, &a, 1), 100);

  /* attributes, filled by hand as the importer does */
  n->attrs = calloc(4, sizeof *n->attrs);
  n->n_attrs = 4;
  n->attrs[0] = (cg_attr){.name = strdup("axis"), .kind = CG_ATTR_INT, .i = -2};
  n->attrs[1] = (cg_attr){.name = strdup("alpha"), .kind = CG_ATTR_FLOAT, .f = 0.25f};
  n->attrs[2] = (cg_attr){.name = strdup("mode"), .kind = CG_ATTR_STRING, .s = strdup("constant")};
  n->attrs[3] = (cg_attr){.name = strdup("perm"), .kind = CG_ATTR_INTS, .ints = malloc(3 * sizeof(int64_t)), .n = 3};
  n->attrs[3].ints[0] = 0, n->attrs[3].ints[1] = 2, n->attrs[3].ints[2] = 1;
  cr_assert_eq(cg_attr_int(n, "axis", 7), -2);
  cr_assert_eq(cg_attr_int(n, "nope", 7), 7);
  cr_assert_eq(cg_attr_int(n, "alpha", 7), 7, "kind mismatch gives the default");
  cr_assert_float_eq(cg_attr_float(n, "alpha", 1.0f), 0.25f, 0);
  cr_assert_float_eq(cg_attr_float(n, "beta", 1.0f), 1.0f, 0);
  cr_assert_str_eq(cg_attr_string(n, "mode", "x"), "constant");
  cr_assert_str_eq(cg_attr_string(n, "pad", "x"), "x");
  int cnt = -1;
  const int64_t *p = cg_attr_ints(n, "perm", &cnt);
  cr_assert_eq(cnt, 3);
  cr_assert_eq(p[1], 2);
  cr_assert_null(cg_attr_ints(n, "axes", &cnt));
  cr_assert_eq(cnt, 0);
  cr_assert_not_null(cg_attr_find(n, "mode"));
  cr_assert_null(cg_attr_find(n, "modes"));
  cg_graph_free(&g);
}

Test(ir, const_int_all_integer_types) {
  cg_graph g;
  cg_graph_init(&g);
  static const struct {
    ls_dtype dt;
    uint8_t bytes[16];
    int64_t v0, v1;
  } cases[] = {
      {LS_I8, {0x80, 0x7f}, -128, 127},
      {LS_U8, {0xff, 0x01}, 255, 1},
      {LS_I16, {0x00, 0x80, 0x2c, 0x01}, -32768, 300},
      {LS_U16, {0xff, 0xff, 0x01, 0x00}, 65535, 1},
      {LS_I32, {0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, -7, 2147483647},
      {LS_U32, {0x00, 0x28, 0x6b, 0xee, 0x05, 0, 0, 0}, 4000000000, 5},
      {LS_I64, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 0, 0}, -1, (int64_t)1 << 40},
      {LS_U64, {0x05, 0, 0, 0, 0, 0, 0, 0x80, 7, 0, 0, 0, 0, 0, 0, 0}, INT64_MAX, 7},
      {LS_BOOL, {0x00, 0x01}, 0, 1},
  };
  int64_t two = 2;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int t = cg_add_tensor(&g, ls_dtype_name(cases[k].dt), cases[k].dt, 1, &two);
    g.tensors[t].data = malloc(16);
    memcpy(g.tensors[t].data, cases[k].bytes, 16);
    cr_assert_eq(cg_const_int(&g.tensors[t], 0), cases[k].v0, "%s[0]", ls_dtype_name(cases[k].dt));
    cr_assert_eq(cg_const_int(&g.tensors[t], 1), cases[k].v1, "%s[1]", ls_dtype_name(cases[k].dt));
  }
  cg_graph_free(&g);
}

/* ---- importing good models ----------------------------------------------------------------- */
Test(import, mlp_raw_data) {
  cg_graph g;
  load_ok("mlp", &g);
  cr_assert_eq(g.opset, 13);
  cr_assert_str_eq(g.source, model_path("mlp"));
  /* x is the only graph input: b1 is listed as an input too, but it is an initializer */
  cr_assert_eq(g.n_inputs, 1);
  const cg_tensor *x = &g.tensors[g.inputs[0]];
  cr_assert_str_eq(x->name, "x");
  cr_assert(x->is_input);
  cr_assert_eq(x->dtype, LS_F32);
  expect_dims(x, 2, (int64_t[]){1, 4});
  cr_assert_null(x->data);

  const cg_tensor *w1 = &g.tensors[tensor(&g, "w1")];
  cr_assert_eq(w1->dtype, LS_F32);
  expect_dims(w1, 2, (int64_t[]){4, 3});
  cr_assert_not_null(w1->data);
  cr_assert_eq(w1->producer, CG_NONE);
  cr_assert_float_eq(f32_at(w1, 0), 0.0f, 0);
  cr_assert_float_eq(f32_at(w1, 1), 0.5f, 0);
  cr_assert_float_eq(f32_at(w1, 11), 5.5f, 0);
  const cg_tensor *b1 = &g.tensors[tensor(&g, "b1")];
  cr_assert(!b1->is_input);
  expect_dims(b1, 1, (int64_t[]){3});
  cr_assert_float_eq(f32_at(b1, 2), 0.3f, 0);

  cr_assert_eq(g.n_nodes, 2);
  const cg_node *gemm = &g.nodes[0], *relu = &g.nodes[1];
  cr_assert_str_eq(gemm->op, "Gemm");
  cr_assert_str_eq(gemm->name, "gemm1");
  cr_assert_str_eq(gemm->domain, "");
  cr_assert_eq(gemm->n_inputs, 3);
  cr_assert_eq(gemm->inputs[0], g.inputs[0]);
  cr_assert_eq(gemm->inputs[1], tensor(&g, "w1"));
  cr_assert_eq(gemm->inputs[2], tensor(&g, "b1"));
  cr_assert_float_eq(cg_attr_float(gemm, "alpha", 0), 1.0f, 0);
  cr_assert_eq(cg_attr_int(gemm, "transB", 5), 0);
  cr_assert_str_eq(relu->op, "Relu");
  cr_assert_str_eq(relu->name, "Relu_1", "unnamed nodes are named <op>_<index>");

  /* h: from value_info; y: from the graph output */
  const cg_tensor *h = &g.tensors[tensor(&g, "h")];
  cr_assert_eq(h->producer, 0);
  cr_assert_eq(h->dtype, LS_F32);
  expect_dims(h, 2, (int64_t[]){1, 3});
  cr_assert_eq(relu->inputs[0], tensor(&g, "h"));
  cr_assert_eq(g.n_outputs, 1);
  const cg_tensor *y = &g.tensors[g.outputs[0]];
  cr_assert_str_eq(y->name, "y");
  cr_assert(y->is_output);
  cr_assert_eq(y->producer, 1);
  cr_assert_eq(relu->outputs[0], g.outputs[0]);
  expect_dims(y, 2, (int64_t[]){1, 3});
  cg_graph_free(&g);
}

Test(import, typed_fields_and_attributes) {
  cg_graph g;
  load_ok("typed", &g);
  cr_assert_eq(g.opset, 17);
  cr_assert_eq(g.n_inputs, 0);

  const cg_tensor *wf = &g.tensors[tensor(&g, "wf")];
  cr_assert_eq(wf->dtype, LS_F32);
  expect_dims(wf, 2, (int64_t[]){2, 2});
  cr_assert_float_eq(f32_at(wf, 0), 1.5f, 0);
  cr_assert_float_eq(f32_at(wf, 1), -2.0f, 0);
  cr_assert_float_eq(f32_at(wf, 3), 4.0f, 0);

  static const struct {
    const char *name;
    ls_dtype dt;
    int64_t v[3];
    int n;
  } ints[] = {
      {"wi", LS_I64, {-1, 0, (int64_t)1 << 40}, 3}, {"w8", LS_I8, {-128, -1, 0}, 3},
      {"wu8", LS_U8, {255, 1}, 2},                   {"wi16", LS_I16, {-32768, 300}, 2},
      {"wu16", LS_U16, {65535, 1}, 2},               {"wi32", LS_I32, {-7, 2147483647}, 2},
      {"wb", LS_BOOL, {1, 0, 1}, 3},                 {"wu32", LS_U32, {4000000000}, 1},
      {"wu64", LS_U64, {INT64_MAX, 7}, 2},
  };
  for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
    const cg_tensor *t = &g.tensors[tensor(&g, ints[k].name)];
    cr_assert_eq(t->dtype, ints[k].dt, "%s: dtype %s", t->name, ls_dtype_name(t->dtype));
    for (int i = 0; i < ints[k].n; i++)
      cr_assert_eq(cg_const_int(t, i), ints[k].v[i], "%s[%d] = %lld", t->name, i, (long long)cg_const_int(t, i));
  }
  const cg_tensor *w8 = &g.tensors[tensor(&g, "w8")];
  cr_assert_eq(w8->data[3], 127);
  cr_assert_eq(cg_tensor_bytes(w8), 4);
  const cg_tensor *wu64 = &g.tensors[tensor(&g, "wu64")];
  cr_assert_eq(wu64->data[7], 0x80); /* 2^63 + 5, kept exactly */
  cr_assert_eq(wu64->data[0], 5);

  const cg_tensor *wh = &g.tensors[tensor(&g, "wh")];
  cr_assert_eq(wh->dtype, LS_F16);
  cr_assert_eq(cg_tensor_bytes(wh), 4);
  cr_assert_eq(wh->data[0] | wh->data[1] << 8, 0x3c00); /* 1.0 */
  cr_assert_eq(wh->data[2] | wh->data[3] << 8, 0xc100); /* -2.5 */
  const cg_tensor *wbf = &g.tensors[tensor(&g, "wbf")];
  cr_assert_eq(wbf->dtype, LS_BF16);
  cr_assert_eq(wbf->data[0] | wbf->data[1] << 8, 0x3f80); /* 1.0 */
  const cg_tensor *wd = &g.tensors[tensor(&g, "wd")];
  cr_assert_eq(wd->dtype, LS_F64);
  double d;
  memcpy(&d, wd->data + 8, 8);
  cr_assert_eq(d, -1e300);

  const cg_tensor *sc = &g.tensors[tensor(&g, "scalar")];
  cr_assert_eq(sc->rank, 0);
  cr_assert_eq(cg_const_int(sc, 0), 42);
  const cg_tensor *empty = &g.tensors[tensor(&g, "empty")];
  expect_dims(empty, 2, (int64_t[]){0, 3});
  cr_assert_not_null(empty->data, "an empty constant is still a constant");
  cr_assert_eq(cg_tensor_elems(empty), 0);

  /* the output has a type but no shape */
  const cg_tensor *y = &g.tensors[g.outputs[0]];
  cr_assert_eq(y->dtype, LS_F32);
  cr_assert_eq(y->rank, -1);

  cr_assert_eq(g.n_nodes, 1);
  const cg_node *n = &g.nodes[0];
  cr_assert_str_eq(n->op, "Custom");
  cr_assert_str_eq(n->domain, "com.example");
  cr_assert_str_eq(n->name, "all_attrs");
  cr_assert_eq(n->n_attrs, 8);
  cr_assert_eq(cg_attr_int(n, "i", 0), 7);
  cr_assert_float_eq(cg_attr_float(n, "f", 0), 0.5f, 0);
  cr_assert_str_eq(cg_attr_string(n, "s", ""), "hello");
  int cnt;
  const int64_t *iv = cg_attr_ints(n, "ints", &cnt);
  cr_assert_eq(cnt, 3);
  cr_assert_eq(iv[0], 1);
  cr_assert_eq(iv[2], 3);
  const cg_attr *fl = cg_attr_find(n, "floats");
  cr_assert_eq(fl->kind, CG_ATTR_FLOATS);
  cr_assert_eq(fl->n, 2);
  cr_assert_float_eq(fl->floats[1], 0.5f, 0);
  cr_assert_eq(cg_attr_find(n, "g")->kind, CG_ATTR_OTHER);
  cr_assert_eq(cg_attr_find(n, "strs")->kind, CG_ATTR_OTHER);
  const cg_attr *ta = cg_attr_find(n, "t");
  cr_assert_eq(ta->kind, CG_ATTR_TENSOR);
  const cg_tensor *tt = &g.tensors[ta->i];
  cr_assert_str_eq(tt->name, "all_attrs:t");
  cr_assert_eq(tt->dtype, LS_I32);
  expect_dims(tt, 1, (int64_t[]){2});
  cr_assert_eq(cg_const_int(tt, 0), 10);
  cr_assert_eq(cg_const_int(tt, 1), 20);
  cg_graph_free(&g);
}

Test(import, constant_node_and_tensor_attribute) {
  cg_graph g;
  load_ok("constant", &g);
  cr_assert_eq(g.n_nodes, 4);
  const cg_node *c0 = &g.nodes[node(&g, "c0")];
  cr_assert_str_eq(c0->op, "Constant", "Constant stays a node");
  cr_assert_eq(c0->n_inputs, 0);
  cr_assert_eq(c0->n_outputs, 1);
  const cg_tensor *shape = &g.tensors[c0->outputs[0]];
  cr_assert_str_eq(shape->name, "shape");
  cr_assert_null(shape->data, "folding is a later pass");
  const cg_attr *v = cg_attr_find(c0, "value");
  cr_assert_not_null(v);
  cr_assert_eq(v->kind, CG_ATTR_TENSOR);
  const cg_tensor *val = &g.tensors[v->i];
  cr_assert_str_eq(val->name, "c0:value");
  cr_assert_eq(val->dtype, LS_I64);
  expect_dims(val, 1, (int64_t[]){2});
  cr_assert_eq(cg_const_int(val, 0), 2);
  cr_assert_eq(cg_const_int(val, 1), 3);
  cr_assert_eq(cg_find_tensor(&g, "c0:value"), v->i);

  const cg_node *reshape = &g.nodes[node(&g, "reshape")];
  cr_assert_eq(reshape->inputs[1], c0->outputs[0]);

  /* c1's value: "c1:value" is a model tensor, so the attribute tensor is renamed */
  const cg_node *c1 = &g.nodes[node(&g, "c1")];
  const cg_tensor *k = &g.tensors[cg_attr_find(c1, "value")->i];
  cr_assert_str_eq(k->name, "c1:value_1");
  cr_assert_eq(k->rank, 0);
  cr_assert_float_eq(f32_at(k, 0), 2.5f, 0);
  const cg_tensor *model_t = &g.tensors[tensor(&g, "c1:value")];
  cr_assert_eq(model_t->producer, node(&g, "id"));
  cr_assert(model_t->is_output);
  cr_assert_eq(g.n_outputs, 2);
  cg_graph_free(&g);
}

Test(import, omitted_optional_inputs_and_outputs) {
  cg_graph g;
  load_ok("optional", &g);
  const cg_node *clip = &g.nodes[node(&g, "clip")];
  cr_assert_eq(clip->n_inputs, 3);
  cr_assert_eq(clip->inputs[0], tensor(&g, "x"));
  cr_assert_eq(clip->inputs[1], CG_NONE);
  cr_assert_eq(clip->inputs[2], tensor(&g, "hi"));
  const cg_node *drop = &g.nodes[node(&g, "drop")];
  cr_assert_eq(drop->n_outputs, 1, "trailing omitted outputs are dropped");
  cr_assert_eq(drop->outputs[0], tensor(&g, "d"));
  const cg_node *split = &g.nodes[node(&g, "split")];
  cr_assert_eq(split->n_outputs, 3);
  cr_assert_eq(split->outputs[0], tensor(&g, "a"));
  cr_assert_eq(split->outputs[1], CG_NONE);
  cr_assert_eq(split->outputs[2], tensor(&g, "b"));
  cr_assert_eq(cg_find_tensor(&g, ""), CG_NONE);
  cg_graph_free(&g);
}

Test(import, symbolic_dimensions) {
  cg_graph g;
  load_ok("dynamic", &g);
  cr_assert_eq(g.opset, 11, "opset from the \"ai.onnx\" entry");
  cr_assert_eq(g.n_inputs, 3);
  const cg_tensor *x = &g.tensors[g.inputs[0]], *z = &g.tensors[g.inputs[1]], *u = &g.tensors[g.inputs[2]];
  cr_assert_str_eq(x->name, "x");
  expect_dims(x, 2, (int64_t[]){-1, 3});
  cr_assert_eq(cg_tensor_elems(x), -1);
  expect_dims(z, 2, (int64_t[]){-1, 3});
  cr_assert_eq(u->dtype, LS_I64);
  cr_assert_eq(u->rank, -1, "no shape: rank unknown");
  const cg_tensor *y = &g.tensors[g.outputs[0]];
  expect_dims(y, 2, (int64_t[]){-1, 3});
  cg_graph_free(&g);
}

/* ---- models that must be refused ------------------------------------------------------------- */
Test(import, unknown_input) {
  load_fail("bad_unknown_input",
            "node r (Relu): input 'nope' is not produced by any earlier node, initializer or graph input");
}
Test(import, not_topological) {
  load_fail("bad_order",
            "node second (Relu): input 'h' is not produced by any earlier node, initializer or graph input");
}
Test(import, duplicate_output) { load_fail("bad_dup_output", "output 'h' is already defined by node r1 (Relu)"); }
Test(import, opset_5) { load_fail("bad_opset5", "opset 5 is not supported"); }
Test(import, opset_18) { load_fail("bad_opset18", "opset 18 is not supported"); }
Test(import, no_default_opset) { load_fail("bad_no_opset", "no opset for the default ONNX domain"); }
Test(import, string_initializer) { load_fail("bad_string", "initializer 'names' has element type STRING"); }
Test(import, external_data) { load_fail("bad_external", "external data is not supported: w"); }
Test(import, typed_count_mismatch) { load_fail("bad_count", "initializer 'w': 5 values in float_data (expected 6"); }
Test(import, raw_size_mismatch) { load_fail("bad_raw_size", "initializer 'w': raw_data has 20 bytes (expected 24"); }
Test(import, unknown_graph_output) { load_fail("bad_graph_output", "graph output 'missing' is not produced"); }
Test(import, no_graph) { load_fail("bad_no_graph", "not an ONNX model (no graph)"); }

/* ---- files that are not models ----------------------------------------------------------------- */
static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)n + 1);
  cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

Test(import, every_truncation_is_refused) {
  need_models();
  /* (models whose last field is their only opset entry: any cut loses something needed) */
  const char *names[] = {"mlp", "constant"};
  for (size_t k = 0; k < 2; k++) {
    size_t len;
    uint8_t *buf = read_all(model_path(names[k]), &len);
    cg_graph g;
    char err[512];
    cr_assert_eq(cg_import_onnx_buffer(buf, len, names[k], &g, err, sizeof err), 0, "%s", err);
    cg_graph_free(&g);
    for (size_t cut = 0; cut < len; cut++) {
      uint8_t *part = malloc(cut + 1); /* exact size, so that ASan sees overreads */
      memcpy(part, buf, cut);
      err[0] = 0;
      int rc = cg_import_onnx_buffer(part, cut, "cut.onnx", &g, err, sizeof err);
      cr_assert_eq(rc, -1, "%s cut at %zu of %zu bytes imported", names[k], cut, len);
      cr_assert(strncmp(err, "cut.onnx: ", 10) == 0 && strlen(err) > 10, "message: '%s'", err);
      free(part);
    }
    free(buf);
  }
}

Test(import, truncated_file) {
  need_models();
  size_t len;
  uint8_t *buf = read_all(model_path("mlp"), &len);
  char path[4200];
  snprintf(path, sizeof path, "%s/truncated.onnx", IMPORT_MODELS);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  fwrite(buf, 1, len - 7, f);
  fclose(f);
  free(buf);
  cg_graph g;
  char err[512] = "";
  cr_assert_eq(cg_import_onnx(path, &g, err, sizeof err), -1);
  cr_assert(strstr(err, "truncated.onnx: not an ONNX model ("), "message: %s", err);
  remove(path);
}

/* Valid models with a few bytes changed: imported or refused with a message, never a crash. */
Test(import, corrupted_models) {
  need_models();
  const char *names[] = {"mlp", "typed", "constant", "optional"};
  uint64_t s = 12345;
  for (size_t k = 0; k < 4; k++) {
    size_t len;
    uint8_t *orig = read_all(model_path(names[k]), &len);
    uint8_t *buf = malloc(len);
    for (int trial = 0; trial < 2000; trial++) {
      memcpy(buf, orig, len);
      for (int f = 0; f < 1 + trial % 4; f++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        buf[(s >> 8) % len] ^= (uint8_t)(1u << (s & 7));
      }
      cg_graph g;
      char err[512] = "";
      if (cg_import_onnx_buffer(buf, len, "x.onnx", &g, err, sizeof err) == 0)
        cg_graph_free(&g);
      else
        cr_assert(strncmp(err, "x.onnx: ", 8) == 0 && strlen(err) > 8, "message: '%s'", err);
    }
    free(buf);
    free(orig);
  }
}

Test(import, random_bytes) {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (int trial = 0; trial < 2000; trial++) {
    size_t len = 1 + (size_t)(trial * 7919 % 4096);
    uint8_t *buf = malloc(len);
    for (size_t i = 0; i < len; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      buf[i] = (uint8_t)s;
    }
    cg_graph g;
    char err[512] = "";
    int rc = cg_import_onnx_buffer(buf, len, "random.bin", &g, err, sizeof err);
    cr_assert_eq(rc, -1, "random bytes imported (trial %d)", trial);
    cr_assert(strncmp(err, "random.bin: not an ONNX model (", 31) == 0, "message: %s", err);
    free(buf);
  }
}

Test(import, empty_and_missing_files) {
  cg_graph g;
  char err[512] = "";
  cr_assert_eq(cg_import_onnx_buffer((const uint8_t *)"", 0, "empty.onnx", &g, err, sizeof err), -1);
  cr_assert_str_eq(err, "empty.onnx: not an ONNX model (empty file)");
  cr_assert_eq(cg_import_onnx("/nonexistent/dir/model.onnx", &g, err, sizeof err), -1);
  cr_assert(strstr(err, "/nonexistent/dir/model.onnx: cannot open ("), "message: %s", err);
  cr_assert_eq(cg_import_onnx("/", &g, err, sizeof err), -1, "a directory");
  cr_assert(strncmp(err, "/: ", 3) == 0, "message: %s", err);
  /* a text file */
  const char *text = "ir_version: 8\ngraph { node { op_type: \"Relu\" } }\n";
  cr_assert_eq(cg_import_onnx_buffer((const uint8_t *)text, strlen(text), "model.txt", &g, err, sizeof err), -1);
  cr_assert(strstr(err, "model.txt: not an ONNX model ("), "message: %s", err);
}

/* Messages nested 150000 deep (graph > node > attribute > graph ...): protobuf-c would
 * recurse once per level. */
Test(import, deep_nesting_is_refused) {
  const int levels = 50000;
  size_t cap = (size_t)levels * 3 * 4 + 16, pos = cap;
  uint8_t *buf = malloc(cap);
  static const uint8_t tags[3] = {0x32 /* AttributeProto.g */, 0x2a /* NodeProto.attribute */,
                                  0x0a /* GraphProto.node */};
  for (int i = 0; i <= levels * 3; i++) {
    uint8_t tag = i == levels * 3 ? 0x3a /* ModelProto.graph */ : tags[i % 3];
    size_t n = cap - pos;
    uint8_t v[10];
    int nv = 0;
    do {
      v[nv++] = (uint8_t)((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>= 7;
    } while (n);
    pos -= (size_t)nv;
    memcpy(buf + pos, v, (size_t)nv);
    buf[--pos] = tag;
  }
  cg_graph g;
  char err[512] = "";
  int rc = cg_import_onnx_buffer(buf + pos, cap - pos, "deep.onnx", &g, err, sizeof err);
  cr_assert_eq(rc, -1);
  cr_assert(strstr(err, "deep.onnx: not an ONNX model (messages nested more than"), "message: %s", err);
  free(buf);
}

/* ---- a 200 MB model ------------------------------------------------------------------------- */
Test(import, model_of_200_mb) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' '%s' --big '%s'", PYTHON3, MAKE_MODELS, BIG_MODEL);
  int st = system(cmd);
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 77 || WEXITSTATUS(st) == 127)
    cr_skip_test("cannot make the big model: %s needs python3-onnx", PYTHON3);
  cr_assert_eq(WEXITSTATUS(st), 0, "%s failed", cmd);

  cg_graph g;
  char err[512] = "";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = cg_import_onnx(BIG_MODEL, &g, err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  remove(BIG_MODEL);
  cr_assert_eq(rc, 0, "%s", err);
  fprintf(stderr, "200 MB model imported in %.2f s\n",
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
  const int64_t n = 200 * 1024 * 1024 / 4;
  const cg_tensor *big = &g.tensors[tensor(&g, "big")];
  cr_assert_eq(big->dtype, LS_F32);
  expect_dims(big, 1, (int64_t[]){n});
  cr_assert_eq(cg_tensor_bytes(big), (size_t)200 * 1024 * 1024);
  const int64_t at[] = {0, 1, 999, 1000, 12345678, n - 1};
  for (size_t k = 0; k < sizeof at / sizeof at[0]; k++)
    cr_assert_float_eq(f32_at(big, at[k]), (float)(at[k] % 1000), 0, "big[%lld]", (long long)at[k]);
  cr_assert_eq(g.n_nodes, 1);
  cg_graph_free(&g);
}
