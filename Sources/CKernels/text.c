// Byte scanning for the strict JSON reader.
#include <stdint.h>
#include "mm1_kernels.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

size_t mm1_json_string_stop(const unsigned char *p, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), below = _mm_set1_epi8(0x1F);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        // v <= 0x1F (unsigned) exactly when max(v, 0x1F) == 0x1F.
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                    _mm_cmpeq_epi8(_mm_max_epu8(v, below), below));
        int mask = _mm_movemask_epi8(stop);
        if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    for (; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\' || c < 0x20) return i;
    }
    return n;
}
