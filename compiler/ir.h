/* ir.h - the compiler's graph IR: tensors and nodes, as imported from ONNX and rewritten
 * by the passes. A host-side structure: it allocates freely (the runtime never sees it).
 *
 * Tensors are identified by index into graph.tensors; nodes by index into graph.nodes,
 * kept in topological order (every input of a node is a graph input, a constant, or an
 * output of an earlier node). A tensor with `data` is a constant (an initializer, a
 * Constant node's value, or something folded); its dims are known. */
#ifndef LOCKSTEP_IR_H
#define LOCKSTEP_IR_H

#include <stddef.h>
#include <stdint.h>

#include "isa.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CG_NONE (-1)

typedef struct cg_tensor {
  char *name;
  ls_dtype dtype;   /* LS_DTYPE_COUNT while unknown */
  int rank;         /* -1 while unknown */
  int64_t dims[LS_MAX_RANK]; /* -1: unknown (symbolic) dimension */
  uint8_t *data;    /* row-major little-endian values if constant, else NULL */
  int producer;     /* node index, or CG_NONE for graph inputs and constants */
  uint8_t is_input, is_output;
} cg_tensor;

typedef enum cg_attr_kind {
  CG_ATTR_INT,
  CG_ATTR_FLOAT,
  CG_ATTR_STRING,
  CG_ATTR_INTS,
  CG_ATTR_FLOATS,
  CG_ATTR_TENSOR, /* value stored as a constant tensor: .i is its tensor index */
  CG_ATTR_OTHER   /* graphs, sparse tensors, type protos: kept by name only */
} cg_attr_kind;

typedef struct cg_attr {
  char *name;
  cg_attr_kind kind;
  int64_t i;
  float f;
  char *s;
  int64_t *ints;
  float *floats;
  int n; /* elements of ints / floats */
} cg_attr;

typedef struct cg_node {
  char *op;     /* ONNX op_type, e.g. "Conv" */
  char *domain; /* "" for the default ONNX domain */
  char *name;   /* may be empty in the model: the importer names it "<op>_<index>" */
  int *inputs;  /* tensor indices; CG_NONE for an omitted optional input */
  int n_inputs;
  int *outputs;
  int n_outputs;
  cg_attr *attrs;
  int n_attrs;
} cg_node;

typedef struct cg_graph {
  cg_tensor *tensors;
  int n_tensors, cap_tensors;
  cg_node *nodes;
  int n_nodes, cap_nodes;
  int *inputs, n_inputs;   /* graph inputs that are not initializers, in model order */
  int *outputs, n_outputs; /* graph outputs, in model order */
  int64_t opset;           /* default-domain opset version */
  char *source;            /* file name, for messages */
} cg_graph;

/* ---- building and querying (ir.c) ---------------------------------------------------- */
void cg_graph_init(cg_graph *g);
void cg_graph_free(cg_graph *g);
/* Add a tensor; returns its index, or CG_NONE when out of memory. name is copied. */
int cg_add_tensor(cg_graph *g, const char *name, ls_dtype dtype, int rank, const int64_t *dims);
/* Add a node (op, name copied; inputs/outputs copied). Returns its index or CG_NONE. */
int cg_add_node(cg_graph *g, const char *op, const char *name, const int *inputs, int n_inputs,
                const int *outputs, int n_outputs);
int cg_find_tensor(const cg_graph *g, const char *name);
const cg_attr *cg_attr_find(const cg_node *n, const char *name);
int64_t cg_attr_int(const cg_node *n, const char *name, int64_t dflt);
float cg_attr_float(const cg_node *n, const char *name, float dflt);
const char *cg_attr_string(const cg_node *n, const char *name, const char *dflt);
/* ints attribute: count, and pointer (NULL if absent) */
const int64_t *cg_attr_ints(const cg_node *n, const char *name, int *count);
int64_t cg_tensor_elems(const cg_tensor *t); /* -1 if any dimension is unknown */
size_t cg_tensor_bytes(const cg_tensor *t);  /* 0 if unknown */
/* Element i of a constant integer tensor (any integer type) as int64. */
int64_t cg_const_int(const cg_tensor *t, int64_t i);
/* Element i of a constant tensor of any numeric type as a double. */
double cg_const_double(const cg_tensor *t, int64_t i);
/* Give a node another op_type; -1 when out of memory (the node is then unchanged). */
int cg_set_op(cg_node *n, const char *op);

/* ---- import (import_onnx.c) ------------------------------------------------------------ */
/* Read an ONNX model file into g. Returns 0, or -1 with "file: what is wrong" in err. */
int cg_import_onnx(const char *path, cg_graph *g, char *err, size_t errlen);
int cg_import_onnx_buffer(const uint8_t *buf, size_t len, const char *name, cg_graph *g, char *err,
                          size_t errlen);
/* One serialized TensorProto (e.g. a test case's input_0.pb) into *out: name, dtype, dims
 * and little-endian data, converted as the importer converts initializers. `what` names
 * the source in messages. Returns 0 (free out->name and out->data), or -1 with err set. */
int cg_tensor_from_pb(const uint8_t *buf, size_t len, const char *what, cg_tensor *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
