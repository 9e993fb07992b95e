/* test_alloc.c - a run allocates nothing. This executable replaces malloc and friends with
 * counting wrappers around glibc's own allocator, so every allocation in the process is
 * seen: ours, OpenMP's and OpenBLAS's. Counting is switched on only around ls_run. Under
 * AddressSanitizer (which owns malloc itself) or without glibc the test is skipped. */
#include <criterion/criterion.h>
#include <stdatomic.h>

#include "support.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LS_ASAN 1
#endif

#if defined(__GLIBC__) && !defined(LS_ASAN)
#define COUNTING 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_int counting;
static atomic_long allocations;

static void count(void) {
  if (atomic_load(&counting)) atomic_fetch_add(&allocations, 1);
}
void *malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  count();
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
void free(void *p) {
  if (p) count();
  __libc_free(p);
}
void *aligned_alloc(size_t al, size_t n) {
  count();
  return __libc_memalign(al, n);
}
void *memalign(size_t al, size_t n) {
  count();
  return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
  count();
  void *p = __libc_memalign(al, n);
  if (!p) return 12; /* ENOMEM */
  *out = p;
  return 0;
}
#endif

Test(alloc, a_run_allocates_nothing) {
#ifndef COUNTING
  cr_skip_test("allocation counting needs glibc and no AddressSanitizer");
#else
  static const char *programs[] = {"examples/vadd.lsa", "examples/fma_chain.lsa", "examples/matmul_bias_relu.lsa",
                                   "examples/transpose.lsa"};
  for (size_t k = 0; k <= sizeof programs / sizeof *programs; k++) {
    /* the examples, then a GEMM big enough for OpenBLAS and for threads */
    int big = k == sizeof programs / sizeof *programs;
    char *src = big ? NULL : t_read_file(programs[k]);
    ls_program *p;
    ls_error e;
    cr_assert_eq(t_load(big ? t_big_matmul : src, &p, &e), LS_OK, "%s", e.msg);
    free(src);
    t_run r = t_open(p);
    const struct {
      ls_mode mode;
      int threads;
    } cfg[] = {{LS_MODE_FAST, 1}, {LS_MODE_FAST, 2}, {LS_MODE_CHECKED, 1}};
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
      ls_run_opts o = {cfg[c].mode, cfg[c].threads, NULL, NULL, NULL, NULL, 0};
      /* one warm-up: OpenMP starts its thread pool and OpenBLAS its buffers on first use */
      cr_assert_eq(ls_run(r.p, r.arena, r.bytes, &o, NULL, &e), LS_OK);
      atomic_store(&allocations, 0);
      atomic_store(&counting, 1);
      for (int i = 0; i < 10; i++) ls_run(r.p, r.arena, r.bytes, &o, NULL, &e);
      atomic_store(&counting, 0);
      cr_assert_eq(atomic_load(&allocations), 0, "%s, mode %d, %d threads: %ld allocations during 10 runs",
                   big ? "big matmul" : programs[k], cfg[c].mode, cfg[c].threads, atomic_load(&allocations));
    }
    t_close(&r);
  }
  /* the counter does count: a deliberate allocation is seen */
  atomic_store(&counting, 1);
  void *volatile v = malloc(16);
  atomic_store(&counting, 0);
  free(v);
  cr_assert_eq(atomic_load(&allocations), 1);
#endif
}
