/* isa.c - tables derived from the instruction list, targets, per-instruction timing. */
#include "isa.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ls_opinfo ls_ops[LS_OP_COUNT] = {
#define X(e, mn, unit, fmt, lat, out, types, sem) \
  {mn, LS_UNIT_##unit, LS_FMT_##fmt, LS_LAT_##lat, LS_OUT_##out, types, sem},
    LS_INSNS(X)
#undef X
};
#define X(e, mn, unit, fmt, lat, out, types, sem) +1
static_assert(sizeof(ls_ops) / sizeof(ls_ops[0]) == 0 LS_INSNS(X), "one row per opcode");
#undef X

const char *const ls_unit_names[LS_UNIT_COUNT] = {
#define X(e, name, doc) name,
    LS_UNITS(X)
#undef X
};
const char *const ls_unit_docs[LS_UNIT_COUNT] = {
#define X(e, name, doc) doc,
    LS_UNITS(X)
#undef X
};
const char *const ls_lat_names[LS_LAT_COUNT] = {
#define X(e, name, doc) name,
    LS_LATS(X)
#undef X
};
const char *const ls_lat_docs[LS_LAT_COUNT] = {
#define X(e, name, doc) doc,
    LS_LATS(X)
#undef X
};
const char *const ls_format_operands[LS_FMT_COUNT] = {
#define X(e, ops) ops,
    LS_FORMATS(X)
#undef X
};

static const struct {
  const char *name;
  size_t size;
  char cls;
} dtypes[LS_DTYPE_COUNT] = {
#define X(e, name, bytes, cls) {name, bytes, cls},
    LS_DTYPES(X)
#undef X
};

const char *ls_dtype_name(ls_dtype t) { return (unsigned)t < LS_DTYPE_COUNT ? dtypes[t].name : "?"; }
size_t ls_dtype_size(ls_dtype t) { return (unsigned)t < LS_DTYPE_COUNT ? dtypes[t].size : 0; }
char ls_dtype_class(ls_dtype t) { return (unsigned)t < LS_DTYPE_COUNT ? dtypes[t].cls : '?'; }

int ls_dtype_parse(const char *s, size_t len) {
  for (int i = 0; i < LS_DTYPE_COUNT; i++)
    if (strlen(dtypes[i].name) == len && memcmp(dtypes[i].name, s, len) == 0) return i;
  return -1;
}

int ls_op_parse(const char *s, size_t len) {
  for (int i = 0; i < LS_OP_COUNT; i++)
    if (strlen(ls_ops[i].mnemonic) == len && memcmp(ls_ops[i].mnemonic, s, len) == 0) return i;
  return -1;
}

int ls_op_accepts(ls_op op, ls_dtype t) {
  if ((unsigned)op >= LS_OP_COUNT || (unsigned)t >= LS_DTYPE_COUNT) return 0;
  const char *ty = ls_ops[op].types;
  char c = dtypes[t].cls;
  if (strcmp(ty, "any") == 0) return 1;
  if (strcmp(ty, "float") == 0) return c == 'F';
  if (strcmp(ty, "int") == 0) return c == 'I' || c == 'U';
  if (strcmp(ty, "num") == 0) return c != 'B';
  if (strcmp(ty, "bits") == 0) return c != 'F';
  if (strcmp(ty, "f32") == 0) return t == LS_F32;
  return 0;
}

/* ---- targets ---------------------------------------------------------------------------- */

/* host: shaped so the CPU executor is fast. Wide vectors amortise per-instruction work; four
 * 256x256 MXM planes give GEMM blocks that OpenBLAS runs near its peak; 32 MEM slices let a
 * 3x3 depthwise convolution's nine taps (18 reads, a bias read and a write) be one group. */
static const ls_target preset_host = {
    .name = "host",
    .lanes = 256,
    .slices = {[LS_UNIT_MEM] = 32, [LS_UNIT_VXM] = 16, [LS_UNIT_MXM] = 4, [LS_UNIT_SXM] = 4},
    .streams = 32,
    .sram_bytes = 1ull << 32,
    .clock_mhz = 1000,
    .lat = {[LS_LAT_MEM] = 2, [LS_LAT_GATHER] = 4, [LS_LAT_ALU] = 1, [LS_LAT_TRANS] = 4,
            [LS_LAT_RED] = 2, [LS_LAT_SXM] = 2, [LS_LAT_MXM_LW] = 1, [LS_LAT_MXM_MM] = 4,
            [LS_LAT_ICU] = 1, [LS_LAT_HOP] = 1},
};

/* tsp: the chip of "Think Fast" (ISCA 2020): 320 lanes, 4 MXM planes of 320x320, 88 MEM
 * slices holding 220 MiB, 32 streams each way, 900 MHz. Latencies are approximations. */
static const ls_target preset_tsp = {
    .name = "tsp",
    .lanes = 320,
    .slices = {[LS_UNIT_MEM] = 88, [LS_UNIT_VXM] = 16, [LS_UNIT_MXM] = 4, [LS_UNIT_SXM] = 4},
    .streams = 32,
    .sram_bytes = 220ull << 20,
    .clock_mhz = 900,
    .lat = {[LS_LAT_MEM] = 5, [LS_LAT_GATHER] = 7, [LS_LAT_ALU] = 3, [LS_LAT_TRANS] = 8,
            [LS_LAT_RED] = 6, [LS_LAT_SXM] = 4, [LS_LAT_MXM_LW] = 2, [LS_LAT_MXM_MM] = 12,
            [LS_LAT_ICU] = 1, [LS_LAT_HOP] = 2},
};

int ls_target_preset(const char *name, ls_target *out) {
  if (strcmp(name, "host") == 0) *out = preset_host;
  else if (strcmp(name, "tsp") == 0) *out = preset_tsp;
  else return -1;
  return 0;
}

static int parse_u64(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  if (*v == '-' || *v == '\0') return -1;
  unsigned long long x = strtoull(v, &end, 0);
  if (errno) return -1;
  uint64_t mul = 1;
  if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
  else if (*end == 'M') mul = 1ull << 20, end++;
  else if (*end == 'G') mul = 1ull << 30, end++;
  if (*end == 'i' && end[1] == 'B') end += 2;
  if (*end) return -1;
  if (mul > 1 && x > UINT64_MAX / mul) return -1;
  *out = x * mul;
  return 0;
}

int ls_target_set(ls_target *t, const char *key, const char *value, char *err, size_t errlen) {
  uint64_t v;
  if (strcmp(key, "name") == 0) {
    if (strlen(value) >= sizeof t->name) {
      snprintf(err, errlen, "target name '%s' is longer than %zu characters", value, sizeof t->name - 1);
      return -1;
    }
    snprintf(t->name, sizeof t->name, "%s", value);
    return 0;
  }
  if (parse_u64(value, &v) != 0) {
    snprintf(err, errlen, "target field '%s': expected a non-negative number, got '%s'", key, value);
    return -1;
  }
  uint32_t *u32 = NULL;
  if (strcmp(key, "lanes") == 0) u32 = &t->lanes;
  else if (strcmp(key, "streams") == 0) u32 = &t->streams;
  else if (strcmp(key, "clock") == 0) u32 = &t->clock_mhz;
  else if (strcmp(key, "sram") == 0) {
    t->sram_bytes = v;
    return 0;
  } else if (strncmp(key, "lat.", 4) == 0) {
    for (int i = 0; i < LS_LAT_COUNT; i++)
      if (strcmp(key + 4, ls_lat_names[i]) == 0) u32 = &t->lat[i];
  } else {
    for (int i = 0; i < LS_UNIT_COUNT; i++)
      if (i != LS_UNIT_ICU && strcmp(key, ls_unit_names[i]) == 0) u32 = &t->slices[i];
  }
  if (!u32) {
    snprintf(err, errlen,
             "unknown target field '%s' (expected name, lanes, mem, vxm, mxm, sxm, streams, sram, clock or lat.<class>)",
             key);
    return -1;
  }
  if (v > UINT32_MAX) {
    snprintf(err, errlen, "target field '%s': %s is too large", key, value);
    return -1;
  }
  *u32 = (uint32_t)v;
  return 0;
}

int ls_target_check(const ls_target *t, char *err, size_t errlen) {
  if (t->lanes == 0 || t->lanes > 65536) {
    snprintf(err, errlen, "target %s: lanes must be 1..65536, got %u", t->name, t->lanes);
    return -1;
  }
  if (t->streams == 0 || t->streams > LS_MAX_STREAMS) {
    snprintf(err, errlen, "target %s: streams must be 1..%u per direction, got %u", t->name,
             LS_MAX_STREAMS, t->streams);
    return -1;
  }
  for (int u = 0; u < LS_UNIT_COUNT; u++) {
    if (u == LS_UNIT_ICU) continue;
    if (t->slices[u] == 0 || t->slices[u] > 255) {
      snprintf(err, errlen, "target %s: %s slices must be 1..255, got %u", t->name, ls_unit_names[u],
               t->slices[u]);
      return -1;
    }
  }
  for (int l = 0; l < LS_LAT_COUNT; l++) {
    if (t->lat[l] > 1000000) {
      snprintf(err, errlen, "target %s: latency %s of %u cycles is implausible", t->name, ls_lat_names[l],
               t->lat[l]);
      return -1;
    }
  }
  if (t->clock_mhz == 0) {
    snprintf(err, errlen, "target %s: clock must be > 0 MHz", t->name);
    return -1;
  }
  return 0;
}

int ls_target_load_file(const char *path, ls_target *out, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char line[512], msg[256];
  int lineno = 0, have = 0, rc = 0;
  ls_target t = preset_host;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *eq = strchr(line, '=');
    char *k = line;
    while (*k == ' ' || *k == '\t') k++;
    if (*k == '\0' || *k == '\n' || *k == '\r') continue;
    if (!eq) {
      snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
      rc = -1;
      break;
    }
    char *ke = eq;
    while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t')) ke--;
    *ke = '\0';
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t') v++;
    char *ve = v + strlen(v);
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\n' || ve[-1] == '\r')) ve--;
    *ve = '\0';
    if (strcmp(k, "preset") == 0) {
      if (have) {
        snprintf(err, errlen, "%s:%d: 'preset' must come before any other field", path, lineno);
        rc = -1;
        break;
      }
      if (ls_target_preset(v, &t) != 0) {
        snprintf(err, errlen, "%s:%d: unknown preset '%s' (expected host or tsp)", path, lineno, v);
        rc = -1;
        break;
      }
      continue;
    }
    have = 1;
    if (ls_target_set(&t, k, v, msg, sizeof msg) != 0) {
      snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
      rc = -1;
      break;
    }
  }
  fclose(f);
  if (rc == 0 && ls_target_check(&t, msg, sizeof msg) != 0) {
    snprintf(err, errlen, "%s: %s", path, msg);
    rc = -1;
  }
  if (rc == 0) *out = t;
  return rc;
}

size_t ls_vector_bytes(const ls_target *t, ls_dtype dt) { return (size_t)t->lanes * ls_dtype_size(dt); }

/* ---- timing ------------------------------------------------------------------------------ */

uint32_t ls_insn_latency(const ls_target *t, const ls_insn *in) {
  if (in->op >= LS_OP_COUNT) return 0;
  return t->lat[ls_ops[in->op].lat];
}

uint32_t ls_insn_outputs(const ls_insn *in) {
  if (in->op >= LS_OP_COUNT) return 0;
  switch (ls_ops[in->op].out) {
  case LS_OUT_NONE: return 0;
  case LS_OUT_N: return in->n;
  case LS_OUT_ONE: return 1;
  }
  return 0;
}

uint32_t ls_insn_busy(const ls_insn *in) {
  switch (in->op) {
  case LS_OP_REPEAT: return 0;
  case LS_OP_SYNC:
  case LS_OP_NOTIFY: return 1;
  default: return in->n;
  }
}

ls_dtype ls_insn_out_dtype(const ls_insn *in) {
  switch (in->op) {
  case LS_OP_CVT: return (ls_dtype)in->t1;
  case LS_OP_EQ:
  case LS_OP_NE:
  case LS_OP_LT:
  case LS_OP_LE: return LS_BOOL;
  default: return (ls_dtype)in->t0;
  }
}

uint64_t ls_io_elems(const ls_io *io) {
  uint64_t e = 1;
  for (unsigned i = 0; i < io->rank && i < LS_MAX_RANK; i++) e *= io->dims[i];
  return e;
}

uint64_t ls_io_bytes(const ls_io *io) { return ls_io_elems(io) * ls_dtype_size((ls_dtype)io->dtype); }

void ls_stream_name(const ls_target *t, unsigned s, char *buf, size_t len) {
  if (s == LS_NO_STREAM) snprintf(buf, len, "-");
  else if (s < t->streams) snprintf(buf, len, "e%u", s);
  else snprintf(buf, len, "w%u", s - t->streams);
}

uint64_t ls_insn_out_delay(const ls_target *t, const ls_insn *in) {
  uint64_t d = (uint64_t)ls_insn_latency(t, in) + t->lat[LS_LAT_HOP];
  if (in->op < LS_OP_COUNT && ls_ops[in->op].out == LS_OUT_ONE && in->n > 0) d += in->n - 1;
  if (in->op == LS_OP_TRANSPOSE) d += t->lanes - 1;
  return d;
}

uint64_t ls_insn_done(const ls_target *t, const ls_insn *in) {
  if (in->op >= LS_OP_COUNT) return in->cycle;
  if (ls_ops[in->op].unit == LS_UNIT_ICU) return in->cycle + ls_insn_busy(in);
  uint32_t outs = ls_insn_outputs(in);
  if (outs == 0) return in->cycle + ls_insn_latency(t, in) + in->n;
  uint64_t last = ls_insn_out_delay(t, in) + outs;
  return in->cycle + (last > in->n ? last : in->n);
}

unsigned ls_format_fields(ls_op op) {
  if ((unsigned)op >= LS_OP_COUNT) return 0;
  const unsigned base = LS_F_T0 | LS_F_N;
  switch (ls_ops[op].format) {
  case LS_FMT_NONE: return 0;
  case LS_FMT_IDLE: return LS_F_N;
  case LS_FMT_REPEAT: return LS_F_N | LS_F_AUX;
  case LS_FMT_READ: return base | LS_F_DST | LS_F_ADDR | LS_F_STRIDE | LS_F_AUX | LS_F_IMM;
  case LS_FMT_WRITE: return base | LS_F_A | LS_F_ADDR | LS_F_STRIDE | LS_F_AUX;
  case LS_FMT_GATHER: return base | LS_F_DST | LS_F_A | LS_F_ADDR | LS_F_AUX;
  case LS_FMT_SCATTER: return base | LS_F_A | LS_F_B | LS_F_ADDR | LS_F_AUX;
  case LS_FMT_UN: return base | LS_F_DST | LS_F_A | (op == LS_OP_CVT ? LS_F_T1 : 0);
  case LS_FMT_BIN: return base | LS_F_DST | LS_F_A | LS_F_B;
  case LS_FMT_TER: return base | LS_F_DST | LS_F_A | LS_F_B | LS_F_C;
  case LS_FMT_IMM:
  case LS_FMT_LANE: return base | LS_F_DST | LS_F_A | LS_F_IMM;
  case LS_FMT_PERM: return base | LS_F_DST | LS_F_A | LS_F_ADDR;
  case LS_FMT_LW: return base | LS_F_A | LS_F_AUX;
  case LS_FMT_MM: return base | LS_F_DST | LS_F_A | LS_F_B | LS_F_B_OPT | LS_F_AUX | LS_F_IMM;
  case LS_FMT_COUNT: break;
  }
  return 0;
}

int ls_insn_check_fields(const ls_insn *in, char *err, size_t errlen) {
  unsigned f = ls_format_fields((ls_op)in->op);
  const char *bad = NULL;
  if (!(f & LS_F_T0) && in->t0) bad = "t0 (element type)";
  else if (!(f & LS_F_T1) && in->t1) bad = "t1 (second element type)";
  else if (!(f & LS_F_DST) && in->dst != LS_NO_STREAM) bad = "dst (stream)";
  else if (!(f & LS_F_A) && in->a != LS_NO_STREAM) bad = "a (stream)";
  else if (!(f & LS_F_B) && in->b != LS_NO_STREAM) bad = "b (stream)";
  else if (!(f & LS_F_C) && in->c != LS_NO_STREAM) bad = "c (stream)";
  else if (!(f & LS_F_N) && in->n) bad = "n";
  else if (!(f & LS_F_AUX) && in->aux) bad = "aux";
  else if (!(f & LS_F_IMM) && in->imm) bad = "imm";
  else if (!(f & LS_F_ADDR) && in->addr) bad = "addr";
  else if (!(f & LS_F_STRIDE) && in->stride) bad = "stride";
  if (bad) {
    snprintf(err, errlen, "field %s must be %s for %s", bad,
             strchr(bad, '(') && strstr(bad, "stream") ? "unused (-)" : "0",
             in->op < LS_OP_COUNT ? ls_ops[in->op].mnemonic : "?");
    return -1;
  }
  return 0;
}

/* ---- half precision ----------------------------------------------------------------------- */

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

float ls_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    if (man == 0) return bits_f32(sign);
    float v = (float)man * (1.0f / 16777216.0f); /* man * 2^-24 */
    return sign ? -v : v;
  }
  return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t ls_f32_to_f16(float f) {
  uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000u, abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu)); /* NaN */
  if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
  if (abs < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
    if (abs < 0x33000000u) return (uint16_t)sign; /* < 2^-25 rounds to zero */
    uint32_t e = abs >> 23, m = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);
  }
  uint32_t r = abs + 0xfffu + ((abs >> 13) & 1); /* round to nearest even at bit 13 */
  return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float ls_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t ls_f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}
