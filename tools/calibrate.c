/* calibrate.c - `lockstep calibrate`: measure what each kind of work costs on this CPU.
 *
 * For each cost class (see runtime/lockstep.h) it times small synthetic programs, written
 * here as assembly text for the host target, at two sizes, and fits a line: the slope is the
 * cost per element (per byte for copies), the intercept the cost per instance. Gathers with
 * constant indices (copied by runs in fast mode) get a cost per run and per byte. For MM it
 * times a grid of shapes and fits a + b*flops + c*K*N + d*M*N by least squares on relative
 * error. Everything is measured for 1 and for 2 threads, with the data in cache and with it
 * spread over COLD_BYTES (streamed from memory), and saved where ls_predict_us finds it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__unix__)
#include <unistd.h>
#endif

#include "asm.h"
#include "lockstep.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* median wall time of one run of the program, in ns; < 0 on error */
static double time_program_min(const char *src, int threads, int reps, uint64_t split_min) {
  ls_prog g;
  char err[512];
  if (ls_assemble(src, strlen(src), "calibrate", &g, err, sizeof err)) {
    fprintf(stderr, "lockstep calibrate: internal error: %s\n", err);
    return -1;
  }
  uint8_t *img;
  size_t len;
  ls_program *p = NULL;
  ls_error e;
  int bad = ls_prog_encode(&g, &img, &len) || ls_load(img, len, &p, &e) != LS_OK;
  ls_prog_free(&g);
  if (bad) {
    fprintf(stderr, "lockstep calibrate: internal error: %s\n", p ? "" : e.msg);
    return -1;
  }
  free(img);
  size_t bytes = ls_arena_bytes(p);
  void *arena = aligned_alloc(LS_ARENA_ALIGN, (bytes + 63) / 64 * 64);
  if (!arena || ls_arena_init(p, arena, bytes, &e) != LS_OK) {
    free(arena), ls_free(p);
    return -1;
  }
  ls_run_opts o = {LS_MODE_FAST, threads, NULL, NULL, NULL, NULL, split_min};
  double t[64];
  if (reps > 64) reps = 64;
  for (int r = -3; r < reps; r++) {
    double t0 = now_ns();
    ls_run(p, arena, bytes, &o, NULL, &e);
    if (r >= 0) t[r] = now_ns() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_d);
  free(arena);
  ls_free(p);
  return t[reps / 2];
}

/* 2 threads: every instance split (the costs of the instances fast mode splits; those it
 * runs whole cost what 1 thread's do) */
static double time_program(const char *src, int threads, int reps) {
  return time_program_min(src, threads, reps, threads > 1 ? 1 : 0);
}

static size_t add(char *buf, size_t cap, size_t k, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
#include <stdarg.h>
static size_t add(char *buf, size_t cap, size_t k, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + k, k < cap ? cap - k : 0, fmt, ap);
  va_end(ap);
  return k + (n > 0 ? (size_t)n : 0);
}

static ls_target host(void) {
  ls_target t;
  ls_target_preset("host", &t);
  return t;
}

static uint64_t out_delay(ls_op op, uint32_t n) {
  ls_target t = host();
  ls_insn in = {0};
  in.op = (uint16_t)op;
  in.n = n;
  return ls_insn_out_delay(&t, &in);
}

/* Programs bigger than the caches find their data in memory: the cold measurements spread
 * their groups over cold_span bytes (COLD_BYTES; --quick, for tests, a sixth of it: past
 * twice the L2 cache, not past the L3), each group reading and writing its own bytes, so
 * that a run does not find them in the caches the previous run warmed. */
#define COLD_BYTES (48u << 20)
static uint64_t cold_span = COLD_BYTES;

/* R groups: read x (n vectors), one instruction of the class, write y; only the instruction
 * itself runs in fast mode (the read is in place, the write absorbed), except for copy,
 * whose masked read and write both copy. */
static double time_class(ls_cost_class c, uint32_t n, int R, int threads, int cold, double *amount) {
  const ls_target t = host();
  const uint32_t L = t.lanes;
  const uint64_t vb = (uint64_t)L * 4, span = (uint64_t)n * vb;
  /* cold: every group reads and writes its own 3*span bytes, cold_span in all */
  if (cold) {
    R = (int)(cold_span / (3 * span)) + 1;
    if (R < 8) R = 8;
    if (R > 1024) R = 1024;
  }
  const uint64_t gstride = cold ? 3 * span + vb : 0;
  size_t cap = 1 << 16, k = 0;
  char *s = malloc(cap);
  if (!s) return -1;
  k = add(s, cap, k, ".target host\n.memory %llu\n", (unsigned long long)(3 * span + vb + gstride * (uint64_t)R));
  k = add(s, cap, k, ".input x f32 [%llu] @0\n.output y f32 [%llu] @%llu\n", (unsigned long long)(n * L),
          (unsigned long long)(n * L), (unsigned long long)span);
  /* a gather table of L*n elements at 2*span, indices into it at 0 (as i32 read from x) */
  uint64_t T = n + 64, base = 0;
  const char *op = "add.f32 e1, e0, e0";
  ls_op code = LS_OP_ADD;
  switch (c) {
  case LS_COST_TRANS: op = "sigmoid.f32 e1, e0", code = LS_OP_SIGMOID; break; /* libm speed, whatever the input */
  case LS_COST_EXP: op = "exp.f32 e1, e0", code = LS_OP_EXP; break;
  case LS_COST_RED: op = "lsum.f32 e1, e0", code = LS_OP_LSUM; break;
  case LS_COST_SXM: op = "rotate.f32 e1, e0, 3", code = LS_OP_ROTATE; break;
  default: break;
  }
  for (int g = 0; g < R; g++, base += T) {
    const unsigned long long go = (unsigned long long)(gstride * (uint64_t)g); /* this group's memory */
    if (c == LS_COST_COPY) {
      k = add(s, cap, k, "mem0:\n @%llu read.f32 e0, [%llu], n=%u, lanes=%u\n", (unsigned long long)base, go, n, L - 1);
      k = add(s, cap, k, "mem1:\n @%llu write.f32 [%llu], e0, n=%u, lanes=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n)), (unsigned long long)span + go, n, L - 1);
    } else if (c == LS_COST_GATHER) {
      k = add(s, cap, k, "mem0:\n @%llu read.i32 e0, [%llu], n=%u\n", (unsigned long long)base, go, n);
      k = add(s, cap, k, "mem2:\n @%llu gather.f32 e1, [%llu], e0, n=%u, size=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n)), (unsigned long long)(2 * span) + go, n, n * L);
      k = add(s, cap, k, "mem1:\n @%llu write.f32 [%llu], e1, n=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n) + out_delay(LS_OP_GATHER, n)),
              (unsigned long long)span + go, n);
    } else {
      k = add(s, cap, k, "mem0:\n @%llu read.f32 e0, [%llu], n=%u\n", (unsigned long long)base, go, n);
      k = add(s, cap, k, "vxm0:\n @%llu %s, n=%u\n", (unsigned long long)(base + out_delay(LS_OP_READ, n)), op, n);
      if (c == LS_COST_SXM) s[k - 1] = '\n'; /* rotate is on sxm: relabel below */
      k = add(s, cap, k, "mem1:\n @%llu write.f32 [%llu], e1, n=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n) + out_delay(code, n)), (unsigned long long)span + go, n);
    }
    if (k + 512 > cap) {
      cap *= 2;
      char *ns = realloc(s, cap);
      if (!ns) return free(s), -1;
      s = ns;
    }
  }
  if (c == LS_COST_SXM)
    for (char *q = s; (q = strstr(q, "vxm0:")); q++) memcpy(q, "sxm0:", 5);
  double ns = time_program(s, threads, 25);
  free(s);
  *amount = (double)n * L * (c == LS_COST_COPY ? 2.0 * 4 * (L - 1) / L : 1.0);
  return ns / R;
}


/* cold: every group multiplies with its own plane rows (each MM of a real program has its
 * own weights, streamed from memory once per run), all of them the same x rows (a real MM's
 * activations were written just before: in cache) */
static double time_mm(uint32_t M, uint32_t K, uint32_t N, int threads, int cold) {
  const ls_target t = host();
  const uint32_t L = t.lanes;
  const uint64_t vb = (uint64_t)L * 4, wb = (uint64_t)K * vb;
  int R = cold ? (int)(cold_span / wb) + 1 : 4;
  if (R < 4) R = 4;
  if (R > 512) R = 512;
  const uint64_t per = cold ? wb : 0; /* hot: every group uses the same rows */
  size_t cap = (size_t)R * 400 + 512, k = 0;
  char *s = malloc(cap);
  if (!s) return -1;
  const unsigned long long xo = cold ? per * (uint64_t)R : wb;
  uint64_t yo = xo + (uint64_t)M * vb, base = 0, T = K + M + 64;
  k = add(s, cap, k, ".target host\n.memory %llu\n.input w f32 [%llu] @0\n.output y f32 [%u] @%llu\n",
          (unsigned long long)(yo + (uint64_t)M * vb), (unsigned long long)(yo / 4), M * L, (unsigned long long)yo);
  char cols[32] = "", lanes[32] = "";
  if (N < L) snprintf(cols, sizeof cols, ", cols=%u", N), snprintf(lanes, sizeof lanes, ", lanes=%u", N);
  for (int g = 0; g < R; g++, base += T) {
    const unsigned long long wo = (unsigned long long)(per * (uint64_t)g);
    uint64_t lw = base + out_delay(LS_OP_READ, K), mm = lw + K;
    k = add(s, cap, k, "mem0:\n @%llu read.f32 e0, [%llu], n=%u\nmxm0:\n @%llu lw.f32 p0, e0, n=%u\n", (unsigned long long)base,
            wo, K, (unsigned long long)lw, K);
    k = add(s, cap, k, "mem1:\n @%llu read.f32 e1, [%llu], n=%u, lanes=%u\nmxm0:\n @%llu mm.f32 e2, p0, e1, n=%u%s\n",
            (unsigned long long)(mm - out_delay(LS_OP_READ, M)), xo, M, K, (unsigned long long)mm, M, cols);
    k = add(s, cap, k, "mem2:\n @%llu write.f32 [y], e2, n=%u%s\n", (unsigned long long)(mm + out_delay(LS_OP_MM, M)), M,
            lanes);
  }
  double ns = k < cap ? time_program(s, threads, 9) / R : -1;
  free(s);
  return ns;
}

/* A gather by runs (indices from a constant table), shaped as im2col's: n vectors whose
 * indices form runs of len consecutive elements, each run starting a little after the last
 * (the next image row), wrapping around a source table of 256 KiB (an activation; the cold
 * variant writes every group's output to its own memory). Returns ns per instance; *runs
 * the number of runs. */
static double time_runs(uint32_t n, uint32_t len, int threads, int cold, double *runs) {
  const ls_target t = host();
  const uint32_t L = t.lanes;
  const uint64_t E = (uint64_t)n * L, span = E * 4, tab = 256 << 10;
  int R = cold ? (int)(cold_span / (2 * span + tab)) + 1 : 4;
  if (R < 4) R = 4;
  if (R > 64) R = 64;
  const uint64_t gs = cold ? 2 * span + tab : 0; /* each group's own output and table */
  size_t cap = (size_t)E * 12 + (size_t)R * 400 + 1024, k = 0;
  char *s = malloc(cap);
  if (!s) return -1;
  const uint64_t idx_at = gs * (uint64_t)R + 2 * span + tab; /* the constant indices, after everything */
  k = add(s, cap, k, ".target host\n.memory %llu\n.const @%llu i32", (unsigned long long)(idx_at + span),
          (unsigned long long)idx_at);
  for (uint64_t e = 0, r = 0; e < E; e += len, r++) {
    const uint64_t start = r * (len + 2) % (tab / 4 - len);
    for (uint32_t j = 0; j < len && e + j < E; j++) k = add(s, cap, k, " %llu", (unsigned long long)(start + j));
  }
  uint64_t base = 0;
  for (int g = 0; g < R; g++, base += n + 64) {
    const unsigned long long go = (unsigned long long)(gs * (uint64_t)g);
    k = add(s, cap, k, "\nmem0:\n @%llu read.i32 e0, [%llu], n=%u\n", (unsigned long long)base, (unsigned long long)idx_at, n);
    k = add(s, cap, k, "mem2:\n @%llu gather.f32 e1, [%llu], e0, n=%u, size=%llu\n",
            (unsigned long long)(base + out_delay(LS_OP_READ, n)), go + 2 * span, n, (unsigned long long)(tab / 4));
    k = add(s, cap, k, "mem1:\n @%llu write.f32 [%llu], e1, n=%u",
            (unsigned long long)(base + out_delay(LS_OP_READ, n) + out_delay(LS_OP_GATHER, n)), go, n);
  }
  k = add(s, cap, k, "\n");
  double ns = k < cap ? time_program(s, threads, 9) / R : -1;
  free(s);
  *runs = (double)((E + len - 1) / len);
  return ns;
}

/* R groups: read x (n vectors), k adds of an immediate one after the other, write y: a
 * chain that fast mode runs a few vectors at a time. Returns ns per group. */
static double time_chain(uint32_t k, uint32_t n, int threads, int cold) {
  const ls_target t = host();
  const uint64_t vb = (uint64_t)t.lanes * 4, span = (uint64_t)n * vb;
  int R = cold ? (int)(cold_span / (2 * span)) + 1 : 8;
  if (R < 8) R = 8;
  if (R > 1024) R = 1024;
  const uint64_t gs = cold ? 2 * span : 0;
  size_t cap = (size_t)R * (200 + 60 * k) + 256, q = 0;
  char *s = malloc(cap);
  if (!s) return -1;
  q = add(s, cap, q, ".target host\n.memory %llu\n", (unsigned long long)(2 * span + gs * (uint64_t)R));
  uint64_t base = 0;
  for (int g = 0; g < R; g++, base += n + 64) {
    const unsigned long long go = (unsigned long long)(gs * (uint64_t)g);
    uint64_t at = base + out_delay(LS_OP_READ, n);
    q = add(s, cap, q, "mem0:\n @%llu read.f32 e0, [%llu], n=%u\n", (unsigned long long)base, go, n);
    for (uint32_t j = 0; j < k; j++, at += out_delay(LS_OP_ADDS, n))
      q = add(s, cap, q, "vxm%u:\n @%llu adds.f32 e%u, e%u, 1, n=%u\n", j, (unsigned long long)at, j + 1, j, n);
    q = add(s, cap, q, "mem1:\n @%llu write.f32 [%llu], e%u, n=%u\n", (unsigned long long)at, go + span, k, n);
  }
  double ns = q < cap ? time_program(s, threads, 9) / R : -1;
  free(s);
  return ns;
}

/* What a thread pays to read what the other wrote, per byte: a negation of 4096 vectors,
 * which fast mode splits between the threads (the default thresholds), then 64 negations of
 * 64 of those vectors each, which it runs whole on the calling thread, so that at 2 threads
 * those reading the second half read what the other thread wrote. The 64's time at 2
 * threads less theirs at 1 (each less the first negation's time alone), over the 2 MiB of
 * the second half. */
static double time_cross(void) {
  const uint32_t N = 4096, n = 64;
  const uint64_t vb = (uint64_t)host().lanes * 4, span = (uint64_t)N * vb;
  double t[2][2];
  for (int whole = 0; whole < 2; whole++) {
    size_t cap = 1 << 16, q = 0;
    char *s = malloc(cap);
    if (!s) return -1;
    q = add(s, cap, q, ".target host\n.memory %llu\n", (unsigned long long)(3 * span));
    uint64_t at = out_delay(LS_OP_READ, N);
    q = add(s, cap, q, "mem0:\n @0 read.f32 e0, [0], n=%u\nvxm0:\n @%llu neg.f32 e1, e0, n=%u\n", N, (unsigned long long)at, N);
    at += out_delay(LS_OP_NEG, N);
    q = add(s, cap, q, "mem1:\n @%llu write.f32 [%llu], e1, n=%u\n", (unsigned long long)at, (unsigned long long)span, N);
    uint64_t base = at + N + 64;
    for (uint32_t j = 0; whole && j < N / n; j++, base += n + 64) {
      const uint64_t a = base + out_delay(LS_OP_READ, n), b = a + out_delay(LS_OP_NEG, n);
      q = add(s, cap, q, "mem0:\n @%llu read.f32 e0, [%llu], n=%u\nvxm0:\n @%llu neg.f32 e1, e0, n=%u\n",
              (unsigned long long)base, (unsigned long long)(span + j * n * vb), n, (unsigned long long)a, n);
      q = add(s, cap, q, "mem1:\n @%llu write.f32 [%llu], e1, n=%u\n", (unsigned long long)b,
              (unsigned long long)(2 * span + j * n * vb), n);
    }
    for (int th = 0; th < 2; th++) t[whole][th] = q < cap ? time_program_min(s, th + 1, 25, 0) : -1;
    free(s);
  }
  if (t[0][0] < 0 || t[0][1] < 0 || t[1][0] < 0 || t[1][1] < 0) return -1;
  const double c = ((t[1][1] - t[0][1]) - (t[1][0] - t[0][0])) / (double)(span / 2);
  return c > 0 ? c : 0;
}

/* least squares for 4 unknowns: rows A (n x 4), b; weights w */
static void solve4(const double (*A)[4], const double *b, const double *w, int n, double *x) {
  double M[4][5] = {{0}};
  for (int r = 0; r < n; r++)
    for (int i = 0; i < 4; i++) {
      for (int j = 0; j < 4; j++) M[i][j] += w[r] * A[r][i] * A[r][j];
      M[i][4] += w[r] * A[r][i] * b[r];
    }
  for (int i = 0; i < 4; i++) {
    int piv = i;
    for (int r = i + 1; r < 4; r++)
      if (fabs(M[r][i]) > fabs(M[piv][i])) piv = r;
    for (int j = 0; j < 5; j++) {
      double tmp = M[i][j];
      M[i][j] = M[piv][j], M[piv][j] = tmp;
    }
    if (fabs(M[i][i]) < 1e-300) continue;
    for (int r = 0; r < 4; r++) {
      if (r == i) continue;
      double f = M[r][i] / M[i][i];
      for (int j = i; j < 5; j++) M[r][j] -= f * M[i][j];
    }
  }
  for (int i = 0; i < 4; i++) x[i] = fabs(M[i][i]) < 1e-300 ? 0 : M[i][4] / M[i][i];
}

static const char calibrate_help[] =
    "usage: lockstep calibrate [-o FILE] [--quick]\n"
    "\n"
    "Measure what each kind of work costs on this CPU (copies, arithmetic, transcendental\n"
    "functions, exp, reductions, gathers and gathers by runs, lane moves, matrix products), for\n"
    "1 and 2 threads, with the data in cache and streamed from memory, and what a thread pays\n"
    "per byte to read what the other thread wrote; and save it. 'lockstep compile', 'run' and\n"
    "'bench' then predict a program's time on this host before running it (in-cache costs for\n"
    "programs that fit twice the L2 cache, streamed ones from 48 MiB, interpolated between).\n"
    "Measures everything in rounds and keeps each cost's median, so that a busy moment of the\n"
    "machine moves none; about half a minute a round. Best run on a quiet machine.\n"
    "\n"
    "  -o FILE      where to save (default: $LOCKSTEP_CALIBRATION, else\n"
    "               $XDG_CONFIG_HOME/lockstep/calibration, else ~/.config/lockstep/calibration)\n"
    "  --rounds N   rounds of measurements, 1 to 9 (default 3; 1 with --quick)\n"
    "  --quick      fewer shapes and sizes, memory streamed from 8 MiB, one round (for tests)\n";

/* One round of measurements into cal (its costs; 0, or 1 on an internal error). */
static int measure(ls_calibration *cal_out, int quick) {
  ls_calibration cal;
  memset(&cal, 0, sizeof cal);
  const uint32_t small = 16, big = quick ? 256 : 2048;
  /* programs whose memory does not fit twice the per-core cache use the cold costs */
  long l2 = -1;
#if defined(_SC_LEVEL2_CACHE_SIZE)
  l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  cal.cache_bytes = 2.0 * (double)(l2 > 0 ? l2 : 1 << 20);
  cal.cold_bytes = (double)cold_span;
  for (int pass = 0; pass < 4; pass++) {
    const int th = pass % 2, cold = pass / 2;
    ls_cost_model *m = cold ? &cal.cold[th] : &cal.model[th];
    const int threads = th + 1;
    if (pass == 2) printf("  data streamed from memory (programs over %.0f bytes):\n", cal.cache_bytes);
    /* per instance: many tiny adds */
    double a1, a2, amt = 0;
    /* one short add, 64 times (at 2 threads two vectors, split: a parallel region's cost) */
    double tiny = time_class(LS_COST_ALU, (uint32_t)threads, 64, threads, 0, &amt);
    for (int c = LS_COST_COPY; c < LS_COST_MM; c++) {
      double ts = time_class((ls_cost_class)c, small, 8, threads, cold, &a1),
             tb = time_class((ls_cost_class)c, big, 8, threads, cold, &a2);
      if (ts < 0 || tb < 0) return 1;
      m->per_unit[c] = (tb - ts) / (a2 - a1);
      if (m->per_unit[c] < 0) m->per_unit[c] = 0;
      if (c == LS_COST_ALU) m->per_insn = tiny - m->per_unit[c] * amt;
      printf("  %d thread%s  %-7s %.4f ns per %s\n", threads, threads > 1 ? "s" : " ", ls_cost_class_name((ls_cost_class)c),
             m->per_unit[c], c == LS_COST_COPY ? "byte" : "element");
    }
    if (m->per_insn < 0) m->per_insn = 0;
    m->per_run = 0; /* entering a run is within the per-instance noise */
    /* gathers by runs: short and long runs over the same elements give the cost per run
     * and per byte */
    {
      const uint32_t rn = quick ? 64 : 512;
      double r1 = 0, r2 = 0, t1 = time_runs(rn, 4, threads, cold, &r1), t2 = time_runs(rn, 64, threads, cold, &r2);
      if (t1 < 0 || t2 < 0) return 1;
      m->run = (t1 - t2) / (r1 - r2);
      if (m->run < 0) m->run = 0;
      m->run_byte = (t2 - m->run * r2 - m->per_insn) / ((double)rn * host().lanes * 4);
      if (m->run_byte < 0) m->run_byte = 0;
      printf("  %d thread%s  runs    %.2f ns per run + %.4f ns per byte (gathers with constant indices)\n", threads,
             threads > 1 ? "s" : " ", m->run, m->run_byte);
    }
    /* chains: six adds against two over the same vectors give the cost of one more */
    {
      const uint32_t cn = quick ? 256 : 512;
      const double t2 = time_chain(2, cn, threads, cold), t6 = time_chain(6, cn, threads, cold);
      if (t2 < 0 || t6 < 0) return 1;
      m->chain = (t6 - t2) / (4.0 * cn * host().lanes);
      if (m->chain < 0) m->chain = 0;
      printf("  %d thread%s  chain   %.4f ns per element of each alu instruction in a chain\n", threads,
             threads > 1 ? "s" : " ", m->chain);
    }
    /* reading what the other thread wrote: measured once, in cache or not alike */
    if (th == 1 && !cold) {
      m->cross = time_cross();
      if (m->cross < 0) return 1;
      printf("  2 threads  cross   %.4f ns per byte read that the other thread wrote\n", m->cross);
    } else if (th == 1) {
      m->cross = cal.model[1].cross;
    }
    /* MM: a grid of shapes; BLAS's (more than 4 rows) fit a + b*flops + c*K*N + d*M*N, the
     * loop's (1 and 4 rows) a + b*M*K*N. At 2 threads only MMs that fast mode splits use
     * these costs, so only such are measured: on an AVX-512 build any of more than 4 rows,
     * else those of more than one block of rows (from 257); --quick measures none and keeps
     * 1 thread's. */
#if defined(__AVX512F__)
    const uint32_t M2[] = {64, 256, 1024};
#else
    const uint32_t M2[] = {512, 768, 1024};
#endif
    const uint32_t M1[] = {1, 4, 8, 64, 256, 1024}, Ks[] = {9, 64, 256}, Ns[] = {32, 128, 256};
    const uint32_t *Ms = th ? M2 : M1;
    const size_t nM = th ? (quick ? 0 : 3) : (quick ? 4 : 6);
    double A[54][4], b[54], w[54], fs[2][3] = {{0}};
    int n = 0;
    for (size_t i = 0; i < nM; i++)
      for (size_t j = 0; j < 3; j++)
        for (size_t l = 0; l < 3; l++) {
          /* less the LW's instance (never split: 1 thread's) and the MM's own (split at 2
           * threads: a parallel region's) */
          double ns = time_mm(Ms[i], Ks[j], Ns[l], threads, cold) - m->per_insn - (cold ? cal.cold : cal.model)[0].per_insn;
          if (ns < 0) ns = 0;
          double M_ = Ms[i], K_ = Ks[j], N_ = Ns[l];
          if (Ms[i] <= 4) { /* weighted least squares of ns = a + b*x, weight 1/ns^2 */
            const double x = M_ * K_ * N_, wt = ns > 0 ? 1.0 / (ns * ns) : 1;
            fs[0][0] += wt, fs[0][1] += wt * x, fs[0][2] += wt * ns, fs[1][1] += wt * x * x, fs[1][2] += wt * x * ns;
            continue;
          }
          A[n][0] = 1, A[n][1] = 2 * M_ * K_ * N_, A[n][2] = K_ * N_, A[n][3] = M_ * N_;
          b[n] = ns;
          w[n] = ns > 0 ? 1.0 / (ns * ns) : 1;
          n++;
        }
    {
      const double det = fs[0][0] * fs[1][1] - fs[0][1] * fs[0][1];
      m->mm_few[1] = det != 0 ? (fs[0][0] * fs[1][2] - fs[0][1] * fs[0][2]) / det : 0;
      m->mm_few[0] = det != 0 ? (fs[0][2] - m->mm_few[1] * fs[0][1]) / fs[0][0] : 0;
      if (m->mm_few[1] <= 0) m->mm_few[0] = m->mm_few[1] = 0; /* not measured: the BLAS fit serves */
      if (m->mm_few[0] < 0) m->mm_few[0] = 0;
    }
    if (n) solve4((const double(*)[4])A, b, w, n, m->mm);
    else memcpy(m->mm, (cold ? cal.cold : cal.model)[0].mm, sizeof m->mm);
    printf("  %d thread%s  mm      %.0f ns + %.4f ns/flop (%.1f GFLOP/s) + %.4f ns per K*N + %.4f ns per M*N\n", threads,
           threads > 1 ? "s" : " ", m->mm[0], m->mm[1], m->mm[1] > 0 ? 1 / m->mm[1] : 0, m->mm[2], m->mm[3]);
    printf("  %d thread%s  mm      at most 4 rows: %.0f ns + %.4f ns per multiply-add\n", threads, threads > 1 ? "s" : " ",
           m->mm_few[0], m->mm_few[1]);
    printf("  %d thread%s  per instruction %.0f ns\n", threads, threads > 1 ? "s" : " ", m->per_insn);
  }
  *cal_out = cal;
  return 0;
}

#define MAX_ROUNDS 9

int cmd_calibrate(int argc, char **argv) {
  const char *out = NULL;
  int quick = 0, rounds = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return fputs(calibrate_help, stdout), 0;
    if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      char *end;
      const long r = strtol(argv[++i], &end, 10);
      if (*end || r < 1 || r > MAX_ROUNDS) {
        fprintf(stderr, "lockstep calibrate: --rounds takes a number from 1 to %d, not '%s'\n", MAX_ROUNDS, argv[i]);
        return 2;
      }
      rounds = (int)r;
    } else {
      fprintf(stderr, "lockstep calibrate: unknown argument '%s'\nTry 'lockstep calibrate --help'.\n", argv[i]);
      return 2;
    }
  }
  if (!out) out = ls_calibration_path();
  if (!rounds) rounds = quick ? 1 : 3;
  if (quick) cold_span = COLD_BYTES / 6;
  static ls_calibration r[MAX_ROUNDS];
  for (int k = 0; k < rounds; k++) {
    if (rounds > 1) printf("round %d of %d:\n", k + 1, rounds);
    fflush(stdout);
    if (measure(&r[k], quick)) return 1;
  }
  /* each cost the median of the rounds': a round that a busy moment of the machine slowed
   * moves none of them */
  ls_calibration cal = r[0];
  snprintf(cal.host, sizeof cal.host, "%s", ls_build_info());
  enum { PER = sizeof(ls_cost_model) / sizeof(double) };
  _Static_assert(sizeof(ls_cost_model) % sizeof(double) == 0, "a cost model is doubles");
  for (int m = 0; m < 4; m++)
    for (size_t f = 0; f < PER; f++) {
      double v[MAX_ROUNDS];
      for (int k = 0; k < rounds; k++) {
        const ls_cost_model *cm = m < 2 ? &r[k].model[m] : &r[k].cold[m - 2];
        memcpy(&v[k], (const double *)(const void *)cm + f, sizeof(double));
      }
      qsort(v, (size_t)rounds, sizeof *v, cmp_d);
      ls_cost_model *dst = m < 2 ? &cal.model[m] : &cal.cold[m - 2];
      memcpy((double *)(void *)dst + f, &v[rounds / 2], sizeof(double));
    }
  if (rounds > 1) printf("each cost the median of %d rounds\n", rounds);
  ls_error e;
  if (ls_calibration_save(out, &cal, &e) != LS_OK) {
    fprintf(stderr, "lockstep calibrate: error: %s\n", e.msg);
    return 1;
  }
  printf("saved %s\n", out);
  return 0;
}
