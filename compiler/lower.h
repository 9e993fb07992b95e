/* lower.h - the compiler's low level: buffers, instruction groups, and the passes that turn
 * them into a program (schedule.c, memplan.c, emit.c).
 *
 * A group is a small tree of instructions with fixed relative timing: reads at the
 * leaves, a write (or scatter, or weight load) at the root, every operand arriving in the
 * very cycle its consumer reads it. Lowering an operator produces groups; the scheduler
 * places each group at the earliest cycle where its queues and streams are free and the
 * memory it touches is ready; memory planning then gives buffers addresses from their
 * exact lifetimes in cycles; emission writes the program. */
#ifndef LOCKSTEP_LOWER_H
#define LOCKSTEP_LOWER_H

#include <stddef.h>
#include <stdint.h>

#include "isa.h"

#define LO_NONE (-1)

typedef struct lo_buf {
  char *name;           /* for messages and the assembly text */
  uint64_t bytes;
  uint8_t *data;        /* constant contents (owned), or NULL for a runtime buffer */
  int io;               /* index in the module's io list, or LO_NONE */
  /* filled by the passes */
  uint64_t first, last; /* lifetime in cycles: [first, last) */
  int used;
  uint64_t addr;
} lo_buf;

typedef struct lo_insn {
  ls_insn in;    /* addr: byte offset within buf; streams unused (see src) */
  int buf;       /* the buffer addr refers to, LO_NONE if none */
  int src[3];    /* nodes of this group feeding inputs a, b, c; LO_NONE if unused */
  int plane;     /* MM: the LW node whose plane it multiplies with */
  int64_t t;     /* issue cycle relative to the group's start (lo_finish) */
  int consumers; /* how many nodes read this node's output */
} lo_insn;

typedef struct lo_group {
  lo_insn *insn;
  int n, cap;
  int64_t length; /* cycles from start to the last effect */
  const char *what; /* the graph node it comes from, for messages */
  /* filled by the scheduler */
  uint64_t start;
  uint8_t *queue;  /* per node: queue index within its unit */
  uint8_t *stream; /* per node with outputs: physical stream */
} lo_group;

typedef struct lo_module {
  ls_target t;
  lo_buf *bufs;
  int n_bufs, cap_bufs;
  lo_group *groups;
  int n_groups, cap_groups;
  ls_io *io;
  int *io_buf;
  int n_io, cap_io;
  uint64_t cycles;       /* after scheduling */
  uint64_t mem_bytes;    /* after memory planning: SRAM the program uses */
  uint64_t peak_live;    /* lower bound: the most bytes live at one cycle */
  uint64_t const_bytes;
} lo_module;

void lo_module_init(lo_module *m, const ls_target *t);
void lo_module_free(lo_module *m);
/* A runtime buffer of `bytes`, or a constant (data copied). Returns its index. */
int lo_buf_new(lo_module *m, const char *name, uint64_t bytes);
int lo_buf_const(lo_module *m, const char *name, const void *data, uint64_t bytes);
/* Declare buf as program input or output `name`. */
int lo_io(lo_module *m, int buf, const char *name, int is_output, ls_dtype dt, int rank, const int64_t *dims);

/* ---- building a group ------------------------------------------------------------------ */
lo_group *lo_group_new(lo_module *m, const char *what);
/* n vectors from buf+off, stride bytes apart; lanes: 0 = all, else a masked read filled
 * with fill (f64 for floats, integer otherwise). Returns the node. */
int lo_read(lo_group *g, int buf, uint64_t off, uint32_t n, int64_t stride, ls_dtype t, uint32_t lanes, double fill);
int lo_write(lo_group *g, int buf, uint64_t off, int64_t stride, ls_dtype t, uint32_t lanes, int src);
int lo_op(lo_group *g, ls_op op, ls_dtype t, int a, int b, int c);
int lo_op_imm(lo_group *g, ls_op op, ls_dtype t, int a, double imm);
int lo_op_int(lo_group *g, ls_op op, ls_dtype t, int a, int64_t imm); /* integer immediates, lanes */
int lo_cvt(lo_group *g, ls_dtype from, ls_dtype to, int a);
int lo_gather(lo_group *g, int table_buf, uint64_t off, uint32_t table_elems, ls_dtype t, int idx);
int lo_scatter(lo_group *g, int table_buf, uint64_t off, uint32_t table_elems, ls_dtype t, int src, int idx);
int lo_lw(lo_group *g, int src);
int lo_mm(lo_group *g, int lw, int x, int acc, uint32_t cols);
/* Compute relative issue times so every operand arrives when its consumer reads it.
 * Returns 0, or -1 if the group is malformed (an internal error). */
int lo_finish(lo_group *g, const ls_target *t, char *err, size_t errlen);

/* ---- the passes ---------------------------------------------------------------------------- */
/* schedule.c: place every group; sets group.start/queue/stream, buffer lifetimes and cycles. */
int lo_schedule(lo_module *m, char *err, size_t errlen);
/* memplan.c: give buffers addresses; constants first and for good, the rest by lifetime. */
int lo_plan_memory(lo_module *m, char *err, size_t errlen);
/* emit.c: the program (allocates into *p; free with ls_prog_free). */
int lo_emit(const lo_module *m, ls_prog *p, char *err, size_t errlen);

#endif
