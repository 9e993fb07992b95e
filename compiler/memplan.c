/* memplan.c - addresses for buffers, from their lifetimes in the scheduled program.
 *
 * Takes: a scheduled module (each buffer's first and last cycle of use).
 * Gives: an SRAM address for every buffer, and the program's memory size.
 * Constants come first and stay for good (they are loaded once, not per run). Inputs and
 * outputs live for the whole run (the caller writes inputs before it and
 * reads them after; inputs are never overwritten, so a program can be run again on the
 * same inputs). Every other buffer shares memory with buffers whose lifetimes do not
 * overlap its own: first fit, in order of first use. Two buffers at overlapping addresses
 * are never in use in overlapping cycles, so no access of one can race with the other.
 * Also reports the lower bound: the most bytes live in any one cycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

#define ALIGN 64
static uint64_t up(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

typedef struct placed {
  uint64_t off, size, last;
} placed;

static const lo_module *sort_m;
static int by_first(const void *a, const void *b) {
  const lo_buf *x = &sort_m->bufs[*(const int *)a], *y = &sort_m->bufs[*(const int *)b];
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

int lo_plan_memory(lo_module *m, char *err, size_t errlen) {
  uint64_t off = 0;
  /* constants, and io buffers (which callers address directly), get their own space */
  for (int i = 0; i < m->n_bufs; i++) {
    lo_buf *b = &m->bufs[i];
    if (b->data) {
      b->addr = off;
      off += up(b->bytes);
    }
  }
  m->const_bytes = off;
  int *order = malloc(sizeof *order * (size_t)(m->n_bufs ? m->n_bufs : 1));
  placed *live = malloc(sizeof *live * (size_t)(m->n_bufs ? m->n_bufs : 1));
  if (!order || !live) {
    snprintf(err, errlen, "out of memory planning memory");
    return -1;
  }
  int n = 0;
  for (int i = 0; i < m->n_bufs; i++) {
    lo_buf *b = &m->bufs[i];
    if (b->data) continue;
    if (b->io != LO_NONE) { /* inputs and outputs are the caller's: kept for the whole run */
      b->first = 0;
      b->last = m->cycles + 1;
      b->used = 1;
    }
    if (b->used) order[n++] = i;
  }
  sort_m = m;
  qsort(order, (size_t)n, sizeof *order, by_first);
  int nl = 0;
  uint64_t top = 0;
  for (int k = 0; k < n; k++) {
    lo_buf *b = &m->bufs[order[k]];
    int keep = 0; /* drop buffers whose lifetime ended; live stays sorted by offset */
    for (int j = 0; j < nl; j++)
      if (live[j].last > b->first) live[keep++] = live[j];
    nl = keep;
    uint64_t size = up(b->bytes), at = 0;
    int pos = 0;
    for (; pos < nl; pos++) {
      if (live[pos].off >= at + size) break;
      at = live[pos].off + live[pos].size;
    }
    memmove(live + pos + 1, live + pos, sizeof *live * (size_t)(nl - pos));
    live[pos] = (placed){at, size, b->last};
    nl++;
    b->addr = off + at;
    if (at + size > top) top = at + size;
  }
  /* the lower bound: most bytes live at once (a sweep over starts and ends) */
  uint64_t peak = 0;
  for (int k = 0; k < n; k++) {
    const lo_buf *b = &m->bufs[order[k]];
    uint64_t sum = 0;
    for (int j = 0; j < n; j++) {
      const lo_buf *c = &m->bufs[order[j]];
      if (c->first <= b->first && c->last > b->first) sum += up(c->bytes);
    }
    if (sum > peak) peak = sum;
  }
  free(order);
  free(live);
  m->peak_live = peak;
  m->mem_bytes = off + top;
  if (m->mem_bytes == 0) m->mem_bytes = ALIGN;
  if (m->mem_bytes > m->t.sram_bytes) {
    snprintf(err, errlen,
             "the model needs %llu bytes of SRAM (%llu of constants, %llu of activations), target %s has %llu",
             (unsigned long long)m->mem_bytes, (unsigned long long)m->const_bytes, (unsigned long long)top, m->t.name,
             (unsigned long long)m->t.sram_bytes);
    return -1;
  }
  return 0;
}
