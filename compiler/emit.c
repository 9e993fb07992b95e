/* emit.c - the program: queues of instructions at their scheduled cycles, constants,
 * inputs and outputs at their planned addresses.
 *
 * Takes: a scheduled, memory-planned module. Gives: an ls_prog ready for ls_prog_encode
 * (and for the runtime's verifier, which the compiler always runs on its own output). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

static int by_cycle(const void *a, const void *b) {
  const ls_insn *x = a, *y = b;
  return (x->cycle > y->cycle) - (x->cycle < y->cycle);
}

int lo_emit(const lo_module *m, ls_prog *p, char *err, size_t errlen) {
  const ls_target *t = &m->t;
  memset(p, 0, sizeof *p);
  p->target = *t;
  p->mem_bytes = m->mem_bytes;
  /* count instructions per queue */
  int nq = 0, qid[LS_UNIT_COUNT][256];
  uint32_t count[LS_UNIT_COUNT][256];
  memset(count, 0, sizeof count);
  for (int gi = 0; gi < m->n_groups; gi++) {
    const lo_group *g = &m->groups[gi];
    for (int i = 0; i < g->n; i++) count[ls_ops[g->insn[i].in.op].unit][g->queue[i]]++;
  }
  for (int u = 0; u < LS_UNIT_COUNT; u++)
    for (int q = 0; q < 256; q++) qid[u][q] = count[u][q] ? nq++ : -1;
  p->queues = calloc((size_t)(nq ? nq : 1), sizeof *p->queues);
  p->n_queues = (uint32_t)nq;
  for (int u = 0; u < LS_UNIT_COUNT; u++)
    for (int q = 0; q < 256; q++)
      if (qid[u][q] >= 0) {
        ls_queue *qu = &p->queues[qid[u][q]];
        qu->unit = (uint8_t)u;
        qu->index = (uint8_t)q;
        qu->insns = malloc(sizeof *qu->insns * count[u][q]);
        if (!qu->insns) goto nomem;
      }
  for (int gi = 0; gi < m->n_groups; gi++) {
    const lo_group *g = &m->groups[gi];
    for (int i = 0; i < g->n; i++) {
      const lo_insn *x = &g->insn[i];
      ls_unit u = ls_ops[x->in.op].unit;
      ls_queue *qu = &p->queues[qid[u][g->queue[i]]];
      ls_insn in = x->in;
      in.cycle = g->start + (uint64_t)x->t;
      if (x->buf != LO_NONE) in.addr += m->bufs[x->buf].addr;
      if (ls_insn_outputs(&in)) in.dst = g->stream[i];
      uint8_t *ops[3] = {&in.a, &in.b, &in.c};
      for (int k = 0; k < 3; k++)
        if (x->src[k] != LO_NONE) *ops[k] = g->stream[x->src[k]];
      if (in.op == LS_OP_LW || in.op == LS_OP_MM) in.aux = qu->index;
      qu->insns[qu->count++] = in;
    }
  }
  for (uint32_t q = 0; q < p->n_queues; q++) qsort(p->queues[q].insns, p->queues[q].count, sizeof(ls_insn), by_cycle);
  /* constants */
  int nc = 0;
  for (int i = 0; i < m->n_bufs; i++) nc += m->bufs[i].data != NULL;
  p->consts = calloc((size_t)(nc ? nc : 1), sizeof *p->consts);
  if (!p->consts) goto nomem;
  for (int i = 0; i < m->n_bufs; i++) {
    const lo_buf *b = &m->bufs[i];
    if (!b->data) continue;
    ls_const *c = &p->consts[p->n_consts++];
    c->addr = b->addr;
    c->size = b->bytes;
    c->data = malloc(b->bytes ? b->bytes : 1);
    if (!c->data) goto nomem;
    memcpy(c->data, b->data, b->bytes);
  }
  p->io = calloc((size_t)(m->n_io ? m->n_io : 1), sizeof *p->io);
  if (!p->io) goto nomem;
  for (int i = 0; i < m->n_io; i++) {
    p->io[i] = m->io[i];
    p->io[i].addr = m->bufs[m->io_buf[i]].addr;
  }
  p->n_io = (uint32_t)m->n_io;
  return 0;
nomem:
  ls_prog_free(p);
  snprintf(err, errlen, "out of memory emitting the program");
  return -1;
}
