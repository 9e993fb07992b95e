/* fpenv.c - flush-to-zero and denormals-are-zero while a program runs.
 *
 * x86 handles arithmetic on subnormal floats through a slow microcode path, so a run whose
 * values drift into the subnormal range would take longer: timing would depend on data.
 * With FTZ (results flushed) and DAZ (inputs treated as zero) every float operation costs
 * the same. Rounding is set to nearest-even, so a caller's rounding mode cannot change
 * results. The caller's mode is restored after the run. Other architectures: AArch64 has
 * FPCR.FZ; elsewhere this is a no-op and the docs say so. */
#include "internal.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <immintrin.h>
#define LS_FTZ_DAZ 0x8040u /* MXCSR bit 15 FTZ, bit 6 DAZ */
#define LS_RC_MASK 0x6000u /* rounding control: 00 is round to nearest even */

void fp_enter(fp_saved *s) {
  unsigned csr = _mm_getcsr();
  s->bits = csr;
  _mm_setcsr((csr | LS_FTZ_DAZ) & ~LS_RC_MASK);
}
void fp_leave(const fp_saved *s) { _mm_setcsr((unsigned)s->bits); }

#elif defined(__aarch64__)
void fp_enter(fp_saved *s) {
  unsigned long fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  s->bits = fpcr;
  fpcr |= 1ul << 24;      /* FZ */
  fpcr &= ~(3ul << 22);   /* RMode: round to nearest */
  __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}
void fp_leave(const fp_saved *s) { __asm__ volatile("msr fpcr, %0" : : "r"(s->bits)); }

#else
void fp_enter(fp_saved *s) { s->bits = 0; }
void fp_leave(const fp_saved *s) { (void)s; }
#endif
