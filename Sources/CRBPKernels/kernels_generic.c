// The generic kernels: 128-bit vectors, which every x86-64 CPU (SSE2) and
// every arm64 CPU (NEON) has. The fallback of the dispatch in cpu.c.

#include "rbp_kernels.h"

#define ISA_SUFFIX generic
#define ISA_ENUM GENERIC
#define ISA_NAME "generic"
#define VBYTES 16
#define MR 6
#if defined(__aarch64__)
#define HAS_FMA 1
#else
#define HAS_FMA 0
#endif
#include "isa_template.h"
