/* isa.h - the Lockstep instruction set: one table, and everything derived from it.
 *
 * A Lockstep machine is a row of functional slices (MEM, VXM, MXM, SXM), each with its
 * own in-order instruction queue. Vectors of `lanes` elements travel between slices on
 * numbered stream registers (east e0..eS-1, west w0..wS-1). Every instruction streams
 * `n` vectors: it consumes input vector i at cycle issue+i and its output vector i
 * arrives on the destination stream at cycle issue + latency + hop + i, where it must
 * be consumed in that very cycle. Nothing here knows of the compiler or the runtime.
 *
 * Instruction word (48 bytes in a program file, little-endian):
 *
 *   0        8     10  11  12  13  14  15  16       20       24         32        40        48
 *   +--------+------+---+---+---+---+---+---+--------+--------+----------+---------+---------+
 *   | cycle  |  op  |t0 |t1 |dst| a | b | c |   n    |  aux   |   imm    |  addr   | stride  |
 *   +--------+------+---+---+---+---+---+---+--------+--------+----------+---------+---------+
 *   cycle: issue cycle     t0/t1: element types   dst,a,b,c: streams (0xff = none)
 *   n: vectors streamed    aux: plane / count     imm: immediate     addr/stride: bytes
 */
#ifndef LOCKSTEP_ISA_H
#define LOCKSTEP_ISA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- element types ------------------------------------------------------------------
 * X(enum, name, bytes, class)  class: F float, I signed int, U unsigned int, B bool */
#define LS_DTYPES(X)            \
  X(F32, "f32", 4, 'F')         \
  X(F16, "f16", 2, 'F')         \
  X(BF16, "bf16", 2, 'F')       \
  X(F64, "f64", 8, 'F')         \
  X(I8, "i8", 1, 'I')           \
  X(U8, "u8", 1, 'U')           \
  X(I16, "i16", 2, 'I')         \
  X(U16, "u16", 2, 'U')         \
  X(I32, "i32", 4, 'I')         \
  X(U32, "u32", 4, 'U')         \
  X(I64, "i64", 8, 'I')         \
  X(U64, "u64", 8, 'U')         \
  X(BOOL, "bool", 1, 'B')

typedef enum ls_dtype {
#define X(e, name, bytes, cls) LS_##e,
  LS_DTYPES(X)
#undef X
  LS_DTYPE_COUNT
} ls_dtype;

/* Half-precision conversions (round to nearest even; NaN stays NaN). */
float ls_f16_to_f32(uint16_t h);
uint16_t ls_f32_to_f16(float f);
float ls_bf16_to_f32(uint16_t h);
uint16_t ls_f32_to_bf16(float f);

/* ---- units --------------------------------------------------------------------------- */
#define LS_UNITS(X)                                   \
  X(MEM, "mem", "SRAM slice: read, write, gather, scatter") \
  X(VXM, "vxm", "vector ALU: elementwise arithmetic, compare, convert, reduce") \
  X(MXM, "mxm", "matrix plane: install weights, stream activations through") \
  X(SXM, "sxm", "switch: shift, rotate, permute, distribute, transpose") \
  X(ICU, "icu", "queue control; these instructions run on any queue")

typedef enum ls_unit {
#define X(e, name, doc) LS_UNIT_##e,
  LS_UNITS(X)
#undef X
  LS_UNIT_COUNT
} ls_unit;

/* ---- latency classes: the target gives each one a cycle count ------------------------- */
#define LS_LATS(X)                                                   \
  X(MEM, "mem", "SRAM read or write")                                \
  X(GATHER, "gather", "indexed SRAM access")                         \
  X(ALU, "alu", "simple VXM arithmetic, compare, select, convert")   \
  X(TRANS, "trans", "VXM transcendental (exp, log, tanh, erf, ...)")  \
  X(RED, "red", "VXM reduction")                                     \
  X(SXM, "sxm", "lane movement")                                     \
  X(MXM_LW, "mxm_lw", "MXM weight install")                          \
  X(MXM_MM, "mxm_mm", "MXM multiply-accumulate pipeline")            \
  X(ICU, "icu", "queue control")                                     \
  X(HOP, "hop", "stream transit, added to every stream hand-off")

typedef enum ls_lat {
#define X(e, name, doc) LS_LAT_##e,
  LS_LATS(X)
#undef X
  LS_LAT_COUNT
} ls_lat;

/* ---- operand formats: what an instruction's fields mean -------------------------------
 * X(enum, assembly operands)                                                            */
#define LS_FORMATS(X)                       \
  X(NONE, "")                               \
  X(IDLE, "count")                          \
  X(REPEAT, "count, delay")                 \
  X(READ, "dst, [addr]")                    \
  X(WRITE, "[addr], src")                   \
  X(GATHER, "dst, [addr], idx")             \
  X(SCATTER, "[addr], src, idx")            \
  X(UN, "dst, a")                           \
  X(BIN, "dst, a, b")                       \
  X(TER, "dst, a, b, c")                    \
  X(IMM, "dst, a, imm")                     \
  X(LANE, "dst, a, k")                      \
  X(PERM, "dst, a, [map]")                  \
  X(LW, "plane, src")                       \
  X(MM, "dst, plane, x[, acc]")

typedef enum ls_format {
#define X(e, ops) LS_FMT_##e,
  LS_FORMATS(X)
#undef X
  LS_FMT_COUNT
} ls_format;

/* How many vectors an instruction puts out for n it takes in. */
typedef enum ls_outkind {
  LS_OUT_NONE, /* produces no stream */
  LS_OUT_N,    /* one output vector per input vector */
  LS_OUT_ONE   /* one output vector for the whole stream */
} ls_outkind;

/* ---- THE instruction table ------------------------------------------------------------
 * X(enum, mnemonic, unit, format, latency class, outputs, types, semantics)
 * types: which element types the instruction accepts ("any", "float", "int", "bits",
 * "num" = float or int, "f32"). Semantics in register-transfer form; i indexes vectors of
 * the stream (0..n-1), l indexes lanes. docs/ISA.md is checked against this table.   */
#define LS_INSNS(X)                                                                          \
  X(NOP, "nop", ICU, IDLE, ICU, NONE, "any", "idle this queue for count cycles")            \
  X(REPEAT, "repeat", ICU, REPEAT, ICU, NONE, "any",                                          \
    "issue the previous instruction count more times, delay cycles apart; a read or write advances its addr by n*stride each time") \
  X(SYNC, "sync", ICU, NONE, ICU, NONE, "any", "park until a notify: it must issue exactly icu cycles after a notify") \
  X(NOTIFY, "notify", ICU, NONE, ICU, NONE, "any", "release every queue that syncs icu cycles later")  \
  X(READ, "read", MEM, READ, MEM, N, "any", "dst[i][l] := mem[addr + i*stride + l*size] for l < lanes (lanes=, 0 means L); fill (fill=) in the other lanes")                \
  X(WRITE, "write", MEM, WRITE, MEM, NONE, "any", "mem[addr + i*stride + l*size] := src[i][l] for l < lanes (lanes=, 0 means L)")          \
  X(GATHER, "gather", MEM, GATHER, GATHER, N, "any", "dst[i][l] := T[idx[i][l]], T the table of size elements at addr (idx i32; outside 0..size-1 gives 0)") \
  X(SCATTER, "scatter", MEM, SCATTER, GATHER, NONE, "any",                                    \
    "T[idx[i][l]] := src[i][l], in order of i then l (idx i32; outside 0..size-1 dropped)") \
  X(MOV, "mov", VXM, UN, ALU, N, "any", "dst := a")                                          \
  X(NEG, "neg", VXM, UN, ALU, N, "num", "dst := -a")                                         \
  X(ABS, "abs", VXM, UN, ALU, N, "num", "dst := |a|")                                        \
  X(RELU, "relu", VXM, UN, ALU, N, "num", "dst := a < 0 ? 0 : a")                                \
  X(NOT, "not", VXM, UN, ALU, N, "bits", "dst := ~a (logical not for bool)")                 \
  X(FLOOR, "floor", VXM, UN, ALU, N, "float", "dst := floor(a)")                             \
  X(CEIL, "ceil", VXM, UN, ALU, N, "float", "dst := ceil(a)")                                \
  X(ROUND, "round", VXM, UN, ALU, N, "float", "dst := round(a), ties to even")                \
  X(RECIP, "recip", VXM, UN, ALU, N, "float", "dst := 1 / a")                                \
  X(SQRT, "sqrt", VXM, UN, TRANS, N, "float", "dst := sqrt(a)")                              \
  X(RSQRT, "rsqrt", VXM, UN, TRANS, N, "float", "dst := 1 / sqrt(a)")                        \
  X(EXP, "exp", VXM, UN, TRANS, N, "float", "dst := e^a")                                    \
  X(LOG, "log", VXM, UN, TRANS, N, "float", "dst := ln(a)")                                  \
  X(TANH, "tanh", VXM, UN, TRANS, N, "float", "dst := tanh(a)")                              \
  X(SIGMOID, "sigmoid", VXM, UN, TRANS, N, "float", "dst := 1 / (1 + e^-a)")                 \
  X(ERF, "erf", VXM, UN, TRANS, N, "float", "dst := erf(a)")                                 \
  X(SIN, "sin", VXM, UN, TRANS, N, "float", "dst := sin(a)")                                 \
  X(COS, "cos", VXM, UN, TRANS, N, "float", "dst := cos(a)")                                 \
  X(ATAN, "atan", VXM, UN, TRANS, N, "float", "dst := atan(a), in [-pi/2, pi/2]")              \
  X(CVT, "cvt", VXM, UN, ALU, N, "any",                                                       \
    "dst.t1 := a.t0 (float to int truncates toward zero and saturates; NaN gives 0)")       \
  X(ADD, "add", VXM, BIN, ALU, N, "num", "dst := a + b (integers wrap)")                     \
  X(SUB, "sub", VXM, BIN, ALU, N, "num", "dst := a - b (integers wrap)")                     \
  X(MUL, "mul", VXM, BIN, ALU, N, "num", "dst := a * b (integers wrap)")                     \
  X(DIV, "div", VXM, BIN, ALU, N, "num", "dst := a / b (floats: IEEE; integers: truncate, x/0 gives 0)")    \
  X(MOD, "mod", VXM, BIN, ALU, N, "num", "dst := a - b*floor(a/b), the sign of b (integers: x mod 0 gives 0)") \
  X(FMOD, "fmod", VXM, BIN, ALU, N, "num", "dst := a - b*trunc(a/b), the sign of a, as C's fmod (integers: x fmod 0 gives 0)") \
  X(MIN, "min", VXM, BIN, ALU, N, "num", "dst := min(a, b) (NaN if either is NaN)")          \
  X(MAX, "max", VXM, BIN, ALU, N, "num", "dst := max(a, b) (NaN if either is NaN)")          \
  X(POW, "pow", VXM, BIN, TRANS, N, "float", "dst := a^b")                                   \
  X(AND, "and", VXM, BIN, ALU, N, "bits", "dst := a & b")                                    \
  X(OR, "or", VXM, BIN, ALU, N, "bits", "dst := a | b")                                      \
  X(XOR, "xor", VXM, BIN, ALU, N, "bits", "dst := a ^ b")                                    \
  X(SHL, "shl", VXM, BIN, ALU, N, "int", "dst := a << b (0 if b < 0 or b >= the bit width)")  \
  X(SHR, "shr", VXM, BIN, ALU, N, "int", "dst := a >> b, arithmetic for signed types (b < 0 or >= the bit width: as if by width-1 for signed, 0 for unsigned)") \
  X(EQ, "eq", VXM, BIN, ALU, N, "any", "dst.bool := a == b")                                 \
  X(NE, "ne", VXM, BIN, ALU, N, "any", "dst.bool := a != b")                                 \
  X(LT, "lt", VXM, BIN, ALU, N, "num", "dst.bool := a < b")                                  \
  X(LE, "le", VXM, BIN, ALU, N, "num", "dst.bool := a <= b")                                 \
  X(MAC, "mac", VXM, TER, ALU, N, "num", "dst := a * b + c (one rounding for floats)")      \
  X(SEL, "sel", VXM, TER, ALU, N, "any", "dst := a.bool ? b : c")                            \
  X(ADDS, "adds", VXM, IMM, ALU, N, "num", "dst := a + imm")                                 \
  X(MULS, "muls", VXM, IMM, ALU, N, "num", "dst := a * imm")                                 \
  X(MINS, "mins", VXM, IMM, ALU, N, "num", "dst := min(a, imm)")                             \
  X(MAXS, "maxs", VXM, IMM, ALU, N, "num", "dst := max(a, imm)")                             \
  X(SPLAT, "splat", VXM, IMM, ALU, N, "any", "dst := imm in every lane (a, of any type, only times the output)") \
  X(VSUM, "vsum", VXM, UN, RED, ONE, "num", "dst[0][l] := ((a[0][l] + a[1][l]) + ...) + a[n-1][l] (f16/bf16 sum in f32)") \
  X(VMAX, "vmax", VXM, UN, RED, ONE, "num", "dst[0][l] := max over i of a[i][l], in order i = 0..n-1") \
  X(LSUM, "lsum", VXM, UN, RED, N, "num", "dst[i][0] := tree sum of a[i][0..L-1] (sum(x[0..m)) = sum(x[0..m/2)) + sum(x[m/2..m))); other lanes 0") \
  X(LMAX, "lmax", VXM, UN, RED, N, "num", "dst[i][0] := max of a[i][0..L-1] in lane order (NaN if any is NaN); other lanes 0") \
  X(SHIFT, "shift", SXM, LANE, SXM, N, "any", "dst[i][l] := a[i][l - k] (0 where l - k is outside 0..L-1)")\
  X(ROTATE, "rotate", SXM, LANE, SXM, N, "any", "dst[i][l] := a[i][(l - k) mod L]")\
  X(DIST, "dist", SXM, LANE, SXM, N, "any", "dst[i][l] := a[i][k] (lane k to every lane)")\
  X(PERMUTE, "permute", SXM, PERM, SXM, N, "any", "dst[i][l] := a[i][map[l]] (map: L u32 at addr; >= L gives 0)") \
  X(TRANSPOSE, "transpose", SXM, UN, SXM, N, "any",                                           \
    "each block of L vectors is transposed: dst[b*L + j][k] := a[b*L + k][j]; n a multiple of L") \
  X(LW, "lw", MXM, LW, MXM_LW, NONE, "f32", "W[plane][k] := src[k] for k < n; K[plane] := n") \
  X(MM, "mm", MXM, MM, MXM_MM, N, "f32",                                                      \
    "dst[i][j] := acc[i][j] + sum over k < K[plane] of x[i][k] * W[plane][k][j] for j < cols (cols = imm, 0 means L); other lanes 0")

typedef enum ls_op {
#define X(e, mn, unit, fmt, lat, out, types, sem) LS_OP_##e,
  LS_INSNS(X)
#undef X
  LS_OP_COUNT
} ls_op;

typedef struct ls_opinfo {
  const char *mnemonic;
  ls_unit unit;
  ls_format format;
  ls_lat lat;
  ls_outkind out;
  const char *types;
  const char *semantics;
} ls_opinfo;

extern const ls_opinfo ls_ops[LS_OP_COUNT];
extern const char *const ls_unit_names[LS_UNIT_COUNT];
extern const char *const ls_unit_docs[LS_UNIT_COUNT];
extern const char *const ls_lat_names[LS_LAT_COUNT];
extern const char *const ls_lat_docs[LS_LAT_COUNT];
extern const char *const ls_format_operands[LS_FMT_COUNT];

const char *ls_dtype_name(ls_dtype t);
size_t ls_dtype_size(ls_dtype t);
char ls_dtype_class(ls_dtype t); /* 'F', 'I', 'U', 'B' */
int ls_dtype_parse(const char *s, size_t len);  /* -1 if unknown */
int ls_op_parse(const char *s, size_t len);     /* -1 if unknown */
/* 1 if op accepts element type t by its table "types" column. */
int ls_op_accepts(ls_op op, ls_dtype t);

#define LS_NO_STREAM 0xffu
#define LS_MAX_STREAMS 127 /* per direction: ids 0..253, 0xff is "none" */
#define LS_MAX_RANK 8
#define LS_MAX_NAME 64

/* ---- one instruction, decoded ---------------------------------------------------------- */
typedef struct ls_insn {
  uint64_t cycle;  /* issue cycle */
  uint16_t op;     /* ls_op */
  uint8_t t0, t1;  /* element types: t0 of the inputs, t1 of CVT's output */
  uint8_t dst, a, b, c; /* streams, LS_NO_STREAM if unused */
  uint32_t n;      /* vectors streamed (NOP: idle cycles; REPEAT: count) */
  uint32_t aux;    /* MXM plane; REPEAT delay */
  int64_t imm;     /* immediate: f64 bits for float types, integer otherwise */
  uint64_t addr;   /* byte address in SRAM */
  int64_t stride;  /* bytes between consecutive vectors in SRAM */
} ls_insn;

#define LS_INSN_BYTES 48

/* ---- the target: one machine --------------------------------------------------------- */
typedef struct ls_target {
  char name[16];
  uint32_t lanes;          /* elements per vector */
  uint32_t slices[LS_UNIT_COUNT]; /* queues of each unit (ICU: 0, it rides on every queue) */
  uint32_t streams;        /* stream registers per direction */
  uint64_t sram_bytes;     /* SRAM capacity */
  uint32_t clock_mhz;      /* clock for predicted time */
  uint32_t lat[LS_LAT_COUNT]; /* cycles per latency class */
} ls_target;

#define LS_TARGET_PRESETS(X) X(host) X(tsp)
int ls_target_preset(const char *name, ls_target *out); /* 0 ok, -1 unknown */
/* Set one field "key=value" (lanes, mem, vxm, mxm, sxm, streams, sram, clock, lat.NAME).
 * Returns 0, or -1 with a message in err. */
int ls_target_set(ls_target *t, const char *key, const char *value, char *err, size_t errlen);
/* Load a target description file (key = value lines, '#' comments; "preset = NAME" first). */
int ls_target_load_file(const char *path, ls_target *out, char *err, size_t errlen);
/* Check a target is sane (lanes > 0, streams <= LS_MAX_STREAMS, ...). */
int ls_target_check(const ls_target *t, char *err, size_t errlen);
size_t ls_vector_bytes(const ls_target *t, ls_dtype dt);

/* Latency of one instruction on a target (without the stream hop). */
uint32_t ls_insn_latency(const ls_target *t, const ls_insn *in);
/* Vectors an instruction produces on its dst stream (0 if none). */
uint32_t ls_insn_outputs(const ls_insn *in);
/* Cycles the instruction keeps its queue busy. */
uint32_t ls_insn_busy(const ls_insn *in);
/* Fields an operand format uses; every other field must be zero (streams: LS_NO_STREAM),
 * so that any valid program round-trips through assembly text byte for byte. */
enum {
  LS_F_T0 = 1 << 0, LS_F_T1 = 1 << 1, LS_F_DST = 1 << 2, LS_F_A = 1 << 3, LS_F_B = 1 << 4,
  LS_F_C = 1 << 5, LS_F_N = 1 << 6, LS_F_AUX = 1 << 7, LS_F_IMM = 1 << 8, LS_F_ADDR = 1 << 9,
  LS_F_STRIDE = 1 << 10, LS_F_B_OPT = 1 << 11 /* b may be LS_NO_STREAM */
};
unsigned ls_format_fields(ls_op op);
/* 0 if the unused fields of in are clear; else -1 and the offending field's name in err. */
int ls_insn_check_fields(const ls_insn *in, char *err, size_t errlen);

/* Element type of the output stream. */
ls_dtype ls_insn_out_dtype(const ls_insn *in);
/* Output vector j arrives on dst at cycle + ls_insn_out_delay() + j: latency, hop, plus the
 * inputs a vector must wait for (a whole stream for VSUM/VMAX, a block of L for TRANSPOSE). */
uint64_t ls_insn_out_delay(const ls_target *t, const ls_insn *in);
/* First cycle after the instruction's last effect (last output consumed or store landed). */
uint64_t ls_insn_done(const ls_target *t, const ls_insn *in);

/* ---- a program ------------------------------------------------------------------------ */
typedef struct ls_const {
  uint64_t addr, size;
  uint8_t *data;
} ls_const;

typedef struct ls_io {
  char name[LS_MAX_NAME];
  uint8_t is_output;
  uint8_t dtype;
  uint8_t rank;
  uint64_t dims[LS_MAX_RANK];
  uint64_t addr;  /* contiguous row-major at this SRAM byte address */
} ls_io;

typedef struct ls_queue {
  uint8_t unit, index;
  uint32_t count;
  ls_insn *insns;
} ls_queue;

typedef struct ls_prog {
  ls_target target;
  uint64_t mem_bytes;  /* SRAM bytes the program uses: addresses [0, mem_bytes) */
  uint32_t n_consts, n_io, n_queues;
  ls_const *consts;
  ls_io *io;
  ls_queue *queues;
} ls_prog;

uint64_t ls_io_elems(const ls_io *io);
uint64_t ls_io_bytes(const ls_io *io);

#define LS_FILE_MAGIC "LSTP"
#define LS_FILE_VERSION 1
#define LS_MAX_FILE_BYTES (1ull << 34)

/* Encode a program into a newly allocated buffer. Returns 0, -1 on allocation failure. */
int ls_prog_encode(const ls_prog *p, uint8_t **out, size_t *outlen);
/* Decode a program file image. Checks structure, sizes and checksum only: the runtime's
 * verifier checks meaning. Returns 0, or -1 with a message in err. Allocates into *p. */
int ls_prog_decode(const uint8_t *buf, size_t len, ls_prog *p, char *err, size_t errlen);
void ls_prog_free(ls_prog *p);

/* Bookkeeping that assembler, disassembler and tools share. */
typedef struct ls_prog_stats {
  uint64_t insns;   /* after REPEAT expansion */
  uint64_t cycles;  /* completion cycle of the last instruction */
} ls_prog_stats;
void ls_prog_stats_compute(const ls_prog *p, ls_prog_stats *s);

/* REPEAT expansion: the plain instructions a queue issues. The count saturates at
 * UINT64_MAX; ls_queue_expand writes at most cap instructions and returns how many. A REPEAT
 * with nothing before it expands to nothing (the verifier reports it). */
uint64_t ls_queue_expanded_count(const ls_queue *q);
size_t ls_queue_expand(const ls_queue *q, ls_insn *out, size_t cap);
/* The k-th repetition (k >= 1) of prev under a REPEAT. */
ls_insn ls_repeat_instance(const ls_insn *prev, uint32_t delay);

uint32_t ls_crc32(const uint8_t *buf, size_t len);

/* Stream names: e0.. (east), w0.. (west). */
void ls_stream_name(const ls_target *t, unsigned s, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
