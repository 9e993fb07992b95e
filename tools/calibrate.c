/* calibrate.c - `lockstep calibrate`: measure what each kind of work costs on this CPU.
 *
 * For each cost class (see runtime/lockstep.h) it times small synthetic programs, written
 * here as assembly text for the host target, at two sizes, and fits a line: the slope is the
 * cost per element (per byte for copies), the intercept the cost per instance. For MM it
 * times a grid of shapes and fits a + b*flops + c*K*N + d*M*N by least squares on relative
 * error. Everything is measured for 1 and for 2 threads, and saved where ls_predict_us finds
 * it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
static double time_program(const char *src, int threads, int reps) {
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
  ls_run_opts o = {LS_MODE_FAST, threads, NULL, NULL};
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

/* R groups: read x (n vectors), one instruction of the class, write y; only the instruction
 * itself runs in fast mode (the read is in place, the write absorbed), except for copy,
 * whose masked read and write both copy. */
static double time_class(ls_cost_class c, uint32_t n, int R, int threads, double *amount) {
  const ls_target t = host();
  const uint32_t L = t.lanes;
  const uint64_t vb = (uint64_t)L * 4, span = (uint64_t)n * vb;
  size_t cap = 1 << 16, k = 0;
  char *s = malloc(cap);
  if (!s) return -1;
  k = add(s, cap, k, ".target host\n.memory %llu\n", (unsigned long long)(3 * span + vb));
  k = add(s, cap, k, ".input x f32 [%llu] @0\n.output y f32 [%llu] @%llu\n", (unsigned long long)(n * L),
          (unsigned long long)(n * L), (unsigned long long)span);
  /* a gather table of L*n elements at 2*span, indices into it at 0 (as i32 read from x) */
  uint64_t T = n + 64, base = 0;
  const char *op = "add.f32 e1, e0, e0";
  ls_op code = LS_OP_ADD;
  switch (c) {
  case LS_COST_TRANS: op = "exp.f32 e1, e0", code = LS_OP_EXP; break;
  case LS_COST_RED: op = "lsum.f32 e1, e0", code = LS_OP_LSUM; break;
  case LS_COST_SXM: op = "rotate.f32 e1, e0, 3", code = LS_OP_ROTATE; break;
  default: break;
  }
  for (int g = 0; g < R; g++, base += T) {
    if (c == LS_COST_COPY) {
      k = add(s, cap, k, "mem0:\n @%llu read.f32 e0, [0], n=%u, lanes=%u\n", (unsigned long long)base, n, L - 1);
      k = add(s, cap, k, "mem1:\n @%llu write.f32 [%llu], e0, n=%u, lanes=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n)), (unsigned long long)span, n, L - 1);
    } else if (c == LS_COST_GATHER) {
      k = add(s, cap, k, "mem0:\n @%llu read.i32 e0, [0], n=%u\n", (unsigned long long)base, n);
      k = add(s, cap, k, "mem2:\n @%llu gather.f32 e1, [%llu], e0, n=%u, size=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n)), (unsigned long long)(2 * span), n, n * L);
      k = add(s, cap, k, "mem1:\n @%llu write.f32 [y], e1, n=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n) + out_delay(LS_OP_GATHER, n)), n);
    } else {
      k = add(s, cap, k, "mem0:\n @%llu read.f32 e0, [x], n=%u\n", (unsigned long long)base, n);
      k = add(s, cap, k, "vxm0:\n @%llu %s, n=%u\n", (unsigned long long)(base + out_delay(LS_OP_READ, n)), op, n);
      if (c == LS_COST_SXM) s[k - 1] = '\n'; /* rotate is on sxm: relabel below */
      k = add(s, cap, k, "mem1:\n @%llu write.f32 [y], e1, n=%u\n",
              (unsigned long long)(base + out_delay(LS_OP_READ, n) + out_delay(code, n)), n);
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

static double time_mm(uint32_t M, uint32_t K, uint32_t N, int threads) {
  const ls_target t = host();
  const uint32_t L = t.lanes;
  const uint64_t vb = (uint64_t)L * 4;
  char s[4096];
  size_t k = 0;
  const int R = 4;
  uint64_t xo = (uint64_t)K * vb, yo = xo + (uint64_t)M * vb, base = 0, T = K + M + 64;
  k = add(s, sizeof s, k, ".target host\n.memory %llu\n.input w f32 [%u] @0\n.input x f32 [%u] @%llu\n.output y f32 [%u] @%llu\n",
          (unsigned long long)(yo + (uint64_t)M * vb), K * L, M * L, (unsigned long long)xo, M * L, (unsigned long long)yo);
  char cols[32] = "", lanes[32] = "";
  if (N < L) snprintf(cols, sizeof cols, ", cols=%u", N), snprintf(lanes, sizeof lanes, ", lanes=%u", N);
  for (int g = 0; g < R; g++, base += T) {
    uint64_t lw = base + out_delay(LS_OP_READ, K), mm = lw + K;
    k = add(s, sizeof s, k, "mem0:\n @%llu read.f32 e0, [w], n=%u\nmxm0:\n @%llu lw.f32 p0, e0, n=%u\n", (unsigned long long)base,
            K, (unsigned long long)lw, K);
    k = add(s, sizeof s, k, "mem1:\n @%llu read.f32 e1, [x], n=%u, lanes=%u\nmxm0:\n @%llu mm.f32 e2, p0, e1, n=%u%s\n",
            (unsigned long long)(mm - out_delay(LS_OP_READ, M)), M, K, (unsigned long long)mm, M, cols);
    k = add(s, sizeof s, k, "mem2:\n @%llu write.f32 [y], e2, n=%u%s\n", (unsigned long long)(mm + out_delay(LS_OP_MM, M)), M,
            lanes);
  }
  return time_program(s, threads, 15) / R;
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
    "functions, reductions, gathers, lane moves, matrix products), for 1 and 2 threads, and\n"
    "save it. 'lockstep compile', 'run' and 'bench' then predict a program's time on this host\n"
    "before running it. Takes about a minute; run it on a quiet machine.\n"
    "\n"
    "  -o FILE   where to save (default: $LOCKSTEP_CALIBRATION, else\n"
    "            $XDG_CONFIG_HOME/lockstep/calibration, else ~/.config/lockstep/calibration)\n"
    "  --quick   fewer shapes and sizes (for tests)\n";

int cmd_calibrate(int argc, char **argv) {
  const char *out = NULL;
  int quick = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return fputs(calibrate_help, stdout), 0;
    if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else {
      fprintf(stderr, "lockstep calibrate: unknown argument '%s'\nTry 'lockstep calibrate --help'.\n", argv[i]);
      return 2;
    }
  }
  if (!out) out = ls_calibration_path();
  ls_calibration cal;
  memset(&cal, 0, sizeof cal);
  snprintf(cal.host, sizeof cal.host, "%s", ls_build_info());
  const uint32_t small = 16, big = quick ? 256 : 2048;
  for (int th = 0; th < 2; th++) {
    ls_cost_model *m = &cal.model[th];
    const int threads = th + 1;
    /* per instance: many tiny adds */
    double a1, a2, amt = 0;
    double tiny = time_class(LS_COST_ALU, 1, 64, threads, &amt); /* one short add, 64 times */
    for (int c = LS_COST_COPY; c < LS_COST_MM; c++) {
      double ts = time_class((ls_cost_class)c, small, 8, threads, &a1), tb = time_class((ls_cost_class)c, big, 8, threads, &a2);
      if (ts < 0 || tb < 0) return 1;
      m->per_unit[c] = (tb - ts) / (a2 - a1);
      if (m->per_unit[c] < 0) m->per_unit[c] = 0;
      if (c == LS_COST_ALU) m->per_insn = tiny - m->per_unit[c] * amt;
      printf("  %d thread%s  %-7s %.4f ns per %s\n", threads, threads > 1 ? "s" : " ", ls_cost_class_name((ls_cost_class)c),
             m->per_unit[c], c == LS_COST_COPY ? "byte" : "element");
    }
    if (m->per_insn < 0) m->per_insn = 0;
    m->per_run = 0; /* entering a run is within the per-instance noise */
    /* MM: a grid of shapes */
    const uint32_t Ms[] = {1, 8, 64, 256, 1024}, Ks[] = {9, 64, 256}, Ns[] = {32, 256};
    double A[30][4], b[30], w[30];
    int n = 0;
    for (size_t i = 0; i < (quick ? 3 : 5); i++)
      for (size_t j = 0; j < 3; j++)
        for (size_t l = 0; l < 2; l++) {
          double ns = time_mm(Ms[i], Ks[j], Ns[l], threads) - 2 * m->per_insn;
          if (ns < 0) ns = 0;
          double M_ = Ms[i], K_ = Ks[j], N_ = Ns[l];
          A[n][0] = 1, A[n][1] = 2 * M_ * K_ * N_, A[n][2] = K_ * N_, A[n][3] = M_ * N_;
          b[n] = ns;
          w[n] = ns > 0 ? 1.0 / (ns * ns) : 1;
          n++;
        }
    solve4((const double(*)[4])A, b, w, n, m->mm);
    printf("  %d thread%s  mm      %.0f ns + %.4f ns/flop (%.1f GFLOP/s) + %.4f ns per K*N + %.4f ns per M*N\n", threads,
           threads > 1 ? "s" : " ", m->mm[0], m->mm[1], m->mm[1] > 0 ? 1 / m->mm[1] : 0, m->mm[2], m->mm[3]);
    printf("  %d thread%s  per instruction %.0f ns\n", threads, threads > 1 ? "s" : " ", m->per_insn);
  }
  ls_error e;
  if (ls_calibration_save(out, &cal, &e) != LS_OK) {
    fprintf(stderr, "lockstep calibrate: error: %s\n", e.msg);
    return 1;
  }
  printf("saved %s\n", out);
  return 0;
}
