/* npy.h - read and write NumPy .npy files (one array per file).
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0 and parses the header dictionary as
 * the Python literal it is: keys in any order, either quote style, any whitespace, with
 * or without trailing commas. Supported descr strings are the kind+size forms NumPy
 * writes for the element types Lockstep knows:
 *
 *   f2 f4 f8   i1 i2 i4 i8   u1 u2 u4 u8   b1
 *
 * with byte order '<' (little), '>' (big: swapped to host order on read), '=' or '|'
 * (native) or none. Everything else is refused with an error naming the descr: complex,
 * objects, strings, structured arrays, datetimes, long double, ... . fortran_order True
 * is refused (save with np.ascontiguousarray). The data must be exactly as long as the
 * shape says: truncated data and trailing bytes are both errors. Bool elements are
 * normalised to 0 or 1 on read. Every byte of the input is bounds-checked: any input,
 * however malformed, gives 0 or -1, never a crash.
 *
 * Writing produces exactly the bytes NumPy (>= 1.24) writes with np.save for a C-ordered
 * array in host byte order: a version 1.0 header "{'descr': '<f4', 'fortran_order':
 * False, 'shape': (2, 3), }" plus NumPy's growth spaces, padded with spaces and a final
 * '\n' so that the data starts at a multiple of 64 bytes. LS_BF16 has no NumPy dtype and
 * is refused: convert to f32 (or reinterpret as u16) first.
 *
 * Errors read "name: what is wrong (what was expected)".
 */
#ifndef LOCKSTEP_NPY_H
#define LOCKSTEP_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "isa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct npy_array {
  ls_dtype dtype;
  int rank;                   /* 0 for a scalar */
  uint64_t dims[LS_MAX_RANK]; /* dims[rank..] are 0 */
  void *data;                 /* row-major, host byte order; never NULL after success */
  size_t bytes;               /* product of dims times ls_dtype_size(dtype) */
} npy_array;

/* Read a .npy file. Returns 0, or -1 with "path: what is wrong (what was expected)" in
 * err; on failure *out is zeroed (npy_free on it is harmless). */
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);

/* Same from memory (for tests and for embedded use). name_for_errors prefixes messages. */
int npy_parse(const uint8_t *buf, size_t len, const char *name_for_errors, npy_array *out,
              char *err, size_t errlen);

/* Write a C-ordered array of rank 0..LS_MAX_RANK. Returns 0, or -1 with a message. */
int npy_write(const char *path, ls_dtype dtype, int rank, const uint64_t *dims, const void *data,
              char *err, size_t errlen);

/* Free the data and zero *a. NULL and already-freed arrays are fine. */
void npy_free(npy_array *a);

#ifdef __cplusplus
}
#endif

#endif
