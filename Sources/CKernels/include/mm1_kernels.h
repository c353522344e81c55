#ifndef MM1_KERNELS_H
#define MM1_KERNELS_H

#include <stddef.h>

/// Converts `n` IEEE binary16 values (any alignment) to f32 with the CPU's F16C instructions.
/// Returns `n` when done, or 0 when this CPU (or build) has no F16C, so the caller falls back to
/// its portable code. Results equal torch's: exact, signalling NaNs made quiet.
size_t mm1_f16_to_f32(const void *src, float *dst, size_t n);

/// Converts `n` f32 values to binary16 (round to nearest even) with F16C; 0 when unavailable.
size_t mm1_f32_to_f16(const float *src, void *dst, size_t n);


/// Point-wise activations on `n` floats in place, vectorised with AVX2+FMA (a Cephes-style exp,
/// within 2 ulp of expf). `kind`: 0 = quick_gelu x·σ(1.702x), 1 = silu x·σ(x), 2 = sigmoid σ(x).
/// Returns `n` when done, 0 when the CPU has no AVX2/FMA (the caller then uses its scalar code).
size_t mm1_activation(float *x, size_t n, int kind);

/// Softmax of `n` floats in place (max-subtracted), vectorised like ``mm1_activation``; returns `n`,
/// or 0 when unavailable.
size_t mm1_softmax(float *x, size_t n);

/// LayerNorm of `rows` rows of `cols` floats in place: `(x − mean) / sqrt(var + eps) · weight + bias`
/// (biased variance; `bias` may be NULL), statistics accumulated in f32 over 8 lanes then f64, as
/// vectorised as PyTorch's CPU kernel. AVX2+FMA; returns `rows`, or 0 when unavailable.
size_t mm1_layer_norm(float *x, size_t rows, size_t cols, const float *weight, const float *bias, float eps);

/// Dequantizes `blocks` ggml Q8_0 blocks (34 bytes: f16 d, 32 × int8) to f32 with AVX2: x = q·d, the
/// same f32 product as the scalar formula. Returns `blocks`, or 0 when unavailable.
size_t mm1_dequantize_q8_0(const void *src, float *dst, size_t blocks);

/// Dequantizes `blocks` ggml Q4_0 blocks (18 bytes: f16 d, 16 bytes of nibbles; low nibbles are elements
/// 0–15, high 16–31) to f32 with AVX2: x = (q − 8)·d. Returns `blocks`, or 0 when unavailable.
size_t mm1_dequantize_q4_0(const void *src, float *dst, size_t blocks);
#endif
