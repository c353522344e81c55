// Vectorised exp-based activations and softmax for the reference forward pass, compiled for
// AVX2+FMA and called only where the CPU reports both (run-time dispatch, as kernels.c does).
// Everything else returns 0 and the Swift caller uses its scalar code.
#include "mm1_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <math.h>

static int has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

// exp(x) for 8 floats: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two constants for an exact
// reduction), exp(r) by the Cephes degree-6 polynomial, times 2^n built in the exponent bits.
// Inputs are clamped to [-87.3, 88.7], so results stay normal (no Inf/NaN for finite inputs).
__attribute__((target("avx2,fma")))
static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7228391f), lo = _mm256_set1_ps(-87.3365479f);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma")))
static void activation_avx2(float *x, size_t n, int kind) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 scale = _mm256_set1_ps(kind == 0 ? -1.702f : -1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_mul_ps(v, scale))));
        _mm256_storeu_ps(x + i, kind == 2 ? s : _mm256_mul_ps(v, s));
    }
    for (; i < n; i++) {
        float s = 1.0f / (1.0f + expf((kind == 0 ? -1.702f : -1.0f) * x[i]));
        x[i] = kind == 2 ? s : x[i] * s;
    }
}

__attribute__((target("avx2,fma")))
static void softmax_avx2(float *x, size_t n) {
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    if (m == -INFINITY) {  // every entry masked: torch gives NaN; callers never pass such rows
        for (size_t i = 0; i < n; i++) x[i] = 0;
        return;
    }
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    float sum = 0;
    for (int k = 0; k < 8; k++) sum += lanes[k];
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / sum;
}

__attribute__((target("avx2,fma")))
static double hsum(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    double s = 0;
    for (int k = 0; k < 8; k++) s += lanes[k];
    return s;
}

__attribute__((target("avx2,fma")))
static void layer_norm_avx2(float *x, size_t rows, size_t cols, const float *w, const float *b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        size_t i = 0;
        __m256 acc = _mm256_setzero_ps();
        for (; i + 8 <= cols; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(row + i));
        double sum = hsum(acc);
        for (; i < cols; i++) sum += row[i];
        const float mean = (float)(sum / (double)cols);
        const __m256 mv = _mm256_set1_ps(mean);
        acc = _mm256_setzero_ps();
        for (i = 0; i + 8 <= cols; i += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + i), mv);
            acc = _mm256_fmadd_ps(d, d, acc);
        }
        double squares = hsum(acc);
        for (; i < cols; i++) squares += (double)(row[i] - mean) * (row[i] - mean);
        const float rstd = (float)(1.0 / sqrt(squares / (double)cols + (double)eps));
        const __m256 rv = _mm256_set1_ps(rstd);
        for (i = 0; i + 8 <= cols; i += 8) {
            __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(row + i), mv), rv);
            __m256 y = _mm256_mul_ps(n, _mm256_loadu_ps(w + i));
            if (b) y = _mm256_add_ps(y, _mm256_loadu_ps(b + i));
            _mm256_storeu_ps(row + i, y);
        }
        for (; i < cols; i++) row[i] = (row[i] - mean) * rstd * w[i] + (b ? b[i] : 0.0f);
    }
}

size_t mm1_layer_norm(float *x, size_t rows, size_t cols, const float *weight, const float *bias, float eps) {
    if (!has_avx2_fma()) return 0;
    layer_norm_avx2(x, rows, cols, weight, bias, eps);
    return rows;
}

size_t mm1_activation(float *x, size_t n, int kind) {
    if (!has_avx2_fma() || kind < 0 || kind > 2) return 0;
    activation_avx2(x, n, kind);
    return n;
}

size_t mm1_softmax(float *x, size_t n) {
    if (!has_avx2_fma()) return 0;
    softmax_avx2(x, n);
    return n;
}

#else

size_t mm1_activation(float *x, size_t n, int kind) { (void)x; (void)n; (void)kind; return 0; }
size_t mm1_softmax(float *x, size_t n) { (void)x; (void)n; return 0; }
size_t mm1_layer_norm(float *x, size_t rows, size_t cols, const float *weight, const float *bias, float eps) {
    (void)x; (void)rows; (void)cols; (void)weight; (void)bias; (void)eps;
    return 0;
}

#endif
