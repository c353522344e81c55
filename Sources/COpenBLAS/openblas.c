#include "mm1_openblas.h"

#if defined(__linux__)
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*threads_fn)(int);
typedef char *(*corename_fn)(void);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn sgemm;
static threads_fn set_threads;
static corename_fn corename;
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
    if (sgemm == NULL) snprintf(failure, sizeof failure, "the loaded OpenBLAS has no cblas_sgemm");
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

void mm1_openblas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc) {
    sgemm(ROW_MAJOR, transpose_a ? TRANS : NO_TRANS, transpose_b ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#else
const char *mm1_openblas_load(void) { return "OpenBLAS is only loaded on Linux (Apple platforms use Accelerate)"; }
const char *mm1_openblas_core(void) { return ""; }
const char *mm1_openblas_requested_core(void) { return ""; }
void mm1_openblas_set_threads(int threads) { (void)threads; }
void mm1_openblas_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc) {
    (void)transpose_a; (void)transpose_b; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb;
    (void)beta; (void)c; (void)ldc;
}
#endif
