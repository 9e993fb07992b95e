/* predict.c - the time a run will take on this host, before it runs.
 *
 * The fast executor runs the program's instances one after another, so its time is the sum
 * of each executed instance's cost. A calibration (lockstep calibrate) measures, on this
 * CPU and for 1 and for 2 threads, what each kind of instance costs: a fixed part per
 * instance, a part per element (or byte) for each class of work, and for MM a model of the
 * GEMM: a + b*flops + c*K*N (packing the plane) + d*M*N (writing the result). The
 * prediction walks the same plan the fast mode executes (instances read in place or
 * absorbed into others cost nothing), so it is known as soon as the program is loaded. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static const char *const class_names[LS_COST_COUNT] = {
#define X(e, name) name,
    LS_COST_CLASSES(X)
#undef X
};

const char *ls_cost_class_name(ls_cost_class c) { return (unsigned)c < LS_COST_COUNT ? class_names[c] : "?"; }

/* The class of an instance's work, and how much of it there is. */
ls_cost_class ls_cost_of(const ls_target *t, const ls_insn *in, double *amount) {
  const double elems = (double)in->n * t->lanes;
  const double bytes = elems * (double)ls_dtype_size((ls_dtype)in->t0);
  *amount = elems;
  switch (ls_ops[in->op].format) {
  case LS_FMT_READ: *amount = bytes; return LS_COST_COPY;
  case LS_FMT_WRITE: /* only its lanes */
    *amount = in->aux && in->aux < t->lanes ? bytes * in->aux / t->lanes : bytes;
    return LS_COST_COPY;
  case LS_FMT_LW: *amount = bytes; return LS_COST_COPY;
  case LS_FMT_GATHER:
  case LS_FMT_SCATTER: return LS_COST_GATHER;
  case LS_FMT_LANE:
  case LS_FMT_PERM: return LS_COST_SXM;
  case LS_FMT_MM: return LS_COST_MM;
  case LS_FMT_UN:
  case LS_FMT_BIN:
  case LS_FMT_TER:
  case LS_FMT_IMM:
    if (in->op == LS_OP_TRANSPOSE) return LS_COST_SXM;
    if (in->op == LS_OP_MOV) { *amount = bytes; return LS_COST_COPY; }
    switch (ls_ops[in->op].lat) {
    case LS_LAT_TRANS: /* f32 exp and erf are vectorised polynomials; the others call libm per element */
      return (in->op == LS_OP_EXP || in->op == LS_OP_ERF) && in->t0 == LS_F32 ? LS_COST_EXP : LS_COST_TRANS;
    case LS_LAT_RED: /* an f32 vsum or vmax is a vectorised lane-wise op; the others walk lanes */
      return (in->op == LS_OP_VSUM || in->op == LS_OP_VMAX) && in->t0 == LS_F32 ? LS_COST_ALU : LS_COST_RED;
    default: return ls_dtype_class((ls_dtype)in->t0) == 'F' && in->t0 != LS_F32 ? LS_COST_TRANS : LS_COST_ALU;
    }
  case LS_FMT_NONE:
  case LS_FMT_IDLE:
  case LS_FMT_REPEAT:
  case LS_FMT_COUNT: break;
  }
  *amount = 0;
  return LS_COST_NONE;
}

double ls_cost_mm_ns(const ls_cost_model *m, double M, double K, double N) {
  if (M <= 4 && m->mm_few[1] > 0) return m->mm_few[0] + m->mm_few[1] * M * K * N;
  return m->mm[0] + m->mm[1] * 2 * M * K * N + m->mm[2] * K * N + m->mm[3] * M * N;
}

/* an MM instance's K (its plane's rows) and N (the columns it computes) */
static uint32_t mm_k(const ls_program *p, const rt_inst *x) { return p->inst[x->plane_lw].in.n; }
static uint32_t mm_n(const ls_program *p, const rt_inst *x) { return x->in.imm ? (uint32_t)x->in.imm : p->prog.target.lanes; }

/* the predicted ns under model m of an instance fast mode runs (one of p->fast_list) */
double rt_inst_ns(const ls_program *p, const ls_cost_model *m, const rt_inst *x) {
  const ls_target *t = &p->prog.target;
  double amount;
  ls_cost_class c = ls_cost_of(t, &x->in, &amount);
  if (c == LS_COST_NONE) return 0;
  if (x->in.op == LS_OP_LW && x->plane_ptr) return m->per_insn;
  if (x->nchain) { /* a chain runs at its WRITE's turn: its alu instances at the chain rate
                     * (without a measured one, what each costs alone), the others as alone;
                     * on only the lanes the WRITE stores */
    double ns = m->per_insn + m->per_unit[c] * amount;
    const double part = x->in.aux && x->in.aux < t->lanes ? (double)x->in.aux / t->lanes : 1.0;
    for (uint32_t k = 0; k < x->nchain; k++) {
      const rt_inst *y = &p->inst[p->chain[x->chain0 + k]];
      const ls_cost_class cy = ls_cost_of(t, &y->in, &amount);
      amount *= part;
      if (cy == LS_COST_ALU && m->chain > 0) ns += m->chain * amount;
      else if (cy != LS_COST_NONE) ns += m->per_insn + m->per_unit[cy] * amount;
    }
    return ns;
  }
  /* an f32 vsum keeps its sums in registers and stores one vector: the chain rate, what an
   * alu instance costs with no stream of its own to store (the transformer's 128-vector
   * vsums: 0.8 us measured, 2.9 predicted at the alu rate, 1.1 at the chain's). Not vmax:
   * pooling that still reduces gathered windows with it reads them from memory, at about
   * the alu rate (ResNet-18's 784 before its max pool ran by phases: 186 us, 204 predicted) */
  if (x->in.op == LS_OP_VSUM && x->in.t0 == LS_F32 && m->chain > 0) return m->per_insn + m->chain * amount;
  if (x->in.op == LS_OP_GATHER && (x->nruns || x->nreps)) { /* by runs: per run, and per byte copied */
    const double sz = (double)ls_dtype_size((ls_dtype)x->in.t0);
    double ns = m->per_insn, in_reps = 0;
    for (uint32_t r = 0; r < x->nreps; r++) { /* a transpose's n1 x n2 runs: as runs, or (runs of one
                                               * element, moved 8 x 8 in registers) as a gather */
      const rt_rep *q = &p->greps[x->reps0 + r];
      const double runs = (double)q->n1 * q->n2, elems = runs * q->len;
      const double by_runs = m->run * runs + m->run_byte * elems * sz, by_elems = m->per_unit[LS_COST_GATHER] * elems;
      ns += by_runs < by_elems || !(by_elems > 0) ? by_runs : by_elems;
      in_reps += elems;
    }
    const double rest = amount > in_reps ? amount - in_reps : 0;
    return ns + m->run * x->nruns + m->run_byte * rest * sz;
  }
  if (c == LS_COST_MM) return m->per_insn + ls_cost_mm_ns(m, x->in.n, mm_k(p, x), mm_n(p, x));
  return m->per_insn + m->per_unit[c] * amount;
}

/* How far p is from fitting the cache: 0 up to cache_bytes of memory, 1 from cold_bytes,
 * log-linear between (0 without cold measurements). */
double rt_cold_fraction(const ls_program *p, const ls_calibration *cal) {
  const double mem = (double)p->prog.mem_bytes;
  if (!(cal->cache_bytes > 0) || !(cal->cold_bytes > cal->cache_bytes) || !(cal->cold[0].mm[1] > 0)) return 0;
  if (mem <= cal->cache_bytes) return 0;
  if (mem >= cal->cold_bytes) return 1;
  return log(mem / cal->cache_bytes) / log(cal->cold_bytes / cal->cache_bytes);
}

/* an instance's cost under calibration cal, with cold fraction f (rt_cold_fraction), run by
 * fast mode with `threads` threads: the 2-thread costs for an instance it splits, the
 * 1-thread costs for one it runs whole */
static double mixed_ns(const ls_program *p, const ls_calibration *cal, int threads, double f, const rt_inst *x) {
  const int t = rt_split_threads(p, x, threads >= 2 ? 2 : 1, 0) > 1 ? 1 : 0;
  double ns = (1 - f) * rt_inst_ns(p, &cal->model[t], x) + (f > 0 ? f * rt_inst_ns(p, &cal->cold[t], x) : 0);
  if (threads >= 2) /* the lines that come over from the other thread's core (verify.c: plan_cross) */
    ns += ((1 - f) * cal->model[1].cross + f * cal->cold[1].cross) * x->xbytes;
  for (int k = 0; k < x->n_feed; k++) { /* its gathers, split as it is, without an instance's own cost */
    const rt_inst *y = &p->inst[x->feed[k]];
    ns += (1 - f) * (rt_inst_ns(p, &cal->model[t], y) - cal->model[t].per_insn) +
          (f > 0 ? f * (rt_inst_ns(p, &cal->cold[t], y) - cal->cold[t].per_insn) : 0);
  }
  return ns;
}

double ls_predict_us(const ls_program *p, const ls_calibration *cal, int threads) {
  if (!cal || !p) return NAN;
  const int t = threads >= 2 ? 1 : 0;
  const double f = rt_cold_fraction(p, cal);
  double ns = (1 - f) * cal->model[t].per_run + f * cal->cold[t].per_run;
  for (uint32_t i = 0; i < p->n_fast; i++) /* what fast mode runs, as it runs it */
    ns += mixed_ns(p, cal, threads, f, &p->inst[p->fast_list[i]]);
  return ns / 1e3;
}

uint32_t ls_steps(const ls_program *p) { return p ? p->n_fast : 0; }

void ls_step(const ls_program *p, uint32_t k, const ls_calibration *cal, int threads, ls_step_info *out) {
  memset(out, 0, sizeof *out);
  out->predicted_ns = NAN;
  if (!p || k >= p->n_fast) return;
  const rt_inst *x = &p->inst[p->fast_list[k]];
  out->insn = x->in;
  out->queue = x->queue;
  out->chained = x->nchain;
  out->runs = x->nruns + x->nreps;
  out->absorbed = x->n_epi;
  out->fed = x->n_feed;
  if (x->in.op == LS_OP_MM) {
    out->mm_k = mm_k(p, x), out->mm_n = mm_n(p, x);
    out->flops = 2.0 * x->in.n * out->mm_k * out->mm_n;
  }
  if (cal) out->predicted_ns = mixed_ns(p, cal, threads, rt_cold_fraction(p, cal), x);
}

/* ---- the profile file: "key = value" lines ------------------------------------------------ */

const char *ls_calibration_path(void) {
  static char buf[1024];
  const char *e = getenv("LOCKSTEP_CALIBRATION");
  if (e && *e) return e;
  const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
  if (x && *x) snprintf(buf, sizeof buf, "%s/lockstep/calibration", x);
  else snprintf(buf, sizeof buf, "%s/.config/lockstep/calibration", h && *h ? h : ".");
  return buf;
}

ls_status ls_calibration_save(const char *path, const ls_calibration *c, ls_error *err) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  for (char *s = dir + 1; *s; s++) /* make the directories on the way */
    if (*s == '/') {
      *s = '\0';
      mkdir(dir, 0755);
      *s = '/';
    }
  FILE *f = fopen(path, "w");
  if (!f) {
    rt_errorf(err, LS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return LS_ERR_IO;
  }
  fprintf(f, "# Lockstep host calibration: what each kind of work costs here (made by lockstep calibrate)\n");
  fprintf(f, "host = %s\n", c->host);
  fprintf(f, "# t1, t2: 1 and 2 threads, data in cache; c1, c2: the same with data streamed from memory.\n"
             "# A program whose memory is up to cache_bytes uses t, from cold_bytes c, between a log-linear mix\n");
  fprintf(f, "cache_bytes = %.0f\ncold_bytes = %.0f\n", c->cache_bytes, c->cold_bytes);
  for (int t = 0; t < 4; t++) {
    const ls_cost_model *m = t < 2 ? &c->model[t] : &c->cold[t - 2];
    const char pre = t < 2 ? 't' : 'c';
    const int th = t % 2 + 1;
    fprintf(f, "%c%d.per_run = %.6g\n%c%d.per_insn = %.6g\n", pre, th, m->per_run, pre, th, m->per_insn);
    for (int k = 1; k < LS_COST_COUNT; k++) fprintf(f, "%c%d.%s = %.6g\n", pre, th, class_names[k], m->per_unit[k]);
    for (int k = 0; k < 4; k++) fprintf(f, "%c%d.mm%d = %.6g\n", pre, th, k, m->mm[k]);
    for (int k = 0; k < 2; k++) fprintf(f, "%c%d.mm_few%d = %.6g\n", pre, th, k, m->mm_few[k]);
    fprintf(f, "%c%d.run = %.6g\n%c%d.run_byte = %.6g\n", pre, th, m->run, pre, th, m->run_byte);
    fprintf(f, "%c%d.chain = %.6g\n", pre, th, m->chain);
    if (th == 2) fprintf(f, "%c%d.cross = %.6g\n", pre, th, m->cross);
  }
  if (fclose(f) != 0) {
    rt_errorf(err, LS_ERR_IO, "%s: write failed", path);
    return LS_ERR_IO;
  }
  return LS_OK;
}

ls_status ls_calibration_load(const char *path, ls_calibration *c, ls_error *err) {
  memset(c, 0, sizeof *c);
  FILE *f = fopen(path, "r");
  if (!f) {
    rt_errorf(err, LS_ERR_IO, "%s: cannot open: %s (run 'lockstep calibrate')", path, strerror(errno));
    return LS_ERR_IO;
  }
  char line[512];
  int lineno = 0, seen = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char key[64], val[256];
    if (sscanf(line, " %63[^= \t] = %255[^\n]", key, val) != 2) continue;
    if (strcmp(key, "host") == 0) {
      snprintf(c->host, sizeof c->host, "%.127s", val);
      continue;
    }
    char *end;
    double v = strtod(val, &end);
    if (strcmp(key, "cache_bytes") == 0 && end != val) {
      c->cache_bytes = v;
      continue;
    }
    if (strcmp(key, "cold_bytes") == 0 && end != val) {
      c->cold_bytes = v;
      continue;
    }
    int t = (key[0] == 't' || key[0] == 'c') && (key[1] == '1' || key[1] == '2') && key[2] == '.' ? key[1] - '1' : -1;
    if (t < 0 || end == val) {
      fclose(f);
      rt_errorf(err, LS_ERR_FORMAT, "%s:%d: expected 'tN.KEY = NUMBER' or 'cN.KEY = NUMBER' (N: 1 or 2 threads)", path,
                lineno);
      return LS_ERR_FORMAT;
    }
    ls_cost_model *m = key[0] == 't' ? &c->model[t] : &c->cold[t];
    const char *k = key + 3;
    if (strcmp(k, "per_run") == 0) m->per_run = v;
    else if (strcmp(k, "per_insn") == 0) m->per_insn = v;
    else if (strncmp(k, "mm", 2) == 0 && k[2] >= '0' && k[2] <= '3' && !k[3]) m->mm[k[2] - '0'] = v;
    else if (strncmp(k, "mm_few", 6) == 0 && (k[6] == '0' || k[6] == '1') && !k[7]) m->mm_few[k[6] - '0'] = v;
    else if (strcmp(k, "run") == 0) m->run = v;
    else if (strcmp(k, "run_byte") == 0) m->run_byte = v;
    else if (strcmp(k, "chain") == 0) m->chain = v;
    else if (strcmp(k, "cross") == 0) m->cross = v;
    else {
      int found = 0;
      for (int j = 1; j < LS_COST_COUNT; j++)
        if (strcmp(k, class_names[j]) == 0) m->per_unit[j] = v, found = 1;
      if (!found) {
        fclose(f);
        rt_errorf(err, LS_ERR_FORMAT, "%s:%d: unknown key '%s'", path, lineno, key);
        return LS_ERR_FORMAT;
      }
    }
    seen++;
  }
  fclose(f);
  if (seen < 10) {
    rt_errorf(err, LS_ERR_FORMAT, "%s: an incomplete calibration (%d values)", path, seen);
    return LS_ERR_FORMAT;
  }
  return LS_OK;
}
