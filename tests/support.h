/* support.h - shared by the runtime tests: assemble text or a file into a loaded program,
 * run it, compare runs. */
#ifndef LOCKSTEP_TEST_SUPPORT_H
#define LOCKSTEP_TEST_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm.h"
#include "lockstep.h"

#ifndef LS_SOURCE_ROOT
#define LS_SOURCE_ROOT "."
#endif

/* Assemble src into a file image; aborts the test on an assembly error. */
static inline uint8_t *t_image(const char *src, size_t *len) {
  ls_prog g;
  char err[512];
  if (ls_assemble(src, strlen(src), "test.lsa", &g, err, sizeof err) != 0) {
    fprintf(stderr, "assembly failed: %s\n", err);
    abort();
  }
  uint8_t *buf;
  if (ls_prog_encode(&g, &buf, len) != 0) abort();
  ls_prog_free(&g);
  return buf;
}

/* Assemble and load; returns the status and leaves the message in *err. */
static inline ls_status t_load(const char *src, ls_program **p, ls_error *err) {
  size_t len;
  uint8_t *buf = t_image(src, &len);
  ls_status st = ls_load(buf, len, p, err);
  free(buf);
  return st;
}

static inline char *t_read_file(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", LS_SOURCE_ROOT, rel);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    abort();
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) abort();
  s[n] = '\0';
  fclose(f);
  return s;
}

/* A GEMM big enough to go through OpenBLAS and be split across threads: Y = X W with X
 * 512x256 and W 256x256 on the host preset. */
static const char t_big_matmul[] =
    ".target host\n"
    ".input X f32 [512,256] @0\n"
    ".input W f32 [256,256] @524288\n"
    ".output Y f32 [512,256] @786432\n"
    "mem0:\n @0 read.f32 e0, [W], n=256\n"
    "mxm0:\n @3 lw.f32 p0, e0, n=256\n"
    "mem1:\n @259 read.f32 e1, [X], n=512\n"
    "mxm0:\n @262 mm.f32 e2, p0, e1, n=512\n"
    "mem2:\n @267 write.f32 [Y], e2, n=512\n";

typedef struct t_run {
  ls_program *p;
  void *arena;
  size_t bytes;
} t_run;

static inline t_run t_open(ls_program *p) {
  t_run r = {p, NULL, ls_arena_bytes(p)};
  r.arena = aligned_alloc(LS_ARENA_ALIGN, (r.bytes + LS_ARENA_ALIGN - 1) / LS_ARENA_ALIGN * LS_ARENA_ALIGN);
  ls_error e;
  if (!r.arena || ls_arena_init(p, r.arena, r.bytes, &e) != LS_OK) abort();
  return r;
}

static inline void *t_tensor(t_run *r, const char *name) {
  int i = ls_tensor_find(r->p, name);
  if (i < 0) {
    fprintf(stderr, "no tensor %s\n", name);
    abort();
  }
  return ls_tensor_data(r->p, r->arena, i);
}

static inline ls_status t_exec(t_run *r, ls_mode mode, int threads, ls_run_info *info) {
  ls_run_opts o = {mode, threads, NULL, NULL, NULL, NULL, 1}; /* split whatever can be */
  ls_error e;
  ls_status st = ls_run(r->p, r->arena, r->bytes, &o, info, &e);
  if (st != LS_OK) fprintf(stderr, "run failed: %s\n", e.msg);
  return st;
}

static inline void t_close(t_run *r) {
  free(r->arena);
  ls_free(r->p);
}

#endif
