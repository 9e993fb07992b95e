/* import_onnx.c - read an ONNX model (protobuf, via protobuf-c code generated at build
 * time from the system's onnx.proto) into the graph IR.
 *
 * What becomes what:
 *   initializers             constant tensors (data copied to little-endian bytes)
 *   graph inputs             g->inputs (those that are not also initializers)
 *   graph outputs            g->outputs, is_output set
 *   value_info               dtype and shape recorded on the (non-constant) tensor
 *   nodes                    nodes in model order; outputs are new tensors
 *   TENSOR attributes        new constant tensors named "<node>:<attr>" (made unique)
 * Omitted optional inputs ("") become CG_NONE. Trailing omitted optional outputs are
 * dropped; an omitted output before a present one is CG_NONE.
 *
 * All messages: "file: what is wrong (what was expected)". On failure g is left empty. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ir.h"
#include "onnx.pb-c.h"

#define OPSET_MIN 6
#define OPSET_MAX 17
/* Deepest message nesting accepted (what Python's protobuf allows too). protobuf-c
 * recurses once per level and has no limit of its own: a crafted file would overflow
 * the stack. */
#define MAX_NESTING 100

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* ---- importer state ------------------------------------------------------------------ */
typedef struct imp {
  cg_graph *g;
  const char *src;
  char *err;
  size_t errlen;
  int *slots;   /* open-addressing hash: name -> tensor index, CG_NONE when empty */
  size_t nslots; /* power of two */
  int nused;
  int *internal; /* TENSOR-attribute tensors, named at the end (see name_internal) */
  int n_internal, cap_internal;
} imp;

static int fail(imp *m, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int fail(imp *m, const char *fmt, ...) {
  if (!m->err || !m->errlen) return -1;
  int k = snprintf(m->err, m->errlen, "%s: ", m->src);
  if (k >= 0 && (size_t)k < m->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err + k, m->errlen - (size_t)k, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static const char *S(const char *s) { return s ? s : ""; }

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static int lookup(const imp *m, const char *name) {
  if (!m->nslots) return CG_NONE;
  size_t mask = m->nslots - 1;
  for (size_t i = (size_t)hash_str(name) & mask;; i = (i + 1) & mask) {
    int t = m->slots[i];
    if (t == CG_NONE) return CG_NONE;
    if (strcmp(m->g->tensors[t].name, name) == 0) return t;
  }
}

static int hash_insert(imp *m, int t) {
  if ((size_t)(m->nused + 1) * 2 > m->nslots) {
    size_t n = m->nslots ? m->nslots * 2 : 256;
    int *s = malloc(n * sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < n; i++) s[i] = CG_NONE;
    for (size_t i = 0; i < m->nslots; i++) {
      int u = m->slots[i];
      if (u == CG_NONE) continue;
      size_t j = (size_t)hash_str(m->g->tensors[u].name) & (n - 1);
      while (s[j] != CG_NONE) j = (j + 1) & (n - 1);
      s[j] = u;
    }
    free(m->slots);
    m->slots = s;
    m->nslots = n;
  }
  size_t mask = m->nslots - 1;
  size_t j = (size_t)hash_str(m->g->tensors[t].name) & mask;
  while (m->slots[j] != CG_NONE) j = (j + 1) & mask;
  m->slots[j] = t;
  m->nused++;
  return 0;
}

/* ---- element types ------------------------------------------------------------------- */
static const char *onnx_type_name(int32_t t) {
  static const char *const names[] = {
      "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
      "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128",
      "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
      "UINT4", "INT4", "FLOAT4E2M1"};
  if (t >= 0 && (size_t)t < sizeof names / sizeof names[0]) return names[t];
  return "an unknown type";
}

#define SUPPORTED_TYPES \
  "FLOAT, FLOAT16, BFLOAT16, DOUBLE, INT8, UINT8, INT16, UINT16, INT32, UINT32, INT64, UINT64 or BOOL"

/* ONNX TensorProto.DataType -> ls_dtype; LS_DTYPE_COUNT if there is none. */
static ls_dtype map_dtype(int32_t t) {
  switch (t) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return LS_F32;
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: return LS_F16;
  case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: return LS_BF16;
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return LS_F64;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return LS_I8;
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return LS_U8;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return LS_I16;
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return LS_U16;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return LS_I32;
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return LS_U32;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return LS_I64;
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return LS_U64;
  case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return LS_BOOL;
  default: return LS_DTYPE_COUNT;
  }
}

static void store_le(uint8_t *p, uint64_t v, size_t n) {
  for (size_t k = 0; k < n; k++) p[k] = (uint8_t)(v >> (8 * k));
}

static const char *dims_str(char *buf, size_t len, const int64_t *dims, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  k += (size_t)snprintf(buf, len, "[");
  for (size_t i = 0; i < n && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)dims[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
  return buf;
}

/* ---- constant tensors ------------------------------------------------------------------ */
/* Turn a TensorProto into a new constant tensor named `name` (`what` describes it in
 * messages). Its raw_data buffer is taken over rather than copied (the message is
 * unpacked with malloc/free, and freeing it skips a NULL buffer). If `hashed`, the name
 * becomes visible to lookups. */
static int add_constant(imp *m, Onnx__TensorProto *tp, const char *what, const char *name,
                        int hashed, int *out) {
  char db[256];
  if (!tp->has_data_type || tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED)
    return fail(m, "%s '%.200s' has no element type (expected " SUPPORTED_TYPES ")", what, name);
  ls_dtype dt = map_dtype(tp->data_type);
  if (dt == LS_DTYPE_COUNT)
    return fail(m, "%s '%.200s' has element type %s (expected " SUPPORTED_TYPES ")", what, name,
                onnx_type_name(tp->data_type));
  if ((tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
      tp->n_external_data)
    return fail(m, "external data is not supported: %.200s (expected the tensor's data inside the model file)",
                name);
  if (tp->segment)
    return fail(m, "%s '%.200s' is a segment of a larger tensor (expected a whole tensor)", what, name);
  if (tp->n_dims > LS_MAX_RANK)
    return fail(m, "%s '%.200s' has rank %zu (expected at most %d)", what, name, tp->n_dims, LS_MAX_RANK);
  size_t esize = ls_dtype_size(dt);
  uint64_t elems = 1;
  for (size_t d = 0; d < tp->n_dims; d++) {
    if (tp->dims[d] < 0)
      return fail(m, "%s '%.200s' has dims %s (expected no negative dimension)", what, name,
                  dims_str(db, sizeof db, tp->dims, tp->n_dims));
    uint64_t v = (uint64_t)tp->dims[d];
    if (v && elems > ((uint64_t)INT64_MAX / esize) / v)
      return fail(m, "%s '%.200s' has dims %s (too many elements)", what, name,
                  dims_str(db, sizeof db, tp->dims, tp->n_dims));
    elems *= v;
  }
  if (elems * esize > SIZE_MAX)
    return fail(m, "%s '%.200s' is too large for this host", what, name);
  size_t nbytes = (size_t)(elems * esize);
  dims_str(db, sizeof db, tp->dims, tp->n_dims);

  uint8_t *data = NULL;
  if (tp->has_raw_data || tp->raw_data.len) {
    if (tp->raw_data.len != nbytes)
      return fail(m, "%s '%.200s': raw_data has %zu bytes (expected %zu: %llu %s values for dims %s)",
                  what, name, tp->raw_data.len, nbytes, (unsigned long long)elems,
                  onnx_type_name(tp->data_type), db);
    if (nbytes) { /* take the buffer over */
      data = tp->raw_data.data;
      tp->raw_data.data = NULL;
      tp->raw_data.len = 0;
    }
  } else {
    const char *field;
    size_t have;
    switch (dt) {
    case LS_F32: field = "float_data", have = tp->n_float_data; break;
    case LS_F64: field = "double_data", have = tp->n_double_data; break;
    case LS_I64: field = "int64_data", have = tp->n_int64_data; break;
    case LS_U32:
    case LS_U64: field = "uint64_data", have = tp->n_uint64_data; break;
    default: field = "int32_data", have = tp->n_int32_data; break;
    }
    if (have != elems)
      return fail(m, "%s '%.200s': %zu values in %s (expected %llu %s values for dims %s)", what, name,
                  have, field, (unsigned long long)elems, onnx_type_name(tp->data_type), db);
    data = malloc(nbytes ? nbytes : 1);
    if (!data) return fail(m, "out of memory reading %s '%.200s'", what, name);
    for (size_t i = 0; i < elems; i++) {
      uint64_t v;
      switch (dt) {
      case LS_F32: {
        uint32_t b;
        memcpy(&b, &tp->float_data[i], sizeof b);
        v = b;
        break;
      }
      case LS_F64: memcpy(&v, &tp->double_data[i], sizeof v); break;
      case LS_I64: v = (uint64_t)tp->int64_data[i]; break;
      case LS_U32:
      case LS_U64: v = tp->uint64_data[i]; break;
      case LS_BOOL: v = tp->int32_data[i] != 0; break;
      default: v = (uint64_t)(int64_t)tp->int32_data[i]; break; /* low bytes kept */
      }
      store_le(data + i * esize, v, esize);
    }
  }
  if (!data) { /* no elements: still a constant, so data must not be NULL */
    data = malloc(1);
    if (!data) return fail(m, "out of memory reading %s '%.200s'", what, name);
  }
  int t = cg_add_tensor(m->g, name, dt, (int)tp->n_dims, tp->dims);
  if (t == CG_NONE || (hashed && hash_insert(m, t))) {
    free(data);
    return fail(m, "out of memory reading %s '%.200s'", what, name);
  }
  m->g->tensors[t].data = data;
  *out = t;
  return 0;
}

/* ---- value infos ------------------------------------------------------------------------ */
/* dtype and shape of a ValueInfo. strict: unsupported things are errors, otherwise they
 * leave the type or shape unknown. */
static int value_type(imp *m, const Onnx__ValueInfoProto *vi, const char *what, int strict,
                      ls_dtype *dt, int *rank, int64_t *dims) {
  const char *name = S(vi->name);
  *dt = LS_DTYPE_COUNT;
  *rank = -1;
  const Onnx__TypeProto *tp = vi->type;
  if (!tp) return 0;
  if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
    if (tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET || !strict) return 0;
    return fail(m, "%s '%.200s' is not a tensor (expected a tensor type; sequences, maps, optionals and "
                   "sparse tensors are not supported)", what, name);
  }
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED) {
    *dt = map_dtype(tt->elem_type);
    if (*dt == LS_DTYPE_COUNT && strict)
      return fail(m, "%s '%.200s' has element type %s (expected " SUPPORTED_TYPES ")", what, name,
                  onnx_type_name(tt->elem_type));
  }
  const Onnx__TensorShapeProto *sh = tt->shape;
  if (!sh) return 0;
  if (sh->n_dim > LS_MAX_RANK) {
    if (!strict) return 0;
    return fail(m, "%s '%.200s' has rank %zu (expected at most %d)", what, name, sh->n_dim, LS_MAX_RANK);
  }
  for (size_t d = 0; d < sh->n_dim; d++) {
    const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
    int64_t v = -1;
    if (dim && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      v = dim->dim_value;
      if (v < 0) {
        if (strict)
          return fail(m, "%s '%.200s' has dimension %zu = %lld (expected a size >= 0 or a symbolic name)",
                      what, name, d, (long long)v);
        v = -1;
      }
    }
    dims[d] = v;
  }
  *rank = (int)sh->n_dim;
  return 0;
}

static void record_type(cg_tensor *t, ls_dtype dt, int rank, const int64_t *dims) {
  if (t->data) return; /* a constant's own type and dims are authoritative */
  if (dt != LS_DTYPE_COUNT) t->dtype = dt;
  if (rank >= 0) {
    t->rank = rank;
    for (int d = 0; d < LS_MAX_RANK; d++) t->dims[d] = d < rank ? dims[d] : -1;
  }
}

/* ---- nodes ------------------------------------------------------------------------------- */
static char *dup_bytes(const void *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, n);
  s[n] = 0;
  return s;
}

static int attr_kind_of(const Onnx__AttributeProto *a) {
  if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) {
    switch (a->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return CG_ATTR_INT;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return CG_ATTR_FLOAT;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return CG_ATTR_STRING;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return CG_ATTR_INTS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return CG_ATTR_FLOATS;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return CG_ATTR_TENSOR;
    default: return CG_ATTR_OTHER;
    }
  }
  /* Old models leave the type out: go by the field that is set. */
  if (a->t) return CG_ATTR_TENSOR;
  if (a->has_f) return CG_ATTR_FLOAT;
  if (a->has_i) return CG_ATTR_INT;
  if (a->has_s) return CG_ATTR_STRING;
  if (a->n_floats) return CG_ATTR_FLOATS;
  if (a->n_ints) return CG_ATTR_INTS;
  return CG_ATTR_OTHER;
}

static int add_attrs(imp *m, int ni, const Onnx__NodeProto *np) {
  cg_node *n = &m->g->nodes[ni];
  if (!np->n_attribute) return 0;
  n->attrs = calloc(np->n_attribute, sizeof *n->attrs);
  if (!n->attrs) return fail(m, "out of memory");
  for (size_t k = 0; k < np->n_attribute; k++) {
    Onnx__AttributeProto *a = np->attribute[k];
    const char *an = S(a->name);
    if (!*an) return fail(m, "node %.200s (%.100s): attribute %zu has no name (expected a name)", n->name, n->op, k);
    if (cg_attr_find(n, an))
      return fail(m, "node %.200s (%.100s): attribute '%.200s' is given twice (expected it once)", n->name, n->op, an);
    cg_attr *at = &n->attrs[n->n_attrs];
    at->name = dup_bytes(an, strlen(an));
    if (!at->name) return fail(m, "out of memory");
    n->n_attrs++;
    at->kind = (cg_attr_kind)attr_kind_of(a);
    if (a->n_ints > INT32_MAX || a->n_floats > INT32_MAX)
      return fail(m, "node %.200s (%.100s): attribute '%.200s' is too long (expected fewer than 2^31 values)",
                  n->name, n->op, an);
    switch (at->kind) {
    case CG_ATTR_INT: at->i = a->i; break;
    case CG_ATTR_FLOAT: at->f = a->f; break;
    case CG_ATTR_STRING:
      at->s = dup_bytes(a->s.data, a->s.len);
      if (!at->s) return fail(m, "out of memory");
      break;
    case CG_ATTR_INTS:
      /* at least one element: present-but-empty stays distinguishable from absent */
      at->ints = malloc(sizeof *at->ints * (a->n_ints ? a->n_ints : 1));
      if (!at->ints) return fail(m, "out of memory");
      if (a->n_ints) memcpy(at->ints, a->ints, sizeof *at->ints * a->n_ints);
      at->n = (int)a->n_ints;
      break;
    case CG_ATTR_FLOATS:
      at->floats = malloc(sizeof *at->floats * (a->n_floats ? a->n_floats : 1));
      if (!at->floats) return fail(m, "out of memory");
      if (a->n_floats) memcpy(at->floats, a->floats, sizeof *at->floats * a->n_floats);
      at->n = (int)a->n_floats;
      break;
    case CG_ATTR_TENSOR: {
      if (!a->t)
        return fail(m, "node %.200s (%.100s): attribute '%.200s' has no tensor (expected a TENSOR value)",
                    n->name, n->op, an);
      size_t ln = strlen(n->name) + strlen(an) + 2;
      char *tn = malloc(ln);
      char what[512];
      if (!tn) return fail(m, "out of memory");
      snprintf(tn, ln, "%s:%s", n->name, an);
      snprintf(what, sizeof what, "node %.200s (%.100s) attribute", n->name, n->op);
      int t, rc = add_constant(m, a->t, what, tn, 0, &t);
      free(tn);
      if (rc) return -1;
      m->g->nodes[ni].attrs[m->g->nodes[ni].n_attrs - 1].i = t;
      m->internal[m->n_internal++] = t;
      n = &m->g->nodes[ni];
      break;
    }
    case CG_ATTR_OTHER: break;
    }
  }
  return 0;
}

/* Where an already-defined tensor came from, for messages. */
static void describe_def(imp *m, int t, char *buf, size_t len) {
  const cg_tensor *x = &m->g->tensors[t];
  if (x->producer == m->g->n_nodes)
    snprintf(buf, len, "by the same node");
  else if (x->producer != CG_NONE)
    snprintf(buf, len, "by node %.200s (%.100s)", m->g->nodes[x->producer].name, m->g->nodes[x->producer].op);
  else if (x->is_input)
    snprintf(buf, len, "as a graph input");
  else
    snprintf(buf, len, "as an initializer");
}

static int add_node(imp *m, size_t index, const Onnx__NodeProto *np) {
  const char *op = S(np->op_type);
  char autoname[160];
  const char *name = S(np->name);
  if (!*op) return fail(m, "node %zu ('%.200s') has no op_type (expected an operator name)", index, name);
  if (!*name) {
    snprintf(autoname, sizeof autoname, "%.100s_%zu", op, index);
    name = autoname;
  }
  if (np->n_input > 65536 || np->n_output > 65536 || np->n_attribute > 1024)
    return fail(m, "node %.200s (%.100s) has %zu inputs, %zu outputs and %zu attributes (expected at most 65536, "
                   "65536 and 1024)", name, op, np->n_input, np->n_output, np->n_attribute);
  int nin = (int)np->n_input, nout = (int)np->n_output;
  while (nout > 0 && !*S(np->output[nout - 1])) nout--; /* trailing omitted optional outputs */
  int *ins = malloc(sizeof(int) * (size_t)(nin + nout + 1));
  if (!ins) return fail(m, "out of memory");
  int *outs = ins + nin;
  for (int k = 0; k < nin; k++) {
    const char *x = S(np->input[k]);
    ins[k] = *x ? lookup(m, x) : CG_NONE;
    if (*x && ins[k] == CG_NONE) {
      free(ins);
      return fail(m, "node %.200s (%.100s): input '%.200s' is not produced by any earlier node, initializer "
                     "or graph input", name, op, x);
    }
  }
  int ni = m->g->n_nodes;
  for (int k = 0; k < nout; k++) {
    const char *x = S(np->output[k]);
    if (!*x) {
      outs[k] = CG_NONE;
      continue;
    }
    int prev = lookup(m, x);
    if (prev != CG_NONE) {
      char how[400];
      describe_def(m, prev, how, sizeof how);
      free(ins);
      return fail(m, "node %.200s (%.100s): output '%.200s' is already defined %s (expected every tensor name "
                     "to be produced once)", name, op, x, how);
    }
    outs[k] = cg_add_tensor(m->g, x, LS_DTYPE_COUNT, -1, NULL);
    if (outs[k] == CG_NONE || hash_insert(m, outs[k])) {
      free(ins);
      return fail(m, "out of memory");
    }
    m->g->tensors[outs[k]].producer = ni;
  }
  int got = cg_add_node(m->g, op, name, ins, nin, outs, nout);
  free(ins);
  if (got == CG_NONE) return fail(m, "out of memory");
  cg_node *n = &m->g->nodes[ni];
  const char *dom = S(np->domain);
  if (*dom && strcmp(dom, "ai.onnx") != 0) {
    free(n->domain);
    n->domain = dup_bytes(dom, strlen(dom));
    if (!n->domain) return fail(m, "out of memory");
  }
  /* every TENSOR attribute adds one internal tensor */
  if ((size_t)m->n_internal + np->n_attribute > (size_t)m->cap_internal) {
    size_t cap = ((size_t)m->n_internal + np->n_attribute) * 2;
    int *p = realloc(m->internal, cap * sizeof *p);
    if (!p) return fail(m, "out of memory");
    m->internal = p;
    m->cap_internal = (int)cap;
  }
  return add_attrs(m, ni, np);
}

/* Attribute tensors get their names last, so that they never shadow a model's name. */
static int name_internal(imp *m) {
  for (int k = 0; k < m->n_internal; k++) {
    cg_tensor *t = &m->g->tensors[m->internal[k]];
    if (lookup(m, t->name) != CG_NONE) {
      size_t ln = strlen(t->name) + 24;
      char *nn = malloc(ln);
      if (!nn) return fail(m, "out of memory");
      for (int s = 1;; s++) {
        snprintf(nn, ln, "%s_%d", t->name, s);
        if (lookup(m, nn) == CG_NONE) break;
      }
      free(t->name);
      t->name = nn;
    }
    if (hash_insert(m, m->internal[k])) return fail(m, "out of memory");
  }
  return 0;
}

/* ---- the model ---------------------------------------------------------------------------- */
static int import_graph(imp *m, Onnx__ModelProto *mp) {
  cg_graph *g = m->g;
  int64_t opset = -1;
  for (size_t k = 0; k < mp->n_opset_import; k++) {
    const Onnx__OperatorSetIdProto *o = mp->opset_import[k];
    const char *d = S(o->domain);
    if ((!*d || strcmp(d, "ai.onnx") == 0) && o->has_version) {
      opset = o->version;
      break;
    }
  }
  if (opset < 0)
    return fail(m, "no opset for the default ONNX domain (expected an opset_import entry with domain \"\" or "
                   "\"ai.onnx\")");
  if (opset < OPSET_MIN || opset > OPSET_MAX)
    return fail(m, "opset %lld is not supported (expected a default-domain opset from %d to %d)", (long long)opset,
                OPSET_MIN, OPSET_MAX);
  g->opset = opset;

  Onnx__GraphProto *gp = mp->graph;
  if (gp->n_sparse_initializer)
    return fail(m, "sparse initializer '%.200s' is not supported (expected dense initializers)",
                gp->sparse_initializer[0]->values ? S(gp->sparse_initializer[0]->values->name) : "");
  if (gp->n_initializer > (size_t)1 << 28 || gp->n_node > (size_t)1 << 28 || gp->n_input > (size_t)1 << 28 ||
      gp->n_output > (size_t)1 << 28)
    return fail(m, "graph too large (expected fewer than 2^28 nodes, initializers, inputs and outputs)");

  for (size_t k = 0; k < gp->n_initializer; k++) {
    Onnx__TensorProto *tp = gp->initializer[k];
    const char *name = S(tp->name);
    if (!*name) return fail(m, "initializer %zu has no name (expected a tensor name)", k);
    if (lookup(m, name) != CG_NONE)
      return fail(m, "initializer '%.200s' is given twice (expected unique names)", name);
    int t;
    if (add_constant(m, tp, "initializer", name, 1, &t)) return -1;
  }

  g->inputs = malloc(sizeof(int) * (gp->n_input + 1));
  g->outputs = malloc(sizeof(int) * (gp->n_output + 1));
  if (!g->inputs || !g->outputs) return fail(m, "out of memory");
  int64_t dims[LS_MAX_RANK];
  for (size_t k = 0; k < gp->n_input; k++) {
    const Onnx__ValueInfoProto *vi = gp->input[k];
    const char *name = S(vi->name);
    if (!*name) return fail(m, "graph input %zu has no name (expected a tensor name)", k);
    int t = lookup(m, name);
    if (t != CG_NONE) {
      if (g->tensors[t].data) continue; /* an initializer listed as input (IR < 4 style) */
      return fail(m, "graph input '%.200s' is listed twice (expected unique names)", name);
    }
    ls_dtype dt;
    int rank;
    if (value_type(m, vi, "graph input", 1, &dt, &rank, dims)) return -1;
    t = cg_add_tensor(g, name, dt, rank, dims);
    if (t == CG_NONE || hash_insert(m, t)) return fail(m, "out of memory");
    g->tensors[t].is_input = 1;
    g->inputs[g->n_inputs++] = t;
  }

  for (size_t k = 0; k < gp->n_node; k++)
    if (add_node(m, k, gp->node[k])) return -1;
  for (size_t k = 0; k < gp->n_value_info; k++) {
    const Onnx__ValueInfoProto *vi = gp->value_info[k];
    int t = lookup(m, S(vi->name));
    if (t == CG_NONE) continue; /* describes nothing we have: harmless */
    ls_dtype dt;
    int rank;
    value_type(m, vi, "value_info", 0, &dt, &rank, dims);
    record_type(&g->tensors[t], dt, rank, dims);
  }

  for (size_t k = 0; k < gp->n_output; k++) {
    const Onnx__ValueInfoProto *vi = gp->output[k];
    const char *name = S(vi->name);
    int t = lookup(m, name);
    if (t == CG_NONE)
      return fail(m, "graph output '%.200s' is not produced by any node, initializer or graph input (expected "
                     "the name of a tensor of the graph)", name);
    if (g->tensors[t].is_output)
      return fail(m, "graph output '%.200s' is listed twice (expected unique names)", name);
    ls_dtype dt;
    int rank;
    if (value_type(m, vi, "graph output", 1, &dt, &rank, dims)) return -1;
    record_type(&g->tensors[t], dt, rank, dims);
    g->tensors[t].is_output = 1;
    g->outputs[g->n_outputs++] = t;
  }
  return name_internal(m);
}

/* ---- protobuf ---------------------------------------------------------------------------- */
static void *pb_alloc(void *d, size_t n) {
  (void)d;
  return malloc(n);
}
static void pb_free(void *d, void *p) {
  (void)d;
  free(p);
}
/* malloc/free explicitly: add_constant takes raw_data buffers over and frees them with free(). */
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

static int varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v) {
  *v = 0;
  for (int s = 0; s < 64 && *i < len; s += 7) {
    uint8_t b = p[(*i)++];
    *v |= (uint64_t)(b & 0x7f) << s;
    if (!(b & 0x80)) return 1;
  }
  return 0;
}

/* 1 unless messages nest deeper than MAX_NESTING. Malformed input passes: unpacking
 * rejects it. Each byte is looked at once; bytes fields are skipped whole. */
static int nesting_ok(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *d, int depth) {
  if (depth > MAX_NESTING) return 0;
  size_t i = 0;
  while (i < len) {
    uint64_t key, v;
    if (!varint(p, len, &i, &key)) return 1;
    switch (key & 7) {
    case 0:
      if (!varint(p, len, &i, &v)) return 1;
      break;
    case 1:
      if (len - i < 8) return 1;
      i += 8;
      break;
    case 5:
      if (len - i < 4) return 1;
      i += 4;
      break;
    case 2: {
      if (!varint(p, len, &i, &v) || v > len - i) return 1;
      uint64_t fn = key >> 3;
      const ProtobufCFieldDescriptor *f =
          fn <= 0x1fffffff ? protobuf_c_message_descriptor_get_field(d, (unsigned)fn) : NULL;
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
          !nesting_ok(p + i, (size_t)v, (const ProtobufCMessageDescriptor *)f->descriptor, depth + 1))
        return 0;
      i += (size_t)v;
      break;
    }
    default: return 1;
    }
  }
  return 1;
}

static int unpack(imp *m, const uint8_t *buf, size_t len, Onnx__ModelProto **out) {
  *out = NULL;
  if (len == 0) return fail(m, "not an ONNX model (empty file)");
  if (!nesting_ok(buf, len, &onnx__model_proto__descriptor, 1))
    return fail(m, "not an ONNX model (messages nested more than %d deep)", MAX_NESTING);
  Onnx__ModelProto *mp = onnx__model_proto__unpack(&pb_allocator, len, buf);
  if (!mp) return fail(m, "not an ONNX model (not a valid protobuf ModelProto: corrupt or truncated)");
  const char *why = !mp->has_ir_version ? "no ir_version" : !mp->graph ? "no graph" : NULL;
  if (why) {
    onnx__model_proto__free_unpacked(mp, &pb_allocator);
    return fail(m, "not an ONNX model (%s)", why);
  }
  *out = mp;
  return 0;
}

static int start(imp *m, cg_graph *g, const char *name, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  m->g = g;
  m->src = name ? name : "<buffer>";
  m->err = err;
  m->errlen = errlen;
  if (err && errlen) err[0] = 0;
  cg_graph_init(g);
  g->source = dup_bytes(m->src, strlen(m->src));
  if (!g->source) return fail(m, "out of memory");
  return 0;
}

static int finish(imp *m, Onnx__ModelProto *mp, int rc) {
  if (!rc) rc = import_graph(m, mp);
  if (mp) onnx__model_proto__free_unpacked(mp, &pb_allocator);
  free(m->slots);
  free(m->internal);
  if (rc) cg_graph_free(m->g);
  return rc ? -1 : 0;
}

int cg_import_onnx_buffer(const uint8_t *buf, size_t len, const char *name, cg_graph *g, char *err,
                          size_t errlen) {
  imp m;
  Onnx__ModelProto *mp = NULL;
  int rc = start(&m, g, name, err, errlen);
  if (!rc) rc = unpack(&m, buf, len, &mp);
  return finish(&m, mp, rc);
}

/* The whole file in one buffer. */
static int read_file(imp *m, const char *path, uint8_t **out, size_t *outlen) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return fail(m, "cannot open (%s)", strerror(errno));
  struct stat st;
  size_t cap = 1 << 16;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
      (uint64_t)st.st_size < SIZE_MAX - 1)
    cap = (size_t)st.st_size + 1; /* one more: a read that fills it means the file grew */
  uint8_t *buf = malloc(cap);
  size_t len = 0;
  if (!buf) {
    fclose(f);
    return fail(m, "out of memory reading %zu bytes", cap);
  }
  for (;;) {
    if (len == cap) {
      size_t ncap = cap * 2;
      uint8_t *p = ncap > cap ? realloc(buf, ncap) : NULL;
      if (!p) {
        free(buf);
        fclose(f);
        return fail(m, "out of memory reading the file");
      }
      buf = p;
      cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  int e = errno;
  fclose(f);
  if (bad) {
    free(buf);
    return fail(m, "cannot read (%s)", strerror(e));
  }
  *out = buf;
  *outlen = len;
  return 0;
}

int cg_import_onnx(const char *path, cg_graph *g, char *err, size_t errlen) {
  imp m;
  Onnx__ModelProto *mp = NULL;
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = start(&m, g, path, err, errlen);
  if (!rc) rc = read_file(&m, path, &buf, &len);
  if (!rc) rc = unpack(&m, buf, len, &mp);
  free(buf); /* everything needed is in mp now */
  return finish(&m, mp, rc);
}

int cg_tensor_from_pb(const uint8_t *buf, size_t len, const char *what, cg_tensor *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->rank = -1;
  out->producer = CG_NONE;
  cg_graph g;
  imp m;
  if (start(&m, &g, what, err, errlen)) {
    cg_graph_free(&g);
    return -1;
  }
  int rc = -1, t = CG_NONE;
  Onnx__TensorProto *tp = NULL;
  if (!nesting_ok(buf, len, &onnx__tensor_proto__descriptor, 1))
    fail(&m, "not a TensorProto (messages nested more than %d deep)", MAX_NESTING);
  else if (!(tp = onnx__tensor_proto__unpack(&pb_allocator, len, buf)))
    fail(&m, "not a valid protobuf TensorProto (corrupt or truncated)");
  else if (!add_constant(&m, tp, "tensor", tp->name ? tp->name : "", 0, &t)) {
    *out = g.tensors[t]; /* moved out: the graph forgets it */
    g.tensors[t].name = NULL;
    g.tensors[t].data = NULL;
    rc = 0;
  }
  if (tp) onnx__tensor_proto__free_unpacked(tp, &pb_allocator);
  free(m.slots);
  free(m.internal);
  cg_graph_free(&g);
  return rc;
}
