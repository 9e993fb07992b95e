/* test_corrupt.c - corrupted programs are rejected, never crash.
 *
 * Two kinds of damage, 1,000 of each per example:
 *  - bytes: bits flipped, bytes overwritten, the file cut short or extended. The checksum
 *    or the structure check must reject every one with LS_ERR_FORMAT.
 *  - fields: one field of the decoded program set to a random value (an address, a cycle,
 *    a stream, a count, a type, a tensor's shape, the target...) and the file re-encoded
 *    with a valid checksum, so only the verifier stands between it and the executor. It
 *    must either reject it with a message, or accept it and then run it in both modes
 *    without fault (the sanitizer build runs this too). */
#include <criterion/criterion.h>

#include "support.h"

static const char *programs[] = {"examples/vadd.lsa", "examples/fma_chain.lsa", "examples/matmul_bias_relu.lsa",
                                 "examples/transpose.lsa"};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* xorshift64*: reproducible */
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

Test(corrupt, damaged_bytes_are_rejected) {
  for (size_t k = 0; k < sizeof programs / sizeof *programs; k++) {
    char *src = t_read_file(programs[k]);
    size_t len;
    uint8_t *img = t_image(src, &len);
    free(src);
    uint8_t *buf = malloc(len + 64);
    for (int trial = 0; trial < 1000; trial++) {
      memcpy(buf, img, len);
      size_t n = len;
      switch (trial % 4) {
      case 0: /* flip 1..4 bits */
        for (int b = 0, nb = 1 + (int)(rnd() % 4); b < nb; b++) buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
        break;
      case 1: { /* overwrite a byte with a different value */
        size_t at = rnd() % len;
        buf[at] = (uint8_t)(buf[at] + 1 + rnd() % 255);
        break;
      }
      case 2: n = rnd() % len; break; /* truncate */
      default: /* extend */
        n = len + 1 + rnd() % 63;
        for (size_t i = len; i < n; i++) buf[i] = (uint8_t)rnd();
        break;
      }
      ls_program *p = NULL;
      ls_error e = {0};
      ls_status st = ls_load(buf, n, &p, &e);
      cr_assert_eq(st, LS_ERR_FORMAT, "%s trial %d: status %d (%s)", programs[k], trial, st, e.msg);
      cr_assert_null(p);
      cr_assert(e.msg[0], "an error needs a message");
    }
    free(buf);
    free(img);
  }
}

/* Set one random field of g to a random value: small, near the edge, or anything. */
static uint64_t wild(void) {
  switch (rnd() % 4) {
  case 0: return rnd() % 8;
  case 1: return rnd() % 2048;
  case 2: return (uint64_t)0 - 1 - rnd() % 4;
  default: return rnd();
  }
}

static void damage_field(ls_prog *g) {
  uint32_t q = (uint32_t)(rnd() % g->n_queues);
  ls_insn *in = &g->queues[q].insns[rnd() % g->queues[q].count];
  switch (rnd() % 20) {
  case 0: in->cycle = wild(); break;
  case 1: in->op = (uint16_t)wild(); break;
  case 2: in->t0 = (uint8_t)wild(); break;
  case 3: in->t1 = (uint8_t)wild(); break;
  case 4: in->dst = (uint8_t)wild(); break;
  case 5: in->a = (uint8_t)wild(); break;
  case 6: in->b = (uint8_t)wild(); break;
  case 7: in->n = (uint32_t)wild(); break;
  case 8: in->aux = (uint32_t)wild(); break;
  case 9: in->imm = (int64_t)wild(); break;
  case 10: in->addr = wild(); break;
  case 11: in->stride = (int64_t)wild(); break;
  case 12: g->mem_bytes = wild(); break;
  case 13: g->target.lanes = (uint32_t)wild(); break;
  case 14: g->target.streams = (uint32_t)wild(); break;
  case 15: g->target.lat[rnd() % LS_LAT_COUNT] = (uint32_t)wild(); break;
  case 16: g->io[rnd() % g->n_io].dims[0] = wild(); break;
  case 17: g->io[rnd() % g->n_io].addr = wild(); break;
  case 18: g->queues[q].index = (uint8_t)wild(); break;
  default: g->io[rnd() % g->n_io].dtype = (uint8_t)wild(); break;
  }
}

Test(corrupt, damaged_fields_are_rejected_or_run_safely) {
  int accepted = 0, rejected = 0;
  for (size_t k = 0; k < sizeof programs / sizeof *programs; k++) {
    char *src = t_read_file(programs[k]);
    for (int trial = 0; trial < 1000; trial++) {
      ls_prog g;
      char err[512];
      cr_assert_eq(ls_assemble(src, strlen(src), programs[k], &g, err, sizeof err), 0, "%s", err);
      damage_field(&g);
      uint8_t *buf;
      size_t len;
      cr_assert_eq(ls_prog_encode(&g, &buf, &len), 0);
      ls_prog_free(&g);
      ls_program *p = NULL;
      ls_error e = {0};
      ls_status st = ls_load(buf, len, &p, &e);
      free(buf);
      if (st != LS_OK) {
        cr_assert(st == LS_ERR_VERIFY || st == LS_ERR_FORMAT, "%s trial %d: status %d", programs[k], trial, st);
        cr_assert(e.msg[0]);
        rejected++;
        continue;
      }
      accepted++; /* e.g. a cycle moved where nothing depends on it: must run cleanly */
      t_run r = t_open(p);
      ls_run_info a, b;
      cr_assert_eq(t_exec(&r, LS_MODE_CHECKED, 1, &a), LS_OK, "%s trial %d", programs[k], trial);
      cr_assert_eq(t_exec(&r, LS_MODE_FAST, 2, &b), LS_OK);
      cr_assert_eq(a.cycles, ls_cycles(p));
      cr_assert_eq(b.cycles, ls_cycles(p));
      t_close(&r);
    }
    free(src);
  }
  cr_log_info("field damage: %d rejected, %d accepted and ran", rejected, accepted);
  cr_assert_gt(rejected, 3000, "most field damage must be caught (%d rejected)", rejected);
}
