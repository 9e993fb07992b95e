/* load.c - from file bytes to a verified, planned program; the accessors of the public API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ls_config.h"

#if LS_HAVE_OPENBLAS
#include <cblas.h>
#endif

void ls_free(ls_program *p) {
  if (!p) return;
  ls_prog_free(&p->prog);
  free(p->inst);
  free(p->gruns);
  free(p->greps);
  free(p->chain);
  free(p->fast_list);
  free(p);
}

ls_status ls_load(const void *data, size_t len, ls_program **out, ls_error *err) {
  *out = NULL;
  ls_program *p = calloc(1, sizeof *p);
  if (!p) {
    rt_errorf(err, LS_ERR_NOMEM, "out of memory");
    return LS_ERR_NOMEM;
  }
  char msg[256];
  if (ls_prog_decode(data, len, &p->prog, msg, sizeof msg)) {
    rt_errorf(err, LS_ERR_FORMAT, "%s", msg);
    free(p);
    return LS_ERR_FORMAT;
  }
  ls_status st = rt_verify(p, err);
  if (st != LS_OK) {
    ls_free(p);
    return st;
  }
#if LS_HAVE_OPENBLAS
  /* our threads split the work; OpenBLAS must not start its own inside them */
  openblas_set_num_threads(1);
#endif
  *out = p;
  return LS_OK;
}

ls_status ls_load_file(const char *path, ls_program **out, ls_error *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    rt_errorf(err, LS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return LS_ERR_IO;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      if (cap > LS_MAX_FILE_BYTES + 1) cap = LS_MAX_FILE_BYTES + 1;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        rt_errorf(err, LS_ERR_NOMEM, "%s: out of memory reading the file", path);
        return LS_ERR_NOMEM;
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0 || len > LS_MAX_FILE_BYTES) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad || len > LS_MAX_FILE_BYTES) {
    free(buf);
    rt_errorf(err, LS_ERR_IO, "%s: %s", path, bad ? "read error" : "larger than the 16 GiB a program may be");
    return LS_ERR_IO;
  }
  ls_status st = ls_load(buf, len, out, err);
  free(buf);
  if (st != LS_OK && err) {
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%.200s: %.300s", path, err->msg);
    memcpy(err->msg, msg, sizeof msg);
  }
  return st;
}

const ls_prog *ls_program_image(const ls_program *p) { return &p->prog; }
uint64_t ls_cycles(const ls_program *p) { return p->cycles; }
uint64_t ls_instructions(const ls_program *p) { return p->n_inst; }
size_t ls_arena_bytes(const ls_program *p) { return p->arena_bytes; }
int ls_tensor_count(const ls_program *p) { return (int)p->prog.n_io; }
const ls_io *ls_tensor(const ls_program *p, int i) {
  return i >= 0 && (uint32_t)i < p->prog.n_io ? &p->prog.io[i] : NULL;
}
int ls_tensor_find(const ls_program *p, const char *name) {
  for (uint32_t i = 0; i < p->prog.n_io; i++)
    if (strcmp(p->prog.io[i].name, name) == 0) return (int)i;
  return -1;
}
void *ls_tensor_data(const ls_program *p, void *arena, int i) {
  const ls_io *io = ls_tensor(p, i);
  return io ? (uint8_t *)arena + p->sram_off + io->addr : NULL;
}

ls_status ls_arena_init(const ls_program *p, void *arena, size_t bytes, ls_error *err) {
  if (!arena || ((uintptr_t)arena % LS_ARENA_ALIGN) || bytes < p->arena_bytes) {
    rt_errorf(err, LS_ERR_ARG, "the arena must be %d-byte aligned and at least %zu bytes (got %zu at %p)",
              LS_ARENA_ALIGN, p->arena_bytes, bytes, arena);
    return LS_ERR_ARG;
  }
  memset(arena, 0, p->arena_bytes);
  uint8_t *sram = (uint8_t *)arena + p->sram_off;
  for (uint32_t i = 0; i < p->prog.n_consts; i++)
    memcpy(sram + p->prog.consts[i].addr, p->prog.consts[i].data, p->prog.consts[i].size);
  return LS_OK;
}

const char *ls_build_info(void) {
  static char buf[128];
#if LS_HAVE_OPENBLAS
  snprintf(buf, sizeof buf, "lockstep %s, openblas (%s)%s", LS_VERSION, openblas_get_corename(),
           LS_HAVE_OPENMP ? ", openmp" : "");
#else
  snprintf(buf, sizeof buf, "lockstep %s, portable gemm%s", LS_VERSION, LS_HAVE_OPENMP ? ", openmp" : "");
#endif
  return buf;
}

const char *ls_blas_better_coretype(void) {
#if LS_HAVE_OPENBLAS && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const char *env = getenv("OPENBLAS_CORETYPE"), *keep = getenv("LOCKSTEP_KEEP_CORETYPE");
  if ((keep && *keep) || (env && strcmp(env, "SkylakeX") == 0)) return NULL; /* asked for, or already tried */
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
    return NULL;
  static const char *const avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
  const char *core = openblas_get_corename();
  if (!core) return NULL;
  char low[32];
  size_t i = 0;
  for (; core[i] && i + 1 < sizeof low; i++) low[i] = (char)(core[i] >= 'A' && core[i] <= 'Z' ? core[i] + 32 : core[i]);
  low[i] = 0;
  for (size_t k = 0; k < sizeof avx512_cores / sizeof *avx512_cores; k++)
    if (strcmp(low, avx512_cores[k]) == 0) return NULL;
  return "SkylakeX";
#else
  return NULL;
#endif
}
