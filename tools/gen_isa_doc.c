/* gen_isa_doc.c - the reference tables of docs/ISA.md, generated from the table in isa/isa.h.
 *
 *   gen_isa_doc                    print the generated section to stdout
 *   gen_isa_doc --check FILE       exit 0 if FILE's generated section is up to date, else 1
 *   gen_isa_doc --update FILE      rewrite FILE's generated section in place
 *
 * The generated section is the text between the lines BEGIN_MARK and END_MARK (exclusive);
 * everything else in the file is hand-written and left alone. The output depends on nothing
 * but the table and the target presets: no dates, no locale, no environment. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa.h"

#define BEGIN_MARK "<!-- BEGIN GENERATED: tools/gen_isa_doc -->"
#define END_MARK "<!-- END GENERATED -->"

/* ---- a growable text buffer ---------------------------------------------------------- */
typedef struct {
  char *p;
  size_t len, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      fprintf(stderr, "gen_isa_doc: out of memory\n");
      exit(2);
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    fprintf(stderr, "gen_isa_doc: internal error: line too long\n");
    exit(2);
  }
  put(b, tmp, (size_t)n);
}

/* A plain-text table cell: escape what Markdown would otherwise interpret. */
static void cell(buf *b, const char *s) {
  puts_(b, " ");
  if (!*s) puts_(b, "-");
  for (; *s; s++) {
    if (strchr("\\|*_`<[]", *s)) put(b, "\\", 1);
    put(b, s, 1);
  }
  puts_(b, " |");
}

/* A code-span table cell. '|' must still be escaped: GFM splits table rows before it parses
 * code spans (the backslash is removed again inside the span). */
static void code(buf *b, const char *s) {
  if (!*s || strchr(s, '`')) {
    cell(b, s);
    return;
  }
  puts_(b, " `");
  for (; *s; s++) {
    if (*s == '|') put(b, "\\", 1);
    put(b, s, 1);
  }
  puts_(b, "` |");
}

static void row_start(buf *b) { puts_(b, "|"); }
static void row_end(buf *b) { puts_(b, "\n"); }

/* ---- facts derived from the table ----------------------------------------------------- */
static const char *const preset_names[] = {
#define X(p) #p,
    LS_TARGET_PRESETS(X)
#undef X
};
#define N_PRESETS (sizeof preset_names / sizeof preset_names[0])

static const char *const format_names[LS_FMT_COUNT] = {
#define X(e, ops) #e,
    LS_FORMATS(X)
#undef X
};

static ls_target presets[N_PRESETS];

static void load_presets(void) {
  char err[256];
  for (size_t i = 0; i < N_PRESETS; i++) {
    if (ls_target_preset(preset_names[i], &presets[i]) != 0 ||
        ls_target_check(&presets[i], err, sizeof err) != 0) {
      fprintf(stderr, "gen_isa_doc: preset %s is not usable\n", preset_names[i]);
      exit(2);
    }
  }
}

static void lower(char *dst, const char *src, size_t len) {
  size_t i = 0;
  for (; src[i] && i + 1 < len; i++) dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' : src[i]);
  dst[i] = '\0';
}

/* "read, write" : every mnemonic for which pred(op, arg) holds, in table order */
static void list_ops(buf *b, int (*pred)(int op, int arg), int arg) {
  int first = 1;
  puts_(b, " ");
  for (int op = 0; op < LS_OP_COUNT; op++) {
    if (!pred(op, arg)) continue;
    putf(b, "%s`%s`", first ? "" : ", ", ls_ops[op].mnemonic);
    first = 0;
  }
  if (first) puts_(b, "-");
  puts_(b, " |");
}
static int op_has_format(int op, int fmt) { return (int)ls_ops[op].format == fmt; }
static int op_has_lat(int op, int lat) { return (int)ls_ops[op].lat == lat; }

static const char *const field_names[] = {"t0", "t1", "dst", "a", "b", "c", "n", "aux", "imm", "addr", "stride"};
#define N_FIELDS (sizeof field_names / sizeof field_names[0])

static void put_fields(buf *b, unsigned f, int *first) {
  for (unsigned i = 0; i < N_FIELDS; i++) {
    if (!(f & (1u << i))) continue;
    putf(b, "%s%s", *first ? "" : ", ", field_names[i]);
    if ((1u << i) == LS_F_B && (f & LS_F_B_OPT)) puts_(b, " (optional)");
    *first = 0;
  }
}

/* Instruction word fields a format uses: those every instruction of the format uses, then
 * what single instructions add ("t1 for cvt"). */
static void fields_cell(buf *b, int fmt) {
  unsigned common = ~0u;
  int any = 0;
  for (int op = 0; op < LS_OP_COUNT; op++)
    if ((int)ls_ops[op].format == fmt) common &= ls_format_fields((ls_op)op), any = 1;
  if (!any) common = 0;
  int first = 1;
  puts_(b, " ");
  put_fields(b, common, &first);
  for (int op = 0; op < LS_OP_COUNT; op++) {
    if ((int)ls_ops[op].format != fmt) continue;
    unsigned extra = ls_format_fields((ls_op)op) & ~common;
    if (!extra) continue;
    int f2 = 1;
    puts_(b, first ? "" : "; ");
    put_fields(b, extra, &f2);
    putf(b, " for `%s`", ls_ops[op].mnemonic);
    first = 0;
  }
  if (first) puts_(b, "(none)");
  puts_(b, " |");
}

/* Assembly options (key=value after the operands) of a format. */
static void options_cell(buf *b, int fmt) {
  unsigned f = 0;
  for (int op = 0; op < LS_OP_COUNT; op++)
    if ((int)ls_ops[op].format == fmt) f |= ls_format_fields((ls_op)op);
  char opts[64] = "";
  if ((f & LS_F_N) && fmt != LS_FMT_IDLE && fmt != LS_FMT_REPEAT) strcat(opts, "n=, ");
  if (f & LS_F_STRIDE) strcat(opts, "stride=, ");
  if ((f & LS_F_AUX) && (fmt == LS_FMT_GATHER || fmt == LS_FMT_SCATTER)) strcat(opts, "size=, ");
  if ((f & LS_F_IMM) && fmt == LS_FMT_MM) strcat(opts, "cols=, ");
  if ((f & LS_F_AUX) && (fmt == LS_FMT_READ || fmt == LS_FMT_WRITE)) strcat(opts, "lanes=, ");
  if ((f & LS_F_IMM) && fmt == LS_FMT_READ) strcat(opts, "fill=, ");
  size_t n = strlen(opts);
  if (n) opts[n - 2] = '\0';
  code(b, opts);
}

static const char *outs_word(ls_outkind k) {
  switch (k) {
  case LS_OUT_NONE: return "-";
  case LS_OUT_N: return "n";
  case LS_OUT_ONE: return "1";
  }
  return "?";
}

static const char *class_word(char c) {
  switch (c) {
  case 'F': return "float";
  case 'I': return "signed integer";
  case 'U': return "unsigned integer";
  case 'B': return "boolean";
  }
  return "?";
}

static void bytes_text(char *out, size_t len, uint64_t v) {
  static const char *const units[] = {"GiB", "MiB", "KiB"};
  static const unsigned shifts[] = {30, 20, 10};
  for (int i = 0; i < 3; i++)
    if (v && v % (1ull << shifts[i]) == 0) {
      snprintf(out, len, "%llu %s", (unsigned long long)(v >> shifts[i]), units[i]);
      return;
    }
  snprintf(out, len, "%llu", (unsigned long long)v);
}

static void header(buf *b, const char *const *cols, size_t n, const char *align) {
  row_start(b);
  for (size_t i = 0; i < n; i++) putf(b, " %s |", cols[i]);
  row_end(b);
  row_start(b);
  for (size_t i = 0; i < n; i++) puts_(b, align[i] == 'r' ? "---:|" : "---|");
  row_end(b);
}
#define HEADER(b, align, ...)                                                  \
  do {                                                                         \
    static const char *const cols_[] = {__VA_ARGS__};                          \
    header(b, cols_, sizeof cols_ / sizeof cols_[0], align);                   \
  } while (0)

/* ---- the generated section ----------------------------------------------------------- */
static void gen_units(buf *b) {
  puts_(b, "### Units\n\n"
           "Queues are the instruction queues (slices) of each unit in each target preset; a queue\n"
           "is named by unit and index (`mem0`, `mem1`, ...). *Code* is the unit byte of a queue in the\n"
           "program file.\n\n");
  row_start(b);
  puts_(b, " Unit | Code | What it does |");
  for (size_t p = 0; p < N_PRESETS; p++) putf(b, " Queues (%s) |", preset_names[p]);
  row_end(b);
  puts_(b, "|---|---:|---|");
  for (size_t p = 0; p < N_PRESETS; p++) puts_(b, "---:|");
  row_end(b);
  for (int u = 0; u < LS_UNIT_COUNT; u++) {
    row_start(b);
    code(b, ls_unit_names[u]);
    putf(b, " %d |", u);
    cell(b, ls_unit_docs[u]);
    for (size_t p = 0; p < N_PRESETS; p++) {
      if (u == LS_UNIT_ICU) puts_(b, " every queue |");
      else putf(b, " %u |", presets[p].slices[u]);
    }
    row_end(b);
  }
  puts_(b, "\n");
}

static void gen_targets(buf *b) {
  puts_(b, "### Target presets\n\n"
           "The other fields of the presets (*Key* is the name `.set` and target files use).\n\n");
  row_start(b);
  puts_(b, " Key | Meaning |");
  for (size_t p = 0; p < N_PRESETS; p++) putf(b, " %s |", preset_names[p]);
  row_end(b);
  puts_(b, "|---|---|");
  for (size_t p = 0; p < N_PRESETS; p++) puts_(b, "---:|");
  row_end(b);
  static const char *const keys[] = {"lanes", "streams", "sram", "clock"};
  static const char *const docs[] = {"elements per vector (L)", "stream registers per direction",
                                     "SRAM capacity", "clock in MHz, for predicted time"};
  for (int k = 0; k < 4; k++) {
    row_start(b);
    code(b, keys[k]);
    cell(b, docs[k]);
    for (size_t p = 0; p < N_PRESETS; p++) {
      const ls_target *t = &presets[p];
      char v[64];
      if (k == 0) snprintf(v, sizeof v, "%u", t->lanes);
      else if (k == 1) snprintf(v, sizeof v, "%u", t->streams);
      else if (k == 2) bytes_text(v, sizeof v, t->sram_bytes);
      else snprintf(v, sizeof v, "%u", t->clock_mhz);
      putf(b, " %s |", v);
    }
    row_end(b);
  }
  puts_(b, "\n");
}

static void gen_lats(buf *b) {
  puts_(b, "### Latency classes\n\n"
           "Cycles per class in each preset; set one with `lat.<class>`.\n\n");
  row_start(b);
  puts_(b, " Class | Covers |");
  for (size_t p = 0; p < N_PRESETS; p++) putf(b, " %s |", preset_names[p]);
  puts_(b, " Instructions |");
  row_end(b);
  puts_(b, "|---|---|");
  for (size_t p = 0; p < N_PRESETS; p++) puts_(b, "---:|");
  puts_(b, "---|");
  row_end(b);
  for (int l = 0; l < LS_LAT_COUNT; l++) {
    row_start(b);
    code(b, ls_lat_names[l]);
    cell(b, ls_lat_docs[l]);
    for (size_t p = 0; p < N_PRESETS; p++) putf(b, " %u |", presets[p].lat[l]);
    list_ops(b, op_has_lat, l);
    row_end(b);
  }
  puts_(b, "\n");
}

static void gen_formats(buf *b) {
  puts_(b, "### Operand formats\n\n"
           "*Operands* follow the mnemonic in assembly; *Options* are `key=value` items after them;\n"
           "*Fields* are the instruction word fields the format uses. Every other field must be\n"
           "zero (streams: `0xff`, none).\n\n");
  HEADER(b, "lllll", "Format", "Operands", "Options", "Fields", "Instructions");
  for (int f = 0; f < LS_FMT_COUNT; f++) {
    char name[32];
    lower(name, format_names[f], sizeof name);
    row_start(b);
    code(b, name);
    if (*ls_format_operands[f]) code(b, ls_format_operands[f]);
    else puts_(b, " (none) |");
    options_cell(b, f);
    fields_cell(b, f);
    list_ops(b, op_has_format, f);
    row_end(b);
  }
  puts_(b, "\n");
}

static void gen_dtypes(buf *b) {
  puts_(b, "### Element types\n\n"
           "*Code* is the value of the `t0`/`t1` byte of an instruction and of a tensor's type\n"
           "byte in the program file.\n\n");
  HEADER(b, "lrrl", "Type", "Code", "Bytes", "Class");
  for (int t = 0; t < LS_DTYPE_COUNT; t++) {
    row_start(b);
    code(b, ls_dtype_name((ls_dtype)t));
    putf(b, " %d | %zu |", t, ls_dtype_size((ls_dtype)t));
    cell(b, class_word(ls_dtype_class((ls_dtype)t)));
    row_end(b);
  }
  puts_(b, "\n"
           "The *Types* column of the instruction tables names a set of element types:\n\n");
  HEADER(b, "ll", "Types", "Accepts");
  for (int op = 0; op < LS_OP_COUNT; op++) {
    int seen = 0;
    for (int o2 = 0; o2 < op; o2++) seen |= strcmp(ls_ops[o2].types, ls_ops[op].types) == 0;
    if (seen) continue;
    row_start(b);
    code(b, ls_ops[op].types);
    puts_(b, " ");
    int first = 1;
    for (int t = 0; t < LS_DTYPE_COUNT; t++) {
      if (!ls_op_accepts((ls_op)op, (ls_dtype)t)) continue;
      putf(b, "%s`%s`", first ? "" : ", ", ls_dtype_name((ls_dtype)t));
      first = 0;
    }
    if (first) puts_(b, "-");
    puts_(b, " |");
    row_end(b);
  }
  puts_(b, "\n");
}

static void gen_insns(buf *b) {
  puts_(b, "### Instructions\n\n"
           "*Op* is the opcode in the instruction word. *Out* is the number of vectors put on `dst`\n"
           "for `n` taken in (`-`: none). In *Semantics*, `i` indexes the vectors of a stream\n"
           "(0..n-1), `l` the lanes and `L` is the target's `lanes`.\n\n");
  for (int u = 0; u < LS_UNIT_COUNT; u++) {
    char title[32];
    lower(title, ls_unit_names[u], sizeof title);
    putf(b, "#### `%s`: ", title);
    for (const char *s = ls_unit_docs[u]; *s; s++) {
      if (strchr("\\*_`<[]", *s)) put(b, "\\", 1);
      put(b, s, 1);
    }
    puts_(b, "\n\n");
    HEADER(b, "rllllll", "Op", "Mnemonic", "Operands", "Types", "Latency", "Out", "Semantics");
    for (int op = 0; op < LS_OP_COUNT; op++) {
      const ls_opinfo *o = &ls_ops[op];
      if ((int)o->unit != u) continue;
      row_start(b);
      putf(b, " %d |", op);
      code(b, o->mnemonic);
      if (*ls_format_operands[o->format]) code(b, ls_format_operands[o->format]);
      else puts_(b, " (none) |");
      /* formats without an element type (ICU) take none, whatever the types column says */
      if (ls_format_fields((ls_op)op) & LS_F_T0) code(b, o->types);
      else puts_(b, " - |");
      code(b, ls_lat_names[o->lat]);
      putf(b, " %s |", outs_word(o->out));
      code(b, o->semantics);
      row_end(b);
    }
    puts_(b, "\n");
  }
}

/* The worked example of "Timing", computed by the timing helpers on the host preset. */
static void gen_example(buf *b) {
  ls_target t;
  ls_target_preset("host", &t);
  t.lanes = 16;
  ls_insn ex[4];
  memset(ex, 0, sizeof ex);
  for (int i = 0; i < 4; i++) {
    ex[i].t0 = LS_F32;
    ex[i].n = 4;
    ex[i].dst = ex[i].a = ex[i].b = ex[i].c = LS_NO_STREAM;
  }
  ex[0].op = LS_OP_READ, ex[0].cycle = 0, ex[0].dst = 0;
  ex[1].op = LS_OP_READ, ex[1].cycle = 0, ex[1].dst = 1;
  ex[2].op = LS_OP_ADD, ex[2].cycle = 3, ex[2].a = 0, ex[2].b = 1, ex[2].dst = 2;
  ex[3].op = LS_OP_WRITE, ex[3].cycle = 5, ex[3].a = 2;
  static const char *const text[] = {"mem0: @0 read.f32 e0, [a], n=4", "mem1: @0 read.f32 e1, [b], n=4",
                                     "vxm0: @3 add.f32 e2, e0, e1, n=4", "mem2: @5 write.f32 [y], e2, n=4"};
  puts_(b, "### Timing of the example program\n\n"
           "The example of *Timing* and *Assembly language* on the `host` preset, as the timing\n"
           "helpers in `isa/isa.c` compute it. Ranges are inclusive: 3..6 is cycles 3, 4, 5 and 6.\n"
           "*Done* is the first cycle after the instruction's last effect.\n\n");
  HEADER(b, "lllll", "Instruction", "Queue busy", "Inputs consumed", "Outputs arrive / stores land",
         "Done");
  uint64_t total = 0;
  for (int i = 0; i < 4; i++) {
    const ls_insn *in = &ex[i];
    row_start(b);
    code(b, text[i]);
    putf(b, " %llu..%llu |", (unsigned long long)in->cycle, (unsigned long long)(in->cycle + ls_insn_busy(in) - 1));
    if (in->a != LS_NO_STREAM)
      putf(b, " %llu..%llu |", (unsigned long long)in->cycle, (unsigned long long)(in->cycle + in->n - 1));
    else
      puts_(b, " - |");
    uint64_t outs = ls_insn_outputs(in);
    if (outs) {
      uint64_t s = in->cycle + ls_insn_out_delay(&t, in);
      putf(b, " %llu..%llu (out_delay %llu) |", (unsigned long long)s, (unsigned long long)(s + outs - 1),
           (unsigned long long)ls_insn_out_delay(&t, in));
    } else {
      uint64_t s = in->cycle + ls_insn_latency(&t, in);
      putf(b, " %llu..%llu (latency %u) |", (unsigned long long)s, (unsigned long long)(s + in->n - 1),
           ls_insn_latency(&t, in));
    }
    uint64_t d = ls_insn_done(&t, in);
    if (d > total) total = d;
    putf(b, " %llu |", (unsigned long long)d);
    row_end(b);
  }
  putf(b, "\nThe program takes %llu cycles (the largest *Done*).\n\n", (unsigned long long)total);
}

static void generate(buf *b) {
  load_presets();
  puts_(b, "\n<!-- Generated from isa/isa.h and isa/isa.c by tools/gen_isa_doc: do not edit by hand.\n"
           "     Change the table, then run: gen_isa_doc --update docs/ISA.md -->\n\n");
  puts_(b, "## Reference tables\n\n");
  gen_units(b);
  gen_targets(b);
  gen_lats(b);
  gen_dtypes(b);
  gen_formats(b);
  gen_insns(b);
  gen_example(b);
}

/* ---- --check and --update ------------------------------------------------------------ */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return NULL;
  }
  buf b = {0};
  char tmp[8192];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) put(&b, tmp, n);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "%s: read error\n", path);
    free(b.p);
    return NULL;
  }
  if (!b.p) put(&b, "", 0);
  *len = b.len;
  return b.p;
}

/* Offset just past the line equal to mark, searching from `from`; or (size_t)-1. The start of
 * that line goes to *line_start. */
static size_t find_line(const char *s, size_t len, size_t from, const char *mark, size_t *line_start) {
  size_t ml = strlen(mark);
  for (size_t i = from; i < len;) {
    const char *nl = memchr(s + i, '\n', len - i);
    size_t end = nl ? (size_t)(nl - s) : len;
    size_t l = end - i;
    if (l > 0 && s[end - 1] == '\r') l--;
    if (l == ml && memcmp(s + i, mark, ml) == 0) {
      *line_start = i;
      return nl ? end + 1 : len;
    }
    i = nl ? end + 1 : len;
  }
  return (size_t)-1;
}

static int locate(const char *path, const char *s, size_t len, size_t *begin, size_t *end) {
  size_t ls, after_end;
  size_t after_begin = find_line(s, len, 0, BEGIN_MARK, &ls);
  if (after_begin == (size_t)-1) {
    fprintf(stderr, "%s: no line '%s'\n", path, BEGIN_MARK);
    return -1;
  }
  after_end = find_line(s, len, after_begin, END_MARK, end);
  if (after_end == (size_t)-1) {
    fprintf(stderr, "%s: no line '%s' after '%s'\n", path, END_MARK, BEGIN_MARK);
    return -1;
  }
  *begin = after_begin;
  return 0;
}

static unsigned line_of(const char *s, size_t off) {
  unsigned n = 1;
  for (size_t i = 0; i < off; i++) n += s[i] == '\n';
  return n;
}

static void print_line(const char *label, const char *s, size_t len, size_t at) {
  if (at >= len) {
    fprintf(stderr, "  %s (end of section)\n", label);
    return;
  }
  const char *nl = memchr(s + at, '\n', len - at);
  size_t l = nl ? (size_t)(nl - (s + at)) : len - at;
  if (l == 0) fprintf(stderr, "  %s (empty line)\n", label);
  else fprintf(stderr, "  %s %.*s\n", label, (int)l, s + at);
}

static int check(const char *path) {
  size_t len, begin, end;
  char *s = read_file(path, &len);
  if (!s) return 1;
  if (locate(path, s, len, &begin, &end) != 0) {
    free(s);
    return 1;
  }
  buf g = {0};
  generate(&g);
  const char *have = s + begin;
  size_t hl = end - begin;
  int rc = 0;
  if (hl != g.len || memcmp(have, g.p, hl) != 0) {
    size_t i = 0, ls = 0;
    while (i < hl && i < g.len && have[i] == g.p[i]) {
      if (have[i] == '\n') ls = i + 1;
      i++;
    }
    fprintf(stderr, "%s:%u: generated section differs from the instruction table\n", path,
            line_of(s, begin + ls));
    print_line("file:     ", have, hl, ls);
    print_line("generated:", g.p, g.len, ls);
    fprintf(stderr, "run: gen_isa_doc --update %s\n", path);
    rc = 1;
  }
  free(g.p);
  free(s);
  return rc;
}

static int update(const char *path) {
  size_t len, begin, end;
  char *s = read_file(path, &len);
  if (!s) return 2;
  if (locate(path, s, len, &begin, &end) != 0) {
    free(s);
    return 2;
  }
  buf out = {0};
  put(&out, s, begin);
  generate(&out);
  put(&out, s + end, len - end);
  int rc = 0;
  if (out.len == len && memcmp(out.p, s, len) == 0) goto done; /* already up to date */
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    fprintf(stderr, "%s: path too long\n", path);
    rc = 2;
    goto done;
  }
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    perror(tmp);
    rc = 2;
    goto done;
  }
  int bad = fwrite(out.p, 1, out.len, f) != out.len;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    fprintf(stderr, "%s: cannot write\n", path);
    remove(tmp);
    rc = 2;
  }
done:
  free(out.p);
  free(s);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 1) {
    buf g = {0};
    generate(&g);
    fwrite(g.p, 1, g.len, stdout);
    free(g.p);
    return fflush(stdout) == 0 ? 0 : 2;
  }
  if (argc == 3 && strcmp(argv[1], "--check") == 0) return check(argv[2]);
  if (argc == 3 && strcmp(argv[1], "--update") == 0) return update(argv[2]);
  fprintf(stderr,
          "usage: gen_isa_doc                 print the generated section of docs/ISA.md\n"
          "       gen_isa_doc --check FILE    exit 1 if FILE's generated section is out of date\n"
          "       gen_isa_doc --update FILE   rewrite FILE's generated section\n");
  return 2;
}
