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
static int blocks_found;
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

/* Each thread's two scratch buffers, freed when the thread ends. */
typedef struct {
    float *buffer[2];
    size_t floats[2];
} scratch_t;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p) {
    scratch_t *s = p;
    free(s->buffer[0]);
    free(s->buffer[1]);
    free(s);
}

static void scratch_init(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

float *mm1_openblas_scratch(int slot, size_t floats) {
    if (slot < 0 || slot > 1) return NULL;
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok) return NULL;
    scratch_t *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        if ((s = calloc(1, sizeof *s)) == NULL) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->floats[slot] < floats) {
        free(s->buffer[slot]);
        s->buffer[slot] = NULL;
        s->floats[slot] = 0;
        void *p = NULL;
        if (posix_memalign(&p, 64, (floats + 15) / 16 * 16 * sizeof(float)) != 0) return NULL;
        s->buffer[slot] = p;
        s->floats[slot] = floats;
    }
    return s->buffer[slot];
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
    // driver cuts K differently from its single-threaded one, whose order the building blocks follow).
    if (set_threads != NULL) set_threads(1);
    if (corename != NULL && strcmp(corename(), "SkylakeX") == 0) {
        kernel = (kernel_fn)dlsym(handle, "sgemm_kernel_SKYLAKEX");
        copy_weight = (copy_fn)dlsym(handle, "sgemm_incopy_SKYLAKEX");
        copy_input = (copy_fn)dlsym(handle, "sgemm_oncopy_SKYLAKEX");
        blocks_found = kernel != NULL && copy_weight != NULL && copy_input != NULL;
    }
}

const char *mm1_openblas_load(void) {
    pthread_once(&once, load);
    return sgemm != NULL ? NULL : failure;
}

const char *mm1_openblas_core(void) { return mm1_openblas_load() == NULL && corename != NULL ? corename() : ""; }

const char *mm1_openblas_requested_core(void) { return requested; }

int mm1_openblas_blocks_found(void) { return mm1_openblas_load() == NULL && blocks_found; }

void mm1_openblas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc) {
    sgemm(ROW_MAJOR, transpose_a ? TRANS : NO_TRANS, transpose_b ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#else
const char *mm1_openblas_load(void) { return "OpenBLAS is only loaded on Linux (Apple platforms use Accelerate)"; }
const char *mm1_openblas_core(void) { return ""; }
const char *mm1_openblas_requested_core(void) { return ""; }
int mm1_openblas_blocks_found(void) { return 0; }
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
