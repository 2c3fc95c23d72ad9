// The machine's FP32 FMA peak, for scripts/bench-train: a register-resident loop of independent
// fused multiply-adds (12 accumulators, enough to cover the FMA latency), on 1 and on N threads.
// Built with -O2 -march=native by the script; uses 512-bit vectors when the compiler targets AVX-512F,
// else 256-bit (AVX2 + FMA). Prints "FMA_PEAK width=<bits> threads=<n> gflops=<x>" per thread count.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define WIDTH 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define REDUCE(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vec;
#define WIDTH 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float REDUCE(__m256 v) { float t[8]; _mm256_storeu_ps(t, v); float s = 0; for (int i = 0; i < 8; i++) s += t[i]; return s; }
#endif

static const long ITERS = 5000000;
static volatile float sink;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void *work(void *arg) {
    (void)arg;
    vec a = SET1(0.999999f), b = SET1(1e-7f);
    vec c0 = SET1(0), c1 = SET1(1), c2 = SET1(2), c3 = SET1(3), c4 = SET1(4), c5 = SET1(5);
    vec c6 = SET1(6), c7 = SET1(7), c8 = SET1(8), c9 = SET1(9), c10 = SET1(10), c11 = SET1(11);
    for (long i = 0; i < ITERS; i++) {
        c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b);
        c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b);
        c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);
    }
    vec s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));
    s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));
    sink = REDUCE(s);
    return NULL;
}

static double run(int threads) {
    pthread_t t[64];
    double best = 0;
    for (int rep = 0; rep < 40; rep++) {  // best of 40: the peak is what the core can do when it is ours
        double t0 = now();
        for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, work, NULL);
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        double gf = 2.0 * 12 * WIDTH * ITERS * threads / (now() - t0) / 1e9;
        if (gf > best) best = gf;
    }
    return best;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2;
    printf("FMA_PEAK width=%d threads=1 gflops=%.1f\n", WIDTH * 32, run(1));
    if (n > 1) printf("FMA_PEAK width=%d threads=%d gflops=%.1f\n", WIDTH * 32, n, run(n));
    return 0;
}
