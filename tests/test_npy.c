/* test_npy.c - the .npy reader and writer against bytes real NumPy produced.
 *
 * The reference files below are the exact output of Debian's NumPy 1.24 (np.save writes
 * format 1.0; write_array(..., version=(2, 0)) and (3, 0) the others), regenerated with
 *   /usr/bin/python3 -c 'import io, numpy as np; f = io.BytesIO(); EXPR; print(f.getvalue())'
 * where EXPR is the comment above each array. Header padding is spelled with SPn macros. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npy.h"

#define SP1 " "
#define SP2 "  "
#define SP4 "    "
#define SP8 "        "
#define SP16 SP8 SP8
#define SP32 SP16 SP16

/* pointer and length of a string literal holding a file image */
#define IMG(x) (const uint8_t *)(x), (sizeof(x) - 1)

/* np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)) */
static const char npy_f32_2x3[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
  SP32 SP16 SP8 SP2 "\n"
  "\000\000\000\000\000\000\200\077\000\000\000@\000\000@@"
  "\000\000\200@\000\000\240@";

/* np.save(f, np.float64(1.5)) */
static const char npy_f64_scalar[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<f8', 'fortran_order': False, 'shape': (), }"
  SP32 SP16 SP8 SP4 SP2 "\n"
  "\000\000\000\000\000\000\370\077";

/* np.save(f, np.array([True, False, True, True, False])) */
static const char npy_bool5[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }"
  SP32 SP16 SP8 SP4 "\n"
  "\001\000\001\001\000";

/* np.save(f, np.array([1, -2, 0x01020304, 2147483647], dtype='>i4')) */
static const char npy_be_i4[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '>i4', 'fortran_order': False, 'shape': (4,), }"
  SP32 SP16 SP8 SP4 "\n"
  "\000\000\000\001\377\377\377\376\001\002\003\004\177\377\377\377";

/* np.save(f, np.array([[1.5], [-0.25]], dtype='>f8')) */
static const char npy_be_f8[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 1), }"
  SP32 SP16 SP8 SP2 "\n"
  "\077\370\000\000\000\000\000\000\277\320\000\000\000\000\000\000";

/* np.save(f, np.array([0x0102, 0xfffe], dtype='>u2')) */
static const char npy_be_u2[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }"
  SP32 SP16 SP8 SP4 "\n"
  "\001\002\377\376";

/* np.lib.format.write_array(f, np.array([[1, 2], [3, 65535]], dtype='<u2'), version=(2, 0)) */
static const char npy_v2_u2[] =
  "\223NUMPY\002\000t\000\000\000"
  "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2), }"
  SP32 SP16 SP8 "\n"
  "\001\000\002\000\003\000\377\377";

/* np.lib.format.write_array(f, np.array([-1, 2**40], dtype='<i8'), version=(3, 0)) */
static const char npy_v3_i8[] =
  "\223NUMPY\003\000t\000\000\000"
  "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }"
  SP32 SP16 SP8 SP2 "\n"
  "\377\377\377\377\377\377\377\377\000\000\000\000\000\001\000\000";

/* np.save(f, np.array([-1, -0.5, 0, 1], dtype='<f2')) */
static const char npy_f16_4[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }"
  SP32 SP16 SP8 SP4 "\n"
  "\000\274\000\270\000\000\000<";

/* np.save(f, np.array([-128, -1, 0, 1, 2, 3, 100, 127], dtype='i1').reshape(2, 2, 2)) */
static const char npy_i8_2x2x2[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '|i1', 'fortran_order': False, 'shape': (2, 2, 2), }"
  SP32 SP16 SP4 SP2 SP1 "\n"
  "\200\377\000\001\002\003d\177";

/* np.save(f, np.array([0, 1, 128, 254, 255], dtype='u1')) */
static const char npy_u8_5[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }"
  SP32 SP16 SP8 SP4 "\n"
  "\000\001\200\376\377";

/* np.save(f, np.array([[-32768], [-1], [32767]], dtype='<i2')) */
static const char npy_i16_3x1[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<i2', 'fortran_order': False, 'shape': (3, 1), }"
  SP32 SP16 SP8 SP2 "\n"
  "\000\200\377\377\377\177";

/* np.save(f, np.array([65535], dtype='<u2')) */
static const char npy_u16_1[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }"
  SP32 SP16 SP8 SP4 "\n"
  "\377\377";

/* np.save(f, np.array([[-2**31, -1], [0, 2**31 - 1]], dtype='<i4')) */
static const char npy_i32_2x2[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }"
  SP32 SP16 SP8 SP2 "\n"
  "\000\000\000\200\377\377\377\377\000\000\000\000\377\377\377\177";

/* np.save(f, np.zeros((0,), dtype='<u4')) */
static const char npy_u32_empty[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<u4', 'fortran_order': False, 'shape': (0,), }"
  SP32 SP16 SP8 SP4 "\n";

/* np.save(f, np.array([-2**63, 2**63 - 1], dtype='<i8')) */
static const char npy_i64_2[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }"
  SP32 SP16 SP8 SP4 "\n"
  "\000\000\000\000\000\000\000\200\377\377\377\377\377\377\377\177";

/* np.save(f, np.full((1,) * 8, 2**64 - 1, dtype='<u8')) */
static const char npy_u64_rank8[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<u8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1), }"
  SP32 SP8 "\n"
  "\377\377\377\377\377\377\377\377";

/* np.save(f, np.zeros((123456789012, 0), dtype='<f4')) */
static const char npy_f32_zero_size[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '<f4', 'fortran_order': False, 'shape': (123456789012, 0), }"
  SP32 SP8 SP4 SP2 SP1 "\n";

/* np.save(f, np.arange(10, dtype='u1')) */
static const char npy_u8_10[] =
  "\223NUMPY\001\000v\000"
  "{'descr': '|u1', 'fortran_order': False, 'shape': (10,), }"
  SP32 SP16 SP8 SP2 SP1 "\n"
  "\000\001\002\003\004\005\006\007\010\011";

/* ---- helpers ------------------------------------------------------------------------ */

static int host_is_little(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Parse an image that must be valid; the copy is exactly len bytes so that an overread
 * shows up under ASan or valgrind. */
static npy_array parse_ok(const uint8_t *img, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  memcpy(copy, img, len);
  npy_array a;
  char err[512];
  int rc = npy_parse(copy, len, "t.npy", &a, err, sizeof err);
  free(copy);
  cr_assert_eq(rc, 0, "parse failed: %s", err);
  cr_assert_not_null(a.data);
  return a;
}

/* Parse an image that must be refused with a message containing every given needle. */
static void parse_fails(const uint8_t *img, size_t len, const char *needle, const char *needle2) {
  uint8_t *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  if (len) memcpy(copy, img, len);
  npy_array a;
  memset(&a, 0x5a, sizeof a);
  char err[512] = "";
  int rc = npy_parse(copy, len, "t.npy", &a, err, sizeof err);
  free(copy);
  cr_assert_eq(rc, -1, "expected failure containing \"%s\", parse succeeded", needle);
  cr_assert_null(a.data, "output not cleared on failure");
  cr_assert_eq(strncmp(err, "t.npy: ", 7), 0, "message lacks the name: %s", err);
  cr_assert(strstr(err, needle), "expected \"%s\" in: %s", needle, err);
  if (needle2) cr_assert(strstr(err, needle2), "expected \"%s\" in: %s", needle2, err);
}

/* Build a file image the way NumPy does (pad with spaces to a multiple of 64, final
 * '\n'), or with the header text exactly as given when raw is set. */
static size_t build(uint8_t *out, size_t cap, int major, const char *dict, size_t data_bytes, int raw) {
  size_t pre = major == 1 ? 10 : 12, n = strlen(dict), hlen = n;
  if (!raw) hlen = (pre + n + 1 + 63) / 64 * 64 - pre;
  cr_assert(pre + hlen + data_bytes <= cap);
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (uint8_t)major;
  out[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) out[8 + i] = (uint8_t)(hlen >> (8 * i));
  memcpy(out + pre, dict, n);
  if (!raw) {
    memset(out + pre + n, ' ', hlen - n - 1);
    out[pre + hlen - 1] = '\n';
  }
  for (size_t i = 0; i < data_bytes; i++) out[pre + hlen + i] = (uint8_t)(i * 7 + 1);
  return pre + hlen + data_bytes;
}

static void tmp_path(char *buf, size_t n) {
  const char *dir = getenv("TMPDIR");
  snprintf(buf, n, "%s/test_npy_XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(buf);
  cr_assert(fd >= 0, "mkstemp %s", buf);
  close(fd);
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "open %s", path);
  size_t cap = 1 << 16;
  uint8_t *b = malloc(cap);
  cr_assert_not_null(b);
  *len = fread(b, 1, cap, f);
  cr_assert(*len < cap);
  fclose(f);
  return b;
}

static void spit(const char *path, const uint8_t *b, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, n, f), n);
  cr_assert_eq(fclose(f), 0);
}

/* ---- NumPy's files parse to what NumPy saved ------------------------------------------- */

Test(npy, numpy_f32_2x3) {
  npy_array a = parse_ok(IMG(npy_f32_2x3));
  cr_assert_eq(a.dtype, LS_F32);
  cr_assert_eq(a.rank, 2);
  cr_assert_eq(a.dims[0], 2);
  cr_assert_eq(a.dims[1], 3);
  cr_assert_eq(a.dims[2], 0);
  cr_assert_eq(a.bytes, 24);
  const float *v = a.data;
  for (int i = 0; i < 6; i++) cr_assert_eq(v[i], (float)i);
  npy_free(&a);
  cr_assert_null(a.data);
  npy_free(&a); /* twice is harmless */
  npy_free(NULL);
}

Test(npy, numpy_f64_scalar) {
  npy_array a = parse_ok(IMG(npy_f64_scalar));
  cr_assert_eq(a.dtype, LS_F64);
  cr_assert_eq(a.rank, 0);
  cr_assert_eq(a.bytes, 8);
  cr_assert_eq(*(const double *)a.data, 1.5);
  npy_free(&a);
}

Test(npy, numpy_bool) {
  npy_array a = parse_ok(IMG(npy_bool5));
  cr_assert_eq(a.dtype, LS_BOOL);
  cr_assert_eq(a.rank, 1);
  cr_assert_eq(a.dims[0], 5);
  cr_assert_eq(a.bytes, 5);
  cr_assert_eq(memcmp(a.data, "\1\0\1\1\0", 5), 0);
  npy_free(&a);
}

Test(npy, numpy_big_endian_swapped) {
  npy_array a = parse_ok(IMG(npy_be_i4));
  cr_assert_eq(a.dtype, LS_I32);
  cr_assert_eq(a.rank, 1);
  cr_assert_eq(a.dims[0], 4);
  const int32_t *i = a.data;
  cr_assert_eq(i[0], 1);
  cr_assert_eq(i[1], -2);
  cr_assert_eq(i[2], 0x01020304);
  cr_assert_eq(i[3], INT32_MAX);
  npy_free(&a);

  a = parse_ok(IMG(npy_be_f8));
  cr_assert_eq(a.dtype, LS_F64);
  cr_assert_eq(a.rank, 2);
  cr_assert_eq(a.dims[0], 2);
  cr_assert_eq(a.dims[1], 1);
  cr_assert_eq(((const double *)a.data)[0], 1.5);
  cr_assert_eq(((const double *)a.data)[1], -0.25);
  npy_free(&a);

  a = parse_ok(IMG(npy_be_u2));
  cr_assert_eq(a.dtype, LS_U16);
  cr_assert_eq(((const uint16_t *)a.data)[0], 0x0102);
  cr_assert_eq(((const uint16_t *)a.data)[1], 0xfffe);
  npy_free(&a);
}

Test(npy, numpy_version_2_and_3_headers) {
  npy_array a = parse_ok(IMG(npy_v2_u2));
  cr_assert_eq(a.dtype, LS_U16);
  cr_assert_eq(a.rank, 2);
  cr_assert_eq(a.dims[0], 2);
  cr_assert_eq(a.dims[1], 2);
  const uint16_t *u = a.data;
  cr_assert(u[0] == 1 && u[1] == 2 && u[2] == 3 && u[3] == 65535);
  npy_free(&a);

  a = parse_ok(IMG(npy_v3_i8));
  cr_assert_eq(a.dtype, LS_I64);
  cr_assert_eq(a.rank, 1);
  cr_assert_eq(a.dims[0], 2);
  cr_assert_eq(((const int64_t *)a.data)[0], -1);
  cr_assert_eq(((const int64_t *)a.data)[1], (int64_t)1 << 40);
  npy_free(&a);
}

/* ---- the writer: byte-identical to np.save ------------------------------------------------ */

static const uint16_t f16_4[] = {0xbc00, 0xb800, 0x0000, 0x3c00}; /* -1, -0.5, 0, 1 */
static const float f32_6[] = {0, 1, 2, 3, 4, 5};
static const double f64_1[] = {1.5};
static const int8_t i8_8[] = {-128, -1, 0, 1, 2, 3, 100, 127};
static const uint8_t u8_5[] = {0, 1, 128, 254, 255};
static const uint8_t u8_10[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
static const int16_t i16_3[] = {-32768, -1, 32767};
static const uint16_t u16_1[] = {65535};
static const int32_t i32_4[] = {INT32_MIN, -1, 0, INT32_MAX};
static const int64_t i64_2[] = {INT64_MIN, INT64_MAX};
static const uint64_t u64_1[] = {UINT64_MAX};
static const uint8_t bool_5[] = {1, 0, 1, 1, 0};

typedef struct ref {
  const char *name;
  const uint8_t *img;
  size_t len;
  ls_dtype dtype;
  int rank;
  uint64_t dims[LS_MAX_RANK];
  const void *data;
} ref;

#define REF(img, dt, rank, data, ...) {#img, IMG(img), dt, rank, {__VA_ARGS__}, data}
static const ref refs[] = {
  REF(npy_f32_2x3, LS_F32, 2, f32_6, 2, 3),
  REF(npy_f64_scalar, LS_F64, 0, f64_1, 0),
  REF(npy_bool5, LS_BOOL, 1, bool_5, 5),
  REF(npy_f16_4, LS_F16, 1, f16_4, 4),
  REF(npy_i8_2x2x2, LS_I8, 3, i8_8, 2, 2, 2),
  REF(npy_u8_5, LS_U8, 1, u8_5, 5),
  REF(npy_i16_3x1, LS_I16, 2, i16_3, 3, 1),
  REF(npy_u16_1, LS_U16, 1, u16_1, 1),
  REF(npy_i32_2x2, LS_I32, 2, i32_4, 2, 2),
  REF(npy_u32_empty, LS_U32, 1, NULL, 0),
  REF(npy_i64_2, LS_I64, 1, i64_2, 2),
  REF(npy_u64_rank8, LS_U64, 8, u64_1, 1, 1, 1, 1, 1, 1, 1, 1),
  REF(npy_f32_zero_size, LS_F32, 2, NULL, 123456789012ull, 0),
  REF(npy_u8_10, LS_U8, 1, u8_10, 10),
};
#define NREFS (sizeof refs / sizeof refs[0])

Test(npy, numpy_files_of_every_dtype_parse) {
  for (size_t r = 0; r < NREFS; r++) {
    const ref *f = &refs[r];
    npy_array a = parse_ok(f->img, f->len);
    cr_assert_eq(a.dtype, f->dtype, "%s", f->name);
    cr_assert_eq(a.rank, f->rank, "%s", f->name);
    for (int i = 0; i < LS_MAX_RANK; i++) cr_assert_eq(a.dims[i], i < f->rank ? f->dims[i] : 0, "%s", f->name);
    uint64_t n = 1;
    for (int i = 0; i < f->rank; i++) n *= f->dims[i];
    cr_assert_eq(a.bytes, n * ls_dtype_size(f->dtype), "%s", f->name);
    if (a.bytes) cr_assert_eq(memcmp(a.data, f->data, a.bytes), 0, "%s", f->name);
    npy_free(&a);
  }
}

Test(npy, writer_is_byte_identical_to_numpy) {
  if (!host_is_little()) cr_skip_test("reference images are little-endian");
  char path[256];
  tmp_path(path, sizeof path);
  for (size_t r = 0; r < NREFS; r++) {
    const ref *f = &refs[r];
    char err[512];
    cr_assert_eq(npy_write(path, f->dtype, f->rank, f->dims, f->data, err, sizeof err), 0, "%s: %s", f->name, err);
    size_t len;
    uint8_t *got = slurp(path, &len);
    cr_assert_eq(len, f->len, "%s: wrote %zu bytes, NumPy %zu", f->name, len, f->len);
    for (size_t i = 0; i < len; i++)
      cr_assert_eq(got[i], f->img[i], "%s: byte %zu is 0x%02x, NumPy wrote 0x%02x", f->name, i, got[i], f->img[i]);
    free(got);
  }
  unlink(path);
}

Test(npy, every_dtype_round_trips) {
  static const uint64_t shapes[][LS_MAX_RANK] = {{0}, {7}, {2, 3}, {0}, {3, 0, 2}, {1, 2, 1, 2, 1, 2, 1, 2}};
  static const int ranks[] = {0, 1, 2, 1, 3, 8};
  char path[256];
  tmp_path(path, sizeof path);
  for (int t = 0; t < LS_DTYPE_COUNT; t++) {
    if (t == LS_BF16) continue;
    for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++) {
      size_t n = ls_dtype_size((ls_dtype)t);
      for (int i = 0; i < ranks[s]; i++) n *= shapes[s][i];
      uint8_t *data = malloc(n + 1);
      for (size_t i = 0; i < n; i++) data[i] = t == LS_BOOL ? (uint8_t)(i % 3 == 0) : (uint8_t)(i * 37 + (size_t)t);
      char err[512];
      cr_assert_eq(npy_write(path, (ls_dtype)t, ranks[s], shapes[s], data, err, sizeof err), 0, "%s", err);
      npy_array a;
      cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
      cr_assert_eq(a.dtype, (ls_dtype)t);
      cr_assert_eq(a.rank, ranks[s]);
      for (int i = 0; i < ranks[s]; i++) cr_assert_eq(a.dims[i], shapes[s][i]);
      cr_assert_eq(a.bytes, n);
      cr_assert_not_null(a.data);
      cr_assert_eq(memcmp(a.data, data, n), 0, "%s rank %d", ls_dtype_name((ls_dtype)t), ranks[s]);
      /* the file starts its data at a multiple of 64 and ends its header with '\n' */
      size_t len;
      uint8_t *img = slurp(path, &len);
      cr_assert_eq((len - n) % 64, 0);
      cr_assert_eq(img[len - n - 1], '\n');
      free(img);
      npy_free(&a);
      free(data);
    }
  }
  unlink(path);
}

Test(npy, writer_refuses_bf16_and_bad_arguments) {
  char path[256], err[512];
  tmp_path(path, sizeof path);
  uint64_t dims[LS_MAX_RANK + 1] = {2, 2, 1, 1, 1, 1, 1, 1, 1};
  uint16_t data[4] = {0};
  cr_assert_eq(npy_write(path, LS_BF16, 1, dims, data, err, sizeof err), -1);
  cr_assert(strstr(err, "bfloat16"), "%s", err);
  cr_assert(strstr(err, path), "%s", err);
  cr_assert_eq(npy_write(path, LS_U16, LS_MAX_RANK + 1, dims, data, err, sizeof err), -1);
  cr_assert(strstr(err, "rank 9"), "%s", err);
  cr_assert_eq(npy_write(path, LS_U16, -1, dims, data, err, sizeof err), -1);
  cr_assert_eq(npy_write(path, LS_U16, 2, NULL, data, err, sizeof err), -1);
  cr_assert_eq(npy_write(path, LS_U16, 2, dims, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "no data"), "%s", err);
  cr_assert_eq(npy_write(path, (ls_dtype)LS_DTYPE_COUNT, 2, dims, data, err, sizeof err), -1);
  uint64_t huge[2] = {1ull << 40, 1ull << 40};
  cr_assert_eq(npy_write(path, LS_U16, 2, huge, data, err, sizeof err), -1);
  cr_assert(strstr(err, "too large"), "%s", err);
  cr_assert_eq(npy_write("/nonexistent-dir/x.npy", LS_U16, 2, dims, data, err, sizeof err), -1);
  cr_assert(strstr(err, "/nonexistent-dir/x.npy: cannot create"), "%s", err);
  cr_assert_eq(npy_write(path, LS_U16, 2, dims, data, NULL, 0), 0); /* no err buffer is fine */
  unlink(path);
}

/* ---- damaged files ------------------------------------------------------------------------ */

Test(npy, every_truncation_fails_cleanly) {
  static const struct { const uint8_t *img; size_t len; } all[] = {
    {IMG(npy_f32_2x3)}, {IMG(npy_f64_scalar)}, {IMG(npy_bool5)}, {IMG(npy_be_i4)},
    {IMG(npy_v2_u2)}, {IMG(npy_v3_i8)}, {IMG(npy_u64_rank8)},
  };
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
    for (size_t n = 0; n < all[k].len; n++) {
      uint8_t *copy = malloc(n ? n : 1);
      memcpy(copy, all[k].img, n);
      npy_array a;
      char err[512] = "";
      cr_assert_eq(npy_parse(copy, n, "t.npy", &a, err, sizeof err), -1, "file %zu cut at %zu parsed", k, n);
      cr_assert_null(a.data);
      cr_assert(strlen(err) > 7, "file %zu cut at %zu: no message", k, n);
      cr_assert(strstr(err, "truncated") || strstr(err, "empty") || strstr(err, "malformed header"),
                "file %zu cut at %zu: %s", k, n, err);
      free(copy);
    }
  }
  parse_fails((const uint8_t *)npy_f32_2x3, sizeof npy_f32_2x3 - 1 - 4, "truncated data", "expected 24 data bytes for shape (2, 3) of '<f4', file has 20");
  parse_fails((const uint8_t *)npy_f32_2x3, 5, "truncated preamble", NULL);
  parse_fails((const uint8_t *)npy_f32_2x3, 100, "truncated header", "expected 118 header bytes");
  parse_fails(NULL, 0, "empty file", NULL);
}

Test(npy, trailing_data_is_refused) {
  uint8_t b[256];
  memcpy(b, npy_f32_2x3, sizeof npy_f32_2x3 - 1);
  memset(b + sizeof npy_f32_2x3 - 1, 0, 4);
  parse_fails(b, sizeof npy_f32_2x3 - 1 + 4, "4 bytes of trailing data", "expected 24 data bytes for shape (2, 3) of '<f4', file has 28");
  parse_fails(b, sizeof npy_f32_2x3, "1 byte of trailing data", NULL);
}

Test(npy, bad_preambles) {
  uint8_t b[256];
  size_t n = build(b, sizeof b, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 0);
  b[5] = 'Z';
  parse_fails(b, n, "bad magic '\\x93NUMPZ'", "expected \\x93NUMPY");
  parse_fails((const uint8_t *)"PK\3\4\24\0\0\0\0\0", 10, "zip archive", ".npz");
  parse_fails((const uint8_t *)"hello", 5, "bad magic 'hello'", NULL);
  n = build(b, sizeof b, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 0);
  b[6] = 4;
  parse_fails(b, n, "format version 4.0", "expected 1.0, 2.0 or 3.0");
  b[6] = 1;
  b[7] = 1;
  parse_fails(b, n, "format version 1.1", NULL);
  b[6] = 0;
  b[7] = 0;
  parse_fails(b, n, "format version 0.0", NULL);
  /* header length pointing past the end of the file */
  n = build(b, sizeof b, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 0);
  b[8] = 0xff;
  parse_fails(b, n, "truncated header", "expected 255 header bytes after the 10-byte preamble, file has 122");
  /* a 4 GiB header in version 2.0 */
  n = build(b, sizeof b, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 0);
  memset(b + 8, 0xff, 4);
  parse_fails(b, n, "header length 4294967295 is implausibly large", NULL);
  /* header length shorter than the header: the dict is cut */
  n = build(b, sizeof b, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 0);
  b[8] = 20;
  parse_fails(b, n, "malformed header", NULL);
}

typedef struct bad {
  int major;
  const char *dict;
  size_t data;
  const char *needle, *needle2;
} bad;

Test(npy, malformed_headers_name_the_problem) {
  static const bad cases[] = {
    {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24,
     "fortran_order arrays are not supported; save with np.ascontiguousarray", NULL},
    {1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported dtype '<c8'", "complex"},
    {1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported dtype '|O'", "objects"},
    {1, "{'descr': '<U5', 'fortran_order': False, 'shape': (2,), }", 40, "unsupported dtype '<U5'", "unicode"},
    {1, "{'descr': '|S3', 'fortran_order': False, 'shape': (2,), }", 6, "unsupported dtype '|S3'", "byte strings"},
    {1, "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,), }", 8, "unsupported dtype '<M8[ns]'", "datetime"},
    {1, "{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", 16, "unsupported dtype '<f16'", "long double"},
    {1, "{'descr': '<f3', 'fortran_order': False, 'shape': (1,), }", 3, "unsupported dtype '<f3'", NULL},
    {1, "{'descr': '<i16', 'fortran_order': False, 'shape': (1,), }", 16, "unsupported dtype '<i16'", "integer size"},
    {1, "{'descr': '', 'fortran_order': False, 'shape': (1,), }", 4, "unsupported dtype ''", NULL},
    {1, "{'descr': '<f4junk', 'fortran_order': False, 'shape': (1,), }", 4, "unsupported dtype '<f4junk'", NULL},
    {1, "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }", 8,
     "structured arrays are not supported: descr is the field list \"[('a', '<f4'), ('b', '<i4')]\"", NULL},
    {1, "{'descr': [('a', '<f4'), ('b', ']')], 'fortran_order': False, 'shape': (1,), }", 8,
     "structured arrays are not supported", NULL},
    {1, "{'descr': [('a', '<f4'), ", 8, "header ends inside the value of 'descr'", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0, "negative dimension -1", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 0, "negative dimension -3", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12, "shape (3) is a number, not a tuple", "(3,)"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", 12, "shape must be a tuple", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': 3, }", 12, "shape must be a tuple", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 4,
     "shape has 9 dimensions (expected rank <= LS_MAX_RANK = 8)", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }", 4,
     "shape has 12 dimensions", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0,
     "shape (4294967296, 4294967296) of '<f4' is too large", NULL},
    {1, "{'descr': '<u8', 'fortran_order': False, 'shape': (2305843009213693952,), }", 0, "too large", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }", 0, "too large", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0, "dimension too large", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", 8, "not a plain integer", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0x10,), }", 64, "not a plain integer", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }", 4, "expected a non-negative integer dimension or ')'", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': ((2,),), }", 8, "expected a non-negative integer dimension or ')'", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", 0, "expected a non-negative integer dimension or ')'", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 24, "expected ',' or ')'", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", 24, "header ends inside shape", NULL},
    {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", 8, "not a plain integer", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, }", 4, "no 'shape' key", NULL},
    {1, "{'fortran_order': False, 'shape': (1,), }", 4, "no 'descr' key", NULL},
    {1, "{'descr': '<f4', 'shape': (1,), }", 4, "no 'fortran_order' key", NULL},
    {1, "{}", 4, "no 'descr' key", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'foo': 1, }", 4, "unexpected key 'foo'", NULL},
    {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "duplicate key 'descr'", NULL},
    {1, "[1, 2]", 4, "expected a dictionary", NULL},
    {1, "", 4, "expected a dictionary", NULL},
    {1, "{'descr': '<f4", 4, "unterminated string", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", 4, "unexpected text after the dictionary", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }}", 4, "unexpected text after the dictionary", NULL},
    {1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", 4, "fortran_order must be True or False", NULL},
    {1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,), }", 4, "fortran_order must be True or False", NULL},
    {1, "{'descr' '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "expected ':' after a key", NULL},
    {1, "{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }", 4, "expected ',' or '}' after the value of 'descr'", NULL},
    {1, "{descr: '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "in quotes", NULL},
    {1, "{'descr': <f4, 'fortran_order': False, 'shape': (1,), }", 4, "in quotes", NULL},
    {1, "{'de\\scr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "escape sequences", NULL},
    {1, "{,}", 4, "in quotes", NULL},
    {1, "{'descr': '<f4',, 'fortran_order': False, 'shape': (1,), }", 4, "in quotes", NULL},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, "header ends inside the dictionary", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t b[512];
    size_t n = build(b, sizeof b, cases[i].major, cases[i].dict, cases[i].data, 0);
    parse_fails(b, n, cases[i].needle, cases[i].needle2);
  }
}

Test(npy, header_variants_numpy_would_accept) {
  static const struct { int major, raw; const char *dict; } ok[] = {
    {1, 0, "{\"shape\": (2, 3), \"fortran_order\": False, \"descr\": \"<f4\"}"},
    {1, 0, "{'shape':(2,3),'descr':'<f4','fortran_order':False}"},
    {1, 0, "  {'descr': '<f4',\n 'fortran_order': False,\t'shape': ( 2 , 3 , ) }"},
    {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"}, /* Python 2 */
    {2, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
    {3, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
    {1, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}"}, /* no padding, no '\n' */
    {1, 0, "{'descr': '=f4', 'fortran_order': False, 'shape': (2, 3), }"},
    {1, 0, "{'descr': 'f4', 'fortran_order': False, 'shape': (2, 3), }"},
    {1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\r\n"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    uint8_t b[512];
    size_t n = build(b, sizeof b, ok[i].major, ok[i].dict, 24, ok[i].raw);
    npy_array a = parse_ok(b, n);
    cr_assert_eq(a.dtype, LS_F32, "%s", ok[i].dict);
    cr_assert_eq(a.rank, 2, "%s", ok[i].dict);
    cr_assert(a.dims[0] == 2 && a.dims[1] == 3, "%s", ok[i].dict);
    cr_assert_eq(memcmp(a.data, b + n - 24, 24), 0);
    npy_free(&a);
  }
  /* every byte order spelling of the one-byte types */
  static const char *const one[] = {"|i1", "<i1", ">i1", "=i1", "|u1", "<u1", ">u1", "|b1", "<b1"};
  static const ls_dtype onet[] = {LS_I8, LS_I8, LS_I8, LS_I8, LS_U8, LS_U8, LS_U8, LS_BOOL, LS_BOOL};
  for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (3,), }", one[i]);
    uint8_t b[256];
    size_t n = build(b, sizeof b, 1, dict, 3, 0);
    npy_array a = parse_ok(b, n);
    cr_assert_eq(a.dtype, onet[i], "%s", one[i]);
    npy_free(&a);
  }
  /* zero-size arrays still get a data pointer */
  uint8_t b[256];
  size_t n = build(b, sizeof b, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }", 0, 0);
  npy_array a = parse_ok(b, n);
  cr_assert_eq(a.bytes, 0);
  cr_assert_eq(a.dims[0], 0);
  cr_assert_eq(a.dims[1], 3);
  npy_free(&a);
}

Test(npy, bools_are_normalised) {
  uint8_t b[256];
  size_t n = build(b, sizeof b, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", 4, 0);
  memcpy(b + n - 4, "\0\1\2\377", 4);
  npy_array a = parse_ok(b, n);
  cr_assert_eq(memcmp(a.data, "\0\1\1\1", 4), 0);
  npy_free(&a);
}

Test(npy, big_endian_every_size) {
  uint8_t b[256];
  size_t n = build(b, sizeof b, 1, "{'descr': '>u8', 'fortran_order': False, 'shape': (1,), }", 8, 0);
  memcpy(b + n - 8, "\1\2\3\4\5\6\7\10", 8);
  npy_array a = parse_ok(b, n);
  cr_assert_eq(*(const uint64_t *)a.data, 0x0102030405060708ull);
  npy_free(&a);
  n = build(b, sizeof b, 1, "{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }", 2, 0);
  memcpy(b + n - 2, "\x3c\x00", 2);
  a = parse_ok(b, n);
  cr_assert_eq(a.dtype, LS_F16);
  cr_assert_eq(*(const uint16_t *)a.data, 0x3c00);
  npy_free(&a);
}

/* Random damage to valid files: every outcome is 0 with a consistent array or -1 with a
 * message, never a crash or an overread (run under valgrind or ASan to see the latter). */
Test(npy, fuzzed_files_never_crash) {
  static const struct { const uint8_t *img; size_t len; } seeds[] = {
    {IMG(npy_f32_2x3)}, {IMG(npy_f64_scalar)}, {IMG(npy_v2_u2)}, {IMG(npy_v3_i8)}, {IMG(npy_u64_rank8)},
  };
  static const char interesting[] = "{}()[],:'\" -0123456789LTFrueals<>|=fiubcOU\n\\\x80";
  uint64_t s = 0x9e3779b97f4a7c15ull;
  int accepted = 0;
  for (int it = 0; it < 30000; it++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    const uint8_t *img = seeds[s % 5].img;
    size_t len = seeds[s % 5].len;
    uint8_t buf[512];
    memcpy(buf, img, len);
    int edits = 1 + (int)(s >> 8) % 4;
    for (int e = 0; e < edits; e++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      size_t at = (size_t)(s >> 16) % len;
      if (at >= 10 && (s & 1)) {
        /* aim at the header text, which starts at 10 or 12 */
        at = 10 + (size_t)(s >> 24) % 80;
        if (at >= len) at = len - 1;
      }
      buf[at] = (s & 2) ? (uint8_t)interesting[(s >> 32) % (sizeof interesting - 1)] : (uint8_t)(s >> 40);
    }
    size_t n = len;
    if ((s >> 50) % 4 == 0) n = (size_t)(s >> 20) % (len + 8); /* cut or grow */
    if (n > len) memset(buf + len, 0, n - len);
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    npy_array a;
    char err[256] = "";
    int rc = npy_parse(copy, n, "f.npy", &a, err, sizeof err);
    free(copy);
    if (rc == 0) {
      accepted++;
      cr_assert_not_null(a.data);
      uint64_t k = ls_dtype_size(a.dtype);
      for (int i = 0; i < a.rank; i++) k *= a.dims[i];
      cr_assert_eq(k, a.bytes);
      cr_assert(a.rank >= 0 && a.rank <= LS_MAX_RANK);
      npy_free(&a);
    } else {
      cr_assert_eq(rc, -1);
      cr_assert_null(a.data);
      cr_assert_eq(strncmp(err, "f.npy: ", 7), 0, "%s", err);
    }
  }
  cr_assert_gt(accepted, 0); /* some damage is harmless (data bytes, padding) */
}

/* ---- files ------------------------------------------------------------------------------- */

Test(npy, read_from_files) {
  char path[256], err[512];
  tmp_path(path, sizeof path);
  spit(path, IMG(npy_be_f8));
  npy_array a;
  cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.dtype, LS_F64);
  cr_assert_eq(((const double *)a.data)[1], -0.25);
  npy_free(&a);

  /* truncated and overlong files give the same messages as from memory */
  spit(path, (const uint8_t *)npy_f32_2x3, sizeof npy_f32_2x3 - 1 - 4);
  cr_assert_eq(npy_read(path, &a, err, sizeof err), -1);
  cr_assert(strstr(err, path) == err, "%s", err);
  cr_assert(strstr(err, "expected 24 data bytes for shape (2, 3) of '<f4', file has 20"), "%s", err);
  cr_assert_null(a.data);
  uint8_t b[256];
  memcpy(b, npy_f32_2x3, sizeof npy_f32_2x3 - 1);
  memset(b + sizeof npy_f32_2x3 - 1, 0, 4);
  spit(path, b, sizeof npy_f32_2x3 - 1 + 4);
  cr_assert_eq(npy_read(path, &a, err, sizeof err), -1);
  cr_assert(strstr(err, "4 bytes of trailing data"), "%s", err);
  for (size_t n = 0; n < sizeof npy_v2_u2 - 1; n++) {
    spit(path, (const uint8_t *)npy_v2_u2, n);
    cr_assert_eq(npy_read(path, &a, err, sizeof err), -1, "cut at %zu", n);
    cr_assert_null(a.data);
  }
  spit(path, (const uint8_t *)npy_f32_2x3, 100);
  cr_assert_eq(npy_read(path, &a, err, sizeof err), -1);
  cr_assert(strstr(err, "truncated header (expected 118 header bytes after the 10-byte preamble, file has 90)"), "%s", err);
  unlink(path);

  cr_assert_eq(npy_read("/nonexistent-dir/x.npy", &a, err, sizeof err), -1);
  cr_assert(strstr(err, "/nonexistent-dir/x.npy: cannot open"), "%s", err);
  cr_assert_eq(npy_read("/", &a, err, sizeof err), -1);
  cr_assert(strstr(err, "directory"), "%s", err);
}

/* A pipe has no size up front: the reader must still find short and overlong data. */
static int read_through_fifo(const uint8_t *img, size_t len, npy_array *a, char *err, size_t errlen) {
  char dir[256], fifo[300];
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/test_npy_XXXXXX", t && *t ? t : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(fifo, sizeof fifo, "%s/p.npy", dir);
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    FILE *f = fopen(fifo, "wb");
    if (!f) _exit(1);
    fwrite(img, 1, len, f);
    fclose(f);
    _exit(0);
  }
  int rc = npy_read(fifo, a, err, errlen);
  int status;
  waitpid(pid, &status, 0);
  unlink(fifo);
  rmdir(dir);
  return rc;
}

Test(npy, read_from_a_pipe) {
  npy_array a;
  char err[512];
  cr_assert_eq(read_through_fifo(IMG(npy_f32_2x3), &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.dims[1], 3);
  cr_assert_eq(((const float *)a.data)[5], 5.0f);
  npy_free(&a);
  cr_assert_eq(read_through_fifo((const uint8_t *)npy_f32_2x3, sizeof npy_f32_2x3 - 1 - 4, &a, err, sizeof err), -1);
  cr_assert(strstr(err, "expected 24 data bytes for shape (2, 3) of '<f4', file has 20"), "%s", err);
  uint8_t b[8192];
  memcpy(b, npy_f32_2x3, sizeof npy_f32_2x3 - 1);
  memset(b + sizeof npy_f32_2x3 - 1, 0, sizeof b - (sizeof npy_f32_2x3 - 1));
  cr_assert_eq(read_through_fifo(b, sizeof b, &a, err, sizeof err), -1);
  cr_assert(strstr(err, "8040 bytes of trailing data"), "%s", err);
  cr_assert_eq(read_through_fifo((const uint8_t *)npy_f32_2x3, 100, &a, err, sizeof err), -1);
  cr_assert(strstr(err, "truncated header"), "%s", err);
}
