// The AVX2 + FMA kernels: 256-bit vectors, sixteen registers, so a 6×(2
// vectors) register tile (twelve accumulators). Compiled for that
// instruction set through a target attribute on every function; cpu.c
// calls them only on CPUs that have it.

#include "rbp_kernels.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define ISA_SUFFIX avx2
#define ISA_ENUM AVX2
#define ISA_NAME "avx2"
#define VBYTES 32
#define MR 6
#define HAS_FMA 1
#include "isa_template.h"
#pragma clang attribute pop
#endif
