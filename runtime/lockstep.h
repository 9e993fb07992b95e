/* lockstep.h - the Lockstep runtime: load, verify and run a program in caller-owned memory.
 *
 *   ls_program *p;  ls_error e;
 *   if (ls_load_file("model.lsp", &p, &e)) { fprintf(stderr, "%s\n", e.msg); ... }
 *   size_t n = ls_arena_bytes(p);                    // exact bytes a run needs
 *   void *arena = aligned_alloc(LS_ARENA_ALIGN, n);  // yours: static, stack or heap
 *   ls_arena_init(p, arena, n, &e);                  // constants in, once
 *   memcpy(ls_tensor_data(p, arena, ls_tensor_find(p, "x")), x, bytes);
 *   ls_run(p, arena, n, NULL, &info, &e);            // no malloc, no locks, no syscalls
 *   const float *y = ls_tensor_data(p, arena, ls_tensor_find(p, "y"));
 *
 * Every program is verified when loaded (bounds, types, unit conflicts, stream timing), so
 * ls_run cannot fault on a program that loaded. The cycle count is known at load time and
 * every run reports exactly that count. */
#ifndef LOCKSTEP_H
#define LOCKSTEP_H

#include <stddef.h>
#include <stdint.h>

#include "isa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ls_status {
  LS_OK = 0,
  LS_ERR_FORMAT,  /* the file is not a well-formed program (truncated, corrupt, wrong version) */
  LS_ERR_VERIFY,  /* well-formed, but breaks a rule of the machine */
  LS_ERR_ARG,     /* a bad argument: arena too small or misaligned, unknown tensor */
  LS_ERR_IO,      /* the file could not be read */
  LS_ERR_NOMEM    /* loading ran out of memory */
} ls_status;

typedef struct ls_error {
  ls_status status;
  char msg[512];
} ls_error;

typedef struct ls_program ls_program;

ls_status ls_load(const void *data, size_t len, ls_program **out, ls_error *err);
ls_status ls_load_file(const char *path, ls_program **out, ls_error *err);
void ls_free(ls_program *p);

/* The program as decoded (target, tensors, queues). */
const ls_prog *ls_program_image(const ls_program *p);
uint64_t ls_cycles(const ls_program *p);       /* exact cycles of every run */
uint64_t ls_instructions(const ls_program *p); /* instructions issued per run */

#define LS_ARENA_ALIGN 64
size_t ls_arena_bytes(const ls_program *p);
/* Writes the program's constants into the arena and zeroes the rest. */
ls_status ls_arena_init(const ls_program *p, void *arena, size_t bytes, ls_error *err);

int ls_tensor_count(const ls_program *p);
const ls_io *ls_tensor(const ls_program *p, int i);
int ls_tensor_find(const ls_program *p, const char *name); /* -1 if none */
/* Where tensor i lives inside the arena: write inputs there, read outputs from there. */
void *ls_tensor_data(const ls_program *p, void *arena, int i);

typedef enum ls_mode {
  LS_MODE_FAST,    /* bulk kernels, zero-copy streams, threads */
  LS_MODE_CHECKED  /* steps the cycle model and checks every stream hand-off */
} ls_mode;

typedef enum ls_event_kind {
  LS_EV_ISSUE,  /* an instruction holds its queue for [cycle, cycle + dur) */
  LS_EV_STREAM  /* vectors of one instruction occupy a stream for [cycle, cycle + dur) */
} ls_event_kind;

typedef struct ls_event {
  ls_event_kind kind;
  uint32_t queue;   /* index into ls_program_image(p)->queues */
  uint32_t insn;    /* index in that queue's instruction list (a REPEAT's repetitions share it) */
  uint32_t stream;  /* LS_EV_STREAM: the stream */
  uint64_t cycle, dur;
} ls_event;
typedef void (*ls_trace_fn)(void *user, const ls_event *ev);

/* Fast mode runs a program as ls_steps(p) steps, one instance each (ls_step describes it).
 * To profile a run, ls_run_opts.step is called with k before step k and with k = ls_steps(p)
 * after the last, from the calling thread: the caller reads its own clock there (the
 * runtime reads none). */
typedef void (*ls_step_fn)(void *user, uint32_t k);

typedef struct ls_run_opts {
  ls_mode mode;
  int threads;           /* 0: the build's default (OpenMP's), 1: none; fast mode only */
  ls_trace_fn trace;     /* checked mode: called for every issue and stream occupancy */
  void *trace_user;
  ls_step_fn step;       /* fast mode: NULL, or called around every step (profiling) */
  void *step_user;
  uint64_t split_min;    /* fast mode, more than one thread: the least work of an instruction split across
                          * threads (multiply-adds of an MM, elements of any other); 0: the defaults,
                          * LS_SPLIT_MIN_MACS and LS_SPLIT_MIN_ELEMS */
} ls_run_opts;

/* Fast mode splits an MM across threads from this many multiply-adds, and any other
 * instruction it can split from this many elements; below, a parallel region (a few
 * microseconds on a virtual machine) and moving the output's cache lines to the other
 * core cost more than the half of the work they save. ls_predict_us follows the same rule. */
#define LS_SPLIT_MIN_MACS (1u << 21)
#define LS_SPLIT_MIN_ELEMS (1u << 20)

typedef struct ls_run_info {
  uint64_t cycles;       /* cycles the run took in the machine model */
  uint64_t instructions; /* instructions issued */
} ls_run_info;

/* Run the program. opts may be NULL (fast mode, default threads). Sets flush-to-zero and
 * denormals-are-zero for the run and restores the caller's floating-point mode after. */
ls_status ls_run(const ls_program *p, void *arena, size_t bytes, const ls_run_opts *opts,
                 ls_run_info *info, ls_error *err);

/* ---- predicted latency on this host ----------------------------------------------------------
 * A calibration (made by `lockstep calibrate`) measures what each kind of work costs on this
 * CPU; ls_predict_us adds it up over the instances the fast mode will run. */
#define LS_COST_CLASSES(X) \
  X(NONE, "none") X(COPY, "copy") X(ALU, "alu") X(TRANS, "trans") X(EXP, "exp") X(RED, "red") X(GATHER, "gather") \
  X(SXM, "sxm") X(MM, "mm")
typedef enum ls_cost_class {
#define X(e, name) LS_COST_##e,
  LS_COST_CLASSES(X)
#undef X
  LS_COST_COUNT
} ls_cost_class;

typedef struct ls_cost_model {
  double per_run;                   /* ns: entering and leaving ls_run */
  double per_insn;                  /* ns: each instance run */
  double per_unit[LS_COST_COUNT];   /* ns per element (copy: per byte) of each class */
  double mm[4];                     /* ns: a + b*flops + c*K*N + d*M*N for an MM */
  double mm_few[2];                 /* ns: a + b*M*K*N for an MM of at most 4 rows (a loop, not
                                       BLAS); both 0: not measured, mm serves */
  double run, run_byte;             /* ns: a gather by runs (constant indices), per run and per byte */
  double chain;                     /* ns per element of an alu instruction inside a chain (fast
                                       mode runs those a few vectors at a time); 0: not measured */
  double cross;                     /* ns per byte that comes over from the other thread's core: read
                                       after it wrote, or written where only it holds the line (2
                                       threads only; 0: not measured) */
} ls_cost_model;

typedef struct ls_calibration {
  char host[128];                   /* the CPU and build it was measured on */
  ls_cost_model model[2];           /* 1 thread, 2 threads: data in cache */
  ls_cost_model cold[2];            /* the same, data streamed from memory (all zero: not measured) */
  double cache_bytes, cold_bytes;   /* a program's memory up to cache_bytes: `model`; from
                                       cold_bytes: `cold`; between, interpolated (log scale) */
} ls_calibration;

/* $LOCKSTEP_CALIBRATION, else $XDG_CONFIG_HOME/lockstep/calibration, else
 * $HOME/.config/lockstep/calibration. */
const char *ls_calibration_path(void);
ls_status ls_calibration_load(const char *path, ls_calibration *c, ls_error *err);
ls_status ls_calibration_save(const char *path, const ls_calibration *c, ls_error *err);
/* Predicted wall time of one fast-mode run, in microseconds (NaN without a calibration): the
 * in-cache costs for programs that fit the cache, the cold ones for those far bigger. */
double ls_predict_us(const ls_program *p, const ls_calibration *c, int threads);

typedef struct ls_step_info {
  ls_insn insn;          /* the instance the step runs (a REPEAT's repetition: its own cycle) */
  uint32_t queue;        /* its queue, an index into ls_program_image(p)->queues */
  uint32_t chained;      /* elementwise instances computed with it, a few vectors at a time */
  uint32_t runs;         /* a gather with constant indices: the copy runs it makes; else 0 */
  uint32_t absorbed;     /* an MM: elementwise instances applied on its way to memory */
  uint32_t mm_k, mm_n;   /* an MM: its plane's rows (K) and the columns it computes (N); else 0 */
  double flops;          /* an MM: 2 * vectors * K * N; else 0 */
  double predicted_ns;   /* its predicted time on this host (NaN without a calibration) */
  uint32_t fed;          /* an MM: gathers it runs itself, each thread the part its rows read (an
                          * im2col); else 0 */
} ls_step_info;
uint32_t ls_steps(const ls_program *p);
/* Describe step k (< ls_steps(p)); c may be NULL. */
void ls_step(const ls_program *p, uint32_t k, const ls_calibration *c, int threads, ls_step_info *out);
/* The cost class of an instruction and its amount (elements, or bytes for copies). */
ls_cost_class ls_cost_of(const ls_target *t, const ls_insn *in, double *amount);
const char *ls_cost_class_name(ls_cost_class c);
double ls_cost_mm_ns(const ls_cost_model *m, double M, double K, double N);

/* What this build was made with, e.g. "openblas 0.3.21 (SkylakeX), openmp". */
const char *ls_build_info(void);

/* OpenBLAS picks its kernels once, when it is loaded, from OPENBLAS_CORETYPE or its own
 * CPU detection, and Debian's OpenBLAS 0.3.21 does not know recent AVX-512 CPUs (AMD Zen 4
 * is given the AVX2 "Haswell" kernels, at about 60% of the speed of its "SkylakeX" ones).
 * Returns the core type to set in OPENBLAS_CORETYPE before the process starts (the
 * `lockstep` tool re-executes itself with it) when this CPU has AVX-512 (F, BW, DQ, VL)
 * and the kernels in use do not: also when OPENBLAS_CORETYPE names such kernels, unless
 * LOCKSTEP_KEEP_CORETYPE is set. NULL when the choice is already right, when
 * OPENBLAS_CORETYPE is already "SkylakeX", or without OpenBLAS. */
const char *ls_blas_better_coretype(void);

#ifdef __cplusplus
}
#endif
#endif
