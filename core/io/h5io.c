/* core/io/h5io.c - see h5io.h.
 *
 * Every public function has one cleanup path (label `done`) that closes the
 * HDF5 ids it opened, so no id leaks on an error. HDF5 errors are captured
 * right where a call fails (the error stack is cleared by the next API call)
 * and folded into the message with the file path and the object name.
 */
#include "h5io.h"

#include <errno.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ddad_h5 {
    hid_t file;
    char *path;    /* as given to ddad_h5_open, for messages */
    bool writable;
};

/* Chunks are one row along dim 0 (or several small rows up to this size),
 * split along the inner dims when one row is larger than the cap. */
#define H5IO_CHUNK_TARGET ((size_t)256 * 1024)
#define H5IO_CHUNK_CAP ((size_t)4 * 1024 * 1024)

/* ---- errors -------------------------------------------------------------- */

/* The library's automatic error printing is per thread in thread-safe builds,
 * so every entry point switches it off (cheap). */
static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e && e->desc && e->desc[0])
        snprintf(buf, 256, "%s", e->desc);
    return 0;
}

/* Innermost (most specific) message of the current HDF5 error stack. */
static const char *h5_innermost(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, buf);
    if (!buf[0])
        snprintf(buf, 256, "unknown HDF5 error");
    return buf;
}

/* Records "<path>: <formatted>: <innermost HDF5 message>" and returns st. Call
 * it right after the failing HDF5 call, before any other HDF5 call. */
static ddad_status_t h5_fail(ddad_status_t st, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ddad_status_t h5_fail(ddad_status_t st, const char *path, const char *fmt, ...)
{
    char hmsg[256], what[1024];
    h5_innermost(hmsg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ddad_fail(st, "%s: %s (HDF5: %s)", path, what, hmsg);
}

static const char *obj_name(const char *name) { return (name && name[0]) ? name : "/"; }

/* ---- types --------------------------------------------------------------- */

size_t ddad_h5_type_size(ddad_h5_type_t t)
{
    switch (t) {
    case DDAD_H5_F32: return 4;
    case DDAD_H5_F64: return 8;
    case DDAD_H5_I64: return 8;
    case DDAD_H5_I32: return 4;
    case DDAD_H5_U8: return 1;
    case DDAD_H5_F16: return 2;
    }
    return 0;
}

static const char *type_str(ddad_h5_type_t t)
{
    switch (t) {
    case DDAD_H5_F32: return "f32";
    case DDAD_H5_F64: return "f64";
    case DDAD_H5_I64: return "i64";
    case DDAD_H5_I32: return "i32";
    case DDAD_H5_U8: return "u8";
    case DDAD_H5_F16: return "f16";
    }
    return "?";
}

/* IEEE 754 binary16 in the given byte order (HDF5 1.10 has no predefined
 * half type; this is the layout numpy's float16 / h5py use). */
static hid_t half_type(H5T_order_t order)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0)
        return -1;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0 ||
        H5Tset_order(t, order) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* A new type id (caller closes) for the memory layout of t, or -1. */
static hid_t mem_type(ddad_h5_type_t t)
{
    switch (t) {
    case DDAD_H5_F32: return H5Tcopy(H5T_NATIVE_FLOAT);
    case DDAD_H5_F64: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case DDAD_H5_I64: return H5Tcopy(H5T_NATIVE_INT64);
    case DDAD_H5_I32: return H5Tcopy(H5T_NATIVE_INT32);
    case DDAD_H5_U8: return H5Tcopy(H5T_NATIVE_UINT8);
    case DDAD_H5_F16: return half_type(H5Tget_order(H5T_NATIVE_FLOAT));
    }
    return -1;
}

/* A new type id (caller closes) for the on-disk layout of t (little endian). */
static hid_t file_type(ddad_h5_type_t t)
{
    switch (t) {
    case DDAD_H5_F32: return H5Tcopy(H5T_IEEE_F32LE);
    case DDAD_H5_F64: return H5Tcopy(H5T_IEEE_F64LE);
    case DDAD_H5_I64: return H5Tcopy(H5T_STD_I64LE);
    case DDAD_H5_I32: return H5Tcopy(H5T_STD_I32LE);
    case DDAD_H5_U8: return H5Tcopy(H5T_STD_U8LE);
    case DDAD_H5_F16: return half_type(H5T_ORDER_LE);
    }
    return -1;
}

static bool type_valid(ddad_h5_type_t t) { return ddad_h5_type_size(t) != 0; }

static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t len = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (ndim == 1 && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, ",");
    if (len < cap)
        snprintf(buf + len, cap - len, ")");
}

/* Number of elements, or false on overflow / negative dims. */
static bool count_elems(const int64_t *shape, int ndim, size_t elem_size, size_t *nelem)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return false;
        if (shape[i] != 0 && n > SIZE_MAX / elem_size / (size_t)shape[i])
            return false;
        n *= (size_t)shape[i];
    }
    *nelem = n;
    return true;
}

/* ---- names --------------------------------------------------------------- */

/* True if every link along `name` exists and resolves to an object. (H5Lexists
 * fails instead of answering "no" when an intermediate group is missing.) */
static bool path_exists(hid_t file, const char *name)
{
    if (!name || !name[0] || strcmp(name, "/") == 0)
        return true;
    size_t len = strlen(name);
    char *buf = malloc(len + 1);
    if (!buf)
        return false;
    memcpy(buf, name, len + 1);
    bool ok = true;
    for (size_t i = 1; i <= len && ok; i++) {
        if (i == len || buf[i] == '/') {
            char saved = buf[i];
            buf[i] = '\0';
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0)
                ok = false;
            buf[i] = saved;
        }
    }
    if (ok && H5Oexists_by_name(file, name, H5P_DEFAULT) <= 0)
        ok = false;
    free(buf);
    return ok;
}

static ddad_status_t check_file(const ddad_h5_t *f, const char *fn)
{
    if (!f)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: the file handle is NULL (open it with ddad_h5_open first)", fn);
    h5_quiet();
    return DDAD_OK;
}

static ddad_status_t check_writable(const ddad_h5_t *f, const char *name)
{
    if (!f->writable)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: opened read-only, cannot write '%s' (open with DDAD_H5_RDWR)",
                         f->path, obj_name(name));
    return DDAD_OK;
}

/* Opens an existing dataset; DATA status naming file and object if missing. */
static ddad_status_t open_dataset(const ddad_h5_t *f, const char *name, hid_t *dset)
{
    *dset = -1;
    if (!name || !name[0])
        return ddad_fail(DDAD_STATUS_USAGE, "%s: empty dataset name", f->path);
    if (!path_exists(f->file, name))
        return ddad_fail(DDAD_STATUS_DATA, "%s: dataset '%s' not found", f->path, name);
    hid_t obj = H5Oopen(f->file, name, H5P_DEFAULT);
    if (obj < 0)
        return h5_fail(DDAD_STATUS_DATA, f->path, "cannot open object '%s'", name);
    H5I_type_t kind = H5Iget_type(obj);
    if (kind != H5I_DATASET) {
        H5Oclose(obj);
        return ddad_fail(DDAD_STATUS_DATA, "%s: '%s' is a %s, not a dataset", f->path, name,
                         kind == H5I_GROUP ? "group" : "named type");
    }
    *dset = obj;
    return DDAD_OK;
}

/* Opens an existing group or dataset ("" or "/" = root) for attributes. */
static ddad_status_t open_object(const ddad_h5_t *f, const char *name, hid_t *obj)
{
    *obj = -1;
    if (!path_exists(f->file, name))
        return ddad_fail(DDAD_STATUS_DATA, "%s: object '%s' not found", f->path, obj_name(name));
    *obj = H5Oopen(f->file, obj_name(name), H5P_DEFAULT);
    if (*obj < 0)
        return h5_fail(DDAD_STATUS_DATA, f->path, "cannot open object '%s'", obj_name(name));
    return DDAD_OK;
}

/* Rank and dims of a dataspace (up to DDAD_H5_MAX_DIMS). */
static ddad_status_t space_shape(const ddad_h5_t *f, const char *name, hid_t space, int64_t *shape, int *ndim)
{
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0)
        return h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the shape of '%s'", name);
    if (rank > DDAD_H5_MAX_DIMS)
        return ddad_fail(DDAD_STATUS_DATA, "%s: dataset '%s' has rank %d, more than the supported %d", f->path,
                         name, rank, DDAD_H5_MAX_DIMS);
    hsize_t dims[DDAD_H5_MAX_DIMS];
    if (rank > 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        return h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the shape of '%s'", name);
    for (int i = 0; i < rank; i++)
        shape[i] = (int64_t)dims[i];
    *ndim = rank;
    return DDAD_OK;
}

/* Numeric datasets only: strings, compounds etc. are a DATA error. */
static ddad_status_t check_numeric(const ddad_h5_t *f, const char *what, const char *name, hid_t ftype)
{
    H5T_class_t cls = H5Tget_class(ftype);
    if (cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_ENUM)
        return DDAD_OK;
    const char *kind = cls == H5T_STRING     ? "strings"
                       : cls == H5T_COMPOUND ? "compound records"
                       : cls == H5T_ARRAY    ? "array elements"
                       : cls == H5T_VLEN     ? "variable-length sequences"
                                             : "non-numeric values";
    return ddad_fail(DDAD_STATUS_DATA, "%s: %s '%s' holds %s, not numbers", f->path, what, name, kind);
}

/* ---- files --------------------------------------------------------------- */

ddad_status_t ddad_h5_open(ddad_h5_t **out, const char *path, ddad_h5_mode_t mode)
{
    ddad_status_t st = DDAD_OK;
    hid_t fapl = -1, file = -1;
    ddad_h5_t *f = NULL;
    if (!out || !path || !path[0])
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_h5_open: NULL output or empty path");
    *out = NULL;
    h5_quiet();
    if (mode != DDAD_H5_READ && mode != DDAD_H5_RDWR && mode != DDAD_H5_CREATE)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: unknown open mode %d", path, (int)mode);

    if (mode != DDAD_H5_CREATE) {
        struct stat sb;
        if (stat(path, &sb) != 0)
            return ddad_fail(DDAD_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        if (!S_ISREG(sb.st_mode))
            return ddad_fail(DDAD_STATUS_IO, "%s: cannot open: not a regular file", path);
    }

    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        st = h5_fail(DDAD_STATUS_INTERNAL, path, "cannot create a file access property list");
        goto done;
    }
    if (mode == DDAD_H5_CREATE) {
        file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (file < 0) {
            st = h5_fail(DDAD_STATUS_IO, path, "cannot create the file; check that the folder exists and is writable");
            goto done;
        }
    } else {
        file = H5Fopen(path, mode == DDAD_H5_RDWR ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
        if (file < 0) {
            st = h5_fail(DDAD_STATUS_IO, path, "not an HDF5 file or truncated");
            goto done;
        }
    }
    f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory opening the file", path);
        goto done;
    }
    f->file = file;
    f->writable = mode != DDAD_H5_READ;
    file = -1;
    *out = f;
    f = NULL;
done:
    if (f) {
        free(f->path);
        free(f);
    }
    if (file >= 0)
        H5Fclose(file);
    if (fapl >= 0)
        H5Pclose(fapl);
    return st;
}

ddad_status_t ddad_h5_close(ddad_h5_t *f)
{
    if (!f)
        return DDAD_OK;
    h5_quiet();
    ddad_status_t st = DDAD_OK;
    if (f->writable && H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0)
        st = h5_fail(DDAD_STATUS_IO, f->path, "flushing the file failed (disk full?)");
    if (H5Fclose(f->file) < 0 && st == DDAD_OK)
        st = h5_fail(DDAD_STATUS_IO, f->path, "closing the file failed");
    free(f->path);
    free(f);
    return st;
}

const char *ddad_h5_path(const ddad_h5_t *f) { return f ? f->path : ""; }

bool ddad_h5_exists(ddad_h5_t *f, const char *name)
{
    if (!f)
        return false;
    h5_quiet();
    return path_exists(f->file, name);
}

/* ---- datasets ------------------------------------------------------------ */

ddad_status_t ddad_h5_shape(ddad_h5_t *f, const char *name, int64_t *shape, int *ndim)
{
    ddad_status_t st;
    hid_t dset = -1, space = -1;
    if ((st = check_file(f, "ddad_h5_shape")))
        return st;
    if ((st = open_dataset(f, name, &dset)))
        goto done;
    if ((space = H5Dget_space(dset)) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the shape of '%s'", name);
        goto done;
    }
    st = space_shape(f, name, space, shape, ndim);
done:
    if (space >= 0)
        H5Sclose(space);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

/* Reads the whole of an open dataset into data (sized by the caller). */
static ddad_status_t read_all(ddad_h5_t *f, const char *name, hid_t dset, ddad_h5_type_t t, void *data,
                              size_t nelem)
{
    ddad_status_t st = DDAD_OK;
    hid_t ftype = -1, mtype = -1;
    if ((ftype = H5Dget_type(dset)) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the type of '%s'", name);
        goto done;
    }
    if ((st = check_numeric(f, "dataset", name, ftype)))
        goto done;
    if ((mtype = mem_type(t)) < 0) {
        st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot build the memory type %s", type_str(t));
        goto done;
    }
    if (nelem > 0 && H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = h5_fail(DDAD_STATUS_DATA, f->path, "reading dataset '%s' as %s failed", name, type_str(t));
done:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    return st;
}

ddad_status_t ddad_h5_read(ddad_h5_t *f, const char *name, ddad_h5_type_t t, void **data, int64_t *shape, int *ndim)
{
    ddad_status_t st;
    hid_t dset = -1, space = -1;
    void *buf = NULL;
    int rank = 0;
    size_t nelem = 0;
    if ((st = check_file(f, "ddad_h5_read")))
        return st;
    if (!data || !shape || !ndim || !type_valid(t))
        return ddad_fail(DDAD_STATUS_USAGE, "%s: ddad_h5_read('%s'): NULL output or unknown type %d", f->path,
                         obj_name(name), (int)t);
    *data = NULL;
    if ((st = open_dataset(f, name, &dset)))
        goto done;
    if ((space = H5Dget_space(dset)) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the shape of '%s'", name);
        goto done;
    }
    if ((st = space_shape(f, name, space, shape, &rank)))
        goto done;
    if (!count_elems(shape, rank, ddad_h5_type_size(t), &nelem)) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: dataset '%s' is too large to load", f->path, name);
        goto done;
    }
    buf = malloc(nelem ? nelem * ddad_h5_type_size(t) : 1);
    if (!buf) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory reading '%s' (%zu elements)", f->path, name, nelem);
        goto done;
    }
    if ((st = read_all(f, name, dset, t, buf, nelem)))
        goto done;
    *data = buf;
    *ndim = rank;
    buf = NULL;
done:
    free(buf);
    if (space >= 0)
        H5Sclose(space);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

ddad_status_t ddad_h5_read_into(ddad_h5_t *f, const char *name, ddad_h5_type_t t, void *data, const int64_t *shape,
                                int ndim)
{
    ddad_status_t st;
    hid_t dset = -1, space = -1;
    int64_t have[DDAD_H5_MAX_DIMS];
    int rank = 0;
    size_t nelem = 0;
    if ((st = check_file(f, "ddad_h5_read_into")))
        return st;
    if ((!data && ndim > 0) || (!shape && ndim > 0) || ndim < 0 || ndim > DDAD_H5_MAX_DIMS || !type_valid(t))
        return ddad_fail(DDAD_STATUS_USAGE, "%s: ddad_h5_read_into('%s'): bad arguments (ndim %d, type %d)",
                         f->path, obj_name(name), ndim, (int)t);
    if ((st = open_dataset(f, name, &dset)))
        goto done;
    if ((space = H5Dget_space(dset)) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the shape of '%s'", name);
        goto done;
    }
    if ((st = space_shape(f, name, space, have, &rank)))
        goto done;
    bool same = rank == ndim;
    for (int i = 0; same && i < rank; i++)
        same = have[i] == shape[i];
    if (!same) {
        char a[256], b[256];
        format_shape(a, sizeof a, have, rank);
        format_shape(b, sizeof b, shape, ndim);
        st = ddad_fail(DDAD_STATUS_DATA, "%s: dataset '%s' has shape %s, expected %s", f->path, name, a, b);
        goto done;
    }
    if (!count_elems(have, rank, ddad_h5_type_size(t), &nelem)) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: dataset '%s' is too large to load", f->path, name);
        goto done;
    }
    if (nelem > 0 && !data) {
        st = ddad_fail(DDAD_STATUS_USAGE, "%s: ddad_h5_read_into('%s'): NULL buffer", f->path, name);
        goto done;
    }
    st = read_all(f, name, dset, t, data, nelem);
done:
    if (space >= 0)
        H5Sclose(space);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

/* Removes an existing dataset link so that it can be written anew; refuses to
 * replace a group. */
static ddad_status_t unlink_existing(ddad_h5_t *f, const char *name)
{
    if (!path_exists(f->file, name)) {
        /* a dangling link of that name would block the create */
        if (H5Lexists(f->file, name, H5P_DEFAULT) > 0 && H5Ldelete(f->file, name, H5P_DEFAULT) < 0)
            return h5_fail(DDAD_STATUS_IO, f->path, "cannot remove the old link '%s'", name);
        return DDAD_OK;
    }
    hid_t obj = H5Oopen(f->file, name, H5P_DEFAULT);
    if (obj < 0)
        return h5_fail(DDAD_STATUS_DATA, f->path, "cannot open existing object '%s'", name);
    H5I_type_t kind = H5Iget_type(obj);
    H5Oclose(obj);
    if (kind != H5I_DATASET)
        return ddad_fail(DDAD_STATUS_DATA, "%s: '%s' exists and is not a dataset; refusing to replace it", f->path,
                         name);
    if (H5Ldelete(f->file, name, H5P_DEFAULT) < 0)
        return h5_fail(DDAD_STATUS_IO, f->path, "cannot remove the old dataset '%s'", name);
    return DDAD_OK;
}

/* Chunk shape: whole rows along dim 0 (as many as fit H5IO_CHUNK_TARGET, at
 * least one), inner dims halved while a chunk exceeds H5IO_CHUNK_CAP. */
static void chunk_shape(const hsize_t *dims, int ndim, size_t elem, hsize_t *chunk)
{
    size_t row = elem;
    for (int i = 1; i < ndim; i++) {
        chunk[i] = dims[i];
        row *= (size_t)dims[i];
    }
    hsize_t rows = row >= H5IO_CHUNK_TARGET ? 1 : (hsize_t)(H5IO_CHUNK_TARGET / row);
    chunk[0] = rows < dims[0] ? rows : dims[0];
    for (;;) {
        size_t bytes = elem;
        for (int i = 0; i < ndim; i++)
            bytes *= (size_t)chunk[i];
        if (bytes <= H5IO_CHUNK_CAP)
            break;
        int big = -1;
        for (int i = 1; i < ndim; i++)
            if (chunk[i] > 1 && (big < 0 || chunk[i] > chunk[big]))
                big = i;
        if (big < 0)
            break;
        chunk[big] = (chunk[big] + 1) / 2;
    }
}

/* Creates (replacing) a dataset; *dset receives the open id. */
static ddad_status_t create_dataset(ddad_h5_t *f, const char *name, ddad_h5_type_t t, const int64_t *shape,
                                    int ndim, int compress_level, hid_t *dset)
{
    ddad_status_t st = DDAD_OK;
    hid_t ftype = -1, space = -1, lcpl = -1, dcpl = -1;
    hsize_t dims[DDAD_H5_MAX_DIMS], chunk[DDAD_H5_MAX_DIMS];
    size_t nelem = 0;
    *dset = -1;
    if ((st = check_writable(f, name)))
        return st;
    if (!name || !name[0] || strcmp(name, "/") == 0)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: empty dataset name", f->path);
    if (!type_valid(t) || ndim < 0 || ndim > DDAD_H5_MAX_DIMS || (ndim > 0 && !shape))
        return ddad_fail(DDAD_STATUS_USAGE, "%s: writing '%s': bad type %d or rank %d (0..%d)", f->path, name,
                         (int)t, ndim, DDAD_H5_MAX_DIMS);
    if (compress_level < 0 || compress_level > 9)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: writing '%s': compression level %d is not in 0..9", f->path, name,
                         compress_level);
    if (!count_elems(shape, ndim, ddad_h5_type_size(t), &nelem))
        return ddad_fail(DDAD_STATUS_USAGE, "%s: writing '%s': negative or too large shape", f->path, name);
    for (int i = 0; i < ndim; i++)
        dims[i] = (hsize_t)shape[i];

    if ((st = unlink_existing(f, name)))
        goto done;
    if ((ftype = file_type(t)) < 0) {
        st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot build the file type %s", type_str(t));
        goto done;
    }
    space = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || lcpl < 0 || dcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot set up dataset '%s'", name);
        goto done;
    }
    if (compress_level > 0 && ndim > 0 && nelem > 0) {
        chunk_shape(dims, ndim, ddad_h5_type_size(t), chunk);
        if (H5Pset_chunk(dcpl, ndim, chunk) < 0 ||
            (ddad_h5_type_size(t) > 1 && H5Pset_shuffle(dcpl) < 0) ||
            H5Pset_deflate(dcpl, (unsigned)compress_level) < 0) {
            st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot set compression for '%s'", name);
            goto done;
        }
    }
    *dset = H5Dcreate2(f->file, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    if (*dset < 0)
        st = h5_fail(DDAD_STATUS_IO, f->path, "cannot create dataset '%s'", name);
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    return st;
}

ddad_status_t ddad_h5_write(ddad_h5_t *f, const char *name, ddad_h5_type_t t, const void *data,
                            const int64_t *shape, int ndim, int compress_level)
{
    ddad_status_t st;
    hid_t dset = -1, mtype = -1;
    size_t nelem = 0;
    if ((st = check_file(f, "ddad_h5_write")))
        return st;
    if ((st = create_dataset(f, name, t, shape, ndim, compress_level, &dset)))
        goto done;
    count_elems(shape, ndim, ddad_h5_type_size(t), &nelem);
    if (nelem > 0 && !data) {
        st = ddad_fail(DDAD_STATUS_USAGE, "%s: writing '%s': NULL data", f->path, name);
        goto done;
    }
    if ((mtype = mem_type(t)) < 0) {
        st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot build the memory type %s", type_str(t));
        goto done;
    }
    if (nelem > 0 && H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = h5_fail(DDAD_STATUS_IO, f->path, "writing dataset '%s' failed", name);
done:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

ddad_status_t ddad_h5_create_dataset(ddad_h5_t *f, const char *name, ddad_h5_type_t t, const int64_t *shape, int ndim,
                                     int compress_level)
{
    ddad_status_t st;
    hid_t dset = -1;
    if ((st = check_file(f, "ddad_h5_create_dataset")))
        return st;
    st = create_dataset(f, name, t, shape, ndim, compress_level, &dset);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

/* Shared body of write_rows / read_rows. */
static ddad_status_t rows_io(ddad_h5_t *f, const char *name, ddad_h5_type_t t, void *data, int64_t row0,
                             int64_t nrows, bool write)
{
    ddad_status_t st;
    hid_t dset = -1, fspace = -1, mspace = -1, mtype = -1, ftype = -1;
    int64_t shape[DDAD_H5_MAX_DIMS];
    hsize_t start[DDAD_H5_MAX_DIMS] = {0}, count[DDAD_H5_MAX_DIMS];
    int rank = 0;
    if ((st = check_file(f, write ? "ddad_h5_write_rows" : "ddad_h5_read_rows")))
        return st;
    if (write && (st = check_writable(f, name)))
        return st;
    if (!type_valid(t))
        return ddad_fail(DDAD_STATUS_USAGE, "%s: rows of '%s': unknown type %d", f->path, obj_name(name), (int)t);
    if ((st = open_dataset(f, name, &dset)))
        goto done;
    if ((fspace = H5Dget_space(dset)) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the shape of '%s'", name);
        goto done;
    }
    if ((st = space_shape(f, name, fspace, shape, &rank)))
        goto done;
    if (rank < 1) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: dataset '%s' is a scalar and has no rows", f->path, name);
        goto done;
    }
    if (row0 < 0 || nrows < 0 || row0 > shape[0] || nrows > shape[0] - row0) {
        char s[256];
        format_shape(s, sizeof s, shape, rank);
        st = ddad_fail(DDAD_STATUS_DATA, "%s: rows [%lld, %lld) are outside dataset '%s' of shape %s", f->path,
                       (long long)row0, (long long)(row0 + nrows), name, s);
        goto done;
    }
    if ((ftype = H5Dget_type(dset)) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot read the type of '%s'", name);
        goto done;
    }
    if ((st = check_numeric(f, "dataset", name, ftype)))
        goto done;
    size_t nelem = 0;
    shape[0] = nrows;
    if (!count_elems(shape, rank, ddad_h5_type_size(t), &nelem)) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: rows of '%s' are too large", f->path, name);
        goto done;
    }
    if (nelem == 0)
        goto done;
    if (!data) {
        st = ddad_fail(DDAD_STATUS_USAGE, "%s: rows of '%s': NULL buffer", f->path, name);
        goto done;
    }
    start[0] = (hsize_t)row0;
    for (int i = 0; i < rank; i++)
        count[i] = (hsize_t)shape[i];
    mspace = H5Screate_simple(rank, count, NULL);
    mtype = mem_type(t);
    if (mspace < 0 || mtype < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) {
        st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot select rows of '%s'", name);
        goto done;
    }
    if (write) {
        if (H5Dwrite(dset, mtype, mspace, fspace, H5P_DEFAULT, data) < 0)
            st = h5_fail(DDAD_STATUS_IO, f->path, "writing rows [%lld, %lld) of '%s' failed", (long long)row0,
                         (long long)(row0 + nrows), name);
    } else if (H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, data) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "reading rows [%lld, %lld) of '%s' failed", (long long)row0,
                     (long long)(row0 + nrows), name);
    }
done:
    if (ftype >= 0)
        H5Tclose(ftype);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

ddad_status_t ddad_h5_write_rows(ddad_h5_t *f, const char *name, ddad_h5_type_t t, const void *data, int64_t row0,
                                 int64_t nrows)
{
    return rows_io(f, name, t, (void *)data, row0, nrows, true);
}

ddad_status_t ddad_h5_read_rows(ddad_h5_t *f, const char *name, ddad_h5_type_t t, void *data, int64_t row0,
                                int64_t nrows)
{
    return rows_io(f, name, t, data, row0, nrows, false);
}

/* ---- strings ------------------------------------------------------------- */

static hid_t vlen_utf8_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Copies a fixed-length string of `size` bytes (NUL- or space-padded). */
static char *dup_fixed(const char *s, size_t size, H5T_str_t pad)
{
    size_t len = strnlen(s, size);
    if (pad == H5T_STR_SPACEPAD)
        while (len > 0 && s[len - 1] == ' ')
            len--;
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

/* Reads n strings of an attribute (is_attr) or dataset `id` with file type
 * ftype into out[0..n) (each malloc'ed). */
static ddad_status_t read_string_values(ddad_h5_t *f, const char *what, hid_t id, bool is_attr, hid_t ftype,
                                        hid_t space, size_t n, char **out)
{
    ddad_status_t st = DDAD_OK;
    hid_t mtype = -1;
    char **vbuf = NULL;
    char *fbuf = NULL;
    htri_t var = H5Tis_variable_str(ftype);
    if (var < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot inspect the string type of %s", what);
        goto done;
    }
    if (n == 0)
        goto done;
    if (var) {
        mtype = H5Tcopy(H5T_C_S1);
        if (mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
            st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot build a string type for %s", what);
            goto done;
        }
        vbuf = calloc(n, sizeof *vbuf);
        if (!vbuf) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory reading %s", f->path, what);
            goto done;
        }
        herr_t rc = is_attr ? H5Aread(id, mtype, vbuf) : H5Dread(id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, vbuf);
        if (rc < 0) {
            st = h5_fail(DDAD_STATUS_DATA, f->path, "reading the strings of %s failed", what);
            free(vbuf);
            vbuf = NULL;
            goto done;
        }
        for (size_t i = 0; i < n && st == DDAD_OK; i++) {
            out[i] = strdup(vbuf[i] ? vbuf[i] : "");
            if (!out[i])
                st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory reading %s", f->path, what);
        }
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, vbuf);
    } else {
        size_t size = H5Tget_size(ftype);
        H5T_str_t pad = H5Tget_strpad(ftype);
        mtype = H5Tcopy(ftype);
        fbuf = malloc(n * size + 1);
        if (mtype < 0 || !fbuf) {
            st = mtype < 0 ? h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot copy the string type of %s", what)
                           : ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory reading %s", f->path, what);
            goto done;
        }
        herr_t rc = is_attr ? H5Aread(id, mtype, fbuf) : H5Dread(id, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, fbuf);
        if (rc < 0) {
            st = h5_fail(DDAD_STATUS_DATA, f->path, "reading the strings of %s failed", what);
            goto done;
        }
        for (size_t i = 0; i < n && st == DDAD_OK; i++) {
            out[i] = dup_fixed(fbuf + i * size, size, pad);
            if (!out[i])
                st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory reading %s", f->path, what);
        }
    }
done:
    if (st != DDAD_OK)
        for (size_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    free(vbuf);
    free(fbuf);
    if (mtype >= 0)
        H5Tclose(mtype);
    return st;
}

ddad_status_t ddad_h5_write_strings(ddad_h5_t *f, const char *name, const char *const *strings, size_t n)
{
    ddad_status_t st;
    hid_t dset = -1, ftype = -1, space = -1, lcpl = -1;
    const char **tmp = NULL;
    if ((st = check_file(f, "ddad_h5_write_strings")))
        return st;
    if ((st = check_writable(f, name)))
        return st;
    if (!name || !name[0] || strcmp(name, "/") == 0 || (n > 0 && !strings))
        return ddad_fail(DDAD_STATUS_USAGE, "%s: ddad_h5_write_strings: empty name or NULL strings", f->path);
    if ((st = unlink_existing(f, name)))
        goto done;
    hsize_t dims[1] = {(hsize_t)n};
    ftype = vlen_utf8_type();
    space = H5Screate_simple(1, dims, NULL);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (ftype < 0 || space < 0 || lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        st = h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot set up string dataset '%s'", name);
        goto done;
    }
    if ((dset = H5Dcreate2(f->file, name, ftype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = h5_fail(DDAD_STATUS_IO, f->path, "cannot create dataset '%s'", name);
        goto done;
    }
    if (n == 0)
        goto done;
    if (!(tmp = malloc(n * sizeof *tmp))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory writing '%s'", f->path, name);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        tmp[i] = strings[i] ? strings[i] : ""; /* NULL entries are stored as "" */
    if (H5Dwrite(dset, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0)
        st = h5_fail(DDAD_STATUS_IO, f->path, "writing strings '%s' failed", name);
done:
    free(tmp);
    if (dset >= 0)
        H5Dclose(dset);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    return st;
}

ddad_status_t ddad_h5_read_strings(ddad_h5_t *f, const char *name, char ***strings, size_t *n)
{
    ddad_status_t st;
    hid_t dset = -1, ftype = -1, space = -1;
    char **out = NULL;
    size_t count = 0;
    if ((st = check_file(f, "ddad_h5_read_strings")))
        return st;
    if (!strings || !n)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: ddad_h5_read_strings: NULL output", f->path);
    *strings = NULL;
    *n = 0;
    if ((st = open_dataset(f, name, &dset)))
        goto done;
    ftype = H5Dget_type(dset);
    space = H5Dget_space(dset);
    if (ftype < 0 || space < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot inspect dataset '%s'", name);
        goto done;
    }
    if (H5Tget_class(ftype) != H5T_STRING) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: dataset '%s' does not hold strings", f->path, name);
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(space);
    if (np < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot count the strings of '%s'", name);
        goto done;
    }
    count = (size_t)np;
    if (!(out = calloc(count + 1, sizeof *out))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory reading '%s'", f->path, name);
        goto done;
    }
    char what[512];
    snprintf(what, sizeof what, "dataset '%s'", name);
    if ((st = read_string_values(f, what, dset, false, ftype, space, count, out)))
        goto done;
    *strings = out;
    *n = count;
    out = NULL;
done:
    free(out); /* entries were freed by read_string_values on failure */
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

void ddad_h5_free_strings(char **strings, size_t n)
{
    if (!strings)
        return;
    for (size_t i = 0; i < n; i++)
        free(strings[i]);
    free(strings);
}

/* ---- attributes ---------------------------------------------------------- */

/* Writes a scalar attribute (replacing any of that name). */
static ddad_status_t set_attr(ddad_h5_t *f, const char *obj, const char *attr, hid_t ftype, hid_t mtype,
                              const void *value)
{
    ddad_status_t st;
    hid_t oid = -1, space = -1, aid = -1;
    if ((st = check_writable(f, obj)))
        return st;
    if (!attr || !attr[0])
        return ddad_fail(DDAD_STATUS_USAGE, "%s: empty attribute name on '%s'", f->path, obj_name(obj));
    if ((st = open_object(f, obj, &oid)))
        goto done;
    htri_t ex = H5Aexists(oid, attr);
    if (ex < 0 || (ex > 0 && H5Adelete(oid, attr) < 0)) {
        st = h5_fail(DDAD_STATUS_IO, f->path, "cannot replace attribute '%s' of '%s'", attr, obj_name(obj));
        goto done;
    }
    if ((space = H5Screate(H5S_SCALAR)) < 0 ||
        (aid = H5Acreate2(oid, attr, ftype, space, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = h5_fail(DDAD_STATUS_IO, f->path, "cannot create attribute '%s' of '%s'", attr, obj_name(obj));
        goto done;
    }
    if (H5Awrite(aid, mtype, value) < 0)
        st = h5_fail(DDAD_STATUS_IO, f->path, "writing attribute '%s' of '%s' failed", attr, obj_name(obj));
done:
    if (aid >= 0)
        H5Aclose(aid);
    if (space >= 0)
        H5Sclose(space);
    if (oid >= 0)
        H5Oclose(oid);
    return st;
}

ddad_status_t ddad_h5_set_attr_str(ddad_h5_t *f, const char *obj, const char *attr, const char *value)
{
    ddad_status_t st;
    if ((st = check_file(f, "ddad_h5_set_attr_str")))
        return st;
    if (!value)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: NULL value for attribute '%s'", f->path, attr ? attr : "");
    hid_t t = vlen_utf8_type();
    if (t < 0)
        return h5_fail(DDAD_STATUS_INTERNAL, f->path, "cannot build a string type");
    st = set_attr(f, obj, attr, t, t, &value);
    H5Tclose(t);
    return st;
}

ddad_status_t ddad_h5_set_attr_f64(ddad_h5_t *f, const char *obj, const char *attr, double value)
{
    ddad_status_t st;
    if ((st = check_file(f, "ddad_h5_set_attr_f64")))
        return st;
    return set_attr(f, obj, attr, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

ddad_status_t ddad_h5_set_attr_i64(ddad_h5_t *f, const char *obj, const char *attr, int64_t value)
{
    ddad_status_t st;
    if ((st = check_file(f, "ddad_h5_set_attr_i64")))
        return st;
    return set_attr(f, obj, attr, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

/* Opens attribute `attr` of `obj` holding exactly one value; returns its
 * object, attribute, type and space ids (caller closes all four). */
static ddad_status_t open_attr(ddad_h5_t *f, const char *obj, const char *attr, hid_t *oid, hid_t *aid, hid_t *ftype,
                               hid_t *space)
{
    ddad_status_t st;
    *oid = *aid = *ftype = *space = -1;
    if (!attr || !attr[0])
        return ddad_fail(DDAD_STATUS_USAGE, "%s: empty attribute name on '%s'", f->path, obj_name(obj));
    if ((st = open_object(f, obj, oid)))
        return st;
    htri_t ex = H5Aexists(*oid, attr);
    if (ex < 0)
        return h5_fail(DDAD_STATUS_DATA, f->path, "cannot look up attribute '%s' of '%s'", attr, obj_name(obj));
    if (ex == 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: attribute '%s' of '%s' not found", f->path, attr, obj_name(obj));
    if ((*aid = H5Aopen(*oid, attr, H5P_DEFAULT)) < 0 || (*ftype = H5Aget_type(*aid)) < 0 ||
        (*space = H5Aget_space(*aid)) < 0)
        return h5_fail(DDAD_STATUS_DATA, f->path, "cannot open attribute '%s' of '%s'", attr, obj_name(obj));
    hssize_t np = H5Sget_simple_extent_npoints(*space);
    if (np != 1)
        return ddad_fail(DDAD_STATUS_DATA, "%s: attribute '%s' of '%s' holds %lld values, expected one", f->path,
                         attr, obj_name(obj), (long long)np);
    return DDAD_OK;
}

static void close_attr(hid_t oid, hid_t aid, hid_t ftype, hid_t space)
{
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (aid >= 0)
        H5Aclose(aid);
    if (oid >= 0)
        H5Oclose(oid);
}

ddad_status_t ddad_h5_get_attr_str(ddad_h5_t *f, const char *obj, const char *attr, char **value)
{
    ddad_status_t st;
    hid_t oid, aid, ftype, space;
    if ((st = check_file(f, "ddad_h5_get_attr_str")))
        return st;
    if (!value)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: NULL output for attribute '%s'", f->path, attr ? attr : "");
    *value = NULL;
    if ((st = open_attr(f, obj, attr, &oid, &aid, &ftype, &space)))
        goto done;
    if (H5Tget_class(ftype) != H5T_STRING) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: attribute '%s' of '%s' is not a string", f->path, attr, obj_name(obj));
        goto done;
    }
    char what[512];
    snprintf(what, sizeof what, "attribute '%s' of '%s'", attr, obj_name(obj));
    st = read_string_values(f, what, aid, true, ftype, space, 1, value);
done:
    close_attr(oid, aid, ftype, space);
    return st;
}

ddad_status_t ddad_h5_get_attr_f64(ddad_h5_t *f, const char *obj, const char *attr, double *value)
{
    ddad_status_t st;
    hid_t oid, aid, ftype, space;
    if ((st = check_file(f, "ddad_h5_get_attr_f64")))
        return st;
    if (!value)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: NULL output for attribute '%s'", f->path, attr ? attr : "");
    if ((st = open_attr(f, obj, attr, &oid, &aid, &ftype, &space)))
        goto done;
    char what[512];
    snprintf(what, sizeof what, "attribute '%s' of", attr);
    if ((st = check_numeric(f, what, obj_name(obj), ftype)))
        goto done;
    if (H5Aread(aid, H5T_NATIVE_DOUBLE, value) < 0)
        st = h5_fail(DDAD_STATUS_DATA, f->path, "reading attribute '%s' of '%s' failed", attr, obj_name(obj));
done:
    close_attr(oid, aid, ftype, space);
    return st;
}

ddad_status_t ddad_h5_get_attr_i64(ddad_h5_t *f, const char *obj, const char *attr, int64_t *value)
{
    ddad_status_t st;
    hid_t oid, aid, ftype, space;
    if ((st = check_file(f, "ddad_h5_get_attr_i64")))
        return st;
    if (!value)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: NULL output for attribute '%s'", f->path, attr ? attr : "");
    if ((st = open_attr(f, obj, attr, &oid, &aid, &ftype, &space)))
        goto done;
    char what[512];
    snprintf(what, sizeof what, "attribute '%s' of", attr);
    if ((st = check_numeric(f, what, obj_name(obj), ftype)))
        goto done;
    if (H5Tget_class(ftype) == H5T_FLOAT) {
        /* accept a float only when it holds an exact integer */
        double d;
        if (H5Aread(aid, H5T_NATIVE_DOUBLE, &d) < 0) {
            st = h5_fail(DDAD_STATUS_DATA, f->path, "reading attribute '%s' of '%s' failed", attr, obj_name(obj));
            goto done;
        }
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s: attribute '%s' of '%s' is %g, not an integer", f->path, attr,
                           obj_name(obj), d);
            goto done;
        }
        *value = (int64_t)d;
    } else if (H5Aread(aid, H5T_NATIVE_INT64, value) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "reading attribute '%s' of '%s' failed", attr, obj_name(obj));
    }
done:
    close_attr(oid, aid, ftype, space);
    return st;
}

bool ddad_h5_has_attr(ddad_h5_t *f, const char *obj, const char *attr)
{
    if (!f || !attr || !attr[0])
        return false;
    h5_quiet();
    if (!path_exists(f->file, obj))
        return false;
    return H5Aexists_by_name(f->file, obj_name(obj), attr, H5P_DEFAULT) > 0;
}

/* ---- listing ------------------------------------------------------------- */

typedef struct name_list {
    char **names;
    size_t n, cap;
    bool nomem;
} name_list_t;

static herr_t list_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    name_list_t *l = data;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->names, cap * sizeof *p);
        if (!p) {
            l->nomem = true;
            return -1;
        }
        l->names = p;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(name))) {
        l->nomem = true;
        return -1;
    }
    l->n++;
    return 0;
}

ddad_status_t ddad_h5_list(ddad_h5_t *f, const char *group, char ***names, size_t *n)
{
    ddad_status_t st;
    hid_t gid = -1;
    name_list_t l = {0};
    if ((st = check_file(f, "ddad_h5_list")))
        return st;
    if (!names || !n)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: ddad_h5_list: NULL output", f->path);
    *names = NULL;
    *n = 0;
    if (!path_exists(f->file, group)) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: group '%s' not found", f->path, obj_name(group));
        goto done;
    }
    if ((gid = H5Oopen(f->file, obj_name(group), H5P_DEFAULT)) < 0) {
        st = h5_fail(DDAD_STATUS_DATA, f->path, "cannot open group '%s'", obj_name(group));
        goto done;
    }
    if (H5Iget_type(gid) != H5I_GROUP) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: '%s' is not a group", f->path, obj_name(group));
        goto done;
    }
    hsize_t idx = 0;
    if (H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &l) < 0) {
        st = l.nomem ? ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory listing '%s'", f->path, obj_name(group))
                     : h5_fail(DDAD_STATUS_DATA, f->path, "listing group '%s' failed", obj_name(group));
        goto done;
    }
    if (!l.names && !(l.names = malloc(sizeof *l.names))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory listing '%s'", f->path, obj_name(group));
        goto done;
    }
    *names = l.names;
    *n = l.n;
    l.names = NULL;
    l.n = 0;
done:
    ddad_h5_free_strings(l.names, l.n);
    if (gid >= 0)
        H5Oclose(gid);
    return st;
}
