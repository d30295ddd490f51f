// The instruction-set-specific innermost loops of rbp's kernels, compiled
// once per instruction set into one binary and chosen at run time.
//
// Every function here exists in one variant per instruction set: `generic`
// (128-bit vectors: SSE2 on x86-64, NEON on arm64), `avx2` (AVX2 + FMA) and
// `avx512` (AVX-512 F/DQ/BW/VL). Each variant is compiled with a function
// `target` attribute, so no compiler flag is needed; the CPU is asked once,
// at first use, which variants it can run. `RBP_ISA=generic|avx2|avx512` in
// the environment chooses a variant instead of the best one.
//
// Blocking, packing, threading and everything else stay in Swift; this
// module holds only the register-level code that must differ per
// instruction set. Matrices are row-major, as in the Swift kernels.

#ifndef RBP_KERNELS_H
#define RBP_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction sets a variant is compiled for, best last.
typedef enum {
  RBP_ISA_GENERIC = 0,
  RBP_ISA_AVX2 = 1,
  RBP_ISA_AVX512 = 2,
  RBP_ISA_COUNT = 3
} rbp_isa;

/// One MR×NR tile of C = α·(A·B) + β·C, NR = 2 vectors. See
/// GEMM+MicroKernel.swift for the contract.
typedef void (*rbp_ukernel_f32)(long k, const float *a, long rowStride, long depthStride, long rows,
                                const float *b, long bStride, float *c, long ldc, long cols,
                                float alpha, float beta, long readRows);
typedef void (*rbp_ukernel_f64)(long k, const double *a, long rowStride, long depthStride, long rows,
                                const double *b, long bStride, double *c, long ldc, long cols,
                                double alpha, double beta, long readRows);
/// y = α·op(A)·x + β·y, A m×n row-major; with β = 0, y is not read.
typedef void (*rbp_gemv_f32)(int trans, long m, long n, float alpha, const float *a, long lda,
                             const float *x, float beta, float *y);
typedef void (*rbp_gemv_f64)(int trans, long m, long n, double alpha, const double *a, long lda,
                             const double *x, double beta, double *y);
/// x = f(z) and, when d is not NULL, d = f'(z) for f = tanh (kind 0) or the
/// logistic function (kind 1). x may be z. NaN stays NaN.
typedef void (*rbp_activate_f32)(int kind, const float *z, float *x, float *d, long count);
/// The same in Double.
typedef void (*rbp_activate_f64)(int kind, const double *z, double *x, double *d, long count);
/// y = e^x elementwise (0 below −87.3, +∞ above 88.7, NaN stays NaN).
typedef void (*rbp_exp_f32)(const float *x, float *y, long count);
/// y = e^x elementwise (0 below −708.3, +∞ above 709.7, NaN stays NaN).
typedef void (*rbp_exp_f64)(const double *x, double *y, long count);
/// out[0] = max |u − v| over `count` elements (NaN when a difference is
/// NaN), out[1] = max |u|.
typedef void (*rbp_max_difference_f32)(const float *u, const float *v, long count, float *out);
typedef void (*rbp_max_difference_f64)(const double *u, const double *v, long count, double *out);
/// s = d ⊙ (v + g), or d ⊙ v when g is NULL, over `count` elements; s may
/// be v or g.
typedef void (*rbp_adjoint_step_f32)(const float *d, const float *v, const float *g, float *s, long count);
typedef void (*rbp_adjoint_step_f64)(const double *d, const double *v, const double *g, double *s, long count);
/// out[j] += scale · a[r·n + j] for each row r of the rows×n matrix a, the
/// rows in order (the bits of the scalar loop).
typedef void (*rbp_add_scaled_rows_f32)(const float *a, long rows, long n, float scale, float *out);
typedef void (*rbp_add_scaled_rows_f64)(const double *a, long rows, long n, double scale, double *out);
/// Σ ½ (x − y)² in double over each of `rows` rows of `count` elements (row
/// strides ldx, ldy, ldg), each row in eight running sums combined in a
/// fixed order (the same value on every instruction set), the rows' values
/// added in order; g = x − y when g is not NULL.
typedef double (*rbp_mean_squared_f32)(const float *x, long ldx, const float *y, long ldy, float *g, long ldg,
                                       long rows, long count);
typedef double (*rbp_mean_squared_f64)(const double *x, long ldx, const double *y, long ldy, double *g, long ldg,
                                       long rows, long count);
/// out = Aᵀ·(A·v) for A m×n (row stride lda), one pass over A; returns
/// ‖A v‖² in double. out must not overlap v.
typedef double (*rbp_gram_vector_f32)(long m, long n, const float *a, long lda, const float *v, float *out);
typedef double (*rbp_gram_vector_f64)(long m, long n, const double *a, long lda, const double *v, double *out);
/// Over `rows` rows `ld` apart (z, a, x and fx alike): fx = f(z) as the
/// activate kernel computes it (kind 0 tanh, 1 logistic), or, with an
/// addend a (else NULL), z = z + a in place and fx = f(z); and in the same
/// pass each row's max |fx − x| (NaN when a difference is NaN) and max
/// |fx|, as max_difference(fx, x) gives them. Without accumulators (acc
/// NULL) these go to out[2r], out[2r+1]; with them, row r's running maxima
/// at acc + 3·L·r (L = 64 / sizeof(T), zero before a pass's first call)
/// are updated, for finish_changes to reduce. x is read before fx is
/// written, so fx may be x.
typedef void (*rbp_activate_change_f32)(int kind, float *z, const float *a, const float *x, float *fx, long ld,
                                        long rows, long count, float *acc, float *out);
typedef void (*rbp_activate_change_f64)(int kind, double *z, const double *a, const double *x, double *fx, long ld,
                                        long rows, long count, double *acc, double *out);
/// Over `rows` rows `ld` apart: s = d ⊙ (v + g) as adjoint_step computes it,
/// and each row's max |s − previous| (NaN when a difference is NaN) and
/// max |s|, into out or acc as activate_change puts them. v and previous
/// are read before s is written, so s may be either.
typedef void (*rbp_adjoint_change_f32)(const float *d, const float *v, const float *g, float *s, const float *previous,
                                       long ld, long rows, long count, float *acc, float *out);
typedef void (*rbp_adjoint_change_f64)(const double *d, const double *v, const double *g, double *s,
                                       const double *previous, long ld, long rows, long count, double *acc,
                                       double *out);
/// The running maxima of activate_change or adjoint_change (row r's at
/// acc + 3·L·r) reduced into out[2r], out[2r+1].
typedef void (*rbp_finish_changes_f32)(const float *acc, long rows, float *out);
typedef void (*rbp_finish_changes_f64)(const double *acc, long rows, double *out);
/// A trajectory step's activation with its drive: x = f(z + (b + u)) and
/// d = f'(z + (b + u)) over `rows` rows of `count` (kind 0 tanh, 1
/// logistic), u of row r at u + r·ldu and only for the first nu units.
typedef void (*rbp_activate_drive_f32)(int kind, const float *z, const float *b, const float *u, long ldu, long nu,
                                       float *x, float *d, long rows, long count);
typedef void (*rbp_activate_drive_f64)(int kind, const double *z, const double *b, const double *u, long ldu,
                                       long nu, double *x, double *d, long rows, long count);
/// Packs one k×NR panel of op(B) (NR = twice the vector width), zero past
/// column `cols`: panel[q·NR + j] = op(B)[q, j], with op(B) = B (trans 0)
/// or Bᵀ (trans 1), B row-major with leading dimension ldb.
typedef void (*rbp_pack_b_f32)(const float *b, long ldb, int trans, long k, long cols, float *panel);
typedef void (*rbp_pack_b_f64)(const double *b, long ldb, int trans, long k, long cols, double *panel);
/// Twelve independent vector FMA chains for `iterations` steps: the
/// register-only FMA throughput the benchmarks compare against.
typedef float (*rbp_fma_loop_f32)(long iterations, float seed);
typedef double (*rbp_fma_loop_f64)(long iterations, double seed);

/// One instruction set's kernels and the register tile they are built for.
typedef struct {
  rbp_isa isa;
  const char *name;
  /// Vector width in elements; the micro-kernel tile is MR × (2·width).
  int width_f32, width_f64;
  int mr_f32, mr_f64;
  rbp_ukernel_f32 ukernel_f32;
  rbp_ukernel_f64 ukernel_f64;
  rbp_gemv_f32 gemv_f32;
  rbp_gemv_f64 gemv_f64;
  rbp_activate_f32 activate_f32;
  rbp_activate_f64 activate_f64;
  rbp_exp_f32 exp_f32;
  rbp_exp_f64 exp_f64;
  rbp_max_difference_f32 max_difference_f32;
  rbp_max_difference_f64 max_difference_f64;
  rbp_adjoint_step_f32 adjoint_step_f32;
  rbp_adjoint_step_f64 adjoint_step_f64;
  rbp_add_scaled_rows_f32 add_scaled_rows_f32;
  rbp_add_scaled_rows_f64 add_scaled_rows_f64;
  rbp_mean_squared_f32 mean_squared_f32;
  rbp_mean_squared_f64 mean_squared_f64;
  rbp_gram_vector_f32 gram_vector_f32;
  rbp_gram_vector_f64 gram_vector_f64;
  rbp_activate_change_f32 activate_change_f32;
  rbp_activate_change_f64 activate_change_f64;
  rbp_adjoint_change_f32 adjoint_change_f32;
  rbp_adjoint_change_f64 adjoint_change_f64;
  rbp_finish_changes_f32 finish_changes_f32;
  rbp_finish_changes_f64 finish_changes_f64;
  rbp_pack_b_f32 pack_b_f32;
  rbp_pack_b_f64 pack_b_f64;
  rbp_activate_drive_f32 activate_drive_f32;
  rbp_activate_drive_f64 activate_drive_f64;
  rbp_fma_loop_f32 fma_loop_f32;
  rbp_fma_loop_f64 fma_loop_f64;
} rbp_kernel_table;

/// Asks the cache for `rows` rows of `bytes` bytes each, `stride` bytes
/// apart, ahead of their use: a hint, valid for any address. The engine
/// reads one short row per sequence at each step from sequence-major
/// arrays, a pattern of many strided streams the hardware prefetcher
/// does not follow.
static inline void rbp_prefetch_rows(const void *base, long rows, long stride, long bytes) {
  const char *p = (const char *)base;
  for (long r = 0; r < rows; r++, p += stride)
    for (long b = 0; b < bytes; b += 64) __builtin_prefetch(p + b, 0, 3);
}

/// √x, correctly rounded, without the C library's `errno` (which `sqrtf`
/// sets for x < 0 and which keeps a loop that calls it from vectorising).
static inline float rbp_sqrt_f32(float x) { return __builtin_elementwise_sqrt(x); }
static inline double rbp_sqrt_f64(double x) { return __builtin_elementwise_sqrt(x); }

/// A hint to the CPU, inside a loop that waits for another thread, that it
/// is spinning (x86's `pause`: it yields the core's shared resources to its
/// sibling and saves power); nothing elsewhere.
static inline void rbp_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Whether this CPU (and its operating system) can run `isa`.
int rbp_isa_supported(rbp_isa isa);
/// The kernels for `isa`, or NULL when this CPU cannot run them.
const rbp_kernel_table *rbp_kernels_for(rbp_isa isa);
/// The kernels in use: the best the CPU supports, or `RBP_ISA`'s choice.
const rbp_kernel_table *rbp_kernels_active(void);
/// When `RBP_ISA` names an instruction set this CPU cannot run, or no
/// instruction set at all, the value it had; NULL otherwise. The best
/// supported set is used instead.
const char *rbp_isa_override_rejected(void);

#ifdef __cplusplus
}
#endif

#endif
