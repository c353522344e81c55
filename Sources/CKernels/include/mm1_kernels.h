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

/// Quantizes `rows` rows of `cols` f32 values group-wise along each row (`group` divides `cols`;
/// for int4 it is even and at most 4096). `bits` 8 or 4; `mode` 0 symmetric (x ≈ s·q), 1 affine
/// (x ≈ s·n + b) or 2 nonlinear (int4 only: x ≈ s·grid[n], grid = llama.cpp's IQ4_NL levels
/// −127 … 113); `scale_f16` 1 when scales and biases will be stored as f16 (affine, nonlinear and
/// searched scales then compute codes with the f16-rounded values); `optimize` 1 searches each group's
/// clipping range. Codes: int8 symmetric one int8 q per element; int8 affine one uint8 n; int4 two per
/// byte, element 2i in the low nibble, 2i+1 in the high one, symmetric stored as n = q + 8. `scales` and
/// `biases` (affine only; may be NULL otherwise) receive rows·cols/group f32 values, not yet rounded
/// to f16 on the plain symmetric path (ggml's Q8_0/Q4_0 round only when storing).
/// Returns −1 when done, the index of the first non-finite input, or −2 for invalid arguments.
long mm1_quantize_rows(const float *x, size_t rows, size_t cols, size_t group, int bits, int mode, int scale_f16, int optimize,
                       unsigned char *codes, float *scales, float *biases);

/// The inverse of ``mm1_quantize_rows``: symmetric s·q (int4: s·(n − 8)), affine s·n + b, nonlinear
/// s·grid[n], in f32 (product, then sum: no fused multiply-add).
void mm1_dequantize_rows(const unsigned char *codes, const float *scales, const float *biases, size_t rows, size_t cols, size_t group,
                         int bits, int mode, float *out);
/// The `open`/`fcntl` flag for direct I/O (Linux's `O_DIRECT`: writes go from the caller's aligned
/// buffer to the device, without a copy into the page cache); 0 where the system has none.
int mm1_direct_io_flag(void);

/// The offset of the first byte in `p[0..<n]` that is a quote, a backslash or below 0x20 (what ends
/// or interrupts a JSON string's plain run), or `n` when there is none. SSE2 16 bytes at a time.
size_t mm1_json_string_stop(const unsigned char *p, size_t n);

/// The CPU's spin-wait hint (`pause` on x86, `yield` on ARM): a waiting loop lets a sibling hardware
/// thread run and leaves the loop without a memory-order mis-speculation.
void mm1_spin_pause(void);

#endif
