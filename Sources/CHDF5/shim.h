#ifndef MM1_CHDF5_SHIM_H
#define MM1_CHDF5_SHIM_H
#include <hdf5.h>

// Macros Swift cannot import (they expand to function calls or globals that need H5open()).
static inline hid_t mm1_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t mm1_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t mm1_h5p_default(void) { return H5P_DEFAULT; }
static inline unsigned mm1_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
#endif
