// One instruction set's kernels, for both precisions. Included by the
// kernels_<isa>.c files with:
//   ISA_SUFFIX   avx2, avx512, generic (the suffix of every function name)
//   VBYTES       bytes per vector register: 16, 32 or 64
//   MR           rows of the micro-kernel's register tile
//   HAS_FMA      1 where fused multiply-add is an instruction
// and, around the include, a `target` attribute for every function.
//
// The arithmetic is written once, over clang's vector extensions; the
// compiler maps it onto the registers of the target. Contraction is off:
// every fused multiply-add is written as one (VFMA), so where a variant
// fuses is decided here, not by the compiler.

#pragma clang fp contract(off)

#define RBP_CAT_(a, b) a##b
#define RBP_CAT(a, b) RBP_CAT_(a, b)

#if HAS_FMA
#define VFMA(a, b, c) __builtin_elementwise_fma((a), (b), (c))
#else
#define VFMA(a, b, c) ((a) * (b) + (c))
#endif

#define T float
#define SFX f32
#define IS_F32 1
#include "precision_template.h"
#undef T
#undef SFX
#undef IS_F32

#define T double
#define SFX f64
#define IS_F32 0
#include "precision_template.h"
#undef T
#undef SFX
#undef IS_F32

const rbp_kernel_table RBP_CAT(rbp_table_, ISA_SUFFIX) = {
  .isa = RBP_CAT(RBP_ISA_, ISA_ENUM),
  .name = ISA_NAME,
  .width_f32 = VBYTES / 4,
  .width_f64 = VBYTES / 8,
  .mr_f32 = MR,
  .mr_f64 = MR,
  .ukernel_f32 = RBP_CAT(ukernel_f32_, ISA_SUFFIX),
  .ukernel_f64 = RBP_CAT(ukernel_f64_, ISA_SUFFIX),
  .gemv_f32 = RBP_CAT(gemv_f32_, ISA_SUFFIX),
  .gemv_f64 = RBP_CAT(gemv_f64_, ISA_SUFFIX),
  .activate_f32 = RBP_CAT(activate_f32_, ISA_SUFFIX),
  .activate_f64 = RBP_CAT(activate_f64_, ISA_SUFFIX),
  .exp_f32 = RBP_CAT(exp_f32_, ISA_SUFFIX),
  .exp_f64 = RBP_CAT(exp_f64_, ISA_SUFFIX),
  .max_difference_f32 = RBP_CAT(max_difference_f32_, ISA_SUFFIX),
  .max_difference_f64 = RBP_CAT(max_difference_f64_, ISA_SUFFIX),
  .adjoint_step_f32 = RBP_CAT(adjoint_step_f32_, ISA_SUFFIX),
  .adjoint_step_f64 = RBP_CAT(adjoint_step_f64_, ISA_SUFFIX),
  .add_scaled_rows_f32 = RBP_CAT(add_scaled_rows_f32_, ISA_SUFFIX),
  .add_scaled_rows_f64 = RBP_CAT(add_scaled_rows_f64_, ISA_SUFFIX),
  .mean_squared_f32 = RBP_CAT(mean_squared_f32_, ISA_SUFFIX),
  .mean_squared_f64 = RBP_CAT(mean_squared_f64_, ISA_SUFFIX),
  .gram_vector_f32 = RBP_CAT(gram_vector_f32_, ISA_SUFFIX),
  .gram_vector_f64 = RBP_CAT(gram_vector_f64_, ISA_SUFFIX),
  .activate_change_f32 = RBP_CAT(activate_change_f32_, ISA_SUFFIX),
  .activate_change_f64 = RBP_CAT(activate_change_f64_, ISA_SUFFIX),
  .adjoint_change_f32 = RBP_CAT(adjoint_change_f32_, ISA_SUFFIX),
  .adjoint_change_f64 = RBP_CAT(adjoint_change_f64_, ISA_SUFFIX),
  .finish_changes_f32 = RBP_CAT(finish_changes_f32_, ISA_SUFFIX),
  .finish_changes_f64 = RBP_CAT(finish_changes_f64_, ISA_SUFFIX),
  .pack_b_f32 = RBP_CAT(pack_b_f32_, ISA_SUFFIX),
  .pack_b_f64 = RBP_CAT(pack_b_f64_, ISA_SUFFIX),
  .activate_drive_f32 = RBP_CAT(activate_drive_f32_, ISA_SUFFIX),
  .activate_drive_f64 = RBP_CAT(activate_drive_f64_, ISA_SUFFIX),
  .fma_loop_f32 = RBP_CAT(fma_loop_f32_, ISA_SUFFIX),
  .fma_loop_f64 = RBP_CAT(fma_loop_f64_, ISA_SUFFIX),
};
