/* tile.c - tiled building blocks that operator lowerings are made of: a GEMM on the MXM
 * planes, elementwise passes over flat ranges, and data movement by gather tables.
 *
 * Every block emits groups (see lower.h) and nothing else; the scheduler decides when they
 * run and how they overlap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tile.h"

/* ---- GEMM ------------------------------------------------------------------------------ */

#define LO_GEMM_BAND 1024

static int gemm_rows(lo_module *m, const char *what, uint32_t M, uint32_t K, uint32_t N, lo_mat X, lo_mat W,
                     const lo_mat *acc, lo_mat Y, lo_mat T, uint32_t chains, const lo_epilogue *ep, char *err,
                     size_t errlen);

int lo_gemm(lo_module *m, const char *what, uint32_t M, uint32_t K, uint32_t N, lo_mat X, lo_mat W,
            const lo_mat *acc, lo_mat Y, const lo_epilogue *ep, char *err, size_t errlen) {
  const uint32_t L = m->t.lanes, P = m->t.slices[LS_UNIT_MXM];
  const uint32_t kts = (K + L - 1) / L;
  if (M == 0 || K == 0 || N == 0) return 0;
  /* K longer than the planes can chain: partial sums alternate between Y and a temporary
   * (a group may not read and write the same bytes at once), ending in Y */
  const uint32_t chains = (kts + P - 1) / P;
  lo_mat T = Y;
  if (chains > 1) {
    char name[200];
    snprintf(name, sizeof name, "%s.partial", what);
    T = (lo_mat){lo_buf_new(m, name, (uint64_t)M * N * 4), 0, (int64_t)N * 4, 0};
  }
  /* A long M with a short K (a 1x1 convolution over a large image) goes in bands of rows,
   * each loading its weights again (K rows, few): the bands run on different MXM planes at
   * once, and what consumes a band can start before the last is made. */
  const uint32_t band = chains == 1 && K <= 128 && M >= 2 * LO_GEMM_BAND ? LO_GEMM_BAND : M;
  for (uint32_t r0 = 0; r0 < M; r0 += band) {
    const uint32_t Mb = M - r0 < band ? M - r0 : band;
    lo_mat Xb = X, Yb = Y;
    Xb.off += (uint64_t)r0 * (uint64_t)X.row_stride, Yb.off += (uint64_t)r0 * (uint64_t)Y.row_stride;
    lo_mat accb = acc ? *acc : Y;
    if (acc) accb.off += (uint64_t)r0 * (uint64_t)acc->row_stride;
    if (gemm_rows(m, what, Mb, K, N, Xb, W, acc ? &accb : NULL, Yb, T, chains, ep, err, errlen)) return -1;
  }
  return 0;
}

static int gemm_rows(lo_module *m, const char *what, uint32_t M, uint32_t K, uint32_t N, lo_mat X, lo_mat W,
                     const lo_mat *acc, lo_mat Y, lo_mat T, uint32_t chains, const lo_epilogue *ep, char *err,
                     size_t errlen) {
  const uint32_t L = m->t.lanes, P = m->t.slices[LS_UNIT_MXM];
  const uint32_t kts = (K + L - 1) / L, nts = (N + L - 1) / L;
  for (uint32_t nt = 0; nt < nts; nt++) {
    const uint32_t cols = N - nt * L < L ? N - nt * L : L;
    const uint32_t mask = cols < L ? cols : 0;
    for (uint32_t kc = 0; kc < kts; kc += P) {
      const uint32_t chain = kts - kc < P ? kts - kc : P;
      const int last = kc + chain == kts;
      lo_group *g = lo_group_new(m, what);
      int lw[64];
      for (uint32_t j = 0; j < chain; j++) {
        const uint32_t kt = kc + j, rows = K - kt * L < L ? K - kt * L : L;
        int rw = lo_read(g, W.buf, W.off + (uint64_t)kt * L * (uint64_t)W.row_stride + (uint64_t)nt * L * 4, rows,
                         W.row_stride, LS_F32, mask, 0);
        lw[j] = lo_lw(g, rw);
      }
      const uint32_t ci = kc / P;
      const lo_mat *dst = (chains - 1 - ci) % 2 == 0 ? &Y : &T, *src = dst == &Y ? &T : &Y;
      int prev = LO_NONE;
      if (kc > 0) /* the previous chain's partial sum */
        prev = lo_read(g, src->buf, src->off + (uint64_t)nt * L * 4, M, src->row_stride, LS_F32, mask, 0);
      else if (acc)
        prev = lo_read(g, acc->buf, acc->off + (uint64_t)nt * (uint64_t)acc->col_step, M, acc->row_stride, LS_F32,
                       mask, 0);
      for (uint32_t j = 0; j < chain; j++) {
        const uint32_t kt = kc + j, rows = K - kt * L < L ? K - kt * L : L;
        int x = lo_read(g, X.buf, X.off + (uint64_t)kt * L * 4, M, X.row_stride, LS_F32, rows < L ? rows : 0, 0);
        prev = lo_mm(g, lw[j], x, prev, mask);
      }
      if (last && ep)
        for (int e = 0; e < ep->n; e++) prev = lo_op_imm(g, ep->op[e], LS_F32, prev, ep->imm[e]);
      lo_write(g, dst->buf, dst->off + (uint64_t)nt * L * 4, dst->row_stride, LS_F32, mask, prev);
      if (lo_finish(g, &m->t, err, errlen)) return -1;
    }
  }
  return 0;
}

/* ---- flat ranges --------------------------------------------------------------------------- */

int lo_flat(lo_module *m, const char *what, uint64_t count, lo_flat_fn fn, void *user, char *err, size_t errlen) {
  const uint64_t L = m->t.lanes;
  const uint64_t full = count / L, tail = count % L;
  /* long streams are cut so that several queues can work on one tensor at once */
  const uint64_t chunk = 4096;
  for (uint64_t v = 0; v < full; v += chunk) {
    uint32_t n = (uint32_t)(full - v < chunk ? full - v : chunk);
    lo_group *g = lo_group_new(m, what);
    fn(g, user, v * L, n, 0);
    if (lo_finish(g, &m->t, err, errlen)) return -1;
  }
  if (tail) {
    lo_group *g = lo_group_new(m, what);
    fn(g, user, full * L, 1, (uint32_t)tail);
    if (lo_finish(g, &m->t, err, errlen)) return -1;
  }
  return 0;
}

/* ---- gather --------------------------------------------------------------------------------- */

typedef struct gather_job {
  int idx_buf, dst_buf, src_buf;
  uint64_t dst_off, src_off;
  uint32_t src_elems;
  ls_dtype t;
  const ls_target *tg;
} gather_job;

static void gather_range(lo_group *g, void *user, uint64_t first, uint32_t n, uint32_t lanes) {
  const gather_job *j = user;
  const size_t sz = ls_dtype_size(j->t);
  const int64_t L = j->tg->lanes;
  int idx = lo_read(g, j->idx_buf, first * 4, n, L * 4, LS_I32, lanes, -1);
  int v = lo_gather(g, j->src_buf, j->src_off, j->src_elems, j->t, idx);
  lo_write(g, j->dst_buf, j->dst_off + first * sz, L * (int64_t)sz, j->t, lanes, v);
}

int lo_gather_with(lo_module *m, const char *what, int dst_buf, uint64_t dst_off, int src_buf, uint64_t src_off,
                   uint64_t src_elems, ls_dtype t, int idx_buf, uint64_t count, char *err, size_t errlen) {
  if (src_elems > UINT32_MAX) {
    snprintf(err, errlen, "%s: a gather table of %llu elements is too large", what, (unsigned long long)src_elems);
    return -1;
  }
  gather_job j = {idx_buf, dst_buf, src_buf, dst_off, src_off, (uint32_t)src_elems, t, &m->t};
  return lo_flat(m, what, count, gather_range, &j, err, errlen);
}

int lo_gather_copy(lo_module *m, const char *what, int dst_buf, uint64_t dst_off, int src_buf, uint64_t src_off,
                   uint64_t src_elems, ls_dtype t, const int32_t *idx, uint64_t count, char *err, size_t errlen) {
  char name[160];
  snprintf(name, sizeof name, "%s.idx", what);
  return lo_gather_with(m, what, dst_buf, dst_off, src_buf, src_off, src_elems, t, lo_buf_const(m, name, idx, count * 4),
                        count, err, errlen);
}
