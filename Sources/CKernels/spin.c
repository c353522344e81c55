// A spin-wait hint for the forward pass's worker pool.
#include "mm1_kernels.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

void mm1_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
