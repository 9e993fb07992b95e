/* test_runtime.c - loading, verification errors, the examples, modes, threads and the
 * floating-point environment of a run. Expected values are computed here by plain loops
 * (the independent reference), with inputs chosen so every result is exact in f32. */
#include <criterion/criterion.h>
#include <math.h>

#include "support.h"
#include "internal.h"
#if defined(__SSE2__)
#include <immintrin.h>
#endif

/* ---- the examples ------------------------------------------------------------------------ */

typedef struct example {
  const char *file;
  uint64_t cycles;  /* worked out by hand in the example's comments */
  void (*fill)(t_run *r);
  void (*expect)(t_run *r);
} example;

static void vadd_fill(t_run *r) {
  float *a = t_tensor(r, "a"), *b = t_tensor(r, "b");
  for (int i = 0; i < 64; i++) a[i] = (float)i, b[i] = 100.0f - 2.0f * (float)i;
}
static void vadd_expect(t_run *r) {
  const float *y = t_tensor(r, "y");
  for (int i = 0; i < 64; i++) cr_assert_eq(y[i], 100.0f - (float)i, "y[%d] = %g", i, (double)y[i]);
}

static void fma_fill(t_run *r) {
  float *x = t_tensor(r, "x");
  for (int i = 0; i < 64; i++) x[i] = (float)i * 0.5f - 8.0f;
}
static void fma_expect(t_run *r) {
  const float *x = t_tensor(r, "x"), *y = t_tensor(r, "y");
  for (int i = 0; i < 64; i++) {
    int l = i % 16;
    double w1 = l + 1, b1 = 0.5, w2 = l < 8 ? -1 : 2, b2 = l % 2, w3 = 0.25, b3 = -3;
    double want = ((x[i] * w1 + b1) * w2 + b2) * w3 + b3;
    cr_assert_eq(y[i], (float)want, "y[%d] = %g, want %g", i, (double)y[i], want);
  }
}

static void mm_fill(t_run *r) {
  float *X = t_tensor(r, "X"), *W = t_tensor(r, "W"), *b = t_tensor(r, "b");
  for (int i = 0; i < 8 * 16; i++) X[i] = (float)((i * 7) % 11) - 5.0f;
  for (int i = 0; i < 16 * 16; i++) W[i] = (float)((i * 5) % 9) - 4.0f;
  for (int j = 0; j < 16; j++) b[j] = (float)j - 8.0f;
}
static void mm_expect(t_run *r) {
  const float *X = t_tensor(r, "X"), *W = t_tensor(r, "W"), *b = t_tensor(r, "b"), *Y = t_tensor(r, "Y");
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 16; j++) {
      double s = b[j];
      for (int k = 0; k < 16; k++) s += (double)X[i * 16 + k] * W[k * 16 + j];
      double want = s < 0 ? 0 : s;
      cr_assert_eq(Y[i * 16 + j], (float)want, "Y[%d][%d] = %g, want %g", i, j, (double)Y[i * 16 + j], want);
    }
}

static void tr_fill(t_run *r) {
  float *M = t_tensor(r, "M");
  for (int i = 0; i < 256; i++) M[i] = (float)i;
}
static void tr_expect(t_run *r) {
  const float *T = t_tensor(r, "T");
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) cr_assert_eq(T[i * 16 + j], (float)(j * 16 + i), "T[%d][%d]", i, j);
}

static const example examples[] = {
    {"examples/vadd.lsa", 11, vadd_fill, vadd_expect},
    {"examples/fma_chain.lsa", 15, fma_fill, fma_expect},
    {"examples/matmul_bias_relu.lsa", 39, mm_fill, mm_expect},
    {"examples/transpose.lsa", 39, tr_fill, tr_expect},
};

static ls_program *load_example(const example *ex) {
  char *src = t_read_file(ex->file);
  ls_program *p;
  ls_error e;
  ls_status st = t_load(src, &p, &e);
  free(src);
  cr_assert_eq(st, LS_OK, "%s: %s", ex->file, e.msg);
  return p;
}

Test(examples, outputs_and_cycles_in_both_modes) {
  for (size_t k = 0; k < sizeof examples / sizeof *examples; k++) {
    const example *ex = &examples[k];
    for (int mode = 0; mode < 2; mode++) {
      t_run r = t_open(load_example(ex));
      ex->fill(&r);
      ls_run_info info;
      cr_assert_eq(t_exec(&r, mode ? LS_MODE_CHECKED : LS_MODE_FAST, 1, &info), LS_OK);
      cr_assert_eq(info.cycles, ex->cycles, "%s mode %d: %llu cycles", ex->file, mode, (unsigned long long)info.cycles);
      cr_assert_eq(ls_cycles(r.p), ex->cycles);
      /* the assembler's statement of the program's length is the same number */
      ls_prog_stats s;
      ls_prog_stats_compute(ls_program_image(r.p), &s);
      cr_assert_eq(s.cycles, ex->cycles);
      ex->expect(&r);
      t_close(&r);
    }
  }
}

/* Output bytes of one run of example k, in a mode, with a thread count. */
static void run_bytes(size_t k, ls_mode mode, int threads, uint8_t *out, size_t cap, size_t *len) {
  const example *ex = &examples[k];
  t_run r = t_open(load_example(ex));
  ex->fill(&r);
  ls_run_info info;
  cr_assert_eq(t_exec(&r, mode, threads, &info), LS_OK);
  cr_assert_eq(info.cycles, ex->cycles);
  *len = 0;
  for (int i = 0; i < ls_tensor_count(r.p); i++) {
    const ls_io *io = ls_tensor(r.p, i);
    if (!io->is_output) continue;
    size_t b = ls_io_bytes(io);
    cr_assert(*len + b <= cap);
    memcpy(out + *len, ls_tensor_data(r.p, r.arena, i), b);
    *len += b;
  }
  t_close(&r);
}

Test(determinism, hundred_runs_threads_and_modes_give_identical_bytes) {
  static uint8_t ref[1 << 16], got[1 << 16];
  for (size_t k = 0; k < sizeof examples / sizeof *examples; k++) {
    size_t rl, gl;
    run_bytes(k, LS_MODE_CHECKED, 1, ref, sizeof ref, &rl);
    for (int i = 0; i < 100; i++) {
      ls_mode mode = i % 2 ? LS_MODE_CHECKED : LS_MODE_FAST;
      int threads = 1 + i % 3 / 2 + (i % 4 == 3);
      run_bytes(k, mode, threads, got, sizeof got, &gl);
      cr_assert_eq(gl, rl);
      cr_assert_eq(memcmp(ref, got, rl), 0, "%s: run %d (mode %d, %d threads) differs", examples[k].file, i, mode,
                   threads);
    }
  }
}

/* A big GEMM, split across threads in fast mode, matches the single-threaded checked run. */
Test(determinism, split_matmul_matches_across_threads) {
  const char *src = t_big_matmul;
  uint8_t *ref = NULL;
  for (int trial = 0; trial < 4; trial++) {
    ls_program *p;
    ls_error e;
    cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
    t_run r = t_open(p);
    float *X = t_tensor(&r, "X"), *W = t_tensor(&r, "W");
    uint32_t s = 12345;
    for (int i = 0; i < 512 * 256; i++) s = s * 1103515245u + 12345u, X[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    for (int i = 0; i < 256 * 256; i++) s = s * 1103515245u + 12345u, W[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    ls_run_info info;
    ls_mode mode = trial == 0 ? LS_MODE_CHECKED : LS_MODE_FAST;
    cr_assert_eq(t_exec(&r, mode, trial == 0 ? 1 : trial, &info), LS_OK);
    const float *Y = t_tensor(&r, "Y");
    if (!ref) {
      ref = malloc(512 * 256 * 4);
      memcpy(ref, Y, 512 * 256 * 4);
      /* and it is a matrix product: spot-check against a double-precision reference */
      for (int i = 0; i < 512; i += 37)
        for (int j = 0; j < 256; j += 29) {
          double want = 0;
          for (int k = 0; k < 256; k++) want += (double)X[i * 256 + k] * W[k * 256 + j];
          cr_assert(fabs(Y[i * 256 + j] - want) < 1e-4, "Y[%d][%d] = %g, want %g", i, j, (double)Y[i * 256 + j], want);
        }
    } else {
      cr_assert_eq(memcmp(ref, Y, 512 * 256 * 4), 0, "fast mode with %d threads differs from checked", trial);
    }
    t_close(&r);
  }
  free(ref);
}

/* ---- the floating-point environment -------------------------------------------------------- */

Test(fpenv, subnormals_flush_to_zero_and_the_caller_mode_is_restored) {
  const char *src = ".target host\n.set lanes 16\n"
                    ".input x f32 [16] @0\n.output y f32 [16] @64\n.output z f32 [16] @128\n"
                    "mem0:\n @0 read.f32 e0, [x], n=1\n"
                    "vxm0:\n @3 muls.f32 e1, e0, 1e-20\n"
                    "vxm1:\n @3 muls.f32 e2, e0, 1.0\n"
                    "mem1:\n @5 write.f32 [y], e1\n"
                    "mem2:\n @5 write.f32 [z], e2\n";
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  t_run r = t_open(p);
  float *x = t_tensor(&r, "x");
  for (int i = 0; i < 16; i++) x[i] = i < 8 ? 1e-20f : 1e-40f; /* 1e-40 is subnormal */
#if defined(__SSE2__)
  const unsigned before = _mm_getcsr();
#endif
  for (int mode = 0; mode < 2; mode++) {
    cr_assert_eq(t_exec(&r, mode ? LS_MODE_CHECKED : LS_MODE_FAST, 1, NULL), LS_OK);
#if defined(__SSE2__)
    cr_assert_eq(_mm_getcsr(), before, "the caller's MXCSR must be restored");
#endif
    const float *y = t_tensor(&r, "y"), *z = t_tensor(&r, "z");
    for (int i = 0; i < 16; i++) {
      cr_assert_eq(y[i], 0.0f, "1e-20 * 1e-20 flushes to zero, got %g", (double)y[i]); /* FTZ */
      cr_assert_eq(z[i], i < 8 ? 1e-20f : 0.0f, "z[%d] = %g", i, (double)z[i]);    /* DAZ */
    }
  }
  t_close(&r);
}

/* ---- arguments ------------------------------------------------------------------------------ */

Test(api, arena_must_be_big_enough_and_aligned) {
  char *src = t_read_file("examples/vadd.lsa");
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK);
  free(src);
  size_t n = ls_arena_bytes(p);
  uint8_t *arena = aligned_alloc(64, n + 64);
  cr_assert_eq(ls_arena_init(p, arena, n, &e), LS_OK);
  cr_assert_eq(ls_run(p, arena, n - 1, NULL, NULL, &e), LS_ERR_ARG);
  cr_assert(strstr(e.msg, "at least"), "%s", e.msg);
  cr_assert_eq(ls_run(p, arena + 1, n, NULL, NULL, &e), LS_ERR_ARG);
  cr_assert_eq(ls_tensor_find(p, "nope"), -1);
  cr_assert_null(ls_tensor(p, 99));
  free(arena);
  ls_free(p);
}

Test(api, load_file_errors_name_the_file) {
  ls_program *p;
  ls_error e;
  cr_assert_eq(ls_load_file("/nonexistent/x.lsp", &p, &e), LS_ERR_IO);
  cr_assert(strstr(e.msg, "/nonexistent/x.lsp"), "%s", e.msg);
  cr_assert_null(p);
  uint8_t junk[64] = "not a program at all";
  cr_assert_eq(ls_load(junk, sizeof junk, &p, &e), LS_ERR_FORMAT);
  cr_assert(strstr(e.msg, "magic"), "%s", e.msg);
}

/* lanes= and fill= on read, lanes= on write: only the first k elements touch memory. */
Test(memory, masked_read_and_write) {
  const char *src = ".target host\n.set lanes 4\n"
                    ".input x f32 [6] @0\n.output y f32 [8] @64\n.output z f32 [4] @128\n"
                    "mem0:\n @0 read.f32 e0, [x], n=2, stride=12, lanes=3, fill=-7\n"
                    "mem1:\n @3 write.f32 [y], e0, n=2\n"
                    "mem2:\n @0 read.f32 e1, [x], n=1\n"
                    "mem3:\n @3 write.f32 [z], e1, n=1, lanes=2\n";
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  t_run r = t_open(p);
  float *x = t_tensor(&r, "x"), *z = t_tensor(&r, "z");
  for (int i = 0; i < 6; i++) x[i] = (float)(i + 1);
  for (int i = 0; i < 4; i++) z[i] = 100.0f;
  for (int mode = 0; mode < 2; mode++) {
    cr_assert_eq(t_exec(&r, mode ? LS_MODE_CHECKED : LS_MODE_FAST, 1, NULL), LS_OK);
    const float *y = t_tensor(&r, "y");
    const float want_y[8] = {1, 2, 3, -7, 4, 5, 6, -7};
    for (int i = 0; i < 8; i++) cr_assert_eq(y[i], want_y[i], "y[%d] = %g", i, (double)y[i]);
    const float want_z[4] = {1, 2, 100, 100};
    for (int i = 0; i < 4; i++) cr_assert_eq(z[i], want_z[i], "z[%d] = %g", i, (double)z[i]);
  }
  t_close(&r);
  /* the bounds check uses the masked width: 3 lanes at byte 12 end exactly at 24 */
  const char *edge = ".target host\n.set lanes 4\n.memory 24\n.input x f32 [6] @0\n.output y f32 [3] @0\n"
                     "mem0:\n @0 read.f32 e0, [12], n=1, lanes=3\nmem1:\n @3 write.f32 [0], e0, n=1, lanes=3\n";
  cr_assert_eq(t_load(edge, &p, &e), LS_OK, "%s", e.msg);
  ls_free(p);
}

/* ---- which instructions fast mode splits across threads ------------------------------------ */

/* An MM of rows x k x 256 (X's first k lanes times W[k][256]) */
static ls_program *mm_program(uint32_t rows, uint32_t k) {
  char src[1024];
  const uint32_t wo = rows * 256 * 4, yo = wo + k * 256 * 4;
  snprintf(src, sizeof src,
           ".target host\n.input X f32 [%u,256] @0\n.input W f32 [%u,256] @%u\n.output Y f32 [%u,256] @%u\n"
           "mem0:\n @0 read.f32 e0, [W], n=%u\nmxm0:\n @3 lw.f32 p0, e0, n=%u\n"
           "mem1:\n @%u read.f32 e1, [X], n=%u, lanes=%u\nmxm0:\n @%u mm.f32 e2, p0, e1, n=%u\n"
           "mem2:\n @%u write.f32 [Y], e2, n=%u\n",
           rows, k, wo, rows, yo, k, k, k + 3, rows, k, k + 6, rows, k + 11, rows);
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s\n%s", e.msg, src);
  return p;
}

/* the split of the first instance of fast mode's list that does op */
static int split_of(const ls_program *p, ls_op op, int threads, uint64_t split_min) {
  for (uint32_t i = 0; i < p->n_fast; i++)
    if (p->inst[p->fast_list[i]].in.op == op) return rt_split_threads(p, &p->inst[p->fast_list[i]], threads, split_min);
  cr_assert_fail("no instruction with op %d in the fast list", (int)op);
  return 0;
}

/* MMs split from LS_SPLIT_MIN_MACS multiply-adds, other instructions from LS_SPLIT_MIN_ELEMS
 * elements, in whole row blocks (an MM of one block runs whole); split_min moves the line;
 * and the prediction for 2 threads uses the 2-thread costs only for what is split. */
Test(threads, what_fast_mode_splits) {
  ls_program *big = mm_program(512, 256), *thin = mm_program(264, 8), *one = mm_program(200, 256);
  /* 512 x 256 x 256 = 2^25 multiply-adds in two blocks of 256 rows */
  cr_assert_eq(split_of(big, LS_OP_MM, 2, 0), 2);
  cr_assert_eq(split_of(big, LS_OP_MM, 1, 0), 1, "one thread: no split");
  cr_assert_eq(split_of(big, LS_OP_MM, 2, 512u * 256 * 256), 2, "split_min: from that many");
  cr_assert_eq(split_of(big, LS_OP_MM, 2, 512u * 256 * 256 + 1), 1, "split_min: not below");
  /* 264 x 8 x 256 = 540672 < 2^21 multiply-adds, two blocks */
  cr_assert_eq(split_of(thin, LS_OP_MM, 2, 0), 1);
  cr_assert_eq(split_of(thin, LS_OP_MM, 2, 1), 2);
  /* 200 x 256 x 256 > 2^21, but one block of rows: split on an AVX-512 build (whose GEMM's
   * bits do not depend on the blocks), else not */
  uint32_t g = 0;
  for (uint32_t i = 0; i < one->n_fast; i++)
    if (one->inst[one->fast_list[i]].in.op == LS_OP_MM) g = k_grain(&one->prog.target, &one->inst[one->fast_list[i]].in);
  cr_assert(g > 0);
  cr_assert_eq(split_of(one, LS_OP_MM, 2, 1), g < 200 ? 2 : 1);
  /* a NEG of 4096 vectors of 256 lanes is 2^20 elements, of 4095 below */
  for (uint32_t n = 4095; n <= 4096; n++) {
    char src[512];
    snprintf(src, sizeof src,
             ".target host\n.input x f32 [%u,256] @0\n.output y f32 [%u,256] @%u\n"
             "mem0:\n @0 read.f32 e0, [x], n=%u\nvxm0:\n @3 neg.f32 e1, e0, n=%u\nmem1:\n @5 write.f32 [y], e1, n=%u\n",
             n, n, n * 1024, n, n, n);
    ls_program *p;
    ls_error e;
    cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s\n%s", e.msg, src);
    cr_assert_eq(split_of(p, LS_OP_NEG, 2, 0), n == 4096 ? 2 : 1, "%u vectors", n);
    cr_assert_eq(split_of(p, LS_OP_NEG, 2, (uint64_t)n * 256), 2);
    cr_assert_eq(split_of(p, LS_OP_NEG, 2, (uint64_t)n * 256 + 1), 1);
    ls_free(p);
  }

  /* costs: 1 ns per flop at 1 thread, 0.25 at 2: the thin MM's prediction is the same at 1
   * and 2 threads, the big one's a quarter */
  ls_calibration cal;
  memset(&cal, 0, sizeof cal);
  cal.model[0].mm[1] = 1, cal.model[1].mm[1] = 0.25;
  const double t1 = ls_predict_us(thin, &cal, 1), t2 = ls_predict_us(thin, &cal, 2);
  cr_assert(t1 > 0 && t1 == t2, "thin MM: %g us at 1 thread, %g at 2", t1, t2);
  const double b1 = ls_predict_us(big, &cal, 1), b2 = ls_predict_us(big, &cal, 2);
  cr_assert(fabs(b1 - 2.0 * 512 * 256 * 256 / 1e3) < 1e-6 && fabs(b2 - b1 / 4) < 1e-6, "big MM: %g us at 1 thread, %g at 2",
            b1, b2);
  ls_free(big), ls_free(thin), ls_free(one);
}

/* A negation of x's 4096 vectors into y that fast mode splits at 2 threads, then 64 whole
 * negations, each of 64 vectors from rd into wr (`extra`: more declarations) */
static ls_program *split_then_whole(const char *extra, const char *rd, const char *wr) {
  static char src[16384];
  int at = snprintf(src, sizeof src,
                    ".target host\n.input x f32 [4096,256] @0\n.output y f32 [4096,256] @4194304\n%s"
                    "mem0:\n @0 read.f32 e0, [x], n=4096\nvxm0:\n @3 neg.f32 e1, e0, n=4096\n"
                    "mem1:\n @5 write.f32 [y], e1, n=4096\n",
                    extra);
  for (int j = 0; j < 64; j++) {
    const int b = 4200 + 128 * j;
    at += snprintf(src + at, sizeof src - (size_t)at,
                   "mem0:\n @%d read.f32 e0, [%s+%d], n=64\nvxm0:\n @%d neg.f32 e1, e0, n=64\nmem1:\n @%d write.f32 [%s+%d], e1, n=64\n",
                   b, rd, 65536 * j, b + 3, b + 5, wr, 65536 * j);
  }
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  cr_assert_eq(p->n_fast, 65, "a negation and its write run as one: %u", p->n_fast);
  cr_assert_eq(rt_split_threads(p, &p->inst[p->fast_list[0]], 2, 0), 2, "the first is split");
  for (int j = 0; j < 64; j++) cr_assert_eq(rt_split_threads(p, &p->inst[p->fast_list[1 + j]], 2, 0), 1, "%d runs whole", j);
  return p;
}

/* At 2 threads the second half of a split instance's output is written by the other thread:
 * of 64 whole negations that each read 64 of its 4096 vectors, the last 32 read 65536 bytes
 * each from the other core (plan_cross), none the first 32; the prediction for 2 threads
 * charges each such byte the calibration's `cross`, the one for 1 thread nothing. */
Test(threads, bytes_read_from_the_other_thread) {
  ls_program *p = split_then_whole(".output z f32 [4096,256] @8388608\n", "y", "z");
  cr_assert_eq(p->inst[p->fast_list[0]].xbytes, 0.0f);
  for (int j = 0; j < 64; j++) {
    const rt_inst *x = &p->inst[p->fast_list[1 + j]];
    cr_assert_eq(x->xbytes, j < 32 ? 0.0f : 65536.0f, "negation %d: %g bytes from the other thread", j, (double)x->xbytes);
  }
  ls_calibration cal;
  memset(&cal, 0, sizeof cal);
  cal.model[1].cross = 1; /* ns per byte */
  cr_assert_eq(ls_predict_us(p, &cal, 1), 0.0);
  cr_assert(fabs(ls_predict_us(p, &cal, 2) - 32 * 65536 / 1e3) < 1e-9, "%g us", ls_predict_us(p, &cal, 2));
  ls_free(p);
}

/* A line only the other core holds comes over before it is written, and the count is of a
 * run that follows another: a split negation writes y, then 64 whole negations (thread 0)
 * each write 64 of its vectors again (reading x): the last 32 overwrite lines thread 1
 * wrote, 65536 bytes each, the first 32 none; and the split negation, in the next run,
 * overwrites in its second half the 2 MiB the whole ones wrote last. */
Test(threads, bytes_written_over_the_other_threads) {
  ls_program *p = split_then_whole("", "x", "y");
  cr_assert_eq(p->inst[p->fast_list[0]].xbytes, 2097152.0f, "%g", (double)p->inst[p->fast_list[0]].xbytes);
  for (int j = 0; j < 64; j++) {
    const rt_inst *x = &p->inst[p->fast_list[1 + j]];
    cr_assert_eq(x->xbytes, j < 32 ? 0.0f : 65536.0f, "negation %d: %g bytes over the other thread's", j, (double)x->xbytes);
  }
  ls_free(p);
}

/* On an AVX-512 build an MM splits into shares of any rows (a thread's share, or its last
 * block, may have fewer than 5): the same bits as one thread and as checked mode, for 13
 * rows at 1 to 7 threads and 100 rows at 2 to 7. */
Test(threads, mm_shares_of_any_rows_give_the_same_bits) {
  for (uint32_t rows = 13; rows <= 100; rows += 87) {
    uint8_t *ref = NULL;
    for (int trial = 0; trial <= 7; trial++) {
      if (rows == 100 && trial == 1) continue;
      ls_program *p = mm_program(rows, 256);
      t_run r = t_open(p);
      float *X = t_tensor(&r, "X"), *W = t_tensor(&r, "W");
      uint32_t s = 777;
      for (uint32_t i = 0; i < rows * 256; i++) s = s * 1103515245u + 12345u, X[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
      for (int i = 0; i < 256 * 256; i++) s = s * 1103515245u + 12345u, W[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
      cr_assert_eq(t_exec(&r, trial ? LS_MODE_FAST : LS_MODE_CHECKED, trial ? trial : 1, NULL), LS_OK);
      const float *Y = t_tensor(&r, "Y");
      if (!ref) {
        ref = malloc((size_t)rows * 1024);
        memcpy(ref, Y, (size_t)rows * 1024);
      } else {
        for (uint32_t i = 0; i < rows * 256; i++)
          cr_assert(memcmp(ref + 4 * i, Y + i, 4) == 0, "%u rows, %d threads: Y[%u][%u] = %a, checked mode's %a", rows, trial,
                    i / 256, i % 256, (double)Y[i], (double)((const float *)ref)[i]);
      }
      t_close(&r);
    }
    free(ref);
  }
}

/* ---- gathers run by the MM they feed ----------------------------------------------------- */

/* A convolution as a compiler lowers it: two gathers (im2col, 8 and 4 vectors) write the
 * rows of A (64 rows of 48: row r is x[16r .. 16r + 48)), an MM reads them in place and
 * multiplies by W. Fast mode runs both gathers inside the MM, each thread the bytes its
 * rows read (at 3 threads a share ends inside a vector); with `between`, a READ and WRITE
 * copy A's first vector to Z after the gathers and before the MM, so the gathers must run
 * in their own turn. The reference is computed here; every value is a small integer, exact. */
static void im2col_case(int between) {
  enum { M = 64, K = 48, C = 16, NX = (M + 2) * C };
  const uint32_t xo = 0, io = NX * 4, wo = io + M * K * 4, ao = wo + K * 1024, zo = ao + 13312, yo = zo + 1024;
  char *src = malloc(1 << 16);
  cr_assert(src);
  int off = snprintf(src, 1 << 16,
                     ".target host\n.input x f32 [%u] @%u\n.input W f32 [%u,256] @%u\n.output Y f32 [%u,256] @%u\n"
                     ".output Z f32 [256] @%u\n.const @%u i32",
                     NX, xo, K, wo, M, yo, zo, io);
  for (int r = 0; r < M; r++)
    for (int k = 0; k < K; k++) off += snprintf(src + off, (1 << 16) - (size_t)off, " %d", r * C + k);
  off += snprintf(src + off, (1 << 16) - (size_t)off,
                  "\nmem0:\n @0 read.i32 e0, [%u], n=8\nmem1:\n @3 gather.f32 e1, [x], e0, n=8, size=%u\n"
                  "mem2:\n @8 write.f32 [%u], e1, n=8\n"
                  "mem3:\n @0 read.i32 e2, [%u], n=4\nmem4:\n @3 gather.f32 e3, [x], e2, n=4, size=%u\n"
                  "mem5:\n @8 write.f32 [%u], e3, n=4\n"
                  "mem6:\n @0 read.f32 e4, [W], n=%u\nmxm0:\n @3 lw.f32 p0, e4, n=%u\n"
                  "mem7:\n @60 read.f32 e5, [%u], n=%u, stride=%u, lanes=%u\nmxm0:\n @63 mm.f32 e6, p0, e5, n=%u\n"
                  "mem8:\n @68 write.f32 [Y], e6, n=%u\n",
                  io, NX, ao, io + 8 * 1024, NX, ao + 8 * 1024, K, K, ao, M, K * 4, K, M, M);
  if (between)
    snprintf(src + off, (1 << 16) - (size_t)off, "mem9:\n @20 read.f32 e7, [%u], n=1\nmem10:\n @23 write.f32 [Z], e7, n=1\n",
             ao);
  static float Yref[M * 256];
  float x[NX], W[K * 256];
  for (int i = 0; i < NX; i++) x[i] = (float)(i % 7) - 3.0f;
  for (int i = 0; i < K * 256; i++) W[i] = (float)(i % 5) - 2.0f;
  for (int r = 0; r < M; r++)
    for (int j = 0; j < 256; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)x[r * C + k] * W[k * 256 + j];
      Yref[r * 256 + j] = (float)s;
    }
  for (int trial = 0; trial <= 4; trial++) { /* 0: checked mode; then fast at 1 to 4 threads */
    ls_program *p;
    ls_error e;
    cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
    if (trial == 0) {
      uint32_t fed = 0, gathers_listed = 0;
      for (uint32_t i = 0; i < p->n_fast; i++) {
        const rt_inst *y = &p->inst[p->fast_list[i]];
        if (y->in.op == LS_OP_MM) fed = y->n_feed;
        gathers_listed += y->in.op == LS_OP_GATHER;
      }
      cr_assert_eq(fed, between ? 0u : 2u, "the MM runs %u gathers itself", fed);
      cr_assert_eq(gathers_listed, between ? 2u : 0u);
    }
    t_run r = t_open(p);
    memcpy(t_tensor(&r, "x"), x, sizeof x);
    memcpy(t_tensor(&r, "W"), W, sizeof W);
    cr_assert_eq(t_exec(&r, trial ? LS_MODE_FAST : LS_MODE_CHECKED, trial ? trial : 1, NULL), LS_OK);
    const float *Y = t_tensor(&r, "Y"), *Z = t_tensor(&r, "Z");
    for (int i = 0; i < M * 256; i++)
      cr_assert_eq(Y[i], Yref[i], "%s, trial %d: Y[%d][%d] = %g, want %g", between ? "a reader between" : "fed", trial, i / 256,
                   i % 256, (double)Y[i], (double)Yref[i]);
    for (int l = 0; between && l < 256; l++) /* A's first vector: rows 0 to 4 and a third of row 5 */
      cr_assert_eq(Z[l], x[(l / K) * C + l % K], "trial %d: Z[%d]", trial, l);
    t_close(&r);
  }
  free(src);
}

Test(feeds, an_mm_runs_the_gathers_of_its_rows) { im2col_case(0); }
Test(feeds, not_when_another_instruction_reads_their_bytes_first) { im2col_case(1); }
