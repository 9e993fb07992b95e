/* sgemm_peak.c - OpenBLAS sgemm's measured peak on this machine: the benchmarks' roofline.
 *
 *   cc -O2 bench/sgemm_peak.c -o sgemm_peak -lopenblas
 *   OPENBLAS_CORETYPE=Haswell ./sgemm_peak [THREADS...]        (default: 1 2)
 *
 * For each thread count and each square size (1024, 2048), C = A*B (row-major, no
 * transpose, alpha 1, beta 0) is timed over several repetitions after a warm-up call;
 * the best repetition gives GFLOP/s (2*n^3 flops). Prints one JSON object on stdout,
 * naming the kernel OpenBLAS chose (openblas_get_corename(): OPENBLAS_CORETYPE in the
 * environment forces it). The peak per thread count is the best over sizes.
 * A kernel this CPU cannot execute (e.g. SkylakeX without AVX-512) dies of SIGILL;
 * bench/run.sh runs one process per core type and records that.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

/* Declared by OpenBLAS's cblas.h, repeated in case another cblas.h is found first. */
extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  int threads[8], nthreads = 0;
  for (int i = 1; i < argc && nthreads < 8; i++) threads[nthreads++] = atoi(argv[i]);
  if (nthreads == 0) { threads[0] = 1; threads[1] = 2; nthreads = 2; }
  static const int sizes[] = {1024, 2048};
  const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
  const int nmax = 2048;

  float *a = aligned_alloc(64, sizeof(float) * nmax * nmax);
  float *b = aligned_alloc(64, sizeof(float) * nmax * nmax);
  float *c = aligned_alloc(64, sizeof(float) * nmax * nmax);
  if (!a || !b || !c) { fprintf(stderr, "sgemm_peak: out of memory\n"); return 1; }
  unsigned s = 12345u;
  for (long i = 0; i < (long)nmax * nmax; i++) {
    s = s * 1664525u + 1013904223u; a[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    s = s * 1664525u + 1013904223u; b[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    c[i] = 0.0f;
  }

  const char *env = getenv("OPENBLAS_CORETYPE");
  printf("{\"corename\": \"%s\", \"coretype_env\": %s%s%s, \"results\": [",
         openblas_get_corename(), env ? "\"" : "", env ? env : "null", env ? "\"" : "");
  double peak[8] = {0};
  for (int t = 0; t < nthreads; t++) {
    openblas_set_num_threads(threads[t]);
    for (int k = 0; k < nsizes; k++) {
      const int n = sizes[k];
      const double flops = 2.0 * n * n * (double)n;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
      /* repetitions: about 1.5 s of work at 100 GFLOP/s per size and thread count, at least 3 */
      int reps = (int)(1.5e11 / flops);
      if (reps < 3) reps = 3;
      if (reps > 50) reps = 50;
      double best = 1e30, total = 0;
      for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now_s() - t0;
        total += dt;
        if (dt < best) best = dt;
      }
      double g = flops / best * 1e-9;
      if (g > peak[t]) peak[t] = g;
      printf("%s{\"threads\": %d, \"n\": %d, \"reps\": %d, \"best_s\": %.6f, \"mean_s\": %.6f, "
             "\"gflops\": %.2f, \"gflops_mean\": %.2f}",
             (t || k) ? ", " : "", threads[t], n, reps, best, total / reps, g, flops / (total / reps) * 1e-9);
      fflush(stdout);
    }
  }
  printf("], \"peak_gflops\": {");
  for (int t = 0; t < nthreads; t++) printf("%s\"%d\": %.2f", t ? ", " : "", threads[t], peak[t]);
  printf("}, \"checksum\": %.6g}\n", (double)c[0] + (double)c[(long)nmax * nmax - 1]);
  free(a); free(b); free(c);
  return 0;
}
