#ifndef MM1_OPENBLAS_H
#define MM1_OPENBLAS_H

/* OpenBLAS, loaded at run time (Linux only; Apple platforms use Accelerate).
 *
 * Why not link it: Debian/Ubuntu's OpenBLAS 0.3.21 picks its kernels when the library is loaded, from the
 * CPU model number, and does not know recent Xeons (Sapphire/Emerald Rapids): it falls back to the SSE3
 * "Prescott" kernels, 4-5x slower than its AVX-512 ones. Loading it ourselves lets us set
 * OPENBLAS_CORETYPE from the CPU's feature flags first (only when the user has not set it). */

/* Loads the library once (thread-safe). Returns NULL on success, else a message saying why. */
const char *mm1_openblas_load(void);

/* The kernel family OpenBLAS runs with (e.g. "SkylakeX"), or "" before a successful load. */
const char *mm1_openblas_core(void);

/* The core type this process asked for through OPENBLAS_CORETYPE, or "" when it left the choice to OpenBLAS. */
const char *mm1_openblas_requested_core(void);

/* Sets OpenBLAS's thread count. */
void mm1_openblas_set_threads(int threads);

/* cblas_sgemm, row-major: C = alpha * op(A) * op(B) + beta * C. */
void mm1_openblas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc);

#endif
