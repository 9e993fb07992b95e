/* conformance.c - the ONNX backend node test suite through the compiler and both executor
 * modes.
 *
 *   conformance [options] CASES_DIR        (CASES_DIR/<case>/model.onnx, test_data_set_0/)
 *     --expect FILE   exit 1 if a case listed in FILE (one name a line, '#' comments) does
 *                     not pass
 *     --report FILE   write the Markdown report (docs/CONFORMANCE.md)
 *     --list FILE     write one line per case: name, status, operator, detail (tab-separated)
 *     --command TEXT  the command to state at the top of the report
 *     --jobs N        cases run at once (default 1)
 *     --timeout S     seconds per case before it counts as a crash (default 120)
 *     --subset K      only every K-th case in name order (a deterministic subset)
 *     --filter TEXT   only cases whose name contains TEXT
 *     -v              one line per case as it finishes
 *
 * Each case runs in a child process with a time limit (alarm) and, outside sanitizer
 * builds, an address-space limit, so that a crash or hang anywhere becomes a recorded
 * 'crash'. In the child: the model is compiled for the host target (if that fails because
 * an input must be a constant, again with exactly the inputs it names bound to the case's
 * own values: shapes, axes, counts; never the data the case computes on); the program is loaded through the runtime's verifier and run in fast and
 * in checked mode; every output of both runs is compared with the expected one by the
 * suite's own rule (|got - want| <= 1e-7 + 1e-3 |want|; exact for integers and bools; NaN
 * where NaN is expected; the same dtype and shape), and the two modes must agree bit for
 * bit. The child reports one line: pass, fail (largest error: output, flat index, got vs
 * want) or unsupported (the compiler's message). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compile.h"
#include "ir.h"
#include "lockstep.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define RTOL 1e-3
#define ATOL 1e-7
#define MAX_TENSORS 64

/* ---- small helpers --------------------------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 12, n = 0;
  uint8_t *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap) break;
    uint8_t *p = realloc(buf, cap * 2);
    if (!p) free(buf);
    buf = p;
    cap *= 2;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* one line, no tabs: details travel through a pipe and a TSV file */
static void clean(char *s) {
  for (; *s; s++)
    if (*s == '\n' || *s == '\t' || *s == '\r' || *s == '|') *s = *s == '|' ? '/' : ' ';
}

static int is_float(ls_dtype t) { return ls_dtype_class(t) == 'F'; }

static double get_d(const uint8_t *p, ls_dtype t, uint64_t i) {
  p += i * ls_dtype_size(t);
  switch (t) {
  case LS_F32: { float v; memcpy(&v, p, 4); return v; }
  case LS_F64: { double v; memcpy(&v, p, 8); return v; }
  case LS_F16: { uint16_t h; memcpy(&h, p, 2); return ls_f16_to_f32(h); }
  case LS_BF16: { uint16_t h; memcpy(&h, p, 2); return ls_bf16_to_f32(h); }
  default: return 0;
  }
}

static int64_t get_i(const uint8_t *p, ls_dtype t, uint64_t i, uint64_t *u) {
  size_t sz = ls_dtype_size(t);
  p += i * sz;
  uint64_t v = 0;
  for (size_t b = 0; b < sz; b++) v |= (uint64_t)p[b] << (8 * b);
  *u = v;
  if (ls_dtype_class(t) == 'I' && sz < 8 && (v >> (8 * sz - 1)) & 1) v |= ~0ull << (8 * sz);
  return (int64_t)v;
}

/* ---- one case, in the child ------------------------------------------------------------- */

typedef struct result {
  char status[16]; /* pass, fail, unsupported */
  char detail[900];
} result;

static void set_result(result *r, const char *status, const char *fmt, const char *a, const char *b) {
  snprintf(r->status, sizeof r->status, "%s", status);
  snprintf(r->detail, sizeof r->detail, fmt, a, b);
  clean(r->detail);
}

typedef struct worst {
  double err;
  int have;
  char where[400];
} worst;

/* compare got (the program's output io) with want; note the largest error in w. 0 if equal
 * by the suite's rule. */
/* ONNX 1.12 writes bfloat16 test data as uint16 (NumPy has no bfloat16): the same bits */
static int same_dtype(ls_dtype prog, ls_dtype data) { return prog == data || (prog == LS_BF16 && data == LS_U16); }

static int compare(const char *name, const ls_io *io, const uint8_t *got, const cg_tensor *want, worst *w, result *r) {
  char buf[600];
  if (!same_dtype((ls_dtype)io->dtype, want->dtype)) {
    snprintf(buf, sizeof buf, "output %s: dtype %s, expected %s", name, ls_dtype_name((ls_dtype)io->dtype),
             ls_dtype_name(want->dtype));
    set_result(r, "fail", "%s%s", buf, "");
    return -1;
  }
  int same = io->rank == want->rank;
  for (int d = 0; same && d < io->rank; d++) same = (int64_t)io->dims[d] == want->dims[d];
  if (!same) {
    char a[200] = "", b[200] = "";
    for (int d = 0; d < io->rank; d++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%llu", d ? "," : "", (unsigned long long)io->dims[d]);
    for (int d = 0; d < want->rank; d++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", d ? "," : "", (long long)want->dims[d]);
    snprintf(buf, sizeof buf, "output %s: shape [%s], expected [%s]", name, a, b);
    set_result(r, "fail", "%s%s", buf, "");
    return -1;
  }
  uint64_t n = ls_io_elems(io);
  ls_dtype t = (ls_dtype)io->dtype;
  int bad = 0;
  for (uint64_t i = 0; i < n; i++) {
    double e = 0;
    char gs[64], ws[64];
    if (is_float(t)) {
      double g = get_d(got, t, i), x = get_d(want->data, t, i);
      if (isnan(x) || isnan(g)) e = isnan(x) && isnan(g) ? 0 : INFINITY;
      else if (isinf(x) || isinf(g)) e = g == x ? 0 : INFINITY;
      else {
        double diff = fabs(g - x);
        e = diff <= ATOL + RTOL * fabs(x) ? 0 : diff;
      }
      snprintf(gs, sizeof gs, "%.9g", g), snprintf(ws, sizeof ws, "%.9g", x);
    } else {
      uint64_t gu, xu;
      int64_t g = get_i(got, t, i, &gu), x = get_i(want->data, t, i, &xu);
      if (gu != xu) e = fabs((double)g - (double)x) + 0.5; /* never 0: exact match wanted */
      if (ls_dtype_class(t) == 'U') snprintf(gs, sizeof gs, "%llu", (unsigned long long)gu), snprintf(ws, sizeof ws, "%llu", (unsigned long long)xu);
      else snprintf(gs, sizeof gs, "%lld", (long long)g), snprintf(ws, sizeof ws, "%lld", (long long)x);
    }
    if (e > 0) {
      bad = 1;
      if (!w->have || e > w->err) {
        w->have = 1;
        w->err = e;
        snprintf(w->where, sizeof w->where, "output %s[%llu]: got %s, want %s (of %llu elements)", name,
                 (unsigned long long)i, gs, ws, (unsigned long long)n);
      }
    }
  }
  return bad ? -1 : 0;
}

typedef struct casedata {
  cg_tensor in[MAX_TENSORS], out[MAX_TENSORS];
  int n_in, n_out;
} casedata;

static int load_tensors(const char *dir, const char *kind, cg_tensor *ts, int *n, result *r) {
  *n = 0;
  for (int k = 0; k < MAX_TENSORS; k++) {
    char path[4200], err[600];
    snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", dir, kind, k);
    size_t len;
    uint8_t *buf = read_all(path, &len);
    if (!buf) break;
    int rc = cg_tensor_from_pb(buf, len, path, &ts[k], err, sizeof err);
    free(buf);
    if (rc) {
      set_result(r, "unsupported", "%s%s", err, "");
      return -1;
    }
    (*n)++;
  }
  return 0;
}

/* compile with the inputs marked in `bind` fixed to the case's own values */
static int compile_with(const char *model, const cg_graph *g, const casedata *cd, const int *bind, ls_prog *prog,
                        char *bound, size_t boundlen, char *err, size_t errlen) {
  cg_binding binds[MAX_TENSORS];
  int nb = 0;
  bound[0] = 0;
  for (int k = 0; k < cd->n_in && k < g->n_inputs; k++) {
    if (!bind[k]) continue;
    const cg_tensor *t = &cd->in[k];
    cg_binding *b = &binds[nb++];
    b->name = g->tensors[g->inputs[k]].name;
    b->dtype = same_dtype(g->tensors[g->inputs[k]].dtype, t->dtype) ? g->tensors[g->inputs[k]].dtype : t->dtype;
    b->rank = t->rank;
    for (int d = 0; d < t->rank; d++) b->dims[d] = (uint64_t)t->dims[d];
    b->data = t->data;
    snprintf(bound + strlen(bound), boundlen - strlen(bound), "%s%s", nb > 1 ? "," : "", b->name);
  }
  cg_options o = {0};
  ls_target_preset("host", &o.target);
  o.binds = binds;
  o.n_binds = nb;
  return cg_compile_file(model, &o, prog, NULL, err, errlen) ? -1 : 0;
}


/* Does the compiler's message ask for input `name` to be a constant? Only then is it bound:
 * an input that fixes a shape or an axis, never the data the case computes on. */
static int asks_for(const char *err, const char *name) {
  char a[600], b[600], c[600];
  snprintf(a, sizeof a, "input %s must be a constant", name);
  snprintf(b, sizeof b, "--bind %s=", name);
  snprintf(c, sizeof c, "input %s (", name); /* "input r (ratio) must be a constant" */
  return strstr(err, a) || strstr(err, b) || (strstr(err, c) && strstr(err, "must be a constant"));
}

/* Mark the graph inputs that tensor t depends on (through the nodes producing it). */
static void inputs_behind(const cg_graph *g, int t, int *bind, int depth) {
  if (t < 0 || depth > 64) return;
  for (int k = 0; k < g->n_inputs; k++)
    if (g->inputs[k] == t) bind[k] = 1;
  int pr = g->tensors[t].producer;
  if (pr < 0) return;
  for (int k = 0; k < g->nodes[pr].n_inputs; k++) inputs_behind(g, g->nodes[pr].inputs[k], bind, depth + 1);
}

/* "... input NAME must be a constant ...": the graph inputs behind NAME, which fix a shape */
static int bind_behind(const cg_graph *g, const char *err, int *bind) {
  const char *m = strstr(err, " must be a constant");
  if (!m) return 0;
  const char *st = m;
  while (st > err && st[-1] != ' ') st--;
  char name[512];
  snprintf(name, sizeof name, "%.*s", (int)(m - st), st);
  int t = -1;
  for (int i = 0; i < g->n_tensors && t < 0; i++)
    if (strcmp(g->tensors[i].name, name) == 0) t = i;
  int before[MAX_TENSORS], more = 0;
  memcpy(before, bind, sizeof before);
  inputs_behind(g, t, bind, 0);
  for (int k = 0; k < g->n_inputs && k < MAX_TENSORS; k++) more |= bind[k] && !before[k];
  return more;
}

static void run_case(const char *dir, FILE *out) {
  result r = {"", ""};
  char model[4400], err[1024];
  snprintf(model, sizeof model, "%s%smodel.onnx", strcmp(dir, ".") ? dir : "", strcmp(dir, ".") ? "/" : "");
  cg_graph g;
  casedata *cd = calloc(1, sizeof *cd);
  ls_prog prog;
  memset(&prog, 0, sizeof prog);
  ls_program *p = NULL;
  uint8_t *img = NULL, *arena[2] = {NULL, NULL};
  if (!cd) {
    fprintf(out, "ops\t?\nresult\tfail\tout of memory\n");
    return;
  }
  if (cg_import_onnx(model, &g, err, sizeof err)) {
    fprintf(out, "ops\t?\n");
    set_result(&r, "unsupported", "%.800s%s", err, "");
    goto done;
  }
  /* the operators of the model, for the report */
  {
    char ops[600] = "";
    for (int i = 0; i < g.n_nodes; i++) {
      const char *op = g.nodes[i].op;
      char key[80];
      snprintf(key, sizeof key, ",%s,", op);
      char have[640];
      snprintf(have, sizeof have, ",%s,", ops);
      if (!strstr(have, key) && strlen(ops) + strlen(op) + 2 < sizeof ops)
        snprintf(ops + strlen(ops), sizeof ops - strlen(ops), "%s%s", ops[0] ? "," : "", op);
    }
    fprintf(out, "ops\t%s\n", ops[0] ? ops : "?");
    fflush(out);
  }
  if (load_tensors(dir, "input", cd->in, &cd->n_in, &r) || load_tensors(dir, "output", cd->out, &cd->n_out, &r)) goto done;
  if (cd->n_out != g.n_outputs) {
    char a[32], b[32];
    snprintf(a, sizeof a, "%d", cd->n_out), snprintf(b, sizeof b, "%d", g.n_outputs);
    set_result(&r, "unsupported", "%s expected outputs for a model of %s outputs", a, b);
    goto done;
  }
  char bound[600] = "";
  int bind[MAX_TENSORS] = {0};
  int rc = compile_with(model, &g, cd, bind, &prog, bound, sizeof bound, err, sizeof err);
  for (int tries = 0; rc && tries < g.n_inputs; tries++) { /* bind what the compiler names, and retry */
    int more = 0;
    for (int k = 0; k < cd->n_in && k < g.n_inputs; k++)
      if (!bind[k] && asks_for(err, g.tensors[g.inputs[k]].name)) bind[k] = more = 1;
    if (!more) more = bind_behind(&g, err, bind);
    if (!more) break;
    rc = compile_with(model, &g, cd, bind, &prog, bound, sizeof bound, err, sizeof err);
  }
  if (rc) {
    set_result(&r, "unsupported", "%.800s%s", err, "");
    goto done;
  }
  size_t ilen;
  if (ls_prog_encode(&prog, &img, &ilen)) {
    set_result(&r, "fail", "%s%s", "out of memory encoding the program", "");
    goto done;
  }
  ls_error e;
  if (ls_load(img, ilen, &p, &e) != LS_OK) {
    set_result(&r, "fail", "the runtime rejects the program: %s%s", e.msg, "");
    goto done;
  }
  size_t bytes = ls_arena_bytes(p), rounded = (bytes + LS_ARENA_ALIGN - 1) / LS_ARENA_ALIGN * LS_ARENA_ALIGN;
  worst w = {0, 0, ""};
  int bad = 0;
  for (int mode = 0; mode < 2 && !r.status[0]; mode++) {
    arena[mode] = aligned_alloc(LS_ARENA_ALIGN, rounded ? rounded : LS_ARENA_ALIGN);
    if (!arena[mode] || ls_arena_init(p, arena[mode], bytes, &e) != LS_OK) {
      set_result(&r, "fail", "arena: %s%s", arena[mode] ? e.msg : "out of memory", "");
      break;
    }
    for (int k = 0; k < cd->n_in && k < g.n_inputs; k++) {
      const char *nm = g.tensors[g.inputs[k]].name;
      int i = ls_tensor_find(p, nm);
      if (i < 0) continue; /* bound at compile time */
      const ls_io *io = ls_tensor(p, i);
      if (!same_dtype((ls_dtype)io->dtype, cd->in[k].dtype) || ls_io_bytes(io) != cg_tensor_bytes(&cd->in[k])) {
        set_result(&r, "fail", "input %s: the program expects another type or shape than the case gives%s", nm, "");
        break;
      }
      memcpy(ls_tensor_data(p, arena[mode], i), cd->in[k].data, cg_tensor_bytes(&cd->in[k]));
    }
    if (r.status[0]) break;
    ls_run_opts o = {mode ? LS_MODE_CHECKED : LS_MODE_FAST, 1, NULL, NULL, NULL, NULL, 0};
    ls_run_info info;
    if (ls_run(p, arena[mode], bytes, &o, &info, &e) != LS_OK) {
      set_result(&r, "fail", "%s mode: %s", mode ? "checked" : "fast", e.msg);
      break;
    }
    for (int k = 0; k < cd->n_out; k++) {
      const char *nm = g.tensors[g.outputs[k]].name;
      int i = ls_tensor_find(p, nm);
      if (i < 0 || !ls_tensor(p, i)->is_output) {
        set_result(&r, "fail", "output %s is missing from the program%s", nm, "");
        break;
      }
      if (compare(nm, ls_tensor(p, i), ls_tensor_data(p, arena[mode], i), &cd->out[k], &w, &r)) bad = 1;
      if (r.status[0]) break;
      if (mode == 1 && memcmp(ls_tensor_data(p, arena[0], i), ls_tensor_data(p, arena[1], i), ls_io_bytes(ls_tensor(p, i)))) {
        set_result(&r, "fail", "output %s: fast and checked modes give different bits%s", nm, "");
        break;
      }
    }
  }
  if (!r.status[0]) {
    if (bad) set_result(&r, "fail", "%s%s", w.where, "");
    else set_result(&r, "pass", "%s%s", bound[0] ? "inputs bound at compile time: " : "", bound);
  }
done:
  fprintf(out, "result\t%s\t%s\n", r.status, r.detail);
  fflush(out);
  free(arena[0]);
  free(arena[1]);
  ls_free(p);
  free(img);
  ls_prog_free(&prog);
  for (int k = 0; k < MAX_TENSORS; k++) {
    free(cd->in[k].name), free(cd->in[k].data);
    free(cd->out[k].name), free(cd->out[k].data);
  }
  free(cd);
  cg_graph_free(&g);
}

/* ---- the parent: children, results, report ---------------------------------------------- */

typedef struct ccase {
  char *name;
  char status[16];
  char *ops;    /* comma-separated op types of the model */
  char *op;     /* the operator it tests */
  char *detail;
  pid_t pid;
  int fd;
} ccase;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *dup_s(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static unsigned g_timeout = 120;

static pid_t start_case(const char *root, ccase *c) {
  int fds[2];
  if (pipe(fds)) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]), close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    FILE *out = fdopen(fds[1], "w");
    if (!out) _exit(3);
    if (!UNDER_ASAN) {
      struct rlimit rl = {(rlim_t)8 << 30, (rlim_t)8 << 30};
      setrlimit(RLIMIT_AS, &rl);
    }
    alarm(g_timeout);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", root, c->name);
    if (chdir(dir)) { /* messages then name "model.onnx", not the build directory */
      fprintf(out, "ops\t?\nresult\tunsupported\tcannot enter the case's directory\n");
      fclose(out);
      _exit(0);
    }
    run_case(".", out);
    fclose(out);
    _exit(0);
  }
  close(fds[1]);
  c->pid = pid;
  c->fd = fds[0];
  return pid;
}

/* read the child's lines after it ended; classify how it ended */
static void finish_case(ccase *c, int wstatus) {
  char buf[8192];
  size_t n = 0;
  ssize_t got;
  while (n < sizeof buf - 1 && (got = read(c->fd, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)got;
  buf[n] = 0;
  close(c->fd);
  char *ops = strstr(buf, "ops\t"), *res = strstr(buf, "result\t");
  if (ops) {
    char *e = strchr(ops + 4, '\n');
    if (e) *e = 0;
    c->ops = dup_s(ops + 4);
  } else {
    c->ops = dup_s("?");
  }
  if (res && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
    char *st = res + 7, *tab = strchr(st, '\t');
    char *nl = tab ? strchr(tab + 1, '\n') : NULL;
    if (tab && nl) {
      *tab = 0, *nl = 0;
      snprintf(c->status, sizeof c->status, "%s", st);
      c->detail = dup_s(tab + 1);
      return;
    }
  }
  snprintf(c->status, sizeof c->status, "crash");
  char why[200];
  if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGALRM) snprintf(why, sizeof why, "timed out after %u s", g_timeout);
  else if (WIFSIGNALED(wstatus)) snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
  else snprintf(why, sizeof why, "exited with status %d without a result", WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
  c->detail = dup_s(why);
}

/* "ReduceLogSumExp" -> "reduce_log_sum_exp" */
static void snake(const char *op, char *out, size_t len) {
  size_t k = 0;
  for (size_t i = 0; op[i] && k + 2 < len; i++) {
    char ch = op[i];
    if (ch >= 'A' && ch <= 'Z') {
      int prev_lower = i > 0 && ((op[i - 1] >= 'a' && op[i - 1] <= 'z') || (op[i - 1] >= '0' && op[i - 1] <= '9'));
      int next_lower = op[i + 1] >= 'a' && op[i + 1] <= 'z';
      if (i > 0 && (prev_lower || (next_lower && op[i - 1] >= 'A' && op[i - 1] <= 'Z'))) out[k++] = '_';
      ch = (char)(ch - 'A' + 'a');
    }
    out[k++] = ch;
  }
  out[k] = 0;
}

/* the operator a case tests: its model's one operator; for a model of several (functions
 * expanded, sequences of ops), the known operator whose name the case's name starts with */
static void assign_ops(ccase *cs, int n) {
  char **known = malloc(sizeof *known * (size_t)(n ? n : 1));
  int nk = 0;
  for (int i = 0; i < n; i++)
    if (!strchr(cs[i].ops, ',') && strcmp(cs[i].ops, "?")) {
      int have = 0;
      for (int k = 0; k < nk && !have; k++) have = !strcmp(known[k], cs[i].ops);
      if (!have) known[nk++] = cs[i].ops;
    }
  for (int i = 0; i < n; i++) {
    if (!strchr(cs[i].ops, ',') && strcmp(cs[i].ops, "?")) {
      cs[i].op = dup_s(cs[i].ops);
      continue;
    }
    const char *best = NULL;
    size_t best_len = 0;
    const char *nm = strncmp(cs[i].name, "test_", 5) ? cs[i].name : cs[i].name + 5;
    /* case names that abbreviate their operator */
    static const char *const alias[][2] = {{"nllloss", "NegativeLogLikelihoodLoss"}, {"sce_", "SoftmaxCrossEntropyLoss"}};
    for (size_t k = 0; k < sizeof alias / sizeof *alias && !best; k++)
      if (!strncmp(nm, alias[k][0], strlen(alias[k][0]))) best = alias[k][1];
    if (best) {
      cs[i].op = dup_s(best);
      continue;
    }
    for (int k = 0; k < nk; k++) {
      char s[128];
      snake(known[k], s, sizeof s);
      size_t len = strlen(s);
      if (!strncmp(nm, s, len) && (nm[len] == 0 || nm[len] == '_') && len > best_len) best = known[k], best_len = len;
    }
    if (!best) { /* an op of its own model, by the same rule */
      char tmp[600];
      snprintf(tmp, sizeof tmp, "%s", cs[i].ops);
      for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ",")) {
        char s[128];
        snake(tok, s, sizeof s);
        size_t len = strlen(s);
        if (!strncmp(nm, s, len) && len > best_len) best = cs[i].ops + (tok - tmp), best_len = len;
      }
      if (best) {
        char one[128];
        size_t l = strcspn(best, ",");
        snprintf(one, sizeof one, "%.*s", (int)l, best);
        cs[i].op = dup_s(one);
        continue;
      }
    }
    cs[i].op = dup_s(best ? best : strcmp(cs[i].ops, "?") ? cs[i].ops : "(model not imported)");
  }
  free(known);
}

typedef struct opstat {
  const char *op;
  int pass, fail, unsup, crash;
} opstat;

static int cmp_opstat(const void *a, const void *b) { return strcmp(((const opstat *)a)->op, ((const opstat *)b)->op); }

static void write_report(const char *path, const char *command, ccase *cs, int n, int subset, const char *filter) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "conformance: cannot write %s: %s\n", path, strerror(errno));
    return;
  }
  int tot[4] = {0};
  opstat *os = calloc((size_t)(n ? n : 1), sizeof *os);
  int nos = 0;
  for (int i = 0; i < n; i++) {
    int k = !strcmp(cs[i].status, "pass") ? 0 : !strcmp(cs[i].status, "fail") ? 1 : !strcmp(cs[i].status, "unsupported") ? 2 : 3;
    tot[k]++;
    int j = 0;
    while (j < nos && strcmp(os[j].op, cs[i].op)) j++;
    if (j == nos) os[nos++].op = cs[i].op;
    int *cnt[4] = {&os[j].pass, &os[j].fail, &os[j].unsup, &os[j].crash};
    (*cnt[k])++;
  }
  qsort(os, (size_t)nos, sizeof *os, cmp_opstat);
  fprintf(f, "# ONNX conformance\n\n");
  fprintf(f, "Generated by `%s` (do not edit by hand): the ONNX backend node test cases of Debian's\n", command);
  fprintf(f, "python3-onnx 1.12, compiled for the `host` target and run in both executor modes.\n\n");
  fprintf(f, "**%d of %d cases pass** (%.1f%%)", tot[0], n, n ? 100.0 * tot[0] / n : 0.0);
  if (subset > 1 || filter) fprintf(f, " (a subset: every %d-th case%s%s)", subset, filter ? ", filter " : "", filter ? filter : "");
  fprintf(f, ".\n\n");
  fprintf(f, "| result | cases |\n| --- | ---: |\n| pass | %d |\n| fail | %d |\n| unsupported | %d |\n| crash | %d |\n| total | %d |\n\n",
          tot[0], tot[1], tot[2], tot[3], n);
  int bound = 0;
  for (int i = 0; i < n; i++) bound += !strcmp(cs[i].status, "pass") && cs[i].detail[0];
  fprintf(f, "%d of the passing cases had inputs bound at compile time (listed at the end).\n\n", bound);
  fprintf(f, "How a case is judged: the model is compiled (if the compiler needs an input to be a\n"
             "constant, such as a shape or an axis, the inputs that value comes from are bound to the case's own\n"
             "values at compile time, never the data the case computes on); the program is loaded through the\n"
             "runtime's verifier and run in fast and in checked mode; every output must have the\n"
             "expected dtype and shape and match by the suite's rule (|got - want| <= 1e-7 + 1e-3 |want|,\n"
             "exact for integers and bools, NaN where NaN is expected), and the two modes must agree\n"
             "bit for bit. Each case runs in its own process with a time limit: a crash or a hang is\n"
             "counted as `crash`. CI (`meson test --suite conformance`) fails if any case crashes or a case listed in\n"
             "tests/conformance_pass.txt stops passing.\n\n");
  fprintf(f, "## By operator\n\n| operator | pass | fail | unsupported | crash |\n| --- | ---: | ---: | ---: | ---: |\n");
  for (int j = 0; j < nos; j++)
    fprintf(f, "| %s | %d | %d | %d | %d |\n", os[j].op, os[j].pass, os[j].fail, os[j].unsup, os[j].crash);
  const char *sections[3][2] = {{"crash", "Crashes"}, {"fail", "Failures"}, {"unsupported", "Unsupported"}};
  for (int s = 0; s < 3; s++) {
    int any = 0;
    for (int i = 0; i < n; i++) {
      if (strcmp(cs[i].status, sections[s][0])) continue;
      if (!any) fprintf(f, "\n## %s\n\n| case | operator | reason |\n| --- | --- | --- |\n", sections[s][1]);
      any = 1;
      fprintf(f, "| %s | %s | %s |\n", cs[i].name, cs[i].op, cs[i].detail);
    }
  }
  if (bound) {
    fprintf(f, "\n## Passes with inputs bound at compile time\n\n| case | operator | how |\n| --- | --- | --- |\n");
    for (int i = 0; i < n; i++)
      if (!strcmp(cs[i].status, "pass") && cs[i].detail[0]) fprintf(f, "| %s | %s | %s |\n", cs[i].name, cs[i].op, cs[i].detail);
  }
  free(os);
  fclose(f);
}

static void usage(void) {
  fprintf(stderr, "usage: conformance [--expect FILE] [--report FILE] [--list FILE] [--command TEXT] [--jobs N]\n"
                  "                   [--timeout S] [--subset K] [--filter TEXT] [-v] CASES_DIR\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *expect = NULL, *report = NULL, *list = NULL, *command = "conformance", *root = NULL, *filter = NULL;
  int jobs = 1, subset = 1, verbose = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-v")) verbose = 1;
    else if (a[0] == '-' && !v) usage();
    else if (!strcmp(a, "--expect")) expect = v, i++;
    else if (!strcmp(a, "--report")) report = v, i++;
    else if (!strcmp(a, "--list")) list = v, i++;
    else if (!strcmp(a, "--command")) command = v, i++;
    else if (!strcmp(a, "--filter")) filter = v, i++;
    else if (!strcmp(a, "--jobs")) jobs = atoi(v), i++;
    else if (!strcmp(a, "--timeout")) g_timeout = (unsigned)atoi(v), i++;
    else if (!strcmp(a, "--subset")) subset = atoi(v), i++;
    else if (a[0] == '-') usage();
    else root = a;
  }
  if (!root || jobs < 1 || subset < 1 || g_timeout < 1) usage();
  DIR *d = opendir(root);
  if (!d) {
    fprintf(stderr, "conformance: no test cases in %s (%s); skipped\n", root, strerror(errno));
    return 77;
  }
  char **names = NULL;
  int nn = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (nn == cap) {
      cap = cap ? cap * 2 : 1024;
      names = realloc(names, sizeof *names * (size_t)cap);
      if (!names) return 1;
    }
    names[nn++] = dup_s(de->d_name);
  }
  closedir(d);
  if (nn == 0) {
    fprintf(stderr, "conformance: no test cases in %s; skipped\n", root);
    return 77;
  }
  qsort(names, (size_t)nn, sizeof *names, cmp_str);
  ccase *cs = calloc((size_t)nn, sizeof *cs);
  int n = 0;
  for (int i = 0; i < nn; i++)
    if (i % subset == 0 && (!filter || strstr(names[i], filter))) cs[n++].name = names[i];
  int next = 0, running = 0, done = 0;
  while (done < n) {
    while (running < jobs && next < n) {
      if (start_case(root, &cs[next]) < 0) {
        fprintf(stderr, "conformance: cannot start a process: %s\n", strerror(errno));
        return 1;
      }
      next++, running++;
    }
    int ws;
    pid_t pid = waitpid(-1, &ws, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < next; i++)
      if (cs[i].pid == pid && !cs[i].status[0]) {
        finish_case(&cs[i], ws);
        running--, done++;
        if (verbose) printf("%-11s %s: %s\n", cs[i].status, cs[i].name, cs[i].detail);
        fflush(stdout);
        break;
      }
  }
  assign_ops(cs, n);
  int tot[4] = {0};
  for (int i = 0; i < n; i++)
    tot[!strcmp(cs[i].status, "pass") ? 0 : !strcmp(cs[i].status, "fail") ? 1 : !strcmp(cs[i].status, "unsupported") ? 2 : 3]++;
  printf("conformance: %d cases: %d pass, %d fail, %d unsupported, %d crash\n", n, tot[0], tot[1], tot[2], tot[3]);
  if (list) {
    FILE *f = fopen(list, "w");
    if (f) {
      for (int i = 0; i < n; i++) fprintf(f, "%s\t%s\t%s\t%s\n", cs[i].name, cs[i].status, cs[i].op, cs[i].detail);
      fclose(f);
    }
  }
  if (report) write_report(report, command, cs, n, subset, filter);
  int rc = 0;
  if (expect) {
    FILE *f = fopen(expect, "r");
    if (!f) {
      fprintf(stderr, "conformance: cannot read %s: %s\n", expect, strerror(errno));
      return 1;
    }
    char line[512];
    int checked = 0, lost = 0;
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = 0;
      if (!line[0] || line[0] == '#') continue;
      for (int i = 0; i < n; i++)
        if (!strcmp(cs[i].name, line)) {
          checked++;
          if (strcmp(cs[i].status, "pass")) {
            lost++;
            printf("REGRESSION  %s: %s: %s\n", line, cs[i].status, cs[i].detail);
          }
        }
    }
    fclose(f);
    printf("conformance: %d expected passes checked, %d regressed\n", checked, lost);
    rc = lost ? 1 : 0;
  }
  if (tot[3]) { /* every case must end as pass, fail or unsupported */
    printf("conformance: %d case%s crashed or hung\n", tot[3], tot[3] == 1 ? "" : "s");
    rc = 1;
  }
  for (int i = 0; i < n; i++) free(cs[i].ops), free(cs[i].op), free(cs[i].detail);
  for (int i = 0; i < nn; i++) free(names[i]);
  free(names);
  free(cs);
  return rc;
}
