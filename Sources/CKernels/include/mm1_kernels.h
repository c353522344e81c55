#ifndef MM1_KERNELS_H
#define MM1_KERNELS_H

#include <stddef.h>

/// Converts `n` IEEE binary16 values (any alignment) to f32 with the CPU's F16C instructions.
/// Returns `n` when done, or 0 when this CPU (or build) has no F16C, so the caller falls back to
/// its portable code. Results equal torch's: exact, signalling NaNs made quiet.
size_t mm1_f16_to_f32(const void *src, float *dst, size_t n);

/// Converts `n` f32 values to binary16 (round to nearest even) with F16C; 0 when unavailable.
size_t mm1_f32_to_f16(const float *src, void *dst, size_t n);

#endif
