/* passes.h - the compiler's passes, in the order compile.c runs them:
 *
 *   import (import_onnx.c)   ONNX file -> graph IR
 *   bind (infer.c)           shape-determining inputs fixed from --bind files
 *   infer (infer.c)          every tensor's type and shape; constant subgraphs folded
 *   simplify (simplify.c)    Identity/Dropout dropped, BatchNorm folded, activations fused
 *   lower (lower_graph.c)    every node -> instruction groups over buffers
 *   schedule (schedule.c)    groups placed on queues and streams: exact cycles
 *   plan memory (memplan.c)  buffers -> addresses, from their lifetimes
 *   emit (emit.c)            the program, verified by the runtime's own verifier */
#ifndef LOCKSTEP_PASSES_H
#define LOCKSTEP_PASSES_H

#include "ir.h"
#include "lower.h"

/* A node that a pass removed: lowering skips it. */
#define CG_DEAD_OP "lockstep.dead"
int cg_is_dead(const cg_node *n);
void cg_kill(cg_node *n);
/* Make every use of tensor `from` (node inputs, graph outputs) use `to` instead. */
void cg_replace_uses(cg_graph *g, int from, int to);
/* Add (or replace) an attribute on a node. */
int cg_set_attr_int(cg_node *n, const char *name, int64_t v);
int cg_set_attr_float(cg_node *n, const char *name, float v);
/* How many nodes (and graph outputs) read tensor t. */
int cg_uses(const cg_graph *g, int t);
/* Make t a constant with the given bytes (copied). */
int cg_set_const(cg_tensor *t, const void *data, size_t bytes);

/* infer.c */
int cg_infer(cg_graph *g, char *err, size_t errlen);
/* Broadcast shapes a and b (NumPy rules) into out; -1 if they do not broadcast. */
int cg_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *ro, int64_t *out);
/* For each element of an output of shape (ro, out), the flat index of the element of
 * (ri, in) that broadcasts to it. */
void cg_broadcast_index(int ri, const int64_t *in, int ro, const int64_t *out, int64_t *idx);

/* Kernel, strides, pads (begins then ends) and dilations of a Conv or pooling node over
 * `spatial` dimensions, auto_pad resolved. -1 on bad values. */
int cg_window_params(const cg_node *n, int spatial, int64_t *kernel, int64_t *strides, int64_t *pads, int64_t *dil,
                     const int64_t *in_dims, const int64_t *w_dims);

/* Slice's start and step along every axis of an input of `rank` dims (axes it does not
 * name: start 0, step 1), from its inputs (opset >= 10) or attributes. -1 if a parameter is
 * not a constant. */
int cg_slice_params(const cg_graph *g, const cg_node *n, int rank, const int64_t *dims, int64_t *start, int64_t *step);

/* MatMul's operands as matrices (NumPy's rule: a 1-D A is a row, a 1-D B a column): dims
 * into ad/bd (room for LS_MAX_RANK + 1), ranks into ra/rb. */
void cg_matmul_dims(const cg_tensor *a, const cg_tensor *b, int64_t *ad, int *ra, int64_t *bd, int *rb);

/* simplify.c */
int cg_simplify(cg_graph *g, char *err, size_t errlen);

/* lower_graph.c: output_names are the graph outputs' names as imported (passes may
 * replace an output tensor by an equal one with another name). */
int cg_lower(cg_graph *g, lo_module *m, char *const *output_names, char *err, size_t errlen);

#endif
