#ifndef MM1_CZSTD_SHIM_H
#define MM1_CZSTD_SHIM_H
#include <zstd.h>
#include <zstd_errors.h>
#endif
