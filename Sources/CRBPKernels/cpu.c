// Which kernels this CPU runs: asks CPUID (and the operating system, through
// XGETBV, whether it saves the wider registers) once, at first use, and
// honours an `RBP_ISA` override when the CPU can run what it names.

#include "rbp_kernels.h"

#include <stdlib.h>
#include <string.h>

extern const rbp_kernel_table rbp_table_generic;
#if defined(__x86_64__)
extern const rbp_kernel_table rbp_table_avx2;
extern const rbp_kernel_table rbp_table_avx512;
#include <cpuid.h>

static unsigned long long rbp_xgetbv0(void) {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

/// Bit 0: AVX2 + FMA usable; bit 1: AVX-512 F/DQ/BW/VL usable.
static int rbp_probe(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!(fma && osxsave && avx)) return 0;
  unsigned long long xcr0 = rbp_xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return 0;            // XMM and YMM state
  if (__get_cpuid_max(0, 0) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  int avx2 = (b >> 5) & 1;
  if (!avx2) return 0;
  int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  int zmm = (xcr0 & 0xE6) == 0xE6;              // opmask, ZMM_Hi256, Hi16_ZMM
  return 1 | ((f && dq && bw && vl && zmm) ? 2 : 0);
}
#else
static int rbp_probe(void) { return 0; }
#endif

static const rbp_kernel_table *rbp_tables[RBP_ISA_COUNT];
static const rbp_kernel_table *rbp_active;
static const char *rbp_rejected;

/// Fills the tables once per process, before any caller can race it.
__attribute__((constructor)) static void rbp_kernels_init(void) {
  if (rbp_active) return;
  int features = rbp_probe();
  rbp_tables[RBP_ISA_GENERIC] = &rbp_table_generic;
#if defined(__x86_64__)
  if (features & 1) rbp_tables[RBP_ISA_AVX2] = &rbp_table_avx2;
  if (features & 2) rbp_tables[RBP_ISA_AVX512] = &rbp_table_avx512;
#else
  (void)features;
#endif
  const rbp_kernel_table *best = &rbp_table_generic;
  for (int i = 0; i < RBP_ISA_COUNT; i++) {
    if (rbp_tables[i]) best = rbp_tables[i];
  }
  const char *forced = getenv("RBP_ISA");
  if (forced && *forced) {
    for (int i = 0; i < RBP_ISA_COUNT; i++) {
      static const char *names[RBP_ISA_COUNT] = {"generic", "avx2", "avx512"};
      if (strcmp(forced, names[i]) == 0 && rbp_tables[i]) {
        rbp_active = rbp_tables[i];
        return;
      }
    }
    rbp_rejected = forced;
  }
  rbp_active = best;
}

int rbp_isa_supported(rbp_isa isa) { return rbp_kernels_for(isa) != NULL; }

const rbp_kernel_table *rbp_kernels_for(rbp_isa isa) {
  rbp_kernels_init();
  return (unsigned)isa < RBP_ISA_COUNT ? rbp_tables[isa] : NULL;
}

const rbp_kernel_table *rbp_kernels_active(void) {
  rbp_kernels_init();
  return rbp_active;
}

const char *rbp_isa_override_rejected(void) {
  rbp_kernels_init();
  return rbp_rejected;
}
