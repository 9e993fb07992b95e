/* test_isa.c - the instruction table, targets and the program file format. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "isa.h"

Test(isa, table_rows_match_enum) {
  for (int i = 0; i < LS_OP_COUNT; i++) {
    cr_assert_not_null(ls_ops[i].mnemonic);
    cr_assert_eq(ls_op_parse(ls_ops[i].mnemonic, strlen(ls_ops[i].mnemonic)), i, "%s", ls_ops[i].mnemonic);
  }
  cr_assert_eq(ls_op_parse("addx", 4), -1);
}

Test(isa, dtype_sizes) {
  cr_assert_eq(ls_dtype_size(LS_F32), 4);
  cr_assert_eq(ls_dtype_size(LS_BF16), 2);
  cr_assert_eq(ls_dtype_size(LS_I64), 8);
  cr_assert_eq(ls_dtype_size(LS_BOOL), 1);
  cr_assert_eq(ls_dtype_parse("bf16", 4), LS_BF16);
  cr_assert_eq(ls_dtype_parse("f31", 3), -1);
}

Test(isa, tsp_preset_is_the_isca_chip) {
  ls_target t;
  cr_assert_eq(ls_target_preset("tsp", &t), 0);
  cr_assert_eq(t.lanes, 320);
  cr_assert_eq(t.slices[LS_UNIT_MXM], 4);
  cr_assert_eq(t.slices[LS_UNIT_MEM], 88);
  cr_assert_eq(t.sram_bytes, 220ull << 20);
  cr_assert_eq(t.streams, 32);
  cr_assert_eq(t.clock_mhz, 900);
  char err[256];
  cr_assert_eq(ls_target_check(&t, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ls_target_preset("gpu", &t), -1);
}

Test(isa, target_set_fields) {
  ls_target t;
  char err[256];
  ls_target_preset("host", &t);
  cr_assert_eq(ls_target_set(&t, "lanes", "16", err, sizeof err), 0);
  cr_assert_eq(t.lanes, 16);
  cr_assert_eq(ls_target_set(&t, "sram", "64KiB", err, sizeof err), 0);
  cr_assert_eq(t.sram_bytes, 65536);
  cr_assert_eq(ls_target_set(&t, "lat.mxm_mm", "7", err, sizeof err), 0);
  cr_assert_eq(t.lat[LS_LAT_MXM_MM], 7);
  cr_assert_eq(ls_target_set(&t, "wheels", "4", err, sizeof err), -1);
  cr_assert(strstr(err, "wheels"));
  cr_assert_eq(ls_target_set(&t, "lanes", "-3", err, sizeof err), -1);
}

Test(isa, crc32_known_value) {
  /* the standard check value of CRC-32/ISO-HDLC */
  cr_assert_eq(ls_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
}

static ls_insn plain(ls_op op) {
  ls_insn in = {0};
  in.op = (uint16_t)op;
  in.dst = in.a = in.b = in.c = LS_NO_STREAM;
  return in;
}

static void small_prog(ls_prog *p, ls_insn *insns, ls_queue *q, ls_io *io, ls_const *c, uint8_t *cdata) {
  memset(p, 0, sizeof *p);
  ls_target_preset("host", &p->target);
  p->target.lanes = 4;
  p->mem_bytes = 256;
  io[0] = (ls_io){.name = "x", .is_output = 0, .dtype = LS_F32, .rank = 1, .dims = {4}, .addr = 0};
  io[1] = (ls_io){.name = "y", .is_output = 1, .dtype = LS_F32, .rank = 1, .dims = {4}, .addr = 64};
  for (int i = 0; i < 16; i++) cdata[i] = (uint8_t)i;
  c[0] = (ls_const){.addr = 128, .size = 16, .data = cdata};
  insns[0] = plain(LS_OP_READ);
  insns[0].dst = 0, insns[0].n = 1, insns[0].stride = 16;
  insns[1] = plain(LS_OP_REPEAT);
  insns[1].cycle = 3, insns[1].n = 2, insns[1].aux = 3;
  q[0] = (ls_queue){.unit = LS_UNIT_MEM, .index = 0, .count = 2, .insns = insns};
  p->n_io = 2, p->io = io, p->n_consts = 1, p->consts = c, p->n_queues = 1, p->queues = q;
}

Test(isa, encode_decode_round_trip) {
  ls_prog p, d;
  ls_insn insns[2];
  ls_queue q[1];
  ls_io io[2];
  ls_const c[1];
  uint8_t cdata[16];
  small_prog(&p, insns, q, io, c, cdata);
  uint8_t *buf, *buf2;
  size_t len, len2;
  char err[256];
  cr_assert_eq(ls_prog_encode(&p, &buf, &len), 0);
  cr_assert_eq(ls_prog_decode(buf, len, &d, err, sizeof err), 0, "%s", err);
  cr_assert_eq(d.target.lanes, 4);
  cr_assert_eq(d.n_io, 2);
  cr_assert_str_eq(d.io[1].name, "y");
  cr_assert_eq(d.consts[0].size, 16);
  cr_assert_eq(memcmp(d.consts[0].data, cdata, 16), 0);
  cr_assert_eq(d.queues[0].insns[1].aux, 3);
  cr_assert_eq(ls_prog_encode(&d, &buf2, &len2), 0);
  cr_assert_eq(len, len2);
  cr_assert_eq(memcmp(buf, buf2, len), 0);
  free(buf);
  free(buf2);
  ls_prog_free(&d);
}

Test(isa, decode_rejects_truncation_and_corruption) {
  ls_prog p, d;
  ls_insn insns[2];
  ls_queue q[1];
  ls_io io[2];
  ls_const c[1];
  uint8_t cdata[16];
  small_prog(&p, insns, q, io, c, cdata);
  uint8_t *buf;
  size_t len;
  char err[256];
  cr_assert_eq(ls_prog_encode(&p, &buf, &len), 0);
  for (size_t cut = 0; cut < len; cut++) {
    cr_assert_eq(ls_prog_decode(buf, cut, &d, err, sizeof err), -1, "cut at %zu", cut);
    cr_assert(strstr(err, "truncated") || strstr(err, "magic"), "%zu: %s", cut, err);
  }
  uint8_t *big = malloc(len + 1);
  memcpy(big, buf, len);
  big[len] = 0;
  cr_assert_eq(ls_prog_decode(big, len + 1, &d, err, sizeof err), -1);
  cr_assert(strstr(err, "oversized"), "%s", err);
  free(big);
  buf[len - 3] ^= 0x10;
  cr_assert_eq(ls_prog_decode(buf, len, &d, err, sizeof err), -1);
  cr_assert(strstr(err, "checksum"), "%s", err);
  free(buf);
}

Test(isa, repeat_expansion_and_cycles) {
  ls_prog p;
  ls_insn insns[2];
  ls_queue q[1];
  ls_io io[2];
  ls_const c[1];
  uint8_t cdata[16];
  small_prog(&p, insns, q, io, c, cdata);
  cr_assert_eq(ls_queue_expanded_count(&q[0]), 3);
  ls_insn out[3];
  cr_assert_eq(ls_queue_expand(&q[0], out, 3), 3);
  cr_assert_eq(out[1].cycle, 3);
  cr_assert_eq(out[2].cycle, 6);
  cr_assert_eq(out[1].addr, 16);
  cr_assert_eq(out[2].addr, 32);
  ls_prog_stats s;
  ls_prog_stats_compute(&p, &s);
  cr_assert_eq(s.insns, 3);
  /* last read issues at 6; host: mem latency 2 + hop 1, one vector: done at 6 + 3 + 1 */
  cr_assert_eq(s.cycles, 10);
}

Test(isa, unused_fields_must_be_clear) {
  ls_insn in = plain(LS_OP_ADD);
  in.dst = 0, in.a = 1, in.b = 2, in.n = 1;
  char err[256];
  cr_assert_eq(ls_insn_check_fields(&in, err, sizeof err), 0, "%s", err);
  in.stride = 4;
  cr_assert_eq(ls_insn_check_fields(&in, err, sizeof err), -1);
  cr_assert(strstr(err, "stride"), "%s", err);
}

Test(isa, half_conversions) {
  /* hand-checked bit patterns */
  cr_assert_eq(ls_f32_to_f16(1.0f), 0x3c00);
  cr_assert_eq(ls_f32_to_f16(-2.0f), 0xc000);
  cr_assert_eq(ls_f32_to_f16(65504.0f), 0x7bff);
  cr_assert_eq(ls_f32_to_f16(65520.0f), 0x7c00);          /* rounds up to inf */
  cr_assert_eq(ls_f32_to_f16(5.9604645e-08f), 0x0001);    /* smallest subnormal */
  cr_assert_eq(ls_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie goes to even */
  cr_assert_eq(ls_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02); /* tie goes to even (up) */
  cr_assert_eq(ls_f16_to_f32(0x3555), 0.333251953125f);
  cr_assert_eq(ls_f16_to_f32(0x0001), 5.9604645e-08f);
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaNs */
    cr_assert_eq(ls_f32_to_f16(ls_f16_to_f32((uint16_t)h)), h, "%04x", h);
  }
  cr_assert_eq(ls_f32_to_bf16(1.0f), 0x3f80);
  cr_assert_eq(ls_f32_to_bf16(1.00390625f), 0x3f80); /* tie: 1 + 2^-8, to even */
  cr_assert_eq(ls_f32_to_bf16(1.01171875f), 0x3f82); /* tie: 1 + 3*2^-8, up to even */
  cr_assert_eq(ls_bf16_to_f32(0xc040), -3.0f);
}
