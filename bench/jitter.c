/* jitter.c - how steady this machine is: the same fixed busy loop (no memory traffic, no
 * system calls) timed many times, at three lengths near the models' latencies. On an idle
 * bare-metal core every run takes the same time; on a shared virtual machine some runs are
 * stretched by interrupts and by the hypervisor, and those stretched runs set a floor under
 * any program's p99/p50 at that length. Prints one JSON object:
 *
 *   cc -O2 bench/jitter.c -o jitter && ./jitter [RUNS]      (default 3000)
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + 1e-3 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static volatile double sink;

/* a loop of `iters` dependent multiply-adds through a volatile (so that the compiler can
 * neither drop the loop nor move it across the clock reads) */
static double spin(long iters) {
  volatile double x = 1.0;
  for (long i = 0; i < iters; i++) x = x * 0.9999999 + 1e-7;
  return x;
}

int main(int argc, char **argv) {
  const int runs = argc > 1 ? atoi(argv[1]) : 3000;
  if (runs < 10) return fprintf(stderr, "jitter: at least 10 runs\n"), 2;
  double *t = malloc(sizeof *t * (size_t)runs);
  if (!t) return 1;
  /* iterations per microsecond, from a long calibration run */
  sink = spin(20000000); /* warm up (clock frequency) */
  double t0 = now_us();
  sink = spin(20000000);
  const double per_us = 20000000.0 / (now_us() - t0);
  const double lengths[3] = {10, 30, 100};
  printf("{\"runs\": %d, \"lengths\": [", runs);
  for (int k = 0; k < 3; k++) {
    const long iters = (long)(lengths[k] * per_us);
    for (int r = -50; r < runs; r++) {
      double a = now_us();
      sink = spin(iters);
      double b = now_us();
      if (r >= 0) t[r] = b - a;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp);
    const double p50 = t[runs / 2], p99 = t[(int)(0.99 * (runs - 1))];
    int slow = 0;
    for (int r = 0; r < runs; r++) slow += t[r] > 1.10 * p50;
    printf("%s{\"target_us\": %.0f, \"min\": %.2f, \"p50\": %.2f, \"p99\": %.2f, \"max\": %.2f, \"p99_over_p50\": %.3f, "
           "\"slow_fraction\": %.4f}",
           k ? ", " : "", lengths[k], t[0], p50, p99, t[runs - 1], p99 / p50, (double)slow / runs);
  }
  printf("]}\n");
  free(t);
  return 0;
}
