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

typedef struct { mm1_h5_link_fn emit; void *context; } mm1_h5_visit_state;

static herr_t mm1_h5_visit_one(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    mm1_h5_visit_state *state = (mm1_h5_visit_state *)data;
    int kind = info->type == H5L_TYPE_HARD ? 0 : (info->type == H5L_TYPE_SOFT ? 1 : 2);
    state->emit(name, kind, state->context);
    return 0;
}

/// Walks every link under the root of `file` in name order, without following soft or external links.
static inline int mm1_h5_visit(hid_t file, mm1_h5_link_fn emit, void *context) {
    mm1_h5_visit_state state = { emit, context };
    return (int)H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, mm1_h5_visit_one, &state);
}
#endif
