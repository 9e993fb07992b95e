/* tile.h - tiled building blocks for operator lowerings (tile.c). */
#ifndef LOCKSTEP_TILE_H
#define LOCKSTEP_TILE_H

#include "lower.h"

/* A row-major f32 matrix in a buffer: element (i, j) at off + i*row_stride + j*4.
 * col_step: bytes between consecutive tiles of L columns (normally L*4; 0 repeats one
 * tile across all columns, e.g. a per-row splat). */
typedef struct lo_mat {
  int buf;
  uint64_t off;
  int64_t row_stride;
  int64_t col_step;
} lo_mat;

/* Elementwise immediates applied to a GEMM's result on its way to memory (fused
 * activations: maxs 0 is ReLU, maxs/mins is Clip). */
typedef struct lo_epilogue {
  int n;
  ls_op op[4];
  double imm[4];
} lo_epilogue;

/* Y[M,N] = X[M,K] W[K,N] (+ acc[M,N]), f32. W's K rows go through the MXM planes in tiles
 * of L x L, chained through up to `planes` planes; a longer K passes partial sums through
 * memory, alternating between a temporary and Y. */
int lo_gemm(lo_module *m, const char *what, uint32_t M, uint32_t K, uint32_t N, lo_mat X, lo_mat W,
            const lo_mat *acc, lo_mat Y, const lo_epilogue *ep, char *err, size_t errlen);

/* Call fn once per range of a flat tensor of count elements: whole vectors in chunks, then
 * a last masked vector (lanes = count % L) if any. first: first element of the range. */
typedef void (*lo_flat_fn)(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes);
int lo_flat(lo_module *m, const char *what, uint64_t count, lo_flat_fn fn, void *user, char *err, size_t errlen);

/* dst[i] = src[idx[i]] for i < count (idx < 0 or >= src_elems gives 0); idx becomes a
 * constant table. */
int lo_gather_copy(lo_module *m, const char *what, int dst_buf, uint64_t dst_off, int src_buf, uint64_t src_off,
                   uint64_t src_elems, ls_dtype t, const int32_t *idx, uint64_t count, char *err, size_t errlen);
/* the same with a table already in a buffer (idx_buf: count i32 from its start), so that
 * several gathers, at different src_off, can share one table */
int lo_gather_with(lo_module *m, const char *what, int dst_buf, uint64_t dst_off, int src_buf, uint64_t src_off,
                   uint64_t src_elems, ls_dtype t, int idx_buf, uint64_t count, char *err, size_t errlen);

#endif
