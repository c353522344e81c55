// Group-wise int8/int4 quantization and dequantization of f32 rows (see mm1_kernels.h and
// Schemas/README.md, "Quantized tensors"). Plain C, written so the compiler vectorises the inner
// loops; the AVX2 clone is chosen at run time where the CPU has it.
//
// Exactness matters more than speed here: the symmetric round-to-nearest paths reproduce ggml's
// Q8_0 and Q4_0 reference quantizers bit for bit (group size 32), so no floating-point contraction
// (an FMA would round differently) is allowed in this file.
#pragma clang fp contract(off)

#include "mm1_kernels.h"
#include <math.h>
#include <string.h>

#define MM1_MAX_INT4_GROUP 4096

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define MM1_SANITIZED 1  // ifunc resolvers run before the sanitizer's runtime is up: no clones then
#endif
#endif
#if defined(__x86_64__) && defined(__clang__) && defined(__linux__) && !defined(MM1_SANITIZED)
#define MM1_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MM1_CLONES
#endif

/// Round half away from zero (C's roundf), written so it vectorises.
static inline float round_away(float v) {
    float t = truncf(v);
    float f = v - t;  // exact
    return fabsf(f) >= 0.5f ? t + copysignf(1.0f, v) : t;
}

static inline float to_f16_and_back(float v) { return (float)(_Float16)v; }

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/// Symmetric, round to nearest: ggml's Q8_0 (bits 8: d = amax / 127, q = round(x / d)) and Q4_0
/// (bits 4: d = extreme / −8, n = min(15, trunc(x / d + 8.5))) generalised to any group size.
/// Codes are computed with the f32 scale, as ggml does; the stored scale may be rounded later.
MM1_CLONES
static void symmetric_group(const float *x, size_t n, int bits, unsigned char *codes, float *scale) {
    if (bits == 8) {
        float amax = 0;
        for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f;
        float id = d == 0 ? 0 : 1.0f / d;
        signed char *q = (signed char *)codes;
        for (size_t i = 0; i < n; i++) q[i] = (signed char)round_away(x[i] * id);
        *scale = d;
    } else {
        // The element of largest magnitude, the first on ties (as ggml's loop finds it): a vectorisable
        // maximum, then a search for its first occurrence.
        float amax = 0, extreme = 0;
        for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
        for (size_t i = 0; i < n; i++) {
            if (fabsf(x[i]) == amax) { extreme = x[i]; break; }
        }
        float d = extreme / -8.0f;
        float id = d == 0 ? 0 : 1.0f / d;
        for (size_t i = 0; i < n; i++) {
            float v = fminf(15.0f, truncf(x[i] * id + 8.5f));
            codes[i] = (unsigned char)v;  // one code per byte here; packed by the caller's loop
        }
        *scale = d;
    }
}

/// Sum of squared errors of `x` against `s · l` with l = clamp(round(x / s)) in [lo, hi].
MM1_CLONES
static float symmetric_error(const float *x, size_t n, float s, float lo, float hi) {
    if (s == 0) {
        float e = 0;
        for (size_t i = 0; i < n; i++) e += x[i] * x[i];
        return e;
    }
    float is = 1.0f / s, e = 0;
    for (size_t i = 0; i < n; i++) {
        float l = clampf(round_away(x[i] * is), lo, hi);
        float r = s * l - x[i];
        e += r * r;
    }
    return e;
}

/// Codes l = clamp(round(x · iscale)), then the least-squares scale for them (storage-rounded) in
/// `*scale`; returns that scale's squared error (infinity when every code is 0).
MM1_CLONES
static float symmetric_fit(const float *x, size_t n, float iscale, float lo, float hi, int scale_f16, float *scale) {
    float sumlx = 0, suml2 = 0;
    for (size_t i = 0; i < n; i++) {
        float l = clampf(round_away(x[i] * iscale), lo, hi);
        sumlx += x[i] * l;
        suml2 += l * l;
    }
    if (suml2 <= 0) { *scale = 0; return INFINITY; }
    float s = sumlx / suml2;
    if (scale_f16) s = to_f16_and_back(s);
    *scale = s;
    return symmetric_error(x, n, s, lo, hi);
}

/// Symmetric with a searched scale: candidate clipping ranges around the largest magnitude, each
/// refitted by least squares, keeping the scale whose (storage-rounded) codes have the least error.
MM1_CLONES
static void symmetric_group_optimized(const float *x, size_t n, int bits, int scale_f16, unsigned char *codes, float *scale) {
    const float lo = bits == 8 ? -127.0f : -8.0f, hi = bits == 8 ? 127.0f : 7.0f;
    const float nmax = bits == 8 ? 127.0f : 8.0f;
    float amax = 0, extreme = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); extreme = x[i]; }
    }
    float best_s = 0, best_e = INFINITY;
    if (amax > 0) {
        // Candidate clipping ranges: the extreme value lands on the largest code of its side (−8,
        // or +7 for int4's asymmetric range; ±127 for int8) scaled by 1 + k/64, k in [−24, 8]
        // (shrinking clips outliers to refine the rest), each scale refitted by least squares.
        const int sides = bits == 8 ? 1 : 2;
        for (int side = 0; side < sides; side++) {
            const float target = bits == 8 ? nmax : (side == 0 ? -8.0f : 7.0f);
            const float reference = bits == 8 ? amax : extreme;
            for (int k = -24; k <= 8; k++) {
                float s, e = symmetric_fit(x, n, target * (1.0f + (float)k / 64.0f) / reference, lo, hi, scale_f16, &s);
                if (e < best_e) { best_e = e; best_s = s; }
            }
        }
        // Refine the best: codes for the scale, the least-squares scale for the codes, while the error falls.
        for (int iteration = 0; iteration < 4 && best_s != 0; iteration++) {
            float s, e = symmetric_fit(x, n, 1.0f / best_s, lo, hi, scale_f16, &s);
            if (!(e < best_e)) break;
            best_e = e;
            best_s = s;
        }
    }
    float is = best_s == 0 ? 0 : 1.0f / best_s;
    for (size_t i = 0; i < n; i++) {
        float l = clampf(round_away(x[i] * is), lo, hi);
        codes[i] = bits == 8 ? (unsigned char)(signed char)l : (unsigned char)(l + 8.0f);
    }
    *scale = best_s;
}

/// Affine: x ≈ s · n + b with n in [0, 2^bits − 1]; plain (s = (max − min) / nmax, b = min) or
/// with a searched range refitted by least squares. Codes use the storage-rounded s and b.
MM1_CLONES
static void affine_group(const float *x, size_t n, int bits, int scale_f16, int optimize, unsigned char *codes, float *scale, float *bias) {
    const float nmax = bits == 8 ? 255.0f : 15.0f;
    float mn = x[0], mx = x[0];
    for (size_t i = 1; i < n; i++) { mn = fminf(mn, x[i]); mx = fmaxf(mx, x[i]); }
    float s = (mx - mn) / nmax, b = mn;
    if (optimize && mx > mn) {
        float best_e = INFINITY, best_s = s, best_b = b;
        // Candidate ranges: anchored at the minimum with the step stretched or shrunk by up to 1/nmax
        // (k < 21), and [min, max] clipped at either end by 0 … 5/32 of its width (k ≥ 21, 36 pairs); codes
        // for each, then the least-squares (s, b) for those codes.
        const float width = mx - mn;
        for (int k = 0; k < 21 + 36; k++) {
            float lo = mn, iscale = (nmax - 1.0f + 0.1f * (float)k) / width;
            if (k >= 21) {
                lo = mn + (float)((k - 21) / 6) * width / 32.0f;
                iscale = nmax / (mx - (float)((k - 21) % 6) * width / 32.0f - lo);
            }
            float sl = 0, sl2 = 0, sxl = 0, sx = 0;
            for (size_t i = 0; i < n; i++) {
                float l = clampf(round_away(iscale * (x[i] - lo)), 0, nmax);
                sl += l; sl2 += l * l; sxl += x[i] * l; sx += x[i];
            }
            float fn = (float)n, det = fn * sl2 - sl * sl;
            if (det <= 0) continue;
            float cs = (fn * sxl - sx * sl) / det;
            float cb = (sl2 * sx - sl * sxl) / det;
            if (!(cs > 0)) continue;
            if (scale_f16) { cs = to_f16_and_back(cs); cb = to_f16_and_back(cb); }
            float ics = 1.0f / cs, e = 0;
            for (size_t i = 0; i < n; i++) {
                float l = clampf(round_away((x[i] - cb) * ics), 0, nmax);
                float r = cs * l + cb - x[i];
                e += r * r;
            }
            if (e < best_e) { best_e = e; best_s = cs; best_b = cb; }
        }
        // Compare with the plain range, so the search never loses.
        float ps = scale_f16 ? to_f16_and_back(s) : s, pb = scale_f16 ? to_f16_and_back(b) : b;
        float e = 0, ips = ps == 0 ? 0 : 1.0f / ps;
        for (size_t i = 0; i < n; i++) {
            float l = clampf(round_away((x[i] - pb) * ips), 0, nmax);
            float r = ps * l + pb - x[i];
            e += r * r;
        }
        if (e <= best_e) { best_e = e; best_s = ps; best_b = pb; }
        // Refine the best: codes for (s, b), then the least-squares (s, b) for the codes, while the error falls.
        for (int iteration = 0; iteration < 4 && best_s > 0; iteration++) {
            float ics = 1.0f / best_s, sl = 0, sl2 = 0, sxl = 0, sx = 0;
            for (size_t i = 0; i < n; i++) {
                float l = clampf(round_away((x[i] - best_b) * ics), 0, nmax);
                sl += l; sl2 += l * l; sxl += x[i] * l; sx += x[i];
            }
            float fn = (float)n, det = fn * sl2 - sl * sl;
            if (det <= 0) break;
            float cs = (fn * sxl - sx * sl) / det, cb = (sl2 * sx - sl * sxl) / det;
            if (!(cs > 0)) break;
            if (scale_f16) { cs = to_f16_and_back(cs); cb = to_f16_and_back(cb); }
            float e2 = 0, ic = 1.0f / cs;
            for (size_t i = 0; i < n; i++) {
                float l = clampf(round_away((x[i] - cb) * ic), 0, nmax);
                float r = cs * l + cb - x[i];
                e2 += r * r;
            }
            if (!(e2 < best_e)) break;
            best_e = e2; best_s = cs; best_b = cb;
        }
        s = best_s; b = best_b;
    }
    if (scale_f16) { s = to_f16_and_back(s); b = to_f16_and_back(b); }
    float is = s == 0 ? 0 : 1.0f / s;
    for (size_t i = 0; i < n; i++) codes[i] = (unsigned char)clampf(round_away((x[i] - b) * is), 0, nmax);
    *scale = s;
    *bias = b;
}

/// The 16 levels of the nonlinear int4 mode: llama.cpp's IQ4_NL grid (kvalues_iq4nl, ggml-common.h),
/// denser near zero where trained weights are; x ≈ s · grid[n].
static const float nonlinear_grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/// The index of the grid level nearest to v (the lower one on a tie): the number of midpoints below v.
static inline unsigned nonlinear_code(float v) {
    static const float mid[15] = {-115.5f, -93.5f, -74, -57, -42, -28.5f, -16, -4.5f, 7, 19, 31.5f, 45.5f, 61, 79, 101};
    unsigned n = 0;
    for (int k = 0; k < 15; k++) n += v > mid[k];
    return n;
}

/// Sum of squared errors of `x` against s · grid[nearest(x / s)].
MM1_CLONES
static float nonlinear_error(const float *x, size_t n, float s) {
    float e = 0;
    if (s == 0) {
        for (size_t i = 0; i < n; i++) e += x[i] * x[i];
        return e;
    }
    float is = 1.0f / s;
    for (size_t i = 0; i < n; i++) {
        float r = s * nonlinear_grid[nonlinear_code(x[i] * is)] - x[i];
        e += r * r;
    }
    return e;
}

/// Codes for the scale 1 / iscale, then the least-squares scale for them (storage-rounded) in `*scale`;
/// returns that scale's squared error.
MM1_CLONES
static float nonlinear_fit(const float *x, size_t n, float iscale, int scale_f16, float *scale) {
    float sumvx = 0, sumv2 = 0;
    for (size_t i = 0; i < n; i++) {
        float v = nonlinear_grid[nonlinear_code(x[i] * iscale)];
        sumvx += x[i] * v;
        sumv2 += v * v;
    }
    float s = sumvx / sumv2;  // sumv2 > 0: no level is 0
    if (scale_f16) s = to_f16_and_back(s);
    *scale = s;
    return nonlinear_error(x, n, s);
}

/// Nonlinear int4: the element of largest magnitude lands on the grid's end, −127 (s = extreme / −127),
/// codes are the nearest levels. With `optimize`, candidate scales put the extreme on either end of the
/// grid (−127 or 113) shrunk or stretched by k/64, each refitted by least squares, then alternating
/// codes and least-squares scale while the error falls; the plain scale is among the candidates.
MM1_CLONES
static void nonlinear_group(const float *x, size_t n, int scale_f16, int optimize, unsigned char *codes, float *scale) {
    float amax = 0, extreme = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); extreme = x[i]; }
    }
    float s = extreme / -127.0f;
    if (scale_f16) s = to_f16_and_back(s);
    if (!optimize && amax > 0) {
        // The extreme on either end of the grid (−127, or 113), each with one least-squares refit of the
        // scale for its nearest codes (llama.cpp's IQ4_NL quantizer refits too); the least error wins.
        float best_e = nonlinear_error(x, n, s);
        for (int side = 0; side < 2; side++) {
            float c, e = nonlinear_fit(x, n, (side == 0 ? -127.0f : 113.0f) / extreme, scale_f16, &c);
            if (e < best_e) { best_e = e; s = c; }
        }
    }
    if (optimize && amax > 0) {
        float best_s = s, best_e = nonlinear_error(x, n, s);
        for (int side = 0; side < 2; side++) {
            const float end = side == 0 ? -127.0f : 113.0f;
            for (int k = -24; k <= 8; k++) {
                float c, e = nonlinear_fit(x, n, end * (1.0f + (float)k / 64.0f) / extreme, scale_f16, &c);
                if (e < best_e) { best_e = e; best_s = c; }
            }
        }
        for (int iteration = 0; iteration < 4 && best_s != 0; iteration++) {
            float c, e = nonlinear_fit(x, n, 1.0f / best_s, scale_f16, &c);
            if (!(e < best_e)) break;
            best_e = e;
            best_s = c;
        }
        s = best_s;
    }
    float is = s == 0 ? 0 : 1.0f / s;
    for (size_t i = 0; i < n; i++) codes[i] = (unsigned char)nonlinear_code(x[i] * is);
    *scale = s;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

static int cpu_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2");
    }
    return cached;
}

/// The symmetric round-to-nearest path (ggml's Q8_0 / Q4_0 arithmetic, operation for operation) for
/// one row whose groups are whole vectors of 8: the same results as symmetric_group, vectorised.
/// Returns −1, or the index in the row of the first non-finite value.
__attribute__((target("avx2")))
static long symmetric_row_avx2(const float *x, size_t cols, size_t group, int bits, unsigned char *codes, float *scales) {
    const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
    for (size_t g = 0; g < cols / group; g++) {
        const float *xs = x + g * group;
        __m256 vmax = zero, finite = zero;
        for (size_t i = 0; i < group; i += 8) {
            __m256 v = _mm256_loadu_ps(xs + i);
            vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, v));
            finite = _mm256_add_ps(finite, _mm256_mul_ps(v, zero));  // NaN once any value is NaN or infinite
        }
        if (_mm256_movemask_ps(_mm256_cmp_ps(finite, finite, _CMP_UNORD_Q))) {
            for (size_t i = 0; i < group; i++) if (!isfinite(xs[i])) return (long)(g * group + i);
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        const float amax = _mm_cvtss_f32(m4);
        if (bits == 8) {
            const float d = amax / 127.0f, id = d == 0 ? 0 : 1.0f / d;
            const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
            for (size_t i = 0; i < group; i += 8) {
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xs + i), vid);
                __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
                __m256 away = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(v, t)), half, _CMP_GE_OQ);
                __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), one);  // ±1 with v's sign
                __m256i q = _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(away, step)));
                __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
                _mm_storel_epi64((__m128i *)(codes + g * group + i), _mm_packs_epi16(w, w));
            }
            scales[g] = d;
        } else {
            float extreme = 0;
            for (size_t i = 0; i < group; i++) {
                if (fabsf(xs[i]) == amax) { extreme = xs[i]; break; }
            }
            const float d = extreme / -8.0f, id = d == 0 ? 0 : 1.0f / d;
            const __m256 vid = _mm256_set1_ps(id), off = _mm256_set1_ps(8.5f), top = _mm256_set1_ps(15.0f);
            unsigned char *out = codes + g * group / 2;
            for (size_t i = 0; i < group; i += 16) {
                __m256i a = _mm256_cvttps_epi32(_mm256_min_ps(top, _mm256_round_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xs + i), vid), off), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC)));
                __m256i b = _mm256_cvttps_epi32(_mm256_min_ps(top, _mm256_round_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xs + i + 8), vid), off), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC)));
                // 16 codes as bytes (elements i … i+15 in order), then pairs joined: byte k = c[2k] | c[2k+1] << 4.
                __m128i wa = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
                __m128i wb = _mm_packs_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
                __m128i bytes = _mm_packus_epi16(wa, wb);
                __m128i words = _mm_or_si128(_mm_and_si128(bytes, _mm_set1_epi16(0x000F)), _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi16(0x00F0)));
                _mm_storel_epi64((__m128i *)(out + i / 2), _mm_packus_epi16(words, words));
            }
            scales[g] = d;
        }
    }
    return -1;
}
#define MM1_HAVE_AVX2_ROWS 1
#endif

long mm1_quantize_rows(const float *x, size_t rows, size_t cols, size_t group, int bits, int mode, int scale_f16, int optimize,
                       unsigned char *codes, float *scales, float *biases) {
    if (group == 0 || cols % group != 0 || (bits != 8 && bits != 4) || (bits == 4 && group % 2 != 0)) return -2;
    if (mode < 0 || mode > 2 || (mode == 2 && bits != 4)) return -2;
    const int affine = mode == 1;
    unsigned char tmp[MM1_MAX_INT4_GROUP];
    if (bits == 4 && group > MM1_MAX_INT4_GROUP) return -2;
    const size_t groups = cols / group;
#ifdef MM1_HAVE_AVX2_ROWS
    if (mode == 0 && !optimize && group % 16 == 0 && cpu_has_avx2()) {
        for (size_t r = 0; r < rows; r++) {
            long bad = symmetric_row_avx2(x + r * cols, cols, group, bits, codes + r * (bits == 8 ? cols : cols / 2), scales + r * groups);
            if (bad >= 0) return (long)(r * cols) + bad;
        }
        return -1;
    }
#endif
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        for (size_t i = 0; i < cols; i++) {
            if (!isfinite(row[i])) return (long)(r * cols + i);
        }
        for (size_t g = 0; g < groups; g++) {
            const float *xs = row + g * group;
            size_t k = r * groups + g;
            // int8 codes go straight to their place; int4 codes one per byte to `tmp`, then packed.
            unsigned char *dst = bits == 8 ? codes + r * cols + g * group : tmp;
            if (affine) affine_group(xs, group, bits, scale_f16, optimize, dst, &scales[k], &biases[k]);
            else if (mode == 2) nonlinear_group(xs, group, scale_f16, optimize, dst, &scales[k]);
            else if (optimize) symmetric_group_optimized(xs, group, bits, scale_f16, dst, &scales[k]);
            else symmetric_group(xs, group, bits, dst, &scales[k]);
            if (bits == 4) {
                unsigned char *out = codes + (r * cols + g * group) / 2;
                for (size_t i = 0; i < group / 2; i++) out[i] = (unsigned char)(tmp[2 * i] | (tmp[2 * i + 1] << 4));
            }
        }
    }
    return -1;
}

MM1_CLONES
void mm1_dequantize_rows(const unsigned char *codes, const float *scales, const float *biases, size_t rows, size_t cols, size_t group,
                         int bits, int mode, float *out) {
    const size_t groups = cols / group;
    const int affine = mode == 1;
    for (size_t r = 0; r < rows; r++) {
        for (size_t g = 0; g < groups; g++) {
            const size_t k = r * groups + g, first = r * cols + g * group;
            const float s = scales[k], b = affine ? biases[k] : 0;
            float *o = out + first;
            if (bits == 8) {
                if (affine) {
                    for (size_t i = 0; i < group; i++) o[i] = s * (float)codes[first + i] + b;
                } else {
                    const signed char *q = (const signed char *)codes + first;
                    for (size_t i = 0; i < group; i++) o[i] = s * (float)q[i];
                }
            } else {
                const unsigned char *q = codes + first / 2;
                if (affine) {
                    for (size_t i = 0; i < group / 2; i++) {
                        o[2 * i] = s * (float)(q[i] & 15) + b;
                        o[2 * i + 1] = s * (float)(q[i] >> 4) + b;
                    }
                } else if (mode == 2) {
                    for (size_t i = 0; i < group / 2; i++) {
                        o[2 * i] = s * nonlinear_grid[q[i] & 15];
                        o[2 * i + 1] = s * nonlinear_grid[q[i] >> 4];
                    }
                } else {
                    for (size_t i = 0; i < group / 2; i++) {
                        o[2 * i] = s * (float)((int)(q[i] & 15) - 8);
                        o[2 * i + 1] = s * (float)((int)(q[i] >> 4) - 8);
                    }
                }
            }
        }
    }
}
