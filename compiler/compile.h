/* compile.h - the compiler's entry point: an ONNX model in, a program out. */
#ifndef LOCKSTEP_COMPILE_H
#define LOCKSTEP_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "isa.h"

typedef struct cg_binding {
  const char *name;  /* a graph input */
  ls_dtype dtype;
  int rank;
  uint64_t dims[LS_MAX_RANK];
  const void *data;  /* fixes its value (and so its shape) at compile time */
} cg_binding;

typedef struct cg_options {
  ls_target target;
  const cg_binding *binds;
  int n_binds;
} cg_options;

typedef struct cg_report {
  int nodes, live_nodes;       /* in the model; left to lower after folding and fusion */
  char ops[1024];              /* operator types lowered, with counts: "Conv 20, Relu 1, ..." */
  uint64_t groups, insns, cycles;
  uint64_t mem_bytes, const_bytes, peak_live;
  double busy[LS_UNIT_COUNT];  /* utilisation per unit: busy queue-cycles / all queue-cycles */
  double seconds[8];           /* import, infer, simplify, lower, schedule, memory, emit, total */
} cg_report;

/* Compile path into *out (free with ls_prog_free). Returns 0, or -1 with one line in err. */
int cg_compile_file(const char *path, const cg_options *o, ls_prog *out, cg_report *r, char *err, size_t errlen);

#endif
