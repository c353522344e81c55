#ifndef MM1_CBLAS_SHIM_H
#define MM1_CBLAS_SHIM_H
#include <cblas.h>
#endif
