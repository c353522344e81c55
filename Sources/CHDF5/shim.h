#ifndef MM1_CHDF5_SHIM_H
#define MM1_CHDF5_SHIM_H
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

// Macros Swift cannot import (they expand to function calls or globals that need H5open()).
static inline hid_t mm1_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t mm1_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t mm1_h5p_default(void) { return H5P_DEFAULT; }
static inline unsigned mm1_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline hid_t mm1_h5s_all(void) { return H5S_ALL; }

/// Turns off libhdf5's printing of its error stack (mm1conv reports typed errors instead).
static inline void mm1_h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// One link found while walking a file: its path and kind (0 hard, 1 soft, 2 external or user-defined).
typedef void (*mm1_h5_link_fn)(const char *path, int kind, void *context);

typedef struct { mm1_h5_link_fn emit; void *context; size_t count, bytes; } mm1_h5_visit_state;

/// Bounds of a walk (a damaged file made libhdf5 report gigabytes of link paths): one path, all paths, links.
#define MM1_H5_PATH_LIMIT (64u << 10)
#define MM1_H5_PATHS_LIMIT (64u << 20)
#define MM1_H5_LINKS_LIMIT (1u << 20)
/// What ``mm1_h5_visit`` returns when it stopped at a bound.
#define MM1_H5_VISIT_LONG_PATH 2
#define MM1_H5_VISIT_TOO_MANY 3

static herr_t mm1_h5_visit_one(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    mm1_h5_visit_state *state = (mm1_h5_visit_state *)data;
    size_t length = strnlen(name, MM1_H5_PATH_LIMIT + 1);
    if (length > MM1_H5_PATH_LIMIT) return MM1_H5_VISIT_LONG_PATH;
    state->count += 1;
    state->bytes += length + 1;
    if (state->count > MM1_H5_LINKS_LIMIT || state->bytes > MM1_H5_PATHS_LIMIT) return MM1_H5_VISIT_TOO_MANY;
    int kind = info->type == H5L_TYPE_HARD ? 0 : (info->type == H5L_TYPE_SOFT ? 1 : 2);
    state->emit(name, kind, state->context);
    return 0;
}

/// Walks every link under the root of `file` in name order, without following soft or external links.
/// Returns a negative value when libhdf5 fails, MM1_H5_VISIT_LONG_PATH or MM1_H5_VISIT_TOO_MANY when the
/// walk stopped at a bound, 0 when done.
static inline int mm1_h5_visit(hid_t file, mm1_h5_link_fn emit, void *context) {
    mm1_h5_visit_state state = { emit, context, 0, 0 };
    return (int)H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, mm1_h5_visit_one, &state);
}

/// The strings of attribute `name` on `object` (variable- or fixed-length, scalar or 1-D), joined with NUL
/// separators into a malloc'ed buffer the caller frees; `*count` is their number. Returns NULL when the
/// attribute is missing or holds more than MM1_H5_STRINGS_LIMIT bytes (a fuzzed file declared 2^20 strings
/// of 60 KB); a non-string attribute (Keras writes an empty float64 array for a layer without weights) gives
/// an empty list.
#define MM1_H5_STRINGS_LIMIT (16u << 20)

static inline char *mm1_h5_read_strings(hid_t object, const char *name, int *count) {
    *count = 0;
    if (H5Aexists(object, name) <= 0) return NULL;
    hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
    if (attribute < 0) return NULL;
    hid_t type = H5Aget_type(attribute), space = H5Aget_space(attribute);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    char *out = NULL;
    int too_large = 0;
    if (H5Tget_class(type) != H5T_STRING || n <= 0 || n > (1 << 20)) {
        out = (char *)calloc(1, 1);
    } else if (H5Tis_variable_str(type) > 0) {
        char **items = (char **)calloc((size_t)n, sizeof(char *));
        hid_t memory = H5Tcopy(H5T_C_S1);
        H5Tset_size(memory, H5T_VARIABLE);
        H5Tset_cset(memory, H5Tget_cset(type));
        if (items && H5Aread(attribute, memory, items) >= 0) {
            size_t total = 1;
            for (hssize_t i = 0; i < n; i++) total += (items[i] ? strlen(items[i]) : 0) + 1;
            too_large = total > MM1_H5_STRINGS_LIMIT;
            out = too_large ? NULL : (char *)calloc(total, 1);
            size_t at = 0;
            for (hssize_t i = 0; i < n && out; i++) {
                size_t len = items[i] ? strlen(items[i]) : 0;
                if (len) memcpy(out + at, items[i], len);
                at += len + 1;
            }
            *count = too_large ? 0 : (int)n;
            H5Dvlen_reclaim(memory, space, H5P_DEFAULT, items);
        }
        H5Tclose(memory);
        free(items);
    } else {
        size_t size = H5Tget_size(type);
        too_large = size >= (1 << 16) || (size_t)n * (size + 1) > MM1_H5_STRINGS_LIMIT;
        char *raw = too_large || size == 0 ? NULL : (char *)calloc((size_t)n, size);
        if (raw && H5Aread(attribute, type, raw) >= 0) {
            out = (char *)calloc((size_t)n * (size + 1) + 1, 1);
            size_t at = 0;
            for (hssize_t i = 0; i < n && out; i++) {
                size_t len = strnlen(raw + (size_t)i * size, size);  // NUL- or space-padded
                while (len > 0 && raw[(size_t)i * size + len - 1] == ' ') len--;
                memcpy(out + at, raw + (size_t)i * size, len);
                at += len + 1;
            }
            *count = (int)n;
        }
        free(raw);
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(attribute);
    if (too_large) { free(out); *count = 0; return NULL; }
    return out ? out : (char *)calloc(1, 1);
}
#endif
