/* internal.h - the runtime's view of a loaded program. Not installed; tests may include it.
 *
 * Loading turns a program file into a list of instances: every instruction a queue issues
 * (REPEATs expanded), sorted by (issue cycle, queue). That order is a valid bulk execution
 * order: a consumer always issues at least `hop` (>= 1) cycles after its producer, and the
 * verifier forbids memory races, so running each instance whole, in this order, computes
 * exactly what the cycle-by-cycle machine computes. */
#ifndef LOCKSTEP_INTERNAL_H
#define LOCKSTEP_INTERNAL_H

#include "lockstep.h"

#define RT_NONE UINT32_MAX
#define RT_NOSLOT UINT64_MAX
#define RT_MAX_INSTANCES (1u << 24)
#define RT_MAX_MEM (1ull << 40)

/* An MM runs up to this many of the gathers that write its x rows (an im2col) itself, each
 * thread the part of them its own rows read (verify.c: plan_feeds). */
#define RT_FEEDS 4

typedef struct rt_inst {
  ls_insn in;          /* the instance: a REPEAT's repetitions have their own cycle/addr */
  uint32_t queue;      /* index in prog.queues */
  uint32_t qinsn;      /* index in that queue's list (the REPEAT for repetitions) */
  uint32_t outs;       /* vectors produced on in.dst */
  uint32_t src[3];     /* producing instance of inputs a, b, c; RT_NONE if unused */
  uint32_t src_off[3]; /* first vector consumed, within that producer's output */
  uint32_t last_use;   /* position of the last instance consuming our output */
  uint64_t out_delay;  /* output j arrives at in.cycle + out_delay + j */
  uint64_t slot;       /* output buffer: byte offset in the stream-slot region */
  /* fast mode's plan (verify.c: plan_fast); checked mode ignores all of it */
  uint8_t alias;       /* a READ whose consumers read SRAM in place */
  uint8_t skip;        /* absorbed into another instance: not run */
  uint8_t plane_ptr;   /* an LW that records where its rows are instead of copying them */
  uint8_t n_epi;       /* MM: immediates applied on the way to memory (absorbed VXM ops) */
  uint8_t acc_in_place; /* MM: its output slot is its accumulator's (plan_slots) */
  uint32_t direct;     /* the WRITE this instance writes through to, or RT_NONE */
  uint32_t epi[4];     /* MM: the absorbed VXM instances, in order */
  uint32_t n_cons;     /* instances reading our output */
  uint32_t cons0;      /* the first of them */
  uint32_t plane_lw;   /* MM: the LW whose rows it multiplies with */
  uint32_t plane_end;  /* LW: the last MM using its rows */
  uint32_t plane_cols; /* LW: the most columns any of those MMs uses */
  uint32_t alias_end;  /* an aliased READ: the last instance that reads its bytes in place */
  uint32_t runs0;      /* a GATHER with constant indices: its copy runs, gruns[runs0 .. +nruns) */
  uint32_t nruns;      /* 0 (and no reps): gather element by element */
  uint32_t reps0;      /* and its repeated runs, greps[reps0 .. +nreps) */
  uint32_t nreps;
  uint32_t chain0;     /* a WRITE at the end of a chain of elementwise instances: chain[chain0 ..] */
  uint32_t nchain;     /* 0: none; else run, RT_CHAIN_BLOCK vectors at a time, at the WRITE's turn */
  uint32_t chain_mac;  /* the chain begins with this many f32 mul/mac, each adding to the last */
  uint32_t feed[RT_FEEDS]; /* MM: gathers by runs that fill its x rows, run at its turn by */
  uint8_t n_feed;          /* the thread computing those rows, just before it computes them */
  float xbytes;            /* fast list, at 2 threads: bytes it reads that the other thread
                            * wrote (verify.c: plan_cross) */
} rt_inst;

/* Fast mode runs a chain of elementwise instances (each the only consumer of the one
 * before, every other input read in place) and the WRITE it ends in a few vectors at a time,
 * the intermediate vectors in two small buffers per thread, instead of one whole stream
 * after the other through memory. */
#define RT_CHAIN_BLOCK 8
#define RT_CHAIN_THREADS 8
#define RT_CHAIN_MACS 32 /* the most products k_mac_chain takes at once */

/* A GATHER whose indices are constants copies runs of evenly spaced table elements: output
 * element dst+j := table[src + j*step] for j < len, or zeros when src is RT_NONE (indices
 * out of range). Element positions count from the instance's first output element. */
typedef struct rt_run {
  uint32_t dst, src, len;
  int32_t step;
} rt_run;

/* Runs that repeat, kept apart (a transpose): n1 runs one after another in the output, each
 * s1 table elements after the last, and n2 of those blocks, each s2 after the last: element
 * dst + (k*n1 + i)*len + j := table[src + k*s2 + i*s1 + j*step]. */
typedef struct rt_rep {
  uint32_t dst, src, len;
  int32_t step;
  uint32_t n1, n2;
  int32_t s1, s2;
} rt_rep;

struct ls_program {
  ls_prog prog;
  rt_inst *inst;
  uint32_t n_inst;
  uint64_t cycles;
  /* arena layout, byte offsets */
  size_t sram_off, sram_bytes;
  size_t slot_off, slot_bytes;
  size_t plane_off, plane_stride; /* one MXM plane: 64-byte header (rows) + lanes*lanes f32 */
  size_t check_off, check_bytes;
  size_t arena_bytes;
  size_t chain_off, chain_bytes; /* per thread: two buffers of RT_CHAIN_BLOCK vectors */
  rt_run *gruns; /* fast mode's gather runs (see rt_inst.runs0) */
  size_t n_gruns;
  rt_rep *greps; /* and repeated runs (rt_inst.reps0) */
  size_t n_greps;
  uint32_t *chain; /* fast mode's chains (see rt_inst.chain0), instances in order */
  size_t n_chain;
  size_t chain_vb; /* the widest vector in any chain, bytes */
  uint32_t *fast_list; /* the instances fast mode runs, in order (not read in place, absorbed or ICU) */
  uint32_t n_fast;
};

/* verify.c: checks the program and fills inst[] links, slots and the arena layout. */
ls_status rt_verify(ls_program *p, ls_error *err);
void rt_errorf(ls_error *err, ls_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* "mem0 insn 3 (read @12)": how messages name an instance */
void rt_describe(const ls_program *p, const rt_inst *x, char *buf, size_t len);

/* kernels.c: the data semantics of every instruction. */
typedef struct k_src {
  const uint8_t *p; /* vector i at p + i*stride */
  int64_t stride;
} k_src;
/* Where an MM writes in fast mode when it writes straight to memory: row i at p + i*stride,
 * the first `lanes` lanes, after the immediates ops[0..n) */
typedef struct k_dst {
  uint8_t *p;
  int64_t stride;
  uint32_t lanes;
  int n;
  const ls_insn *ops[4];
} k_dst;
typedef struct k_ctx {
  const ls_target *t;
  uint8_t *sram;
  uint8_t *planes;      /* plane k at planes + k*plane_stride */
  size_t plane_stride;
} k_ctx;
/* Run vectors [v0, v1) of instance `in`; out is its output buffer (lanes-wide vectors of the
 * output type, contiguous). Instructions for which k_splittable() is 0 take [0, n) whole. */
void k_run(const k_ctx *c, const ls_insn *in, const k_src src[3], uint8_t *out, uint32_t v0, uint32_t v1);
int k_splittable(ls_op op);
/* Fast mode's chain of m f32 products: out = a[m-1]*b[m-1] + (... + (a[0]*b[0] + c0)), each
 * a mac (one rounding; the first a mul when c0 is NULL), vectors [0, nb), the sum kept in
 * registers instead of going through memory between the steps. */
void k_mac_chain(const k_ctx *c, uint32_t m, const k_src *a, const k_src *b, const k_src *c0, uint8_t *out, uint32_t nb);
/* f32 maxs/mins by immediates, in order, after a chain's products */
typedef struct k_clamp {
  uint32_t n;
  uint8_t max[4]; /* 1: maxs, 0: mins */
  float imm[4];
} k_clamp;
/* appends an f32 maxs or mins by a number to q; 0 for any other instruction (or a fifth) */
int k_clamp_add(k_clamp *q, const ls_insn *in);
/* k_mac_chain's products, then q's clamps (made by k_clamp_add), vector v stored at
 * out + v * os (a WRITE's address and stride: no buffer between). Returns 0 where it has no
 * fast path (weights that differ between vectors, taps of different strides, no AVX-512):
 * the caller goes the general way. */
int k_mac_chain_to(const k_ctx *c, uint32_t m, const k_src *a, const k_src *b, const k_src *c0, const k_clamp *q,
                   uint8_t *out, int64_t os, uint32_t nb);
/* Fast mode's MM into memory (see k_dst), rows [v0, v1). */
void k_mm_to(const k_ctx *c, const ls_insn *in, const k_src src[3], const k_dst *d, uint32_t v0, uint32_t v1);
/* Fast mode's GATHER by runs (rt_run) and repeated runs (rt_rep), output elements
 * [v0*lanes, v1*lanes). */
void k_gather_runs(const k_ctx *c, const ls_insn *in, const rt_run *runs, uint32_t nruns, const rt_rep *reps, uint32_t nreps,
                   uint8_t *out, uint32_t v0, uint32_t v1);
/* the same for output elements [e0, e1), which need not be whole vectors (a share of the
 * rows of the MM it feeds) */
void k_gather_elems(const k_ctx *c, const ls_insn *in, const rt_run *runs, uint32_t nruns, const rt_rep *reps,
                    uint32_t nreps, uint8_t *out, uint64_t e0, uint64_t e1);
/* An LW that only records where its rows are (fast mode, rows that stay put). */
void k_lw_in_place(const k_ctx *c, const ls_insn *in, const k_src *src);
/* Split points must be multiples of this many vectors for the bits not to change: 1 for
 * elementwise work, and for MM on an AVX-512 build (its GEMM's bits do not depend on the
 * blocks); else MM's row block (a fixed function of n, never of the thread count). */
uint32_t k_grain(const ls_target *t, const ls_insn *in);

/* predict.c: how much of the cold costs apply to p (0..1, by its memory against the
 * calibration's cache sizes), and the predicted ns under a model of an instance that fast
 * mode runs (one of fast_list). */
double rt_cold_fraction(const ls_program *p, const ls_calibration *cal);
/* how many of `threads` threads fast mode splits fast-list instance x across (1: it runs
 * whole on the calling thread); split_min as ls_run_opts' */
int rt_split_threads(const ls_program *p, const rt_inst *x, int threads, uint64_t split_min);
double rt_inst_ns(const ls_program *p, const ls_cost_model *m, const rt_inst *x);

/* fpenv.c: flush-to-zero and denormals-are-zero for the duration of a run. */
typedef struct fp_saved {
  unsigned long bits;
} fp_saved;
void fp_enter(fp_saved *s);
void fp_leave(const fp_saved *s);

#endif
