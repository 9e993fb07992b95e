/* test_asm.c - the assembler and disassembler: fields by hand, round trips, error messages. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "isa.h"

static ls_prog must_asm(const char *src) {
  ls_prog p;
  char err[512];
  int rc = ls_assemble(src, strlen(src), "t.lsa", &p, err, sizeof err);
  cr_assert_eq(rc, 0, "%s\n--- source:\n%s", err, src);
  return p;
}

static char *disasm(const ls_prog *p) {
  char *text = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&text, &n);
  cr_assert_not_null(f);
  cr_assert_eq(ls_disassemble(p, f), 0);
  fclose(f);
  return text;
}

static void encode(const ls_prog *p, uint8_t **buf, size_t *len) { cr_assert_eq(ls_prog_encode(p, buf, len), 0); }

/* asm -> encode -> decode -> disasm -> asm -> encode: the same bytes. */
static void check_round_trip(const char *src) {
  ls_prog p = must_asm(src), d, p2;
  char err[512];
  for (uint32_t q = 0; q < p.n_queues; q++)
    for (uint32_t i = 0; i < p.queues[q].count; i++)
      cr_assert_eq(ls_insn_check_fields(&p.queues[q].insns[i], err, sizeof err), 0, "%s", err);
  uint8_t *b1, *b2;
  size_t l1, l2;
  encode(&p, &b1, &l1);
  cr_assert_eq(ls_prog_decode(b1, l1, &d, err, sizeof err), 0, "%s", err);
  char *text = disasm(&d);
  cr_assert_null(strstr(text, "bad "), "%s", text);
  int rc = ls_assemble(text, strlen(text), "dis.lsa", &p2, err, sizeof err);
  cr_assert_eq(rc, 0, "%s\n--- disassembly:\n%s", err, text);
  encode(&p2, &b2, &l2);
  cr_assert_eq(l1, l2, "sizes differ\n--- disassembly:\n%s", text);
  cr_assert_eq(memcmp(b1, b2, l1), 0, "bytes differ\n--- disassembly:\n%s", text);
  free(b1);
  free(b2);
  free(text);
  ls_prog_free(&p);
  ls_prog_free(&d);
  ls_prog_free(&p2);
}

static void check_error(const char *src, int line, const char *word) {
  ls_prog p;
  char err[512], where[32];
  cr_assert_eq(ls_assemble(src, strlen(src), "file.lsa", &p, err, sizeof err), -1, "accepted:\n%s", src);
  snprintf(where, sizeof where, "file.lsa:%d:", line);
  cr_assert(strncmp(err, where, strlen(where)) == 0, "expected '%s' in: %s", where, err);
  cr_assert(strstr(err, word), "expected '%s' in: %s", word, err);
  cr_assert_eq(p.n_queues, 0);
  cr_assert_null(p.queues);
}

static const ls_insn *insn(const ls_prog *p, uint32_t q, uint32_t i) {
  cr_assert_lt(q, p->n_queues);
  cr_assert_lt(i, p->queues[q].count);
  return &p->queues[q].insns[i];
}

static uint64_t le(const uint8_t *b, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)b[i] << (8 * i);
  return v;
}

/* ---- fields --------------------------------------------------------------------------------- */

static const char *const example =
    "; the example of the format description\n"
    ".target host\n"
    ".set lanes 16\n"
    ".input  a f32 [4,16] @0\n"
    ".input  b f32 [4,16] @256\n"
    ".output y f32 [4,16] @512   # '#' comments too\n"
    "mem0:\n"
    "  @0  read.f32 e0, [a], n=4\n"
    "      read.f32 e1, [b+64], n=2, stride=-64\n"
    "vxm0:\n"
    "  @4  add.f32 w0, e0, e1, n=4\n"
    "mem1:\n"
    "  @7  write.f32 [y], w0, n=4\n";

Test(asm, example_fields) {
  ls_prog p = must_asm(example);
  cr_assert_str_eq(p.target.name, "host");
  cr_assert_eq(p.target.lanes, 16);
  cr_assert_eq(p.n_io, 3);
  cr_assert_str_eq(p.io[1].name, "b");
  cr_assert_eq(p.io[1].rank, 2);
  cr_assert_eq(p.io[1].dims[0], 4);
  cr_assert_eq(p.io[1].dims[1], 16);
  cr_assert_eq(p.io[2].is_output, 1);
  cr_assert_eq(p.n_queues, 3);
  cr_assert_eq(p.queues[0].unit, LS_UNIT_MEM);
  cr_assert_eq(p.queues[1].unit, LS_UNIT_VXM);
  cr_assert_eq(p.queues[2].index, 1);

  const ls_insn *r0 = insn(&p, 0, 0), *r1 = insn(&p, 0, 1), *add = insn(&p, 1, 0), *w = insn(&p, 2, 0);
  cr_assert_eq(r0->op, LS_OP_READ);
  cr_assert_eq(r0->t0, LS_F32);
  cr_assert_eq(r0->cycle, 0);
  cr_assert_eq(r0->dst, 0);
  cr_assert_eq(r0->a, LS_NO_STREAM);
  cr_assert_eq(r0->n, 4);
  cr_assert_eq(r0->stride, 64, "default stride: 16 lanes * 4 bytes");
  cr_assert_eq(r1->cycle, 4, "no '@': after the 4-vector read");
  cr_assert_eq(r1->dst, 1);
  cr_assert_eq(r1->addr, 320);
  cr_assert_eq(r1->stride, -64);
  cr_assert_eq(add->cycle, 4);
  cr_assert_eq(add->dst, 32, "w0 is id streams + 0 on a 32-stream host");
  cr_assert_eq(add->a, 0);
  cr_assert_eq(add->b, 1);
  cr_assert_eq(add->c, LS_NO_STREAM);
  cr_assert_eq(add->stride, 0);
  cr_assert_eq(w->op, LS_OP_WRITE);
  cr_assert_eq(w->a, 32);
  cr_assert_eq(w->dst, LS_NO_STREAM);
  cr_assert_eq(w->addr, 512);
  /* highest byte: y at 512 + 4*16*4 = 768; the write covers the same */
  cr_assert_eq(p.mem_bytes, 768);
  ls_prog_free(&p);
}

Test(asm, implicit_cycles) {
  ls_prog p = must_asm(".target host\n"
                       "mem0:\n"
                       "  read.f32 e0, [0], n=3\n" /* 0, busy 3 */
                       "  nop 5\n"                 /* 3, busy 5 */
                       "  read.f32 e1, [0]\n"      /* 8 */
                       "  repeat 2, 4\n"           /* stored at 8+4; last repetition at 16, busy 1 */
                       "  sync\n"                  /* 17 */
                       "  notify\n"                /* 18 */
                       "  @30 read.f32 e2, [0], n=2\n"
                       "  read.f32 e3, [0]\n"      /* 32 */
                       "  @40 repeat 1, 7\n"       /* explicit: as written */
                       "  mov.f32 e4, e3\n");      /* the repetition at 39 ends at 40 */
  static const uint64_t want[] = {0, 3, 8, 12, 17, 18, 30, 32, 40, 40};
  cr_assert_eq(p.queues[0].count, 10);
  for (int i = 0; i < 10; i++) cr_assert_eq(insn(&p, 0, (uint32_t)i)->cycle, want[i], "insn %d", i);
  const ls_insn *nop = insn(&p, 0, 1), *rep = insn(&p, 0, 3);
  cr_assert_eq(nop->n, 5);
  cr_assert_eq(nop->t0, 0);
  cr_assert_eq(nop->dst, LS_NO_STREAM);
  cr_assert_eq(rep->n, 2);
  cr_assert_eq(rep->aux, 4);
  ls_prog_free(&p);
}

Test(asm, label_seen_again_appends) {
  ls_prog p = must_asm(".target host\nmem0:\n nop 2\nvxm3:\n nop 1\nmem0: nop 4\n  sync\n");
  cr_assert_eq(p.n_queues, 2);
  cr_assert_eq(p.queues[0].count, 3);
  cr_assert_eq(insn(&p, 0, 1)->cycle, 2);
  cr_assert_eq(insn(&p, 0, 2)->cycle, 6);
  cr_assert_eq(p.queues[1].index, 3);
  ls_prog_free(&p);
}

Test(asm, constants) {
  ls_prog p = must_asm(".target host\n"
                       ".const @1000 f32 1.0 2.0 -3.5\n"
                       ".const @0 bf16 1.00390625 1.01171875, -2.0\n" /* ties: to even 0x3f80, 0x3f82 */
                       ".const @16 f16 1.0 65504 5.9604644775390625e-08 -0.0 nan\n"
                       ".const @32 hex 00ff 10 ab\n"
                       ".const @40 i16 -2 0x7fff\n"
                       ".const @48 u8 1 2 \\\n"
                       "   3 255  ; continued\n"
                       ".const @56 bool true 0 1 false\n"
                       ".const @64 f64 0.1\n");
  cr_assert_eq(p.n_consts, 8);
  static const uint8_t f32[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x60, 0xc0};
  cr_assert_eq(p.consts[0].addr, 1000);
  cr_assert_eq(p.consts[0].size, 12);
  cr_assert_eq(memcmp(p.consts[0].data, f32, 12), 0);
  cr_assert_eq(p.consts[1].size, 6);
  cr_assert_eq(le(p.consts[1].data, 2), 0x3f80);
  cr_assert_eq(le(p.consts[1].data + 2, 2), 0x3f82);
  cr_assert_eq(le(p.consts[1].data + 4, 2), 0xc000);
  cr_assert_eq(le(p.consts[2].data, 2), 0x3c00);
  cr_assert_eq(le(p.consts[2].data + 2, 2), 0x7bff);
  cr_assert_eq(le(p.consts[2].data + 4, 2), 0x0001, "2^-24, the smallest subnormal");
  cr_assert_eq(le(p.consts[2].data + 6, 2), 0x8000);
  cr_assert_eq(le(p.consts[2].data + 8, 2), 0x7e00);
  static const uint8_t hex[] = {0x00, 0xff, 0x10, 0xab};
  cr_assert_eq(p.consts[3].size, 4);
  cr_assert_eq(memcmp(p.consts[3].data, hex, 4), 0);
  cr_assert_eq(le(p.consts[4].data, 4), 0x7ffffffe);
  static const uint8_t u8[] = {1, 2, 3, 255};
  cr_assert_eq(p.consts[5].size, 4);
  cr_assert_eq(memcmp(p.consts[5].data, u8, 4), 0);
  static const uint8_t b[] = {1, 0, 1, 0};
  cr_assert_eq(memcmp(p.consts[6].data, b, 4), 0);
  cr_assert_eq(le(p.consts[7].data, 8), 0x3fb999999999999aull);
  cr_assert_eq(p.mem_bytes, 1024, "const at 1000 + 12 rounds up to 1024");
  ls_prog_free(&p);
}

Test(asm, immediates) {
  ls_prog p = must_asm(".target host\n"
                       "vxm0:\n"
                       "  adds.f32 w1, e0, 0.5\n"
                       "  adds.i32 w1, e0, -7\n"
                       "  muls.f64 w1, e0, -inf\n"
                       "  splat.f32 w1, e0, bits:0x7ff8000000000001\n"
                       "  splat.f32 w1, e0, 0x1.8p1\n"
                       "  cvt.f32.i32 w3, e2, n=2\n"
                       "sxm0:\n"
                       "  shift.f32 w2, e1, -3\n");
  cr_assert_eq((uint64_t)insn(&p, 0, 0)->imm, 0x3fe0000000000000ull);
  cr_assert_eq(insn(&p, 0, 1)->imm, -7);
  cr_assert_eq((uint64_t)insn(&p, 0, 2)->imm, 0xfff0000000000000ull);
  cr_assert_eq((uint64_t)insn(&p, 0, 3)->imm, 0x7ff8000000000001ull);
  cr_assert_eq((uint64_t)insn(&p, 0, 4)->imm, 0x4008000000000000ull, "3.0");
  cr_assert_eq(insn(&p, 1, 0)->imm, -3);
  const ls_insn *cvt = insn(&p, 0, 5);
  cr_assert_eq(cvt->t0, LS_F32);
  cr_assert_eq(cvt->t1, LS_I32);
  cr_assert_eq(cvt->n, 2);
  ls_prog_free(&p);
}

Test(asm, memory_formats) {
  ls_prog p = must_asm(".target host\n"
                       ".set lanes 8\n"
                       ".input t u8 [] @100\n"
                       "mem2:\n"
                       "  gather.i32 e1, [0x40], e2, n=3, size=10\n"
                       "  scatter.f16 [t], e3, e4, size=4\n"
                       "sxm1:\n"
                       "  permute.u16 w5, e5, [t - 100]\n"
                       "mxm0:\n"
                       "  lw.f32 p3, e6, n=8\n"
                       "  mm.f32 w7, p3, e7\n"
                       "  mm.f32 w7, p2, e7, e8, n=4, cols=5\n");
  const ls_insn *g = insn(&p, 0, 0), *sc = insn(&p, 0, 1), *pm = insn(&p, 1, 0);
  cr_assert_eq(g->dst, 1);
  cr_assert_eq(g->a, 2);
  cr_assert_eq(g->addr, 64);
  cr_assert_eq(g->aux, 10);
  cr_assert_eq(g->n, 3);
  cr_assert_eq(g->stride, 0);
  cr_assert_eq(sc->addr, 100);
  cr_assert_eq(sc->a, 3);
  cr_assert_eq(sc->b, 4);
  cr_assert_eq(sc->dst, LS_NO_STREAM);
  cr_assert_eq(pm->addr, 0);
  cr_assert_eq(pm->dst, 37);
  const ls_insn *lw = insn(&p, 2, 0), *mm1 = insn(&p, 2, 1), *mm2 = insn(&p, 2, 2);
  cr_assert_eq(lw->aux, 3);
  cr_assert_eq(lw->a, 6);
  cr_assert_eq(lw->dst, LS_NO_STREAM);
  cr_assert_eq(mm1->cycle, 8);
  cr_assert_eq(mm1->aux, 3);
  cr_assert_eq(mm1->a, 7);
  cr_assert_eq(mm1->b, LS_NO_STREAM);
  cr_assert_eq(mm1->imm, 0);
  cr_assert_eq(mm2->b, 8);
  cr_assert_eq(mm2->imm, 5);
  /* gather table 64 + 10*4 = 104; permute map 0 + 8 lanes * 4 = 32; scalar t at 100..101 */
  cr_assert_eq(p.mem_bytes, 128);
  ls_prog_free(&p);
}

Test(asm, default_memory_counts_repeats) {
  /* 2 instances of 2 vectors of 16*4 bytes, 128 bytes apart: last vector at 3*128, ends 448 */
  ls_prog p = must_asm(".target host\n.set lanes 16\nmem0:\n read.f32 e0, [0], n=2, stride=128\n repeat 1, 2\n");
  cr_assert_eq(p.mem_bytes, 448);
  ls_prog_free(&p);
  p = must_asm(".target host\n.memory 4096\nmem0:\n read.f32 e0, [0]\n");
  cr_assert_eq(p.mem_bytes, 4096);
  ls_prog_free(&p);
}

/* ---- disassembly ------------------------------------------------------------------------------ */

Test(asm, disassembly_text) {
  ls_prog p = must_asm(example);
  char *text = disasm(&p);
  ls_prog_stats st;
  ls_prog_stats_compute(&p, &st);
  char head[64];
  snprintf(head, sizeof head, "; %llu instructions, %llu cycles\n", (unsigned long long)st.insns,
           (unsigned long long)st.cycles);
  cr_assert_eq(strncmp(text, head, strlen(head)), 0, "%s", text);
  cr_assert(strstr(text, ".target host\n.set lanes 16\n.memory 768\n"), "%s", text);
  cr_assert(strstr(text, "@0 read.f32 e0, [a], n=4\n"), "%s", text);
  cr_assert(strstr(text, "@4 read.f32 e1, [b+64], n=2, stride=-64\n"), "%s", text);
  cr_assert(strstr(text, "@4 add.f32 w0, e0, e1, n=4\n"), "%s", text);
  cr_assert(strstr(text, "@7 write.f32 [y], w0, n=4\n"), "%s", text);
  free(text);
  ls_prog_free(&p);
}

Test(asm, disassembly_never_reads_out_of_bounds) {
  ls_prog p = must_asm(".target host\n.input x f32 [4] @0\nvxm0:\n add.f32 w0, e0, e1\n add.f32 w0, e0, e1\n"
                       " add.f32 w0, e0, e1\n add.f32 w0, e0, e1\n add.f32 w0, e0, e1\n");
  ls_insn *in = p.queues[0].insns;
  in[0].op = 999;
  in[1].t0 = 200;
  in[2].b = 100; /* 100 - 32 = w68 on a 32-stream target */
  in[3].stride = 4;
  in[4].c = LS_NO_STREAM - 1;
  p.io[0].dtype = 77;
  char *text = disasm(&p);
  const char *at = text;
  int bad = 0;
  while ((at = strstr(at, "; bad instruction")) != NULL) bad++, at++;
  cr_assert_eq(bad, 5, "%s", text);
  cr_assert(strstr(text, "; bad tensor"), "%s", text);
  free(text);
  p.queues[0].unit = 9;
  text = disasm(&p);
  cr_assert(strstr(text, "; bad queue"), "%s", text);
  free(text);
  ls_prog_free(&p);
}

Test(asm, disassembly_flags_what_would_not_reassemble) {
  ls_prog p = must_asm(".target host\nvxm0:\n add.f32 w0, e0, e1\nvxm1:\n add.f32 w0, e0, e1\n");
  p.queues[1].index = 0;            /* vxm0 twice: re-assembly would merge them */
  p.target.streams = 127;           /* ids up to 253 name streams... */
  p.queues[0].insns[0].b = LS_NO_STREAM; /* ...but "none" is never one */
  char *text = disasm(&p);
  cr_assert(strstr(text, "; bad queue: vxm0 appears twice"), "%s", text);
  cr_assert(strstr(text, "; bad instruction"), "%s", text);
  free(text);
  ls_prog_free(&p);
}

/* ---- round trips ----------------------------------------------------------------------------- */

Test(asm, round_trip_example) { check_round_trip(example); }

/* One instruction per row of LS_INSNS, with plausible operands of its format. */
static char *every_op_source(const char *header) {
  char *src = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&src, &n);
  fputs(header, f);
  for (int op = 0; op < LS_OP_COUNT; op++) {
    const ls_opinfo *oi = &ls_ops[op];
    ls_unit unit = oi->unit == LS_UNIT_ICU ? LS_UNIT_MEM : oi->unit;
    int t = 0;
    while (t < LS_DTYPE_COUNT && !ls_op_accepts((ls_op)op, (ls_dtype)t)) t++;
    cr_assert_lt(t, LS_DTYPE_COUNT, "%s accepts no type", oi->mnemonic);
    const char *tn = ls_dtype_name((ls_dtype)t);
    int is_float = ls_dtype_class((ls_dtype)t) == 'F';
    fprintf(f, "%s%d:\n  ", ls_unit_names[unit], op % 2);
    if (op == LS_OP_CVT) fputs("cvt.f32.i32", f);
    else if (oi->unit == LS_UNIT_ICU) fputs(oi->mnemonic, f);
    else fprintf(f, "%s.%s", oi->mnemonic, tn);
    switch (oi->format) {
    case LS_FMT_NONE: break;
    case LS_FMT_IDLE: fputs(" 3", f); break;
    case LS_FMT_REPEAT: fputs(" 2, 5", f); break;
    case LS_FMT_READ: fputs(" e1, [x+32], n=2", f); break;
    case LS_FMT_WRITE: fputs(" [y], w3, n=2, stride=-32", f); break;
    case LS_FMT_GATHER: fputs(" e2, [x], e3, n=2, size=64", f); break;
    case LS_FMT_SCATTER: fputs(" [y+4], e4, e5, size=16", f); break;
    case LS_FMT_UN: fputs(" w1, e1, n=3", f); break;
    case LS_FMT_BIN: fputs(" w1, e1, e2", f); break;
    case LS_FMT_TER: fputs(" w1, e1, e2, e3", f); break;
    case LS_FMT_IMM: fputs(is_float ? " w2, e1, 0.1" : " w2, e1, -9", f); break;
    case LS_FMT_LANE: fputs(" w2, e1, -3", f); break;
    case LS_FMT_PERM: fputs(" w2, e1, [1024]", f); break;
    case LS_FMT_LW: fputs(" p1, e7, n=8", f); break;
    case LS_FMT_MM: fputs(" w4, p1, e7, e8, cols=5\n  mm.f32 w5, p0, e6", f); break;
    case LS_FMT_COUNT: break;
    }
    fputc('\n', f);
  }
  fclose(f);
  return src;
}

Test(asm, round_trip_every_op) {
  char *src = every_op_source(".target host\n.set lanes 8\n.input x f32 [8,8] @0\n.output y f32 [8,8] @256\n");
  ls_prog p = must_asm(src);
  /* every row of the table is in there */
  int seen[LS_OP_COUNT] = {0};
  for (uint32_t q = 0; q < p.n_queues; q++)
    for (uint32_t i = 0; i < p.queues[q].count; i++) seen[p.queues[q].insns[i].op] = 1;
  for (int op = 0; op < LS_OP_COUNT; op++) cr_assert(seen[op], "%s missing", ls_ops[op].mnemonic);
  ls_prog_free(&p);
  check_round_trip(src);
  free(src);
}

Test(asm, round_trip_every_op_on_a_changed_tsp) {
  char *src = every_op_source(".target tsp\n"
                              ".set name \"chip #1; \\\"b\\\"\"\n"
                              ".set lanes 16\n.set streams 20\n.set mem 3\n.set sram 1MiB\n.set clock 1200\n"
                              ".set lat.alu 9\n.set lat.hop 0\n"
                              ".input \"in put\" f32 [16] @0\n"
                              ".output x bf16 [8,8] @64\n"
                              ".input y i8 [] @500\n");
  check_round_trip(src);
  free(src);
}

Test(asm, round_trip_constants_and_odd_values) {
  check_round_trip(".target host\n"
                   ".memory 0x10000\n"
                   ".output z f32 [2] @8   ; outputs before inputs stay in that order\n"
                   ".input  w f32 [3] @0\n"
                   ".const @4096 hex\n"
                   ".const @1024 u8 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 \\\n"
                   "  29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 \\\n"
                   "  58 59 60 61 62 63 64 65 66 67 68 69 70\n"
                   ".const @2048 f32 3.25\n"
                   "mem5:\n"
                   "vxm0:\n"
                   "  @3 adds.f64 w0, e0, -0.0\n"
                   "  adds.f64 w0, e0, 1e-310\n"
                   "  adds.f64 w0, e0, 1e300\n"
                   "  adds.f64 w0, e0, inf\n"
                   "  adds.f64 w0, e0, nan\n"
                   "  adds.f64 w0, e0, -nan\n"
                   "  adds.f64 w0, e0, bits:0x7ff0000000000001\n"
                   "  adds.f64 w0, e0, bits:0xfff8000000000000\n"
                   "  adds.i64 w0, e0, -9223372036854775808\n"
                   "  adds.u64 w0, e0, 9223372036854775807\n"
                   "  maxs.bool w0, e0, 1\n"
                   "mem0:\n"
                   "  read.f32 e0, [w+4], n=0, stride=0\n"
                   "  read.f32 e0, [z+4], n=1, stride=256\n"
                   "  read.f32 e0, [20]\n"
                   "  nop 0\n"
                   "  repeat 0, 0\n");
}

/* ---- errors ------------------------------------------------------------------------------------ */

Test(asm, errors_name_the_line_and_the_problem) {
  check_error("; only a comment\n\n", 2, ".target");
  check_error(".input a f32 [4] @0\n.target host\n", 1, ".target");
  check_error("\nmem0:\n", 2, ".target");
  check_error(".target gpu\n", 1, "preset");
  check_error(".target host\n.target host\n", 2, "twice");
  check_error(".target host\nmem0:\n  frob.f32 e0, e1\n", 3, "mnemonic");
  check_error(".target host\nmem0:\n  read.f99 e0, [0]\n", 3, "element type");
  check_error(".target host\nmem0:\n  read e0, [0]\n", 3, "element type");
  check_error(".target host\nmem0:\n  nop.f32 1\n", 3, "no element type");
  check_error(".target host\nvxm0:\n  cvt.f32 w0, e0\n", 3, "two element types");
  check_error(".target host\nvxm0:\n  add.f32 w0, e0\n", 3, "operands");
  check_error(".target host\nmem0:\n  sync e0\n", 3, "no operands");
  check_error(".target host\nvxm0:\n  add.f32 w0, e0, e32\n", 3, "stream");
  check_error(".target host\nvxm0:\n  add.f32 w0, e0, x1\n", 3, "stream");
  check_error(".target host\nmem0:\n  read.f32 e0, [nope]\n", 3, "tensor");
  check_error(".target host\n.input a f32 [4] @8\nmem0:\n  read.f32 e0, [a-9]\n", 4, "negative");
  check_error(".target host\nmem0:\n  read.f32 e0, [0], n=4x\n", 3, "bad n");
  check_error(".target host\nmem0:\n  read.f32 e0, [0], speed=3\n", 3, "unknown option");
  check_error(".target host\nvxm0:\n  add.f32 w0, e0, e1, stride=4\n", 3, "does not apply");
  check_error(".target host\nmem0:\n  read.f32 e0, [0], n=1, n=2\n", 3, "twice");
  check_error(".target host\nmem0:\n  read.f32 e0, n=1, [0]\n", 3, "after options");
  check_error(".target host\nmem0:\n  gather.f32 e0, [0], e1\n", 3, "size=");
  check_error(".target host\nvxm0:\n  adds.i32 w0, e0, 0.5\n", 3, "immediate");
  check_error(".target host\nvxm0:\n  adds.f32 w0, e0, 1e999\n", 3, "range");
  check_error(".target host\n.input a f32 [4] @0\n.output a f32 [4] @16\n", 3, "duplicate");
  check_error(".target host\n.input a f32 [1,2,3,4,5,6,7,8,9] @0\n", 2, "dimensions");
  check_error(".target host\n.input a f32 [4]\n", 2, "@");
  check_error(".target host\nmem32:\n", 2, "mem32");
  check_error(".target host\nicu0:\n", 2, "icu");
  check_error(".target host\nalu0:\n", 2, "queue label");
  check_error(".target host\n  nop 1\n", 2, "queue label");
  check_error(".target host\nmem0:\n  nop 1\n.set lanes 8\n", 4, ".set");
  check_error(".target host\n.set wheels 4\n", 2, "wheels");
  check_error(".target host\n.memory 1\n.memory 2\n", 3, "twice");
  check_error(".target host\n.frob 1\n", 2, "directive");
  check_error(".target host\n.const @0 i8 127 128\n", 2, "range");
  check_error(".target host\n.const @0 u16 -1\n", 2, "u16");
  check_error(".target host\n.const @0 f16 70000\n", 2, "range");
  check_error(".target host\n.const @0 bool 2\n", 2, "bool");
  check_error(".target host\n.const @0 hex 0f0\n", 2, "hex");
  check_error(".target host\n.const @0 hex zz\n", 2, "hex");
  /* the line of the bad value, not of the statement it continues */
  check_error(".target host\n.const @0 f32 1.0 \\\n  2.0 \\\n  zz\n", 4, "bad number");
  check_error(".target host\n.input \"abc f32 [4] @0\n", 2, "unterminated");
}

Test(asm, error_buffer_and_output_on_failure) {
  ls_prog p;
  char err[16];
  const char *src = ".target host\nmem0:\n read.f32 e0, [0]\n frob\n";
  cr_assert_eq(ls_assemble(src, strlen(src), "a-rather-long-file-name.lsa", &p, err, sizeof err), -1);
  cr_assert_eq(strlen(err), sizeof err - 1, "truncated, still terminated");
  cr_assert_eq(p.n_queues, 0);
  ls_prog_free(&p);
  /* a length shorter than the text: what follows is not read */
  cr_assert_eq(ls_assemble(src, 12, NULL, &p, NULL, 0), 0);
  cr_assert_eq(p.n_queues, 0);
  ls_prog_free(&p);
}
