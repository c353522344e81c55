#ifndef MM1_OPENBLAS_H
#define MM1_OPENBLAS_H

#include <stddef.h>

/* OpenBLAS, loaded at run time (Linux only; Apple platforms use Accelerate).
 *
 * Why not link it: Debian/Ubuntu's OpenBLAS 0.3.21 picks its kernels when the library is loaded, from the
 * CPU model number, and does not know recent Xeons (Sapphire/Emerald Rapids): it falls back to the SSE3
 * "Prescott" kernels, 4-5x slower than its AVX-512 ones. Loading it ourselves lets us set
 * OPENBLAS_CORETYPE from the CPU's feature flags first (only when the user has not set it). */

/* Loads the library once (thread-safe) and sets it to one thread per call. Returns NULL on success, else a
 * message saying why. */
const char *mm1_openblas_load(void);

/* The kernel family OpenBLAS runs with (e.g. "SkylakeX"), or "" before a successful load. */
const char *mm1_openblas_core(void);

/* The core type this process asked for through OPENBLAS_CORETYPE, or "" when it left the choice to OpenBLAS. */
const char *mm1_openblas_requested_core(void);

/* cblas_sgemm, row-major: C = alpha * op(A) * op(B) + beta * C. */
void mm1_openblas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc);

/* OpenBLAS's own single-precision GEMM building blocks (its packing routines and its micro-kernel), for a
 * product that packs the activations once for all threads and hands out blocks of weight rows dynamically.
 * Found only when the loaded library runs the SkylakeX kernels and exports them by name (Debian's
 * DYNAMIC_ARCH builds do). The caller must check, before relying on them, that a product formed with them
 * reproduces single-threaded cblas_sgemm (BLAS.swift does so bit for bit on awkward shapes). */

/* 1 when the building blocks below were found. */
int mm1_openblas_blocks_found(void);

/* Depth of the next block along K, given `remaining` (OpenBLAS's own rule, so that the sums are formed in
 * the same order as cblas_sgemm forms them). */
int mm1_openblas_block_depth(int remaining);

/* Packs `rows` rows of a weight (row-major, `ldw` floats apart), `depth` values of each starting at `w`. */
void mm1_openblas_pack_weight(int depth, int rows, const float *w, int ldw, float *packed);

/* Packs `cols` rows of the activations (row-major, `ldx` floats apart), `depth` values of each starting at `x`.
 * Packs of 4 rows at a time: a pack that starts at row r (a multiple of 4) of a larger pack starts at
 * `packed + depth * r`. */
void mm1_openblas_pack_input(int depth, int cols, const float *x, int ldx, float *packed);

/* c[j * ldc + i] += Σ_p weight[i, p] · input[j, p] for i < rows, j < cols, over the packed blocks. */
void mm1_openblas_kernel(int rows, int cols, int depth, const float *packed_weight, const float *packed_input, float *c, int ldc);

/* A 64-byte aligned buffer of at least `floats` floats owned by the calling thread (slot 0 or 1), kept and
 * reused by later calls of the same thread and freed when the thread ends; NULL when it cannot be allocated. */
float *mm1_openblas_scratch(int slot, size_t floats);

#endif
