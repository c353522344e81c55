// Hardware half-precision conversions, chosen at run time: the package builds for the baseline
// x86-64 target, and these functions are compiled for F16C alone and called only where the CPU
// reports it. Everything else (other CPUs, other architectures) returns 0 and uses the Swift code.
#include "mm1_kernels.h"
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

static int has_f16c(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    }
    return cached;
}

__attribute__((target("avx,f16c")))
static void f16_to_f32_f16c(const unsigned char *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    if (i < n) {
        unsigned short tail[8] = {0};
        float out[8];
        memcpy(tail, src + 2 * i, 2 * (n - i));
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tail)));
        memcpy(dst + i, out, 4 * (n - i));
    }
}

__attribute__((target("avx,f16c")))
static void f32_to_f16_f16c(const float *src, unsigned char *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + 2 * i), h);
    }
    if (i < n) {
        float tail[8] = {0};
        unsigned short out[8];
        memcpy(tail, src + i, 4 * (n - i));
        _mm_storeu_si128((__m128i *)out, _mm256_cvtps_ph(_mm256_loadu_ps(tail), _MM_FROUND_TO_NEAREST_INT));
        memcpy(dst + 2 * i, out, 2 * (n - i));
    }
}

size_t mm1_f16_to_f32(const void *src, float *dst, size_t n) {
    if (!has_f16c()) return 0;
    f16_to_f32_f16c((const unsigned char *)src, dst, n);
    return n;
}

size_t mm1_f32_to_f16(const float *src, void *dst, size_t n) {
    if (!has_f16c()) return 0;
    f32_to_f16_f16c(src, (unsigned char *)dst, n);
    return n;
}


static int has_avx2_f16c(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    }
    return cached;
}

__attribute__((target("avx2,f16c")))
static inline __m256 half_scale(const unsigned char *block) {
    unsigned short h;
    memcpy(&h, block, 2);
    return _mm256_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))));
}

__attribute__((target("avx2,f16c")))
static void dequantize_q8_0_avx2(const unsigned char *src, float *dst, size_t blocks) {
    for (size_t b = 0; b < blocks; b++, src += 34, dst += 32) {
        const __m256 d = half_scale(src);
        for (int k = 0; k < 4; k++) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(src + 2 + 8 * k));
            _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

__attribute__((target("avx2,f16c")))
static void dequantize_q4_0_avx2(const unsigned char *src, float *dst, size_t blocks) {
    const __m128i low = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    for (size_t b = 0; b < blocks; b++, src += 18, dst += 32) {
        const __m256 d = half_scale(src);
        __m128i q = _mm_loadu_si128((const __m128i *)(src + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, low), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low), eight);
        _mm256_storeu_ps(dst, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(dst + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(dst + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}

size_t mm1_dequantize_q8_0(const void *src, float *dst, size_t blocks) {
    if (!has_avx2_f16c()) return 0;
    dequantize_q8_0_avx2((const unsigned char *)src, dst, blocks);
    return blocks;
}

size_t mm1_dequantize_q4_0(const void *src, float *dst, size_t blocks) {
    if (!has_avx2_f16c()) return 0;
    dequantize_q4_0_avx2((const unsigned char *)src, dst, blocks);
    return blocks;
}

#else

size_t mm1_f16_to_f32(const void *src, float *dst, size_t n) { (void)src; (void)dst; (void)n; return 0; }
size_t mm1_f32_to_f16(const float *src, void *dst, size_t n) { (void)src; (void)dst; (void)n; return 0; }

size_t mm1_dequantize_q8_0(const void *src, float *dst, size_t blocks) { (void)src; (void)dst; (void)blocks; return 0; }
size_t mm1_dequantize_q4_0(const void *src, float *dst, size_t blocks) { (void)src; (void)dst; (void)blocks; return 0; }

#endif
