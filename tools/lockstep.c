/* lockstep.c - the command-line tool: the one place where assembler, runtime and file
 * formats meet.
 *
 *   lockstep compile model.onnx -o m.lsp  compile an ONNX model; print what it costs
 *   lockstep asm prog.lsa -o prog.lsp     assemble and verify
 *   lockstep disasm prog.lsp              program file back to text
 *   lockstep run prog.lsp --input a=a.npy run it; cycles, predicted and measured time
 *   lockstep trace prog.lsp -o t.json     a cycle-level Chrome/Perfetto trace
 *   lockstep info prog.lsp                target, tensors, memory, cycles
 *
 * Exit codes: 0 success, 1 a bad program or input file (the message says which and why),
 * 2 a usage error. */
#define _DEFAULT_SOURCE /* (madvise's MADV_HUGEPAGE, a Linux hint: see new_arena) */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#if defined(__unix__)
#include <unistd.h>
#endif

#include "asm.h"
#include "lockstep.h"
#include "ls_config.h"
#include "npy.h"
#if LS_HAVE_COMPILER
#include "compile.h"
#endif

#define EXIT_BAD 1
#define EXIT_USAGE 2

static const char *prog_name = "lockstep";

int cmd_calibrate(int argc, char **argv); /* calibrate.c */

/* this host's calibration, if there is one (loaded once) */
static const ls_calibration *host_calibration(void) {
  static ls_calibration cal;
  static int state; /* 0 not tried, 1 loaded, -1 none */
  if (state == 0) {
    ls_error e;
    state = ls_calibration_load(ls_calibration_path(), &cal, &e) == LS_OK ? 1 : -1;
  }
  return state == 1 ? &cal : NULL;
}

/* "1234.5 us on this host (calibrated)" or a note that there is no calibration */
static void print_host_prediction(const char *label, const ls_program *p, int threads) {
  const ls_calibration *cal = host_calibration();
  if (!cal) {
    printf("%shost: no calibration (run 'lockstep calibrate')\n", label);
    return;
  }
  int t = threads;
#if LS_HAVE_OPENMP
  if (t <= 0) t = 2;
#endif
  printf("%s%.3f us on this host (calibrated, %d thread%s)\n", label, ls_predict_us(p, cal, t), t, t == 1 ? "" : "s");
}

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
  fprintf(stderr, "%s %s: ", prog_name, cmd);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry '%s %s --help'.\n", prog_name, cmd);
  return EXIT_USAGE;
}

/* ---- reading programs: binary .lsp or assembly text -------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) break;
    if (n == cap) {
      uint8_t *nb = cap < (SIZE_MAX / 2) ? realloc(buf, cap * 2) : NULL;
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb, cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  int bad = ferror(f);
  if (f != stdin) fclose(f);
  if (!buf || bad) {
    free(buf);
    snprintf(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
    return NULL;
  }
  *len = n;
  return buf;
}

/* ---- compiling ONNX models ------------------------------------------------------------------ */

typedef struct compile_args {
  ls_target target;
  int target_set;
  const char *bind_name[16];
  const char *bind_path[16];
  int n_binds;
} compile_args;

static compile_args g_compile; /* --target / --set / --bind, for commands that take a model */

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Parse one compile option at argv[*i]; 1 if it was one, 0 if not, -1 on a usage error. */
static int compile_option(const char *cmd, int argc, char **argv, int *i) {
  const char *o = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
  char err[512];
  if (!g_compile.target_set) ls_target_preset("host", &g_compile.target), g_compile.target_set = 1;
  if (strcmp(o, "--target") == 0) {
    if (!v) return usage_error(cmd, "%s needs host, tsp or a target file", o), -1;
    if (ls_target_preset(v, &g_compile.target) != 0 && ls_target_load_file(v, &g_compile.target, err, sizeof err) != 0) {
      fprintf(stderr, "%s: error: %s\n", prog_name, err);
      return -1;
    }
  } else if (strcmp(o, "--set") == 0) {
    const char *eq = v ? strchr(v, '=') : NULL;
    if (!eq) return usage_error(cmd, "%s needs KEY=VALUE (e.g. lanes=128)", o), -1;
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - v), v);
    if (ls_target_set(&g_compile.target, key, eq + 1, err, sizeof err) != 0 ||
        ls_target_check(&g_compile.target, err, sizeof err) != 0) {
      fprintf(stderr, "%s: error: --set %s: %s\n", prog_name, v, err);
      return -1;
    }
  } else if (strcmp(o, "--bind") == 0) {
    const char *eq = v ? strchr(v, '=') : NULL;
    if (!eq || eq == v || g_compile.n_binds == 16) return usage_error(cmd, "%s needs NAME=FILE.npy", o), -1;
    static char names[16][LS_MAX_NAME];
    snprintf(names[g_compile.n_binds], LS_MAX_NAME, "%.*s", (int)(eq - v), v);
    g_compile.bind_name[g_compile.n_binds] = names[g_compile.n_binds];
    g_compile.bind_path[g_compile.n_binds++] = eq + 1;
  } else {
    return 0;
  }
  (*i)++;
  return 1;
}

#if LS_HAVE_COMPILER
/* Compile a model with the collected options. Prints errors; 0 on success. */
static int compile_model(const char *path, ls_prog *out, cg_report *rep) {
  if (!g_compile.target_set) ls_target_preset("host", &g_compile.target), g_compile.target_set = 1;
  cg_binding binds[16];
  npy_array arrs[16];
  char err[1024];
  int rc = 0;
  for (int b = 0; b < g_compile.n_binds; b++) {
    if (npy_read(g_compile.bind_path[b], &arrs[b], err, sizeof err)) {
      fprintf(stderr, "%s: error: %s\n", prog_name, err);
      for (int k = 0; k < b; k++) npy_free(&arrs[k]);
      return -1;
    }
    binds[b] = (cg_binding){g_compile.bind_name[b], arrs[b].dtype, arrs[b].rank, {0}, arrs[b].data};
    memcpy(binds[b].dims, arrs[b].dims, sizeof binds[b].dims);
  }
  cg_options o = {g_compile.target, binds, g_compile.n_binds};
  if (cg_compile_file(path, &o, out, rep, err, sizeof err) != 0) {
    fprintf(stderr, "%s: error: %s\n", prog_name, err);
    rc = -1;
  }
  for (int b = 0; b < g_compile.n_binds; b++) npy_free(&arrs[b]);
  return rc;
}
#endif

/* Load a program file or assembly text into a verified program. Prints the error. */
static ls_program *load_program(const char *path) {
  if (ends_with(path, ".onnx")) {
#if LS_HAVE_COMPILER
    ls_prog g;
    cg_report rep;
    if (compile_model(path, &g, &rep)) return NULL;
    uint8_t *img;
    size_t ilen;
    ls_program *p = NULL;
    ls_error e;
    if (ls_prog_encode(&g, &img, &ilen) == 0) {
      if (ls_load(img, ilen, &p, &e) != LS_OK)
        fprintf(stderr, "%s: error: %s: the compiled program does not verify (a compiler bug): %s\n", prog_name, path, e.msg);
      free(img);
    }
    ls_prog_free(&g);
    return p;
#else
    fprintf(stderr, "%s: error: %s: this build has no ONNX compiler (it needs protobuf-c and libonnx-dev)\n", prog_name, path);
    return NULL;
#endif
  }
  char err[600];
  size_t len;
  uint8_t *buf = slurp(path, &len, err, sizeof err);
  if (!buf) {
    fprintf(stderr, "%s: error: %s\n", prog_name, err);
    return NULL;
  }
  ls_program *p = NULL;
  ls_error e;
  if (len >= 4 && memcmp(buf, LS_FILE_MAGIC, 4) == 0) {
    if (ls_load(buf, len, &p, &e) != LS_OK) fprintf(stderr, "%s: error: %s: %s\n", prog_name, path, e.msg);
  } else {
    ls_prog g;
    uint8_t *img;
    size_t ilen;
    if (ls_assemble((const char *)buf, len, path, &g, err, sizeof err) != 0) {
      fprintf(stderr, "%s: error: %s\n", prog_name, err);
    } else if (ls_prog_encode(&g, &img, &ilen) != 0) {
      fprintf(stderr, "%s: error: out of memory\n", prog_name);
      ls_prog_free(&g);
    } else {
      ls_prog_free(&g);
      if (ls_load(img, ilen, &p, &e) != LS_OK) fprintf(stderr, "%s: error: %s: %s\n", prog_name, path, e.msg);
      free(img);
    }
  }
  free(buf);
  return p;
}

static void shape_str(const ls_io *io, char *buf, size_t len) {
  size_t k = (size_t)snprintf(buf, len, "%s [", ls_dtype_name((ls_dtype)io->dtype));
  for (unsigned d = 0; d < io->rank && k < len; d++)
    k += (size_t)snprintf(buf + k, len - k, "%s%" PRIu64, d ? "," : "", io->dims[d]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

static int has_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

/* ---- compile ------------------------------------------------------------------------------ */

static const char compile_help[] =
    "usage: lockstep compile MODEL.onnx [-o PROGRAM.lsp] [--target host|tsp|FILE] [--set KEY=VALUE]...\n"
    "                        [--bind NAME=FILE.npy]... [--emit-asm PROGRAM.lsa]\n"
    "\n"
    "Compile an ONNX model into a program and print what it costs: operators, instructions,\n"
    "cycles, the time at the target's clock, SRAM and arena bytes, and how busy each unit is.\n"
    "The cycle count is exact: every run of the program takes exactly that many cycles.\n"
    "\n"
    "  -o FILE              write the program here (otherwise only the summary is printed)\n"
    "  --target T           host (default: shaped for this CPU), tsp (the ISCA 2020 chip), or a\n"
    "                       target file of 'key = value' lines (see docs/ISA.md)\n"
    "  --set KEY=VALUE      change one target field: lanes, mem, vxm, mxm, sxm, streams, sram,\n"
    "                       clock, lat.CLASS\n"
    "  --bind NAME=FILE.npy fix an input's value (and shape) at compile time\n"
    "  --emit-asm FILE      also write the program as assembly text\n"
    "  --help               show this help\n";

static int cmd_compile(int argc, char **argv) {
  if (has_help(argc, argv)) return fputs(compile_help, stdout), 0;
  const char *in = NULL, *out = NULL, *asm_out = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--emit-asm") == 0) {
      if (i + 1 == argc) return usage_error("compile", "%s needs a file name", argv[i]);
      if (argv[i][1] == 'o') out = argv[++i];
      else asm_out = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1]) {
      int k = compile_option("compile", argc, argv, &i);
      if (k < 0) return EXIT_USAGE;
      if (k == 0) return usage_error("compile", "unknown option '%s'", argv[i]);
    } else if (in) return usage_error("compile", "one model at a time (got '%s' too)", argv[i]);
    else in = argv[i];
  }
  if (!in) return usage_error("compile", "%sname the model to compile", "");
#if !LS_HAVE_COMPILER
  (void)out, (void)asm_out;
  fprintf(stderr, "%s: error: this build has no ONNX compiler (it needs protobuf-c and libonnx-dev)\n", prog_name);
  return EXIT_BAD;
#else
  ls_prog g;
  cg_report r;
  if (compile_model(in, &g, &r)) return EXIT_BAD;
  uint8_t *img;
  size_t ilen;
  if (ls_prog_encode(&g, &img, &ilen)) return ls_prog_free(&g), fprintf(stderr, "%s: out of memory\n", prog_name), EXIT_BAD;
  ls_program *p;
  ls_error e;
  if (ls_load(img, ilen, &p, &e) != LS_OK) {
    fprintf(stderr, "%s: error: %s: the compiled program does not verify (a compiler bug): %s\n", prog_name, in, e.msg);
    free(img);
    ls_prog_free(&g);
    return EXIT_BAD;
  }
  const ls_target *t = &g.target;
  printf("model:        %s (%d nodes; %d to lower after folding and fusion)\n", in, r.nodes, r.live_nodes);
  printf("operators:    %s\n", r.ops);
  printf("target:       %s: %u lanes, %u mem / %u vxm / %u mxm / %u sxm, %u MHz\n", t->name, t->lanes,
         t->slices[LS_UNIT_MEM], t->slices[LS_UNIT_VXM], t->slices[LS_UNIT_MXM], t->slices[LS_UNIT_SXM], t->clock_mhz);
  printf("instructions: %" PRIu64 " in %" PRIu64 " groups\n", r.insns, r.groups);
  printf("cycles:       %" PRIu64 " (exact: every run takes this many)\n", ls_cycles(p));
  printf("predicted:    %.3f ms at %u MHz\n", (double)ls_cycles(p) / t->clock_mhz / 1000.0, t->clock_mhz);
  print_host_prediction("predicted:    ", p, 1);
  printf("sram:         %" PRIu64 " bytes (%" PRIu64 " constants, %" PRIu64 " activations; at most %" PRIu64
         " live at once) of %" PRIu64 "\n",
         r.mem_bytes, r.const_bytes, r.mem_bytes - r.const_bytes, r.peak_live, t->sram_bytes);
  printf("arena:        %zu bytes (what a caller provides to run it)\n", ls_arena_bytes(p));
  printf("utilisation:  mem %.1f%%, vxm %.1f%%, mxm %.1f%%, sxm %.1f%%\n", 100 * r.busy[LS_UNIT_MEM],
         100 * r.busy[LS_UNIT_VXM], 100 * r.busy[LS_UNIT_MXM], 100 * r.busy[LS_UNIT_SXM]);
  printf("compile time: %.3f s (import %.3f, infer %.3f, lower %.3f, schedule %.3f, memory %.3f, emit %.3f)\n",
         r.seconds[7], r.seconds[0], r.seconds[1], r.seconds[3], r.seconds[4], r.seconds[5], r.seconds[6]);
  ls_free(p);
  int rc = 0;
  if (out) {
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(img, 1, ilen, f) != ilen || fclose(f) != 0) {
      fprintf(stderr, "%s: error: %s: cannot write: %s\n", prog_name, out, strerror(errno));
      rc = EXIT_BAD;
    } else {
      printf("wrote %s (%zu bytes)\n", out, ilen);
    }
  }
  if (asm_out && !rc) {
    FILE *f = fopen(asm_out, "w");
    if (!f || ls_disassemble(&g, f) != 0 || fclose(f) != 0) {
      fprintf(stderr, "%s: error: %s: cannot write\n", prog_name, asm_out);
      rc = EXIT_BAD;
    } else {
      printf("wrote %s\n", asm_out);
    }
  }
  free(img);
  ls_prog_free(&g);
  return rc;
#endif
}

/* ---- asm --------------------------------------------------------------------------------- */

static const char asm_help[] =
    "usage: lockstep asm PROGRAM.lsa [-o PROGRAM.lsp]\n"
    "\n"
    "Assemble a text program into a program file, verify it as the runtime will, and print\n"
    "its instruction count, cycles and memory. Without -o nothing is written.\n"
    "\n"
    "  -o FILE   write the binary program here\n"
    "  --help    show this help\n"
    "\n"
    "The assembly language is described in docs/ISA.md; examples/*.lsa are small programs.\n";

static int cmd_asm(int argc, char **argv) {
  if (has_help(argc, argv)) return fputs(asm_help, stdout), 0;
  const char *in = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0) {
      if (++i == argc) return usage_error("asm", "%s needs a file name", "-o");
      out = argv[i];
    } else if (argv[i][0] == '-' && argv[i][1]) return usage_error("asm", "unknown option '%s'", argv[i]);
    else if (in) return usage_error("asm", "one program at a time (got '%s' too)", argv[i]);
    else in = argv[i];
  }
  if (!in) return usage_error("asm", "%sname the program to assemble", "");
  char err[600];
  size_t len;
  uint8_t *src = slurp(in, &len, err, sizeof err);
  if (!src) return fprintf(stderr, "%s: error: %s\n", prog_name, err), EXIT_BAD;
  ls_prog g;
  int rc = ls_assemble((const char *)src, len, in, &g, err, sizeof err);
  free(src);
  if (rc) return fprintf(stderr, "%s: error: %s\n", prog_name, err), EXIT_BAD;
  uint8_t *img;
  size_t ilen;
  if (ls_prog_encode(&g, &img, &ilen)) return ls_prog_free(&g), fprintf(stderr, "%s: out of memory\n", prog_name), EXIT_BAD;
  ls_prog_stats s;
  ls_prog_stats_compute(&g, &s);
  ls_prog_free(&g);
  ls_program *p;
  ls_error e;
  if (ls_load(img, ilen, &p, &e) != LS_OK) {
    fprintf(stderr, "%s: error: %s: %s\n", prog_name, in, e.msg);
    free(img);
    return EXIT_BAD;
  }
  printf("%s: %" PRIu64 " instructions, %" PRIu64 " cycles, %zu arena bytes\n", in, s.insns, s.cycles, ls_arena_bytes(p));
  ls_free(p);
  if (out) {
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(img, 1, ilen, f) != ilen || fclose(f) != 0) {
      fprintf(stderr, "%s: error: %s: cannot write: %s\n", prog_name, out, strerror(errno));
      free(img);
      return EXIT_BAD;
    }
    printf("wrote %s (%zu bytes)\n", out, ilen);
  }
  free(img);
  return 0;
}

/* ---- disasm ------------------------------------------------------------------------------ */

static const char disasm_help[] =
    "usage: lockstep disasm PROGRAM.lsp [-o PROGRAM.lsa]\n"
    "\n"
    "Print a program file as assembly text. Assembling that text gives back the identical\n"
    "file, byte for byte. The program is verified first; use --no-verify to print a program\n"
    "the runtime would reject (to see what is wrong with it).\n"
    "\n"
    "  -o FILE      write the text here instead of standard output\n"
    "  --no-verify  do not run the verifier\n"
    "  --help       show this help\n";

static int cmd_disasm(int argc, char **argv) {
  if (has_help(argc, argv)) return fputs(disasm_help, stdout), 0;
  const char *in = NULL, *out = NULL;
  int verify = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0) {
      if (++i == argc) return usage_error("disasm", "%s needs a file name", "-o");
      out = argv[i];
    } else if (strcmp(argv[i], "--no-verify") == 0) verify = 0;
    else if (argv[i][0] == '-' && argv[i][1]) return usage_error("disasm", "unknown option '%s'", argv[i]);
    else if (in) return usage_error("disasm", "one program at a time (got '%s' too)", argv[i]);
    else in = argv[i];
  }
  if (!in) return usage_error("disasm", "%sname the program file", "");
  char err[600];
  size_t len;
  uint8_t *buf = slurp(in, &len, err, sizeof err);
  if (!buf) return fprintf(stderr, "%s: error: %s\n", prog_name, err), EXIT_BAD;
  ls_prog g;
  if (ls_prog_decode(buf, len, &g, err, sizeof err)) {
    free(buf);
    return fprintf(stderr, "%s: error: %s: %s\n", prog_name, in, err), EXIT_BAD;
  }
  if (verify) {
    ls_program *p;
    ls_error e;
    if (ls_load(buf, len, &p, &e) != LS_OK) {
      fprintf(stderr, "%s: error: %s: %s\n", prog_name, in, e.msg);
      free(buf);
      ls_prog_free(&g);
      return EXIT_BAD;
    }
    ls_free(p);
  }
  free(buf);
  FILE *f = out ? fopen(out, "w") : stdout;
  if (!f) {
    ls_prog_free(&g);
    return fprintf(stderr, "%s: error: %s: cannot write: %s\n", prog_name, out, strerror(errno)), EXIT_BAD;
  }
  int rc = ls_disassemble(&g, f);
  ls_prog_free(&g);
  if (out && fclose(f) != 0) rc = -1;
  if (rc) return fprintf(stderr, "%s: error: writing the text failed\n", prog_name), EXIT_BAD;
  return 0;
}

/* ---- inputs and outputs -------------------------------------------------------------------- */

typedef struct binding {
  const char *name; /* NULL: the only input / output */
  const char *path;
} binding;

typedef struct run_args {
  const char *prog;
  binding in[64], out[64];
  int n_in, n_out;
  const char *fill;
  ls_mode mode;
  int threads, runs;
  const char *trace_out;
} run_args;

static int parse_binding(const char *arg, binding *b) {
  const char *eq = strchr(arg, '=');
  b->name = NULL;
  b->path = arg;
  if (eq) {
    static char names[128][LS_MAX_NAME];
    static int used;
    size_t n = (size_t)(eq - arg);
    if (n == 0 || n >= LS_MAX_NAME || used == 128) return -1;
    memcpy(names[used], arg, n);
    names[used][n] = '\0';
    b->name = names[used++];
    b->path = eq + 1;
  }
  return *b->path ? 0 : -1;
}

/* Find the tensor a binding names; with no name, the only input (or output). */
static int bound_tensor(const ls_program *p, const binding *b, int outputs) {
  if (b->name) {
    int i = ls_tensor_find(p, b->name);
    if (i < 0 || ls_tensor(p, i)->is_output != outputs) return -1;
    return i;
  }
  int found = -1;
  for (int i = 0; i < ls_tensor_count(p); i++)
    if (ls_tensor(p, i)->is_output == outputs) {
      if (found >= 0) return -2;
      found = i;
    }
  return found;
}

static void list_tensors(const ls_program *p, int outputs) {
  char sh[128];
  for (int i = 0; i < ls_tensor_count(p); i++) {
    const ls_io *io = ls_tensor(p, i);
    if (io->is_output != outputs) continue;
    shape_str(io, sh, sizeof sh);
    fprintf(stderr, "  %s %s\n", io->name, sh);
  }
}

static void fill_tensor(const ls_io *io, void *dst, const char *how) {
  uint64_t n = ls_io_elems(io);
  size_t sz = ls_dtype_size((ls_dtype)io->dtype);
  uint32_t s = 0x2545f491u;
  for (uint64_t k = 0; k < n; k++) {
    double v = 0;
    if (strcmp(how, "seq") == 0) v = (double)(k % 251);
    else if (strcmp(how, "random") == 0) s = s * 1664525u + 1013904223u, v = (double)(s >> 8) / 16777216.0 * 2 - 1;
    uint8_t *e = (uint8_t *)dst + k * sz;
    switch ((ls_dtype)io->dtype) {
    case LS_F32: { float f = (float)v; memcpy(e, &f, 4); break; }
    case LS_F64: memcpy(e, &v, 8); break;
    case LS_F16: { uint16_t h = ls_f32_to_f16((float)v); memcpy(e, &h, 2); break; }
    case LS_BF16: { uint16_t h = ls_f32_to_bf16((float)v); memcpy(e, &h, 2); break; }
    case LS_BOOL: e[0] = v > 0; break;
    default: { int64_t iv = strcmp(how, "random") == 0 ? (int64_t)(v * 100) : (int64_t)v;
      for (size_t b = 0; b < sz; b++) e[b] = (uint8_t)((uint64_t)iv >> (8 * b));
      break; }
    }
  }
}

/* Put every input in place: from a file, or filled. Returns 0 or an exit code. */
static int load_inputs(const ls_program *p, void *arena, const run_args *a) {
  char err[600], sh[128], sh2[128];
  int given[256] = {0};
  for (int k = 0; k < a->n_in; k++) {
    int i = bound_tensor(p, &a->in[k], 0);
    if (i < 0) {
      if (i == -2) fprintf(stderr, "%s: error: the program has several inputs: name them, --input NAME=FILE.npy\n", prog_name);
      else fprintf(stderr, "%s: error: the program has no input '%s'; its inputs are:\n", prog_name, a->in[k].name ? a->in[k].name : "?");
      list_tensors(p, 0);
      return EXIT_USAGE;
    }
    const ls_io *io = ls_tensor(p, i);
    npy_array arr;
    if (npy_read(a->in[k].path, &arr, err, sizeof err)) return fprintf(stderr, "%s: error: %s\n", prog_name, err), EXIT_BAD;
    int same = arr.dtype == io->dtype && (unsigned)arr.rank == io->rank;
    for (int d = 0; same && d < arr.rank; d++) same = arr.dims[d] == io->dims[d];
    if (!same) {
      ls_io got = *io;
      got.dtype = (uint8_t)arr.dtype, got.rank = (uint8_t)arr.rank;
      memcpy(got.dims, arr.dims, sizeof got.dims);
      shape_str(io, sh, sizeof sh);
      shape_str(&got, sh2, sizeof sh2);
      fprintf(stderr, "%s: error: %s: input '%s' must be %s, the file holds %s\n", prog_name, a->in[k].path, io->name, sh, sh2);
      npy_free(&arr);
      return EXIT_BAD;
    }
    memcpy(ls_tensor_data(p, arena, i), arr.data, arr.bytes);
    npy_free(&arr);
    if (i < 256) given[i] = 1;
  }
  for (int i = 0; i < ls_tensor_count(p) && i < 256; i++) {
    const ls_io *io = ls_tensor(p, i);
    if (io->is_output || given[i]) continue;
    if (!a->fill) {
      shape_str(io, sh, sizeof sh);
      fprintf(stderr, "%s: error: no data for input '%s' (%s): give --input %s=FILE.npy, or --fill zeros|seq|random\n",
              prog_name, io->name, sh, io->name);
      return EXIT_USAGE;
    }
    fill_tensor(io, ls_tensor_data(p, arena, i), a->fill);
  }
  return 0;
}

static int save_outputs(const ls_program *p, void *arena, const run_args *a) {
  char err[600];
  for (int k = 0; k < a->n_out; k++) {
    int i = bound_tensor(p, &a->out[k], 1);
    if (i < 0) {
      if (i == -2) fprintf(stderr, "%s: error: the program has several outputs: name them, -o NAME=FILE.npy\n", prog_name);
      else fprintf(stderr, "%s: error: the program has no output '%s'; its outputs are:\n", prog_name, a->out[k].name ? a->out[k].name : "?");
      list_tensors(p, 1);
      return EXIT_USAGE;
    }
    const ls_io *io = ls_tensor(p, i);
    if (npy_write(a->out[k].path, (ls_dtype)io->dtype, io->rank, io->dims, ls_tensor_data(p, arena, i), err, sizeof err))
      return fprintf(stderr, "%s: error: %s\n", prog_name, err), EXIT_BAD;
  }
  return 0;
}

static void print_outputs(const ls_program *p, void *arena) {
  char sh[128];
  for (int i = 0; i < ls_tensor_count(p); i++) {
    const ls_io *io = ls_tensor(p, i);
    if (!io->is_output) continue;
    shape_str(io, sh, sizeof sh);
    printf("output %s %s:", io->name, sh);
    uint64_t n = ls_io_elems(io), show = n < 8 ? n : 8;
    const uint8_t *d = ls_tensor_data(p, arena, i);
    size_t sz = ls_dtype_size((ls_dtype)io->dtype);
    for (uint64_t k = 0; k < show; k++) {
      const uint8_t *e = d + k * sz;
      switch ((ls_dtype)io->dtype) {
      case LS_F32: { float f; memcpy(&f, e, 4); printf(" %.6g", (double)f); break; }
      case LS_F64: { double f; memcpy(&f, e, 8); printf(" %.6g", f); break; }
      case LS_F16: { uint16_t h; memcpy(&h, e, 2); printf(" %.4g", (double)ls_f16_to_f32(h)); break; }
      case LS_BF16: { uint16_t h; memcpy(&h, e, 2); printf(" %.4g", (double)ls_bf16_to_f32(h)); break; }
      case LS_I8: printf(" %d", (int8_t)e[0]); break;
      case LS_U8: case LS_BOOL: printf(" %u", e[0]); break;
      case LS_I16: { int16_t v; memcpy(&v, e, 2); printf(" %d", v); break; }
      case LS_U16: { uint16_t v; memcpy(&v, e, 2); printf(" %u", v); break; }
      case LS_I32: { int32_t v; memcpy(&v, e, 4); printf(" %" PRId32, v); break; }
      case LS_U32: { uint32_t v; memcpy(&v, e, 4); printf(" %" PRIu32, v); break; }
      case LS_I64: { int64_t v; memcpy(&v, e, 8); printf(" %" PRId64, v); break; }
      case LS_U64: { uint64_t v; memcpy(&v, e, 8); printf(" %" PRIu64, v); break; }
      case LS_DTYPE_COUNT: break;
      }
    }
    printf("%s\n", n > show ? " ..." : "");
  }
}

/* ---- run and trace ------------------------------------------------------------------------- */

static int parse_run_args(const char *cmd, int argc, char **argv, run_args *a) {
  memset(a, 0, sizeof *a);
  a->runs = 1;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "--input") == 0 || strcmp(o, "-i") == 0) {
      if (!v || a->n_in == 64 || parse_binding(v, &a->in[a->n_in++])) return usage_error(cmd, "%s needs [NAME=]FILE.npy", o);
      i++;
    } else if (strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) {
      if (!v) return usage_error(cmd, "%s needs a file name", o);
      if (strcmp(cmd, "trace") == 0) a->trace_out = v;
      else if (a->n_out == 64 || parse_binding(v, &a->out[a->n_out++])) return usage_error(cmd, "%s needs [NAME=]FILE.npy", o);
      i++;
    } else if (strcmp(o, "--fill") == 0) {
      if (!v || (strcmp(v, "zeros") && strcmp(v, "seq") && strcmp(v, "random")))
        return usage_error(cmd, "%s takes zeros, seq or random", o);
      a->fill = v, i++;
    } else if (strcmp(o, "--mode") == 0) {
      if (!v || (strcmp(v, "fast") && strcmp(v, "checked"))) return usage_error(cmd, "%s takes fast or checked", o);
      a->mode = strcmp(v, "checked") == 0 ? LS_MODE_CHECKED : LS_MODE_FAST, i++;
    } else if (strcmp(o, "--threads") == 0 || strcmp(o, "--runs") == 0) {
      char *end;
      long n = v ? strtol(v, &end, 10) : 0;
      if (!v || *end || n < 1 || n > 1000000) return usage_error(cmd, "%s takes a positive whole number", o);
      if (o[2] == 't') a->threads = (int)n;
      else a->runs = (int)n;
      i++;
    } else if (o[0] == '-' && o[1]) {
      int k = compile_option(cmd, argc, argv, &i);
      if (k < 0) return EXIT_USAGE;
      if (k == 0) return usage_error(cmd, "unknown option '%s'", o);
    } else if (a->prog) return usage_error(cmd, "one program at a time (got '%s' too)", o);
    else a->prog = o;
  }
  if (!a->prog) return usage_error(cmd, "%sname the program to run", "");
  return 0;
}

static const char run_help[] =
    "usage: lockstep run PROGRAM [--input [NAME=]FILE.npy]... [-o [NAME=]FILE.npy]...\n"
    "                    [--fill zeros|seq|random] [--mode fast|checked] [--threads N] [--runs N]\n"
    "\n"
    "Run a program (a .lsp file, assembly text, or an ONNX model, compiled first) and print\n"
    "its cycle count, the time the target would take at its clock, and the time this host took.\n"
    "\n"
    "  -i, --input [NAME=]FILE.npy  data for an input (NAME may be left out if there is one)\n"
    "  -o, --output [NAME=]FILE.npy save an output (without -o, the first values are printed)\n"
    "  --fill zeros|seq|random      fill inputs not given with --input\n"
    "  --mode fast|checked          fast (default) or checked: steps the cycle model and\n"
    "                               checks every stream hand-off\n"
    "  --threads N                  fast-mode threads (default: all cores)\n"
    "  --runs N                     run N times; prints the median and whether all outputs\n"
    "                               were bit-identical\n"
    "  --target, --set, --bind      for an .onnx model: as for 'lockstep compile'\n"
    "  --help                       show this help\n";

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static uint64_t hash_outputs(const ls_program *p, void *arena) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (int i = 0; i < ls_tensor_count(p); i++) {
    const ls_io *io = ls_tensor(p, i);
    if (!io->is_output) continue;
    const uint8_t *d = ls_tensor_data(p, arena, i);
    const uint64_t n = ls_io_bytes(io);
    for (uint64_t k = 0; k < n; k++) h = (h ^ d[k]) * 1099511628211ull;
  }
  return h;
}

/* The caller's arena. A big one (MobileNetV2's 37 MB) is aligned to 2 MiB and asked to be
 * backed by huge pages where the kernel has them on request (transparent huge pages in
 * "madvise" mode, as on these machines): a run that walks tens of megabytes then misses in
 * the TLB far less often. */
#define HUGE_PAGE ((size_t)2 << 20)
static void *new_arena(const ls_program *p, size_t *bytes) {
  *bytes = ls_arena_bytes(p);
  const size_t align = *bytes >= 2 * HUGE_PAGE ? HUGE_PAGE : LS_ARENA_ALIGN;
  size_t rounded = (*bytes + align - 1) / align * align;
  void *arena = aligned_alloc(align, rounded ? rounded : align);
#if defined(MADV_HUGEPAGE)
  if (arena && align == HUGE_PAGE) (void)madvise(arena, rounded, MADV_HUGEPAGE); /* (a hint: no matter if refused) */
#endif
  ls_error e;
  if (!arena || ls_arena_init(p, arena, *bytes, &e) != LS_OK) {
    fprintf(stderr, "%s: error: cannot allocate a %zu-byte arena\n", prog_name, *bytes);
    free(arena);
    return NULL;
  }
  return arena;
}

static int cmd_run(int argc, char **argv) {
  if (has_help(argc, argv)) return fputs(run_help, stdout), 0;
  run_args a;
  int rc = parse_run_args("run", argc, argv, &a);
  if (rc) return rc;
  ls_program *p = load_program(a.prog);
  if (!p) return EXIT_BAD;
  size_t bytes;
  void *arena = new_arena(p, &bytes);
  if (!arena) return ls_free(p), EXIT_BAD;
  if ((rc = load_inputs(p, arena, &a))) goto out;
  double *times = malloc(sizeof *times * (size_t)a.runs);
  uint64_t first_hash = 0;
  int identical = 1;
  ls_run_opts o = {a.mode, a.threads, NULL, NULL, NULL, NULL, 0};
  ls_run_info info = {0};
  for (int r = 0; r < a.runs && times; r++) {
    ls_error e;
    double t0 = now_us();
    ls_status st = ls_run(p, arena, bytes, &o, &info, &e);
    times[r] = now_us() - t0;
    if (st != LS_OK) {
      fprintf(stderr, "%s: error: %s: %s\n", prog_name, a.prog, e.msg);
      rc = EXIT_BAD;
      free(times);
      goto out;
    }
    uint64_t h = hash_outputs(p, arena);
    if (r == 0) first_hash = h;
    else identical &= h == first_hash;
  }
  if (!times) {
    rc = EXIT_BAD;
    goto out;
  }
  qsort(times, (size_t)a.runs, sizeof *times, cmp_double);
  const ls_target *t = &ls_program_image(p)->target;
  printf("program:   %s (target %s, %s mode)\n", a.prog, t->name, a.mode == LS_MODE_CHECKED ? "checked" : "fast");
  printf("cycles:    %" PRIu64 " (known before the run; this run: %" PRIu64 ")\n", ls_cycles(p), info.cycles);
  printf("predicted: %.3f us at the target's %u MHz clock\n", (double)ls_cycles(p) / t->clock_mhz, t->clock_mhz);
  if (a.mode == LS_MODE_FAST) print_host_prediction("predicted: ", p, a.threads);
  if (a.runs == 1) printf("measured:  %.3f us on this host\n", times[0]);
  else
    printf("measured:  median %.3f us, min %.3f, max %.3f over %d runs; outputs %s\n", times[a.runs / 2], times[0],
           times[a.runs - 1], a.runs, identical ? "bit-identical in every run" : "DIFFER between runs");
  free(times);
  if (info.cycles != ls_cycles(p)) {
    fprintf(stderr, "%s: error: the run took %" PRIu64 " cycles, the program states %" PRIu64 "\n", prog_name,
            info.cycles, ls_cycles(p));
    rc = EXIT_BAD;
    goto out;
  }
  if (a.n_out) rc = save_outputs(p, arena, &a);
  else print_outputs(p, arena);
  if (!identical) rc = EXIT_BAD;
out:
  free(arena);
  ls_free(p);
  return rc;
}

/* ---- bench --------------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s);

static const char bench_help[] =
    "usage: lockstep bench PROGRAM [--input [NAME=]FILE.npy]... [--fill zeros|seq|random] [--runs N]\n"
    "                      [--warmup N] [--threads N] [--mode fast|checked] [--json FILE]\n"
    "                      [--profile [N]] [--top N]\n"
    "\n"
    "Run a program (or an ONNX model, compiled first) many times and print its latency\n"
    "distribution: min, p50, p90, p99, p99.9, max and standard deviation; achieved GFLOP/s (the\n"
    "multiply-adds of its MXM instructions); the cycle count; and whether every run produced\n"
    "identical output bytes and took exactly the stated cycles.\n"
    "\n"
    "  --runs N        timed runs (default 1000)\n"
    "  --warmup N      untimed runs first (default 20)\n"
    "  --threads N     fast-mode threads (default: all cores)\n"
    "  --json FILE     also write every measurement as JSON (for bench/report.py)\n"
    "  --profile [N]   then time every step of the fast executor over N more runs (default\n"
    "                  100) and print, per kind of step and for the slowest steps, the\n"
    "                  measured and predicted time per run (timing each step costs a little)\n"
    "  --top N         with --profile: how many of the slowest steps to list (default 12; 0: all)\n"
    "  -i, --input, --fill, --mode, --target, --set, --bind   as for 'lockstep run'\n";

/* Multiply-adds of the program's MM instructions, times 2: K is the rows its plane was
 * loaded with (the last LW on that queue before it). */
static uint64_t program_flops(const ls_program *p) {
  const ls_prog *g = ls_program_image(p);
  uint64_t flops = 0;
  for (uint32_t q = 0; q < g->n_queues; q++) {
    if (g->queues[q].unit != LS_UNIT_MXM) continue;
    size_t n = (size_t)ls_queue_expanded_count(&g->queues[q]);
    ls_insn *x = malloc(sizeof *x * (n ? n : 1));
    if (!x) continue;
    n = ls_queue_expand(&g->queues[q], x, n);
    uint64_t rows = 0;
    for (size_t i = 0; i < n; i++) {
      if (x[i].op == LS_OP_LW) rows = x[i].n;
      if (x[i].op == LS_OP_MM) flops += 2ull * x[i].n * rows * (uint64_t)(x[i].imm ? x[i].imm : g->target.lanes);
    }
    free(x);
  }
  return flops;
}

static double percentile(const double *sorted, int n, double q) {
  double at = q * (n - 1);
  int lo = (int)at;
  if (lo >= n - 1) return sorted[n - 1];
  return sorted[lo] + (at - lo) * (sorted[lo + 1] - sorted[lo]);
}

/* ---- bench --profile: every fast-mode step timed ---------------------------------------- */

typedef struct step_clock {
  double *at;  /* when each step began, and when the last ended (ns) */
} step_clock;

static void on_step(void *user, uint32_t k) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ((step_clock *)user)->at[k] = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* what kind of step: its mnemonic, and how fast mode runs it */
static void step_kind(const ls_step_info *s, char *buf, size_t n) {
  const char *how = s->chained ? " +chain" : s->runs ? " by runs" : s->absorbed ? " +fused" : "";
  snprintf(buf, n, "%s%s%s", ls_ops[s->insn.op < LS_OP_COUNT ? s->insn.op : 0].mnemonic, how, s->fed ? " +gather" : "");
}

/* the same, with an MM's shape: "mm 144x24 +fused" (K x N; +gather: it runs its im2col) */
static void step_name(const ls_step_info *s, char *buf, size_t n) {
  if (s->insn.op != LS_OP_MM) {
    step_kind(s, buf, n);
    return;
  }
  snprintf(buf, n, "mm %ux%u%s%s", s->mm_k, s->mm_n, s->absorbed ? " +fused" : "", s->fed ? " +gather" : "");
}

typedef struct step_row {
  uint32_t k;
  double ns;
} step_row;

static int cmp_row_ns(const void *a, const void *b) {
  double x = ((const step_row *)a)->ns, y = ((const step_row *)b)->ns;
  return x < y ? 1 : x > y ? -1 : 0;
}

static int print_profile(const ls_program *p, void *arena, size_t bytes, const ls_run_opts *base, int runs, int top_n,
                         const ls_calibration *cal, int threads) {
  const uint32_t n = ls_steps(p);
  step_clock clk = {malloc(sizeof(double) * (n + 1))};
  step_row *row = calloc(n ? n : 1, sizeof *row);
  if (!clk.at || !row) {
    free(clk.at), free(row);
    return fprintf(stderr, "%s: out of memory\n", prog_name), EXIT_BAD;
  }
  ls_run_opts o = *base;
  o.step = on_step, o.step_user = &clk;
  double total = 0;
  for (int r = 0; r < runs; r++) {
    ls_error e;
    if (ls_run(p, arena, bytes, &o, NULL, &e) != LS_OK) {
      fprintf(stderr, "%s: error: %s\n", prog_name, e.msg);
      free(clk.at), free(row);
      return EXIT_BAD;
    }
    for (uint32_t k = 0; k < n; k++) row[k].ns += (clk.at[k + 1] - clk.at[k]) / runs;
    total += (clk.at[n] - clk.at[0]) / runs;
  }
  /* by kind */
  enum { MAXK = 64 };
  char kname[MAXK][40];
  double kns[MAXK] = {0}, kpred[MAXK] = {0};
  int kcount[MAXK] = {0}, nk = 0;
  for (uint32_t k = 0; k < n; k++) {
    ls_step_info s;
    ls_step(p, k, cal, threads, &s);
    row[k].k = k;
    char name[40];
    step_kind(&s, name, sizeof name);
    int j = 0;
    while (j < nk && strcmp(kname[j], name) != 0) j++;
    if (j == nk) {
      if (nk == MAXK) continue;
      snprintf(kname[nk++], sizeof kname[0], "%s", name);
    }
    kns[j] += row[k].ns, kpred[j] += s.predicted_ns, kcount[j]++;
  }
  const int have_pred = cal != NULL;
  printf("profile:    %u steps, %d runs with every step timed: %.1f us per run (timing included)\n", n, runs, total / 1e3);
  printf("  %-24s %6s %12s %12s %8s\n", "kind", "steps", "measured us", "predicted us", "diff");
  for (int done = 0; done < nk; done++) { /* slowest kind first */
    int j = -1;
    for (int i = 0; i < nk; i++)
      if (kcount[i] >= 0 && (j < 0 || kns[i] > kns[j])) j = i;
    if (have_pred && kpred[j] >= 1.0 * kcount[j]) /* at least 1 ns a step */
      printf("  %-24s %6d %12.1f %12.1f %+7.0f%%\n", kname[j], kcount[j], kns[j] / 1e3, kpred[j] / 1e3,
             100.0 * (kns[j] - kpred[j]) / kpred[j]);
    else if (have_pred)
      printf("  %-24s %6d %12.1f %12.1f %8s\n", kname[j], kcount[j], kns[j] / 1e3, kpred[j] / 1e3, "-");
    else
      printf("  %-24s %6d %12.1f %12s %8s\n", kname[j], kcount[j], kns[j] / 1e3, "-", "-");
    kcount[j] = -1;
  }
  qsort(row, n, sizeof *row, cmp_row_ns);
  const uint32_t top = top_n == 0 || (uint32_t)top_n > n ? n : (uint32_t)top_n;
  printf("  the %u slowest steps:\n  %6s %10s %-7s %-24s %8s %12s %12s %8s\n", top, "step", "cycle", "queue", "kind", "vectors",
         "measured us", "predicted us", "GFLOP/s");
  const ls_prog *g = ls_program_image(p);
  for (uint32_t i = 0; i < top; i++) {
    ls_step_info s;
    ls_step(p, row[i].k, cal, threads, &s);
    char name[40], q[16];
    step_name(&s, name, sizeof name);
    snprintf(q, sizeof q, "%s%u", ls_unit_names[g->queues[s.queue].unit], g->queues[s.queue].index);
    char pred[24] = "-", gf[24] = "";
    if (have_pred) snprintf(pred, sizeof pred, "%.2f", s.predicted_ns / 1e3);
    if (s.flops > 0 && row[i].ns > 0) snprintf(gf, sizeof gf, "%.1f", s.flops / row[i].ns);
    printf("  %6u %10" PRIu64 " %-7s %-24s %8u %12.2f %12s %8s\n", row[i].k, s.insn.cycle, q, name, s.insn.n, row[i].ns / 1e3, pred, gf);
  }
  free(clk.at), free(row);
  return 0;
}

static int cmd_bench(int argc, char **argv) {
  if (has_help(argc, argv)) return fputs(bench_help, stdout), 0;
  /* bench's own options, then the rest as for run */
  int warmup = 20, runs = 1000, profile = 0, top = 12;
  const char *json = NULL;
  char *rest[256];
  int nrest = 0;
  for (int i = 0; i < argc && nrest < 255; i++) {
    if (i > 0 && strcmp(argv[i], "--profile") == 0) {
      profile = 100;
      if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
        char *end;
        long v = strtol(argv[++i], &end, 10);
        if (*end || v < 1 || v > 1000000) return usage_error("bench", "%s takes a whole number of runs from 1 to 1000000", "--profile");
        profile = (int)v;
      }
      continue;
    }
    if (i > 0 && strcmp(argv[i], "--top") == 0) {
      char *end = NULL;
      long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
      if (!end || *end || v < 0 || v > 1000000000) return usage_error("bench", "%s takes a whole number of steps", "--top");
      top = (int)v, i++;
      continue;
    }
    if (i > 0 && (strcmp(argv[i], "--warmup") == 0 || strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--runs") == 0)) {
      if (i + 1 == argc) return usage_error("bench", "%s needs a value", argv[i]);
      if (argv[i][2] == 'j') json = argv[++i];
      else {
        char *end;
        long v = strtol(argv[i + 1], &end, 10);
        if (*end || v < (argv[i][2] == 'w' ? 0 : 1) || v > 10000000)
          return usage_error("bench", argv[i][2] == 'w' ? "%s takes a whole number from 0 to 10000000"
                                                        : "%s takes a whole number from 1 to 10000000", argv[i]);
        if (argv[i][2] == 'w') warmup = (int)v;
        else runs = (int)v;
        i++;
      }
      continue;
    }
    rest[nrest++] = argv[i];
  }
  rest[nrest] = NULL;
  run_args a;
  int rc = parse_run_args("bench", nrest, rest, &a);
  if (rc) return rc;
  if (!a.fill && a.n_in == 0) a.fill = "random";
  ls_program *p = load_program(a.prog);
  if (!p) return EXIT_BAD;
  size_t bytes;
  void *arena = new_arena(p, &bytes);
  if (!arena) return ls_free(p), EXIT_BAD;
  double *t = malloc(sizeof *t * (size_t)runs);
  if (!t) {
    free(arena), ls_free(p);
    return fprintf(stderr, "%s: out of memory\n", prog_name), EXIT_BAD;
  }
  if ((rc = load_inputs(p, arena, &a))) goto out;
  ls_run_opts o = {a.mode, a.threads, NULL, NULL, NULL, NULL, 0};
  ls_run_info info;
  ls_error e;
  uint64_t hash = 0;
  int identical = 1, cycles_ok = 1;
  for (int r = -warmup; r < runs; r++) {
    double t0 = now_us();
    ls_status st = ls_run(p, arena, bytes, &o, &info, &e);
    double dt = now_us() - t0;
    if (st != LS_OK) {
      fprintf(stderr, "%s: error: %s: %s\n", prog_name, a.prog, e.msg);
      rc = EXIT_BAD;
      goto out;
    }
    uint64_t h = hash_outputs(p, arena);
    if (r == -warmup) hash = h;
    identical &= h == hash;
    cycles_ok &= info.cycles == ls_cycles(p);
    if (r >= 0) t[r] = dt;
  }
  double *sorted = malloc(sizeof *sorted * (size_t)runs);
  if (!sorted) {
    rc = EXIT_BAD;
    goto out;
  }
  memcpy(sorted, t, sizeof *t * (size_t)runs);
  qsort(sorted, (size_t)runs, sizeof *sorted, cmp_double);
  double mean = 0, var = 0;
  for (int r = 0; r < runs; r++) mean += t[r];
  mean /= runs;
  for (int r = 0; r < runs; r++) var += (t[r] - mean) * (t[r] - mean);
  double sd = runs > 1 ? sqrt(var / (runs - 1)) : 0;
  const double p50 = percentile(sorted, runs, 0.5), p90 = percentile(sorted, runs, 0.9), p99 = percentile(sorted, runs, 0.99),
               p999 = percentile(sorted, runs, 0.999);
  const uint64_t flops = program_flops(p);
  const ls_target *tg = &ls_program_image(p)->target;
  printf("program:    %s (target %s, %s mode, %d thread%s)\n", a.prog, tg->name, a.mode == LS_MODE_CHECKED ? "checked" : "fast",
         a.threads ? a.threads : 0, a.threads == 1 ? "" : "s");
  printf("runs:       %d timed, after %d warm-up\n", runs, warmup);
  printf("latency:    min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us (std %.1f, p99/p50 %.3f)\n",
         sorted[0], p50, p90, p99, p999, sorted[runs - 1], sd, p99 / p50);
  printf("throughput: %.2f GFLOP/s at the median (%.3f GFLOP per run, MXM multiply-adds)\n", flops / p50 / 1e3, flops / 1e9);
  printf("cycles:     %" PRIu64 " stated; %s\n", ls_cycles(p), cycles_ok ? "every run took exactly that many" : "SOME RUNS DIFFERED");
  printf("predicted:  %.3f us at the target's %u MHz clock\n", (double)ls_cycles(p) / tg->clock_mhz, tg->clock_mhz);
  const ls_calibration *cal = host_calibration();
  int pth = a.threads;
#if LS_HAVE_OPENMP
  if (pth <= 0) pth = 2;
#else
  pth = 1;
#endif
  const double predicted = cal && a.mode == LS_MODE_FAST ? ls_predict_us(p, cal, pth) : NAN;
  if (predicted == predicted)
    printf("host:       predicted %.1f us before the run, measured median %.1f us (%+.1f%%)\n", predicted, p50,
           100.0 * (p50 - predicted) / predicted);
  else
    printf("host:       no calibration (run 'lockstep calibrate' to predict this host's time)\n");
  printf("outputs:    %s (hash %016" PRIx64 ")\n", identical ? "bit-identical in every run" : "DIFFER between runs", hash);
  if (json) {
    FILE *f = fopen(json, "w");
    if (!f) {
      fprintf(stderr, "%s: error: %s: cannot write: %s\n", prog_name, json, strerror(errno));
      rc = EXIT_BAD;
    } else {
      char pred_s[32] = "null";
      if (predicted == predicted) snprintf(pred_s, sizeof pred_s, "%.3f", predicted);
      fprintf(f, "{\"model\": ");
      json_str(f, a.prog);
      fprintf(f, ", \"mode\": \"%s\", \"threads\": %d, \"runs\": %d, \"warmup\": %d, \"cycles\": %" PRIu64
                 ", \"cycles_every_run_equal\": %s,\n \"latency_us\": {\"min\": %.3f, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
                 "\"p999\": %.3f, \"max\": %.3f, \"mean\": %.3f, \"std\": %.3f},\n \"flops\": %" PRIu64 ", \"gflops\": %.4f, "
                 "\"predicted_us\": %s, \"target_clock_mhz\": %u, \"identical\": %s, \"output_hash\": \"%016" PRIx64 "\",\n"
                 " \"samples_us\": [",
              a.mode == LS_MODE_CHECKED ? "checked" : "fast", a.threads, runs, warmup, ls_cycles(p), cycles_ok ? "true" : "false",
              sorted[0], p50, p90, p99, p999, sorted[runs - 1], mean, sd, flops, flops / p50 / 1e3, pred_s, tg->clock_mhz,
              identical ? "true" : "false", hash);
      for (int r = 0; r < runs; r++) fprintf(f, "%s%.3f", r ? ", " : "", t[r]);
      fprintf(f, "]}\n");
      if (fclose(f) != 0) rc = EXIT_BAD;
    }
  }
  free(sorted);
  if (!identical || !cycles_ok) rc = EXIT_BAD;
  if (profile && rc == 0) {
    if (a.mode != LS_MODE_FAST) fprintf(stderr, "%s: --profile: only fast mode runs in steps; not profiled\n", prog_name);
    else rc = print_profile(p, arena, bytes, &o, profile, top, cal, pth);
  }
out:
  free(t);
  free(arena);
  ls_free(p);
  return rc;
}

/* Trace events are collected in order of the run; written as Chrome trace JSON, in which
 * one microsecond of the viewer's time axis is one machine cycle. */
typedef struct trace_buf {
  ls_event *ev;
  size_t n, cap;
  int failed;
} trace_buf;

static void on_event(void *user, const ls_event *ev) {
  trace_buf *b = user;
  if (b->failed) return;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 1024;
    ls_event *nv = realloc(b->ev, cap * sizeof *nv);
    if (!nv) {
      b->failed = 1;
      return;
    }
    b->ev = nv, b->cap = cap;
  }
  b->ev[b->n++] = *ev;
}

static const char trace_help[] =
    "usage: lockstep trace PROGRAM -o TRACE.json [--input [NAME=]FILE.npy]... [--fill zeros|seq|random]\n"
    "\n"
    "Run a program in checked mode and write a cycle-level trace in the Chrome trace event\n"
    "format: open it in https://ui.perfetto.dev or chrome://tracing. Each queue is a track\n"
    "with one slice per instruction it issues, each stream register a track with one slice\n"
    "per burst of vectors on it. The time axis counts cycles (shown as microseconds).\n"
    "\n"
    "  -o FILE         where to write the trace (required)\n"
    "  -i, --input, --fill   as for 'lockstep run' (inputs not given are filled with zeros)\n"
    "  --help          show this help\n";

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

static int cmd_trace(int argc, char **argv) {
  if (has_help(argc, argv)) return fputs(trace_help, stdout), 0;
  run_args a;
  int rc = parse_run_args("trace", argc, argv, &a);
  if (rc) return rc;
  if (!a.trace_out) return usage_error("trace", "%sname the trace file with -o TRACE.json", "");
  if (!a.fill) a.fill = "zeros";
  ls_program *p = load_program(a.prog);
  if (!p) return EXIT_BAD;
  size_t bytes;
  void *arena = new_arena(p, &bytes);
  if (!arena) return ls_free(p), EXIT_BAD;
  trace_buf tb = {0};
  if ((rc = load_inputs(p, arena, &a))) goto out;
  ls_run_opts o = {LS_MODE_CHECKED, 1, on_event, &tb, NULL, NULL, 0};
  ls_run_info info;
  ls_error e;
  if (ls_run(p, arena, bytes, &o, &info, &e) != LS_OK) {
    fprintf(stderr, "%s: error: %s: %s\n", prog_name, a.prog, e.msg);
    rc = EXIT_BAD;
    goto out;
  }
  if (tb.failed) {
    fprintf(stderr, "%s: error: out of memory collecting the trace\n", prog_name);
    rc = EXIT_BAD;
    goto out;
  }
  FILE *f = fopen(a.trace_out, "w");
  if (!f) {
    fprintf(stderr, "%s: error: %s: cannot write: %s\n", prog_name, a.trace_out, strerror(errno));
    rc = EXIT_BAD;
    goto out;
  }
  const ls_prog *g = ls_program_image(p);
  fprintf(f, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"program\":");
  json_str(f, a.prog);
  fprintf(f, ",\"cycles\":%" PRIu64 ",\"time_unit\":\"1 us = 1 cycle\"},\n\"traceEvents\":[\n", info.cycles);
  fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"queues\"}},\n");
  fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"args\":{\"name\":\"streams\"}}");
  for (uint32_t q = 0; q < g->n_queues; q++)
    fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"%s%u\"}}", q,
            ls_unit_names[g->queues[q].unit], g->queues[q].index);
  for (uint32_t s = 0; s < 2 * g->target.streams; s++) {
    char sn[16];
    ls_stream_name(&g->target, s, sn, sizeof sn);
    fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":2,\"tid\":%u,\"args\":{\"name\":\"%s\"}}", s, sn);
  }
  for (size_t i = 0; i < tb.n; i++) {
    const ls_event *ev = &tb.ev[i];
    const ls_insn *in = &g->queues[ev->queue].insns[ev->insn];
    if (in->op == LS_OP_REPEAT) { /* name repetitions by what they repeat */
      for (uint32_t k = ev->insn; k > 0 && in->op == LS_OP_REPEAT; k--) in = &g->queues[ev->queue].insns[k - 1];
    }
    char qn[16];
    snprintf(qn, sizeof qn, "%s%u", ls_unit_names[g->queues[ev->queue].unit], g->queues[ev->queue].index);
    const char *mn = ls_ops[in->op].mnemonic;
    if (ev->kind == LS_EV_ISSUE)
      fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"issue\",\"ph\":\"X\",\"pid\":1,\"tid\":%u,\"ts\":%" PRIu64
                 ",\"dur\":%" PRIu64 ",\"args\":{\"insn\":%u,\"n\":%u}}",
              mn, ev->queue, ev->cycle, ev->dur ? ev->dur : 1, ev->insn, in->n);
    else
      fprintf(f, ",\n{\"name\":\"%s %s\",\"cat\":\"stream\",\"ph\":\"X\",\"pid\":2,\"tid\":%u,\"ts\":%" PRIu64
                 ",\"dur\":%" PRIu64 ",\"args\":{\"from\":\"%s insn %u\",\"vectors\":%" PRIu64 "}}",
              qn, mn, ev->stream, ev->cycle, ev->dur, qn, ev->insn, ev->dur);
  }
  fprintf(f, "\n]}\n");
  if (fclose(f) != 0) {
    fprintf(stderr, "%s: error: %s: write failed\n", prog_name, a.trace_out);
    rc = EXIT_BAD;
    goto out;
  }
  printf("wrote %s: %zu events over %" PRIu64 " cycles\n", a.trace_out, tb.n, info.cycles);
out:
  free(tb.ev);
  free(arena);
  ls_free(p);
  return rc;
}

/* ---- info ------------------------------------------------------------------------------------ */

static const char info_help[] =
    "usage: lockstep info PROGRAM\n"
    "\n"
    "Verify a program and describe it: target, tensors, instructions per unit, cycles,\n"
    "predicted time at the target clock, memory and arena sizes.\n";

static int cmd_info(int argc, char **argv) {
  if (has_help(argc, argv)) return fputs(info_help, stdout), 0;
  if (argc != 2 || argv[1][0] == '-') return usage_error("info", "%sname one program", "");
  ls_program *p = load_program(argv[1]);
  if (!p) return EXIT_BAD;
  const ls_prog *g = ls_program_image(p);
  const ls_target *t = &g->target;
  char sh[128];
  printf("program:      %s\n", argv[1]);
  printf("target:       %s: %u lanes, %u mem / %u vxm / %u mxm / %u sxm slices, %u+%u streams, %u MHz\n", t->name,
         t->lanes, t->slices[LS_UNIT_MEM], t->slices[LS_UNIT_VXM], t->slices[LS_UNIT_MXM], t->slices[LS_UNIT_SXM],
         t->streams, t->streams, t->clock_mhz);
  for (int i = 0; i < ls_tensor_count(p); i++) {
    const ls_io *io = ls_tensor(p, i);
    shape_str(io, sh, sizeof sh);
    printf("%-13s %s %s @%" PRIu64 "\n", io->is_output ? "output:" : "input:", io->name, sh, io->addr);
  }
  uint64_t per_unit[LS_UNIT_COUNT] = {0}, busy[LS_UNIT_COUNT] = {0};
  for (uint32_t q = 0; q < g->n_queues; q++) {
    size_t n = (size_t)ls_queue_expanded_count(&g->queues[q]);
    ls_insn *x = malloc(sizeof *x * (n ? n : 1));
    if (!x) continue;
    n = ls_queue_expand(&g->queues[q], x, n);
    per_unit[g->queues[q].unit] += n;
    for (size_t i = 0; i < n; i++) busy[g->queues[q].unit] += ls_insn_busy(&x[i]);
    free(x);
  }
  printf("instructions: %" PRIu64 " (", ls_instructions(p));
  for (int u = 0; u < LS_UNIT_ICU; u++) printf("%s%s %" PRIu64, u ? ", " : "", ls_unit_names[u], per_unit[u]);
  printf(")\n");
  uint64_t cyc = ls_cycles(p);
  printf("cycles:       %" PRIu64 "\n", cyc);
  printf("predicted:    %.3f us at %u MHz\n", (double)cyc / t->clock_mhz, t->clock_mhz);
  printf("utilisation:  ");
  for (int u = 0; u < LS_UNIT_ICU; u++)
    printf("%s%s %.1f%%", u ? ", " : "", ls_unit_names[u],
           cyc ? 100.0 * (double)busy[u] / ((double)cyc * t->slices[u]) : 0.0);
  printf(" (busy queue-cycles / all queue-cycles)\n");
  printf("sram:         %" PRIu64 " bytes of %" PRIu64 "\n", g->mem_bytes, t->sram_bytes);
  printf("arena:        %zu bytes (what a caller must provide to run it)\n", ls_arena_bytes(p));
  ls_free(p);
  return 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

static const char main_help[] =
    "usage: lockstep COMMAND [ARGS]\n"
    "\n"
    "Lockstep runs tensor programs on a deterministic streaming machine modelled on the TSP:\n"
    "the cycle count of every run is known before it starts, and the output bits are the same\n"
    "on every run.\n"
    "\n"
    "commands:\n"
    "  compile  compile an ONNX model into a program; print its cycles, time and memory\n"
    "  asm      assemble and verify a text program (.lsa) into a program file (.lsp)\n"
    "  disasm   print a program file as assembly text\n"
    "  run      run a program on .npy inputs; print cycles, predicted and measured time\n"
    "  bench    run a program many times: latency distribution, GFLOP/s, determinism\n"
    "  calibrate measure this CPU, so that programs' time on it is predicted before they run\n"
    "  trace    run in checked mode and write a Chrome/Perfetto trace of every queue and stream\n"
    "  info     describe a program: target, tensors, cycles, memory, utilisation\n"
    "\n"
    "'lockstep COMMAND --help' describes each. Exit codes: 0 success, 1 a bad program or\n"
    "input, 2 a usage error.\n";

int main(int argc, char **argv) {
  if (argc < 2) return fputs(main_help, stderr), EXIT_USAGE;
  /* OpenBLAS chose its kernels when it was loaded: if they are slower than this CPU allows,
   * start again with the right ones (once: the variable is then set) */
#if defined(__linux__)
  /* (only for the commands that run programs) */
  const int runs = !strcmp(argv[1], "run") || !strcmp(argv[1], "bench") || !strcmp(argv[1], "calibrate") ||
                   !strcmp(argv[1], "trace") || !strcmp(argv[1], "--version");
  const char *core = runs ? ls_blas_better_coretype() : NULL;
  if (core && setenv("OPENBLAS_CORETYPE", core, 1) == 0) {
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* no /proc: go on with OpenBLAS's choice */
  }
#endif
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) return fputs(main_help, stdout), 0;
  if (strcmp(cmd, "--version") == 0) return printf("%s\n", ls_build_info()), 0;
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } cmds[] = {{"compile", cmd_compile}, {"asm", cmd_asm}, {"disasm", cmd_disasm}, {"run", cmd_run}, {"bench", cmd_bench}, {"calibrate", cmd_calibrate}, {"trace", cmd_trace}, {"info", cmd_info}};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
    if (strcmp(cmd, cmds[i].name) == 0) return cmds[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "%s: unknown command '%s'\n\n%s", prog_name, cmd, main_help);
  return EXIT_USAGE;
}
