#include "mm1_openblas.h"

#if defined(__linux__)
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*threads_fn)(int);
typedef char *(*corename_fn)(void);
typedef int (*kernel_fn)(long, long, long, float, float *, float *, float *, long);
typedef int (*copy_fn)(long, long, float *, long, float *);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn sgemm;
static threads_fn set_threads;
static corename_fn corename;
static kernel_fn kernel;
static copy_fn copy_weight, copy_input;
static int blocks_ready;
static const char *requested = "";
static char failure[512];

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

static void choose_core(void) {
    if (getenv("OPENBLAS_CORETYPE") != NULL) return;
#if defined(__x86_64__)
    __builtin_cpu_init();
    const char *core = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        core = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        core = "Haswell";
    if (core != NULL && setenv("OPENBLAS_CORETYPE", core, 0) == 0) requested = core;
#endif
}

enum { BLOCK_K = 448, UNROLL_M = 16 };  /* SGEMM_DEFAULT_Q and _UNROLL_M of OpenBLAS's SKYLAKEX parameters */

int mm1_openblas_block_depth(int remaining) {
    if (remaining >= 2 * BLOCK_K) return BLOCK_K;
    if (remaining > BLOCK_K) return (remaining / 2 + UNROLL_M - 1) / UNROLL_M * UNROLL_M;
    return remaining;
}

void mm1_openblas_pack_weight(int depth, int rows, const float *w, int ldw, float *packed) {
    copy_weight(depth, rows, (float *)w, ldw, packed);
}

void mm1_openblas_pack_input(int depth, int cols, const float *x, int ldx, float *packed) {
    copy_input(depth, cols, (float *)x, ldx, packed);
}

void mm1_openblas_kernel(int rows, int cols, int depth, const float *packed_weight, const float *packed_input, float *c, int ldc) {
    kernel(rows, cols, depth, 1.0f, (float *)packed_weight, (float *)packed_input, c, ldc);
}

static _Thread_local float *scratch[2];
static _Thread_local size_t scratch_floats[2];

float *mm1_openblas_scratch(int slot, size_t floats) {
    if (slot < 0 || slot > 1) return NULL;
    if (scratch_floats[slot] < floats) {
        free(scratch[slot]);
        scratch[slot] = NULL;
        scratch_floats[slot] = 0;
        void *p = NULL;
        if (posix_memalign(&p, 16384, (floats + 15) / 16 * 16 * sizeof(float)) != 0) return NULL;
        scratch[slot] = p;
        scratch_floats[slot] = floats;
    }
    return scratch[slot];
}

/* The product of `outputs`×`depth` weights and `tokens`×`depth` activations through the blocks, as the
 * Swift driver forms it (weight rows in blocks of 32 here, so that blocks end inside and at the edge). */
static void blocks_product(int tokens, int outputs, int depth, const float *x, const float *w, float *c) {
    float *pb = malloc(sizeof(float) * (size_t)tokens * depth), *pa = malloc(sizeof(float) * 32 * (size_t)depth);
    if (pb == NULL || pa == NULL) { free(pb); free(pa); return; }
    for (int ls = 0, d; ls < depth; ls += d) {
        d = mm1_openblas_block_depth(depth - ls);
        mm1_openblas_pack_input(d, tokens, x + ls, depth, pb + (size_t)ls * tokens);
    }
    for (int r0 = 0; r0 < outputs; r0 += 32) {
        int rows = outputs - r0 < 32 ? outputs - r0 : 32;
        for (int t = 0; t < tokens; t++) memset(c + (size_t)t * outputs + r0, 0, sizeof(float) * rows);
        for (int ls = 0, d; ls < depth; ls += d) {
            d = mm1_openblas_block_depth(depth - ls);
            mm1_openblas_pack_weight(d, rows, w + (size_t)r0 * depth + ls, depth, pa);
            mm1_openblas_kernel(rows, tokens, d, pa, pb + (size_t)ls * tokens, c + r0, outputs);
        }
    }
    free(pb);
    free(pa);
}

/* Whether the blocks reproduce cblas_sgemm exactly on shapes with every remainder (rows and tokens not
 * multiples of 16 or 4, one to three K blocks, a halved K block). Every shape has more than 100³
 * multiply-adds, so that cblas_sgemm takes its packed path and not its small-matrix kernels. */
static int blocks_agree(void) {
    static const int shapes[][3] = {{37, 45, 700}, {13, 83, 1000}, {26, 50, 900}, {9, 150, 800}, {3, 400, 900}, {1, 1200, 1000}};
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int tokens = shapes[s][0], outputs = shapes[s][1], depth = shapes[s][2];
        size_t nx = (size_t)tokens * depth, nw = (size_t)outputs * depth, nc = (size_t)tokens * outputs;
        float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
        float *c1 = calloc(nc, sizeof(float)), *c2 = calloc(nc, sizeof(float));
        int same = x != NULL && w != NULL && c1 != NULL && c2 != NULL;
        if (same) {
            for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 7919) % 997) / 997.0f - 0.5f;
            for (size_t i = 0; i < nw; i++) w[i] = (float)((i * 104729) % 991) / 991.0f - 0.5f;
            sgemm(ROW_MAJOR, NO_TRANS, TRANS, tokens, outputs, depth, 1.0f, x, depth, w, depth, 0.0f, c1, outputs);
            blocks_product(tokens, outputs, depth, x, w, c2);
            same = memcmp(c1, c2, sizeof(float) * nc) == 0;
        }
        free(x); free(w); free(c1); free(c2);
        if (!same) return 0;
    }
    return 1;
}

static void load(void) {
    choose_core();
    static const char *names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *handle = NULL;
    for (unsigned i = 0; i < sizeof names / sizeof names[0] && handle == NULL; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(failure, sizeof failure, "cannot load OpenBLAS (libopenblas.so.0; install libopenblas0 or libopenblas-dev): %s",
                 why ? why : "not found");
        return;
    }
    sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    set_threads = (threads_fn)dlsym(handle, "openblas_set_num_threads");
    corename = (corename_fn)dlsym(handle, "openblas_get_corename");
    if (sgemm == NULL) {
        snprintf(failure, sizeof failure, "the loaded OpenBLAS has no cblas_sgemm");
        return;
    }
    // The building blocks of `sgemm_tn` (C' = Wᵀ-stored weight × activations in column-major terms):
    // "incopy" packs the weight, "oncopy" the activations; their layouts are the kernel's, whatever they are.
    // One thread per call: callers split products over their own threads (and OpenBLAS's threaded
    // driver cuts K differently, so the check below holds for single-threaded calls).
    if (set_threads != NULL) set_threads(1);
    if (corename != NULL && strcmp(corename(), "SkylakeX") == 0) {
        kernel = (kernel_fn)dlsym(handle, "sgemm_kernel_SKYLAKEX");
        copy_weight = (copy_fn)dlsym(handle, "sgemm_incopy_SKYLAKEX");
        copy_input = (copy_fn)dlsym(handle, "sgemm_oncopy_SKYLAKEX");
        blocks_ready = kernel != NULL && copy_weight != NULL && copy_input != NULL && blocks_agree();
    }
}

const char *mm1_openblas_load(void) {
    pthread_once(&once, load);
    return sgemm != NULL ? NULL : failure;
}

const char *mm1_openblas_core(void) { return mm1_openblas_load() == NULL && corename != NULL ? corename() : ""; }

const char *mm1_openblas_requested_core(void) { return requested; }

void mm1_openblas_set_threads(int threads) {
    if (mm1_openblas_load() == NULL && set_threads != NULL) set_threads(threads);
}

int mm1_openblas_blocks_ready(void) { return mm1_openblas_load() == NULL && blocks_ready; }

void mm1_openblas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc) {
    sgemm(ROW_MAJOR, transpose_a ? TRANS : NO_TRANS, transpose_b ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#else
const char *mm1_openblas_load(void) { return "OpenBLAS is only loaded on Linux (Apple platforms use Accelerate)"; }
const char *mm1_openblas_core(void) { return ""; }
const char *mm1_openblas_requested_core(void) { return ""; }
void mm1_openblas_set_threads(int threads) { (void)threads; }
int mm1_openblas_blocks_ready(void) { return 0; }
int mm1_openblas_block_depth(int remaining) { return remaining; }
void mm1_openblas_pack_weight(int depth, int rows, const float *w, int ldw, float *packed) { (void)depth; (void)rows; (void)w; (void)ldw; (void)packed; }
void mm1_openblas_pack_input(int depth, int cols, const float *x, int ldx, float *packed) { (void)depth; (void)cols; (void)x; (void)ldx; (void)packed; }
void mm1_openblas_kernel(int rows, int cols, int depth, const float *packed_weight, const float *packed_input, float *c, int ldc) {
    (void)rows; (void)cols; (void)depth; (void)packed_weight; (void)packed_input; (void)c; (void)ldc;
}
float *mm1_openblas_scratch(int slot, size_t floats) { (void)slot; (void)floats; return NULL; }
void mm1_openblas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc) {
    (void)transpose_a; (void)transpose_b; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb;
    (void)beta; (void)c; (void)ldc;
}
#endif
