// The AVX-512 kernels: 512-bit vectors, thirty-two registers, so a
// 12×(2 vectors) register tile (twenty-four accumulators). Compiled for
// that instruction set through a target attribute on every function;
// cpu.c calls them only on CPUs (and kernels) that enable it.

#include "rbp_kernels.h"

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), apply_to = function)
#define ISA_SUFFIX avx512
#define ISA_ENUM AVX512
#define ISA_NAME "avx512"
#define VBYTES 64
#define MR 12
#define HAS_FMA 1
#include "isa_template.h"
#pragma clang attribute pop
#endif
