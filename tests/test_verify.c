/* test_verify.c - every class of verification error: each program breaks one rule, and
 * loading it must fail with LS_ERR_VERIFY and a message that says which rule and where. */
#include <criterion/criterion.h>

#include "support.h"

#define HEAD ".target host\n.set lanes 16\n.input a f32 [64] @0\n.input b f32 [64] @256\n.output y f32 [64] @512\n"

/* The valid program every case starts from (examples/vadd.lsa). */
static const char *good = HEAD
    "mem0:\n @0 read.f32 e0, [a], n=4\n"
    "mem1:\n @0 read.f32 e1, [b], n=4\n"
    "vxm0:\n @3 add.f32 e2, e0, e1, n=4\n"
    "mem2:\n @5 write.f32 [y], e2, n=4\n";

static void expect_error(const char *src, const char *want1, const char *want2) {
  ls_program *p = NULL;
  ls_error e = {0};
  ls_status st = t_load(src, &p, &e);
  cr_assert_eq(st, LS_ERR_VERIFY, "expected a verification error (%s), got status %d: %s", want1, st, e.msg);
  cr_assert_null(p);
  cr_assert(strstr(e.msg, want1), "message lacks '%s': %s", want1, e.msg);
  if (want2) cr_assert(strstr(e.msg, want2), "message lacks '%s': %s", want2, e.msg);
}

Test(verify, the_base_program_is_valid) {
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(good, &p, &e), LS_OK, "%s", e.msg);
  ls_free(p);
}

Test(verify, read_out_of_bounds) {
  expect_error(HEAD ".memory 768\nmem0:\n @0 read.f32 e0, [704], n=4\nvxm0:\n @3 relu.f32 e1, e0, n=4\n"
                    "mem1:\n @5 write.f32 [y], e1, n=4\n",
               "reach outside memory", "mem0 insn 0");
}

Test(verify, negative_stride_below_zero) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4, stride=-64\nvxm0:\n @3 relu.f32 e1, e0, n=4\n"
                    "mem1:\n @5 write.f32 [y], e1, n=4\n",
               "reach outside memory", NULL);
}

Test(verify, two_instructions_on_one_queue_at_once) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\n @2 read.f32 e1, [b], n=4\n"
                    "vxm0:\n @3 add.f32 e2, e0, e1, n=4\nmem2:\n @5 write.f32 [y], e2, n=4\n",
               "busy until cycle 4", "mem0 insn 1");
}

Test(verify, stream_read_when_nothing_arrives) {
  /* the add issues one cycle early: nothing is on e0 at cycle 2 */
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @0 read.f32 e1, [b], n=4\n"
                    "vxm0:\n @2 add.f32 e2, e0, e1, n=4\nmem2:\n @4 write.f32 [y], e2, n=4\n",
               "nothing arrives", "vxm0 insn 0");
}

Test(verify, stream_overwritten_before_consumed) {
  /* both reads put their vectors on e0 */
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @1 read.f32 e0, [b], n=4\n"
                    "vxm0:\n @3 add.f32 e2, e0, e0, n=4\nmem2:\n @5 write.f32 [y], e2, n=4\n",
               "overwritten before it is consumed", "e0");
}

Test(verify, vector_never_consumed) {
  /* the add takes only 3 of the 4 vectors on e0 and e1 */
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @0 read.f32 e1, [b], n=4\n"
                    "vxm0:\n @3 add.f32 e2, e0, e1, n=3\nmem2:\n @5 write.f32 [y], e2, n=3\n",
               "never consumed", "cycle 6");
}

Test(verify, read_spanning_two_producers) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=2\nmem1:\n @2 read.f32 e0, [b], n=2\n"
                    "mem3:\n @0 read.f32 e1, [b], n=4\n"
                    "vxm0:\n @3 add.f32 e2, e0, e1, n=4\nmem2:\n @5 write.f32 [y], e2, n=4\n",
               "two producers", NULL);
}

Test(verify, type_mismatch_on_a_stream) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @0 read.f32 e1, [b], n=4\n"
                    "vxm0:\n @3 add.i32 e2, e0, e1, n=4\nmem2:\n @5 write.i32 [y], e2, n=4\n",
               "expects i32", "f32");
}

Test(verify, op_does_not_take_type) {
  expect_error(HEAD "mem0:\n @0 read.i32 e0, [a], n=4\nvxm0:\n @3 exp.i32 e1, e0, n=4\n"
                    "mem1:\n @5 write.i32 [y], e1, n=4\n",
               "does not take i32", NULL);
}

Test(verify, wrong_unit_for_queue) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nvxm1:\n @0 read.f32 e1, [b], n=4\n"
                    "vxm0:\n @3 add.f32 e2, e0, e1, n=4\nmem2:\n @5 write.f32 [y], e2, n=4\n",
               "is a mem instruction", "vxm");
}

Test(verify, write_to_a_constant) {
  expect_error(HEAD ".const @512 f32 1 2 3 4\nmem0:\n @0 read.f32 e0, [a], n=4\nvxm0:\n @3 relu.f32 e1, e0, n=4\n"
                    "mem1:\n @5 write.f32 [y], e1, n=4\n",
               "read-only", NULL);
}

Test(verify, memory_race) {
  /* the write to y lands at 7..10 while a read of y runs 6..9 */
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nmem1:\n @0 read.f32 e1, [b], n=4\n"
                    "vxm0:\n @3 add.f32 e2, e0, e1, n=4\nmem2:\n @5 write.f32 [y], e2, n=4\n"
                    "mem3:\n @6 read.f32 e3, [y], n=4\nvxm1:\n @9 relu.f32 e4, e3, n=4\n"
                    "mem4:\n @11 write.f32 [a], e4, n=4\n",
               "memory race", NULL);
}

Test(verify, plane_used_before_load) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nmxm0:\n @3 mm.f32 e1, p0, e0, n=4\n"
                    "mem1:\n @8 write.f32 [y], e1, n=4\n",
               "before any lw", NULL);
}

Test(verify, sync_without_notify) {
  char src[2048];
  snprintf(src, sizeof src, "%s" "vxm3:\n @0 sync\n", good);
  expect_error(src, "no notify", NULL);
  snprintf(src, sizeof src, "%s" "vxm3:\n @0 notify\n @1 sync\n", good);
  ls_program *p;
  ls_error e;
  cr_assert_eq(t_load(src, &p, &e), LS_OK, "%s", e.msg);
  ls_free(p);
}

Test(verify, program_larger_than_the_target) {
  expect_error(HEAD ".set sram 512\n" "mem0:\n @0 read.f32 e0, [a], n=4\nvxm0:\n @3 relu.f32 e1, e0, n=4\n"
                    "mem1:\n @5 write.f32 [y], e1, n=4\n",
               "needs 768 bytes of SRAM", NULL);
}

Test(verify, transpose_needs_whole_blocks) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [a], n=4\nsxm0:\n @3 transpose.f32 e1, e0, n=4\n"
                    "mem1:\n @21 write.f32 [y], e1, n=4\n",
               "multiple of 16", NULL);
}

Test(verify, misaligned_access) {
  expect_error(HEAD "mem0:\n @0 read.f32 e0, [2], n=4\nvxm0:\n @3 relu.f32 e1, e0, n=4\n"
                    "mem1:\n @5 write.f32 [y], e1, n=4\n",
               "multiples of the 4-byte element", NULL);
}

/* Field-level corruption that the assembler cannot express: edit a decoded program. */
static void expect_field_error(void (*edit)(ls_prog *g), const char *want) {
  ls_prog g;
  char err[512];
  cr_assert_eq(ls_assemble(good, strlen(good), "good.lsa", &g, err, sizeof err), 0, "%s", err);
  edit(&g);
  uint8_t *buf;
  size_t len;
  cr_assert_eq(ls_prog_encode(&g, &buf, &len), 0);
  ls_prog_free(&g);
  ls_program *p = NULL;
  ls_error e;
  cr_assert_eq(ls_load(buf, len, &p, &e), LS_ERR_VERIFY, "%s", e.msg);
  cr_assert(strstr(e.msg, want), "message lacks '%s': %s", want, e.msg);
  free(buf);
}
static void bad_opcode(ls_prog *g) { g->queues[2].insns[0].op = 999; }
static void bad_dtype(ls_prog *g) { g->queues[2].insns[0].t0 = 77; }
static void bad_stream(ls_prog *g) { g->queues[2].insns[0].dst = 200; }
static void stray_field(ls_prog *g) { g->queues[2].insns[0].stride = 8; }
static void bad_queue(ls_prog *g) { g->queues[1].unit = LS_UNIT_ICU; }
static void dup_queue(ls_prog *g) { g->queues[1].index = 0; }
static void missing_slice(ls_prog *g) { g->queues[3].index = 99; }

Test(verify, corrupt_fields) {
  expect_field_error(bad_opcode, "unknown opcode 999");
  expect_field_error(bad_dtype, "unknown element type 77");
  expect_field_error(bad_stream, "stream 200 does not exist");
  expect_field_error(stray_field, "field stride must be 0");
  expect_field_error(bad_queue, "not a slice kind");
  expect_field_error(dup_queue, "appears twice");
  expect_field_error(missing_slice, "has only 32 mem slices");
}
