/* exec.c - run a verified program in caller-owned memory: fast mode and checked mode.
 *
 * Both modes execute the instances in the verified order with the same kernels, so their
 * output bits agree by construction. What differs:
 *   fast     reads aliased (READ-fed) streams straight from SRAM and splits large
 *            instructions across threads with a static partition;
 *   checked  copies every stream into its own slot, runs on one thread, and steps the
 *            machine cycle by cycle: each vector is placed on its stream register in the
 *            cycle it arrives, tagged with its producer, and each consumer must find the
 *            vector it expects there in the cycle it reads. It can report a trace.
 * Neither allocates, locks or makes a system call: everything lives in the arena. */
#include <string.h>

#include "internal.h"
#include "ls_config.h"

#if LS_HAVE_OPENMP
#include <omp.h>
#endif


static k_src source(const ls_program *p, uint8_t *arena, const rt_inst *x, int k, int allow_alias) {
  k_src s = {NULL, 0};
  if (x->src[k] == RT_NONE) return s;
  const rt_inst *pr = &p->inst[x->src[k]];
  if (allow_alias && pr->alias) {
    s.stride = pr->in.stride;
    s.p = arena + p->sram_off + pr->in.addr + (int64_t)x->src_off[k] * pr->in.stride;
  } else {
    s.stride = (int64_t)ls_vector_bytes(&p->prog.target, ls_insn_out_dtype(&pr->in));
    s.p = arena + p->slot_off + pr->slot + (uint64_t)x->src_off[k] * (uint64_t)s.stride;
  }
  return s;
}

/* input k of x from its vector b0 on */
static k_src source_at(const ls_program *p, uint8_t *arena, const rt_inst *x, int k, uint32_t b0) {
  k_src s = source(p, arena, x, k, 1);
  if (s.p) s.p += (int64_t)b0 * s.stride;
  return s;
}

/* the operands of chain x's products from vector b0 on; returns the accumulator the first
 * adds to (c0), or NULL */
static const k_src *mac_sources(const ls_program *p, uint8_t *arena, const rt_inst *x, uint32_t b0, k_src *a, k_src *b,
                                k_src *c0) {
  for (uint32_t j = 0; j < x->chain_mac; j++) {
    const rt_inst *y = &p->inst[p->chain[x->chain0 + j]];
    a[j] = source_at(p, arena, y, 0, b0), b[j] = source_at(p, arena, y, 1, b0);
  }
  const rt_inst *y0 = &p->inst[p->chain[x->chain0]];
  if (y0->in.op != LS_OP_MAC) return NULL;
  *c0 = source_at(p, arena, y0, 2, b0);
  return c0;
}

/* A chain and its WRITE (x), RT_CHAIN_BLOCK vectors at a time through two buffers. Every
 * chained instruction works lane by lane and only the WRITE's lanes reach memory, so when it
 * stores fewer than L lanes, only those are computed (a depthwise convolution of 144
 * channels: 144 of 256): the kernels run with a target of that many lanes. */
static void chain_range(const ls_program *p, uint8_t *arena, const k_ctx *c_all, const rt_inst *x, uint8_t *scratch,
                        uint32_t v0, uint32_t v1) {
  const size_t half = RT_CHAIN_BLOCK * p->chain_vb;
  ls_target narrow = *c_all->t;
  k_ctx cn = *c_all;
  if (x->in.aux && x->in.aux < narrow.lanes) narrow.lanes = x->in.aux, cn.t = &narrow;
  const k_ctx *c = &cn;
  /* products, then only f32 maxs/mins of the last result, then an f32 WRITE: one pass from
   * the products' operands to memory where the kernels have one */
  k_clamp q = {0};
  int direct = x->chain_mac && x->in.t0 == LS_F32;
  for (uint32_t k = x->chain_mac; direct && k < x->nchain; k++) {
    const rt_inst *y = &p->inst[p->chain[x->chain0 + k]];
    direct = y->src[0] == p->chain[x->chain0 + k - 1] && k_clamp_add(&q, &y->in);
  }
  if (direct) { /* the whole range at once: no buffer to fit */
    k_src a[RT_CHAIN_MACS], b[RT_CHAIN_MACS], c0;
    const k_src *acc = mac_sources(p, arena, x, v0, a, b, &c0);
    if (k_mac_chain_to(c, x->chain_mac, a, b, acc, &q, c->sram + x->in.addr + (int64_t)v0 * x->in.stride, x->in.stride,
                       v1 - v0))
      return;
  }
  for (uint32_t b0 = v0; b0 < v1; b0 += RT_CHAIN_BLOCK) {
    const uint32_t nb = v1 - b0 < RT_CHAIN_BLOCK ? v1 - b0 : RT_CHAIN_BLOCK;
    k_src prev = {NULL, 0};
    uint32_t prev_id = RT_NONE, k = 0;
    if (x->chain_mac) { /* the products first, their sum in registers */
      k_src a[RT_CHAIN_MACS], b[RT_CHAIN_MACS], c0;
      const k_src *acc = mac_sources(p, arena, x, b0, a, b, &c0);
      uint8_t *out = scratch + ((x->chain_mac - 1) % 2) * half; /* where the last product would be */
      k_mac_chain(c, x->chain_mac, a, b, acc, out, nb);
      k = x->chain_mac;
      prev = (k_src){out, (int64_t)ls_vector_bytes(c->t, LS_F32)};
      prev_id = p->chain[x->chain0 + k - 1];
    }
    for (; k < x->nchain; k++) {
      const uint32_t id = p->chain[x->chain0 + k];
      const rt_inst *y = &p->inst[id];
      k_src s[3];
      for (int j = 0; j < 3; j++) s[j] = y->src[j] == prev_id && prev_id != RT_NONE ? prev : source_at(p, arena, y, j, b0);
      uint8_t *out = scratch + (k % 2) * half;
      k_run(c, &y->in, s, out, 0, nb);
      prev = (k_src){out, (int64_t)ls_vector_bytes(c->t, ls_insn_out_dtype(&y->in))};
      prev_id = id;
    }
    ls_insn w = x->in;
    w.addr += (uint64_t)((int64_t)b0 * w.stride);
    const k_src s[3] = {prev, {NULL, 0}, {NULL, 0}};
    k_run(c, &w, s, NULL, 0, nb);
  }
}

/* An MM's rows [v0, v1): first the bytes of its feeding gathers that those rows read. */
static void feed_rows(const ls_program *p, uint8_t *arena, const k_ctx *c, const rt_inst *x, uint32_t v0, uint32_t v1) {
  const rt_inst *r = &p->inst[x->src[0]];
  const uint64_t a_lo = r->in.addr + (uint64_t)x->src_off[0] * (uint64_t)r->in.stride;
  const uint64_t lo = a_lo + (uint64_t)v0 * (uint64_t)r->in.stride, hi = a_lo + (uint64_t)v1 * (uint64_t)r->in.stride;
  for (int k = 0; k < x->n_feed; k++) {
    const rt_inst *y = &p->inst[x->feed[k]];
    const ls_insn *w = &p->inst[y->direct].in;
    const uint64_t d_lo = w->addr, d_hi = w->addr + (uint64_t)w->n * c->t->lanes * 4;
    if (hi <= d_lo || d_hi <= lo) continue;
    const uint64_t e0 = ((lo > d_lo ? lo : d_lo) - d_lo) / 4, e1 = ((hi < d_hi ? hi : d_hi) - d_lo) / 4;
    k_gather_elems(c, &y->in, p->gruns + y->runs0, y->nruns, p->greps + y->reps0, y->nreps,
                   arena + p->sram_off + w->addr, e0, e1);
  }
}

/* One instance's vectors [v0, v1), with the fast mode's plan applied (scratch: this
 * thread's chain buffers). */
static void fast_range(const ls_program *p, uint8_t *arena, const k_ctx *c, const rt_inst *x, const k_src src[3],
                       uint8_t *scratch, uint32_t v0, uint32_t v1) {
  if (x->n_feed) feed_rows(p, arena, c, x, v0, v1);
  if (x->nchain) {
    chain_range(p, arena, c, x, scratch, v0, v1);
    return;
  }
  if (x->nruns || x->nreps) { /* a gather with constant indices, by runs */
    uint8_t *dst = x->direct != RT_NONE ? arena + p->sram_off + p->inst[x->direct].in.addr : arena + p->slot_off + x->slot;
    k_gather_runs(c, &x->in, p->gruns + x->runs0, x->nruns, p->greps + x->reps0, x->nreps, dst, v0, v1);
    return;
  }
  if (x->direct != RT_NONE) {
    const rt_inst *w = &p->inst[x->direct];
    uint8_t *dst = arena + p->sram_off + w->in.addr;
    if (x->in.op == LS_OP_MM) {
      k_dst d = {dst, w->in.stride, w->in.aux ? w->in.aux : c->t->lanes, x->n_epi, {NULL, NULL, NULL, NULL}};
      for (int e = 0; e < x->n_epi; e++) d.ops[e] = &p->inst[x->epi[e]].in;
      k_mm_to(c, &x->in, src, &d, v0, v1);
    } else {
      k_run(c, &x->in, src, dst, v0, v1); /* contiguous: the kernel's own layout */
    }
    return;
  }
  if (x->in.op == LS_OP_LW && x->plane_ptr) {
    k_lw_in_place(c, &x->in, &src[0]);
    return;
  }
  k_run(c, &x->in, src, x->outs ? arena + p->slot_off + x->slot : NULL, v0, v1);
}

int rt_split_threads(const ls_program *p, const rt_inst *x, int threads, uint64_t split_min) {
  const ls_target *t = &p->prog.target;
  const uint32_t n = x->in.n;
  if (threads <= 1 || n <= 1 || !k_splittable((ls_op)x->in.op)) return 1;
  uint64_t work = (uint64_t)n * t->lanes, least = split_min ? split_min : LS_SPLIT_MIN_ELEMS;
  if (x->in.op == LS_OP_MM) { /* multiply-adds: rows x the plane's rows x columns */
    work = (uint64_t)n * p->inst[x->plane_lw].in.n * (x->in.imm ? (uint64_t)x->in.imm : t->lanes);
    least = split_min ? split_min : LS_SPLIT_MIN_MACS;
  }
  if (work < least) return 1;
  const uint32_t grain = k_grain(t, &x->in), G = (n + grain - 1) / grain; /* whole grains */
  int nt = (int)(G < (uint32_t)threads ? G : (uint32_t)threads);
  if (x->nchain && nt > RT_CHAIN_THREADS) nt = RT_CHAIN_THREADS;
  return nt;
}

static void run_fast(const ls_program *p, uint8_t *arena, int threads, const ls_run_opts *o) {
  const k_ctx c = {&p->prog.target, arena + p->sram_off, arena + p->plane_off, p->plane_stride};
  for (uint32_t f = 0; f < p->n_fast; f++) {
    const rt_inst *x = &p->inst[p->fast_list[f]];
    if (o->step) o->step(o->step_user, f);
    const k_src src[3] = {source(p, arena, x, 0, 1), source(p, arena, x, 1, 1), source(p, arena, x, 2, 1)};
    const uint32_t n = x->in.n;
#if LS_HAVE_OPENMP
    {
      /* static split in whole grains: thread t of T takes grains [G*t/T, G*(t+1)/T) */
      const uint32_t grain = k_grain(c.t, &x->in), G = (n + grain - 1) / grain;
      const int nt = rt_split_threads(p, x, threads, o->split_min);
      if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
          fp_saved fs;
          fp_enter(&fs);
          const uint64_t t = (uint64_t)omp_get_thread_num(), T = (uint64_t)omp_get_num_threads();
          uint64_t v0 = G * t / T * grain, v1 = G * (t + 1) / T * grain;
          if (v1 > n) v1 = n;
          if (v0 < v1)
            fast_range(p, arena, &c, x, src, arena + p->chain_off + t * p->chain_bytes, (uint32_t)v0, (uint32_t)v1);
          fp_leave(&fs);
        }
        continue;
      }
    }
#else
    (void)threads;
#endif
    fast_range(p, arena, &c, x, src, arena + p->chain_off, 0, n);
  }
  if (o->step) o->step(o->step_user, p->n_fast);
}

/* ---- checked mode -------------------------------------------------------------------------- */

typedef struct stream_reg {
  uint64_t cycle; /* cycle the current vector arrived; UINT64_MAX: never */
  uint32_t inst;  /* producer */
  uint32_t j;     /* vector index within the producer's output */
  uint32_t consumed;
  uint32_t pad;
} stream_reg;

static ls_status run_checked(const ls_program *p, uint8_t *arena, const ls_run_opts *o, uint64_t *cycles,
                             ls_error *err) {
  const ls_target *t = &p->prog.target;
  const k_ctx c = {t, arena + p->sram_off, arena + p->plane_off, p->plane_stride};
  const uint32_t ns = 2 * t->streams;
  stream_reg *reg = (stream_reg *)(arena + p->check_off);
  uint32_t *active = (uint32_t *)(arena + p->check_off + (size_t)ns * sizeof *reg);
  uint32_t na = 0, next = 0;
  uint64_t cyc = 0;
  char who[96], sn[16];
  for (uint32_t s = 0; s < ns; s++) reg[s] = (stream_reg){UINT64_MAX, RT_NONE, 0, 1, 0};

  for (; next < p->n_inst || na > 0; cyc++) {
    if (na == 0 && p->inst[next].in.cycle > cyc) cyc = p->inst[next].in.cycle; /* idle: skip ahead */
    /* issue */
    for (; next < p->n_inst && p->inst[next].in.cycle == cyc; next++) {
      const rt_inst *x = &p->inst[next];
      if (ls_ops[x->in.op].unit != LS_UNIT_ICU) {
        const k_src src[3] = {source(p, arena, x, 0, 0), source(p, arena, x, 1, 0), source(p, arena, x, 2, 0)};
        k_run(&c, &x->in, src, x->outs ? arena + p->slot_off + x->slot : NULL, 0, x->in.n);
      }
      if (o->trace) {
        ls_event ev = {LS_EV_ISSUE, x->queue, x->qinsn, 0, cyc, ls_insn_busy(&x->in)};
        o->trace(o->trace_user, &ev);
      }
      active[na++] = next;
    }
    /* arrivals: every vector lands on its stream in its cycle */
    for (uint32_t a = 0; a < na; a++) {
      const rt_inst *x = &p->inst[active[a]];
      if (!x->outs) continue;
      const uint64_t first = x->in.cycle + x->out_delay;
      if (cyc < first || cyc >= first + x->outs) continue;
      stream_reg *r = &reg[x->in.dst];
      if (r->cycle == cyc) {
        rt_describe(p, x, who, sizeof who);
        ls_stream_name(t, x->in.dst, sn, sizeof sn);
        rt_errorf(err, LS_ERR_VERIFY, "checked run, cycle %llu: %s overwrites stream %s before it is consumed",
                  (unsigned long long)cyc, who, sn);
        return LS_ERR_VERIFY;
      }
      *r = (stream_reg){cyc, active[a], (uint32_t)(cyc - first), 0, 0};
      if (o->trace && cyc == first) {
        ls_event ev = {LS_EV_STREAM, x->queue, x->qinsn, x->in.dst, cyc, x->outs};
        o->trace(o->trace_user, &ev);
      }
    }
    /* consumption: each input finds exactly the vector it was linked to */
    for (uint32_t a = 0; a < na; a++) {
      const rt_inst *x = &p->inst[active[a]];
      if (ls_ops[x->in.op].unit == LS_UNIT_ICU || cyc >= x->in.cycle + x->in.n) continue;
      const uint32_t i = (uint32_t)(cyc - x->in.cycle);
      for (int k = 0; k < 3; k++) {
        if (x->src[k] == RT_NONE) continue;
        const uint8_t s = k == 0 ? x->in.a : k == 1 ? x->in.b : x->in.c;
        stream_reg *r = &reg[s];
        if (r->cycle != cyc || r->inst != x->src[k] || r->j != x->src_off[k] + i) {
          rt_describe(p, x, who, sizeof who);
          ls_stream_name(t, s, sn, sizeof sn);
          rt_errorf(err, LS_ERR_VERIFY, "checked run, cycle %llu: %s reads stream %s but %s", (unsigned long long)cyc,
                    who, sn, r->cycle != cyc ? "nothing arrives then" : "a different vector arrives than was linked");
          return LS_ERR_VERIFY;
        }
        r->consumed = 1;
      }
    }
    /* every vector that arrived this cycle was consumed; retire finished instances */
    uint32_t keep = 0;
    for (uint32_t a = 0; a < na; a++) {
      const rt_inst *x = &p->inst[active[a]];
      if (x->outs && reg[x->in.dst].cycle == cyc && reg[x->in.dst].inst == active[a] && !reg[x->in.dst].consumed) {
        rt_describe(p, x, who, sizeof who);
        ls_stream_name(t, x->in.dst, sn, sizeof sn);
        rt_errorf(err, LS_ERR_VERIFY, "checked run, cycle %llu: the vector %s put on stream %s is never consumed",
                  (unsigned long long)cyc, who, sn);
        return LS_ERR_VERIFY;
      }
      if (ls_insn_done(t, &x->in) > cyc + 1) active[keep++] = active[a];
    }
    na = keep;
  }
  *cycles = cyc; /* the loop stops after the cycle in which the last instruction finished */
  return LS_OK;
}

ls_status ls_run(const ls_program *p, void *arena, size_t bytes, const ls_run_opts *opts, ls_run_info *info,
                 ls_error *err) {
  static const ls_run_opts defaults = {LS_MODE_FAST, 0, NULL, NULL, NULL, NULL, 0};
  const ls_run_opts *o = opts ? opts : &defaults;
  if (!p || !arena || ((uintptr_t)arena % LS_ARENA_ALIGN) || bytes < p->arena_bytes) {
    rt_errorf(err, LS_ERR_ARG, "the arena must be %d-byte aligned and at least %zu bytes (got %zu at %p)",
              LS_ARENA_ALIGN, p ? p->arena_bytes : 0, bytes, arena);
    return LS_ERR_ARG;
  }
  int threads = o->threads;
#if LS_HAVE_OPENMP
  if (threads <= 0) threads = omp_get_max_threads();
#else
  threads = 1;
#endif
  fp_saved fs;
  fp_enter(&fs);
  ls_status st = LS_OK;
  uint64_t cycles = p->cycles; /* fast mode: known before the run */
  if (o->mode == LS_MODE_CHECKED) st = run_checked(p, (uint8_t *)arena, o, &cycles, err);
  else run_fast(p, (uint8_t *)arena, threads, o);
  fp_leave(&fs);
  if (info) {
    info->cycles = cycles;
    info->instructions = p->n_inst;
  }
  return st;
}
