/* kernels.c - what every instruction computes. Both executor modes call these, so the two
 * modes give the same bits by construction; what the checked mode checks is the machine's
 * timing and stream hand-offs, and the fast mode's shortcuts (zero-copy reads, threads).
 *
 * Rules that keep results identical everywhere: no FMA contraction (-ffp-contract=off), so
 * a*b+c rounds twice unless an instruction says otherwise (MAC uses fma); reductions run in
 * the order the ISA defines; integer arithmetic wraps through unsigned types (signed
 * overflow is undefined in C); f16/bf16 compute in f32 and round to nearest even. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "ls_config.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#if LS_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define L (c->t->lanes)

static inline const uint8_t *vec_in(const k_src *s, uint32_t i) { return s->p + (int64_t)i * s->stride; }

/* ---- float scalar semantics (shared by f32, f64 and the half types via f32) ---------------
 * Denormals-are-zero is a property of the FPU's arithmetic; instructions that only negate,
 * take absolute values or compare and select would pass a subnormal input through, or not,
 * depending on how the compiler translated them. They flush it here explicitly, so every
 * f32/f64 instruction reads subnormal inputs as zero in every build. */
static inline float daz_f(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }
static inline double daz_(double x) { return fabs(x) < DBL_MIN ? copysign(0.0, x) : x; }
#define FMIN(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) < (y) ? (x) : (y))
#define FMAX(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) > (y) ? (x) : (y))

/* erf for f32, computed in double and rounded once: erf(x) = x * P(x^2) below 1 (degree 7
 * in x^2, relative error 3.7e-11) and a polynomial of degree 17 in w = (2|x| - 5)/3 on [1, 4]
 * (absolute error 1.2e-10; erfc(4) is below half an ulp of 1.0f, so erf is +-1 beyond), both
 * fitted to mpmath's erf at Chebyshev nodes and evaluated by Horner's rule with fused
 * multiply-adds (fma: one instruction where the CPU has FMA, exact in software elsewhere, so
 * the same bits on every build; 1.5x faster than a multiply and an add, and not one value
 * in the check below differs from theirs): the result is within 0.503 ulp of the exact
 * value before the one rounding to f32, so always within 1 ulp (checked against glibc's erf
 * at every positive f32 below 4.5: the worst 0.5021 ulp, at 0x1.4042b6p+1). Straight-line code per
 * element, so that the compiler vectorises the loop over elements; glibc's erff is a call
 * per element with branches. NaN stays NaN; -0 stays -0. */
static const double erf_lo[8] = {1.1283791670623606, -0.37612638475991544, 0.1128378262206407, -0.026865438310616507,
                                 0.005221053412861991, -0.0008484396556207406, 0.00011268253941835366, -9.673590967365822e-06};
static const double erf_hi[18] = {0.9995930478582277, 0.0032674262997314032, -0.012252828389556276, 0.028181554643131504,
                                  -0.04365132690425052, 0.04645357811628914, -0.03187075519326389, 0.009267782607186283,
                                  0.006650058153557089, -0.009622182132352197, 0.0046359403744248235, 0.00044344740898019777,
                                  -0.001991392337592537, 0.0009188635333079886, 0.00023024139456831097, -0.0002938109340337725,
                                  7.403921043855867e-06, 3.293627886693723e-05};
/* x * P(x^2): the same operations in both functions below, so the same bits */
static inline double erf_series_lo(double x) {
  const double s = x * x;
  double p = erf_lo[7];
  p = fma(p, s, erf_lo[6]), p = fma(p, s, erf_lo[5]), p = fma(p, s, erf_lo[4]), p = fma(p, s, erf_lo[3]);
  p = fma(p, s, erf_lo[2]), p = fma(p, s, erf_lo[1]), p = fma(p, s, erf_lo[0]);
  return x * p;
}
static void erf_fullf(float *d, const float *a, size_t n) {
  _Static_assert(sizeof erf_lo / sizeof *erf_lo == 8 && sizeof erf_hi / sizeof *erf_hi == 18, "series lengths");
  for (size_t k = 0; k < n; k++) {
    const double x = a[k], ax = fabs(x), w = ax * (2.0 / 3) - 5.0 / 3, w1 = w < -1 ? -1 : w, v = w1 > 1 ? 1 : w1;
    double h = erf_hi[17];
    h = fma(h, v, erf_hi[16]), h = fma(h, v, erf_hi[15]), h = fma(h, v, erf_hi[14]), h = fma(h, v, erf_hi[13]);
    h = fma(h, v, erf_hi[12]), h = fma(h, v, erf_hi[11]), h = fma(h, v, erf_hi[10]), h = fma(h, v, erf_hi[9]);
    h = fma(h, v, erf_hi[8]), h = fma(h, v, erf_hi[7]), h = fma(h, v, erf_hi[6]), h = fma(h, v, erf_hi[5]);
    h = fma(h, v, erf_hi[4]), h = fma(h, v, erf_hi[3]), h = fma(h, v, erf_hi[2]), h = fma(h, v, erf_hi[1]);
    h = fma(h, v, erf_hi[0]);
    const double lo = erf_series_lo(x);
    const double sg = x < 0 ? -1.0 : 1.0, hh = ax < 4 ? h : 1.0, r = ax < 1 ? lo : sg * hh;
    const float y = (float)r;
    d[k] = x != x ? a[k] + a[k] : y; /* NaN: quiet, as libm's */
  }
}
/* the series below 1 alone: for blocks with no |x| >= 1 (most of GELU's inputs) */
static void erf_smallf(float *d, const float *a, size_t n) {
  for (size_t k = 0; k < n; k++) d[k] = (float)erf_series_lo(a[k]);
}
/* blocks of ERF_BLOCK elements: the short series where it suffices, else both; the same
 * value for every element either way (the short series is the first half of the full one).
 * A transformer's GELU inputs: 75% of blocks of 16 need only the short series, 32% of
 * blocks of 64; its GELU chain took 28 us with blocks of 16, 31 with 32, 37 with 8, 42
 * with 64 (profiling build) */
#define ERF_BLOCK 16
static void erf_vecf(float *d, const float *a, size_t n) {
  for (size_t k0 = 0; k0 < n; k0 += ERF_BLOCK) {
    const size_t m = n - k0 < ERF_BLOCK ? n - k0 : ERF_BLOCK;
    int small = 1;
    for (size_t j = 0; j < m; j++) small &= fabsf(a[k0 + j]) < 1.0f; /* false for NaN */
    if (small) erf_smallf(d + k0, a + k0, m);
    else erf_fullf(d + k0, a + k0, m);
  }
}
/* exp for f32, in double and rounded once: 2^y with y = x*log2(e) split into k + f (k an
 * integer, |f| <= 1/2), 2^f by a polynomial fitted on [-1/2, 1/2] (relative error 2e-14),
 * 2^k put in the exponent bits. Vectorises; results within an ulp of the exact value. */
static const double exp2_poly[10] = {1.0000000000000138, 0.69314718055994906, 0.24022650695640291,
                                     0.055504108664469233, 0.0096181291939322639, 0.0013333558229232847,
                                     0.00015403433753428123, 1.5252656729045845e-05, 1.3259645667520565e-06,
                                     1.0208938496837715e-07};
static void exp_vecf(float *d, const float *a, size_t n) {
  for (size_t k = 0; k < n; k++) {
    const double x = a[k], y0 = x != x ? 0 : x * 1.4426950408889634, y1 = y0 < -200 ? -200 : y0, y = y1 > 200 ? 200 : y1;
    const double kr = (y + 6755399441055744.0) - 6755399441055744.0, f = y - kr; /* round to nearest */
    double p = exp2_poly[9];
    p = p * f + exp2_poly[8], p = p * f + exp2_poly[7], p = p * f + exp2_poly[6], p = p * f + exp2_poly[5];
    p = p * f + exp2_poly[4], p = p * f + exp2_poly[3], p = p * f + exp2_poly[2], p = p * f + exp2_poly[1];
    p = p * f + exp2_poly[0];
    const int64_t e = ((int64_t)kr + 1023) << 52;
    double scale;
    memcpy(&scale, &e, 8);
    const float r = (float)(p * scale);
    d[k] = x != x ? a[k] + a[k] : r; /* NaN: quiet, as libm's */
  }
}
static void exp_vec(double *d, const double *a, size_t n) {
  for (size_t k = 0; k < n; k++) d[k] = exp(a[k]);
}
static void erf_vec(double *d, const double *a, size_t n) {
  for (size_t k = 0; k < n; k++) d[k] = erf(a[k]);
}

#define FLOAT_EW(T, SFX)                                                                           \
  static void ew_##SFX(ls_op op, T *d, const T *a, const T *b, const T *cc, size_t n, T imm) {     \
    size_t k;                                                                                    \
    switch (op) {                                                                                \
    case LS_OP_NEG: for (k = 0; k < n; k++) d[k] = -daz_##SFX(a[k]); break;                       \
    case LS_OP_ABS: for (k = 0; k < n; k++) d[k] = fabs##SFX(daz_##SFX(a[k])); break;             \
    case LS_OP_RELU: for (k = 0; k < n; k++) d[k] = a[k] < 0 ? (T)0 : daz_##SFX(a[k]); break;     \
    case LS_OP_FLOOR: for (k = 0; k < n; k++) d[k] = floor##SFX(a[k]); break;                     \
    case LS_OP_CEIL: for (k = 0; k < n; k++) d[k] = ceil##SFX(a[k]); break;                       \
    case LS_OP_ROUND: for (k = 0; k < n; k++) d[k] = nearbyint##SFX(a[k]); break;                \
    case LS_OP_RECIP: for (k = 0; k < n; k++) d[k] = (T)1 / a[k]; break;                          \
    case LS_OP_SQRT: for (k = 0; k < n; k++) d[k] = sqrt##SFX(a[k]); break;                       \
    case LS_OP_RSQRT: for (k = 0; k < n; k++) d[k] = (T)1 / sqrt##SFX(a[k]); break;               \
    case LS_OP_EXP: exp_vec##SFX(d, a, n); break;                                                 \
    case LS_OP_LOG: for (k = 0; k < n; k++) d[k] = log##SFX(a[k]); break;                         \
    case LS_OP_TANH: for (k = 0; k < n; k++) d[k] = tanh##SFX(a[k]); break;                       \
    case LS_OP_SIGMOID: for (k = 0; k < n; k++) d[k] = (T)1 / ((T)1 + exp##SFX(-a[k])); break;     \
    case LS_OP_ERF: erf_vec##SFX(d, a, n); break;                                                 \
    case LS_OP_SIN: for (k = 0; k < n; k++) d[k] = sin##SFX(a[k]); break;                         \
    case LS_OP_COS: for (k = 0; k < n; k++) d[k] = cos##SFX(a[k]); break;                         \
    case LS_OP_ATAN: for (k = 0; k < n; k++) d[k] = atan##SFX(a[k]); break;                       \
    case LS_OP_FMOD: for (k = 0; k < n; k++) d[k] = fmod##SFX(a[k], b[k]); break;                 \
    case LS_OP_ADD: for (k = 0; k < n; k++) d[k] = a[k] + b[k]; break;                            \
    case LS_OP_SUB: for (k = 0; k < n; k++) d[k] = a[k] - b[k]; break;                            \
    case LS_OP_MUL: for (k = 0; k < n; k++) d[k] = a[k] * b[k]; break;                            \
    case LS_OP_DIV: for (k = 0; k < n; k++) d[k] = a[k] / b[k]; break;                            \
    case LS_OP_MOD:                                                                              \
      for (k = 0; k < n; k++) { /* a zero result takes the sign of b, as a - b*floor(a/b) */    \
        T r = fmod##SFX(a[k], b[k]);                                                              \
        if (r != 0 && ((r < 0) != (b[k] < 0))) r += b[k];                                         \
        d[k] = r == 0 ? copysign##SFX((T)0, b[k]) : r;                                            \
      }                                                                                          \
      break;                                                                                     \
    case LS_OP_MIN: for (k = 0; k < n; k++) d[k] = FMIN(daz_##SFX(a[k]), daz_##SFX(b[k])); break; \
    case LS_OP_MAX: for (k = 0; k < n; k++) d[k] = FMAX(daz_##SFX(a[k]), daz_##SFX(b[k])); break; \
    case LS_OP_POW: for (k = 0; k < n; k++) d[k] = pow##SFX(a[k], b[k]); break;                   \
    case LS_OP_MAC: for (k = 0; k < n; k++) d[k] = fma##SFX(a[k], b[k], cc[k]); break;            \
    case LS_OP_ADDS: for (k = 0; k < n; k++) d[k] = a[k] + imm; break;                            \
    case LS_OP_MULS: for (k = 0; k < n; k++) d[k] = a[k] * imm; break;                            \
    case LS_OP_MINS: for (k = 0; k < n; k++) d[k] = FMIN(daz_##SFX(a[k]), imm); break;            \
    case LS_OP_MAXS: for (k = 0; k < n; k++) d[k] = FMAX(daz_##SFX(a[k]), imm); break;            \
    default: break;                                                                              \
    }                                                                                            \
  }
FLOAT_EW(float, f)
FLOAT_EW(double, )

/* ---- integer scalar semantics: wrap through the unsigned type UW --------------------------- */
/* a function, not `x < 0`, so unsigned instantiations compile without type-limit warnings */
static inline int is_neg(int64_t v) { return v < 0; }
#define INT_EW(T, UW, SIGNED, SFX)                                                                   \
  static void ew_##SFX(ls_op op, T *d, const T *a, const T *b, const T *cc, size_t n, T imm) {       \
    size_t k;                                                                                      \
    switch (op) {                                                                                  \
    case LS_OP_NEG: for (k = 0; k < n; k++) d[k] = (T)(0u - (UW)a[k]); break;                       \
    case LS_OP_ABS: for (k = 0; k < n; k++) d[k] = (SIGNED && is_neg((int64_t)a[k])) ? (T)(0u - (UW)a[k]) : a[k]; break; \
    case LS_OP_RELU: for (k = 0; k < n; k++) d[k] = (SIGNED && is_neg((int64_t)a[k])) ? (T)0 : a[k]; break;      \
    case LS_OP_NOT: for (k = 0; k < n; k++) d[k] = (T)~(UW)a[k]; break;                             \
    case LS_OP_ADD: for (k = 0; k < n; k++) d[k] = (T)((UW)a[k] + (UW)b[k]); break;                 \
    case LS_OP_SUB: for (k = 0; k < n; k++) d[k] = (T)((UW)a[k] - (UW)b[k]); break;                 \
    case LS_OP_MUL: for (k = 0; k < n; k++) d[k] = (T)((UW)a[k] * (UW)b[k]); break;                 \
    case LS_OP_DIV:                                                                                \
      for (k = 0; k < n; k++)                                                                      \
        d[k] = b[k] == 0 ? (T)0 : (SIGNED && b[k] == (T)-1) ? (T)(0u - (UW)a[k]) : (T)(a[k] / b[k]); \
      break;                                                                                       \
    case LS_OP_MOD:                                                                                \
      for (k = 0; k < n; k++) {                                                                    \
        if (b[k] == 0 || (SIGNED && b[k] == (T)-1)) {                                               \
          d[k] = 0;                                                                                \
          continue;                                                                                \
        }                                                                                          \
        T r = (T)(a[k] % b[k]);                                                                    \
        if (SIGNED && r != 0 && (is_neg((int64_t)r) != is_neg((int64_t)b[k]))) r = (T)((UW)r + (UW)b[k]);                 \
        d[k] = r;                                                                                  \
      }                                                                                            \
      break;                                                                                       \
    case LS_OP_FMOD:                                                                               \
      for (k = 0; k < n; k++) d[k] = b[k] == 0 || (SIGNED && b[k] == (T)-1) ? (T)0 : (T)(a[k] % b[k]); \
      break;                                                                                       \
    case LS_OP_SHL:                                                                                \
      for (k = 0; k < n; k++)                                                                      \
        d[k] = (SIGNED && is_neg((int64_t)b[k])) || (uint64_t)b[k] >= 8 * sizeof(T) ? (T)0 : (T)((UW)a[k] << b[k]); \
      break;                                                                                       \
    case LS_OP_SHR:                                                                                \
      for (k = 0; k < n; k++) {                                                                    \
        uint64_t s = (SIGNED && is_neg((int64_t)b[k])) || (uint64_t)b[k] >= 8 * sizeof(T) ? 8 * sizeof(T) - 1 + !SIGNED : (uint64_t)b[k]; \
        UW u = (UW)a[k];                                                                           \
        if (s >= 8 * sizeof(T)) d[k] = 0;                                                          \
        else if (SIGNED && is_neg((int64_t)a[k])) d[k] = (T)~(~u >> s);                            \
        else d[k] = (T)(u >> s);                                                                   \
      }                                                                                            \
      break;                                                                                       \
    case LS_OP_MIN: for (k = 0; k < n; k++) d[k] = a[k] < b[k] ? a[k] : b[k]; break;                \
    case LS_OP_MAX: for (k = 0; k < n; k++) d[k] = a[k] > b[k] ? a[k] : b[k]; break;                \
    case LS_OP_AND: for (k = 0; k < n; k++) d[k] = (T)(a[k] & b[k]); break;                         \
    case LS_OP_OR: for (k = 0; k < n; k++) d[k] = (T)(a[k] | b[k]); break;                          \
    case LS_OP_XOR: for (k = 0; k < n; k++) d[k] = (T)(a[k] ^ b[k]); break;                         \
    case LS_OP_MAC: for (k = 0; k < n; k++) d[k] = (T)((UW)a[k] * (UW)b[k] + (UW)cc[k]); break;     \
    case LS_OP_ADDS: for (k = 0; k < n; k++) d[k] = (T)((UW)a[k] + (UW)imm); break;                 \
    case LS_OP_MULS: for (k = 0; k < n; k++) d[k] = (T)((UW)a[k] * (UW)imm); break;                 \
    case LS_OP_MINS: for (k = 0; k < n; k++) d[k] = a[k] < imm ? a[k] : imm; break;                 \
    case LS_OP_MAXS: for (k = 0; k < n; k++) d[k] = a[k] > imm ? a[k] : imm; break;                 \
    default: break;                                                                                \
    }                                                                                              \
  }
INT_EW(int8_t, uint32_t, 1, i8)
INT_EW(uint8_t, uint32_t, 0, u8)
INT_EW(int16_t, uint32_t, 1, i16)
INT_EW(uint16_t, uint32_t, 0, u16)
INT_EW(int32_t, uint32_t, 1, i32)
INT_EW(uint32_t, uint32_t, 0, u32)
INT_EW(int64_t, uint64_t, 1, i64)
INT_EW(uint64_t, uint64_t, 0, u64)

static void ew_bool(ls_op op, uint8_t *d, const uint8_t *a, const uint8_t *b, size_t n) {
  size_t k;
  switch (op) {
  case LS_OP_NOT: for (k = 0; k < n; k++) d[k] = !a[k]; break;
  case LS_OP_AND: for (k = 0; k < n; k++) d[k] = a[k] && b[k]; break;
  case LS_OP_OR: for (k = 0; k < n; k++) d[k] = a[k] || b[k]; break;
  case LS_OP_XOR: for (k = 0; k < n; k++) d[k] = !a[k] != !b[k]; break;
  default: break;
  }
}

/* ---- element access by type, for the generic paths ---------------------------------------- */
typedef struct scalar {
  int kind; /* 'F' double, 'I' int64, 'U' uint64 */
  double f;
  int64_t i;
  uint64_t u;
} scalar;

static scalar load_elem(const uint8_t *p, ls_dtype t) {
  scalar s = {'F', 0, 0, 0};
  switch (t) {
  case LS_F32: { float v; memcpy(&v, p, 4); s.f = v; break; }
  case LS_F64: memcpy(&s.f, p, 8); break;
  case LS_F16: { uint16_t h; memcpy(&h, p, 2); s.f = ls_f16_to_f32(h); break; }
  case LS_BF16: { uint16_t h; memcpy(&h, p, 2); s.f = ls_bf16_to_f32(h); break; }
  case LS_I8: s.kind = 'I', s.i = (int8_t)p[0]; break;
  case LS_U8: s.kind = 'U', s.u = p[0]; break;
  case LS_I16: { int16_t v; memcpy(&v, p, 2); s.kind = 'I', s.i = v; break; }
  case LS_U16: { uint16_t v; memcpy(&v, p, 2); s.kind = 'U', s.u = v; break; }
  case LS_I32: { int32_t v; memcpy(&v, p, 4); s.kind = 'I', s.i = v; break; }
  case LS_U32: { uint32_t v; memcpy(&v, p, 4); s.kind = 'U', s.u = v; break; }
  case LS_I64: memcpy(&s.i, p, 8), s.kind = 'I'; break;
  case LS_U64: memcpy(&s.u, p, 8), s.kind = 'U'; break;
  case LS_BOOL: s.kind = 'U', s.u = p[0] != 0; break;
  case LS_DTYPE_COUNT: break;
  }
  return s;
}

/* float -> integer: truncate toward zero, saturate, NaN gives 0 */
static int64_t sat_i(double f, double lo, double hi) {
  if (f != f) return 0;
  if (f <= lo) return (int64_t)lo;
  if (f >= hi) return (int64_t)hi;
  return (int64_t)f;
}
static uint64_t sat_u(double f, double hi) {
  if (f != f || f <= 0) return 0;
  if (f >= hi) return (uint64_t)hi;
  return (uint64_t)f;
}

static void store_elem(uint8_t *p, ls_dtype t, scalar s) {
  /* integer view of s, wrapping (as NumPy's astype between integer types) */
  uint64_t bits = s.kind == 'I' ? (uint64_t)s.i : s.u;
  float f32 = s.kind == 'F' ? (float)s.f : s.kind == 'I' ? (float)s.i : (float)s.u;
  switch (t) {
  case LS_F32: memcpy(p, &f32, 4); break;
  case LS_F64: {
    double d = s.kind == 'F' ? s.f : s.kind == 'I' ? (double)s.i : (double)s.u;
    memcpy(p, &d, 8);
    break;
  }
  case LS_F16: { uint16_t h = ls_f32_to_f16(f32); memcpy(p, &h, 2); break; }
  case LS_BF16: { uint16_t h = ls_f32_to_bf16(f32); memcpy(p, &h, 2); break; }
  case LS_BOOL: p[0] = s.kind == 'F' ? s.f != 0 : bits != 0; break;
  case LS_I8: case LS_U8: case LS_I16: case LS_U16: case LS_I32: case LS_U32: case LS_I64: case LS_U64: {
    if (s.kind == 'F') {
      switch (t) {
      case LS_I8: bits = (uint64_t)sat_i(s.f, -128.0, 127.0); break;
      case LS_U8: bits = sat_u(s.f, 255.0); break;
      case LS_I16: bits = (uint64_t)sat_i(s.f, -32768.0, 32767.0); break;
      case LS_U16: bits = sat_u(s.f, 65535.0); break;
      case LS_I32: bits = (uint64_t)sat_i(s.f, -2147483648.0, 2147483647.0); break;
      case LS_U32: bits = sat_u(s.f, 4294967295.0); break;
      case LS_I64:
        bits = s.f != s.f ? 0 : s.f >= 9223372036854775807.0 ? (uint64_t)INT64_MAX
             : s.f <= -9223372036854775808.0 ? (uint64_t)INT64_MIN : (uint64_t)(int64_t)s.f;
        break;
      default: bits = s.f != s.f || s.f <= 0 ? 0 : s.f >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)s.f; break;
      }
    }
    size_t sz = ls_dtype_size(t);
    for (size_t k = 0; k < sz; k++) p[k] = (uint8_t)(bits >> (8 * k)); /* little-endian */
    break;
  }
  case LS_DTYPE_COUNT: break;
  }
}

/* Half types: convert a chunk to f32, compute, round back. */
#define HCHUNK 64
static void ew_half(ls_op op, ls_dtype t, uint8_t *d, const uint8_t *a, const uint8_t *b, const uint8_t *cc,
                    size_t n, float imm) {
  float fa[HCHUNK], fb[HCHUNK], fc[HCHUNK], fd[HCHUNK];
  for (size_t k0 = 0; k0 < n; k0 += HCHUNK) {
    size_t m = n - k0 < HCHUNK ? n - k0 : HCHUNK;
    for (size_t k = 0; k < m; k++) {
      fa[k] = (float)load_elem(a + 2 * (k0 + k), t).f;
      fb[k] = b ? (float)load_elem(b + 2 * (k0 + k), t).f : 0;
      fc[k] = cc ? (float)load_elem(cc + 2 * (k0 + k), t).f : 0;
    }
    ew_f(op, fd, fa, fb, fc, m, imm);
    for (size_t k = 0; k < m; k++) {
      uint16_t h = t == LS_F16 ? ls_f32_to_f16(fd[k]) : ls_f32_to_bf16(fd[k]);
      memcpy(d + 2 * (k0 + k), &h, 2);
    }
  }
}

static double imm_f64(int64_t imm) {
  double d;
  memcpy(&d, &imm, 8);
  return d;
}

#if defined(__AVX512F__)
/* f32 max (min) of a and b, 16 lanes at a time, the same choices as FMAX (FMIN) of their
 * inputs flushed: a where it is NaN or greater (less) than b, else b (a NaN b, an equal one) */
static void minmax16(float *d, const float *a, const float *b, size_t n, int is_max) {
  const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
  const __m512 tiny = _mm512_set1_ps(FLT_MIN);
  for (size_t k = 0; k < n; k += 16) {
    const __mmask16 mk = n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(mk, a + k), y = _mm512_maskz_loadu_ps(mk, b + k);
    const __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    const __m512 ay = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(y)));
    x = _mm512_castsi512_ps(_mm512_mask_and_epi32(_mm512_castps_si512(x), _mm512_cmp_ps_mask(ax, tiny, _CMP_LT_OQ),
                                                  _mm512_castps_si512(x), sign));
    y = _mm512_castsi512_ps(_mm512_mask_and_epi32(_mm512_castps_si512(y), _mm512_cmp_ps_mask(ay, tiny, _CMP_LT_OQ),
                                                  _mm512_castps_si512(y), sign));
    const __mmask16 wins = is_max ? _mm512_cmp_ps_mask(x, y, _CMP_GT_OQ) : _mm512_cmp_ps_mask(x, y, _CMP_LT_OQ);
    const __mmask16 keep = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q) | wins;
    _mm512_mask_storeu_ps(d + k, mk, _mm512_mask_mov_ps(y, keep, x));
  }
}
#endif

/* One vector (or run of contiguous elements) of an arithmetic instruction. */
static void ew_any(ls_op op, ls_dtype t, uint8_t *d, const uint8_t *a, const uint8_t *b, const uint8_t *cc,
                   size_t n, int64_t imm) {
  switch (t) {
  case LS_F32:
#if defined(__AVX512F__)
    if (op == LS_OP_MAX || op == LS_OP_MIN) {
      minmax16((float *)d, (const float *)a, (const float *)b, n, op == LS_OP_MAX);
      break;
    }
#endif
    ew_f(op, (float *)d, (const float *)a, (const float *)b, (const float *)cc, n, (float)imm_f64(imm));
    break;
  case LS_F64: ew_(op, (double *)d, (const double *)a, (const double *)b, (const double *)cc, n, imm_f64(imm)); break;
  case LS_F16:
  case LS_BF16: ew_half(op, t, d, a, b, cc, n, (float)imm_f64(imm)); break;
  case LS_I8: ew_i8(op, (int8_t *)d, (const int8_t *)a, (const int8_t *)b, (const int8_t *)cc, n, (int8_t)imm); break;
  case LS_U8: ew_u8(op, d, a, b, cc, n, (uint8_t)imm); break;
  case LS_I16: ew_i16(op, (int16_t *)d, (const int16_t *)a, (const int16_t *)b, (const int16_t *)cc, n, (int16_t)imm); break;
  case LS_U16: ew_u16(op, (uint16_t *)d, (const uint16_t *)a, (const uint16_t *)b, (const uint16_t *)cc, n, (uint16_t)imm); break;
  case LS_I32: ew_i32(op, (int32_t *)d, (const int32_t *)a, (const int32_t *)b, (const int32_t *)cc, n, (int32_t)imm); break;
  case LS_U32: ew_u32(op, (uint32_t *)d, (const uint32_t *)a, (const uint32_t *)b, (const uint32_t *)cc, n, (uint32_t)imm); break;
  case LS_I64: ew_i64(op, (int64_t *)d, (const int64_t *)a, (const int64_t *)b, (const int64_t *)cc, n, imm); break;
  case LS_U64: ew_u64(op, (uint64_t *)d, (const uint64_t *)a, (const uint64_t *)b, (const uint64_t *)cc, n, (uint64_t)imm); break;
  case LS_BOOL: ew_bool(op, d, a, b, n); break;
  case LS_DTYPE_COUNT: break;
  }
}

/* Comparisons: bool out. Floats compare as IEEE (NaN is unequal to everything). */
static void cmp_any(ls_op op, ls_dtype t, uint8_t *d, const uint8_t *a, const uint8_t *b, size_t n) {
  size_t sz = ls_dtype_size(t);
  if (t == LS_F32) {
    const float *x = (const float *)a, *y = (const float *)b;
    switch (op) {
    case LS_OP_EQ: for (size_t k = 0; k < n; k++) d[k] = x[k] == y[k]; return;
    case LS_OP_NE: for (size_t k = 0; k < n; k++) d[k] = x[k] != y[k]; return;
    case LS_OP_LT: for (size_t k = 0; k < n; k++) d[k] = x[k] < y[k]; return;
    case LS_OP_LE: for (size_t k = 0; k < n; k++) d[k] = x[k] <= y[k]; return;
    default: return;
    }
  }
  for (size_t k = 0; k < n; k++) {
    scalar x = load_elem(a + k * sz, t), y = load_elem(b + k * sz, t);
    int lt, eq;
    if (x.kind == 'F') lt = x.f < y.f, eq = x.f == y.f;
    else if (x.kind == 'I') lt = x.i < y.i, eq = x.i == y.i;
    else lt = x.u < y.u, eq = x.u == y.u;
    switch (op) {
    case LS_OP_EQ: d[k] = (uint8_t)eq; break;
    case LS_OP_NE: d[k] = (uint8_t)(x.kind == 'F' ? !(x.f == y.f) : !eq); break;
    case LS_OP_LT: d[k] = (uint8_t)lt; break;
    case LS_OP_LE: d[k] = (uint8_t)(lt || eq); break;
    default: break;
    }
  }
}

/* ---- reductions --------------------------------------------------------------------------- */

/* pairwise tree over [0, n): sum(lo half) + sum(hi half), halves split at n/2 */
static double tree_sum_f64(const uint8_t *p, ls_dtype t, size_t sz, size_t n) {
  if (n == 1) return load_elem(p, t).f;
  size_t h = n / 2;
  return tree_sum_f64(p, t, sz, h) + tree_sum_f64(p + h * sz, t, sz, n - h);
}
/* the same tree over f32 values, DAZ explicit; levels of adjacent pairs when n is a power of
 * two (the halves then split exactly), else the recursion */
static float tree_f32(const float *p, size_t n) {
  if (n == 1) return daz_f(p[0]);
  size_t h = n / 2;
  return tree_f32(p, h) + tree_f32(p + h, n - h);
}
static float tree_sum_f32_vec(const float *p, size_t n) {
  if (n == 1 || n > 512 || (n & (n - 1)) != 0) return tree_f32(p, n);
  float t[256];
  for (size_t i = 0; i < n / 2; i++) t[i] = daz_f(p[2 * i]) + daz_f(p[2 * i + 1]);
  for (size_t m = n / 4; m >= 1; m /= 2)
    for (size_t i = 0; i < m; i++) t[i] = t[2 * i] + t[2 * i + 1];
  return t[0];
}
static float tree_sum_f32(const uint8_t *p, ls_dtype t, size_t sz, size_t n) {
  if (t == LS_F32 && n <= 512) {
    float v[512];
    memcpy(v, p, n * 4);
    return tree_sum_f32_vec(v, n);
  }
  if (n == 1) return (float)load_elem(p, t).f;
  size_t h = n / 2;
  return tree_sum_f32(p, t, sz, h) + tree_sum_f32(p + h * sz, t, sz, n - h);
}
static uint64_t tree_sum_int(const uint8_t *p, ls_dtype t, size_t sz, size_t n) {
  if (n == 1) {
    scalar s = load_elem(p, t);
    return s.kind == 'I' ? (uint64_t)s.i : s.u;
  }
  size_t h = n / 2;
  return tree_sum_int(p, t, sz, h) + tree_sum_int(p + h * sz, t, sz, n - h);
}

static scalar reduce_max(scalar acc, scalar x) {
  if (acc.kind == 'F') acc.f = FMAX(acc.f, x.f);
  else if (acc.kind == 'I') acc.i = x.i > acc.i ? x.i : acc.i;
  else acc.u = x.u > acc.u ? x.u : acc.u;
  return acc;
}

static void lane_reduce(const k_ctx *c, const ls_insn *in, const k_src *a, uint8_t *out, uint32_t v0, uint32_t v1) {
  ls_dtype t = (ls_dtype)in->t0;
  size_t sz = ls_dtype_size(t), vb = (size_t)L * sz;
  for (uint32_t i = v0; i < v1; i++) {
    const uint8_t *x = vec_in(a, i);
    uint8_t *d = out + (size_t)i * vb;
    scalar r;
    if (in->op == LS_OP_LSUM) {
      r.kind = ls_dtype_class(t) == 'F' ? 'F' : ls_dtype_class(t) == 'I' ? 'I' : 'U';
      if (t == LS_F64) r.f = tree_sum_f64(x, t, sz, L);
      else if (r.kind == 'F') r.f = tree_sum_f32(x, t, sz, L);
      else r.i = (int64_t)(r.u = tree_sum_int(x, t, sz, L));
    } else if (t == LS_F32) { /* the common case without per-element calls, DAZ explicit */
      float m = daz_f(((const float *)x)[0]);
      for (uint32_t l = 1; l < L; l++) {
        float v = daz_f(((const float *)x)[l]);
        m = FMAX(m, v);
      }
      r.kind = 'F', r.f = m;
    } else {
      r = load_elem(x, t);
      for (uint32_t l = 1; l < L; l++) r = reduce_max(r, load_elem(x + l * sz, t));
    }
    memset(d, 0, vb);
    store_elem(d, t, r);
  }
}

static void vec_reduce(const k_ctx *c, const ls_insn *in, const k_src *a, uint8_t *out) {
  ls_dtype t = (ls_dtype)in->t0;
  size_t sz = ls_dtype_size(t);
  if (t == LS_F32 && in->op == LS_OP_VSUM) { /* the common case, vectorised over lanes */
    float *d = (float *)out;
    const float *x0 = (const float *)vec_in(a, 0);
    for (uint32_t l = 0; l < L; l++) d[l] = daz_f(x0[l]);
    for (uint32_t i = 1; i < in->n; i++) {
      const float *x = (const float *)vec_in(a, i);
      for (uint32_t l = 0; l < L; l++) d[l] = d[l] + x[l];
    }
    return;
  }
  if (t == LS_F32 && in->op == LS_OP_VMAX) { /* likewise, DAZ explicit */
    float *d = (float *)out;
    const float *x0 = (const float *)vec_in(a, 0);
    for (uint32_t l = 0; l < L; l++) d[l] = daz_f(x0[l]);
    for (uint32_t i = 1; i < in->n; i++) {
      const float *x = (const float *)vec_in(a, i);
      for (uint32_t l = 0; l < L; l++) {
        float v = daz_f(x[l]);
        d[l] = FMAX(d[l], v);
      }
    }
    return;
  }
  for (uint32_t l = 0; l < L; l++) {
    scalar acc = load_elem(vec_in(a, 0) + l * sz, t);
    if (acc.kind == 'F' && t != LS_F64) acc.f = (float)acc.f;
    for (uint32_t i = 1; i < in->n; i++) {
      scalar x = load_elem(vec_in(a, i) + l * sz, t);
      if (in->op == LS_OP_VMAX) acc = reduce_max(acc, x);
      else if (acc.kind == 'F') acc.f = t == LS_F64 ? acc.f + x.f : (double)((float)acc.f + (float)x.f);
      else if (acc.kind == 'I') acc.i = (int64_t)((uint64_t)acc.i + (uint64_t)x.i);
      else acc.u += x.u;
    }
    store_elem(out + l * sz, t, acc);
  }
}

/* ---- SXM ----------------------------------------------------------------------------------- */
static void lane_move(const k_ctx *c, const ls_insn *in, const k_src *a, uint8_t *out, uint32_t v0, uint32_t v1) {
  size_t sz = ls_dtype_size((ls_dtype)in->t0), vb = (size_t)L * sz;
  const uint32_t *map = in->op == LS_OP_PERMUTE ? (const uint32_t *)(c->sram + in->addr) : NULL;
  for (uint32_t i = v0; i < v1; i++) {
    const uint8_t *x = vec_in(a, i);
    uint8_t *d = out + (size_t)i * vb;
    for (uint32_t l = 0; l < L; l++) {
      int64_t from;
      switch (in->op) {
      case LS_OP_SHIFT: /* |k| >= L shifts everything out; otherwise no overflow is possible */
        from = in->imm >= (int64_t)L || in->imm <= -(int64_t)L ? -1 : (int64_t)l - in->imm;
        break;
      case LS_OP_ROTATE: from = ((int64_t)l - in->imm % (int64_t)L + 2 * (int64_t)L) % (int64_t)L; break;
      case LS_OP_DIST: from = in->imm; break;
      default: from = map[l]; break;
      }
      if (from >= 0 && from < (int64_t)L) memcpy(d + l * sz, x + (size_t)from * sz, sz);
      else memset(d + l * sz, 0, sz);
    }
  }
}

static void transpose(const k_ctx *c, const ls_insn *in, const k_src *a, uint8_t *out) {
  size_t sz = ls_dtype_size((ls_dtype)in->t0), vb = (size_t)L * sz;
  for (uint32_t blk = 0; blk < in->n / L; blk++)
    for (uint32_t k = 0; k < L; k++) {
      const uint8_t *x = vec_in(a, blk * L + k);
      for (uint32_t j = 0; j < L; j++) memcpy(out + (size_t)(blk * L + j) * vb + k * sz, x + j * sz, sz);
    }
}

/* ---- MEM ----------------------------------------------------------------------------------- */
static int64_t idx_at(const k_src *s, uint32_t i, uint32_t l) {
  int32_t v;
  memcpy(&v, vec_in(s, i) + 4 * (size_t)l, 4);
  return v;
}

/* ---- MXM -----------------------------------------------------------------------------------
 * A plane: a 64-byte header (u32 rows; u32 mode: 0 rows copied after the header, 1 rows in
 * place; then for mode 1 the row pointer and the row stride in elements), then L x L f32. */
typedef struct plane_hdr {
  uint32_t rows, mode;
  const float *w;
  uint64_t ld;
} plane_hdr;

static plane_hdr plane_of(const k_ctx *c, uint32_t plane) {
  plane_hdr h;
  memcpy(&h, c->planes + plane * c->plane_stride, sizeof h);
  if (h.mode == 0) h.w = (const float *)(c->planes + plane * c->plane_stride + 64), h.ld = L;
  return h;
}

void k_lw_in_place(const k_ctx *c, const ls_insn *in, const k_src *src) {
  plane_hdr h = {in->n, 1, (const float *)src->p, (uint64_t)src->stride / 4};
  memcpy(c->planes + in->aux * c->plane_stride, &h, sizeof h);
}

/* MM computes its rows in blocks of mm_block rows, each block one GEMM call (a block of
 * at most 4 rows: the reference loop, sums in k order): a GEMM's rounding may depend on how
 * many rows it is given, so the blocks are fixed by the instruction alone (rows and
 * columns) and threads take whole blocks. At most 8 blocks, at least 256 rows each (every
 * call packs the plane again), multiples of 16; but no block of more than 64K outputs
 * (a 1x1 convolution over 12,544 pixels), so that a block's output is still in cache when
 * its activation is applied. */
static uint32_t mm_block(const ls_target *t, const ls_insn *in) {
  const uint32_t n = in->n, cols = in->imm ? (uint32_t)in->imm : t->lanes;
  uint32_t blocks = (n + 255) / 256;
  if (blocks > 8) blocks = 8;
  if (blocks == 0) blocks = 1;
  uint32_t rows = (n + blocks - 1) / blocks;
  const uint32_t cap = 65536 / cols;
  if (rows > cap) rows = cap > 256 ? cap : 256;
  return (rows + 15) / 16 * 16;
}

#if defined(__AVX512F__)
/* maxs/mins by an immediate, as ew_f's: the input flushed if subnormal, a NaN input kept */
static inline __m512 clamp16(__m512 x, const k_clamp *q) {
  const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
  for (uint32_t e = 0; e < q->n; e++) {
    const __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    const __mmask16 sub = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(FLT_MIN), _CMP_LT_OQ);
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __m512 xd = _mm512_castsi512_ps(_mm512_mask_and_epi32(_mm512_castps_si512(x), sub, _mm512_castps_si512(x), sign));
    const __m512 imm = _mm512_set1_ps(q->imm[e]);
    const __m512 r = q->max[e] ? _mm512_max_ps(xd, imm) : _mm512_min_ps(xd, imm); /* xd > imm ? xd : imm */
    x = _mm512_mask_mov_ps(r, nan, x);
  }
  return x;
}

/* The built-in AVX-512 GEMM: C[i][j] := Acc[i][j] + sum over k < K of A[i][k] * B[k][j]
 * for i < M, j < N (Acc row i at ac + i*ldac, all 0 when ac is NULL; it may be C itself),
 * each output one chain of fused multiply-adds in k order starting from Acc's value, so
 * that its bits depend on neither M nor N, nor on how the rows are blocked or where they
 * are; then the clamps q, if any, before the store. A (row i at a + i*lda floats) and B (row k at b + k*ldb) are read where they are:
 * nothing is packed (OpenBLAS packs both operands on every call: for the narrow products
 * of a convolution that copying costs more than the arithmetic), nothing allocated. A tile
 * of MR <= 6 rows by NV <= 4 vectors of 16 columns (the last one masked) keeps its sums in
 * registers over the whole of K: per k, NV loads of B and MR broadcasts of A feed MR*NV
 * FMAs. gcc keeps named registers in registers where it spills an array of them, hence the
 * macros. */
#define GK_MASK(v) (NV - 1 == (v) ? ml : (__mmask16)0xffff)
#define GK_ROW(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3)
#define GK_ALL(X) GK_ROW(X, 0) GK_ROW(X, 1) GK_ROW(X, 2) GK_ROW(X, 3) GK_ROW(X, 4) GK_ROW(X, 5)
#define GK_DECL(r, v) __m512 c##r##v = _mm512_setzero_ps();
#define GK_LOAD(r, v) if (MR > r && NV > v) c##r##v = _mm512_maskz_loadu_ps(GK_MASK(v), ac + r * ldac + 16 * v);
#define GK_CLAMP(r, v) if (MR > r && NV > v) c##r##v = clamp16(c##r##v, q);
#define GK_STORE(r, v) if (MR > r && NV > v) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, GK_MASK(v), c##r##v);
#define GK_B(v) const __m512 b##v = NV > v ? _mm512_maskz_loadu_ps(GK_MASK(v), b + 16 * v) : _mm512_setzero_ps();
#define GK_FMA(r, v) if (MR > r && NV > v) c##r##v = _mm512_fmadd_ps(a##r, b##v, c##r##v);
#define GK_A(r) const __m512 a##r = MR > r ? _mm512_set1_ps(a[r * lda]) : _mm512_setzero_ps();

/* rows of B a tile prefetches as it goes, one per k for its first n k: nv vectors at
 * p + k*stride */
typedef struct gk_pf {
  const float *p;
  int64_t stride;
  uint32_t n, nv;
} gk_pf;

static inline __attribute__((always_inline)) void gk_tile(const int MR, const int NV, __mmask16 ml, uint32_t K,
                                                          const float *a, int64_t lda, const float *b, int64_t ldb,
                                                          float *c, int64_t ldc, const float *ac, int64_t ldac,
                                                          const k_clamp *q, const gk_pf *pf) {
  GK_ALL(GK_DECL)
  if (ac) {
    GK_ALL(GK_LOAD)
  }
  for (uint32_t k = 0; k < K; k++, a++, b += ldb) {
    if (k < pf->n)
      for (uint32_t v = 0; v < 4; v++)
        if (v < pf->nv) _mm_prefetch((const char *)(pf->p + (int64_t)k * pf->stride + 16 * v), _MM_HINT_T0);
    GK_B(0) GK_B(1) GK_B(2) GK_B(3)
    GK_A(0) GK_A(1) GK_A(2) GK_A(3) GK_A(4) GK_A(5)
    GK_ALL(GK_FMA)
  }
  if (q) {
    GK_ALL(GK_CLAMP)
  }
  GK_ALL(GK_STORE)
}

typedef void (*gk_fn)(__mmask16, uint32_t, const float *, int64_t, const float *, int64_t, float *, int64_t,
                      const float *, int64_t, const k_clamp *, const gk_pf *);
#define GK_FN(MR, NV)                                                                                          \
  static void gk_##MR##_##NV(__mmask16 ml, uint32_t K, const float *a, int64_t lda, const float *b, int64_t ldb, \
                             float *c, int64_t ldc, const float *ac, int64_t ldac, const k_clamp *q,            \
                             const gk_pf *pf) {                                                                \
    gk_tile(MR, NV, ml, K, a, lda, b, ldb, c, ldc, ac, ldac, q, pf);                                           \
  }
#define GK_FNS(MR) GK_FN(MR, 1) GK_FN(MR, 2) GK_FN(MR, 3) GK_FN(MR, 4)
GK_FNS(1) GK_FNS(2) GK_FNS(3) GK_FNS(4) GK_FNS(5) GK_FNS(6)
#define GK_TAB(MR) {gk_##MR##_1, gk_##MR##_2, gk_##MR##_3, gk_##MR##_4}
static const gk_fn gk_tab[6][4] = {GK_TAB(1), GK_TAB(2), GK_TAB(3), GK_TAB(4), GK_TAB(5), GK_TAB(6)};

/* Column panels of 64 outside, tiles of at most 6 rows inside (as even as they go: 49 rows
 * are 4 tiles of 6 and 5 of 5, not 8 of 6 and one of 1): a panel of B (K x 64 floats) stays
 * in cache while the block's rows go through it. B is a plane of weights, usually read from
 * memory for the first time by this product; its rows are strided (a row of the weight
 * matrix is wider than the plane), which the hardware prefetchers follow poorly across
 * pages. So the tiles prefetch: the first tile of the first panel its own rows 16 ahead,
 * and every other tile of a panel an even share of the next panel's rows, so that the next
 * panel comes in while this one computes. */
static void gk_gemm(uint32_t M, uint32_t N, uint32_t K, const float *a, int64_t lda, const float *b, int64_t ldb,
                    float *c, int64_t ldc, const float *ac, int64_t ldac, const k_clamp *q) {
  const uint32_t T = (M + 5) / 6, ahead = 16;
  for (uint32_t j0 = 0; j0 < N; j0 += 64) {
    const uint32_t nj = N - j0 < 64 ? N - j0 : 64, nv = (nj + 15) / 16, last = nj - (nv - 1) * 16;
    const __mmask16 ml = last == 16 ? (__mmask16)0xffff : (__mmask16)((1u << last) - 1);
    const uint32_t jn = j0 + 64, nvn = jn < N ? (N - jn < 64 ? (N - jn + 15) / 16 : 4) : 0;
    uint32_t i0 = 0;
    for (uint32_t t = 0; t < T; t++) {
      const uint32_t mr = (M - i0 + (T - t) - 1) / (T - t);
      gk_pf pf = {b, 0, 0, 0};
      if (j0 == 0 && t == 0) {
        if (K > ahead) pf = (gk_pf){b + ahead * ldb, ldb, K - ahead, nv};
      } else if (nvn) { /* rows tt, tt + TT, ... of the next panel */
        const uint32_t tt = j0 == 0 ? t - 1 : t, TT = j0 == 0 ? T - 1 : T;
        if (tt < K) pf = (gk_pf){b + jn + (int64_t)tt * ldb, (int64_t)TT * ldb, (K - tt + TT - 1) / TT, nvn};
      }
      gk_tab[mr - 1][nv - 1](ml, K, a + (int64_t)i0 * lda, lda, b + j0, ldb, c + (int64_t)i0 * ldc + j0, ldc,
                             ac ? ac + (int64_t)i0 * ldac + j0 : NULL, ldac, q, &pf);
      i0 += mr;
    }
  }
}
#endif

/* Rows [v0, v1) of one block into C (row i at C + i*ldc floats): C := acc (or 0) for the first
 * N lanes, then += x W; lanes [N, zero_to) := 0. With q (maxs/mins by numbers, an MM's
 * activation), the AVX-512 GEMM applies them to the N lanes before it stores them: returns
 * 1 when it did (0: the caller applies them). */
static int mm_block_rows(const k_ctx *c, const ls_insn *in, const k_src src[3], float *C, uint64_t ldc,
                         uint32_t zero_to, uint32_t v0, uint32_t v1, const k_clamp *q) {
  const plane_hdr h = plane_of(c, in->aux);
  const uint32_t K = h.rows, N = in->imm ? (uint32_t)in->imm : L;
  const int has_acc = in->b != LS_NO_STREAM;
  const uint32_t M = v1 - v0;
  if (M == 0) return 1;
  C += (size_t)v0 * ldc;
#if defined(__AVX512F__)
  /* the accumulator goes straight into the sums' registers (no copy into C first). Every
   * block of an MM of more than 4 rows, however few rows it has (a thread's share may end in
   * a short one): the path, and so the bits, depend on the instruction alone */
  if (in->n > 4 && src[0].stride % 4 == 0 && (!has_acc || src[1].stride % 4 == 0)) {
    if (zero_to > N)
      for (uint32_t i = 0; i < M; i++) memset(C + (size_t)i * ldc + N, 0, (size_t)(zero_to - N) * 4);
    gk_gemm(M, N, K, (const float *)vec_in(&src[0], v0), src[0].stride / 4, h.w, (int64_t)h.ld, C, (int64_t)ldc,
            has_acc ? (const float *)vec_in(&src[1], v0) : NULL, src[1].stride / 4, q);
    return q != NULL;
  }
#else
  (void)q;
#endif
  for (uint32_t i = 0; i < M; i++) { /* C := acc, so the product adds to it */
    float *row = C + (size_t)i * ldc;
    const uint8_t *a = has_acc ? vec_in(&src[1], v0 + i) : NULL;
    if (!a) memset(row, 0, (size_t)N * 4);
    else if (a != (const uint8_t *)row) memcpy(row, a, (size_t)N * 4); /* (in place: already there) */
    if (zero_to > N) memset(row + N, 0, (size_t)(zero_to - N) * 4);
  }
#if LS_HAVE_OPENBLAS && !defined(__AVX512F__)
  const int64_t lda = src[0].stride / 4;
  /* a few rows go to the reference loop below, which does not pack the plane (BLAS's
   * matrix-vector product would not do: its rounding depends on the matrix's layout, which
   * differs between the modes) */
  if (M > 4 && src[0].stride > 0 && src[0].stride % 4 == 0 && lda >= (int64_t)K && lda <= INT32_MAX) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f,
                (const float *)vec_in(&src[0], v0), (int)lda, h.w, (int)h.ld, 1.0f, C, (int)ldc);
    return 0;
  }
#endif
  /* reference order: each output sums its products in k order, then adds to acc */
  for (uint32_t i = 0; i < M; i++) {
    const float *x = (const float *)vec_in(&src[0], v0 + i);
    float *row = C + (size_t)i * ldc;
    float sum[256];
    for (uint32_t j0 = 0; j0 < N; j0 += 256) {
      uint32_t nj = N - j0 < 256 ? N - j0 : 256;
      memset(sum, 0, sizeof sum);
      for (uint32_t k = 0; k < K; k++) {
        const float xk = x[k], *w = h.w + (size_t)k * h.ld + j0;
        for (uint32_t j = 0; j < nj; j++) sum[j] += xk * w[j];
      }
      for (uint32_t j = 0; j < nj; j++) row[j0 + j] += sum[j];
    }
  }
  return 0;
}

static void mm_rows(const k_ctx *c, const ls_insn *in, const k_src src[3], uint8_t *out, uint32_t v0, uint32_t v1) {
  const uint32_t b = mm_block(c->t, in);
  for (uint32_t r = v0; r < v1; r += b) mm_block_rows(c, in, src, (float *)out, L, L, r, r + b < v1 ? r + b : v1, NULL);
}

int k_clamp_add(k_clamp *q, const ls_insn *in) {
  const float imm = (float)imm_f64(in->imm);
  if ((in->op != LS_OP_MAXS && in->op != LS_OP_MINS) || in->t0 != LS_F32 || imm != imm || q->n >= 4) return 0;
  q->max[q->n] = in->op == LS_OP_MAXS, q->imm[q->n++] = imm;
  return 1;
}

#if defined(__AVX512F__)
/* the activations d->ops of rows [r, r1) of C in one pass, where they are all maxs/mins by
 * a number (a ReLU6): returns 0 for any others */
static int clamp_rows(const k_dst *d, float *C, uint64_t ldc, uint32_t r, uint32_t r1) {
  k_clamp q = {0};
  for (int e = 0; e < d->n; e++)
    if (!k_clamp_add(&q, d->ops[e])) return 0;
  for (uint32_t i = r; i < r1; i++) {
    float *row = C + (size_t)i * ldc;
    for (uint32_t l0 = 0; l0 < d->lanes; l0 += 16) {
      const __mmask16 mk = d->lanes - l0 >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (d->lanes - l0)) - 1);
      _mm512_mask_storeu_ps(row + l0, mk, clamp16(_mm512_maskz_loadu_ps(mk, row + l0), &q));
    }
  }
  return 1;
}
#endif

/* the planner guarantees d->lanes >= the MM's columns: the GEMM has the same shape as in
 * checked mode, so the same rounding */
void k_mm_to(const k_ctx *c, const ls_insn *in, const k_src src[3], const k_dst *d, uint32_t v0, uint32_t v1) {
  const uint32_t b = mm_block(c->t, in);
  float *C = (float *)d->p;
  const uint64_t ldc = (uint64_t)d->stride / 4;
  /* an activation of maxs/mins by numbers over just the MM's columns: in the GEMM's registers */
  k_clamp q = {0};
  int in_regs = d->n > 0 && d->lanes == (in->imm ? (uint32_t)in->imm : L);
  for (int e = 0; e < d->n && in_regs; e++) in_regs = k_clamp_add(&q, d->ops[e]);
  for (uint32_t r = v0; r < v1; r += b) {
    const uint32_t r1 = r + b < v1 ? r + b : v1;
    if (mm_block_rows(c, in, src, C, ldc, d->lanes, r, r1, in_regs ? &q : NULL)) continue;
#if defined(__AVX512F__)
    if (d->n > 1 && clamp_rows(d, C, ldc, r, r1)) continue;
#endif
    for (int e = 0; e < d->n; e++) { /* the activation while the block is in cache */
      const ls_op op = (ls_op)d->ops[e]->op;
      if (ldc == d->lanes) { /* rows back to back: one pass */
        uint8_t *rows = (uint8_t *)(C + (size_t)r * ldc);
        ew_any(op, LS_F32, rows, rows, NULL, NULL, (size_t)(r1 - r) * ldc, d->ops[e]->imm);
        continue;
      }
      for (uint32_t i = r; i < r1; i++) {
        float *row = C + (size_t)i * ldc;
        ew_any(op, LS_F32, (uint8_t *)row, (const uint8_t *)row, NULL, NULL, d->lanes, d->ops[e]->imm);
      }
    }
  }
}

#if defined(__AVX2__)
static __m256i lanes_below(uint32_t k) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* w[a] lane b := r[b] lane a (bits moved, never computed on) */
static void transpose8(const __m256 r[8], __m256 w[8]) {
  __m256 u[8], v[8];
  for (int k = 0; k < 8; k += 2) u[k] = _mm256_unpacklo_ps(r[k], r[k + 1]), u[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
  for (int k = 0; k < 8; k += 4) {
    v[k] = _mm256_shuffle_ps(u[k], u[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
    v[k + 1] = _mm256_shuffle_ps(u[k], u[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
    v[k + 2] = _mm256_shuffle_ps(u[k + 1], u[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
    v[k + 3] = _mm256_shuffle_ps(u[k + 1], u[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int k = 0; k < 4; k++) w[k] = _mm256_permute2f128_ps(v[k], v[k + 4], 0x20), w[k + 4] = _mm256_permute2f128_ps(v[k], v[k + 4], 0x31);
}

/* 8 rows of 8 consecutive (ia 1) or every other (ia 2) elements, transposed in registers:
 * o[a*oa + b] = t[a*ia + b*ib] for a, b < 8 */
static void tile8(uint32_t *o, int64_t oa, const uint32_t *t, int64_t ia, int64_t ib) {
  __m256 r[8], w[8];
  for (int b = 0; b < 8; b++) {
    const float *q = (const float *)(t + b * ib);
    if (ia == 1) {
      r[b] = _mm256_loadu_ps(q);
    } else {
      __m256 ev = _mm256_shuffle_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(q + 8), _MM_SHUFFLE(2, 0, 2, 0));
      r[b] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
    }
  }
  transpose8(r, w);
  for (int a = 0; a < 8; a++) _mm256_storeu_ps((float *)(o + a * oa), w[a]);
}

/* the same for the first va rows and vb columns only (ia 1): nothing else read or written */
static void tile8_part(uint32_t *o, int64_t oa, const uint32_t *t, int64_t ib, uint32_t va, uint32_t vb) {
  __m256 r[8], w[8];
  const __m256i ma = lanes_below(va), mb = lanes_below(vb);
  for (uint32_t b = 0; b < 8; b++) r[b] = b < vb ? _mm256_maskload_ps((const float *)(t + b * ib), ma) : _mm256_setzero_ps();
  transpose8(r, w);
  for (uint32_t a = 0; a < va; a++) _mm256_maskstore_ps((float *)(o + a * oa), mb, w[a]);
}
#endif

/* rows [a0, a1) x columns [b0, b1) of copy2d, element by element */
static void copy_rect(uint8_t *out, int64_t oa, const uint8_t *tab, int64_t ia, int64_t ib, uint64_t a0, uint64_t a1,
                      uint64_t b0, uint64_t b1, size_t sz) {
  for (uint64_t a = a0; a < a1; a++) {
    if (sz == 4) {
      uint32_t *o = (uint32_t *)out + (int64_t)a * oa;
      const uint32_t *t = (const uint32_t *)tab + (int64_t)a * ia;
      for (uint64_t b = b0; b < b1; b++) o[b] = t[(int64_t)b * ib];
    } else {
      for (uint64_t b = b0; b < b1; b++)
        memcpy(out + ((int64_t)a * oa + (int64_t)b) * (int64_t)sz, tab + ((int64_t)a * ia + (int64_t)b * ib) * (int64_t)sz, sz);
    }
  }
}

/* out[a*oa + b] = tab[a*ia + b*ib] for a < na, b < nb (element counts); a transpose (ia 1
 * or 2) in 8 x 8 tiles, so that it reads and writes whole cache lines */
#if defined(__AVX512F__)
/* rows [0, na / 16 * 16) of a [3][na] -> [na][3] transpose, 3 table rows ib apart (an RGB
 * image made channels-last): 16 elements of each row, interleaved by two permutes per 16
 * outputs. Returns the rows done. */
static uint64_t interleave3(float *o, const float *t, int64_t ib, uint64_t na) {
  int32_t rg[3][16], bi[3][16];
  __mmask16 mb[3] = {0, 0, 0};
  for (int k = 0; k < 3; k++)
    for (int j = 0; j < 16; j++) {
      const int e = 16 * k + j, px = e / 3, ch = e % 3;
      rg[k][j] = ch == 1 ? 16 + px : px, bi[k][j] = px;
      if (ch == 2) mb[k] |= (__mmask16)(1u << j);
    }
  __m512i irg[3], ib3[3];
  for (int k = 0; k < 3; k++) irg[k] = _mm512_loadu_si512(rg[k]), ib3[k] = _mm512_loadu_si512(bi[k]);
  uint64_t a = 0;
  for (; a + 16 <= na; a += 16) {
    const __m512 r = _mm512_loadu_ps(t + a), g = _mm512_loadu_ps(t + ib + a), b = _mm512_loadu_ps(t + 2 * ib + a);
    for (int k = 0; k < 3; k++)
      _mm512_storeu_ps(o + 3 * a + 16 * k,
                       _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(r, irg[k], g), mb[k], ib3[k], b));
  }
  return a;
}
#endif

static void copy2d(uint8_t *out, int64_t oa, const uint8_t *tab, int64_t ia, int64_t ib, uint64_t na, uint64_t nb,
                   size_t sz) {
  if (ib == 1 && !(sz == 4 && nb <= 16)) { /* (short rows: no library call) */
    for (uint64_t a = 0; a < na; a++) memcpy(out + (int64_t)a * oa * (int64_t)sz, tab + (int64_t)a * ia * (int64_t)sz, nb * sz);
    return;
  }
#if defined(__AVX512F__)
  if (sz == 4 && ia == 1 && nb == 3 && oa == 3) {
    const uint64_t done = interleave3((float *)out, (const float *)tab, ib, na);
    copy_rect(out, oa, tab, ia, ib, done, na, 0, nb, sz);
    return;
  }
#endif
  uint64_t ta = 0, tb = 0; /* [0, ta) x [0, tb) done in tiles */
#if defined(__AVX2__)
  if (sz == 4 && (ia == 1 || ia == 2) && na >= 8 && nb >= 1) {
    ta = (ia == 1 ? na : na - 1) / 8 * 8, tb = nb / 8 * 8; /* (ia 2 loads one element past a tile) */
    uint32_t *o = (uint32_t *)out;
    const uint32_t *t = (const uint32_t *)tab;
    for (uint64_t a0 = 0; a0 < ta; a0 += 8) {
      for (uint64_t b0 = 0; b0 < tb; b0 += 8) tile8(o + (int64_t)a0 * oa + (int64_t)b0, oa, t + (int64_t)a0 * ia + (int64_t)b0 * ib, ia, ib);
      if (tb < nb && ia == 1) /* the last columns */
        tile8_part(o + (int64_t)a0 * oa + (int64_t)tb, oa, t + (int64_t)a0 + (int64_t)tb * ib, ib, 8, (uint32_t)(nb - tb));
    }
    if (ia == 1) {
      if (tb < nb) tb = nb;
      for (uint64_t b0 = 0; ta < na && b0 < nb; b0 += 8) /* the last rows */
        tile8_part(o + (int64_t)ta * oa + (int64_t)b0, oa, t + (int64_t)ta + (int64_t)b0 * ib, ib, (uint32_t)(na - ta),
                   (uint32_t)(nb - b0 < 8 ? nb - b0 : 8));
      ta = na;
    }
  }
#endif
  copy_rect(out, oa, tab, ia, ib, 0, ta, tb, nb, sz);
  copy_rect(out, oa, tab, ia, ib, ta, na, 0, nb, sz);
}

static void copy_rep(const rt_rep *R, const uint8_t *tab, uint8_t *out, uint64_t e0, uint64_t e1, size_t sz) {
  const uint64_t row = R->len, block = row * R->n1, end = R->dst + block * R->n2;
  if (R->dst >= e0 && end <= e1) {
    uint8_t *o = out + (uint64_t)R->dst * sz;
    const uint8_t *t = tab + (int64_t)R->src * (int64_t)sz;
    if (R->n2 > 1 && (R->s2 < 0 ? -(int64_t)R->s2 : R->s2) < (R->s1 < 0 ? -(int64_t)R->s1 : R->s1)) {
      /* the blocks are closer together in the table: tile across blocks */
      for (uint32_t i = 0; i < R->n1; i++)
        copy2d(o + i * row * sz, (int64_t)block, t + (int64_t)i * R->s1 * (int64_t)sz, R->s2, R->step, R->n2, row, sz);
    } else {
      for (uint32_t k = 0; k < R->n2; k++)
        copy2d(o + k * block * sz, (int64_t)row, t + (int64_t)k * R->s2 * (int64_t)sz, R->s1, R->step, R->n1, row, sz);
    }
    return;
  }
  /* cut by a thread's share [e0, e1): its whole blocks as one smaller rep, the whole rows of
   * a cut block as a rep of one block, what is left of a cut row element by element */
  const uint64_t a = (R->dst > e0 ? R->dst : e0) - R->dst, b = (end < e1 ? end : e1) - R->dst; /* within the rep */
  if (a >= b) return;
  if (row == 0 || R->n1 == 0) return;
  const uint64_t k0 = (a + block - 1) / block, k1 = b / block; /* the whole blocks [k0, k1) */
  if (k0 < k1) {
    rt_rep w = *R;
    w.dst = (uint32_t)(R->dst + k0 * block), w.src = (uint32_t)((int64_t)R->src + (int64_t)k0 * R->s2), w.n2 = (uint32_t)(k1 - k0);
    copy_rep(&w, tab, out, w.dst, w.dst + block * w.n2, sz);
  }
  uint64_t cut[2][2] = {{a, k0 < k1 ? k0 * block : b}, {k0 < k1 ? k1 * block : b, b}}; /* the parts of cut blocks */
  if (k0 >= k1) cut[1][0] = cut[1][1] = b;
  for (int h = 0; h < 2; h++) {
    uint64_t q0 = cut[h][0];
    const uint64_t q1 = cut[h][1];
    while (q0 < q1) { /* block by block (a part without whole blocks may span two) */
      const uint64_t k = q0 / block, kend = (k + 1) * block < q1 ? (k + 1) * block : q1;
      const uint64_t i0 = (q0 - k * block + row - 1) / row, i1 = (kend - k * block) / row; /* its whole rows */
      const int64_t sk = (int64_t)R->src + (int64_t)k * R->s2;
      if (i0 < i1) {
        rt_rep w = *R;
        w.dst = (uint32_t)(R->dst + k * block + i0 * row), w.src = (uint32_t)(sk + (int64_t)i0 * R->s1);
        w.n1 = (uint32_t)(i1 - i0), w.n2 = 1;
        copy_rep(&w, tab, out, w.dst, w.dst + row * w.n1, sz);
      }
      const uint64_t whole0 = i0 < i1 ? k * block + i0 * row : kend, whole1 = i0 < i1 ? k * block + i1 * row : kend;
      for (uint64_t q = q0; q < kend; q++) { /* the cut rows' elements */
        if (q == whole0) q = whole1;
        if (q >= kend) break;
        const uint64_t i = (q - k * block) / row, j = (q - k * block) % row;
        memcpy(out + (R->dst + q) * sz, tab + (sk + (int64_t)i * R->s1 + (int64_t)j * R->step) * (int64_t)sz, sz);
      }
      q0 = kend;
    }
  }
}

#if defined(__AVX512F__)
/* A run of at most 16 f32-sized elements, zero or read with a small positive step, by one
 * masked load and store (runs of an im2col or a pooling window on a small image are mostly
 * this short: a loop per run costs more than its copy). Returns 0 for any other run. */
static inline int short_run16(uint8_t *out, const uint8_t *tab, size_t sz, uint64_t d, uint64_t n, uint32_t src, int64_t s0,
                              int64_t step) {
  if (sz != 4 || n > 16) return 0;
  const __mmask16 m = (__mmask16)((1u << n) - 1);
  float *o = (float *)(out + d * 4);
  if (src == RT_NONE) {
    _mm512_mask_storeu_ps(o, m, _mm512_setzero_ps());
  } else if (step == 1) {
    _mm512_mask_storeu_ps(o, m, _mm512_maskz_loadu_ps(m, (const float *)tab + s0));
  } else if (step > 1 && (n - 1) * (uint64_t)step < 16) {
    const __mmask16 span = (__mmask16)((1u << ((n - 1) * step + 1)) - 1);
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)step));
    const __m512 v = _mm512_maskz_loadu_ps(span, (const float *)tab + s0);
    _mm512_mask_storeu_ps(o, m, _mm512_permutexvar_ps(idx, v));
  } else {
    return 0;
  }
  return 1;
}

/* o[j] = t[2j] for j < n, 16 at a time from two loads, the even lanes picked; masked loads
 * and stores at the end, so nothing past t[2(n-1)] is read */
static void every_other(uint8_t *out, const uint8_t *tab, uint64_t n) {
  float *o = (float *)out;
  const float *t = (const float *)tab;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  uint64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 a = _mm512_loadu_ps(t + 2 * j), b = _mm512_maskz_loadu_ps(0x7fff, t + 2 * j + 16);
    _mm512_storeu_ps(o + j, _mm512_permutex2var_ps(a, even, b));
  }
  if (j < n) {
    const uint64_t span = 2 * (n - j) - 1; /* elements read: 1 to 31 */
    const __mmask16 ma = (__mmask16)(span >= 16 ? 0xffff : (1u << span) - 1);
    const __mmask16 mb = (__mmask16)(span > 16 ? (1u << (span - 16)) - 1 : 0);
    const __m512 a = _mm512_maskz_loadu_ps(ma, t + 2 * j), b = _mm512_maskz_loadu_ps(mb, t + 2 * j + 16);
    _mm512_mask_storeu_ps(o + j, (__mmask16)((1u << (n - j)) - 1), _mm512_permutex2var_ps(a, even, b));
  }
}
#endif

void k_gather_runs(const k_ctx *c, const ls_insn *in, const rt_run *runs, uint32_t nruns, const rt_rep *reps, uint32_t nreps,
                   uint8_t *out, uint32_t v0, uint32_t v1) {
  k_gather_elems(c, in, runs, nruns, reps, nreps, out, (uint64_t)v0 * L, (uint64_t)v1 * L);
}

void k_gather_elems(const k_ctx *c, const ls_insn *in, const rt_run *runs, uint32_t nruns, const rt_rep *reps,
                    uint32_t nreps, uint8_t *out, uint64_t e0, uint64_t e1) {
  const size_t sz = ls_dtype_size((ls_dtype)in->t0);
  const uint8_t *tab = c->sram + in->addr;
  for (uint32_t r = 0; r < nreps; r++) /* (few) */
    if (reps[r].dst < e1 && reps[r].dst + (uint64_t)reps[r].len * reps[r].n1 * reps[r].n2 > e0) copy_rep(&reps[r], tab, out, e0, e1, sz);
  uint32_t lo = 0, hi = nruns; /* the first run ending after e0 */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if ((uint64_t)runs[mid].dst + runs[mid].len <= e0) lo = mid + 1;
    else hi = mid;
  }
  for (uint32_t r = lo; r < nruns && runs[r].dst < e1; r++) {
    uint64_t d = runs[r].dst, n = runs[r].len;
    int64_t s0 = runs[r].src, step = runs[r].step;
    if (d < e0) n -= e0 - d, s0 += (int64_t)(e0 - d) * step, d = e0;
    if (d + n > e1) n = e1 - d;
#if defined(__AVX512F__)
    if (short_run16(out, tab, sz, d, n, runs[r].src, s0, step)) continue;
    if (sz == 4 && step == 2 && runs[r].src != RT_NONE) { /* every other element (a stride-2 window) */
      every_other(out + d * 4, tab + s0 * 4, n);
      continue;
    }
#endif
    const int short_run = sz == 4 && n <= 16; /* (small images): no library call */
    if (runs[r].src == RT_NONE && short_run) {
      for (uint64_t j = 0; j < n; j++) ((uint32_t *)(out + d * 4))[j] = 0;
    } else if (runs[r].src == RT_NONE) {
      memset(out + d * sz, 0, n * sz);
    } else if (step == 1 && !short_run) {
      memcpy(out + d * sz, tab + s0 * (int64_t)sz, n * sz);
    } else if (sz == 4) {
      uint32_t *o = (uint32_t *)(out + d * 4);
      const uint32_t *t = (const uint32_t *)tab + s0;
      for (uint64_t j = 0; j < n; j++) o[j] = t[(int64_t)j * step];
    } else {
      for (uint64_t j = 0; j < n; j++) memcpy(out + (d + j) * sz, tab + (s0 + (int64_t)j * step) * (int64_t)sz, sz);
    }
  }
}

/* ---- chains of products ------------------------------------------------------------------- */

/* lanes [l0, l0 + w) of vector v, w <= 16: the same fmaf and product as ew_f's mac and mul */
static inline void mac_lanes(uint32_t m, const k_src *a, const k_src *b, const k_src *c0, float *o, uint32_t v, uint32_t l0,
                             uint32_t w) {
  float acc[16];
  const float *x = (const float *)vec_in(&a[0], v) + l0, *y = (const float *)vec_in(&b[0], v) + l0;
  if (c0) {
    const float *z = (const float *)vec_in(c0, v) + l0;
    for (uint32_t j = 0; j < w; j++) acc[j] = fmaf(x[j], y[j], z[j]);
  } else {
    for (uint32_t j = 0; j < w; j++) acc[j] = x[j] * y[j];
  }
  for (uint32_t k = 1; k < m; k++) {
    x = (const float *)vec_in(&a[k], v) + l0, y = (const float *)vec_in(&b[k], v) + l0;
    for (uint32_t j = 0; j < w; j++) acc[j] = fmaf(x[j], y[j], acc[j]);
  }
  for (uint32_t j = 0; j < w; j++) o[l0 + j] = acc[j];
}

#if defined(__AVX512F__)
/* 16 lanes (those of mask mk from l0) of nb vectors, the m tap weights constant over the
 * vectors (every b has stride 0, as a depthwise convolution's) and held in registers: one
 * load per product instead of two, four vectors' sums at once so that the FMAs' latency
 * overlaps. Every tap's input has the same stride s (ap[k]: its vector 0 at lane l0); the
 * accumulator's (cp, or NULL) has stride cs (0 for a bias). m is a constant where it is
 * inlined (3, 9, 25 taps), so the weights stay in registers. The same products in the same
 * order as mac_lanes; then the clamps of q, and vector v stored at out + v * os. */
static inline __attribute__((always_inline)) void mac_w16(const uint32_t m, const uint8_t *const *ap, const k_src *b,
                                                          const uint8_t *cp, int64_t cs, int64_t s, const k_clamp *q,
                                                          uint8_t *out, int64_t os, uint32_t nb, uint32_t l0,
                                                          __mmask16 mk) {
  __m512 w[RT_CHAIN_MACS];
  for (uint32_t k = 0; k < m; k++) w[k] = _mm512_maskz_loadu_ps(mk, (const float *)b[k].p + l0);
  out += l0 * 4;
  uint32_t v = 0;
  for (; v + 4 <= nb; v += 4) {
    const int64_t o0 = (int64_t)v * s, o1 = o0 + s, o2 = o1 + s, o3 = o2 + s;
    const int64_t c0o = (int64_t)v * cs, c1o = c0o + cs, c2o = c1o + cs, c3o = c2o + cs;
#define MAC_LD(base, o) _mm512_maskz_loadu_ps(mk, (const float *)((base) + (o)))
    __m512 a0 = MAC_LD(ap[0], o0), a1 = MAC_LD(ap[0], o1), a2 = MAC_LD(ap[0], o2), a3 = MAC_LD(ap[0], o3);
    if (cp) {
      a0 = _mm512_fmadd_ps(a0, w[0], MAC_LD(cp, c0o)), a1 = _mm512_fmadd_ps(a1, w[0], MAC_LD(cp, c1o));
      a2 = _mm512_fmadd_ps(a2, w[0], MAC_LD(cp, c2o)), a3 = _mm512_fmadd_ps(a3, w[0], MAC_LD(cp, c3o));
    } else {
      a0 = _mm512_mul_ps(a0, w[0]), a1 = _mm512_mul_ps(a1, w[0]), a2 = _mm512_mul_ps(a2, w[0]), a3 = _mm512_mul_ps(a3, w[0]);
    }
    for (uint32_t k = 1; k < m; k++) {
      const uint8_t *x = ap[k];
      a0 = _mm512_fmadd_ps(MAC_LD(x, o0), w[k], a0), a1 = _mm512_fmadd_ps(MAC_LD(x, o1), w[k], a1);
      a2 = _mm512_fmadd_ps(MAC_LD(x, o2), w[k], a2), a3 = _mm512_fmadd_ps(MAC_LD(x, o3), w[k], a3);
    }
    if (q->n) a0 = clamp16(a0, q), a1 = clamp16(a1, q), a2 = clamp16(a2, q), a3 = clamp16(a3, q);
    uint8_t *d = out + (int64_t)v * os;
    _mm512_mask_storeu_ps((float *)d, mk, a0), _mm512_mask_storeu_ps((float *)(d + os), mk, a1);
    _mm512_mask_storeu_ps((float *)(d + 2 * os), mk, a2), _mm512_mask_storeu_ps((float *)(d + 3 * os), mk, a3);
  }
  if (v + 2 <= nb) { /* two more at once, for the same reason */
    const int64_t o0 = (int64_t)v * s, o1 = o0 + s, c0o = (int64_t)v * cs, c1o = c0o + cs;
    __m512 a0 = MAC_LD(ap[0], o0), a1 = MAC_LD(ap[0], o1);
    if (cp) a0 = _mm512_fmadd_ps(a0, w[0], MAC_LD(cp, c0o)), a1 = _mm512_fmadd_ps(a1, w[0], MAC_LD(cp, c1o));
    else a0 = _mm512_mul_ps(a0, w[0]), a1 = _mm512_mul_ps(a1, w[0]);
    for (uint32_t k = 1; k < m; k++)
      a0 = _mm512_fmadd_ps(MAC_LD(ap[k], o0), w[k], a0), a1 = _mm512_fmadd_ps(MAC_LD(ap[k], o1), w[k], a1);
    if (q->n) a0 = clamp16(a0, q), a1 = clamp16(a1, q);
    uint8_t *d = out + (int64_t)v * os;
    _mm512_mask_storeu_ps((float *)d, mk, a0), _mm512_mask_storeu_ps((float *)(d + os), mk, a1);
    v += 2;
  }
  for (; v < nb; v++) {
    const int64_t o = (int64_t)v * s;
    __m512 acc = MAC_LD(ap[0], o);
    acc = cp ? _mm512_fmadd_ps(acc, w[0], MAC_LD(cp, (int64_t)v * cs)) : _mm512_mul_ps(acc, w[0]);
    for (uint32_t k = 1; k < m; k++) acc = _mm512_fmadd_ps(MAC_LD(ap[k], o), w[k], acc);
    _mm512_mask_storeu_ps((float *)(out + (int64_t)v * os), mk, q->n ? clamp16(acc, q) : acc);
#undef MAC_LD
  }
}
#endif

int k_mac_chain_to(const k_ctx *c, uint32_t m, const k_src *a, const k_src *b, const k_src *c0, const k_clamp *q,
                   uint8_t *out, int64_t os, uint32_t nb) {
#if defined(__AVX512F__)
  const int64_t s = a[0].stride, cs = c0 ? c0->stride : 0;
  for (uint32_t k = 0; k < m; k++)
    if (b[k].stride || a[k].stride != s) return 0;
  /* 8 vectors at a time, all their lanes: what a block reads stays in the L1 cache while its
   * 16-lane columns pass (vectors a power of two apart share few of its sets) */
  for (uint32_t v0 = 0; v0 < nb; v0 += 8) {
    const uint32_t n8 = nb - v0 < 8 ? nb - v0 : 8;
    const int64_t o = (int64_t)v0 * s;
    for (uint32_t l0 = 0; l0 < L; l0 += 16) {
      const __mmask16 mk = L - l0 >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (L - l0)) - 1);
      const uint8_t *ap[RT_CHAIN_MACS], *cp = c0 ? c0->p + (int64_t)v0 * c0->stride + l0 * 4 : NULL;
      uint8_t *d = out + (int64_t)v0 * os;
      for (uint32_t k = 0; k < m; k++) ap[k] = a[k].p + o + l0 * 4;
      switch (m) {
      case 9: mac_w16(9, ap, b, cp, cs, s, q, d, os, n8, l0, mk); break;
      case 3: mac_w16(3, ap, b, cp, cs, s, q, d, os, n8, l0, mk); break;
      case 25: mac_w16(25, ap, b, cp, cs, s, q, d, os, n8, l0, mk); break;
      default: mac_w16(m, ap, b, cp, cs, s, q, d, os, n8, l0, mk); break;
      }
    }
  }
  return 1;
#else
  (void)c, (void)m, (void)a, (void)b, (void)c0, (void)q, (void)out, (void)os, (void)nb;
  return 0;
#endif
}

void k_mac_chain(const k_ctx *c, uint32_t m, const k_src *a, const k_src *b, const k_src *c0, uint8_t *out, uint32_t nb) {
  const k_clamp none = {0};
  if (k_mac_chain_to(c, m, a, b, c0, &none, out, (int64_t)L * 4, nb)) return;
  for (uint32_t v = 0; v < nb; v++) {
    float *o = (float *)out + (size_t)v * L;
    uint32_t l0 = 0;
    for (; l0 + 16 <= L; l0 += 16) mac_lanes(m, a, b, c0, o, v, l0, 16);
    if (l0 < L) mac_lanes(m, a, b, c0, o, v, l0, L - l0);
  }
}

/* ---- dispatch ------------------------------------------------------------------------------ */

uint32_t k_grain(const ls_target *t, const ls_insn *in) {
#if defined(__AVX512F__)
  (void)t, (void)in;
  return 1; /* the built-in GEMM's bits depend on neither the blocks nor where they start */
#else
  return in->op == LS_OP_MM ? mm_block(t, in) : 1;
#endif
}

int k_splittable(ls_op op) {
  switch (ls_ops[op].format) {
  case LS_FMT_READ:
  case LS_FMT_WRITE:
  case LS_FMT_GATHER:
  case LS_FMT_UN:
  case LS_FMT_BIN:
  case LS_FMT_TER:
  case LS_FMT_IMM:
  case LS_FMT_LANE:
  case LS_FMT_PERM:
  case LS_FMT_MM: return op != LS_OP_VSUM && op != LS_OP_VMAX && op != LS_OP_TRANSPOSE;
  default: return 0;
  }
}

void k_run(const k_ctx *c, const ls_insn *in, const k_src src[3], uint8_t *out, uint32_t v0, uint32_t v1) {
  const ls_op op = (ls_op)in->op;
  const ls_dtype t = (ls_dtype)in->t0;
  const size_t sz = ls_dtype_size(t), vb = (size_t)L * sz;
  switch (ls_ops[op].format) {
  case LS_FMT_NONE:
  case LS_FMT_IDLE:
  case LS_FMT_REPEAT: return;
  case LS_FMT_READ: {
    const uint32_t k = in->aux ? in->aux : L;
    uint8_t fill[8];
    if (k < L) {
      scalar s = {ls_dtype_class(t) == 'F' ? 'F' : 'I', imm_f64(in->imm), in->imm, (uint64_t)in->imm};
      store_elem(fill, t, s);
    }
    for (uint32_t i = v0; i < v1; i++) {
      memcpy(out + i * vb, c->sram + in->addr + (int64_t)i * in->stride, (size_t)k * sz);
      if (k == L) continue;
      if (i == v0 && sz == 4) { /* the first tail filled, the others copied from it */
        uint32_t f4, *d4 = (uint32_t *)(out + i * vb);
        memcpy(&f4, fill, 4);
        for (uint32_t l = k; l < L; l++) d4[l] = f4;
      } else if (i == v0)
        for (uint32_t l = k; l < L; l++) memcpy(out + i * vb + l * sz, fill, sz);
      else
        memcpy(out + i * vb + (size_t)k * sz, out + (size_t)v0 * vb + (size_t)k * sz, (size_t)(L - k) * sz);
    }
    return;
  }
  case LS_FMT_WRITE: {
    const size_t bytes = (size_t)(in->aux ? in->aux : L) * sz;
    for (uint32_t i = v0; i < v1; i++) memcpy(c->sram + in->addr + (int64_t)i * in->stride, vec_in(&src[0], i), bytes);
    return;
  }
  case LS_FMT_GATHER:
    if (sz == 4) { /* the common case, without per-element calls */
      const uint32_t *tab = (const uint32_t *)(c->sram + in->addr);
      const uint32_t size = in->aux;
      for (uint32_t i = v0; i < v1; i++) {
        const int32_t *ix = (const int32_t *)vec_in(&src[0], i);
        uint32_t *d = (uint32_t *)(out + i * vb);
        for (uint32_t l = 0; l < L; l++) {
          uint32_t k = (uint32_t)ix[l]; /* negative indices wrap to huge: out of range */
          d[l] = k < size ? tab[k] : 0;
        }
      }
      return;
    }
    for (uint32_t i = v0; i < v1; i++)
      for (uint32_t l = 0; l < L; l++) {
        int64_t ix = idx_at(&src[0], i, l);
        uint8_t *d = out + i * vb + l * sz;
        if (ix >= 0 && ix < (int64_t)in->aux) memcpy(d, c->sram + in->addr + (size_t)ix * sz, sz);
        else memset(d, 0, sz);
      }
    return;
  case LS_FMT_SCATTER:
    for (uint32_t i = 0; i < in->n; i++)
      for (uint32_t l = 0; l < L; l++) {
        int64_t ix = idx_at(&src[1], i, l);
        if (ix >= 0 && ix < (int64_t)in->aux) memcpy(c->sram + in->addr + (size_t)ix * sz, vec_in(&src[0], i) + l * sz, sz);
      }
    return;
  case LS_FMT_UN:
    if (op == LS_OP_VSUM || op == LS_OP_VMAX) { vec_reduce(c, in, &src[0], out); return; }
    if (op == LS_OP_LSUM || op == LS_OP_LMAX) { lane_reduce(c, in, &src[0], out, v0, v1); return; }
    if (op == LS_OP_TRANSPOSE) { transpose(c, in, &src[0], out); return; }
    if (op == LS_OP_MOV) {
      for (uint32_t i = v0; i < v1; i++) memcpy(out + i * vb, vec_in(&src[0], i), vb);
      return;
    }
    if (op == LS_OP_CVT) {
      const ls_dtype t1 = (ls_dtype)in->t1;
      const size_t sz1 = ls_dtype_size(t1), vb1 = (size_t)L * sz1;
      for (uint32_t i = v0; i < v1; i++) {
        const uint8_t *x = vec_in(&src[0], i);
        uint8_t *d = out + i * vb1;
        if (t == LS_F32 && t1 == LS_F32)
          for (uint32_t l = 0; l < L; l++) ((float *)d)[l] = daz_f(((const float *)x)[l]);
        else if (t == LS_F64 && t1 == LS_F64)
          for (uint32_t l = 0; l < L; l++) ((double *)d)[l] = daz_(((const double *)x)[l]);
        else
          for (uint32_t l = 0; l < L; l++) store_elem(d + l * sz1, t1, load_elem(x + l * sz, t));
      }
      return;
    }
    for (uint32_t i = v0; i < v1; i++) ew_any(op, t, out + i * vb, vec_in(&src[0], i), NULL, NULL, L, 0);
    return;
  case LS_FMT_BIN:
    if (ls_insn_out_dtype(in) == LS_BOOL && t != LS_BOOL) {
      for (uint32_t i = v0; i < v1; i++) cmp_any(op, t, out + i * (size_t)L, vec_in(&src[0], i), vec_in(&src[1], i), L);
      return;
    }
    if (op == LS_OP_EQ || op == LS_OP_NE) { /* bool == bool */
      for (uint32_t i = v0; i < v1; i++) {
        const uint8_t *x = vec_in(&src[0], i), *y = vec_in(&src[1], i);
        for (uint32_t l = 0; l < L; l++) out[i * (size_t)L + l] = (uint8_t)((!x[l] == !y[l]) == (op == LS_OP_EQ));
      }
      return;
    }
    for (uint32_t i = v0; i < v1; i++) ew_any(op, t, out + i * vb, vec_in(&src[0], i), vec_in(&src[1], i), NULL, L, 0);
    return;
  case LS_FMT_TER:
    if (op == LS_OP_SEL) {
      for (uint32_t i = v0; i < v1; i++) {
        const uint8_t *m = vec_in(&src[0], i), *x = vec_in(&src[1], i), *y = vec_in(&src[2], i);
        for (uint32_t l = 0; l < L; l++) memcpy(out + i * vb + l * sz, (m[l] ? x : y) + l * sz, sz);
      }
      return;
    }
    for (uint32_t i = v0; i < v1; i++)
      ew_any(op, t, out + i * vb, vec_in(&src[0], i), vec_in(&src[1], i), vec_in(&src[2], i), L, 0);
    return;
  case LS_FMT_IMM:
    if (op == LS_OP_SPLAT) {
      uint8_t one[8];
      scalar s = {ls_dtype_class(t) == 'F' ? 'F' : 'I', imm_f64(in->imm), in->imm, (uint64_t)in->imm};
      store_elem(one, t, s);
      for (uint32_t i = v0; i < v1; i++)
        for (uint32_t l = 0; l < L; l++) memcpy(out + i * vb + l * sz, one, sz);
      return;
    }
    for (uint32_t i = v0; i < v1; i++) ew_any(op, t, out + i * vb, vec_in(&src[0], i), NULL, NULL, L, in->imm);
    return;
  case LS_FMT_LANE:
  case LS_FMT_PERM: { lane_move(c, in, &src[0], out, v0, v1); return; }
  case LS_FMT_LW: {
    uint8_t *pl = c->planes + in->aux * c->plane_stride;
    plane_hdr h = {in->n, 0, NULL, L};
    memcpy(pl, &h, sizeof h);
    for (uint32_t k = 0; k < in->n; k++) memcpy(pl + 64 + (size_t)k * L * 4, vec_in(&src[0], k), (size_t)L * 4);
    return;
  }
  case LS_FMT_MM: { mm_rows(c, in, src, out, v0, v1); return; }
  case LS_FMT_COUNT: return;
  }
}
