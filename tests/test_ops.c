/* test_ops.c - every instruction of the table (LS_INSNS), checked against hand-computed
 * values in both executor modes, and its timing checked against the rules of docs/ISA.md.
 *
 * Semantics: each case is a small program (mostly `.set lanes 4`) run in LS_MODE_FAST and
 * LS_MODE_CHECKED; every output element is compared with an expected value written here as
 * a literal (or, where the value is obvious, a trivial C expression). Floats compare bit
 * for bit, so -0.0 differs from 0.0, except that any NaN matches any NaN. The
 * transcendentals compare with a small relative tolerance where the exact value is not
 * representable. Every opcode an expected-value case runs is recorded, and the test
 * semantics::coverage_every_opcode_has_a_case fails if an opcode of the table has none.
 *
 * Floating-point environment: results must not depend on the caller's rounding mode, and
 * subnormal inputs read as zero (docs/ISA.md section 5).
 *
 * Tests marked "once a mismatch" found the code disagreeing with the docs; the code was fixed
 * and they stay as regression tests.
 *
 * Latency: for every opcode with an output, a minimal program feeds it from memory, issues it
 * when its inputs arrive and writes its output at exactly issue + out_delay. That program must
 * load with the cycle count worked out by hand, and moving the write one cycle either way
 * must be rejected. The opcodes without output are checked through the cycle count of
 * programs using them. */
#include <criterion/criterion.h>
#include <unistd.h>
#include <fenv.h>
#include <math.h>
#include <stdarg.h>

#include "internal.h"
#include "support.h"

#define LEN(a) (sizeof(a) / sizeof *(a))

/* ---- running a program and comparing its outputs ------------------------------------------- */

/* Opcodes some semantics case has run and checked (in this process). */
static unsigned char covered[LS_OP_COUNT];

typedef struct tio {
  const char *name; /* tensor */
  const void *data; /* its bytes: what to put there before the run, or what must be there after */
  size_t bytes;
} tio;

#define IO(name, arr) {name, arr, sizeof(arr)}

static int is_nan(ls_dtype t, const uint8_t *p) {
  uint16_t h;
  switch (t) {
  case LS_F32: { float f; memcpy(&f, p, 4); return f != f; }
  case LS_F64: { double d; memcpy(&d, p, 8); return d != d; }
  case LS_F16: memcpy(&h, p, 2); return (h & 0x7c00) == 0x7c00 && (h & 0x03ff);
  case LS_BF16: memcpy(&h, p, 2); return (h & 0x7f80) == 0x7f80 && (h & 0x007f);
  default: return 0;
  }
}

/* An element as a double, for messages only. */
static double as_double(ls_dtype t, const uint8_t *p) {
  union { float f; double d; uint16_t h; int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
          int64_t i64; uint64_t u64; } v;
  memcpy(&v, p, ls_dtype_size(t));
  switch (t) {
  case LS_F32: return v.f;
  case LS_F64: return v.d;
  case LS_F16: return ls_f16_to_f32(v.h);
  case LS_BF16: return ls_bf16_to_f32(v.h);
  case LS_I8: return v.i8;
  case LS_U8: case LS_BOOL: return v.u8;
  case LS_I16: return v.i16;
  case LS_U16: return v.u16;
  case LS_I32: return v.i32;
  case LS_U32: return v.u32;
  case LS_I64: return (double)v.i64;
  case LS_U64: return (double)v.u64;
  default: return 0;
  }
}

/* Bitwise, except: any NaN matches a NaN; with tol > 0 a finite nonzero float matches within
 * relative error tol; with tol < 0 a zero float matches a zero of either sign. */
static int same_elem(ls_dtype t, const uint8_t *got, const uint8_t *want, double tol) {
  if (is_nan(t, want)) return is_nan(t, got);
  if (tol < 0 && (t == LS_F32 || t == LS_F64) && as_double(t, want) == 0) return as_double(t, got) == 0;
  if (tol > 0 && (t == LS_F32 || t == LS_F64)) {
    double w = as_double(t, want), g = as_double(t, got);
    if (isfinite(w) && w != 0) return fabs(g - w) <= tol * fabs(w);
  }
  return memcmp(got, want, ls_dtype_size(t)) == 0;
}

static void hex(const uint8_t *p, size_t n, char *buf) {
  for (size_t k = 0; k < n; k++) sprintf(buf + 2 * k, "%02x", p[n - 1 - k]); /* little-endian: most significant first */
}

/* Load src (it must verify), put the inputs in place, run it in fast and in checked mode and
 * compare every listed output with its expected bytes. */
static void check_tol(const char *src, const tio *in, size_t nin, const tio *out, size_t nout, double tol) {
  for (int mode = 0; mode < 2; mode++) {
    const char *mname = mode ? "checked" : "fast";
    ls_program *p;
    ls_error e;
    ls_status st = t_load(src, &p, &e);
    cr_assert_eq(st, LS_OK, "the program does not load: %s\n%s", e.msg, src);
    t_run r = t_open(p);
    for (size_t i = 0; i < nin; i++) {
      int k = ls_tensor_find(p, in[i].name);
      cr_assert(k >= 0, "no tensor %s", in[i].name);
      cr_assert_eq(ls_io_bytes(ls_tensor(p, k)), in[i].bytes, "input %s: the test gives %zu bytes", in[i].name, in[i].bytes);
      memcpy(ls_tensor_data(p, r.arena, k), in[i].data, in[i].bytes);
    }
    ls_run_info info;
    cr_assert_eq(t_exec(&r, mode ? LS_MODE_CHECKED : LS_MODE_FAST, mode ? 1 : 0, &info), LS_OK, "%s mode\n%s", mname, src);
    cr_assert_eq(info.cycles, ls_cycles(p), "%s mode: %llu cycles, the verifier said %llu", mname,
                 (unsigned long long)info.cycles, (unsigned long long)ls_cycles(p));
    for (size_t o = 0; o < nout; o++) {
      int k = ls_tensor_find(p, out[o].name);
      cr_assert(k >= 0, "no tensor %s", out[o].name);
      const ls_io *io = ls_tensor(p, k);
      const ls_dtype t = (ls_dtype)io->dtype;
      const size_t sz = ls_dtype_size(t);
      cr_assert_eq(ls_io_bytes(io), out[o].bytes, "output %s: the test expects %zu bytes", out[o].name, out[o].bytes);
      const uint8_t *got = ls_tensor_data(p, r.arena, k), *want = out[o].data;
      for (size_t j = 0; j < out[o].bytes / sz; j++) {
        if (same_elem(t, got + j * sz, want + j * sz, tol)) continue;
        char gh[20], wh[20];
        hex(got + j * sz, sz, gh);
        hex(want + j * sz, sz, wh);
        cr_assert_fail("%s mode: %s[%zu] (%s) is 0x%s (%.17g), want 0x%s (%.17g)\n%s", mname, out[o].name, j,
                       ls_dtype_name(t), gh, as_double(t, got + j * sz), wh, as_double(t, want + j * sz), src);
      }
    }
    const ls_prog *g = ls_program_image(p);
    for (uint32_t q = 0; q < g->n_queues; q++)
      for (uint32_t i = 0; i < g->queues[q].count; i++) covered[g->queues[q].insns[i].op] = 1;
    t_close(&r);
  }
}

#define CHECK(src, ins, outs) check_tol(src, ins, LEN(ins), outs, LEN(outs), 0)

/* Host latencies from the docs (Latency classes table), to place the write of a result. */
static const unsigned host_lat[LS_LAT_COUNT] = {
    [LS_LAT_MEM] = 2, [LS_LAT_GATHER] = 4, [LS_LAT_ALU] = 1, [LS_LAT_TRANS] = 4, [LS_LAT_RED] = 2,
    [LS_LAT_SXM] = 2, [LS_LAT_MXM_LW] = 1, [LS_LAT_MXM_MM] = 4, [LS_LAT_ICU] = 1, [LS_LAT_HOP] = 1};

typedef struct sbuf {
  char s[8192];
  size_t n;
} sbuf;

static void sb_add(sbuf *b, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, f, ap);
  va_end(ap);
  cr_assert(k >= 0 && (size_t)k < sizeof b->s - b->n, "program text too long");
  b->n += (size_t)k;
}

/* One vector instruction on streamed inputs:
 *
 *   y := insn(x0[, x1[, x2]][, extra])     with `lanes` lanes, on the host preset
 *
 * insn is "mnemonic.type" ("cvt.from.to" for cvt). Inputs x0..x2 hold the same number of
 * elements, a multiple of lanes; they are read on mem0..mem2 at cycle 0 and arrive at 3
 * (mem 2 + hop 1), the instruction issues at 3 on queue 0 of its unit, and y is written when
 * its output arrives. want holds the expected y (one vector for vsum and vmax). */
static void op_case(unsigned lanes, const char *insn, const char *extra, int nin, const void *const x[3],
                    const size_t xbytes[3], const void *want, size_t wbytes, double tol) {
  char mn[16] = "";
  const char *dot = strchr(insn, '.');
  cr_assert(dot && (size_t)(dot - insn) < sizeof mn);
  memcpy(mn, insn, (size_t)(dot - insn));
  const int op = ls_op_parse(mn, strlen(mn));
  cr_assert(op >= 0, "unknown mnemonic %s", mn);
  const char *dot2 = strchr(dot + 1, '.');
  const int t0 = ls_dtype_parse(dot + 1, dot2 ? (size_t)(dot2 - dot - 1) : strlen(dot + 1));
  const int t1 = dot2 ? ls_dtype_parse(dot2 + 1, strlen(dot2 + 1)) : t0;
  cr_assert(t0 >= 0 && t1 >= 0, "bad types in %s", insn);
  ls_dtype tin[3] = {(ls_dtype)t0, (ls_dtype)t0, (ls_dtype)t0};
  if (op == LS_OP_SEL) tin[0] = LS_BOOL;
  ls_dtype tout = (ls_dtype)t1;
  if (op == LS_OP_EQ || op == LS_OP_NE || op == LS_OP_LT || op == LS_OP_LE) tout = LS_BOOL;

  const size_t count = xbytes[0] / ls_dtype_size(tin[0]);
  cr_assert(count > 0 && count % lanes == 0, "%s: %zu input elements, not whole vectors of %u", insn, count, lanes);
  for (int k = 1; k < nin; k++) cr_assert_eq(xbytes[k] / ls_dtype_size(tin[k]), count, "%s: inputs differ in length", insn);
  const unsigned n = (unsigned)(count / lanes);
  const int one = op == LS_OP_VSUM || op == LS_OP_VMAX;
  const size_t wcount = wbytes / ls_dtype_size(tout);
  cr_assert_eq(wcount, (one ? 1 : n) * (size_t)lanes, "%s: the expected output has %zu elements", insn, wcount);

  unsigned delay = host_lat[ls_ops[op].lat] + host_lat[LS_LAT_HOP];
  if (one) delay += n - 1;
  if (op == LS_OP_TRANSPOSE) delay += lanes - 1;

  sbuf b = {.n = 0};
  sb_add(&b, ".target host\n.set lanes %u\n", lanes);
  for (int k = 0; k < nin; k++) sb_add(&b, ".input x%d %s [%zu] @%d\n", k, ls_dtype_name(tin[k]), count, 1024 * k);
  sb_add(&b, ".output y %s [%zu] @3072\n", ls_dtype_name(tout), wcount);
  for (int k = 0; k < nin; k++) sb_add(&b, "mem%d:\n @0 read.%s e%d, [x%d], n=%u\n", k, ls_dtype_name(tin[k]), k, k, n);
  sb_add(&b, "%s0:\n @3 %s e3", ls_unit_names[ls_ops[op].unit], insn);
  for (int k = 0; k < nin; k++) sb_add(&b, ", e%d", k);
  if (extra) sb_add(&b, ", %s", extra);
  sb_add(&b, ", n=%u\n", n);
  sb_add(&b, "mem3:\n @%u write.%s [y], e3, n=%u\n", 3 + delay, ls_dtype_name(tout), one ? 1 : n);

  tio in[3], out[1] = {{"y", want, wbytes}};
  static const char *const names[3] = {"x0", "x1", "x2"};
  for (int k = 0; k < nin; k++) in[k] = (tio){names[k], x[k], xbytes[k]};
  check_tol(b.s, in, (size_t)nin, out, 1, tol);
}

#define ARGS1(a) (const void *const[3]){a, NULL, NULL}, (const size_t[3]){sizeof(a), 0, 0}
#define ARGS2(a, b) (const void *const[3]){a, b, NULL}, (const size_t[3]){sizeof(a), sizeof(b), 0}
#define ARGS3(a, b, c) (const void *const[3]){a, b, c}, (const size_t[3]){sizeof(a), sizeof(b), sizeof(c)}

#define UN(insn, a, y) op_case(4, insn, NULL, 1, ARGS1(a), y, sizeof(y), 0)
#define UN_TOL(insn, a, y, tol) op_case(4, insn, NULL, 1, ARGS1(a), y, sizeof(y), tol)
#define UNL(lanes, insn, a, y) op_case(lanes, insn, NULL, 1, ARGS1(a), y, sizeof(y), 0)
#define BIN(insn, a, b, y) op_case(4, insn, NULL, 2, ARGS2(a, b), y, sizeof(y), 0)
#define BIN_TOL(insn, a, b, y, tol) op_case(4, insn, NULL, 2, ARGS2(a, b), y, sizeof(y), tol)
#define TER(insn, a, b, c, y) op_case(4, insn, NULL, 3, ARGS3(a, b, c), y, sizeof(y), 0)
#define IMM(insn, imm, a, y) op_case(4, insn, imm, 1, ARGS1(a), y, sizeof(y), 0) /* also lane ops' k */

/* A program text with the host preset and 4 lanes. */
#define L4 ".target host\n.set lanes 4\n"

static const float NaNf = NAN, INFf = INFINITY;
static const double NaNd = NAN, INFd = INFINITY;

/* f16 and bf16 bit patterns used below (worked out by hand):
 *   f16:  0x3c00 1.0   0x4000 2.0   0x3800 0.5   0x3e00 1.5   0x4200 3.0   0x4100 2.5
 *         0x6800 2048  0x6801 2050  0x6802 2052  0x7bff 65504 (max)  0x7c00 inf  0x7e00 NaN
 *   bf16: 0x3f80 1.0   0x4000 2.0   0x3f00 0.5   0x3fc0 1.5   0x4040 3.0   0x4020 2.5
 *         0x4380 256   0x4381 258   0x4382 260   0x4080 4.0   0x7f80 inf   0x7fc0 NaN
 * f16 has 11 significant bits, so at 2048 its spacing is 2; bf16 has 8, spacing 2 at 256. */

/* ---- MEM ------------------------------------------------------------------------------------- */

static void sem_read(void) {
  const float a[12] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
  { /* plain */
    const tio in[] = {IO("a", a)}, out[] = {IO("y", a)};
    CHECK(L4 ".input a f32 [12] @0\n.output y f32 [12] @64\n"
             "mem0:\n @0 read.f32 e0, [a], n=3\nmem1:\n @3 write.f32 [y], e0, n=3\n",
          in, out);
  }
  { /* stride 0: one vector n times (a broadcast) */
    const float y[12] = {10, 11, 12, 13, 10, 11, 12, 13, 10, 11, 12, 13};
    const tio in[] = {IO("a", a)}, out[] = {IO("y", y)};
    CHECK(L4 ".input a f32 [12] @0\n.output y f32 [12] @64\n"
             "mem0:\n @0 read.f32 e0, [a+16], n=3, stride=0\nmem1:\n @3 write.f32 [y], e0, n=3\n",
          in, out);
  }
  { /* negative stride: walks down from the address */
    const float y[12] = {20, 21, 22, 23, 10, 11, 12, 13, 0, 1, 2, 3};
    const tio in[] = {IO("a", a)}, out[] = {IO("y", y)};
    CHECK(L4 ".input a f32 [12] @0\n.output y f32 [12] @64\n"
             "mem0:\n @0 read.f32 e0, [a+32], n=3, stride=-16\nmem1:\n @3 write.f32 [y], e0, n=3\n",
          in, out);
  }
  { /* i16, stride of two vectors: rows 0 and 2 */
    const int16_t b[16] = {1, -2, 3, -4, 5, 6, 7, 8, -32768, 32767, 0, -1, 9, 9, 9, 9};
    const int16_t y[8] = {1, -2, 3, -4, -32768, 32767, 0, -1};
    const tio in[] = {IO("b", b)}, out[] = {IO("y", y)};
    CHECK(L4 ".input b i16 [16] @0\n.output y i16 [8] @64\n"
             "mem0:\n @0 read.i16 e0, [b], n=2, stride=16\nmem1:\n @3 write.i16 [y], e0, n=2\n",
          in, out);
  }
  { /* two consumers take the two halves of one read's window */
    const float y1[8] = {-0.0f, -1, -2, -3, -10, -11, -12, -13}, y2[4] = {20, 21, 22, 23};
    const tio in[] = {IO("a", a)}, out[] = {IO("y1", y1), IO("y2", y2)};
    CHECK(L4 ".input a f32 [12] @0\n.output y1 f32 [8] @64\n.output y2 f32 [4] @128\n"
             "mem0:\n @0 read.f32 e0, [a], n=3\n"
             "vxm0:\n @3 neg.f32 e1, e0, n=2\nvxm1:\n @5 abs.f32 e2, e0, n=1\n"
             "mem1:\n @5 write.f32 [y1], e1, n=2\nmem2:\n @7 write.f32 [y2], e2, n=1\n",
          in, out);
  }
  { /* a read takes memory as it is when it issues (cycle 2): the write to a issued at 3 lands
     * at 5, when the read's vector is consumed, and must not change what was read */
    const float b[4] = {7, 7, 7, 7}, y[4] = {-0.0f, -1, -2, -3}, a2[4] = {7, 7, 7, 7};
    const tio in[] = {{"a", a, 16}, IO("b", b)}, out[] = {IO("y", y), IO("a", a2)};
    CHECK(L4 ".input a f32 [4] @0\n.input b f32 [4] @64\n.output y f32 [4] @128\n"
             "mem0:\n @0 read.f32 e1, [b], n=1\nmem1:\n @2 read.f32 e0, [a], n=1\n"
             "mem2:\n @3 write.f32 [a], e1, n=1\n"
             "vxm0:\n @5 neg.f32 e2, e0, n=1\nmem3:\n @7 write.f32 [y], e2, n=1\n",
          in, out);
  }
}

static void sem_write(void) {
  const float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float fill[16] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
  { /* stride of two vectors: rows 0 and 2; rows 1 and 3 untouched */
    const float y[16] = {1, 2, 3, 4, -1, -1, -1, -1, 5, 6, 7, 8, -1, -1, -1, -1};
    const tio in[] = {IO("a", a), IO("y", fill)}, out[] = {IO("y", y)};
    CHECK(L4 ".input a f32 [8] @0\n.output y f32 [16] @64\n"
             "mem0:\n @0 read.f32 e0, [a], n=2\nmem1:\n @3 write.f32 [y], e0, n=2, stride=32\n",
          in, out);
  }
  { /* negative stride: vector 0 to row 3, vector 1 to row 1 */
    const float y[16] = {-1, -1, -1, -1, 5, 6, 7, 8, -1, -1, -1, -1, 1, 2, 3, 4};
    const tio in[] = {IO("a", a), IO("y", fill)}, out[] = {IO("y", y)};
    CHECK(L4 ".input a f32 [8] @0\n.output y f32 [16] @64\n"
             "mem0:\n @0 read.f32 e0, [a], n=2\nmem1:\n @3 write.f32 [y+48], e0, n=2, stride=-32\n",
          in, out);
  }
  { /* 1-byte elements at an odd offset */
    const uint8_t b[4] = {1, 2, 3, 255}, y[8] = {0, 1, 2, 3, 255, 0, 0, 0};
    const tio in[] = {IO("b", b)}, out[] = {IO("y", y)};
    CHECK(L4 ".input b u8 [4] @0\n.output y u8 [8] @64\n"
             "mem0:\n @0 read.u8 e0, [b], n=1\nmem1:\n @3 write.u8 [y+1], e0, n=1\n",
          in, out);
  }
}

static void sem_gather(void) {
  const int32_t idx[8] = {0, 5, -1, 6, 2, 2, 100, 3};
  { /* f32 table of 6: out-of-range and negative indices give 0 */
    const float t[6] = {10, 11, 12, 13, 14, 15}, y[8] = {10, 15, 0, 0, 12, 12, 0, 13};
    const tio in[] = {IO("t", t), IO("idx", idx)}, out[] = {IO("y", y)};
    CHECK(L4 ".input t f32 [6] @0\n.input idx i32 [8] @64\n.output y f32 [8] @128\n"
             "mem0:\n @0 read.i32 e0, [idx], n=2\nmem1:\n @3 gather.f32 e1, [t], e0, n=2, size=6\n"
             "mem2:\n @8 write.f32 [y], e1, n=2\n",
          in, out);
  }
  { /* i8 table, size=3 although memory holds more: index 5 and 3 are outside the table */
    const int8_t t[6] = {-1, -128, 127, 4, 5, 6}, y[8] = {-1, 0, 0, 0, 127, 127, 0, 0};
    const tio in[] = {IO("t", t), IO("idx", idx)}, out[] = {IO("y", y)};
    CHECK(L4 ".input t i8 [6] @0\n.input idx i32 [8] @64\n.output y i8 [8] @128\n"
             "mem0:\n @0 read.i32 e0, [idx], n=2\nmem1:\n @3 gather.i8 e1, [t], e0, n=2, size=3\n"
             "mem2:\n @8 write.i8 [y], e1, n=2\n",
          in, out);
  }
  { /* f64 table at an offset */
    const double t[8] = {0, 0, 1.5, -2.5, 1e300, 0.1, 7, 8};
    const double y[8] = {1.5, 8, 0, 0, 1e300, 1e300, 0, 0.1}; /* the table is t[2..7] */
    const tio in[] = {IO("t", t), IO("idx", idx)}, out[] = {IO("y", y)};
    CHECK(L4 ".input t f64 [8] @0\n.input idx i32 [8] @64\n.output y f64 [8] @128\n"
             "mem0:\n @0 read.i32 e0, [idx], n=2\nmem1:\n @3 gather.f64 e1, [t+16], e0, n=2, size=6\n"
             "mem2:\n @8 write.f64 [y], e1, n=2\n",
          in, out);
  }
}

/* Constant indices: fast mode copies runs (steps 1, -1, 0 and 2, a run of out-of-range
 * indices, runs that cross vectors) instead of looking up every element, and does not run
 * the READ of the indices; the bytes must be those of the element-by-element gather, which
 * checked mode runs. */
static void sem_gather_runs(void) {
  static const int32_t idx[32] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 5, 4, 3, 2,
                                  1, 0, 0, 0, 0, 0, 2, 4, -1, 7, 100, 1, 3, 5, 2, 2};
  const float t[6] = {10, 11, 12, 13, 14, 15};
  float y[32];
  for (int i = 0; i < 32; i++) y[i] = idx[i] >= 0 && idx[i] < 6 ? t[idx[i]] : 0;
  char src[1024];
  int off = snprintf(src, sizeof src, L4 ".input t f32 [6] @0\n.output y f32 [32] @64\n.const @256 i32");
  for (int i = 0; i < 32; i++) off += snprintf(src + off, sizeof src - (size_t)off, " %d", idx[i]);
  snprintf(src + off, sizeof src - (size_t)off,
           "\nmem0:\n @0 read.i32 e0, [256], n=8\nmem1:\n @3 gather.f32 e1, [t], e0, n=8, size=6\n"
           "mem2:\n @8 write.f32 [y], e1, n=8\n");
  const tio in[] = {IO("t", t)}, out[] = {IO("y", y)};
  CHECK(src, in, out);
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t planned = 0, skipped = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) {
    planned += p->inst[i].in.op == LS_OP_GATHER && p->inst[i].nruns > 0;
    skipped += p->inst[i].in.op == LS_OP_READ && (p->inst[i].skip || p->inst[i].alias); /* not run */
  }
  cr_assert_eq(planned, 1, "the gather with constant indices is not planned as runs");
  cr_assert_eq(skipped, 1, "the READ of indices that only the gather by runs uses still runs");
  ls_free(p);
  { /* a gather whose WRITE overwrites its own table (reversed): fast mode may not write in
     * place while it still reads */
    const float t8[8] = {1, 2, 3, 4, 5, 6, 7, 8}, r8[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    const tio in8[] = {IO("x", t8)}, out8[] = {IO("y", r8)};
    CHECK(L4 ".input x f32 [8] @0\n.output y f32 [8] @0\n.const @256 i32 7 6 5 4 3 2 1 0\n"
             "mem0:\n @0 read.i32 e0, [256], n=2\nmem1:\n @3 gather.f32 e1, [x], e0, n=2, size=8\n"
             "mem2:\n @8 write.f32 [x], e1, n=2\n",
          in8, out8);
  }
  /* a masked READ of indices (lane 3 is the fill, 5): not run either */
  float y2[32];
  for (int i = 0; i < 32; i++) y2[i] = t[2 + i % 4];
  off = snprintf(src, sizeof src, L4 ".input t f32 [6] @0\n.output y f32 [32] @64\n.const @256 i32");
  for (int i = 0; i < 32; i++) off += snprintf(src + off, sizeof src - (size_t)off, " %d", i % 4 == 3 ? 0 : 2 + i % 4);
  snprintf(src + off, sizeof src - (size_t)off,
           "\nmem0:\n @0 read.i32 e0, [256], n=8, lanes=3, fill=5\nmem1:\n @3 gather.f32 e1, [t], e0, n=8, size=6\n"
           "mem2:\n @8 write.f32 [y], e1, n=8\n");
  const tio out2[] = {IO("y", y2)};
  CHECK(src, in, out2);
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  skipped = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) skipped += p->inst[i].in.op == LS_OP_READ && p->inst[i].skip;
  cr_assert_eq(skipped, 1, "the masked READ of indices that only a gather by runs uses still runs");
  ls_free(p);
}

/* Gathers by runs that repeat (transposes: rows of a matrix, every other column, the
 * channels-last grid of a depthwise convolution back to NCHW, an RGB image to channels-last
 * (as many runs as pixels, one repeat), and one big enough to be
 * split across threads, which cuts a repeated run): fast mode copies them in tiles; the
 * bytes must be those of the element-by-element gather. */
static void gather_case(const char *what, const float *t, uint32_t nt, const int32_t *idx, uint32_t n, uint32_t want_n2) {
  float *y = malloc(sizeof *y * n), *y0 = malloc(sizeof *y0 * n);
  size_t cap = 64 + (size_t)n * 12 + 256;
  char *src = malloc(cap);
  cr_assert(y && y0 && src);
  for (uint32_t i = 0; i < n; i++) y[i] = idx[i] >= 0 && (uint32_t)idx[i] < nt ? t[idx[i]] : 0, y0[i] = -777.0f;
  /* y holds -777 before the run (set like an input): an element the gather leaves alone shows */
  int off = snprintf(src, cap, L4 ".input t f32 [%u] @0\n.output y f32 [%u] @%u\n.const @%u i32", nt, n, nt * 4,
                     (nt + n) * 4);
  for (uint32_t i = 0; i < n; i++) off += snprintf(src + off, cap - (size_t)off, " %d", idx[i]);
  snprintf(src + off, cap - (size_t)off,
           "\nmem0:\n @0 read.i32 e0, [%u], n=%u\nmem1:\n @3 gather.f32 e1, [t], e0, n=%u, size=%u\n"
           "mem2:\n @8 write.f32 [y], e1, n=%u\n",
           (nt + n) * 4, n / 4, n / 4, nt, n / 4);
  const tio in[] = {{"t", t, nt * sizeof *t}, {"y", y0, n * sizeof *y0}}, out[] = {{"y", y, n * sizeof *y}};
  check_tol(src, in, 2, out, 1, 0);
  ls_program *p;
  ls_error e;
  for (int T = 3; T <= 7 && n >= 32768; T += 2) { /* big: thread shares that cut blocks and rows anywhere */
    cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
    t_run r = t_open(p); /* (t_close frees p) */
    memcpy(ls_tensor_data(p, r.arena, ls_tensor_find(p, "t")), t, nt * sizeof *t);
    memcpy(ls_tensor_data(p, r.arena, ls_tensor_find(p, "y")), y0, n * sizeof *y0);
    ls_run_info info;
    cr_assert_eq(t_exec(&r, LS_MODE_FAST, T, &info), LS_OK);
    const float *got = ls_tensor_data(p, r.arena, ls_tensor_find(p, "y"));
    for (uint32_t i = 0; i < n; i++)
      cr_assert(got[i] == y[i], "%s, %d threads: y[%u] is %g, want %g", what, T, i, (double)got[i], (double)y[i]);
    t_close(&r);
  }
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t most_n1 = 0, most_n2 = 0, by_runs = 0;
  for (size_t r = 0; r < p->n_greps; r++) {
    if (p->greps[r].n1 > most_n1) most_n1 = p->greps[r].n1;
    if (p->greps[r].n2 > most_n2) most_n2 = p->greps[r].n2;
  }
  for (uint32_t i = 0; i < p->n_inst; i++) by_runs += p->inst[i].in.op == LS_OP_GATHER && p->inst[i].nruns > 0;
  if (want_n2 == 0) /* plain runs only */
    cr_assert(by_runs == 1 && p->n_greps == 0, "%s: not planned as plain runs (%u gathers by runs, %zu repeated runs)", what,
              by_runs, (size_t)p->n_greps);
  else
    cr_assert(most_n1 > 1 && most_n2 >= want_n2, "%s: runs not planned as repeated (n1 %u, n2 %u)", what, most_n1, most_n2);
  ls_free(p);
  free(y), free(y0), free(src);
}

static void sem_gather_transposes(void) {
  enum { R = 36, C = 45, BR = 128, BC = 256, HO = 8, WQ = 11, WO = 9, CH = 11, BH = 36, BQ = 120, BW = 117, BCH = 8 };
  static float t[BH * BQ * BCH];
  static int32_t idx[BH * BQ * BCH];
  for (uint32_t i = 0; i < BH * BQ * BCH; i++) t[i] = (float)i + 0.25f;
  for (int j = 0; j < C; j++) /* [R][C] -> [C][R] */
    for (int i = 0; i < R; i++) idx[j * R + i] = i * C + j;
  gather_case("a transpose", t, R * C, idx, R * C, 1);
  for (int j = 0; j < C; j++) /* the odd columns of [R][2C], transposed */
    for (int i = 0; i < R; i++) idx[j * R + i] = i * 2 * C + 2 * j + 1;
  gather_case("a transpose of every other column", t, R * 2 * C, idx, R * C, 1);
  for (int k = 0; k < CH; k++) /* [HO][WQ][CH] -> [CH][HO][WO] */
    for (int i = 0; i < HO; i++)
      for (int j = 0; j < WO; j++) idx[(k * HO + i) * WO + j] = (i * WQ + j) * CH + k;
  gather_case("a channels-last grid to NCHW", t, HO * WQ * CH, idx, CH * HO * WO, 2);
  for (int j = 0; j < 44; j++) /* an RGB image [3][44] made channels-last: runs of 3, 16 pixels at a time and 12 */
    for (int i = 0; i < 3; i++) idx[j * 3 + i] = i * 44 + j;
  gather_case("three rows interleaved", t, 3 * 44, idx, 3 * 44, 1);
  for (int j = 0; j < BC; j++) /* big: split across threads in fast mode */
    for (int i = 0; i < BR; i++) idx[j * BR + i] = i * BC + j;
  gather_case("a transpose split across threads", t, BR * BC, idx, BR * BC, 1);
  for (int k = 0; k < BCH; k++) /* big, with blocks (channels) of rows of 117: the shares of 3, 5 or 7 threads cut
                                  * them in the middle of a block, and of a row */
    for (int i = 0; i < BH; i++)
      for (int j = 0; j < BW; j++) idx[(k * BH + i) * BW + j] = (i * BQ + j) * BCH + k;
  gather_case("a big channels-last grid to NCHW split across threads", t, BH * BQ * BCH, idx, BCH * BH * BW, 2);
}

/* Short runs (fast mode copies a run of up to 16 elements with one masked load and store
 * where the CPU has AVX-512): an im2col of a small padded image, a 2 x 2 pooling window's
 * corners, every length from 1 to 17 at steps 1 to 6 (in and just out of 16 elements'
 * reach), every other element in runs of 17 to 40, reversed runs, runs that end at the
 * table's last element, zeros between. */
static void sem_gather_short_runs(void) {
  enum { H = 7, W = 7, CH = 3, P = 1, K = 3, N = 4096 };
  static float t[CH * H * W];
  static int32_t idx[N];
  for (uint32_t i = 0; i < CH * H * W; i++) t[i] = (float)i * 1.5f - 20.0f;
  uint32_t n = 0;
  for (int c = 0; c < CH; c++) /* im2col rows: [c][ky][kx] x [y][x], zero outside */
    for (int ky = 0; ky < K; ky++)
      for (int kx = 0; kx < K; kx++)
        for (int y = 0; y < H; y++)
          for (int x = 0; x < W; x++) {
            const int iy = y + ky - P, ix = x + kx - P;
            idx[n++] = iy < 0 || iy >= H || ix < 0 || ix >= W ? -1 : (c * H + iy) * W + ix;
          }
  while (n % 4) idx[n++] = -1;
  gather_case("an im2col of a 7 x 7 image, padded", t, CH * H * W, idx, n, 0);
  n = 0;
  for (int dy = 0; dy < 2; dy++) /* the four corners of 2 x 2 windows, stride 2, on 2 x 8 x 8 */
    for (int dx = 0; dx < 2; dx++)
      for (int c = 0; c < 2; c++)
        for (int y = 0; y < 8; y += 2)
          for (int x = 0; x < 8; x += 2) idx[n++] = (c * 8 + y + dy) * 8 + x + dx;
  while (n % 4) idx[n++] = 0;
  gather_case("2 x 2 pooling windows", t, CH * H * W, idx, n, 0);
  n = 0;
  const int nt = CH * H * W;
  for (int step = 1; step <= 6; step++)
    for (int len = 1; len <= 17; len++) {
      const int s0 = (step * len + n) % (nt - (len - 1) * step); /* somewhere the run fits */
      for (int j = 0; j < len; j++) idx[n++] = s0 + j * step;
      idx[n++] = -1; /* a zero between runs */
      for (int j = 0; j < len && len <= 4; j++) idx[n++] = nt - 1 - j * step; /* reversed, from the last element */
    }
  for (int len = 17; len <= 40; len++) { /* every other element, long runs (16 at a time) */
    const int s0 = len % 2 ? nt - 1 - (len - 1) * 2 : len; /* odd lengths end at the last element */
    for (int j = 0; j < len; j++) idx[n++] = s0 + j * 2;
    idx[n++] = -1;
  }
  for (int j = 0; j < 16; j++) idx[n++] = nt - 16 + j; /* the table's last 16 elements */
  for (int j = 0; j < 16; j++) idx[n++] = -1;           /* 16 zeros */
  while (n % 4) idx[n++] = -1;
  cr_assert(n <= N);
  gather_case("runs of every length and step", t, CH * H * W, idx, n, 0);
}

/* Once a bug: runs [379], [397], [398], [399] (8 elements at step 400 each, back to back)
 * became two repeated runs of two rows each, 18 apart and 1 apart, and those one block of
 * two, as if both were 18 apart: element 24 read 416 instead of 399 (an im2col of a 20 x 20
 * image of 8 channels, channels-last) */
static void sem_gather_repeats_keep_their_row_distance(void) {
  static float t[3200];
  int32_t idx[64];
  for (int i = 0; i < 3200; i++) t[i] = (float)i;
  const int starts[4] = {379, 397, 398, 399};
  for (int r = 0; r < 4; r++)
    for (int j = 0; j < 8; j++) idx[r * 8 + j] = starts[r] + 400 * j;
  for (int i = 32; i < 64; i++) idx[i] = -1;
  gather_case("runs 18 and then 1 apart", t, 3200, idx, 64, 0);
}

static void sem_scatter(void) {
  /* table of 5 (inside a tensor of 6): -1, 5 and 100 are dropped; 0 and 2 are written twice
   * and the later lane (vector 1) wins */
  const int32_t idx[8] = {0, 4, -1, 5, 2, 0, 2, 100};
  {
    const float src[8] = {10, 20, 30, 40, 50, 60, 70, 80};
    const float t0[6] = {-1, -2, -3, -4, -5, -6}, t[6] = {60, -2, 70, -4, 20, -6};
    const tio in[] = {IO("src", src), IO("idx", idx), IO("t", t0)}, out[] = {IO("t", t)};
    CHECK(L4 ".input src f32 [8] @0\n.input idx i32 [8] @64\n.output t f32 [6] @128\n"
             "mem0:\n @0 read.f32 e0, [src], n=2\nmem1:\n @0 read.i32 e1, [idx], n=2\n"
             "mem2:\n @3 scatter.f32 [t], e0, e1, n=2, size=5\n",
          in, out);
  }
  { /* duplicates inside one vector: the later lane wins */
    const int32_t idx2[4] = {1, 1, 3, 1};
    const int8_t src[4] = {-1, -2, -3, -4}, t0[4] = {9, 9, 9, 9}, t[4] = {9, -4, 9, -3};
    const tio in[] = {IO("src", src), IO("idx", idx2), IO("t", t0)}, out[] = {IO("t", t)};
    CHECK(L4 ".input src i8 [4] @0\n.input idx i32 [4] @64\n.output t i8 [4] @128\n"
             "mem0:\n @0 read.i8 e0, [src], n=1\nmem1:\n @0 read.i32 e1, [idx], n=1\n"
             "mem2:\n @3 scatter.i8 [t], e0, e1, n=1, size=4\n",
          in, out);
  }
}

/* ---- VXM: moves, unary arithmetic ----------------------------------------------------------- */

static void sem_mov(void) {
  const uint8_t u[8] = {0, 1, 127, 128, 255, 7, 8, 9};
  UN("mov.u8", u, u);
  const double d[4] = {-0.0, NaNd, 1e-300, -INFd};
  UN("mov.f64", d, d);
  const uint16_t h[4] = {0x3c00, 0x7e01, 0x8000, 0xffff}; /* bf16 bits, NaN payloads included */
  UN("mov.bf16", h, h);
  const uint8_t bl[4] = {0, 1, 1, 0};
  UN("mov.bool", bl, bl);
}

static void sem_neg(void) {
  const float a[8] = {1, -2, 0, -0.0f, INFf, -INFf, 0.5f, NaNf};
  const float y[8] = {-1, 2, -0.0f, 0, -INFf, INFf, -0.5f, NaNf};
  UN("neg.f32", a, y);
  const double ad[4] = {1.5, 0, -1e300, -0.0}, yd[4] = {-1.5, -0.0, 1e300, 0};
  UN("neg.f64", ad, yd);
  const int8_t ai[4] = {-128, 5, 0, 127}, yi[4] = {-128, -5, 0, -127}; /* -(-128) wraps */
  UN("neg.i8", ai, yi);
  const uint8_t au[4] = {1, 0, 255, 128}, yu[4] = {255, 0, 1, 128};
  UN("neg.u8", au, yu);
  const int32_t a32[4] = {INT32_MIN, INT32_MAX, -1, 0}, y32[4] = {INT32_MIN, -INT32_MAX, 1, 0};
  UN("neg.i32", a32, y32);
  const uint16_t ah[4] = {0x3c00, 0x0000, 0xc000, 0x7c00}, yh[4] = {0xbc00, 0x8000, 0x4000, 0xfc00};
  UN("neg.f16", ah, yh);
}

static void sem_abs(void) {
  const float a[4] = {-1.5f, -0.0f, -INFf, 2}, y[4] = {1.5f, 0, INFf, 2};
  UN("abs.f32", a, y);
  const double ad[4] = {-2.25, 3, -0.0, NaNd}, yd[4] = {2.25, 3, 0, NaNd};
  UN("abs.f64", ad, yd);
  const int8_t ai[4] = {-128, -5, 7, 0}, yi[4] = {-128, 5, 7, 0}; /* |-128| wraps */
  UN("abs.i8", ai, yi);
  const int64_t al[4] = {INT64_MIN, -3, 3, INT64_MAX}, yl[4] = {INT64_MIN, 3, 3, INT64_MAX};
  UN("abs.i64", al, yl);
  const uint32_t au[4] = {0xffffffffu, 0x80000000u, 1, 0}; /* unsigned: unchanged */
  UN("abs.u32", au, au);
  const uint16_t ab[4] = {0xbf80, 0x3f80, 0x8000, 0xc040}, yb[4] = {0x3f80, 0x3f80, 0x0000, 0x4040};
  UN("abs.bf16", ab, yb);
}

static void sem_relu(void) {
  /* a < 0 ? 0 : a, literally: -0.0 < 0 is false, so -0.0 stays -0.0; NaN < 0 is false, so NaN stays */
  const float a[8] = {-1, -0.0f, NaNf, 2.5f, -INFf, INFf, 0, -1e-30f};
  const float y[8] = {0, -0.0f, NaNf, 2.5f, 0, INFf, 0, 0};
  UN("relu.f32", a, y);
  const double ad[4] = {-3, -0.0, 3, NaNd}, yd[4] = {0, -0.0, 3, NaNd};
  UN("relu.f64", ad, yd);
  const int32_t ai[4] = {-5, 5, INT32_MIN, 0}, yi[4] = {0, 5, 0, 0};
  UN("relu.i32", ai, yi);
  const int8_t a8[4] = {-128, 127, -1, 1}, y8[4] = {0, 127, 0, 1};
  UN("relu.i8", a8, y8);
  const uint8_t au[4] = {255, 128, 0, 1}; /* unsigned values are never < 0 */
  UN("relu.u8", au, au);
  const uint16_t ah[4] = {0xbc00, 0x3c00, 0x8000, 0x7e00}, yh[4] = {0x0000, 0x3c00, 0x8000, 0x7e00};
  UN("relu.f16", ah, yh);
}

static void sem_not(void) {
  const int32_t a[4] = {0, 5, -1, INT32_MIN}, y[4] = {-1, -6, 0, INT32_MAX};
  UN("not.i32", a, y);
  const uint8_t au[4] = {0, 0xf0, 0xff, 0x5a}, yu[4] = {0xff, 0x0f, 0x00, 0xa5};
  UN("not.u8", au, yu);
  const uint64_t al[4] = {0, UINT64_MAX, 1, 0x8000000000000000u};
  const uint64_t yl[4] = {UINT64_MAX, 0, UINT64_MAX - 1, 0x7fffffffffffffffu};
  UN("not.u64", al, yl);
  const uint8_t ab[4] = {0, 1, 1, 0}, yb[4] = {1, 0, 0, 1}; /* logical not */
  UN("not.bool", ab, yb);
}

static void sem_floor_ceil(void) {
  const float a[8] = {1.5f, -1.5f, -0.5f, 2, 0.5f, -0.0f, INFf, NaNf};
  const float fl[8] = {1, -2, -1, 2, 0, -0.0f, INFf, NaNf};
  const float ce[8] = {2, -1, -0.0f, 2, 1, -0.0f, INFf, NaNf}; /* ceil(-0.5) is -0.0 */
  UN("floor.f32", a, fl);
  UN("ceil.f32", a, ce);
  const double ad[4] = {2.75, -2.75, 1e300, -1e-300}, fd[4] = {2, -3, 1e300, -1}, cd[4] = {3, -2, 1e300, -0.0};
  UN("floor.f64", ad, fd);
  UN("ceil.f64", ad, cd);
  const uint16_t ah[4] = {0x3e00, 0xbe00, 0x3800, 0x4100}; /* f16 1.5 -1.5 0.5 2.5 */
  const uint16_t fh[4] = {0x3c00, 0xc000, 0x0000, 0x4000}, ch[4] = {0x4000, 0xbc00, 0x3c00, 0x4200};
  UN("floor.f16", ah, fh);
  UN("ceil.f16", ah, ch);
  const uint16_t ab[4] = {0x3fc0, 0xbfc0, 0x4020, 0xbf00}; /* bf16 1.5 -1.5 2.5 -0.5 */
  const uint16_t fb[4] = {0x3f80, 0xc000, 0x4000, 0xbf80}, cb[4] = {0x4000, 0xbf80, 0x4040, 0x8000};
  UN("floor.bf16", ab, fb);
  UN("ceil.bf16", ab, cb);
}

static void sem_round(void) {
  /* ties to even */
  const float a[12] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f, 2.4f, 2.6f, -0.0f, 8388609.0f, NaNf};
  const float y[12] = {0, 2, 2, -0.0f, -2, -2, 4, 2, 3, -0.0f, 8388609.0f, NaNf};
  UN("round.f32", a, y);
  const double ad[4] = {0.5, 1.5, 2.5, -3.5}, yd[4] = {0, 2, 2, -4};
  UN("round.f64", ad, yd);
  const uint16_t ah[4] = {0x3800, 0x3e00, 0x4100, 0xb800}; /* f16 0.5 1.5 2.5 -0.5 */
  const uint16_t yh[4] = {0x0000, 0x4000, 0x4000, 0x8000};
  UN("round.f16", ah, yh);
  const uint16_t ab[4] = {0x3f00, 0x3fc0, 0x4020, 0xbfc0}; /* bf16 0.5 1.5 2.5 -1.5 */
  const uint16_t yb[4] = {0x0000, 0x4000, 0x4000, 0xc000};
  UN("round.bf16", ab, yb);
}

static void sem_recip(void) {
  const float a[8] = {2, -4, 0, -0.0f, INFf, 0.125f, NaNf, -1};
  const float y[8] = {0.5f, -0.25f, INFf, -INFf, 0, 8, NaNf, -1};
  UN("recip.f32", a, y);
  const double ad[4] = {8, 0.5, -INFd, 1}, yd[4] = {0.125, 2, -0.0, 1};
  UN("recip.f64", ad, yd);
  const uint16_t ah[4] = {0x4000, 0x3800, 0x0000, 0xbc00}, yh[4] = {0x3800, 0x4000, 0x7c00, 0xbc00};
  UN("recip.f16", ah, yh);
}

/* ---- VXM: transcendentals --------------------------------------------------------------------- */

/* Exact where the result is representable; otherwise within a relative 1e-6 (f32, about 8 units
 * in the last place) or 1e-14 (f64) of the mathematical value. */
static void sem_sqrt_rsqrt(void) {
  const float a[8] = {4, 2.25f, -1, 0, -0.0f, INFf, 2, NaNf};
  const float y[8] = {2, 1.5f, NaNf, 0, -0.0f, INFf, 1.41421356237309505f, NaNf};
  UN_TOL("sqrt.f32", a, y, 1e-6);
  const double ad[4] = {2, 1e300, 0.25, -4}, yd[4] = {1.4142135623730951, 1e150, 0.5, NaNd};
  UN_TOL("sqrt.f64", ad, yd, 1e-14);
  const uint16_t ab[4] = {0x4080, 0x3f80, 0x0000, 0xbf80}, yb[4] = {0x4000, 0x3f80, 0x0000, 0x7fc0}; /* sqrt 4, 1, 0, -1 */
  UN("sqrt.bf16", ab, yb);
  const float r[8] = {4, 0.25f, 0, 16, -1, INFf, 2, 1};
  const float ry[8] = {0.5f, 2, INFf, 0.25f, NaNf, 0, 0.70710678118654752f, 1};
  UN_TOL("rsqrt.f32", r, ry, 1e-6);
  const double rd[4] = {64, 0.0625, 3, -0.0}, ryd[4] = {0.125, 4, 0.57735026918962576, -INFd};
  UN_TOL("rsqrt.f64", rd, ryd, 1e-14);
  const uint16_t rh[4] = {0x4400, 0x3c00, 0x3400, 0x7c00}, ryh[4] = {0x3800, 0x3c00, 0x4000, 0x0000}; /* 1/sqrt 4, 1, .25, inf */
  UN("rsqrt.f16", rh, ryh);
}

static void sem_exp_log(void) {
  const float a[8] = {0, -INFf, INFf, 1, -1, 10, NaNf, 89}; /* e^89 overflows f32 */
  const float y[8] = {1, 0, INFf, 2.71828182845904524f, 0.36787944117144233f, 22026.4657948067165f, NaNf, INFf};
  UN_TOL("exp.f32", a, y, 1e-6);
  { /* far apart exponents, the largest finite result, and results that flush to zero: within
     * an ulp of glibc's double exp rounded to f32 (a run flushes subnormals) */
    const float a2[8] = {88.7f, -87.0f, 0.5f, -0.3466f, 20.25f, -104, 1e-7f, -50.5f};
    float y2[8];
    for (int i = 0; i < 8; i++) y2[i] = (float)exp((double)a2[i]);
    y2[5] = 0;
    UN_TOL("exp.f32", a2, y2, 1.2e-7);
  }
  const double ad[4] = {0, 1, -2, 700}, yd[4] = {1, 2.7182818284590452, 0.1353352832366127, 1.0142320547350045e304};
  UN_TOL("exp.f64", ad, yd, 1e-14);
  const uint16_t ah[4] = {0x0000, 0xfc00, 0x8000, 0x7c00}, yh[4] = {0x3c00, 0x0000, 0x3c00, 0x7c00}; /* e^0 e^-inf e^-0 e^inf */
  UN("exp.f16", ah, yh);
  const float l[8] = {1, 0, -1, INFf, 2.71828182845904524f, 2, -0.0f, 1024};
  const float ly[8] = {0, -INFf, NaNf, INFf, 1, 0.69314718055994531f, -INFf, 6.93147180559945309f};
  UN_TOL("log.f32", l, ly, 1e-6);
  const double ld[4] = {1, 10, 0.5, 1e300}, lyd[4] = {0, 2.302585092994046, -0.6931471805599453, 690.77552789821368};
  UN_TOL("log.f64", ld, lyd, 1e-14);
  const uint16_t lb[4] = {0x3f80, 0x0000, 0xbf80, 0x7f80}, lyb[4] = {0x0000, 0xff80, 0x7fc0, 0x7f80}; /* ln 1, 0, -1, inf */
  UN("log.bf16", lb, lyb);
}

static void sem_tanh_sigmoid_erf(void) {
  const float t[8] = {0, -0.0f, INFf, -INFf, 1, -0.5f, 20, NaNf};
  const float ty[8] = {0, -0.0f, 1, -1, 0.76159415595576489f, -0.46211715726000974f, 1, NaNf};
  UN_TOL("tanh.f32", t, ty, 1e-6);
  const double td[4] = {0.5, -2, 0, 1e-5}, tyd[4] = {0.46211715726000974, -0.9640275800758169, 0, 9.9999999996666667e-6};
  UN_TOL("tanh.f64", td, tyd, 1e-14);
  /* sigmoid = 1 / (1 + e^-a) */
  const float s[8] = {0, INFf, -INFf, 2, -2, 1, NaNf, -0.0f};
  const float sy[8] = {0.5f, 1, 0, 0.88079707797788244f, 0.11920292202211756f, 0.73105857863000488f, NaNf, 0.5f};
  UN_TOL("sigmoid.f32", s, sy, 1e-6);
  const double sd[4] = {0, 3, -3, 40}, syd[4] = {0.5, 0.95257412682243336, 0.047425873177566781, 1};
  UN_TOL("sigmoid.f64", sd, syd, 1e-14);
  const uint16_t sh[4] = {0x0000, 0x7c00, 0xfc00, 0x8000}, syh[4] = {0x3800, 0x3c00, 0x0000, 0x3800};
  UN("sigmoid.f16", sh, syh);
  const float e[8] = {0, -0.0f, INFf, -INFf, 1, -0.5f, 3, NaNf};
  const float ey[8] = {0, -0.0f, 1, -1, 0.84270079294971487f, -0.52049987781304654f, 0.99997790950300141f, NaNf};
  UN_TOL("erf.f32", e, ey, 1e-6);
  { /* both series (below 1 and on [1, 4]), their ends, and beyond 4: within an ulp of glibc's
     * double erf rounded to f32 */
    const float e2[8] = {0.3f, 0.99999994f, 1, -1.5f, 2.5f, 3.99f, -4, 1e-20f};
    float ey2[8];
    for (int i = 0; i < 8; i++) ey2[i] = (float)erf((double)e2[i]);
    UN_TOL("erf.f32", e2, ey2, 1.2e-7);
  }
  const double ed[4] = {1, 0.1, -2, 10}, eyd[4] = {0.84270079294971487, 0.11246291601828489, -0.99532226501895273, 1};
  UN_TOL("erf.f64", ed, eyd, 1e-14);
}

static void sem_sin_cos(void) {
  const float s[8] = {0, -0.0f, INFf, 1, -2, 0.5f, NaNf, 3};
  const float sy[8] = {0, -0.0f, NaNf, 0.84147098480789651f, -0.90929742682568170f, 0.47942553860420301f, NaNf,
                       0.14112000805986722f};
  UN_TOL("sin.f32", s, sy, 1e-6);
  const double sd[4] = {1, 1.5707963267948966, -0.25, 100};
  const double syd[4] = {0.8414709848078965, 1, -0.24740395925452294, -0.50636564110975879};
  UN_TOL("sin.f64", sd, syd, 1e-14);
  const float c[8] = {0, -0.0f, INFf, 1, -2, 0.5f, NaNf, 3};
  const float cy[8] = {1, 1, NaNf, 0.54030230586813972f, -0.41614683654714239f, 0.87758256189037276f, NaNf,
                       -0.98999249660044546f};
  UN_TOL("cos.f32", c, cy, 1e-6);
  const double cd[4] = {1, 3.141592653589793, -0.25, 0}, cyd[4] = {0.54030230586813972, -1, 0.96891242171064479, 1};
  UN_TOL("cos.f64", cd, cyd, 1e-14);
  const uint16_t zh[4] = {0x0000, 0x8000, 0x7c00, 0x0000}, sh[4] = {0x0000, 0x8000, 0x7e00, 0x0000};
  const uint16_t ch[4] = {0x3c00, 0x3c00, 0x7e00, 0x3c00};
  UN("sin.f16", zh, sh);
  UN("cos.f16", zh, ch);
}

static void sem_atan(void) {
  const float a[8] = {0, -0.0f, INFf, -INFf, 1, -1, NaNf, 0.5f};
  const float y[8] = {0, -0.0f, 1.5707963267948966f, -1.5707963267948966f, 0.78539816339744831f, -0.78539816339744831f,
                      NaNf, 0.46364760900080612f};
  UN_TOL("atan.f32", a, y, 1e-6);
  const double ad[4] = {2, -3, 1e10, 0.1}, yd[4] = {1.1071487177940904, -1.2490457723982544, 1.5707963266948965, 0.099668652491162038};
  UN_TOL("atan.f64", ad, yd, 1e-14);
}

/* C's fmod: the sign of a; integers truncate, x fmod 0 gives 0 */
static void sem_fmod(void) {
  const float a[8] = {-7, 7, 7.5f, -7.5f, 5, -0.0f, -7, 1}, b[8] = {3, -3, 2, 2, 0, 5, -3, INFf};
  const float y[8] = {-1, 1, 1.5f, -1.5f, NaNf, -0.0f, -1, 1};
  BIN("fmod.f32", a, b, y);
  const double ad[4] = {-7, 7, 5.5, -0.25}, bd[4] = {3, -3, -2, 1}, yd[4] = {-1, 1, 1.5, -0.25};
  BIN("fmod.f64", ad, bd, yd);
  const int32_t a32[8] = {-7, 7, 7, -7, 5, INT32_MIN, 6, INT32_MIN}, b32[8] = {3, -3, 3, -3, 0, -1, 3, 3};
  const int32_t y32[8] = {-1, 1, 1, -1, 0, 0, 0, -2};
  BIN("fmod.i32", a32, b32, y32);
  const uint8_t au[4] = {250, 5, 255, 7}, bu[4] = {7, 0, 255, 255}, yu[4] = {5, 0, 0, 7};
  BIN("fmod.u8", au, bu, yu);
}

/* shl and shr: a shift by the bit width or more (or a negative one) shifts everything out */
static void sem_shl_shr(void) {
  const uint8_t a8[4] = {0x81, 1, 0xff, 16}, b8[4] = {1, 7, 8, 2}, l8[4] = {0x02, 0x80, 0, 64}, r8[4] = {0x40, 0, 0, 4};
  BIN("shl.u8", a8, b8, l8);
  BIN("shr.u8", a8, b8, r8);
  const int32_t a[4] = {-8, 5, INT32_MIN, 3}, b[4] = {1, -1, 31, 32}, l[4] = {-16, 0, 0, 0}, r[4] = {-4, 0, -1, 0};
  BIN("shl.i32", a, b, l);
  BIN("shr.i32", a, b, r);
  const uint64_t a64[4] = {1, UINT64_MAX, 3, 1u << 20}, b64[4] = {63, 60, 64, 20};
  const uint64_t l64[4] = {1ull << 63, 0xf000000000000000ull, 0, 1ull << 40}, r64[4] = {0, 0xf, 0, 1};
  BIN("shl.u64", a64, b64, l64);
  BIN("shr.u64", a64, b64, r64);
}

static void sem_pow(void) {
  const float a[8] = {2, 2, 9, NaNf, -8, 0, 2, 10};
  const float b[8] = {3, -1, 0.5f, 0, 1.0f / 3, -1, 0.5f, -2};
  const float y[8] = {8, 0.5f, 3, 1, NaNf, INFf, 1.41421356237309505f, 0.01f}; /* NaN^0 is 1 */
  BIN_TOL("pow.f32", a, b, y, 1e-6);
  const double ad[4] = {2, 1.5, -2, 1}, bd[4] = {10, 2, 3, NaNd}, yd[4] = {1024, 2.25, -8, 1}; /* 1^NaN is 1 */
  BIN("pow.f64", ad, bd, yd);
  const uint16_t ah[4] = {0x4000, 0x4200, 0x3c00, 0x4400}, bh[4] = {0x4200, 0x4000, 0x7e00, 0x3800}; /* 2^3 3^2 1^NaN 4^.5 */
  const uint16_t yh[4] = {0x4800, 0x4880, 0x3c00, 0x4000};
  BIN("pow.f16", ah, bh, yh);
}

/* ---- VXM: conversion ----------------------------------------------------------------------- */

static void sem_cvt_float_to_int(void) {
  /* truncation toward zero, saturation, NaN gives 0 */
  const float a[8] = {1.9f, -1.9f, 3e9f, -3e9f, NaNf, INFf, -INFf, -0.5f};
  const int32_t y[8] = {1, -1, INT32_MAX, INT32_MIN, 0, INT32_MAX, INT32_MIN, 0};
  UN("cvt.f32.i32", a, y);
  const float a8[8] = {127.9f, -128.9f, 200, -200, 1.5f, -1.5f, NaNf, -0.0f};
  const int8_t y8[8] = {127, -128, 127, -128, 1, -1, 0, 0};
  UN("cvt.f32.i8", a8, y8);
  const float au[8] = {-1, 255.9f, 300, NaNf, 1.5f, -0.9f, 128, INFf};
  const uint8_t yu[8] = {0, 255, 255, 0, 1, 0, 128, 255};
  UN("cvt.f32.u8", au, yu);
  const float a16[4] = {40000, -40000, -32768.5f, 32767.5f};
  const int16_t y16[4] = {32767, -32768, -32768, 32767};
  UN("cvt.f32.i16", a16, y16);
  const float au16[4] = {70000, -5, 65535.5f, 1.5f};
  const uint16_t yu16[4] = {65535, 0, 65535, 1};
  UN("cvt.f32.u16", au16, yu16);
  const float au32[4] = {5e9f, 4e9f, -1, NaNf}; /* 4e9 is exact in f32 */
  const uint32_t yu32[4] = {UINT32_MAX, 4000000000u, 0, 0};
  UN("cvt.f32.u32", au32, yu32);
  const double ad[4] = {1e19, -1e19, 9.2e18, -2.5}; /* 9.2e18 is exact in f64 */
  const int64_t yd[4] = {INT64_MAX, INT64_MIN, 9200000000000000000, -2};
  UN("cvt.f64.i64", ad, yd);
  const double adu[4] = {1.8e19, 2e19, -1, NaNd};
  const uint64_t ydu[4] = {18000000000000000000u, UINT64_MAX, 0, 0};
  UN("cvt.f64.u64", adu, ydu);
  const double ad32[4] = {2147483647.9, -2147483648.9, 1e10, -0.99};
  const int32_t yd32[4] = {INT32_MAX, INT32_MIN, INT32_MAX, 0};
  UN("cvt.f64.i32", ad32, yd32);
  const uint16_t ah[4] = {0x3e00, 0xc200, 0x7c00, 0x7e00}; /* f16 1.5 -3 inf NaN */
  const int32_t yh[4] = {1, -3, INT32_MAX, 0};
  UN("cvt.f16.i32", ah, yh);
  const uint16_t ab[4] = {0x4380, 0xbf80, 0x3f00, 0x4040}; /* bf16 256 -1 0.5 3 */
  const int8_t yb[4] = {127, -1, 0, 3};
  UN("cvt.bf16.i8", ab, yb);
}

static void sem_cvt_int_to_float(void) {
  /* 2^24+1 and 2^24+3 are ties: to even */
  const int32_t a[4] = {16777217, 16777219, INT32_MAX, -3};
  const float y[4] = {16777216.0f, 16777220.0f, 2147483648.0f, -3};
  UN("cvt.i32.f32", a, y);
  const int64_t al[4] = {9007199254740993, -9007199254740993, INT64_MIN, 7}; /* 2^53+1: tie, to even */
  const double yl[4] = {9007199254740992.0, -9007199254740992.0, -9223372036854775808.0, 7};
  UN("cvt.i64.f64", al, yl);
  const uint32_t au[4] = {UINT32_MAX, 0, 2147483648u, 1};
  const float yu[4] = {4294967296.0f, 0, 2147483648.0f, 1};
  UN("cvt.u32.f32", au, yu);
  const uint8_t a8[4] = {255, 0, 128, 1};
  const uint16_t y8[4] = {0x5bf8, 0x0000, 0x5800, 0x3c00}; /* f16 255 = 1.9921875 * 2^7, 128 = 2^7 */
  UN("cvt.u8.f16", a8, y8);
  const int32_t ab[4] = {257, 259, -1, 3}; /* bf16: 257 and 259 are ties, to even: 256, 260 */
  const uint16_t yb[4] = {0x4380, 0x4382, 0xbf80, 0x4040};
  UN("cvt.i32.bf16", ab, yb);
  const int8_t ai[4] = {-128, 127, -1, 0};
  const double yi[4] = {-128, 127, -1, 0};
  UN("cvt.i8.f64", ai, yi);
}

static void sem_cvt_float_to_float(void) {
  /* f32 -> f16, round to nearest even: 1+2^-11 is a tie (to 1.0), 1+3*2^-11 a tie (to 1+2^-9),
   * 1+2^-11+2^-20 above the tie; 65520 is the tie between 65504 and 65536: to even, overflow */
  const float a[8] = {1.0f, 0x1.002p0f, 0x1.006p0f, 0x1.00201p0f, 65504, 65520, -0.0f, 0.1f};
  const uint16_t y[8] = {0x3c00, 0x3c00, 0x3c02, 0x3c01, 0x7bff, 0x7c00, 0x8000, 0x2e66};
  UN("cvt.f32.f16", a, y);
  const float an[4] = {NaNf, -INFf, 65519, -2};
  const uint16_t yn[4] = {0x7e00, 0xfc00, 0x7bff, 0xc000};
  UN("cvt.f32.f16", an, yn);
  /* f32 -> bf16: 1+2^-8 is a tie (to 1.0), 1+3*2^-8 a tie (to 1+2^-6); FLT_MAX rounds up to inf */
  const float b[8] = {1.0f, 0x1.01p0f, 0x1.03p0f, 0x1.01001p0f, 0x1.fffffep127f, -2, NaNf, 0.1f};
  const uint16_t yb[8] = {0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x7f80, 0xc000, 0x7fc0, 0x3dcd};
  UN("cvt.f32.bf16", b, yb);
  const uint16_t h[4] = {0x3555, 0x7bff, 0xfc00, 0x8000};
  const float yh[4] = {0.333251953125f, 65504, -INFf, -0.0f};
  UN("cvt.f16.f32", h, yh);
  const uint16_t bf[4] = {0x3f81, 0xc000, 0x7f80, 0x0000};
  const float ybf[4] = {1.0078125f, -2, INFf, 0};
  UN("cvt.bf16.f32", bf, ybf);
  const float f[4] = {0.1f, -0.0f, INFf, 3.5f};
  const double yf[4] = {0.100000001490116119384765625, -0.0, INFd, 3.5};
  UN("cvt.f32.f64", f, yf);
  /* f64 -> f32: 1+2^-24 is a tie (to 1.0); 1e300 overflows */
  const double d[4] = {1e300, 0.1, 0x1.000001p0, 0x1.0000010001p0};
  const float yd[4] = {INFf, 0.1f, 1.0f, 0x1.000002p0f};
  UN("cvt.f64.f32", d, yd);
  const uint16_t hb[4] = {0x3c00, 0x7bff, 0xc200, 0x7c00}; /* f16 1, 65504, -3, inf -> bf16 */
  const uint16_t yhb[4] = {0x3f80, 0x4780, 0xc040, 0x7f80}; /* 65504 rounds up to 65536 in bf16 */
  UN("cvt.f16.bf16", hb, yhb);
  const float same[4] = {NaNf, -0.0f, 1.5f, -INFf};
  UN("cvt.f32.f32", same, same);
}

static void sem_cvt_int_to_int(void) {
  /* wrap (keep the low bits), sign-extend signed sources */
  const int32_t a[4] = {300, -1, 255, 256};
  const uint8_t y[4] = {44, 255, 255, 0};
  UN("cvt.i32.u8", a, y);
  const int32_t b[4] = {-129, 128, 127, -128};
  const int8_t yb[4] = {127, -128, 127, -128};
  UN("cvt.i32.i8", b, yb);
  const uint8_t c[4] = {200, 127, 128, 0};
  const int8_t yc[4] = {-56, 127, -128, 0};
  UN("cvt.u8.i8", c, yc);
  const int8_t d[4] = {-1, 5, -128, 0};
  const uint32_t yd[4] = {4294967295u, 5, 4294967168u, 0};
  UN("cvt.i8.u32", d, yd);
  const uint32_t e[4] = {4294967295u, 0, 2147483648u, 7};
  const int64_t ye[4] = {4294967295, 0, 2147483648, 7}; /* unsigned: zero-extended */
  UN("cvt.u32.i64", e, ye);
  const int64_t f[4] = {0x100000005, -1, 0x80000000, 0x7fffffff};
  const int32_t yf[4] = {5, -1, INT32_MIN, INT32_MAX};
  UN("cvt.i64.i32", f, yf);
  const int8_t g[4] = {-1, 1, -2, 0};
  const uint64_t yg[4] = {UINT64_MAX, 1, UINT64_MAX - 1, 0};
  UN("cvt.i8.u64", g, yg);
  const uint16_t h[4] = {65535, 32768, 1, 0};
  const int16_t yh[4] = {-1, -32768, 1, 0};
  UN("cvt.u16.i16", h, yh);
}

static void sem_cvt_bool(void) {
  /* to bool: nonzero is 1 (256 is not truncated to its low byte) */
  const int32_t a[4] = {0, 256, -1, 2};
  const uint8_t ya[4] = {0, 1, 1, 1};
  UN("cvt.i32.bool", a, ya);
  const float f[4] = {0, -0.0f, 0.5f, -INFf}; /* 0.5 is nonzero: 1, not truncated to 0 */
  const uint8_t yf[4] = {0, 0, 1, 1};
  UN("cvt.f32.bool", f, yf);
  const uint8_t u[4] = {0, 255, 16, 1};
  const uint8_t yu[4] = {0, 1, 1, 1};
  UN("cvt.u8.bool", u, yu);
  /* from bool: 0 and 1 */
  const uint8_t bl[4] = {0, 1, 1, 0};
  const int32_t yi[4] = {0, 1, 1, 0};
  const float yfl[4] = {0, 1, 1, 0};
  const uint16_t yh[4] = {0x0000, 0x3c00, 0x3c00, 0x0000};
  UN("cvt.bool.i32", bl, yi);
  UN("cvt.bool.f32", bl, yfl);
  UN("cvt.bool.f16", bl, yh);
  UN("cvt.bool.bool", bl, bl);
}

/* ---- VXM: binary arithmetic ------------------------------------------------------------------- */

static void sem_add(void) {
  const float a[8] = {1.5f, 1e8f, INFf, -0.0f, 0.1f, -1, NaNf, 3e38f};
  const float b[8] = {2.25f, 1, -INFf, -0.0f, 0.2f, 1, 1, 3e38f};
  /* 1e8 + 1 rounds to 1e8 (spacing 8); 0.1f + 0.2f = 0.300000011920928955078125 exactly, rounded
   * to f32 0x3e99999a; -1 + 1 is +0 */
  const float y[8] = {3.75f, 1e8f, NaNf, -0.0f, 0x1.333334p-2f, 0, NaNf, INFf};
  BIN("add.f32", a, b, y);
  const double ad[4] = {0.1, 1e16, -0.0, 1}, bd[4] = {0.2, 1, 0.0, -1}, yd[4] = {0.30000000000000004, 1e16, 0, 0};
  BIN("add.f64", ad, bd, yd);
  const int8_t a8[4] = {127, -128, 100, -5}, b8[4] = {1, -1, 27, 3}, y8[4] = {-128, 127, 127, -2};
  BIN("add.i8", a8, b8, y8);
  const uint8_t au[4] = {255, 200, 0, 128}, bu[4] = {1, 100, 0, 128}, yu[4] = {0, 44, 0, 0};
  BIN("add.u8", au, bu, yu);
  const int16_t a16[4] = {32767, -32768, 1000, -1}, b16[4] = {1, -1, -3000, 1}, y16[4] = {-32768, 32767, -2000, 0};
  BIN("add.i16", a16, b16, y16);
  const uint16_t au16[4] = {65535, 40000, 1, 0}, bu16[4] = {1, 40000, 2, 0}, yu16[4] = {0, 14464, 3, 0};
  BIN("add.u16", au16, bu16, yu16);
  const int32_t a32[4] = {INT32_MAX, INT32_MIN, -7, 5}, b32[4] = {1, -1, 3, -5}, y32[4] = {INT32_MIN, INT32_MAX, -4, 0};
  BIN("add.i32", a32, b32, y32);
  const uint32_t au32[4] = {UINT32_MAX, 3, 0x80000000u, 0}, bu32[4] = {2, 4, 0x80000000u, 0}, yu32[4] = {1, 7, 0, 0};
  BIN("add.u32", au32, bu32, yu32);
  const int64_t a64[4] = {INT64_MAX, INT64_MIN, -1, 1}, b64[4] = {1, -1, 1, 1}, y64[4] = {INT64_MIN, INT64_MAX, 0, 2};
  BIN("add.i64", a64, b64, y64);
  const uint64_t au64[4] = {UINT64_MAX, 5, 1ull << 63, 0}, bu64[4] = {1, 6, 1ull << 63, 0}, yu64[4] = {0, 11, 0, 0};
  BIN("add.u64", au64, bu64, yu64);
  /* f16: 2048+1 is a tie (to 2048), 2050+1 a tie (to 2052); 65504+65504 overflows */
  const uint16_t ah[4] = {0x6800, 0x6801, 0x7bff, 0x3c00}, bh[4] = {0x3c00, 0x3c00, 0x7bff, 0x3c00};
  const uint16_t yh[4] = {0x6800, 0x6802, 0x7c00, 0x4000};
  BIN("add.f16", ah, bh, yh);
  /* bf16: 256+1 is a tie (to 256), 258+1 a tie (to 260); 1 + -1 is +0 */
  const uint16_t ab[4] = {0x4380, 0x4381, 0x3f80, 0x3f80}, bb[4] = {0x3f80, 0x3f80, 0x3f80, 0xbf80};
  const uint16_t yb[4] = {0x4380, 0x4382, 0x4000, 0x0000};
  BIN("add.bf16", ab, bb, yb);
}

static void sem_sub(void) {
  const float a[8] = {1, -0.0f, 5, INFf, 0, 1e8f, -1, NaNf}, b[8] = {1, 0, 7.5f, INFf, -0.0f, -1, -1, 0};
  const float y[8] = {0, -0.0f, -2.5f, NaNf, 0, 1e8f, 0, NaNf};
  BIN("sub.f32", a, b, y);
  const double ad[4] = {0.3, 1, -0.0, 2}, bd[4] = {0.1, 1, -0.0, -2}, yd[4] = {0.19999999999999998, 0, 0, 4};
  BIN("sub.f64", ad, bd, yd);
  const int8_t a8[4] = {-128, 127, 0, -1}, b8[4] = {1, -1, -128, -1}, y8[4] = {127, -128, -128, 0};
  BIN("sub.i8", a8, b8, y8);
  const uint8_t au[4] = {0, 5, 255, 1}, bu[4] = {1, 10, 255, 0}, yu[4] = {255, 251, 0, 1};
  BIN("sub.u8", au, bu, yu);
  const int32_t a32[4] = {INT32_MIN, INT32_MAX, 0, 3}, b32[4] = {1, -1, INT32_MIN, 5};
  const int32_t y32[4] = {INT32_MAX, INT32_MIN, INT32_MIN, -2};
  BIN("sub.i32", a32, b32, y32);
  const uint64_t a64[4] = {0, 10, UINT64_MAX, 1}, b64[4] = {1, 3, UINT64_MAX, 2}, y64[4] = {UINT64_MAX, 7, 0, UINT64_MAX};
  BIN("sub.u64", a64, b64, y64);
  const uint16_t ah[4] = {0x4200, 0x3c00, 0x6800, 0x7c00}, bh[4] = {0x3c00, 0x3c00, 0xbc00, 0x7c00}; /* 3-1 1-1 2048+1 inf-inf */
  const uint16_t yh[4] = {0x4000, 0x0000, 0x6800, 0x7e00};
  BIN("sub.f16", ah, bh, yh);
}

static void sem_mul(void) {
  const float a[8] = {3, 0, INFf, 1e30f, -0.5f, 2, NaNf, 1e-30f}, b[8] = {-2.5f, -1, 0, 1e30f, -0.5f, 0.25f, 1, 1e-30f};
  const float y[8] = {-7.5f, -0.0f, NaNf, INFf, 0.25f, 0.5f, NaNf, 0}; /* 1e-60 underflows to 0 */
  BIN("mul.f32", a, b, y);
  const double ad[4] = {1e200, -3, 0.1, 1.5}, bd[4] = {1e200, 0, 3, 1.5}, yd[4] = {INFd, -0.0, 0.30000000000000004, 2.25};
  BIN("mul.f64", ad, bd, yd);
  /* i8: 16*8 = 128 wraps to -128; -128 * -1 wraps to -128; 127*127 = 16129 = 63*256 + 1 */
  const int8_t a8[4] = {16, -128, 127, -3}, b8[4] = {8, -1, 127, 5}, y8[4] = {-128, -128, 1, -15};
  BIN("mul.i8", a8, b8, y8);
  const uint8_t au[4] = {16, 15, 255, 2}, bu[4] = {16, 17, 255, 3}, yu[4] = {0, 255, 1, 6};
  BIN("mul.u8", au, bu, yu);
  /* i32: INT32_MIN * -1 wraps to INT32_MIN; 2^16 * 2^16 = 2^32 wraps to 0;
   * 46341^2 = 2147488281 = 2^31 + 4633 wraps to -2^31 + 4633 */
  const int32_t a32[4] = {INT32_MIN, 65536, 46341, -7}, b32[4] = {-1, 65536, 46341, 6};
  const int32_t y32[4] = {INT32_MIN, 0, -2147479015, -42};
  BIN("mul.i32", a32, b32, y32);
  const uint32_t au32[4] = {65536, UINT32_MAX, 3, 0}, bu32[4] = {65537, UINT32_MAX, 5, 9}, yu32[4] = {65536, 1, 15, 0};
  BIN("mul.u32", au32, bu32, yu32);
  const int64_t a64[4] = {INT64_MIN, 1ll << 32, -1, 3}, b64[4] = {-1, 1ll << 32, INT64_MIN, -3};
  const int64_t y64[4] = {INT64_MIN, 0, INT64_MIN, -9};
  BIN("mul.i64", a64, b64, y64);
  /* f16 3*3 = 9; 255*255 = 65025: the spacing at 2^15 is 32, so it rounds to 65024 (0x7bf0);
   * 0.5*0.5; -0 * 1 */
  const uint16_t ah[4] = {0x4200, 0x5bf8, 0x3800, 0x8000}, bh[4] = {0x4200, 0x5bf8, 0x3800, 0x3c00};
  const uint16_t yh[4] = {0x4880, 0x7bf0, 0x3400, 0x8000};
  BIN("mul.f16", ah, bh, yh);
  const uint16_t ab[4] = {0x4040, 0x4380, 0xbf80, 0x3f00}, bb[4] = {0x4040, 0x4380, 0x3f80, 0x4000}; /* 3*3 256*256 -1*1 .5*2 */
  const uint16_t yb[4] = {0x4110, 0x4780, 0xbf80, 0x3f80};
  BIN("mul.bf16", ab, bb, yb);
}

static void sem_div(void) {
  const float a[8] = {7, 1, -1, 0, -9, 1, INFf, 3}, b[8] = {2, 0, 0, 0, 4, -0.0f, INFf, -0.5f};
  const float y[8] = {3.5f, INFf, -INFf, NaNf, -2.25f, -INFf, NaNf, -6};
  BIN("div.f32", a, b, y);
  const double ad[4] = {1, -9, 0, 1e300}, bd[4] = {3, 4, -5, 1e-300}, yd[4] = {0.33333333333333331, -2.25, -0.0, INFd};
  BIN("div.f64", ad, bd, yd);
  /* integers truncate toward zero; x / 0 is 0; INT_MIN / -1 wraps to INT_MIN */
  const int32_t a32[8] = {7, -7, 7, -7, 5, INT32_MIN, 0, -1}, b32[8] = {2, 2, -2, -2, 0, -1, 0, 0};
  const int32_t y32[8] = {3, -3, -3, 3, 0, INT32_MIN, 0, 0};
  BIN("div.i32", a32, b32, y32);
  const int8_t a8[4] = {-128, 127, -128, 100}, b8[4] = {-1, 0, 2, -7}, y8[4] = {-128, 0, -64, -14};
  BIN("div.i8", a8, b8, y8);
  const uint8_t au[4] = {255, 255, 255, 7}, bu[4] = {0, 2, 255, 8}, yu[4] = {0, 127, 1, 0};
  BIN("div.u8", au, bu, yu);
  const int64_t a64[4] = {INT64_MIN, -9, INT64_MAX, 9}, b64[4] = {-1, 4, 0, -4}, y64[4] = {INT64_MIN, -2, 0, -2};
  BIN("div.i64", a64, b64, y64);
  /* unsigned: the all-ones divisor is a large number, not -1 */
  const uint32_t au32[4] = {UINT32_MAX, 10, 0x80000000u, 9}, bu32[4] = {UINT32_MAX, UINT32_MAX, 2, 0};
  const uint32_t yu32[4] = {1, 0, 0x40000000u, 0};
  BIN("div.u32", au32, bu32, yu32);
  const uint64_t au64[4] = {UINT64_MAX, 10, 100, 0}, bu64[4] = {UINT64_MAX, UINT64_MAX, 7, 0}, yu64[4] = {1, 0, 14, 0};
  BIN("div.u64", au64, bu64, yu64);
  const uint16_t ah[4] = {0x4200, 0x3c00, 0x0000, 0xbc00}, bh[4] = {0x4000, 0x0000, 0x0000, 0x4000}; /* 3/2 1/0 0/0 -1/2 */
  const uint16_t yh[4] = {0x3e00, 0x7c00, 0x7e00, 0xb800};
  BIN("div.f16", ah, bh, yh);
}

static void sem_mod(void) {
  /* a - b*floor(a/b): the result takes the sign of b */
  const int32_t a32[8] = {-7, 7, 7, -7, 5, INT32_MIN, 6, INT32_MIN}, b32[8] = {3, -3, 3, -3, 0, -1, 3, 3};
  /* INT32_MIN = -2147483648 = 3 * -715827883 + 1 */
  const int32_t y32[8] = {2, -2, 1, -1, 0, 0, 0, 1};
  BIN("mod.i32", a32, b32, y32);
  /* -128 = 3 * -43 + 1; 127 = -2 * -64 + -1 */
  const int8_t a8[4] = {-128, -128, 127, 0}, b8[4] = {-1, 3, -2, 0}, y8[4] = {0, 1, -1, 0};
  BIN("mod.i8", a8, b8, y8);
  const uint8_t au[4] = {250, 5, 255, 7}, bu[4] = {7, 0, 255, 255}, yu[4] = {5, 0, 0, 7};
  BIN("mod.u8", au, bu, yu);
  const uint32_t au32[4] = {7, UINT32_MAX, 0x80000001u, 9}, bu32[4] = {UINT32_MAX, 2, 0x80000000u, 0};
  const uint32_t yu32[4] = {7, 1, 1, 0};
  BIN("mod.u32", au32, bu32, yu32);
  const int64_t a64[4] = {-7, 7, INT64_MIN, INT64_MAX}, b64[4] = {3, -3, -1, 0}, y64[4] = {2, -2, 0, 0};
  BIN("mod.i64", a64, b64, y64);
  const float a[8] = {-7, 7, 7.5f, -7.5f, 5, 7, -7, 1}, b[8] = {3, -3, 2, 2, 0, 3, -3, INFf};
  const float y[8] = {2, -2, 1.5f, 0.5f, NaNf, 1, -1, 1};
  BIN("mod.f32", a, b, y);
  const double ad[4] = {-7, 7, 5.5, -0.25}, bd[4] = {3, -3, -2, 1}, yd[4] = {2, -2, -0.5, 0.75};
  BIN("mod.f64", ad, bd, yd);
  const uint16_t ah[4] = {0xc700, 0x4700, 0x4100, 0x3c00}, bh[4] = {0x4200, 0xc200, 0x4000, 0x0000}; /* -7%3 7%-3 2.5%2 1%0 */
  const uint16_t yh[4] = {0x4000, 0xc000, 0x3800, 0x7e00};
  BIN("mod.f16", ah, bh, yh);
}

static void sem_min_max(void) {
  /* NaN if either input is NaN, in either position */
  const float a[8] = {1, NaNf, -1, INFf, -0.5f, NaNf, 3, -INFf}, b[8] = {NaNf, 1, 2, -INFf, -0.25f, NaNf, 3, 0};
  const float mn[8] = {NaNf, NaNf, -1, -INFf, -0.5f, NaNf, 3, -INFf};
  const float mx[8] = {NaNf, NaNf, 2, INFf, -0.25f, NaNf, 3, 0};
  BIN("min.f32", a, b, mn);
  BIN("max.f32", a, b, mx);
  /* bit for bit: a's NaN when both are, b's NaN after a number, b of two equal (+0, -0) */
  const uint32_t pa[4] = {0x7fc00001u, 0x3f800000u, 0x00000000u, 0x80000000u};
  const uint32_t pb[4] = {0x7fc00002u, 0x7fc00003u, 0x80000000u, 0x00000000u};
  const uint32_t pm[4] = {0x7fc00001u, 0x7fc00003u, 0x80000000u, 0x00000000u};
  float fa[4], fb[4], fm[4];
  memcpy(fa, pa, sizeof fa), memcpy(fb, pb, sizeof fb), memcpy(fm, pm, sizeof fm);
  BIN("max.f32", fa, fb, fm);
  BIN("min.f32", fa, fb, fm);
  /* 32 lanes: max(l - 16, 16 - l) = |l - 16|, min = -|l - 16| */
  float la[32], lb[32], lmx[32], lmn[32];
  for (int l = 0; l < 32; l++)
    la[l] = (float)(l - 16), lb[l] = (float)(16 - l), lmx[l] = (float)abs(l - 16), lmn[l] = (float)-abs(l - 16);
  op_case(32, "max.f32", NULL, 2, ARGS2(la, lb), lmx, sizeof lmx, 0);
  op_case(32, "min.f32", NULL, 2, ARGS2(la, lb), lmn, sizeof lmn, 0);
  const double ad[4] = {NaNd, 1e300, -2, 5}, bd[4] = {0, -1e300, NaNd, 6};
  const double mnd[4] = {NaNd, -1e300, NaNd, 5}, mxd[4] = {NaNd, 1e300, NaNd, 6};
  BIN("min.f64", ad, bd, mnd);
  BIN("max.f64", ad, bd, mxd);
  const int8_t a8[4] = {-128, 127, -1, 0}, b8[4] = {127, -128, 1, 0}, mn8[4] = {-128, -128, -1, 0};
  const int8_t mx8[4] = {127, 127, 1, 0};
  BIN("min.i8", a8, b8, mn8);
  BIN("max.i8", a8, b8, mx8);
  const uint8_t au[4] = {255, 200, 0, 128}, bu[4] = {0, 100, 1, 127}, mnu[4] = {0, 100, 0, 127}, mxu[4] = {255, 200, 1, 128};
  BIN("min.u8", au, bu, mnu);
  BIN("max.u8", au, bu, mxu);
  /* unsigned compare: 0x80000000 is large */
  const uint32_t a32[4] = {0x80000000u, 1, UINT32_MAX, 5}, b32[4] = {1, 0x80000000u, 0, 5};
  const uint32_t mn32[4] = {1, 1, 0, 5}, mx32[4] = {0x80000000u, 0x80000000u, UINT32_MAX, 5};
  BIN("min.u32", a32, b32, mn32);
  BIN("max.u32", a32, b32, mx32);
  const int64_t a64[4] = {INT64_MIN, INT64_MAX, -5, 0}, b64[4] = {0, -1, -6, 0};
  const int64_t mn64[4] = {INT64_MIN, -1, -6, 0}, mx64[4] = {0, INT64_MAX, -5, 0};
  BIN("min.i64", a64, b64, mn64);
  BIN("max.i64", a64, b64, mx64);
  const uint16_t ah[4] = {0x7e00, 0x3c00, 0x3c00, 0xc000}, bh[4] = {0x3c00, 0x7e00, 0xc000, 0xfc00};
  const uint16_t mnh[4] = {0x7e00, 0x7e00, 0xc000, 0xfc00}, mxh[4] = {0x7e00, 0x7e00, 0x3c00, 0xc000};
  BIN("min.f16", ah, bh, mnh);
  BIN("max.f16", ah, bh, mxh);
  const uint16_t ab[4] = {0x7fc0, 0x3f80, 0x4000, 0xbf80}, bb[4] = {0x3f80, 0x4000, 0x7fc0, 0x3f80};
  const uint16_t mnb[4] = {0x7fc0, 0x3f80, 0x7fc0, 0xbf80}, mxb[4] = {0x7fc0, 0x4000, 0x7fc0, 0x3f80};
  BIN("min.bf16", ab, bb, mnb);
  BIN("max.bf16", ab, bb, mxb);
}

static void sem_bits(void) {
  const int32_t a[4] = {0xf0f0, -1, 0, INT32_MIN}, b[4] = {0xff00, 0x1234, -1, -1};
  const int32_t yand[4] = {0xf000, 0x1234, 0, INT32_MIN}, yor[4] = {0xfff0, -1, -1, -1};
  const int32_t yxor[4] = {0x0ff0, ~0x1234, -1, INT32_MAX};
  BIN("and.i32", a, b, yand);
  BIN("or.i32", a, b, yor);
  BIN("xor.i32", a, b, yxor);
  const uint8_t au[4] = {0xf0, 0xff, 0x0f, 0xaa}, bu[4] = {0x3c, 0x00, 0xff, 0x55};
  const uint8_t andu[4] = {0x30, 0x00, 0x0f, 0x00}, oru[4] = {0xfc, 0xff, 0xff, 0xff}, xoru[4] = {0xcc, 0xff, 0xf0, 0xff};
  BIN("and.u8", au, bu, andu);
  BIN("or.u8", au, bu, oru);
  BIN("xor.u8", au, bu, xoru);
  const int64_t al[4] = {INT64_MIN, -1, 0x0123456789abcdef, 0}, bl[4] = {-1, INT64_MAX, 0x00000000ffffffff, 0};
  const int64_t andl[4] = {INT64_MIN, INT64_MAX, 0x0000000089abcdef, 0}, orl[4] = {-1, -1, 0x01234567ffffffff, 0};
  const int64_t xorl[4] = {INT64_MAX, INT64_MIN, 0x0123456776543210, 0};
  BIN("and.i64", al, bl, andl);
  BIN("or.i64", al, bl, orl);
  BIN("xor.i64", al, bl, xorl);
  const uint16_t ah[4] = {0xffff, 0x8001, 0x1234, 0}, bh[4] = {0x00ff, 0x8000, 0x4321, 0};
  const uint16_t andh[4] = {0x00ff, 0x8000, 0x0220, 0}, orh[4] = {0xffff, 0x8001, 0x5335, 0};
  const uint16_t xorh[4] = {0xff00, 0x0001, 0x5115, 0};
  BIN("and.u16", ah, bh, andh);
  BIN("or.u16", ah, bh, orh);
  BIN("xor.u16", ah, bh, xorh);
  /* bool logic: truth tables */
  const uint8_t p[4] = {0, 0, 1, 1}, q[4] = {0, 1, 0, 1};
  const uint8_t pand[4] = {0, 0, 0, 1}, por[4] = {0, 1, 1, 1}, pxor[4] = {0, 1, 1, 0};
  BIN("and.bool", p, q, pand);
  BIN("or.bool", p, q, por);
  BIN("xor.bool", p, q, pxor);
}

static void sem_compare(void) {
  /* IEEE: NaN is unordered and unequal to everything, itself included; -0 == 0 */
  const float a[8] = {1, NaNf, 1, -0.0f, 2, NaNf, INFf, -INFf}, b[8] = {1, NaNf, 2, 0, 1, 1, INFf, 0};
  const uint8_t eq[8] = {1, 0, 0, 1, 0, 0, 1, 0}, ne[8] = {0, 1, 1, 0, 1, 1, 0, 1};
  const uint8_t lt[8] = {0, 0, 1, 0, 0, 0, 0, 1}, le[8] = {1, 0, 1, 1, 0, 0, 1, 1};
  BIN("eq.f32", a, b, eq);
  BIN("ne.f32", a, b, ne);
  BIN("lt.f32", a, b, lt);
  BIN("le.f32", a, b, le);
  const double ad[4] = {NaNd, 0.1, -0.0, 1e300}, bd[4] = {NaNd, 0.1, 0.0, INFd};
  const uint8_t eqd[4] = {0, 1, 1, 0}, ned[4] = {1, 0, 0, 1}, ltd[4] = {0, 0, 0, 1}, led[4] = {0, 1, 1, 1};
  BIN("eq.f64", ad, bd, eqd);
  BIN("ne.f64", ad, bd, ned);
  BIN("lt.f64", ad, bd, ltd);
  BIN("le.f64", ad, bd, led);
  const uint16_t ah[4] = {0x7e00, 0x3c00, 0x8000, 0xc000}, bh[4] = {0x7e00, 0x3c00, 0x0000, 0x3c00}; /* NaN,NaN 1,1 -0,0 -2,1 */
  const uint8_t eqh[4] = {0, 1, 1, 0}, neh[4] = {1, 0, 0, 1}, lth[4] = {0, 0, 0, 1}, leh[4] = {0, 1, 1, 1};
  BIN("eq.f16", ah, bh, eqh);
  BIN("ne.f16", ah, bh, neh);
  BIN("lt.f16", ah, bh, lth);
  BIN("le.f16", ah, bh, leh);
  const uint16_t ab[4] = {0x7fc0, 0x3f80, 0x4000, 0xbf80}, bb[4] = {0x3f80, 0x3f80, 0x3f80, 0x8000};
  const uint8_t eqb[4] = {0, 1, 0, 0}, neb[4] = {1, 0, 1, 1}, ltb[4] = {0, 0, 0, 1}, leb[4] = {0, 1, 0, 1};
  BIN("eq.bf16", ab, bb, eqb);
  BIN("ne.bf16", ab, bb, neb);
  BIN("lt.bf16", ab, bb, ltb);
  BIN("le.bf16", ab, bb, leb);
  /* signed and unsigned order */
  const int32_t ai[4] = {-1, INT32_MIN, 5, 7}, bi[4] = {0, INT32_MAX, 5, -7};
  const uint8_t eqi[4] = {0, 0, 1, 0}, nei[4] = {1, 1, 0, 1}, lti[4] = {1, 1, 0, 0}, lei[4] = {1, 1, 1, 0};
  BIN("eq.i32", ai, bi, eqi);
  BIN("ne.i32", ai, bi, nei);
  BIN("lt.i32", ai, bi, lti);
  BIN("le.i32", ai, bi, lei);
  const uint32_t au[4] = {UINT32_MAX, 0, 5, 0x80000000u}, bu[4] = {1, UINT32_MAX, 5, 0x7fffffffu};
  const uint8_t ltu[4] = {0, 1, 0, 0}, leu[4] = {0, 1, 1, 0}, equ[4] = {0, 0, 1, 0};
  BIN("lt.u32", au, bu, ltu);
  BIN("le.u32", au, bu, leu);
  BIN("eq.u32", au, bu, equ);
  const int8_t a8[4] = {-128, 127, 0, -1}, b8[4] = {127, -128, 0, 1};
  const uint8_t lt8[4] = {1, 0, 0, 1}, le8[4] = {1, 0, 1, 1};
  BIN("lt.i8", a8, b8, lt8);
  BIN("le.i8", a8, b8, le8);
  const uint8_t a8u[4] = {255, 0, 128, 9}, b8u[4] = {0, 255, 127, 9};
  const uint8_t lt8u[4] = {0, 1, 0, 0}, ne8u[4] = {1, 1, 1, 0};
  BIN("lt.u8", a8u, b8u, lt8u);
  BIN("ne.u8", a8u, b8u, ne8u);
  const int64_t al[4] = {INT64_MIN, INT64_MAX, -1, 0x100000000}, bl[4] = {INT64_MAX, INT64_MIN, -1, 0};
  const uint8_t ltl[4] = {1, 0, 0, 0}, eql[4] = {0, 0, 1, 0};
  BIN("lt.i64", al, bl, ltl);
  BIN("eq.i64", al, bl, eql);
  const uint64_t aul[4] = {UINT64_MAX, 0, 1ull << 63, 3}, bul[4] = {0, UINT64_MAX, 1, 3};
  const uint8_t ltul[4] = {0, 1, 0, 0}, leul[4] = {0, 1, 0, 1};
  BIN("lt.u64", aul, bul, ltul);
  BIN("le.u64", aul, bul, leul);
  /* bool equality */
  const uint8_t p[4] = {0, 0, 1, 1}, q[4] = {0, 1, 0, 1}, eqb2[4] = {1, 0, 0, 1}, neb2[4] = {0, 1, 1, 0};
  BIN("eq.bool", p, q, eqb2);
  BIN("ne.bool", p, q, neb2);
}

/* ---- VXM: ternary, immediates --------------------------------------------------------------- */

static void sem_mac(void) {
  /* fused: (1+2^-12)(1-2^-12) - 1 = -2^-24 exactly; rounding the product first gives 1 - 1 = 0 */
  const float a[8] = {0x1.001p0f, 2, -1, 0.5f, INFf, 1e30f, 3, 0}, b[8] = {0x1.ffep-1f, 3, 4, 0.5f, 0, 1e30f, -0.0f, 0};
  const float c[8] = {-1, 1, 0.5f, -0.25f, 1, -INFf, -0.0f, -0.0f};
  const float y[8] = {-0x1p-24f, 7, -3.5f, 0, NaNf, -INFf, -0.0f, 0};
  TER("mac.f32", a, b, c, y);
  /* f64: (1+2^-27)(1-2^-27) - 1 = -2^-54 */
  const double ad[4] = {0x1.0000002p0, 2, 1e300, 0.1}, bd[4] = {0x1.ffffffcp-1, -3, 1e300, 10};
  const double cd[4] = {-1, 0.5, -INFd, -1};
  /* 0.1*10 - 1: 0.1 is 0x1.999999999999ap-4, the exact product minus 1 is 2^-54 */
  const double yd[4] = {-0x1p-54, -5.5, -INFd, 0x1p-54};
  TER("mac.f64", ad, bd, cd, yd);
  const int8_t a8[4] = {16, -128, 127, -3}, b8[4] = {8, -1, 2, 3}, c8[4] = {1, 0, 2, -128};
  const int8_t y8[4] = {-127, -128, 0, 119}; /* 129 wraps; 254+2 = 256 wraps to 0; -9-128 = -137 wraps to 119 */
  TER("mac.i8", a8, b8, c8, y8);
  const int32_t a32[4] = {INT32_MAX, INT32_MIN, 7, -1}, b32[4] = {2, -1, 6, INT32_MIN}, c32[4] = {2, 0, -42, -1};
  const int32_t y32[4] = {0, INT32_MIN, 0, INT32_MAX}; /* 2^32 - 2 + 2 wraps to 0; INT32_MIN - 1 wraps */
  TER("mac.i32", a32, b32, c32, y32);
  const uint8_t au[4] = {15, 255, 0, 2}, bu[4] = {17, 255, 9, 3}, cu[4] = {1, 0, 255, 4};
  const uint8_t yu[4] = {0, 1, 255, 10};
  TER("mac.u8", au, bu, cu, yu);
  const uint64_t a64[4] = {1ull << 32, UINT64_MAX, 3, 0}, b64[4] = {1ull << 32, UINT64_MAX, 4, 0}, c64[4] = {5, 0, 5, 0};
  const uint64_t y64[4] = {5, 1, 17, 0};
  TER("mac.u64", a64, b64, c64, y64);
  const uint16_t ah[4] = {0x4000, 0x3800, 0x6800, 0xbc00}, bh[4] = {0x4200, 0x4000, 0x3c00, 0x3c00};
  const uint16_t ch[4] = {0x3c00, 0x3800, 0x3c00, 0x3c00}; /* 2*3+1, .5*2+.5, 2048*1+1 (tie, to 2048), -1*1+1 */
  const uint16_t yh[4] = {0x4700, 0x3e00, 0x6800, 0x0000};
  TER("mac.f16", ah, bh, ch, yh);
}

static void sem_sel(void) {
  const uint8_t m[8] = {1, 0, 1, 0, 0, 0, 1, 1};
  const float b[8] = {1, 2, NaNf, 4, 5, 6, -0.0f, 8}, c[8] = {-1, -2, -3, -4, -5, -0.0f, -7, -8};
  const float y[8] = {1, -2, NaNf, -4, -5, -0.0f, -0.0f, 8};
  TER("sel.f32", m, b, c, y);
  const uint8_t m4[4] = {1, 0, 1, 0};
  const int8_t b8[4] = {1, 2, 3, 4}, c8[4] = {-1, -2, -3, -4}, y8[4] = {1, -2, 3, -4};
  TER("sel.i8", m4, b8, c8, y8);
  const double bd[8] = {1, 2, 3, 4, 5, 6, 7, 8}, cd[8] = {-1, -2, -3, -4, -5, -6, -7, -8};
  const double yd[8] = {1, -2, 3, -4, -5, -6, 7, 8};
  TER("sel.f64", m, bd, cd, yd);
  const uint8_t bb[4] = {1, 1, 0, 0}, cb[4] = {0, 1, 1, 0}, yb[4] = {1, 1, 0, 0};
  TER("sel.bool", m4, bb, cb, yb);
  const uint16_t bh[4] = {0x3c00, 0x3c00, 0x3c00, 0x3c00}, ch[4] = {0x7e00, 0x8000, 0x7e00, 0x8000};
  const uint16_t yh[4] = {0x3c00, 0x8000, 0x3c00, 0x8000};
  TER("sel.bf16", m4, bh, ch, yh);
}

static void sem_imm(void) {
  const float a[8] = {1, -0.5f, NaNf, INFf, -1, 2, 1e8f, -3};
  const float adds[8] = {1.5f, 0, NaNf, INFf, -0.5f, 2.5f, 1e8f, -2.5f};
  IMM("adds.f32", "0.5", a, adds);
  const float muls[8] = {-2, 1, NaNf, -INFf, 2, -4, -2e8f, 6};
  IMM("muls.f32", "-2", a, muls);
  const float mins[8] = {0, -0.5f, NaNf, 0, -1, 0, 0, -3};
  IMM("mins.f32", "0", a, mins);
  const float maxs[8] = {1, 0, NaNf, INFf, 0, 2, 1e8f, 0};
  IMM("maxs.f32", "0", a, maxs);
  const double ad[4] = {1, -0.25, 1e300, 0}, addsd[4] = {1.25, 0, 1e300, 0.25}, mulsd[4] = {1e300, -0.25e300, INFd, 0};
  IMM("adds.f64", "0.25", ad, addsd);
  IMM("muls.f64", "1e300", ad, mulsd);
  const int8_t a8[4] = {127, -128, 0, -5}, adds8[4] = {-128, -127, 1, -4}, mins8[4] = {-5, -128, -5, -5};
  const int8_t maxs8[4] = {127, -5, 0, -5};
  IMM("adds.i8", "1", a8, adds8);
  IMM("mins.i8", "-5", a8, mins8);
  IMM("maxs.i8", "-5", a8, maxs8);
  const int8_t muls8[4] = {-127, -128, 0, 5}; /* -1 * -128 wraps */
  IMM("muls.i8", "-1", a8, muls8);
  const uint8_t au[4] = {255, 100, 250, 0}, addsu[4] = {0, 101, 251, 1}, maxsu[4] = {255, 200, 250, 200};
  const uint8_t minsu[4] = {200, 100, 200, 0};
  IMM("adds.u8", "1", au, addsu);
  IMM("maxs.u8", "200", au, maxsu);
  IMM("mins.u8", "200", au, minsu);
  const int32_t a32[4] = {INT32_MIN, INT32_MAX, 3, -3}, adds32[4] = {INT32_MAX, INT32_MAX - 1, 2, -4};
  const int32_t muls32[4] = {INT32_MIN, -INT32_MAX, -3, 3};
  IMM("adds.i32", "-1", a32, adds32);
  IMM("muls.i32", "-1", a32, muls32);
  const int64_t a64[4] = {INT64_MIN, 5, -5, 0}, mins64[4] = {INT64_MIN, 0, -5, 0};
  const int64_t muls64[4] = {0, 5ll << 32, -(5ll << 32), 0};
  IMM("mins.i64", "0", a64, mins64);
  IMM("muls.i64", "4294967296", a64, muls64); /* INT64_MIN * 2^32 wraps to 0 */
  const uint16_t ah[4] = {0x3c00, 0x7bff, 0xbc00, 0x7e00}, mulsh[4] = {0x4000, 0x7c00, 0xc000, 0x7e00};
  IMM("muls.f16", "2", ah, mulsh);
  const uint16_t ab[4] = {0x4380, 0x4381, 0xbf80, 0x3f00}, addsb[4] = {0x4380, 0x4382, 0x0000, 0x3fc0}; /* +1: 257, 259 ties */
  IMM("adds.bf16", "1", ab, addsb);
  const uint16_t maxsb[4] = {0x4380, 0x4381, 0x3f80, 0x3f80};
  IMM("maxs.bf16", "1", ab, maxsb);
}

static void sem_splat(void) {
  /* the input only times the output: its type need not be the output's */
  const float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float yf[8] = {2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f};
  const int32_t yi[8] = {-7, -7, -7, -7, -7, -7, -7, -7};
  const tio in[] = {IO("a", a)};
  {
    const tio out[] = {IO("y", yf)};
    CHECK(L4 ".input a f32 [8] @0\n.output y f32 [8] @64\n"
             "mem0:\n @0 read.f32 e0, [a], n=2\nvxm0:\n @3 splat.f32 e1, e0, 2.5, n=2\nmem1:\n @5 write.f32 [y], e1, n=2\n",
          in, out);
  }
  {
    const tio out[] = {IO("y", yi)};
    CHECK(L4 ".input a f32 [8] @0\n.output y i32 [8] @64\n"
             "mem0:\n @0 read.f32 e0, [a], n=2\nvxm0:\n @3 splat.i32 e1, e0, -7, n=2\nmem1:\n @5 write.i32 [y], e1, n=2\n",
          in, out);
  }
  { /* f16, bool, i8, f64 (0.1 exactly as the f64 immediate), f32 from raw f64 bits (inf) */
    const int32_t b[4] = {9, 9, 9, 9};
    const uint16_t yh[4] = {0x3e00, 0x3e00, 0x3e00, 0x3e00};
    const uint8_t yb[4] = {1, 1, 1, 1};
    const int8_t y8[4] = {-1, -1, -1, -1};
    const double yd[4] = {0.1, 0.1, 0.1, 0.1};
    const float yinf[4] = {INFf, INFf, INFf, INFf};
    const tio in2[] = {IO("b", b)};
    const tio out[] = {IO("h", yh), IO("t", yb), IO("c", y8), IO("d", yd), IO("f", yinf)};
    CHECK(L4 ".input b i32 [4] @0\n.output h f16 [4] @64\n.output t bool [4] @128\n.output c i8 [4] @192\n"
             ".output d f64 [4] @256\n.output f f32 [4] @320\n"
             "mem0:\n @0 read.i32 e0, [b], n=1\n"
             "vxm0:\n @3 splat.f16 e1, e0, 1.5\nvxm1:\n @3 splat.bool e2, e0, 1\nvxm2:\n @3 splat.i8 e3, e0, -1\n"
             "vxm3:\n @3 splat.f64 e4, e0, 0.1\nvxm4:\n @3 splat.f32 e5, e0, bits:0x7ff0000000000000\n"
             "mem1:\n @5 write.f16 [h], e1\nmem2:\n @5 write.bool [t], e2\nmem3:\n @5 write.i8 [c], e3\n"
             "mem4:\n @5 write.f64 [d], e4\nmem5:\n @5 write.f32 [f], e5\n",
          in2, out);
  }
}

/* ---- VXM: reductions ---------------------------------------------------------------------- */

static void sem_vsum(void) {
  /* 4 vectors of 4 lanes; a[i][l]. Lane 0 sequentially: 1e8 + 1 rounds to 1e8 (spacing 8), - 1e8
   * is 0, + 1 is 1. Pairwise it would be (1e8+1) + (-1e8+1) = 1e8 - 1e8 = 0. */
  const float a[16] = {1e8f, 1, 0.5f, -1, 1, 2, 0.25f, -2, -1e8f, 3, 0.125f, 3, 1, 4, 0.125f, NaNf};
  const float y[4] = {1, 10, 1, NaNf};
  UN("vsum.f32", a, y);
  const double ad[8] = {1e17, 1, 0.1, 5, 1, 2, 0.2, 6}, yd[4] = {1e17, 3, 0.30000000000000004, 11}; /* 1e17 + 1: spacing 16 */
  UN("vsum.f64", ad, yd);
  const double ad3[12] = {1e17, 0, 0, 0, 1, 0, 0, 0, -1e17, 0, 0, 0}, yd3[4] = {0, 0, 0, 0};
  UN("vsum.f64", ad3, yd3);
  /* integers wrap */
  const int8_t a8[16] = {100, -128, 1, 0, 100, -1, 2, 0, 100, 0, 3, 0, -44, 0, 4, 0}, y8[4] = {0, 127, 10, 0};
  UN("vsum.i8", a8, y8);
  const uint8_t au[8] = {200, 255, 0, 1, 100, 1, 0, 2}, yu[4] = {44, 0, 0, 3};
  UN("vsum.u8", au, yu);
  const int64_t a64[8] = {INT64_MAX, -1, 0, 7, 1, -1, 0, 8}, y64[4] = {INT64_MIN, -2, 0, 15};
  UN("vsum.i64", a64, y64);
  /* f16 and bf16 sum in f32 and round once: 2048 + 1 + 1 = 2050 (stepwise in f16 it would stay 2048) */
  const uint16_t ah[12] = {0x6800, 0x3c00, 0x0000, 0x7bff, 0x3c00, 0x3c00, 0x0000, 0x7bff, 0x3c00, 0x3c00, 0x0000, 0xfbff};
  const uint16_t yh[4] = {0x6801, 0x4200, 0x0000, 0x7bff}; /* lane 3: 65504 + 65504 - 65504 in f32 = 65504 */
  UN("vsum.f16", ah, yh);
  const uint16_t ab[12] = {0x4380, 0x3f80, 0, 0, 0x3f80, 0x3f80, 0, 0, 0x3f80, 0x3f80, 0, 0};
  const uint16_t yb[4] = {0x4381, 0x4040, 0, 0}; /* 256 + 1 + 1 = 258 */
  UN("vsum.bf16", ab, yb);
}

static void sem_vmax(void) {
  const float a[16] = {1, -1, -INFf, 2, NaNf, -5, -INFf, 1, 3, -0.5f, -INFf, NaNf, 2, -2, -INFf, 0};
  const float y[4] = {NaNf, -0.5f, -INFf, NaNf};
  UN("vmax.f32", a, y);
  /* bit for bit: the first NaN stays (its payload), a NaN after a number wins, and of two
   * equal values the later (+0 and -0) */
  uint32_t zb[8] = {0x00000000u, 0x7fc00001u, 0x3f800000u, 0x80000000u, 0x80000000u, 0x7fc00002u, 0x7fc00003u, 0x00000000u};
  uint32_t zy[4] = {0x80000000u, 0x7fc00001u, 0x7fc00003u, 0x00000000u};
  float za[8], zf[4];
  memcpy(za, zb, sizeof za), memcpy(zf, zy, sizeof zf);
  UN("vmax.f32", za, zf);
  /* 32 lanes (two 16-lane halves): max(l - 16, 16 - l) = |l - 16| */
  float wa[64], wy[32];
  for (int l = 0; l < 32; l++) wa[l] = (float)(l - 16), wa[32 + l] = (float)(16 - l), wy[l] = (float)abs(l - 16);
  UNL(32, "vmax.f32", wa, wy);
  const double ad[8] = {-1e300, 0.1, NaNd, 1, -2e300, 0.2, 0, 1}, yd[4] = {-1e300, 0.2, NaNd, 1};
  UN("vmax.f64", ad, yd);
  const int32_t a32[12] = {INT32_MIN, -1, 5, 0, INT32_MIN, -3, 7, 0, INT32_MIN, -2, 6, 0}, y32[4] = {INT32_MIN, -1, 7, 0};
  UN("vmax.i32", a32, y32);
  const uint8_t au[12] = {255, 0, 1, 2, 0, 128, 1, 3, 128, 127, 1, 1}, yu[4] = {255, 128, 1, 3};
  UN("vmax.u8", au, yu);
  const uint16_t ah[8] = {0x3c00, 0xc000, 0x7e00, 0xfc00, 0x4000, 0xbc00, 0x3c00, 0xc200};
  const uint16_t yh[4] = {0x4000, 0xbc00, 0x7e00, 0xc200};
  UN("vmax.f16", ah, yh);
}

static void sem_lsum(void) {
  /* lanes 4: (a0 + a1) + (a2 + a3). Vector 0: (1e8 + 1) + (-1e8 + 1) = 1e8 + -1e8 = 0, where the
   * sequential sum ((1e8 + 1) - 1e8) + 1 would be 1. Other lanes of the output are 0. */
  const float a[8] = {1e8f, 1, -1e8f, 1, 0.5f, 0.25f, 2, 4};
  const float y[8] = {0, 0, 0, 0, 6.75f, 0, 0, 0};
  UN("lsum.f32", a, y);
  /* lanes 8: ((a0+a1) + (a2+a3)) + ((a4+a5) + (a6+a7)): 1e8 + -1e8 = 0; sequential would be 3 */
  const float a8[8] = {1e8f, 1, 1, 1, -1e8f, 1, 1, 1}, y8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  UNL(8, "lsum.f32", a8, y8);
  /* lanes 6: split at floor(6/2) = 3, then 3 at floor(3/2) = 1:
   * (a0 + (a1 + a2)) + (a3 + (a4 + a5)) = (1 + 0) + (1 + 0) = 2. A split at ceil would give
   * ((a0 + a1) + a2) + ... = (1e8 - 1e8) + ... = 0; sequential gives 0 too. */
  const float a6[6] = {1, 1e8f, -1e8f, 1, 1e8f, -1e8f}, y6[6] = {2, 0, 0, 0, 0, 0};
  UNL(6, "lsum.f32", a6, y6);
  const double ad[4] = {1e17, 1, -1e17, 1}, yd[4] = {0, 0, 0, 0};
  UN("lsum.f64", ad, yd);
  const int32_t a32[8] = {INT32_MAX, 1, 0, 0, -5, 3, 2, 1}, y32[8] = {INT32_MIN, 0, 0, 0, 1, 0, 0, 0};
  UN("lsum.i32", a32, y32);
  const uint8_t au[4] = {200, 100, 1, 2}, yu[4] = {47, 0, 0, 0};
  UN("lsum.u8", au, yu);
  /* f16 computes in f32: (2048 + 1) + (1 + 0) = 2050, rounded once (in f16 steps it would be 2048) */
  const uint16_t ah[4] = {0x6800, 0x3c00, 0x3c00, 0x0000}, yh[4] = {0x6801, 0, 0, 0};
  UN("lsum.f16", ah, yh);
}

static void sem_lmax(void) {
  const float a[12] = {1, 5, 3, 2, -1, -2, NaNf, -3, -INFf, -INFf, -INFf, -1e30f};
  const float y[12] = {5, 0, 0, 0, NaNf, 0, 0, 0, -1e30f, 0, 0, 0};
  UN("lmax.f32", a, y);
  const int8_t a8[8] = {-128, -1, -5, -100, 0, 127, -128, 1}, y8[8] = {-1, 0, 0, 0, 127, 0, 0, 0};
  UN("lmax.i8", a8, y8);
  const uint8_t au[4] = {0, 255, 1, 2}, yu[4] = {255, 0, 0, 0};
  UN("lmax.u8", au, yu);
  const double ad[4] = {-1, NaNd, 5, 6}, yd[4] = {NaNd, 0, 0, 0};
  UN("lmax.f64", ad, yd);
  const uint64_t a64[4] = {1, UINT64_MAX, 1ull << 63, 0}, y64[4] = {UINT64_MAX, 0, 0, 0};
  UN("lmax.u64", a64, y64);
}

/* ---- SXM ---------------------------------------------------------------------------------- */

static void sem_shift(void) {
  const float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float k1[8] = {0, 1, 2, 3, 0, 5, 6, 7}, km1[8] = {2, 3, 4, 0, 6, 7, 8, 0};
  const float k4[8] = {0, 0, 0, 0, 0, 0, 0, 0}, km3[8] = {4, 0, 0, 0, 8, 0, 0, 0};
  IMM("shift.f32", "1", a, k1);
  IMM("shift.f32", "-1", a, km1);
  IMM("shift.f32", "4", a, k4);
  IMM("shift.f32", "-3", a, km3);
  IMM("shift.f32", "0", a, a);
  IMM("shift.f32", "9223372036854775807", a, k4); /* l - k is far outside for every lane */
  IMM("shift.f32", "-9223372036854775808", a, k4);
  const int8_t b[4] = {-1, -2, -3, -4}, b2[4] = {0, 0, -1, -2};
  IMM("shift.i8", "2", b, b2);
  const double d[4] = {1.5, 2.5, 3.5, 4.5}, d1[4] = {2.5, 3.5, 4.5, 0};
  IMM("shift.f64", "-1", d, d1);
}

static void sem_rotate(void) {
  const float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float k1[8] = {4, 1, 2, 3, 8, 5, 6, 7}, km1[8] = {2, 3, 4, 1, 6, 7, 8, 5}, km2[8] = {3, 4, 1, 2, 7, 8, 5, 6};
  IMM("rotate.f32", "1", a, k1);
  IMM("rotate.f32", "-1", a, km1);
  IMM("rotate.f32", "5", a, k1);   /* k > L: 5 mod 4 = 1 */
  IMM("rotate.f32", "-6", a, km2); /* -6 mod 4 = 2 */
  IMM("rotate.f32", "4", a, a);
  IMM("rotate.f32", "9223372036854775807", a, km1);  /* 2^63 - 1 = -1 (mod 4) */
  IMM("rotate.f32", "-9223372036854775808", a, a);   /* -2^63 = 0 (mod 4) */
  const uint16_t h[4] = {10, 20, 30, 40}, h3[4] = {20, 30, 40, 10};
  IMM("rotate.u16", "3", h, h3);
  const uint8_t b[4] = {1, 0, 0, 1}, b1[4] = {1, 1, 0, 0};
  IMM("rotate.bool", "1", b, b1);
}

static void sem_dist(void) {
  const float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float k3[8] = {4, 4, 4, 4, 8, 8, 8, 8}, k0[8] = {1, 1, 1, 1, 5, 5, 5, 5};
  IMM("dist.f32", "3", a, k3);
  IMM("dist.f32", "0", a, k0);
  const int64_t b[4] = {INT64_MIN, 1, 2, 3}, b0[4] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  IMM("dist.i64", "0", b, b0);
}

static void sem_permute(void) {
  /* map {3, 0, 7, 1}: lane 2 names lane 7 >= L and gets 0; map {2, 2, 4294967295, 0} likewise */
  const float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float y[8] = {4, 1, 0, 2, 8, 5, 0, 6};
  const tio in[] = {IO("a", a)}, out[] = {IO("y", y)};
  CHECK(L4 ".input a f32 [8] @0\n.output y f32 [8] @64\n.const @128 u32 3 0 7 1\n"
           "mem0:\n @0 read.f32 e0, [a], n=2\nsxm0:\n @3 permute.f32 e1, e0, [128], n=2\n"
           "mem1:\n @6 write.f32 [y], e1, n=2\n",
        in, out);
  const int8_t b[4] = {-1, -2, -3, -4}, yb[4] = {-3, -3, 0, -1};
  const tio inb[] = {IO("b", b)}, outb[] = {IO("y", yb)};
  CHECK(L4 ".input b i8 [4] @0\n.output y i8 [4] @64\n.const @128 u32 2 2 4294967295 0\n"
           "mem0:\n @0 read.i8 e0, [b], n=1\nsxm1:\n @3 permute.i8 e1, e0, [128], n=1\n"
           "mem1:\n @6 write.i8 [y], e1, n=1\n",
        inb, outb);
}

static void sem_transpose(void) {
  /* a[k][j] = 10k + j, lanes 4: y[j][k] = a[k][j] */
  const float a[16] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33};
  const float y[16] = {0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32, 3, 13, 23, 33};
  UN("transpose.f32", a, y);
  /* 8 x 4: two blocks, each transposed on its own */
  const int8_t b[32] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33,
                        40, 41, 42, 43, 50, 51, 52, 53, 60, 61, 62, 63, 70, 71, 72, 73};
  const int8_t yb[32] = {0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32, 3, 13, 23, 33,
                         40, 50, 60, 70, 41, 51, 61, 71, 42, 52, 62, 72, 43, 53, 63, 73};
  UN("transpose.i8", b, yb);
  const double d[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const double yd[16] = {1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 4, 8, 12, 16};
  UN("transpose.f64", d, yd);
}

/* ---- MXM ---------------------------------------------------------------------------------- */

/* W = [[1, 2, 0, -1], [0, 1, 3, 2], [2, 0, 1, 1], [-1, 1, 1, 0]], x = [[1, 2, 3, 4], [2, -1, 1, 3]],
 * c = [[10, 20, 30, 40], [-1, -1, -1, -1]]: small integers, so every sum is exact. The weights
 * are read at 0 (arriving 3..6), installed by lw at 3..6 on mxm0, and x is read at 4 so that
 * mm issues at 7, when mxm0 is free; its output arrives at 7 + mxm_mm 4 + hop 1 = 12. */
static const float mm_W[16] = {1, 2, 0, -1, 0, 1, 3, 2, 2, 0, 1, 1, -1, 1, 1, 0};
static const float mm_x[8] = {1, 2, 3, 4, 2, -1, 1, 3};
static const float mm_c[8] = {10, 20, 30, 40, -1, -1, -1, -1};

#define MM_HEAD L4 ".input W f32 [4,4] @0\n.input x f32 [2,4] @64\n.input c f32 [2,4] @96\n.output y f32 [2,4] @128\n" \
                   "mem0:\n @0 read.f32 e0, [W], n=4\nmxm0:\n @3 lw.f32 p0, e0, n=4\n"                             \
                   "mem1:\n @4 read.f32 e1, [x], n=2\n"

static void sem_mm(void) {
  /* y[i][j] = sum_k x[i][k] W[k][j]:
   *   row 0: j0 1*1 + 2*0 + 3*2 + 4*-1 = 3    j1 1*2 + 2*1 + 3*0 + 4*1 = 8
   *          j2 1*0 + 2*3 + 3*1 + 4*1 = 13   j3 1*-1 + 2*2 + 3*1 + 4*0 = 6
   *   row 1: j0 2*1 + -1*0 + 1*2 + 3*-1 = 1   j1 2*2 + -1*1 + 1*0 + 3*1 = 6
   *          j2 2*0 + -1*3 + 1*1 + 3*1 = 1   j3 2*-1 + -1*2 + 1*1 + 3*0 = -3 */
  const float y[8] = {3, 8, 13, 6, 1, 6, 1, -3};
  const tio in[] = {IO("W", mm_W), IO("x", mm_x), IO("c", mm_c)}, out[] = {IO("y", y)};
  CHECK(MM_HEAD "mxm0:\n @7 mm.f32 e2, p0, e1, n=2\nmem2:\n @12 write.f32 [y], e2, n=2\n", in, out);
  /* with an accumulator stream: + c */
  const float ya[8] = {13, 28, 43, 46, 0, 5, 0, -4};
  const tio outa[] = {IO("y", ya)};
  CHECK(MM_HEAD "mem3:\n @4 read.f32 e3, [c], n=2\n"
                "mxm0:\n @7 mm.f32 e2, p0, e1, e3, n=2\nmem2:\n @12 write.f32 [y], e2, n=2\n",
        in, outa);
  /* cols=2: lanes 2 and 3 are 0, whatever the accumulator holds there */
  const float yc[8] = {13, 28, 0, 0, 0, 5, 0, 0};
  const tio outc[] = {IO("y", yc)};
  CHECK(MM_HEAD "mem3:\n @4 read.f32 e3, [c], n=2\n"
                "mxm0:\n @7 mm.f32 e2, p0, e1, e3, n=2, cols=2\nmem2:\n @12 write.f32 [y], e2, n=2\n",
        in, outc);
  /* cols=1 without accumulator */
  const float y1[8] = {3, 0, 0, 0, 1, 0, 0, 0};
  const tio out1[] = {IO("y", y1)};
  CHECK(MM_HEAD "mxm0:\n @7 mm.f32 e2, p0, e1, n=2, cols=1\nmem2:\n @12 write.f32 [y], e2, n=2\n", in, out1);
}

static void sem_lw_rows(void) {
  /* lw of 2 rows: K = 2, lanes 2 and 3 of x are ignored.
   *   y0 = 1*[1,2,0,-1] + 2*[0,1,3,2] = [1,4,6,3];  y1 = 2*[1,2,0,-1] - 1*[0,1,3,2] = [2,3,-3,-4] */
  const float y[8] = {1, 4, 6, 3, 2, 3, -3, -4};
  const tio in[] = {IO("W", mm_W), IO("x", mm_x)}, out[] = {IO("y", y)};
  CHECK(L4 ".input W f32 [4,4] @0\n.input x f32 [2,4] @64\n.output y f32 [2,4] @128\n"
           "mem0:\n @0 read.f32 e0, [W], n=2\nmxm1:\n @3 lw.f32 p1, e0, n=2\n"
           "mem1:\n @2 read.f32 e1, [x], n=2\nmxm1:\n @5 mm.f32 e2, p1, e1, n=2\nmem2:\n @10 write.f32 [y], e2, n=2\n",
        in, out);
  /* a second, shorter lw replaces the plane's weights and depth: rows 2 and 3 of the first
   * are gone. W2 = [[1,0,0,0],[0,0,0,1]]: y2[i] = [x[i][0], 0, 0, x[i][1]] */
  const float W2[8] = {1, 0, 0, 0, 0, 0, 0, 1};
  const float y1[8] = {3, 8, 13, 6, 1, 6, 1, -3}, y2[8] = {1, 0, 0, 2, 2, 0, 0, -1};
  const tio in2[] = {IO("W", mm_W), IO("W2", W2), IO("x", mm_x)}, out2[] = {IO("y1", y1), IO("y2", y2)};
  CHECK(L4 ".input W f32 [4,4] @0\n.input W2 f32 [2,4] @64\n.input x f32 [2,4] @96\n"
           ".output y1 f32 [2,4] @128\n.output y2 f32 [2,4] @160\n"
           "mem0:\n @0 read.f32 e0, [W], n=4\nmem1:\n @4 read.f32 e1, [x], n=2\n"
           "mem3:\n @6 read.f32 e3, [W2], n=2\nmem4:\n @8 read.f32 e4, [x], n=2\n"
           "mxm2:\n @3 lw.f32 p2, e0, n=4\n @7 mm.f32 e2, p2, e1, n=2\n @9 lw.f32 p2, e3, n=2\n"
           " @11 mm.f32 e5, p2, e4, n=2\n"
           "mem2:\n @12 write.f32 [y1], e2, n=2\nmem5:\n @16 write.f32 [y2], e5, n=2\n",
        in2, out2);
}

/* ---- ICU ---------------------------------------------------------------------------------- */

static void sem_repeat(void) {
  /* read n=2, stride=32 (rows 0 and 2), repeated once 2 cycles later at addr + n*stride = +64
   * (rows 4 and 6); the write is repeated likewise at y + 2*16 */
  float a[32];
  for (int i = 0; i < 32; i++) a[i] = (float)i; /* row r holds 4r .. 4r+3 */
  const float y[16] = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  const tio in[] = {IO("a", a)}, out[] = {IO("y", y)};
  CHECK(L4 ".input a f32 [32] @0\n.output y f32 [16] @128\n"
           "mem0:\n @0 read.f32 e0, [a], n=2, stride=32\n repeat 1, 2\n"
           "mem1:\n @3 write.f32 [y], e0, n=2\n repeat 1, 2\n",
        in, out);
  /* n=1 with a negative stride, repeated 3 times 1 cycle apart: rows 3, 2, 1, 0; through a neg */
  const float yn[16] = {-12, -13, -14, -15, -8, -9, -10, -11, -4, -5, -6, -7, -0.0f, -1, -2, -3};
  const tio outn[] = {IO("y", yn)};
  CHECK(L4 ".input a f32 [32] @0\n.output y f32 [16] @128\n"
           "mem0:\n @0 read.f32 e0, [a+48], n=1, stride=-16\n repeat 3, 1\n"
           "vxm0:\n @3 neg.f32 e1, e0, n=1\n repeat 3, 1\n"
           "mem1:\n @5 write.f32 [y], e1, n=1\n repeat 3, 1\n",
        in, outn);
}

static void sem_nop(void) {
  /* nop holds its queue: the read and the relu issue when it ends */
  const float a[8] = {-1, 2, -3, 4, 5, -6, 7, -8}, y[8] = {0, 2, 0, 4, 5, 0, 7, 0};
  const tio in[] = {IO("a", a)}, out[] = {IO("y", y)};
  CHECK(L4 ".input a f32 [8] @0\n.output y f32 [8] @64\n"
           "mem0:\n nop 2\n read.f32 e0, [a], n=2\nvxm0:\n nop 5\n relu.f32 e1, e0, n=2\n"
           "mem1:\n @7 write.f32 [y], e1, n=2\n",
        in, out);
}

static void sem_sync_notify(void) {
  const float a[4] = {1, -2, 3, -4}, y[4] = {-1, 2, -3, 4};
  const tio in[] = {IO("a", a)}, out[] = {IO("y", y)};
  CHECK(L4 ".input a f32 [4] @0\n.output y f32 [4] @64\n"
           "mem0:\n @0 read.f32 e0, [a], n=1\nvxm1:\n @1 notify\nvxm0:\n @2 sync\n @3 neg.f32 e1, e0\n"
           "mem1:\n @5 write.f32 [y], e1\n",
        in, out);
}

/* ---- long streams: the fast mode splits them across threads ----------------------------------- */

/* 256 vectors of 256 lanes (the host preset): enough work for fast mode to split the
 * elementwise, lane and gather instructions across threads. Integer data, so the expected
 * values are exact trivial expressions. */
Test(semantics, long_streams_split_across_threads) {
  enum { L = 256, N = 256, E = L * N };
  int32_t *a = malloc(E * 4), *b = malloc(E * 4), *s = malloc(E * 4), *l = malloc(E * 4), *g = malloc(E * 4),
          *r = malloc(E * 4), *pm = malloc(E * 4);
  float *f = malloc(E * 4);
  cr_assert(a && b && s && l && g && r && pm && f);
  for (int i = 0; i < E; i++) {
    a[i] = (int32_t)((i * 7919L) % 70011) - 5; /* -5 .. 70005: some gather indices fall outside */
    b[i] = i * 3 - 100000;
  }
  for (int v = 0; v < N; v++)
    for (int k = 0; k < L; k++) {
      const int i = v * L + k;
      s[i] = a[i] + b[i];
      f[i] = (float)a[i]; /* below 2^24: exact */
      g[i] = a[i] >= 0 && a[i] < E ? b[a[i]] : 0;
      r[i] = b[v * L + (k - 5 + L) % L];
      pm[i] = b[v * L + (L - 1 - k)];
      l[i] = 0;
    }
  for (int v = 0; v < N; v++)
    for (int k = 0; k < L; k++) l[v * L] += a[v * L + k];
  static char src[8192];
  int off = snprintf(src, sizeof src, ".target host\n.input a i32 [%d] @0\n.input b i32 [%d] @%d\n", E, E, 4 * E);
  const char *outs[6] = {"s i32", "f f32", "l i32", "g i32", "r i32", "p i32"};
  for (int k = 0; k < 6; k++)
    off += snprintf(src + off, sizeof src - (size_t)off, ".output %s [%d] @%d\n", outs[k], E, 4 * E * (2 + k));
  off += snprintf(src + off, sizeof src - (size_t)off, ".const @%d u32", 4 * E * 8);
  for (int k = 0; k < L; k++) off += snprintf(src + off, sizeof src - (size_t)off, " %d", L - 1 - k);
  snprintf(src + off, sizeof src - (size_t)off,
           "\nmem0:\n @0 read.i32 e0, [a], n=%d\nmem1:\n @0 read.i32 e1, [b], n=%d\n"
           "vxm0:\n @3 add.i32 e2, e0, e1, n=%d\nvxm1:\n @3 cvt.i32.f32 e3, e0, n=%d\nvxm2:\n @3 lsum.i32 e4, e0, n=%d\n"
           "mem2:\n @3 gather.i32 e5, [b], e0, n=%d, size=%d\n"
           "sxm0:\n @3 rotate.i32 e6, e1, 5, n=%d\nsxm1:\n @3 permute.i32 e7, e1, [%d], n=%d\n"
           "mem3:\n @5 write.i32 [s], e2, n=%d\nmem4:\n @5 write.f32 [f], e3, n=%d\nmem5:\n @6 write.i32 [l], e4, n=%d\n"
           "mem6:\n @8 write.i32 [g], e5, n=%d\nmem7:\n @6 write.i32 [r], e6, n=%d\nmem8:\n @6 write.i32 [p], e7, n=%d\n",
           N, N, N, N, N, N, E, N, 4 * E * 8, N, N, N, N, N, N, N);
  cr_assert(strlen(src) < sizeof src - 1, "program text truncated");
  const tio in[] = {{"a", a, E * 4}, {"b", b, E * 4}};
  const tio out[] = {{"s", s, E * 4}, {"f", f, E * 4}, {"l", l, E * 4}, {"g", g, E * 4}, {"r", r, E * 4}, {"p", pm, E * 4}};
  CHECK(src, in, out);
  free(a), free(b), free(s), free(l), free(g), free(r), free(pm), free(f);
}

/* erf.f32 at 2^20 floats spread evenly over every positive f32 from FLT_MIN to 4.5 (and
 * their negatives): within one ulp of glibc's double erf, in both modes */
Test(accuracy, erf_within_an_ulp_across_the_floats) {
  enum { V = 4096, N = V * 256 };
  float *x = malloc(sizeof *x * N);
  cr_assert(x);
  const uint32_t lo = 0x00800000u, hi = 0x40900000u;
  for (uint32_t i = 0; i < N; i++) {
    uint32_t u = lo + (uint32_t)((uint64_t)(hi - lo) * i / N) + i % 7;
    memcpy(&x[i], &u, 4);
    if (i % 2) x[i] = -x[i];
  }
  char src[512];
  snprintf(src, sizeof src,
           ".target host\n.input x f32 [%d] @0\n.output y f32 [%d] @%d\n"
           "mem0:\n @0 read.f32 e0, [x], n=%d\nvxm0:\n @3 erf.f32 e1, e0, n=%d\nmem1:\n @8 write.f32 [y], e1, n=%d\n",
           N, N, N * 4, V, V, V);
  for (int mode = 0; mode < 2; mode++) {
    ls_program *p;
    ls_error e;
    cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
    t_run r = t_open(p);
    memcpy(t_tensor(&r, "x"), x, sizeof *x * N);
    ls_run_info info;
    cr_assert_eq(t_exec(&r, mode ? LS_MODE_CHECKED : LS_MODE_FAST, 1, &info), LS_OK);
    const float *y = t_tensor(&r, "y");
    for (uint32_t i = 0; i < N; i++) {
      const double want = erf((double)x[i]);
      const double ulp = (double)nextafterf(fabsf(y[i]), INFINITY) - fabs((double)y[i]);
      cr_assert(fabs((double)y[i] - want) < ulp, "%s mode: erf(%.9g) = %.9g, want %.17g (more than an ulp away)",
                mode ? "checked" : "fast", (double)x[i], (double)y[i], want);
    }
    t_close(&r); /* (frees p) */
  }
  free(x);
}

/* ---- chains of elementwise instances (fast mode) --------------------------------------------
 * y = max((a + b) * c, 0): fast mode runs add, mul and maxs a few vectors at a time at the
 * WRITE's turn. Small (one thread) and big (split across threads); and a chain whose input
 * is overwritten before its WRITE's turn, which must not be chained (it would read the new
 * values). The bytes must be those of checked mode, which runs each instruction whole. */
static void chain_case(uint32_t n, int overwrite) {
  const uint32_t E = n * 4;
  float *a = malloc(sizeof *a * E), *b = malloc(sizeof *b * E), *cc = malloc(sizeof *cc * E), *y = malloc(sizeof *y * E);
  float *z = malloc(sizeof *z * E);
  char src[2048];
  cr_assert(a && b && cc && y && z);
  for (uint32_t i = 0; i < E; i++) {
    a[i] = (float)(i % 13) - 6.5f, b[i] = (float)(i % 7) * 0.25f, cc[i] = (float)(i % 5) - 2, z[i] = 1000;
    y[i] = (a[i] + b[i]) * cc[i];
    y[i] = y[i] > 0 ? y[i] : 0;
  }
  /* read @0/@0/@2 arrive at 3/3/5; add @3 -> 5; mul @5 -> 7; maxs @7 -> 9; write @9 */
  int off = snprintf(src, sizeof src,
                     L4 ".input a f32 [%u] @0\n.input b f32 [%u] @%u\n.input c f32 [%u] @%u\n.input z f32 [%u] @%u\n"
                        ".output y f32 [%u] @%u\n"
                        "mem0:\n @0 read.f32 e0, [a], n=%u\nmem1:\n @0 read.f32 e1, [b], n=%u\nmem2:\n @2 read.f32 e3, [c], n=%u\n"
                        "vxm0:\n @3 add.f32 e2, e0, e1, n=%u\nvxm1:\n @5 mul.f32 e4, e2, e3, n=%u\n"
                        "vxm2:\n @7 maxs.f32 e5, e4, 0, n=%u\nmem3:\n @9 write.f32 [y], e5, n=%u\n",
                     E, E, E * 4, E, E * 8, E, E * 12, E, E * 16, n, n, n, n, n, n, n);
  if (overwrite) /* z copied over a after a is read (n = 4: cycles 0-3) and before the WRITE */
    snprintf(src + off, sizeof src - (size_t)off, "mem4:\n @2 read.f32 e6, [z], n=1\nmem5:\n @5 write.f32 [a], e6, n=1\n");
  const tio in[] = {{"a", a, E * 4}, {"b", b, E * 4}, {"c", cc, E * 4}, {"z", z, E * 4}}, out[] = {{"y", y, E * 4}};
  check_tol(src, in, 4, out, 1, 0);
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t chained = 0;
  for (uint32_t i = 0; i < p->n_inst; i++)
    if (p->inst[i].in.op == LS_OP_WRITE && p->inst[i].nchain) chained = p->inst[i].nchain;
  cr_assert_eq(chained, overwrite ? 0u : 3u, "n=%u overwrite=%d: a chain of %u instances, want %u", n, overwrite, chained,
               overwrite ? 0u : 3u);
  ls_free(p);
  free(a), free(b), free(cc), free(y), free(z);
}

/* y = max(x2*w2 + (x1*w1 + x0*w0), 0), 20 lanes (16 in registers, then 4): fast mode sums
 * the products in registers (k_mac_chain), with the rounding of each mac (one, fused) */
Test(fast, chains_of_products_round_as_mac) {
  enum { N = 3, E = N * 20 };
  static float x0[E], x1[E], x2[E], w0[E], w1[E], w2[E], y[E];
  for (int i = 0; i < E; i++) {
    /* (1 + 2^-12)^2 - (1 + 2^-11) = 2^-24 when fused; the product alone rounds to 1 + 2^-11 */
    x0[i] = -0x1.002p0f * (float)(1 + i % 3), w0[i] = i % 3 ? 1.0f / (float)(1 + i % 3) : 1.0f;
    x1[i] = 0x1.001p0f, w1[i] = 0x1.001p0f;
    x2[i] = (float)(i % 7) * 0.5f, w2[i] = i % 2 ? 2.0f : -0.0f;
    float s = fmaf(x1[i], w1[i], x0[i] * w0[i]);
    s = fmaf(x2[i], w2[i], s);
    y[i] = s > 0 ? s : 0;
  }
  char src[2048];
  snprintf(src, sizeof src,
           ".target host\n.set lanes 20\n.input x0 f32 [%d] @0\n.input w0 f32 [%d] @%d\n.input x1 f32 [%d] @%d\n"
           ".input w1 f32 [%d] @%d\n.input x2 f32 [%d] @%d\n.input w2 f32 [%d] @%d\n.output y f32 [%d] @%d\n"
           "mem0:\n @0 read.f32 e0, [x0], n=%d\nmem1:\n @0 read.f32 e1, [w0], n=%d\n"
           "mem2:\n @2 read.f32 e2, [x1], n=%d\nmem3:\n @2 read.f32 e3, [w1], n=%d\n"
           "mem4:\n @4 read.f32 e4, [x2], n=%d\nmem5:\n @4 read.f32 e5, [w2], n=%d\n"
           "vxm0:\n @3 mul.f32 e6, e0, e1, n=%d\nvxm1:\n @5 mac.f32 e7, e2, e3, e6, n=%d\n"
           "vxm2:\n @7 mac.f32 e8, e4, e5, e7, n=%d\nvxm3:\n @9 maxs.f32 e9, e8, 0, n=%d\nmem6:\n @11 write.f32 [y], e9, n=%d\n",
           E, E, E * 4, E, E * 8, E, E * 12, E, E * 16, E, E * 20, E, E * 24, N, N, N, N, N, N, N, N, N, N, N);
  const tio in[] = {IO("x0", x0), IO("w0", w0), IO("x1", x1), IO("w1", w1), IO("x2", x2), IO("w2", w2)}, out[] = {IO("y", y)};
  CHECK(src, in, out);
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t macs = 0;
  for (uint32_t i = 0; i < p->n_inst; i++)
    if (p->inst[i].in.op == LS_OP_WRITE) macs = p->inst[i].chain_mac;
  cr_assert_eq(macs, 3u, "the products are not summed in registers (%u)", macs);
  ls_free(p);
}

/* src's WRITE ends a chain of `chained` instances, the first `macs` of them products summed
 * in registers */
static void expect_chain(const char *src, uint32_t want_chained, uint32_t want_macs) {
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t chained = 0, macs = 0;
  for (uint32_t i = 0; i < p->n_inst; i++)
    if (p->inst[i].in.op == LS_OP_WRITE) chained = p->inst[i].nchain, macs = p->inst[i].chain_mac;
  cr_assert(chained == want_chained && macs == want_macs, "not one chain of %u with %u products (%u, %u)", want_chained,
            want_macs, chained, macs);
  ls_free(p);
}

/* y = f64(max(x1*w1 + x0*w0, 0)) in lanes 0-4 of each 20 (a WRITE with lanes=5): fast mode
 * computes only the 5 lanes the WRITE stores, through a conversion to a wider type; the
 * other lanes of y keep what they held */
/* three vectors of 20 lanes: y = f64(max(x1*w1 + x0*w0, 0)), a WRITE of 5 lanes */
#define NARROW_CHAIN                                                                                                   \
  ".target host\n.set lanes 20\n.input x0 f32 [60] @0\n.input w0 f32 [60] @240\n.input x1 f32 [60] @480\n"          \
  ".input w1 f32 [60] @720\n.output y f64 [60] @960\n"                                                                  \
  "mem0:\n @0 read.f32 e0, [x0], n=3\nmem1:\n @0 read.f32 e1, [w0], n=3\n"                                            \
  "mem2:\n @2 read.f32 e2, [x1], n=3\nmem3:\n @2 read.f32 e3, [w1], n=3\n"                                            \
  "vxm0:\n @3 mul.f32 e6, e0, e1, n=3\nvxm1:\n @5 mac.f32 e7, e2, e3, e6, n=3\n"                                      \
  "vxm2:\n @7 maxs.f32 e8, e7, 0, n=3\nvxm3:\n @9 cvt.f32.f64 e9, e8, n=3\n"                                          \
  "mem6:\n @11 write.f64 [y], e9, n=3, lanes=5\n"

Test(fast, chains_compute_the_lanes_their_write_stores) {
  enum { N = 3, E = N * 20 };
  static float x0[E], w0[E], x1[E], w1[E];
  static double y0[E], y[E];
  for (int i = 0; i < E; i++) {
    x0[i] = (float)(i % 11) - 5.25f, w0[i] = (float)(i % 3) + 0.5f, x1[i] = 0x1.001p0f * (float)(i % 4), w1[i] = -1.5f;
    const float s = fmaf(x1[i], w1[i], x0[i] * w0[i]);
    y0[i] = -777.0, y[i] = i % 20 < 5 ? (double)(s > 0 ? s : 0) : -777.0;
  }
  const tio in[] = {IO("x0", x0), IO("w0", w0), IO("x1", x1), IO("w1", w1), IO("y", y0)}, out[] = {IO("y", y)};
  const char *src = NARROW_CHAIN;
  CHECK(src, in, out);
  expect_chain(src, 4, 2);
}

/* A depthwise convolution's shape of chain: nine taps reading x at shifts of one vector, each
 * weight one vector read n times (stride 0) and so is the bias the first adds to, a ReLU6 (maxs 0, mins 6), a WRITE to every other
 * vector of y. Fast mode keeps the weights in registers, sums four vectors at once and clamps
 * on the way to y (k_mac_chain_to): 7 vectors (four, two, one) of 20 lanes (16, then 4
 * masked). NaN stays NaN through the clamp, -0 becomes +0 (max(-0, 0) is its second
 * operand), infinities clamp to 0 and 6, and y's other vectors keep what they held. */
Test(fast, depthwise_chains_clamp_on_the_way_to_memory) {
  enum { N = 7, T = 9, LN = 20, X = (N + T - 1) * LN };
  static float x[X], w[T * LN], bias[LN], y0[2 * N * LN], y[2 * N * LN];
  for (int i = 0; i < X; i++) x[i] = (float)((i * 37) % 23) * 0.375f - 4.0f;
  x[3 * LN + 5] = NAN, x[6 * LN + 17] = INFINITY, x[8 * LN + 2] = -INFINITY;
  for (int i = 0; i < T * LN; i++) w[i] = (float)((i * 11) % 9) * 0.25f - 1.0f;
  for (int l = 0; l < LN; l++) bias[l] = (float)(l % 5) * 0.5f - 1.0f;
  bias[7] = -0.0f;
  w[7] = -1.0f, x[7] = 0.0f; /* vector 0, lane 7: 0 * -1 + -0 + 1 * -0 + ... = -0, clamped to +0 */
  for (int k = 1; k < T; k++) w[k * LN + 7] = -0.0f, x[k * LN + 7] = 1.0f;
  for (int i = 0; i < 2 * N * LN; i++) y0[i] = -777.0f, y[i] = -777.0f;
  for (int v = 0; v < N; v++)
    for (int l = 0; l < LN; l++) {
      float s = fmaf(x[v * LN + l], w[l], bias[l]);
      for (int k = 1; k < T; k++) s = fmaf(x[(v + k) * LN + l], w[k * LN + l], s);
      s = s != s ? s : s > 0 ? s : 0;
      s = s != s ? s : s < 6 ? s : 6;
      y[2 * v * LN + l] = s;
    }
  char src[8192];
  int o = snprintf(src, sizeof src, ".target host\n.set lanes %d\n.input x f32 [%d] @0\n.input w f32 [%d] @%d\n"
                                    ".input bias f32 [%d] @%d\n.output y f32 [%d] @%d\n", LN, X, T * LN, X * 4, LN,
                   (X + T * LN + 2 * N * LN) * 4, 2 * N * LN, (X + T * LN) * 4);
  o += snprintf(src + o, sizeof src - (size_t)o, "mem19:\n @0 read.f32 e29, [bias], n=%d, stride=0\n", N);
  for (int k = 0; k < T; k++) { /* tap k: its reads @2k arrive at 2k + 3, its product then (2 cycles) */
    o += snprintf(src + o, sizeof src - (size_t)o, "mem%d:\n @%d read.f32 e%d, [%d], n=%d\n", 2 * k, 2 * k, k, k * LN * 4, N);
    o += snprintf(src + o, sizeof src - (size_t)o, "mem%d:\n @%d read.f32 e%d, [%d], n=%d, stride=0\n", 2 * k + 1, 2 * k,
                  T + k, (X + k * LN) * 4, N);
    if (k == 0) o += snprintf(src + o, sizeof src - (size_t)o, "vxm0:\n @3 mac.f32 e%d, e0, e%d, e29, n=%d\n", 2 * T, T, N);
    else
      o += snprintf(src + o, sizeof src - (size_t)o, "vxm%d:\n @%d mac.f32 e%d, e%d, e%d, e%d, n=%d\n", k, 2 * k + 3,
                    2 * T + k, k, T + k, 2 * T + k - 1, N);
  }
  snprintf(src + o, sizeof src - (size_t)o,
           "vxm9:\n @21 maxs.f32 e27, e26, 0, n=%d\nvxm10:\n @23 mins.f32 e28, e27, 6, n=%d\n"
           "mem18:\n @25 write.f32 [%d], e28, n=%d, stride=%d\n",
           N, N, (X + T * LN) * 4, N, 2 * LN * 4);
  const tio in[] = {IO("x", x), IO("w", w), IO("bias", bias), IO("y", y0)}, out[] = {IO("y", y)};
  CHECK(src, in, out);
  expect_chain(src, 11, 9);
}

/* the program's MM writes straight to memory through n absorbed activations */
static void expect_mm_direct(const char *src, uint32_t n) {
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t epi = 0;
  for (uint32_t i = 0; i < p->n_inst; i++)
    if (p->inst[i].in.op == LS_OP_MM && p->inst[i].direct != RT_NONE) epi = p->inst[i].n_epi;
  cr_assert_eq(epi, n, "the MM does not write y directly through its %u activations (%u)", n, epi);
  ls_free(p);
}

/* y = min(max(x W + b, 0), 6) for 4096 rows of 200 columns: fast mode writes the MM straight
 * to y, in blocks of rows, and applies the clip to each block as it is done (one pass over
 * the block when its rows are back to back, as here) */
Test(fast, mm_activation_block_by_block) {
  enum { N = 4096, K = 4, COLS = 200, L = 256 };
  static float x[N * K], w[K * L], b[L], y[N * COLS];
  for (int i = 0; i < N * K; i++) x[i] = (float)(i % 5 - 2);
  for (int i = 0; i < K * L; i++) w[i] = (float)(i % 7 - 3);
  for (int j = 0; j < L; j++) b[j] = (float)(j % 3 - 1);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < COLS; j++) {
      float s = b[j];
      for (int k = 0; k < K; k++) s += x[i * K + k] * w[k * L + j]; /* small integers: exact */
      y[i * COLS + j] = s < 0 ? 0 : s > 6 ? 6 : s;
    }
  char src[1024];
  snprintf(src, sizeof src,
           ".target host\n.input W f32 [%d] @0\n.input x f32 [%d] @4096\n.input b f32 [%d] @69632\n"
           ".output y f32 [%d] @70656\nmem0:\n @0 read.f32 e0, [W], n=4\nmxm0:\n @3 lw.f32 p0, e0, n=4\n"
           "mem1:\n @4 read.f32 e1, [x], n=%d, stride=16, lanes=4\nmem3:\n @4 read.f32 e3, [b], n=%d, stride=0\n"
           "mxm0:\n @7 mm.f32 e2, p0, e1, e3, n=%d, cols=%d\nvxm0:\n @12 maxs.f32 e4, e2, 0, n=%d\n"
           "vxm1:\n @14 mins.f32 e5, e4, 6, n=%d\nmem2:\n @16 write.f32 [y], e5, n=%d, stride=%d, lanes=%d\n",
           K * L, N * K, L, N * COLS, N, N, N, COLS, N, N, N, COLS * 4, COLS);
  const tio in[] = {IO("W", w), IO("x", x), IO("b", b)}, out[] = {IO("y", y)};
  CHECK(src, in, out);
  expect_mm_direct(src, 2);
}

/* y = max(x W + 0.5, 1): an activation that is not all maxs/mins by numbers goes over each
 * block after the GEMM (a clamp alone goes in the GEMM's registers, above); and with a
 * WRITE wider than the MM's 70 columns, lanes 70..79 are the activation of 0 */
Test(fast, mm_activation_not_a_clamp_after_the_gemm) {
  enum { N = 600, K = 4, COLS = 70, LANES = 80, L = 256 };
  static float x[N * K], w[K * L], y[N * LANES];
  for (int i = 0; i < N * K; i++) x[i] = (float)(i % 5 - 2);
  for (int i = 0; i < K * L; i++) w[i] = (float)(i % 7 - 3);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < LANES; j++) {
      float s = 0.5f;
      for (int k = 0; k < K && j < COLS; k++) s += x[i * K + k] * w[k * L + j]; /* small integers: exact */
      y[i * LANES + j] = s < 1 ? 1 : s;
    }
  char src[1024];
  snprintf(src, sizeof src,
           ".target host\n.input W f32 [%d] @0\n.input x f32 [%d] @4096\n"
           ".output y f32 [%d] @%d\nmem0:\n @0 read.f32 e0, [W], n=4\nmxm0:\n @3 lw.f32 p0, e0, n=4\n"
           "mem1:\n @4 read.f32 e1, [x], n=%d, stride=16, lanes=4\n"
           "mxm0:\n @7 mm.f32 e2, p0, e1, n=%d, cols=%d\nvxm0:\n @12 adds.f32 e4, e2, 0.5, n=%d\n"
           "vxm1:\n @14 maxs.f32 e5, e4, 1, n=%d\nmem2:\n @16 write.f32 [y], e5, n=%d, stride=%d, lanes=%d\n",
           K * L, N * K, N * LANES, 4096 + N * K * 4, N, N, COLS, N, N, N, LANES * 4, LANES);
  const tio in[] = {IO("W", w), IO("x", x)}, out[] = {IO("y", y)};
  CHECK(src, in, out);
  expect_mm_direct(src, 2);
  /* y = max(x W, 1), a clamp alone, but over 80 lanes: not in the GEMM's 70 columns' registers */
  for (int i = 0; i < N; i++)
    for (int j = 0; j < LANES; j++) {
      float s = 0;
      for (int k = 0; k < K && j < COLS; k++) s += x[i * K + k] * w[k * L + j];
      y[i * LANES + j] = s < 1 ? 1 : s;
    }
  snprintf(src, sizeof src,
           ".target host\n.input W f32 [%d] @0\n.input x f32 [%d] @4096\n"
           ".output y f32 [%d] @%d\nmem0:\n @0 read.f32 e0, [W], n=4\nmxm0:\n @3 lw.f32 p0, e0, n=4\n"
           "mem1:\n @4 read.f32 e1, [x], n=%d, stride=16, lanes=4\n"
           "mxm0:\n @7 mm.f32 e2, p0, e1, n=%d, cols=%d\nvxm1:\n @12 maxs.f32 e5, e2, 1, n=%d\n"
           "mem2:\n @14 write.f32 [y], e5, n=%d, stride=%d, lanes=%d\n",
           K * L, N * K, N * LANES, 4096 + N * K * 4, N, N, COLS, N, N, LANES * 4, LANES);
  CHECK(src, in, out);
}

/* The AVX-512 build's GEMM: every output one chain of fused multiply-adds in k order,
 * starting from the accumulator, c = fma(x[k], W[k][j], c), whatever the rows' and columns'
 * tiling (49 rows: tiles of 6 and 5; 13: 5, 4, 4; 600: blocks of 208 rows; 70 columns: a
 * panel of 64 and one of 6, masked; 200: four panels) and however many threads. The inputs
 * are not small integers, so any other order or a rounding between the products shows. */
static void mm_fma_order(int M, int K, int N) {
  enum { L = 256 };
  float *x = malloc((size_t)M * K * 4), *w = malloc((size_t)K * L * 4), *acc = malloc((size_t)M * N * 4),
        *y = malloc((size_t)M * N * 4);
  for (int i = 0; i < M * K; i++) x[i] = (float)((int)((unsigned)i * 7919u % 1000u) - 500) / 311.0f;
  for (int i = 0; i < K * L; i++) w[i] = (float)((int)((unsigned)i * 104729u % 997u) - 498) / 173.0f;
  for (int i = 0; i < M * N; i++) acc[i] = (float)((int)((unsigned)i * 31u % 101u) - 50) / 7.0f;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float c = acc[i * N + j];
      for (int k = 0; k < K; k++) c = fmaf(x[i * K + k], w[k * L + j], c);
      y[i * N + j] = c;
    }
  const int xo = K * L * 4, ao = xo + M * K * 4, yo = ao + M * N * 4;
  char src[1024];
  snprintf(src, sizeof src,
           ".target host\n.input W f32 [%d] @0\n.input x f32 [%d] @%d\n.input acc f32 [%d] @%d\n"
           ".output y f32 [%d] @%d\nmem0:\n @0 read.f32 e0, [W], n=%d\nmxm0:\n @3 lw.f32 p0, e0, n=%d\n"
           "mem1:\n @%d read.f32 e1, [x], n=%d, stride=%d, lanes=%d\nmem3:\n @%d read.f32 e3, [acc], n=%d, stride=%d, lanes=%d\n"
           "mxm0:\n @%d mm.f32 e2, p0, e1, e3, n=%d, cols=%d\nmem2:\n @%d write.f32 [y], e2, n=%d, stride=%d, lanes=%d\n",
           K * L, M * K, xo, M * N, ao, M * N, yo, K, K, K, M, K * 4, K, K, M, N * 4, N, K + 3, M, N, K + 8, M, N * 4, N);
  const tio in[] = {{"W", w, (size_t)K * L * 4}, {"x", x, (size_t)M * K * 4}, {"acc", acc, (size_t)M * N * 4}},
            out[] = {{"y", y, (size_t)M * N * 4}};
  CHECK(src, in, out);
  free(x), free(w), free(acc), free(y);
}

Test(fast, mm_sums_each_output_in_k_order_with_fma) {
#if !defined(__AVX512F__)
  cr_skip_test("a build without AVX-512: the GEMM is OpenBLAS's or the reference loop");
#endif
  mm_fma_order(49, 37, 70);
  mm_fma_order(13, 256, 200);
  mm_fma_order(600, 200, 64);
  mm_fma_order(5, 3, 1);
}

/* Two transposes planned as repeated runs with a gather between whose indices are computed
 * (not constants: element by element). The planner must keep the first transpose's repeated
 * run when it gives up on the middle gather: the third's must not take its place. */
Test(fast, a_gather_element_by_element_keeps_the_others_repeated_runs) {
  static float t[64], y1[64], y2[4], y3[64];
  static const int32_t ix[4] = {5, 0, 63, 7};
  char src[4096];
  int off = snprintf(src, sizeof src,
                     L4 ".input t f32 [64] @0\n.input ix i32 [4] @256\n.output y1 f32 [64] @272\n"
                        ".output y2 f32 [4] @528\n.output y3 f32 [64] @544\n.const @800 i32");
  for (int i = 0; i < 64; i++) t[i] = (float)i * 0.5f - 3.0f;
  for (int j = 0; j < 8; j++) /* [8][8] -> [8][8]^T */
    for (int i = 0; i < 8; i++) off += snprintf(src + off, sizeof src - (size_t)off, " %d", i * 8 + j), y1[j * 8 + i] = t[i * 8 + j];
  off += snprintf(src + off, sizeof src - (size_t)off, "\n.const @1056 i32");
  for (int j = 0; j < 16; j++) /* [4][16] -> [16][4] */
    for (int i = 0; i < 4; i++)
      off += snprintf(src + off, sizeof src - (size_t)off, " %d", i * 16 + j), y3[j * 4 + i] = t[i * 16 + j];
  for (int i = 0; i < 4; i++) y2[i] = t[ix[i]];
  snprintf(src + off, sizeof src - (size_t)off,
           "\nmem0:\n @0 read.i32 e0, [800], n=16\nmem1:\n @3 gather.f32 e1, [t], e0, n=16, size=64\n"
           "mem2:\n @8 write.f32 [y1], e1, n=16\nmem3:\n @0 read.i32 e2, [ix], n=1\n"
           "mem4:\n @3 gather.f32 e3, [t], e2, n=1, size=64\nmem5:\n @8 write.f32 [y2], e3, n=1\n"
           "mem6:\n @0 read.i32 e4, [1056], n=16\nmem7:\n @3 gather.f32 e5, [t], e4, n=16, size=64\n"
           "mem8:\n @8 write.f32 [y3], e5, n=16\n");
  const tio in[] = {IO("t", t), IO("ix", ix)}, out[] = {IO("y1", y1), IO("y2", y2), IO("y3", y3)};
  CHECK(src, in, out);
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t with_reps = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) with_reps += p->inst[i].in.op == LS_OP_GATHER && p->inst[i].nreps > 0;
  cr_assert_eq(with_reps, 2u, "%u gathers by repeated runs, want the two transposes", with_reps);
  ls_free(p);
}

/* y = x W1 + x W2 + x W3, three MMs chained through the accumulator (a K of three
 * planes): the second accumulates in place in the first one's output, which nothing else
 * reads (no copy of the partial sum); the last writes y */
Test(fast, mm_accumulates_in_place) {
  const float W1[16] = {1, 2, 0, -1, 0, 1, 3, 2, 2, 0, 1, 1, -1, 1, 1, 0};
  const float W2[16] = {3, 0, 1, 1, -2, 1, 0, 2, 1, 1, -1, 0, 0, 2, 2, 1};
  const float W3[16] = {0, 1, 1, -3, 1, 0, 2, 1, 1, -2, 0, 1, 2, 1, 0, 0};
  const float x[8] = {1, 2, 3, 4, 2, -1, 1, 3};
  float y[8];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) {
      float s[3] = {0, 0, 0};
      for (int k = 0; k < 4; k++) s[0] += x[i * 4 + k] * W1[k * 4 + j], s[1] += x[i * 4 + k] * W2[k * 4 + j], s[2] += x[i * 4 + k] * W3[k * 4 + j];
      y[i * 4 + j] = s[0] + s[1] + s[2];
    }
  const char *src = L4 ".input W1 f32 [4,4] @0\n.input W2 f32 [4,4] @64\n.input W3 f32 [4,4] @128\n.input x f32 [2,4] @192\n"
                       ".output y f32 [2,4] @256\n"
                       "mem0:\n @0 read.f32 e0, [W1], n=4\nmem1:\n @0 read.f32 e1, [W2], n=4\nmem2:\n @0 read.f32 e2, [W3], n=4\n"
                       "mxm0:\n @3 lw.f32 p0, e0, n=4\nmxm1:\n @3 lw.f32 p1, e1, n=4\nmxm2:\n @3 lw.f32 p2, e2, n=4\n"
                       "mem3:\n @4 read.f32 e3, [x], n=2\nmem4:\n @9 read.f32 e5, [x], n=2\nmem5:\n @14 read.f32 e7, [x], n=2\n"
                       "mxm0:\n @7 mm.f32 e4, p0, e3, n=2\nmxm1:\n @12 mm.f32 e6, p1, e5, e4, n=2\n"
                       "mxm2:\n @17 mm.f32 e8, p2, e7, e6, n=2\nmem6:\n @22 write.f32 [y], e8, n=2\n";
  const tio in[] = {IO("W1", W1), IO("W2", W2), IO("W3", W3), IO("x", x)}, out[] = {IO("y", y)};
  CHECK(src, in, out);
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  uint32_t in_place = 0;
  for (uint32_t i = 0; i < p->n_inst; i++) in_place += p->inst[i].acc_in_place;
  cr_assert_geq(in_place, 1u, "no MM accumulates in place");
  ls_free(p);
}

/* The prediction walks the same plan: the chain above (four alu instances of 3 x 20 lanes,
 * a WRITE of 5 f64 lanes each) costs 5/20 of its lanes. With 1 ns per alu element in a
 * chain, 1 ns per byte copied and nothing per instance: 4 * 60 / 4 + 480 / 4 = 180 ns. */
Test(predict, a_chain_costs_the_lanes_its_write_stores) {
  const char *src = NARROW_CHAIN;
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  ls_cost_model m;
  memset(&m, 0, sizeof m);
  m.chain = 1, m.per_unit[LS_COST_COPY] = 1;
  double ns = -1;
  for (uint32_t i = 0; i < p->n_inst; i++)
    if (p->inst[i].in.op == LS_OP_WRITE && p->inst[i].nchain == 4) ns = rt_inst_ns(p, &m, &p->inst[i]);
  cr_assert_float_eq(ns, 180.0, 1e-9, "the chain and its WRITE: %g ns, want 180", ns);
  ls_free(p);
}

/* f32 erf is a vectorised polynomial like exp (a GELU's cost), not a libm call per element */
Test(predict, erf_costs_as_exp) {
  ls_target t;
  cr_assert_eq(ls_target_preset("host", &t), 0);
  ls_insn in;
  memset(&in, 0, sizeof in);
  in.n = 2, in.t0 = LS_F32;
  double amount;
  in.op = LS_OP_ERF;
  cr_assert_eq(ls_cost_of(&t, &in, &amount), LS_COST_EXP);
  cr_assert_float_eq(amount, 2.0 * t.lanes, 1e-9);
  in.op = LS_OP_SIGMOID;
  cr_assert_eq(ls_cost_of(&t, &in, &amount), LS_COST_TRANS);
  in.op = LS_OP_ERF, in.t0 = LS_F64;
  cr_assert_eq(ls_cost_of(&t, &in, &amount), LS_COST_TRANS);
}

Test(fast, chains_of_elementwise_instances) {
  chain_case(5, 0);
  chain_case(8192, 0);
  chain_case(4, 1);
}

/* ---- one Test() per family, and the coverage check ------------------------------------------ */

#define SEMANTICS(X)                                                                                              \
  X(read) X(write) X(gather) X(gather_runs) X(gather_short_runs) X(gather_repeats_keep_their_row_distance) X(gather_transposes) X(scatter) X(mov) X(neg) X(abs) X(relu) X(not) X(floor_ceil) X(round) X(recip)       \
  X(sqrt_rsqrt) X(exp_log) X(tanh_sigmoid_erf) X(sin_cos) X(atan) X(fmod) X(shl_shr) X(pow) X(cvt_float_to_int) X(cvt_int_to_float)          \
  X(cvt_float_to_float) X(cvt_int_to_int) X(cvt_bool) X(add) X(sub) X(mul) X(div) X(mod) X(min_max) X(bits)       \
  X(compare) X(mac) X(sel) X(imm) X(splat) X(vsum) X(vmax) X(lsum) X(lmax) X(shift) X(rotate) X(dist) X(permute)  \
  X(transpose) X(mm) X(lw_rows) X(repeat) X(nop) X(sync_notify)

#define X(name) \
  Test(semantics, name) { sem_##name(); }
SEMANTICS(X)
#undef X

Test(semantics, coverage_every_opcode_has_a_case) {
#define X(name) sem_##name();
  SEMANTICS(X)
#undef X
  for (int op = 0; op < LS_OP_COUNT; op++)
    cr_expect(covered[op], "instruction %s (op %d) has no semantics case in test_ops.c", ls_ops[op].mnemonic, op);
}

/* Once a mismatch: docs/ISA.md, the mod row: "a - b*floor(a/b), the sign of b". For -6 mod 3
 * the formula gives -6 - 3*(-2) = +0 in IEEE arithmetic; likewise -0 mod 5 = +0. The kernel
 * used to keep fmod's zero, which has the sign of a (-0). */
Test(semantics, mod_zero_result_has_the_sign_of_b) {
  const float a[4] = {-6, -0.0f, -7.5f, 4}, b[4] = {3, 5, 2.5f, 2}, y[4] = {0, 0, 0, 0};
  BIN("mod.f32", a, b, y);
  const double ad[4] = {-6, -0.0, -9, 1}, bd[4] = {3, 5, 4.5, 0.5}, yd[4] = {0, 0, 0, 0};
  BIN("mod.f64", ad, bd, yd);
}

/* ---- the floating-point environment ----------------------------------------------------------- */

/* Run src once in a mode and copy out the tensor y. */
static void run_output(const char *src, const tio *in, size_t nin, ls_mode mode, void *out, size_t bytes) {
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  t_run r = t_open(p);
  for (size_t i = 0; i < nin; i++) memcpy(t_tensor(&r, in[i].name), in[i].data, in[i].bytes);
  cr_assert_eq(t_exec(&r, mode, mode == LS_MODE_FAST ? 0 : 1, NULL), LS_OK);
  memcpy(out, t_tensor(&r, "y"), bytes);
  t_close(&r);
}

/* Results are IEEE round-to-nearest-even whatever rounding mode the caller has set (docs/ISA.md
 * section 5; runtime/fpenv.c sets the mode for the run). Each case below rounds differently
 * in some other mode. The transcendentals are compared with the same program run in the
 * default mode. */
Test(fpenv, results_do_not_depend_on_the_callers_rounding_mode) {
  static const int modes[3] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
  for (int m = 0; m < 3; m++) {
    cr_assert_eq(fesetround(modes[m]), 0);
    /* 1 + 2^-24 is a tie: to 1; 1e8 + 1 rounds to 1e8 */
    const float a[4] = {1, 1e8f, -1, -1e8f}, b[4] = {0x1p-24f, 1, -0x1p-24f, -1}, s[4] = {1, 1e8f, -1, -1e8f};
    BIN("add.f32", a, b, s);
    const float n[4] = {1, -1, 2, -2}, d[4] = {3, 3, 3, 3};
    const float q[4] = {0x1.555556p-2f, -0x1.555556p-2f, 0x1.555556p-1f, -0x1.555556p-1f};
    BIN("div.f32", n, d, q);
    const float r[4] = {2.5f, -2.5f, 0.5f, -1.5f}, rr[4] = {2, -2, 0, -2};
    UN("round.f32", r, rr);
    const float sq[4] = {2, 3, 5, 7}, sqy[4] = {0x1.6a09e6p0f, 0x1.bb67aep0f, 0x1.1e377ap1f, 0x1.52a7fap1f};
    UN("sqrt.f32", sq, sqy);
    /* 1 + 2^-24 and 1 - 2^-25 and 3 + 2^-23 are ties, to 1, 1 and 3 */
    const float fa[4] = {1, -1, 1, 1}, fb[4] = {1, 1, 1, 3}, fc[4] = {0x1p-24f, -0x1p-24f, -0x1p-25f, 0x1p-23f};
    const float fy[4] = {1, -1, 1, 3};
    TER("mac.f32", fa, fb, fc, fy);
    /* 2^24 + 1 and 2^24 + 3 are ties (to even); 2^25 + 3 is nearer 2^25 + 4 */
    const int32_t ci[4] = {16777217, -16777217, 16777219, 33554435};
    const float cy[4] = {16777216.0f, -16777216.0f, 16777220.0f, 33554436.0f};
    UN("cvt.i32.f32", ci, cy);
    const double cd[4] = {0x1.000001p0, -0x1.000001p0, 0x1.000003p0, 0x1.0000008p0};
    const float cdy[4] = {1, -1, 0x1.000004p0f, 1};
    UN("cvt.f64.f32", cd, cdy);
    const float vs[8] = {1e8f, -1e8f, 3, 0, 1, -1, 0, 0}, vsy[4] = {1e8f, -1e8f, 3, 0};
    UN("vsum.f32", vs, vsy);
    const float ls[4] = {1e8f, 1, 1, 1}, lsy[4] = {1e8f, 0, 0, 0}; /* (1e8 + 1) + (1 + 1) = 1e8 + 2: 1e8 */
    UN("lsum.f32", ls, lsy);
    static const char *const tr[] = {"exp", "log", "sin", "cos", "tanh", "sigmoid", "erf", "rsqrt", "recip"};
    const float x[8] = {0.3f, 1.7f, 2.9f, 0.01f, 5.5f, 0.77f, 1.1f, 3.3f};
    const tio in[] = {IO("x0", x)};
    for (size_t t = 0; t < LEN(tr); t++) {
      char src[512];
      snprintf(src, sizeof src,
               L4 ".input x0 f32 [8] @0\n.output y f32 [8] @64\nmem0:\n @0 read.f32 e0, [x0], n=2\n"
                  "vxm0:\n @3 %s.f32 e1, e0, n=2\nmem1:\n @%d write.f32 [y], e1, n=2\n",
               tr[t], strcmp(tr[t], "recip") ? 8 : 5);
      float ref[8], got[8];
      cr_assert_eq(fesetround(FE_TONEAREST), 0);
      run_output(src, in, 1, LS_MODE_FAST, ref, sizeof ref);
      cr_assert_eq(fesetround(modes[m]), 0);
      for (int mode = 0; mode < 2; mode++) {
        run_output(src, in, 1, mode ? LS_MODE_CHECKED : LS_MODE_FAST, got, sizeof got);
        cr_assert_eq(memcmp(ref, got, sizeof ref), 0, "%s.f32 differs under rounding mode %d", tr[t], modes[m]);
      }
    }
    cr_assert_eq(fegetround(), modes[m], "the caller's rounding mode is restored");
  }
  fesetround(FE_TONEAREST);
}

/* docs/ISA.md section 5: "During a run the executor sets flush-to-zero and denormals-are-zero:
 * denormal inputs read as zero and denormal results become zero." Each case feeds subnormal
 * f32 (f64) inputs to a floating-point instruction; read as zero, every result is a zero (of
 * either sign: the docs do not say which), and no output may be subnormal. Data movement
 * (read, write, mov, sel, the SXM lane moves) copies bits and is not part of this. */
#define ZEROS(insn, extra, nin, x, y, want) op_case(4, insn, extra, nin, ARGS2(x, y), want, sizeof(want), -1)

static const float sub_f[4] = {1e-40f, -1e-40f, 2e-39f, -3e-45f}, sub_f2[4] = {-2e-40f, 5e-41f, 1e-39f, 1e-45f};
static const float zero_f[4] = {0, 0, 0, 0}, one_f[4] = {1, 1, 1, 1}, mone_f[4] = {-1, -1, -1, -1};
static const double sub_d[4] = {1e-310, -1e-310, 2e-320, -5e-324}, zero_d[4] = {0, 0, 0, 0};
static const double one_d[4] = {1, 1, 1, 1}, mone_d[4] = {-1, -1, -1, -1};

Test(fpenv, subnormal_inputs_of_arithmetic_read_as_zero) {
  /* these go through the FPU's arithmetic, which flushes */
  ZEROS("add.f32", NULL, 2, sub_f, sub_f2, zero_f);
  ZEROS("mul.f32", NULL, 2, sub_f, one_f, zero_f);
  ZEROS("floor.f32", NULL, 1, sub_f, sub_f2, zero_f);
  ZEROS("sqrt.f64", NULL, 1, sub_d, sub_d, zero_d);
  ZEROS("lsum.f32", NULL, 1, sub_f, sub_f, zero_f);
  const float sub8[8] = {1e-40f, -1e-40f, 2e-39f, -3e-45f, 1e-45f, 0, 1e-39f, -1e-39f};
  ZEROS("vsum.f32", NULL, 1, sub8, sub8, zero_f); /* 2 vectors: one addition per lane */
  ZEROS("cvt.f32.f64", NULL, 1, sub_f, sub_f, zero_d);
  const double tiny[4] = {1e-40, -1e-40, 1e-42, -1e-44}; /* normal in f64, subnormal in f32 */
  ZEROS("cvt.f64.f32", NULL, 1, tiny, tiny, zero_f);
  const uint8_t t[4] = {1, 1, 1, 1}, f[4] = {0, 0, 0, 0};
  BIN("eq.f32", sub_f, zero_f, t); /* reads as zero: equal to zero, not less than it */
  BIN("lt.f32", sub_f, zero_f, f);
  BIN("eq.f64", sub_d, zero_d, t);
}

/* Once a mismatch: instructions computed by sign-bit operations, by a compare and select, or
 * by a plain copy are not flushed by the FPU, so a subnormal input came out unchanged (neg.f32
 * of 1e-40 gave -1e-40, min.f32(1e-40, 1) gave 1e-40, depending on how the compiler
 * vectorised them). The kernels now flush explicitly (docs/ISA.md section 5). One Test()
 * each, so a report lists exactly which instructions regress. */
#define DAZ(name, insn, extra, nin, x, y, want) \
  Test(fpenv_denormals_are_zero, name) { ZEROS(insn, extra, nin, x, y, want); }
DAZ(neg_f32, "neg.f32", NULL, 1, sub_f, sub_f, zero_f)
DAZ(abs_f32, "abs.f32", NULL, 1, sub_f, sub_f, zero_f)
DAZ(relu_f32, "relu.f32", NULL, 1, sub_f, sub_f, zero_f)
DAZ(min_f32, "min.f32", NULL, 2, sub_f, one_f, zero_f)
DAZ(max_f32, "max.f32", NULL, 2, sub_f, mone_f, zero_f)
DAZ(mins_f32, "mins.f32", "1", 1, sub_f, sub_f, zero_f)
DAZ(maxs_f32, "maxs.f32", "-1", 1, sub_f, sub_f, zero_f)
DAZ(lmax_f32, "lmax.f32", NULL, 1, sub_f, sub_f, zero_f)
DAZ(vmax_f32, "vmax.f32", NULL, 1, sub_f, sub_f, zero_f)
DAZ(vsum_f32_of_one_vector, "vsum.f32", NULL, 1, sub_f, sub_f, zero_f)
DAZ(cvt_f32_f32, "cvt.f32.f32", NULL, 1, sub_f, sub_f, zero_f)
DAZ(neg_f64, "neg.f64", NULL, 1, sub_d, sub_d, zero_d)
DAZ(abs_f64, "abs.f64", NULL, 1, sub_d, sub_d, zero_d)
DAZ(min_f64, "min.f64", NULL, 2, sub_d, one_d, zero_d)
DAZ(max_f64, "max.f64", NULL, 2, sub_d, mone_d, zero_d)
DAZ(cvt_f64_f64, "cvt.f64.f64", NULL, 1, sub_d, sub_d, zero_d)
#undef DAZ

/* ---- latency ---------------------------------------------------------------------------------- */

/* The two presets with their latencies from docs/ISA.md (Latency classes). R is when a read
 * issued at 0 arrives: mem + hop. */
static const struct lat_target {
  const char *name;
  unsigned mem, R;
} lat_targets[2] = {
    {"host", 2, 3}, /* mem 2, hop 1 */
    {"tsp", 5, 7},  /* mem 5, hop 2 */
};

typedef struct lat_case {
  const char *mn, *ty; /* mnemonic, element type(s) the program uses */
  unsigned d[2];       /* out_delay on host and on tsp, worked out by hand */
} lat_case;

/* out_delay = latency(class) + hop, plus the wait for the whole stream (vsum, vmax: n-1 with
 * n = 4) or for a block of L vectors (transpose: L-1 with L = 4). */
static const lat_case lat_cases[] = {
    /* mem: host 2+1, tsp 5+2; gather: host 4+1, tsp 7+2 */
    {"read", "f32", {3, 7}},
    {"gather", "i16", {5, 9}},
    /* alu: host 1+1 = 2, tsp 3+2 = 5 */
    {"mov", "u8", {2, 5}},
    {"neg", "f32", {2, 5}},
    {"abs", "i32", {2, 5}},
    {"relu", "f32", {2, 5}},
    {"not", "bool", {2, 5}},
    {"floor", "f32", {2, 5}},
    {"ceil", "f64", {2, 5}},
    {"round", "f32", {2, 5}},
    {"recip", "f32", {2, 5}},
    {"cvt", "f32.i32", {2, 5}},
    {"add", "f32", {2, 5}},
    {"sub", "i8", {2, 5}},
    {"mul", "f32", {2, 5}},
    {"div", "i32", {2, 5}},
    {"mod", "f32", {2, 5}},
    {"min", "f32", {2, 5}},
    {"max", "u16", {2, 5}},
    {"and", "i32", {2, 5}},
    {"or", "u8", {2, 5}},
    {"xor", "bool", {2, 5}},
    {"eq", "f32", {2, 5}},
    {"ne", "i64", {2, 5}},
    {"lt", "f32", {2, 5}},
    {"le", "u32", {2, 5}},
    {"fmod", "f32", {2, 5}},
    {"shl", "u32", {2, 5}},
    {"shr", "i64", {2, 5}},
    {"mac", "f32", {2, 5}},
    {"sel", "f16", {2, 5}},
    {"adds", "f32", {2, 5}},
    {"muls", "i32", {2, 5}},
    {"mins", "f32", {2, 5}},
    {"maxs", "f64", {2, 5}},
    {"splat", "f32", {2, 5}},
    /* trans: host 4+1 = 5, tsp 8+2 = 10 */
    {"sqrt", "f32", {5, 10}},
    {"rsqrt", "f32", {5, 10}},
    {"exp", "f32", {5, 10}},
    {"log", "f64", {5, 10}},
    {"tanh", "f32", {5, 10}},
    {"sigmoid", "f32", {5, 10}},
    {"erf", "bf16", {5, 10}},
    {"sin", "f32", {5, 10}},
    {"cos", "f32", {5, 10}},
    {"atan", "f32", {5, 10}},
    {"pow", "f32", {5, 10}},
    /* red: host 2+1 = 3, tsp 6+2 = 8; vsum and vmax wait for n = 4 vectors: + 3 */
    {"vsum", "f32", {6, 11}},
    {"vmax", "i8", {6, 11}},
    {"lsum", "f32", {3, 8}},
    {"lmax", "f32", {3, 8}},
    /* sxm: host 2+1 = 3, tsp 4+2 = 6; transpose waits for a block of L = 4 vectors: + 3 */
    {"shift", "f32", {3, 6}},
    {"rotate", "i64", {3, 6}},
    {"dist", "f32", {3, 6}},
    {"permute", "f32", {3, 6}},
    {"transpose", "f32", {6, 9}},
    /* mxm_mm: host 4+1 = 5, tsp 12+2 = 14 */
    {"mm", "f32", {5, 14}},
};

/* The minimal program for case c on target tg: inputs read at cycle 0 on mem queues, the op
 * issued when they arrive (R), its output written at op + d + shift. n = 4, lanes = 4.
 * Returns the op's issue cycle; *outs gets the vectors it puts out. */
static unsigned lat_program(sbuf *b, const lat_case *c, int tg, int shift, unsigned *outs) {
  const int op = ls_op_parse(c->mn, strlen(c->mn));
  cr_assert(op >= 0, "%s", c->mn);
  const char *dot = strchr(c->ty, '.');
  char t0[8] = "", tout[8] = "";
  snprintf(t0, sizeof t0, "%.*s", dot ? (int)(dot - c->ty) : (int)strlen(c->ty), c->ty);
  snprintf(tout, sizeof tout, "%s", dot ? dot + 1 : c->ty);
  if (op == LS_OP_EQ || op == LS_OP_NE || op == LS_OP_LT || op == LS_OP_LE) snprintf(tout, sizeof tout, "bool");
  const unsigned R = lat_targets[tg].R;
  const ls_format fmt = ls_ops[op].format;
  unsigned opc = R;
  *outs = ls_ops[op].out == LS_OUT_ONE ? 1 : 4;
  sb_add(b, ".target %s\n.set lanes 4\n", lat_targets[tg].name);
  sb_add(b, ".input a %s [16] @0\n.input b %s [16] @256\n.input c %s [16] @512\n", t0, t0, t0);
  sb_add(b, ".input m bool [16] @768\n.input k i32 [16] @1024\n.const @1152 u32 0 1 2 3\n");
  sb_add(b, ".output y %s [16] @1280\n", tout);
  int out = 3;
  if (fmt == LS_FMT_READ) {
    sb_add(b, "mem0:\n @0 read.%s e0, [a], n=4\n", t0);
    opc = 0, out = 0;
  } else if (fmt == LS_FMT_GATHER) {
    sb_add(b, "mem0:\n @0 read.i32 e0, [k], n=4\nmem1:\n @%u gather.%s e3, [a], e0, n=4, size=16\n", R, t0);
  } else if (fmt == LS_FMT_MM) {
    /* the weights first: lw holds mxm0 for [R, R+4), then mm on the same queue */
    opc = R + 4;
    sb_add(b, "mem0:\n @0 read.f32 e0, [a], n=4\nmxm0:\n @%u lw.f32 p0, e0, n=4\n", R);
    sb_add(b, "mem1:\n @4 read.f32 e1, [b], n=4\nmxm0:\n @%u mm.f32 e3, p0, e1, n=4\n", opc);
  } else {
    const int nin = fmt == LS_FMT_BIN ? 2 : fmt == LS_FMT_TER ? 3 : 1;
    for (int k = 0; k < nin; k++) {
      const int sel_mask = op == LS_OP_SEL && k == 0;
      const char *name = sel_mask ? "m" : k == 0 ? "a" : k == 1 ? "b" : "c";
      sb_add(b, "mem%d:\n @0 read.%s e%d, [%s], n=4\n", k, sel_mask ? "bool" : t0, k, name);
    }
    sb_add(b, "%s0:\n @%u %s.%s e3", ls_unit_names[ls_ops[op].unit], R, c->mn, c->ty);
    for (int k = 0; k < nin; k++) sb_add(b, ", e%d", k);
    if (fmt == LS_FMT_IMM || fmt == LS_FMT_LANE) sb_add(b, ", 1");
    if (fmt == LS_FMT_PERM) sb_add(b, ", [1152]");
    sb_add(b, ", n=4\n");
  }
  sb_add(b, "mem5:\n @%d write.%s [y], e%d, n=%u\n", (int)(opc + c->d[tg]) + shift, tout, out, *outs);
  return opc;
}

/* Loads src (it must verify) and returns its cycle count, after checking that a run in checked
 * mode, which steps the machine cycle by cycle, takes as many. */
static uint64_t load_cycles(const char *src) {
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s\n%s", e.msg, src);
  const uint64_t c = ls_cycles(p);
  t_run r = t_open(p);
  ls_run_info info;
  cr_assert_eq(t_exec(&r, LS_MODE_CHECKED, 1, &info), LS_OK, "%s", src);
  cr_assert_eq(info.cycles, c, "checked run: %llu cycles, verifier: %llu\n%s", (unsigned long long)info.cycles,
               (unsigned long long)c, src);
  t_close(&r);
  return c;
}

static void expect_reject(const char *src) {
  ls_program *p = NULL;
  ls_error e = {0};
  ls_status st = t_load(src, &p, &e);
  if (st == LS_OK) ls_free(p);
  cr_assert_eq(st, LS_ERR_VERIFY, "expected a verification error, got status %d (%s)\n%s", st, e.msg, src);
}

Test(latency, ops_with_output_write_exactly_when_the_output_arrives) {
  unsigned char seen[LS_OP_COUNT] = {0};
  for (size_t i = 0; i < LEN(lat_cases); i++) {
    const lat_case *c = &lat_cases[i];
    const int op = ls_op_parse(c->mn, strlen(c->mn));
    cr_assert(op >= 0 && ls_ops[op].out != LS_OUT_NONE, "%s", c->mn);
    seen[op] = 1;
    for (int tg = 0; tg < 2; tg++) {
      sbuf b = {.n = 0};
      unsigned outs;
      const unsigned opc = lat_program(&b, c, tg, 0, &outs);
      /* the write issues at opc + d, takes `outs` vectors, each landing mem cycles later */
      const uint64_t want = opc + c->d[tg] + lat_targets[tg].mem + outs;
      const uint64_t got = load_cycles(b.s);
      cr_assert_eq(got, want, "%s on %s: %llu cycles, want %llu\n%s", c->mn, lat_targets[tg].name,
                   (unsigned long long)got, (unsigned long long)want, b.s);
      /* the timing helper agrees with the hand value */
      ls_program *p;
      ls_error e;
      cr_assert_eq(t_load(b.s, &p, &e), LS_OK);
      const ls_prog *g = ls_program_image(p);
      int found = 0;
      for (uint32_t q = 0; q < g->n_queues; q++)
        for (uint32_t k = 0; k < g->queues[q].count; k++) {
          const ls_insn *in = &g->queues[q].insns[k];
          if (in->op != op) continue;
          found = 1;
          cr_assert_eq(ls_insn_out_delay(&g->target, in), c->d[tg], "%s on %s: ls_insn_out_delay = %llu, by hand %u",
                       c->mn, lat_targets[tg].name, (unsigned long long)ls_insn_out_delay(&g->target, in), c->d[tg]);
          cr_assert_eq(ls_insn_done(&g->target, in), opc + (c->d[tg] + outs > 4 ? c->d[tg] + outs : 4));
        }
      cr_assert(found);
      ls_free(p);
      /* one cycle early the write reads nothing; one cycle late the first vector is lost */
      for (int shift = -1; shift <= 1; shift += 2) {
        sbuf bad = {.n = 0};
        lat_program(&bad, c, tg, shift, &outs);
        expect_reject(bad.s);
      }
    }
  }
  for (int op = 0; op < LS_OP_COUNT; op++)
    if (ls_ops[op].out != LS_OUT_NONE) cr_expect(seen[op], "%s has an output but no latency case", ls_ops[op].mnemonic);
}

/* The hand-worked examples of docs/ISA.md section 2: the vadd program is 11 cycles. */
Test(latency, the_worked_example) {
  char *src = t_read_file("examples/vadd.lsa");
  cr_assert_eq(load_cycles(src), 11);
  free(src);
}

/* Instructions without output: their done cycle (c + latency + n, or c + busy for the ICU)
 * shows in the program's cycle count. Every program is given for host and tsp. */
Test(latency, ops_without_output_by_their_done_cycle) {
  unsigned char seen[LS_OP_COUNT] = {0};
#define HEAD_ ".set lanes 4\n.input a f32 [16] @0\n.input k i32 [16] @256\n.output y f32 [32] @512\n"
  static const char *const head[2] = {".target host\n" HEAD_, ".target tsp\n" HEAD_};
#undef HEAD_
  char s[2048];
  for (int tg = 0; tg < 2; tg++) {
    const unsigned R = lat_targets[tg].R;
    const int host = tg == 0;
    /* write n=4 issued at R: lands at R+mem .. R+mem+3, done R + mem + 4: host 3+2+4 = 9, tsp 7+5+4 = 16 */
    char base[512];
    snprintf(base, sizeof base, "%smem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @%u write.f32 [y], e0, n=4\n", head[tg], R);
    cr_assert_eq(load_cycles(base), host ? 9 : 16, "%s", base);
    snprintf(s, sizeof s, "%smem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @%u write.f32 [y], e0, n=4, stride=32\n", head[tg], R);
    cr_assert_eq(load_cycles(s), host ? 9 : 16, "a stride does not change the timing\n%s", s);
    seen[LS_OP_WRITE] = 1;

    /* scatter n=4 at R: done R + gather + 4: host 3+4+4 = 11, tsp 7+7+4 = 18 */
    const char *sc = "%smem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @0 read.i32 e1, [k], n=4\n"
                     "mem2:\n @%u scatter.f32 [y], e0, e1, n=4, size=32\n";
    snprintf(s, sizeof s, sc, head[tg], R);
    cr_assert_eq(load_cycles(s), host ? 11 : 18, "%s", s);
    snprintf(s, sizeof s, sc, head[tg], R - 1);
    expect_reject(s);
    snprintf(s, sizeof s, sc, head[tg], R + 1);
    expect_reject(s);
    seen[LS_OP_SCATTER] = 1;

    /* lw n=4 at R: done R + mxm_lw + 4: host 3+1+4 = 8, tsp 7+2+4 = 13 (the read is done at
     * R + 4 = 7 / 11) */
    const char *lw = "%smem0:\n @0 read.f32 e0, [a], n=4\nmxm0:\n @%u lw.f32 p0, e0, n=4\n";
    snprintf(s, sizeof s, lw, head[tg], R);
    cr_assert_eq(load_cycles(s), host ? 8 : 13, "%s", s);
    snprintf(s, sizeof s, lw, head[tg], R - 1);
    expect_reject(s);
    snprintf(s, sizeof s, lw, head[tg], R + 1);
    expect_reject(s);
    seen[LS_OP_LW] = 1;

    /* nop n at c on an empty queue: done c + n, and nothing more */
    snprintf(s, sizeof s, "%svxm5:\n @20 nop 3\n", base);
    cr_assert_eq(load_cycles(s), 23, "%s", s);
    snprintf(s, sizeof s, "%svxm5:\n @2 nop 3\n", base); /* done at 5, before the write */
    cr_assert_eq(load_cycles(s), host ? 9 : 16, "%s", s);
    /* nop before an instruction without @cycle delays it by its count */
    snprintf(s, sizeof s, "%smem0:\n nop 2\n read.f32 e0, [a], n=4\nmem1:\n @%u write.f32 [y], e0, n=4\n", head[tg], R + 2);
    cr_assert_eq(load_cycles(s), host ? 11 : 18, "%s", s);
    /* and holds its queue: the read at 0 keeps mem0 busy until 4 */
    snprintf(s, sizeof s, "%smem0:\n @2 nop 1\n", base);
    expect_reject(s);
    seen[LS_OP_NOP] = 1;

    /* notify at 30: done 31; sync at 31 (30 + icu 1): done 32 */
    snprintf(s, sizeof s, "%svxm5:\n @30 notify\n", base);
    cr_assert_eq(load_cycles(s), 31, "%s", s);
    snprintf(s, sizeof s, "%svxm5:\n @30 notify\nvxm6:\n @31 sync\n", base);
    cr_assert_eq(load_cycles(s), 32, "%s", s);
    snprintf(s, sizeof s, "%svxm5:\n @30 notify\nvxm6:\n @32 sync\n", base);
    expect_reject(s);
    snprintf(s, sizeof s, "%svxm5:\n @30 notify\nvxm6:\n @30 sync\n", base);
    expect_reject(s);
    seen[LS_OP_NOTIFY] = seen[LS_OP_SYNC] = 1;

    /* read n=1 + repeat 3, 2: reads at 0, 2, 4, 6; the writes likewise from R; the last write
     * at R+6 is done at R + 6 + mem + 1: host 3+6+2+1 = 12, tsp 7+6+5+1 = 19 */
    const char *rp = "%smem0:\n @0 read.f32 e0, [a], n=1\n repeat 3, 2\nmem1:\n @%u write.f32 [y], e0, n=1\n repeat 3, %u\n";
    snprintf(s, sizeof s, rp, head[tg], R, 2u);
    cr_assert_eq(load_cycles(s), host ? 12 : 19, "%s", s);
    {
      ls_program *p;
      ls_error e;
      cr_assert_eq(t_load(s, &p, &e), LS_OK);
      cr_assert_eq(ls_instructions(p), 8, "4 reads and 4 writes issue, got %llu", (unsigned long long)ls_instructions(p));
      ls_free(p);
    }
    snprintf(s, sizeof s, rp, head[tg], R, 1u); /* the writes would read e0 when nothing arrives */
    expect_reject(s);
    /* repeat itself takes no time: the queue is free after the last repetition (6 + 1 = 7), so a
     * nop 20 without @cycle runs 7..26 and the program takes 27 cycles */
    snprintf(s, sizeof s,
             "%smem0:\n @0 read.f32 e0, [a], n=1\n repeat 3, 2\n nop 20\nmem1:\n @%u write.f32 [y], e0, n=1\n repeat 3, 2\n",
             head[tg], R);
    cr_assert_eq(load_cycles(s), 27, "%s", s);
    snprintf(s, sizeof s, "%svxm5:\n repeat 1, 1\n", base); /* nothing to repeat */
    expect_reject(s);
    seen[LS_OP_REPEAT] = 1;
  }
  for (int op = 0; op < LS_OP_COUNT; op++)
    if (ls_ops[op].out == LS_OUT_NONE) cr_expect(seen[op], "%s has no output and no latency case", ls_ops[op].mnemonic);
}

/* Fast mode's steps, as a profiler sees them: the callback comes once before each step, in
 * order, and once after the last; ls_step names each step's instance, an MM's shape and its
 * predicted time, which add up to ls_predict_us; and the run computes the same bits with
 * the callback as without. Y = relu(X W + b) with X 8x16, W 16x16: the MM is 8 vectors
 * through 16 plane rows into 16 columns, 2 * 8 * 16 * 16 = 4096 flops. */
typedef struct step_log {
  uint32_t seen[64], n;
} step_log;

static void log_step(void *user, uint32_t k) {
  step_log *l = user;
  if (l->n < 64) l->seen[l->n] = k;
  l->n++;
}

Test(predict, steps_are_what_fast_mode_runs) {
  char *src = t_read_file("examples/matmul_bias_relu.lsa");
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  free(src);
  const uint32_t n = ls_steps(p);
  cr_assert(n > 0 && n < 60, "%u steps", n);
  t_run r = t_open(p);
  float *X = t_tensor(&r, "X"), *W = t_tensor(&r, "W"), *b = t_tensor(&r, "b"), *Y = t_tensor(&r, "Y");
  for (int i = 0; i < 8 * 16; i++) X[i] = (float)((i * 7) % 11) - 5.0f;
  for (int i = 0; i < 16 * 16; i++) W[i] = (float)((i * 5) % 9) - 4.0f;
  for (int j = 0; j < 16; j++) b[j] = (float)j - 8.0f;
  cr_assert_eq(t_exec(&r, LS_MODE_FAST, 1, NULL), LS_OK);
  float plain[8 * 16];
  memcpy(plain, Y, sizeof plain);
  memset(Y, 0, sizeof plain);
  step_log log = {{0}, 0};
  ls_run_opts o = {LS_MODE_FAST, 1, NULL, NULL, log_step, &log, 0};
  cr_assert_eq(ls_run(p, r.arena, r.bytes, &o, NULL, &e), LS_OK, "%s", e.msg);
  cr_assert_eq(log.n, n + 1, "%u calls for %u steps", log.n, n);
  for (uint32_t k = 0; k <= n; k++) cr_assert_eq(log.seen[k], k, "call %u was for step %u", k, log.seen[k]);
  cr_assert_arr_eq(Y, plain, sizeof plain, "a profiled run computes other bits");
  for (int i = 0; i < 8; i++) /* small integers: exact in f32 */
    for (int j = 0; j < 16; j++) {
      float y = b[j];
      for (int k = 0; k < 16; k++) y += X[i * 16 + k] * W[k * 16 + j];
      cr_assert_eq(Y[i * 16 + j], y > 0 ? y : 0.0f, "Y[%d][%d]", i, j);
    }
  /* 1 ns per flop, nothing else: the MM's step costs 4096 ns, the others nothing */
  ls_calibration cal;
  memset(&cal, 0, sizeof cal);
  cal.model[0].mm[1] = 1;
  double sum = 0;
  int mms = 0;
  for (uint32_t k = 0; k < n; k++) {
    ls_step_info s;
    ls_step(p, k, &cal, 1, &s);
    sum += s.predicted_ns;
    if (s.insn.op != LS_OP_MM) {
      cr_assert_eq(s.flops, 0.0);
      cr_assert_eq(s.predicted_ns, 0.0, "step %u (%s) costs %g ns", k, ls_ops[s.insn.op].mnemonic, s.predicted_ns);
      continue;
    }
    mms++;
    cr_assert_eq(s.insn.n, 8u);
    cr_assert_eq(s.mm_k, 16u);
    cr_assert_eq(s.mm_n, 16u);
    cr_assert_eq(s.flops, 4096.0);
    cr_assert_eq(s.predicted_ns, 4096.0);
  }
  cr_assert_eq(mms, 1);
  cr_assert_float_eq(sum / 1e3, ls_predict_us(p, &cal, 1), 1e-12);
  ls_step_info s;
  ls_step(p, 0, NULL, 1, &s);
  cr_assert(s.predicted_ns != s.predicted_ns, "no calibration: NaN");
  ls_step(p, n, &cal, 1, &s);
  cr_assert_eq(s.insn.op, 0, "past the last step: nothing");
  t_close(&r);
}

/* An f32 vsum is charged the chain rate per element (its sums stay in registers), an f32
 * vmax the alu rate; without a chain rate, the vsum the alu rate too. 8 vectors of 4 lanes:
 * 32 elements; the aliased READ and the one-vector WRITE cost nothing here. */
Test(predict, an_f32_vsum_costs_the_chain_rate) {
  const unsigned delay = host_lat[LS_LAT_RED] + host_lat[LS_LAT_HOP] + 7;
  for (int mx = 0; mx < 2; mx++) {
    char src[512];
    snprintf(src, sizeof src,
             L4 ".input x f32 [32] @0\n.output y f32 [4] @1024\nmem0:\n @0 read.f32 e0, [x], n=8\n"
                "vxm0:\n @3 %s.f32 e1, e0, n=8\nmem1:\n @%u write.f32 [y], e1, n=1\n",
             mx ? "vmax" : "vsum", 3 + delay);
    ls_program *p;
    ls_error e;
    cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
    ls_calibration cal;
    memset(&cal, 0, sizeof cal);
    cal.model[0].per_unit[LS_COST_ALU] = 10, cal.model[0].chain = 1;
    cr_assert_float_eq(ls_predict_us(p, &cal, 1) * 1e3, mx ? 320.0 : 32.0, 1e-9, "%s", mx ? "vmax" : "vsum");
    cal.model[0].chain = 0;
    cr_assert_float_eq(ls_predict_us(p, &cal, 1) * 1e3, 320.0, 1e-9, "%s, no chain rate", mx ? "vmax" : "vsum");
    ls_free(p);
  }
}

/* An MM of at most 4 rows runs a loop, not BLAS: its own two coefficients when measured
 * (a + b*M*K*N), the BLAS fit otherwise; and the profile file keeps them. */
Test(predict, few_row_mms_cost_as_the_loop) {
  ls_calibration cal;
  memset(&cal, 0, sizeof cal);
  ls_cost_model *m = &cal.model[0];
  m->mm[0] = 100, m->mm[1] = 0.5, m->mm[2] = 0, m->mm[3] = 0;
  cr_assert_float_eq(ls_cost_mm_ns(m, 1, 256, 256), 100 + 0.5 * 2 * 65536, 1e-9, "not measured: the BLAS fit");
  m->mm_few[0] = 70, m->mm_few[1] = 0.04;
  cr_assert_float_eq(ls_cost_mm_ns(m, 1, 256, 256), 70 + 0.04 * 65536, 1e-9);
  cr_assert_float_eq(ls_cost_mm_ns(m, 4, 16, 32), 70 + 0.04 * 4 * 16 * 32, 1e-9);
  cr_assert_float_eq(ls_cost_mm_ns(m, 5, 16, 32), 100 + 0.5 * 2 * 5 * 16 * 32, 1e-9, "5 rows go to BLAS");
  char path[] = "/tmp/lockstep-cal-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  ls_error e;
  cal.cold[1].mm_few[1] = 0.125;
  cr_assert_eq(ls_calibration_save(path, &cal, &e), LS_OK, "%s", e.msg);
  ls_calibration back;
  cr_assert_eq(ls_calibration_load(path, &back, &e), LS_OK, "%s", e.msg);
  remove(path);
  cr_assert_float_eq(back.model[0].mm_few[0], 70.0, 1e-9);
  cr_assert_float_eq(back.model[0].mm_few[1], 0.04, 1e-9);
  cr_assert_float_eq(back.cold[1].mm_few[1], 0.125, 1e-9);
}
