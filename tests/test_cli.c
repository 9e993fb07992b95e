/* test_cli.c - the lockstep command as a user meets it: help, exit codes, .npy in and out,
 * traces, and 1,000 corrupted program files per example, each rejected with a message and
 * exit code 1. Runs the built binary (LS_TOOL) in a scratch directory. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npy.h"
#include "support.h"

extern char **environ;

static char scratch[256];

static void make_scratch(void) {
  snprintf(scratch, sizeof scratch, "/tmp/lockstep-cli-%ld", (long)getpid());
  mkdir(scratch, 0700);
}

static const char *path_in(const char *name) {
  static char buf[64][512]; /* a ring: a test holds at most a few paths at once */
  static int k;
  k = (k + 1) % 64;
  snprintf(buf[k], sizeof buf[k], "%s/%s", scratch, name);
  return buf[k];
}

/* Run lockstep with args; returns the exit code; stdout and stderr go to files in scratch. */
static int tool(const char *const *args) {
  const char *argv[32] = {LS_TOOL};
  int n = 1;
  for (; args[n - 1]; n++) argv[n] = args[n - 1];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  char out[512], err[512]; /* not path_in(): its ring holds the caller's paths */
  snprintf(out, sizeof out, "%s/stdout", scratch);
  snprintf(err, sizeof err, "%s/stderr", scratch);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int rc = posix_spawn(&pid, LS_TOOL, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  cr_assert_eq(rc, 0, "cannot start %s", LS_TOOL);
  int status;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status), "lockstep %s died (signal %d)", args[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return WEXITSTATUS(status);
}

static char *slurp_scratch(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", scratch, name);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  fclose(f);
}

static void remove_scratch(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch);
}

TestSuite(cli, .init = make_scratch, .fini = remove_scratch);

Test(cli, every_command_has_help) {
  const char *cmds[] = {"asm", "disasm", "run", "trace", "info"};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
    cr_assert_eq(tool((const char *[]){cmds[i], "--help", NULL}), 0, "%s --help", cmds[i]);
    cr_assert(strstr(slurp_scratch("stdout"), "usage: lockstep"), "%s --help prints a usage line", cmds[i]);
  }
  cr_assert_eq(tool((const char *[]){"--help", NULL}), 0);
  cr_assert_eq(tool((const char *[]){"--version", NULL}), 0);
}

Test(cli, usage_errors_exit_2) {
  cr_assert_eq(tool((const char *[]){"frobnicate", NULL}), 2);
  cr_assert(strstr(slurp_scratch("stderr"), "unknown command 'frobnicate'"));
  cr_assert_eq(tool((const char *[]){"run", NULL}), 2);
  cr_assert_eq(tool((const char *[]){"run", LS_SOURCE_ROOT "/examples/vadd.lsa", "--mode", "turbo", NULL}), 2);
  cr_assert(strstr(slurp_scratch("stderr"), "fast or checked"));
  cr_assert_eq(tool((const char *[]){"run", LS_SOURCE_ROOT "/examples/vadd.lsa", "--threads", "0", NULL}), 2);
  cr_assert_eq(tool((const char *[]){"calibrate", "--rounds", "0", NULL}), 2);
  cr_assert(strstr(slurp_scratch("stderr"), "--rounds takes a number from 1 to 9, not '0'"), "%s", slurp_scratch("stderr"));
  /* an input with no data is a usage error that names the input */
  cr_assert_eq(tool((const char *[]){"run", LS_SOURCE_ROOT "/examples/vadd.lsa", NULL}), 2);
  cr_assert(strstr(slurp_scratch("stderr"), "no data for input 'a'"));
}

Test(cli, bad_files_exit_1_with_the_file_named) {
  cr_assert_eq(tool((const char *[]){"run", "/nonexistent.lsp", "--fill", "zeros", NULL}), 1);
  cr_assert(strstr(slurp_scratch("stderr"), "/nonexistent.lsp"));
  const char *bad = path_in("bad.lsa");
  write_file(bad, ".target host\nmem0:\n @0 frob.f32 e0, [0]\n", 37);
  cr_assert_eq(tool((const char *[]){"asm", bad, NULL}), 1);
  cr_assert(strstr(slurp_scratch("stderr"), "bad.lsa:3:"), "%s", slurp_scratch("stderr"));
}

/* y = a + b through .npy files, checked against values computed here */
Test(cli, run_reads_and_writes_npy) {
  float a[64], b[64];
  for (int i = 0; i < 64; i++) a[i] = (float)i * 0.25f, b[i] = 3.0f - (float)i;
  uint64_t dims[1] = {64};
  char err[256];
  cr_assert_eq(npy_write(path_in("a.npy"), LS_F32, 1, dims, a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(npy_write(path_in("b.npy"), LS_F32, 1, dims, b, err, sizeof err), 0, "%s", err);
  char ia[600], ib[600], oy[600];
  snprintf(ia, sizeof ia, "a=%s", path_in("a.npy"));
  snprintf(ib, sizeof ib, "b=%s", path_in("b.npy"));
  snprintf(oy, sizeof oy, "%s", path_in("y.npy"));
  for (int mode = 0; mode < 2; mode++) {
    cr_assert_eq(tool((const char *[]){"run", LS_SOURCE_ROOT "/examples/vadd.lsa", "--input", ia, "--input", ib, "-o",
                                       oy, "--mode", mode ? "checked" : "fast", NULL}),
                 0, "%s", slurp_scratch("stderr"));
    cr_assert(strstr(slurp_scratch("stdout"), "cycles:    11"), "%s", slurp_scratch("stdout"));
    npy_array y;
    cr_assert_eq(npy_read(oy, &y, err, sizeof err), 0, "%s", err);
    cr_assert_eq(y.dtype, LS_F32);
    cr_assert_eq(y.rank, 1);
    cr_assert_eq(y.dims[0], 64);
    for (int i = 0; i < 64; i++) cr_assert_eq(((float *)y.data)[i], (float)i * 0.25f + 3.0f - (float)i, "y[%d]", i);
    npy_free(&y);
  }
  /* a file of the wrong type is refused, naming what was expected */
  double d[64] = {0};
  cr_assert_eq(npy_write(path_in("d.npy"), LS_F64, 1, dims, d, err, sizeof err), 0);
  snprintf(ia, sizeof ia, "a=%s", path_in("d.npy"));
  cr_assert_eq(tool((const char *[]){"run", LS_SOURCE_ROOT "/examples/vadd.lsa", "--input", ia, "--input", ib, NULL}), 1);
  cr_assert(strstr(slurp_scratch("stderr"), "must be f32 [64], the file holds f64 [64]"), "%s", slurp_scratch("stderr"));
}

Test(cli, asm_disasm_round_trip_and_trace) {
  const char *bin = path_in("mm.lsp"), *txt = path_in("mm.lsa"), *bin2 = path_in("mm2.lsp");
  cr_assert_eq(tool((const char *[]){"asm", LS_SOURCE_ROOT "/examples/matmul_bias_relu.lsa", "-o", bin, NULL}), 0);
  cr_assert(strstr(slurp_scratch("stdout"), "39 cycles"), "%s", slurp_scratch("stdout"));
  cr_assert_eq(tool((const char *[]){"disasm", bin, "-o", txt, NULL}), 0);
  cr_assert_eq(tool((const char *[]){"asm", txt, "-o", bin2, NULL}), 0);
  size_t l1, l2;
  FILE *f1 = fopen(bin, "rb"), *f2 = fopen(bin2, "rb");
  static uint8_t b1[1 << 16], b2[1 << 16];
  l1 = fread(b1, 1, sizeof b1, f1), l2 = fread(b2, 1, sizeof b2, f2);
  fclose(f1), fclose(f2);
  cr_assert_eq(l1, l2);
  cr_assert_eq(memcmp(b1, b2, l1), 0, "disassembled text must assemble to the identical file");
  const char *tr = path_in("t.json");
  cr_assert_eq(tool((const char *[]){"trace", bin, "-o", tr, "--fill", "seq", NULL}), 0, "%s", slurp_scratch("stderr"));
  /* one issue slice per instruction (7) and one stream slice per producer (5) */
  static char json[1 << 16];
  FILE *jf = fopen(tr, "rb");
  cr_assert_not_null(jf);
  json[fread(json, 1, sizeof json - 1, jf)] = '\0';
  fclose(jf);
  int issues = 0, streams = 0;
  for (char *s = json; (s = strstr(s, "\"cat\":\"")); s++) {
    if (strncmp(s + 7, "issue", 5) == 0) issues++;
    if (strncmp(s + 7, "stream", 6) == 0) streams++;
  }
  cr_assert_eq(issues, 7);
  cr_assert_eq(streams, 5);
  cr_assert(strstr(json, "\"cycles\":39"));
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

/* 1,000 corruptions of each example's program file: every one is rejected by 'lockstep
 * run' with exit code 1 and a message, never a crash. */
Test(cli, corrupted_programs_exit_1, .timeout = 600) {
  const char *ex[] = {"vadd", "fma_chain", "matmul_bias_relu", "transpose"};
  for (size_t k = 0; k < 4; k++) {
    char src[512];
    snprintf(src, sizeof src, "%s/examples/%s.lsa", LS_SOURCE_ROOT, ex[k]);
    char *text = t_read_file(src + strlen(LS_SOURCE_ROOT) + 1);
    size_t len;
    uint8_t *img = t_image(text, &len);
    free(text);
    uint8_t *buf = malloc(len + 64);
    const char *bad = path_in("corrupt.lsp");
    setenv("LOCKSTEP_KEEP_CORETYPE", "1", 1); /* 4000 runs: no second start for OpenBLAS's kernels */
    for (int trial = 0; trial < 1000; trial++) {
      memcpy(buf, img, len);
      size_t n = len;
      switch (trial % 3) {
      case 0: buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8)); break;
      case 1: n = rnd() % len; break;
      default: { size_t at = rnd() % len; buf[at] = (uint8_t)(buf[at] + 1 + rnd() % 255); break; }
      }
      write_file(bad, buf, n);
      int rc = tool((const char *[]){"run", bad, "--fill", "zeros", NULL});
      cr_assert_eq(rc, 1, "%s trial %d: exit %d", ex[k], trial, rc);
      cr_assert(strstr(slurp_scratch("stderr"), "error:"), "%s trial %d: no message", ex[k], trial);
    }
    free(buf);
    free(img);
  }
}

/* calibrate writes a profile that bench then uses to predict this host's time */
static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* --rounds 3: every cost is measured three times and the median kept (here: the cost per
 * element of an add, 1 thread, in cache, as each round printed it) */
Test(cli, calibrate_keeps_the_median_of_rounds, .timeout = 600) {
  const char *prof = path_in("calibration3");
  cr_assert_eq(tool((const char *[]){"calibrate", "--quick", "--rounds", "3", "-o", prof, NULL}), 0, "%s",
               slurp_scratch("stderr"));
  const char *out = slurp_scratch("stdout");
  cr_assert(strstr(out, "round 3 of 3") && strstr(out, "each cost the median of 3 rounds"), "%s", out);
  double v[3];
  int n = 0, seen = 0;
  for (const char *q = strstr(out, "  1 thread   alu "); q && n < 3; q = strstr(q + 1, "  1 thread   alu "), seen++)
    if (seen % 2 == 0) v[n++] = strtod(q + strlen("  1 thread   alu "), NULL); /* (the odd ones: streamed) */
  cr_assert_eq(n, 3, "three rounds' in-cache alu costs: %s", out);
  qsort(v, 3, sizeof *v, cmp_double);
  ls_calibration cal;
  ls_error e;
  cr_assert_eq(ls_calibration_load(prof, &cal, &e), LS_OK, "%s", e.msg);
  cr_assert(fabs(cal.model[0].per_unit[LS_COST_ALU] - v[1]) <= 6e-5, "saved %g, the rounds' %g %g %g",
            cal.model[0].per_unit[LS_COST_ALU], v[0], v[1], v[2]);
}

Test(cli, calibrate_then_predict, .timeout = 600) {
  const char *prof = path_in("calibration");
  cr_assert_eq(tool((const char *[]){"calibrate", "--quick", "-o", prof, NULL}), 0, "%s", slurp_scratch("stderr"));
  cr_assert(strstr(slurp_scratch("stdout"), "GFLOP/s"), "%s", slurp_scratch("stdout"));
  ls_calibration cal;
  ls_error e;
  cr_assert_eq(ls_calibration_load(prof, &cal, &e), LS_OK, "%s", e.msg);
  cr_assert_gt(cal.model[0].mm[1], 0.0, "a positive cost per flop");
  cr_assert_gt(cal.model[0].per_unit[LS_COST_ALU], 0.0, "a positive cost per element");
  cr_assert_gt(cal.cold[0].mm[1], 0.0, "a positive cost per flop with data streamed from memory");
  cr_assert(cal.cache_bytes > 0 && cal.cold_bytes > cal.cache_bytes, "cache sizes %g, %g", cal.cache_bytes, cal.cold_bytes);
  cr_assert_gt(cal.model[0].run + cal.model[0].run_byte, 0.0, "a cost for gathers by runs");
  cr_assert_gt(cal.model[0].chain, 0.0, "a cost for alu instructions in chains");
  cr_assert_gt(cal.model[0].mm_few[1], 0.0, "a cost per multiply-add for MMs of a few rows");
  setenv("LOCKSTEP_CALIBRATION", prof, 1);
  cr_assert_eq(tool((const char *[]){"bench", LS_SOURCE_ROOT "/examples/matmul_bias_relu.lsa", "--runs", "50", NULL}), 0,
               "%s", slurp_scratch("stderr"));
  cr_assert(strstr(slurp_scratch("stdout"), "predicted") && strstr(slurp_scratch("stdout"), "before the run"), "%s",
            slurp_scratch("stdout"));
  /* --profile times every step: the MM's shape and its predicted time are listed */
  cr_assert_eq(tool((const char *[]){"bench", LS_SOURCE_ROOT "/examples/matmul_bias_relu.lsa", "--runs", "5", "--profile", "20",
                                     "--top", "0", NULL}),
               0, "%s", slurp_scratch("stderr"));
  const char *out = slurp_scratch("stdout");
  cr_assert(strstr(out, "3 steps, 20 runs") && strstr(out, "the 3 slowest steps") && strstr(out, "mm 16x16"), "%s", out);
  cr_assert_null(strstr(strstr(out, "the 3 slowest"), "  -  "), "a step without a prediction: %s", out);
  cr_assert_eq(tool((const char *[]){"bench", LS_SOURCE_ROOT "/examples/matmul_bias_relu.lsa", "--profile", "0", NULL}), 2);
  cr_assert(strstr(slurp_scratch("stderr"), "--profile takes a whole number of runs from 1"), "%s", slurp_scratch("stderr"));
  cr_assert_eq(tool((const char *[]){"bench", LS_SOURCE_ROOT "/examples/matmul_bias_relu.lsa", "--runs", "0", NULL}), 2);
  cr_assert(strstr(slurp_scratch("stderr"), "--runs takes a whole number from 1 to"), "%s", slurp_scratch("stderr"));
  /* a damaged profile is refused with its line named */
  write_file(prof, "t1.per_insn = fast\n", 19);
  cr_assert_eq(ls_calibration_load(prof, &cal, &e), LS_ERR_FORMAT);
  cr_assert(strstr(e.msg, ":1:"), "%s", e.msg);
}
