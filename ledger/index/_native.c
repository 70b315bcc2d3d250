/* The index tree's fold in C: ledger.index.smt's _Fold.apply / build over one sorted batch of
 * changed leaves, and the key value chain of ledger.index.maintain.fold.  Optional: built when a
 * compiler and OpenSSL's libcrypto are there, else (and with ASSETLEDGER_PURE_PYTHON=1) the
 * pure-Python code runs.  Only fixed-size inputs are read: 32-byte key hashes, leaf and node
 * hashes, and indices packed as uint64be (a multiple of 8 bytes); every length is checked and a
 * malformed input raises ValueError (the caller then uses the pure-Python code, which treats it
 * exactly as before).  Hashes as in smt.py: leaf SHA-256(0x00||k||v), node SHA-256(0x01||l||r),
 * value SHA-256(0x02||v||uint64be(i)). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <string.h>

#define H 32
#define MAX_DEPTH 256
#define ID_MAX (2 + H) /* uint16be(depth) || at most 32 prefix bytes */

static const unsigned char EMPTY[H] = {0};

typedef struct {
    PyObject **keys; /* bytes of 32, sorted */
    PyObject **vals; /* bytes of 32 (leaf hashes) */
} Items;

typedef struct {
    PyObject *known;  /* dict: position -> (hash, leaf key hash | None) */
    PyObject *writes; /* dict: position -> (hash, leaf key hash | None) */
} Ctx;

static inline const unsigned char *B(PyObject *o) { return (const unsigned char *)PyBytes_AS_STRING(o); }

static inline int bit_of(const unsigned char *k, int depth) {
    return (k[depth >> 3] >> (7 - (depth & 7))) & 1;
}

static Py_ssize_t node_id(unsigned char *out, const unsigned char *k, int depth) {
    int full = depth >> 3, rest = depth & 7;
    out[0] = (unsigned char)(depth >> 8);
    out[1] = (unsigned char)(depth & 0xFF);
    memcpy(out + 2, k, (size_t)full);
    if (rest) {
        out[2 + full] = k[full] & (unsigned char)((0xFF << (8 - rest)) & 0xFF);
        return 3 + full;
    }
    return 2 + full;
}

/* SHA-256 fetched once and one digest context reused (OpenSSL 3's one-shot SHA256() fetches
 * the algorithm on every call, three times the cost); the GIL serialises its use. */
static EVP_MD *sha256_md;
static EVP_MD_CTX *sha256_ctx;

static void digest(const unsigned char *data, size_t len, unsigned char *out) {
    unsigned int size = H;
    EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL);
    EVP_DigestUpdate(sha256_ctx, data, len);
    EVP_DigestFinal_ex(sha256_ctx, out, &size);
}

static void sha(const unsigned char prefix, const unsigned char *a, const unsigned char *b,
                unsigned char *out) {
    unsigned char buf[1 + 2 * H];
    buf[0] = prefix;
    memcpy(buf + 1, a, H);
    memcpy(buf + 1 + H, b, H);
    digest(buf, sizeof buf, out);
}

/* A stored node: 0 absent, 1 inner node, 2 single leaf (*leaf set, borrowed), -1 error. */
static int lookup(Ctx *c, const unsigned char *id, Py_ssize_t len, unsigned char *hash,
                  PyObject **leaf) {
    PyObject *key = PyBytes_FromStringAndSize((const char *)id, len);
    if (key == NULL) return -1;
    PyObject *found = PyDict_GetItemWithError(c->known, key); /* borrowed */
    Py_DECREF(key);
    if (found == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 2) goto bad;
    PyObject *h = PyTuple_GET_ITEM(found, 0), *l = PyTuple_GET_ITEM(found, 1);
    if (!PyBytes_Check(h) || PyBytes_GET_SIZE(h) != H) goto bad;
    memcpy(hash, B(h), H);
    if (l == Py_None) return 1;
    if (!PyBytes_Check(l) || PyBytes_GET_SIZE(l) != H) goto bad;
    *leaf = l;
    return 2;
bad:
    PyErr_SetString(PyExc_ValueError, "index tree: a stored node is not (32 bytes, 32 bytes or None)");
    return -1;
}

static int write_node(Ctx *c, const unsigned char *id, Py_ssize_t len, const unsigned char *hash,
                      PyObject *leaf) {
    PyObject *key = PyBytes_FromStringAndSize((const char *)id, len);
    PyObject *h = PyBytes_FromStringAndSize((const char *)hash, H);
    PyObject *value = (key && h) ? PyTuple_Pack(2, h, leaf ? leaf : Py_None) : NULL;
    int rc = value ? PyDict_SetItem(c->writes, key, value) : -1;
    Py_XDECREF(key);
    Py_XDECREF(h);
    Py_XDECREF(value);
    return rc;
}

/* The first of items lo..hi-1 (sharing their first ``depth`` bits) with bit ``depth`` set. */
static Py_ssize_t cut_at(Items *it, int depth, Py_ssize_t lo, Py_ssize_t hi) {
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (bit_of(B(it->keys[mid]), depth)) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static int too_deep(void) {
    PyErr_SetString(PyExc_ValueError, "index tree: a path runs deeper than 256 bits");
    return -1;
}

/* Write the subtree at ``depth`` holding exactly items lo..hi-1; its hash into ``out``. */
static int build(Ctx *c, Items *it, int depth, Py_ssize_t lo, Py_ssize_t hi, unsigned char *out) {
    unsigned char id[ID_MAX];
    const unsigned char *k0 = B(it->keys[lo]);
    Py_ssize_t len;
    if (hi - lo == 1) {
        memcpy(out, B(it->vals[lo]), H);
        len = node_id(id, k0, depth);
        return write_node(c, id, len, out, it->keys[lo]);
    }
    if (depth >= MAX_DEPTH) return too_deep();
    Py_ssize_t cut = cut_at(it, depth, lo, hi);
    unsigned char left[H], right[H];
    if (cut > lo) { if (build(c, it, depth + 1, lo, cut, left) < 0) return -1; }
    else memcpy(left, EMPTY, H);
    if (cut < hi) { if (build(c, it, depth + 1, cut, hi, right) < 0) return -1; }
    else memcpy(right, EMPTY, H);
    sha(0x01, left, right, out);
    len = node_id(id, k0, depth);
    return write_node(c, id, len, out, NULL);
}

static int sibling_hash(Ctx *c, const unsigned char *k, int depth, unsigned char *out) {
    unsigned char id[ID_MAX];
    Py_ssize_t len = node_id(id, k, depth);
    id[len - 1] ^= (unsigned char)(0x80 >> ((depth - 1) & 7));
    PyObject *leaf = NULL;
    int found = lookup(c, id, len, out, &leaf);
    if (found == 0) memcpy(out, EMPTY, H);
    return found < 0 ? -1 : 0;
}

static Py_ssize_t bisect(Items *it, const unsigned char *k, Py_ssize_t lo, Py_ssize_t hi) {
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (memcmp(B(it->keys[mid]), k, H) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The new hash of the stored subtree at ``depth`` holding changed items lo..hi-1. */
static int apply(Ctx *c, Items *it, int depth, Py_ssize_t lo, Py_ssize_t hi, unsigned char *out) {
    unsigned char id[ID_MAX], stored[H];
    const unsigned char *k0 = B(it->keys[lo]);
    Py_ssize_t len = node_id(id, k0, depth);
    PyObject *other = NULL;
    int found = lookup(c, id, len, stored, &other);
    if (found < 0) return -1;
    if (found == 0) return build(c, it, depth, lo, hi, out);
    if (found == 2) { /* one stored leaf: it joins the changed items below */
        const unsigned char *o = B(other);
        unsigned char oid[ID_MAX]; /* not under its position (a damaged page): Python's order */
        if (node_id(oid, o, depth) != len || memcmp(oid, id, (size_t)len) != 0) {
            PyErr_SetString(PyExc_ValueError, "index tree: a stored leaf lies off its position");
            return -1;
        }
        Py_ssize_t at = bisect(it, o, lo, hi);
        if (at < hi && memcmp(B(it->keys[at]), o, H) == 0) return build(c, it, depth, lo, hi, out);
        Py_ssize_t n = hi - lo + 1;
        PyObject *leaf = PyBytes_FromStringAndSize((const char *)stored, H);
        PyObject **keys = PyMem_Malloc(sizeof(PyObject *) * (size_t)n * 2);
        if (leaf == NULL || keys == NULL) {
            Py_XDECREF(leaf);
            PyMem_Free(keys);
            if (!PyErr_Occurred()) PyErr_NoMemory();
            return -1;
        }
        PyObject **vals = keys + n;
        Py_ssize_t before = at - lo;
        memcpy(keys, it->keys + lo, sizeof(PyObject *) * (size_t)before);
        memcpy(vals, it->vals + lo, sizeof(PyObject *) * (size_t)before);
        keys[before] = other;
        vals[before] = leaf;
        memcpy(keys + before + 1, it->keys + at, sizeof(PyObject *) * (size_t)(hi - at));
        memcpy(vals + before + 1, it->vals + at, sizeof(PyObject *) * (size_t)(hi - at));
        Items merged = {keys, vals};
        int rc = build(c, &merged, depth, 0, n, out);
        Py_DECREF(leaf);
        PyMem_Free(keys);
        return rc;
    }
    if (depth >= MAX_DEPTH) return too_deep();
    Py_ssize_t cut = cut_at(it, depth, lo, hi);
    unsigned char left[H], right[H];
    if (cut > lo) { if (apply(c, it, depth + 1, lo, cut, left) < 0) return -1; }
    else if (sibling_hash(c, k0, depth + 1, left) < 0) return -1;
    if (cut < hi) { if (apply(c, it, depth + 1, cut, hi, right) < 0) return -1; }
    else if (sibling_hash(c, k0, depth + 1, right) < 0) return -1;
    sha(0x01, left, right, out);
    return write_node(c, id, len, out, NULL);
}

static int check_hashes(PyObject *list, const char *what) {
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyList_GET_ITEM(list, i);
        if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) != H) {
            PyErr_Format(PyExc_ValueError, "%s: every item must be 32 bytes", what);
            return -1;
        }
    }
    return 0;
}

static PyObject *fold(PyObject *self, PyObject *args) {
    PyObject *known, *keys, *values, *writes;
    if (!PyArg_ParseTuple(args, "O!O!O!O!:fold", &PyDict_Type, &known, &PyList_Type, &keys,
                          &PyList_Type, &values, &PyDict_Type, &writes))
        return NULL;
    if (!PyDict_CheckExact(known) || !PyDict_CheckExact(writes)) {
        PyErr_SetString(PyExc_ValueError, "fold: known and writes must be plain dicts");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (n == 0 || PyList_GET_SIZE(values) != n) {
        PyErr_SetString(PyExc_ValueError, "fold: keys and values must be non-empty and as many");
        return NULL;
    }
    if (check_hashes(keys, "fold keys") < 0 || check_hashes(values, "fold values") < 0) return NULL;
    for (Py_ssize_t i = 1; i < n; i++) {
        if (memcmp(B(PyList_GET_ITEM(keys, i - 1)), B(PyList_GET_ITEM(keys, i)), H) >= 0) {
            PyErr_SetString(PyExc_ValueError, "fold: keys must be strictly increasing");
            return NULL;
        }
    }
    /* Tuples hold the items whatever happens to the lists meanwhile. */
    PyObject *kt = PyList_AsTuple(keys), *vt = kt ? PyList_AsTuple(values) : NULL;
    PyObject *result = NULL;
    if (vt != NULL) {
        Items it = {((PyTupleObject *)kt)->ob_item, ((PyTupleObject *)vt)->ob_item};
        Ctx c = {known, writes};
        unsigned char root[H];
        if (apply(&c, &it, 0, 0, n, root) == 0)
            result = PyBytes_FromStringAndSize((const char *)root, H);
    }
    Py_XDECREF(kt);
    Py_XDECREF(vt);
    return result;
}

static PyObject *chain(PyObject *self, PyObject *args) {
    Py_buffer k, value, packed;
    if (!PyArg_ParseTuple(args, "y*y*y*:chain", &k, &value, &packed)) return NULL;
    PyObject *result = NULL;
    if (k.len != H || value.len != H || packed.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "chain: a 32-byte key hash and value, indices as uint64be each");
        goto done;
    }
    unsigned char buf[1 + H + 8], v[H], leaf[H];
    memcpy(v, value.buf, H);
    const unsigned char *p = packed.buf;
    for (Py_ssize_t at = 0; at < packed.len; at += 8) {
        buf[0] = 0x02;
        memcpy(buf + 1, v, H);
        memcpy(buf + 1 + H, p + at, 8);
        digest(buf, sizeof buf, v);
    }
    sha(0x00, k.buf, v, leaf);
    result = Py_BuildValue("(y#y#)", (const char *)v, (Py_ssize_t)H, (const char *)leaf,
                           (Py_ssize_t)H);
done:
    PyBuffer_Release(&k);
    PyBuffer_Release(&value);
    PyBuffer_Release(&packed);
    return result;
}

static PyObject *root_from(PyObject *self, PyObject *args) {
    Py_buffer k, siblings, terminal;
    if (!PyArg_ParseTuple(args, "y*y*y*:root_from", &k, &siblings, &terminal)) return NULL;
    PyObject *result = NULL;
    if (k.len != H || terminal.len != H || siblings.len % H != 0 ||
        siblings.len > (Py_ssize_t)H * MAX_DEPTH) {
        PyErr_SetString(PyExc_ValueError,
                        "root_from: a 32-byte key hash and terminal, at most 256 siblings of 32");
        goto done;
    }
    unsigned char v[H];
    const unsigned char *key = k.buf, *sib = siblings.buf;
    memcpy(v, terminal.buf, H);
    for (Py_ssize_t depth = siblings.len / H; depth > 0; depth--) {
        const unsigned char *s = sib + (depth - 1) * H;
        if (bit_of(key, (int)depth - 1)) sha(0x01, s, v, v);
        else sha(0x01, v, s, v);
    }
    result = PyBytes_FromStringAndSize((const char *)v, H);
done:
    PyBuffer_Release(&k);
    PyBuffer_Release(&siblings);
    PyBuffer_Release(&terminal);
    return result;
}

static PyMethodDef methods[] = {
    {"root_from", root_from, METH_VARARGS,
     "root_from(k, siblings, terminal) -> root: smt.root_from with the siblings joined"},
    {"fold", fold, METH_VARARGS,
     "fold(known, keys, values, writes) -> root: smt._Fold(...).apply(0, 0, len(keys))"},
    {"chain", chain, METH_VARARGS,
     "chain(k, value, packed) -> (value, leaf hash): the value chained over packed indices"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ledger.index._native", "The index tree's fold in C (optional).", -1,
    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    if (sha256_md == NULL) sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_ctx == NULL) sha256_ctx = EVP_MD_CTX_new();
    if (sha256_md == NULL || sha256_ctx == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
    return PyModule_Create(&module);
}
