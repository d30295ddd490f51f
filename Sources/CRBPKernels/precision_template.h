// The kernels of one precision T for one instruction set; see
// isa_template.h for the parameters. Legend: W = elements per vector,
// MR×(2W) = the micro-kernel's register tile, row-major matrices with
// leading dimensions as in the Swift callers.

#define FN(name) RBP_CAT(RBP_CAT(name, _), RBP_CAT(SFX, RBP_CAT(_, ISA_SUFFIX)))
#define V FN(vec)
#define VU FN(vec_unaligned)
#define W ((long)(VBYTES / sizeof(T)))
#define INLINE static inline __attribute__((always_inline))

typedef T V __attribute__((vector_size(VBYTES)));
typedef T VU __attribute__((vector_size(VBYTES), aligned(sizeof(T)), may_alias));

INLINE V FN(load)(const T *p) { return *(const VU *)p; }
INLINE void FN(store)(T *p, V v) { *(VU *)p = v; }
INLINE V FN(splat)(T x) {
  V v = {x};
#pragma clang loop unroll(full)
  for (long i = 1; i < W; i++) v[i] = x;
  return v;
}
INLINE T FN(hsum)(V v) {
  T s = 0;
#pragma clang loop unroll(full)
  for (long i = 0; i < W; i++) s += v[i];
  return s;
}

// MARK: - GEMM micro-kernel

/// The k-loop over one tile of `rows` rows (a constant where it is
/// inlined: MR, or fewer for the last sliver of a short A): row r of A is
/// read at pa[off[r]], B's two vectors (one when !wide) at pb;
/// accumulators stay in registers.
INLINE void FN(tile_loop)(long k, const T *pa, long csA, const long *off, const T *pb, long ldb,
                          int wide, V *acc0, V *acc1, const int rows) {
  if (wide) {
    for (long p = 0; p < k; p++) {
      V b0 = FN(load)(pb), b1 = FN(load)(pb + W);
#pragma clang loop unroll(full)
      for (int r = 0; r < rows; r++) {
        V x = FN(splat)(pa[off[r]]);
        acc0[r] = VFMA(x, b0, acc0[r]);
        acc1[r] = VFMA(x, b1, acc1[r]);
      }
      pa += csA;
      pb += ldb;
    }
  } else {
    for (long p = 0; p < k; p++) {
      V b0 = FN(load)(pb);
#pragma clang loop unroll(full)
      for (int r = 0; r < rows; r++) acc0[r] = VFMA(FN(splat)(pa[off[r]]), b0, acc0[r]);
      pa += csA;
      pb += ldb;
    }
  }
}

/// c[0..<2W] = α·(v0, v1) + β·c (c not read when β = 0).
INLINE void FN(store_tile_row)(V v0, V v1, T *c, T alpha, T beta) {
  V r0 = v0 * alpha, r1 = v1 * alpha;
  if (beta != 0) {
    V b = FN(splat)(beta);
    r0 = VFMA(b, FN(load)(c), r0);
    r1 = VFMA(b, FN(load)(c + W), r1);
  }
  FN(store)(c, r0);
  FN(store)(c + W, r1);
}

/// The first `cols` elements of α·(v0, v1) + β·c: whole vectors where they
/// fit, single elements for the rest.
INLINE void FN(store_partial_row)(V v0, V v1, T *c, long cols, T alpha, T beta) {
  if (cols == 2 * W) {
    FN(store_tile_row)(v0, v1, c, alpha, beta);
    return;
  }
  V tail = v0;
  long start = 0;
  if (cols >= W) {
    V r = v0 * alpha;
    if (beta != 0) r = VFMA(FN(splat)(beta), FN(load)(c), r);
    FN(store)(c, r);
    tail = v1;
    start = W;
  }
  for (long j = start; j < cols; j++) {
    T t = alpha * tail[j - start];
    c[j] = beta == 0 ? t : t + beta * c[j];
  }
}

void FN(ukernel)(long k, const T *a, long rsA, long csA, long mr, const T *b, long ldb, T *c,
                 long ldc, long nr, T alpha, T beta, long readRows) {
  V acc0[MR], acc1[MR];
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = FN(splat)(0);
  int wide = nr > W;
  if (readRows == MR && rsA == 1) {
    // Packed panels (and a transposed A): the row offsets are constants.
    long off[MR];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) off[r] = r;
    if (wide) FN(tile_loop)(k, a, csA, off, b, ldb, 1, acc0, acc1, MR);
    else FN(tile_loop)(k, a, csA, off, b, ldb, 0, acc0, acc1, MR);
  } else {
    // Rows in place, or an edge: rows past readRows repeat the last one.
    // An edge of at most MR/3 rows (the last sliver of 32 rows in 6s)
    // runs a loop of that many rows, not MR.
    long last = readRows - 1, off[MR];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) off[r] = (r < last ? r : last) * rsA;
    if (readRows <= MR / 3) {
      if (wide) FN(tile_loop)(k, a, csA, off, b, ldb, 1, acc0, acc1, MR / 3);
      else FN(tile_loop)(k, a, csA, off, b, ldb, 0, acc0, acc1, MR / 3);
    } else if (readRows <= 2 * MR / 3) {
      if (wide) FN(tile_loop)(k, a, csA, off, b, ldb, 1, acc0, acc1, 2 * MR / 3);
      else FN(tile_loop)(k, a, csA, off, b, ldb, 0, acc0, acc1, 2 * MR / 3);
    } else {
      if (wide) FN(tile_loop)(k, a, csA, off, b, ldb, 1, acc0, acc1, MR);
      else FN(tile_loop)(k, a, csA, off, b, ldb, 0, acc0, acc1, MR);
    }
  }
  if (mr == MR && nr == 2 * W) {
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) FN(store_tile_row)(acc0[r], acc1[r], c + r * ldc, alpha, beta);
    return;
  }
  // Edge tile: only the valid rows, and in each only the valid columns.
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++) {
    if (r < mr) FN(store_partial_row)(acc0[r], acc1[r], c + r * ldc, nr, alpha, beta);
  }
}

// MARK: - GEMV

/// y[i] = α·⟨A[i, :], x⟩ + β·y[i], four rows per pass.
INLINE void FN(gemv_rows)(long m, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {
  long vend = n / W * W, i = 0;
  for (; i + 4 <= m; i += 4) {
    const T *r0 = a + i * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda;
    V s0 = FN(splat)(0), s1 = s0, s2 = s0, s3 = s0;
    long j = 0;
    for (; j < vend; j += W) {
      V xv = FN(load)(x + j);
      s0 = VFMA(FN(load)(r0 + j), xv, s0);
      s1 = VFMA(FN(load)(r1 + j), xv, s1);
      s2 = VFMA(FN(load)(r2 + j), xv, s2);
      s3 = VFMA(FN(load)(r3 + j), xv, s3);
    }
    T t[4] = {FN(hsum)(s0), FN(hsum)(s1), FN(hsum)(s2), FN(hsum)(s3)};
    for (; j < n; j++) {
      t[0] += r0[j] * x[j];
      t[1] += r1[j] * x[j];
      t[2] += r2[j] * x[j];
      t[3] += r3[j] * x[j];
    }
    for (int q = 0; q < 4; q++) y[i + q] = beta == 0 ? alpha * t[q] : alpha * t[q] + beta * y[i + q];
  }
  for (; i < m; i++) {
    const T *r = a + i * lda;
    V s = FN(splat)(0);
    long j = 0;
    for (; j < vend; j += W) s = VFMA(FN(load)(r + j), FN(load)(x + j), s);
    T t = FN(hsum)(s);
    for (; j < n; j++) t += r[j] * x[j];
    y[i] = beta == 0 ? alpha * t : alpha * t + beta * y[i];
  }
}

/// y = β·y, then y += (α·x[i])·A[i, :], four rows per pass.
INLINE void FN(gemv_columns)(long m, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {
  if (beta == 0) {
    for (long j = 0; j < n; j++) y[j] = 0;
  } else if (beta != 1) {
    for (long j = 0; j < n; j++) y[j] *= beta;
  }
  long vend = n / W * W;
  for (long i = 0; i < m; i += 4) {
    long rows = m - i < 4 ? m - i : 4;
    // Missing rows of the last group read row i with weight 0.
    T w[4];
    const T *r[4];
    for (int q = 0; q < 4; q++) {
      w[q] = q < rows ? alpha * x[i + q] : 0;
      r[q] = a + (i + (q < rows ? q : rows - 1)) * lda;
    }
    V w0 = FN(splat)(w[0]), w1 = FN(splat)(w[1]), w2 = FN(splat)(w[2]), w3 = FN(splat)(w[3]);
    long j = 0;
    for (; j < vend; j += W) {
      V acc = FN(load)(y + j);
      acc = VFMA(w0, FN(load)(r[0] + j), acc);
      acc = VFMA(w1, FN(load)(r[1] + j), acc);
      acc = VFMA(w2, FN(load)(r[2] + j), acc);
      acc = VFMA(w3, FN(load)(r[3] + j), acc);
      FN(store)(y + j, acc);
    }
    for (; j < n; j++) {
      T acc = y[j];
      for (long q = 0; q < rows; q++) acc += alpha * x[i + q] * a[(i + q) * lda + j];
      y[j] = acc;
    }
  }
}

void FN(gemv)(int trans, long m, long n, T alpha, const T *a, long lda, const T *x, T beta, T *y) {
  if (trans) FN(gemv_columns)(m, n, alpha, a, lda, x, beta, y);
  else FN(gemv_rows)(m, n, alpha, a, lda, x, beta, y);
}

/// out = Aᵀ·(A·v) for A m×n (row stride lda) in one pass over A: each
/// group of four rows gives its four products with v, then adds those
/// multiples of the same rows (still in L1) into out. Returns Σ_i (A v)_i²
/// in double. out must not overlap v.
double FN(gram_vector)(long m, long n, const T *a, long lda, const T *v, T *out) {
  enum { G = 8 };   // rows per group: eight independent dot-product chains
  for (long j = 0; j < n; j++) out[j] = 0;
  long vend = n / W * W;
  double squares = 0;
  for (long i = 0; i < m; i += G) {
    long rows = m - i < G ? m - i : G;
    const T *r[G];
    for (int q = 0; q < G; q++) r[q] = a + (i + (q < rows ? q : rows - 1)) * lda;
    V s[G];
#pragma clang loop unroll(full)
    for (int q = 0; q < G; q++) s[q] = FN(splat)(0);
    long j = 0;
    for (; j < vend; j += W) {
      V xv = FN(load)(v + j);
#pragma clang loop unroll(full)
      for (int q = 0; q < G; q++) s[q] = VFMA(FN(load)(r[q] + j), xv, s[q]);
    }
    T t[G];
#pragma clang loop unroll(full)
    for (int q = 0; q < G; q++) t[q] = FN(hsum)(s[q]);
    for (; j < n; j++)
      for (int q = 0; q < G; q++) t[q] += r[q][j] * v[j];
    for (int q = rows; q < G; q++) t[q] = 0;   // missing rows: a real row again, weight 0
    for (int q = 0; q < rows; q++) squares += (double)t[q] * (double)t[q];
    V w[G];
#pragma clang loop unroll(full)
    for (int q = 0; q < G; q++) w[q] = FN(splat)(t[q]);
    for (j = 0; j < vend; j += W) {
      // Two chains of four products each, then one sum into out.
      V lo = w[0] * FN(load)(r[0] + j), hi = w[4] * FN(load)(r[4] + j);
#pragma clang loop unroll(full)
      for (int q = 1; q < 4; q++) {
        lo = VFMA(w[q], FN(load)(r[q] + j), lo);
        hi = VFMA(w[q + 4], FN(load)(r[q + 4] + j), hi);
      }
      FN(store)(out + j, FN(load)(out + j) + (lo + hi));
    }
    for (; j < n; j++) {
      T acc = out[j];
      for (int q = 0; q < rows; q++) acc += t[q] * r[q][j];
      out[j] = acc;
    }
  }
  return squares;
}

// MARK: - FMA peak

T FN(fma_loop)(long iterations, T seed) {
  V acc[12];
#pragma clang loop unroll(full)
  for (int q = 0; q < 12; q++) acc[q] = FN(splat)(seed * (q + 1));  // distinct chains
  V x = FN(splat)(1 - seed), y = FN(splat)(seed);
  for (long i = 0; i < iterations; i++) {
#pragma clang loop unroll(full)
    for (int q = 0; q < 12; q++) acc[q] = VFMA(x, y, acc[q]);
  }
  V s = acc[0];
#pragma clang loop unroll(full)
  for (int q = 1; q < 12; q++) s += acc[q];
  return FN(hsum)(s);
}

// MARK: - Vector math

/// Integer lanes as wide as T's: comparison results and bit patterns.
#define VI FN(ivec)
#if IS_F32
typedef int VI __attribute__((vector_size(VBYTES)));
#else
typedef long long VI __attribute__((vector_size(VBYTES)));
#endif

/// Lanes of `fallback` where `mask` is set, of `v` elsewhere.
INLINE V FN(select)(VI mask, V fallback, V v) {
  return (V)(((VI)v & ~mask) | ((VI)fallback & mask));
}
INLINE V FN(clamp)(V v, T lo, T hi) {
  return __builtin_elementwise_max(__builtin_elementwise_min(v, FN(splat)(hi)), FN(splat)(lo));
}

#if IS_F32

/// tanh by the rational approximation x·P(x²)/Q(x²) of degree 13/6 on
/// [−9, 9] (the form and coefficients used by Eigen), ±1 beyond; within
/// 5 ulp of the exact tanh.
INLINE V FN(vtanh)(V v) {
  V c = FN(clamp)(v, -9, 9), x2 = c * c;
  V p = FN(splat)(-2.76076847742355e-16f);
  p = VFMA(p, x2, FN(splat)(2.00018790482477e-13f));
  p = VFMA(p, x2, FN(splat)(-8.60467152213735e-11f));
  p = VFMA(p, x2, FN(splat)(5.12229709037114e-08f));
  p = VFMA(p, x2, FN(splat)(1.48572235717979e-05f));
  p = VFMA(p, x2, FN(splat)(6.37261928875436e-04f));
  p = VFMA(p, x2, FN(splat)(4.89352455891786e-03f));
  p = p * c;
  V q = FN(splat)(1.19825839466702e-06f);
  q = VFMA(q, x2, FN(splat)(1.18534705686654e-04f));
  q = VFMA(q, x2, FN(splat)(2.26843463243900e-03f));
  q = VFMA(q, x2, FN(splat)(4.89352518554385e-03f));
  return FN(select)(v != v, v, p / q);
}

/// e^x = 2^k · p(r), x = k·ln2 + r, |r| ≤ ln2/2, p of degree 7; within
/// 2 ulp. 0 below −87.3, +∞ above 88.7.
INLINE V FN(vexp)(V v) {
  V c = FN(clamp)(v, -87.3f, 88.7f);
  // Round to nearest even by the 1.5·2²³ shift (|c·log2 e| < 2²²).
  V k = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  V r = VFMA(k, FN(splat)(-0.693359375f), c);      // ln 2, high part (exact)
  r = VFMA(k, FN(splat)(2.12194440e-4f), r);        // ln 2, low part
  V p = FN(splat)(1.0f / 5040);
  p = VFMA(p, r, FN(splat)(1.0f / 720));
  p = VFMA(p, r, FN(splat)(1.0f / 120));
  p = VFMA(p, r, FN(splat)(1.0f / 24));
  p = VFMA(p, r, FN(splat)(1.0f / 6));
  p = VFMA(p, r, FN(splat)(0.5f));
  p = VFMA(p, r, FN(splat)(1));
  p = VFMA(p, r, FN(splat)(1));
  // 2^k from the exponent bits, in two halves so neither overflows.
  VI ki = __builtin_convertvector(k, VI);
  VI ha = ki >> 1, hb = ki - ha;
  V result = p * (V)((ha + 127) << 23) * (V)((hb + 127) << 23);
  result = FN(select)(v < -87.3f, FN(splat)(0), result);
  result = FN(select)(v > 88.7f, FN(splat)(__builtin_inff()), result);
  return FN(select)(v != v, v, result);
}

#else

/// e^x = 2^k · p(r), x = k·ln2 + r, |r| ≤ ln2/2 (ln 2 in two parts, the
/// first exact in k·ln2), p the Taylor polynomial of degree 13 in two Horner
/// chains; within 2 ulp. 0 below −708.3 (the smallest normal), +∞ above 709.7.
INLINE V FN(vexp)(V v) {
  V c = FN(clamp)(v, -708.3, 709.7);
  // Adding 1.5·2⁵² rounds to an integer and leaves it in the low bits.
  const T shift = 6755399441055744.0;
  V shifted = c * 1.4426950408889634 + shift;
  V k = shifted - shift;
  V r = VFMA(k, FN(splat)(-6.93145751953125e-1), c);
  r = VFMA(k, FN(splat)(-1.42860682030941723212e-6), r);
  // Two Horner chains of six multiply-adds side by side, the terms of
  // degree 0–6 and those of 7–13, joined by r⁷: a chain of eight instead
  // of thirteen, with the large terms still summed by Horner.
  V hi = FN(splat)(1.0 / 6227020800);
  hi = VFMA(hi, r, FN(splat)(1.0 / 479001600));
  hi = VFMA(hi, r, FN(splat)(1.0 / 39916800));
  hi = VFMA(hi, r, FN(splat)(1.0 / 3628800));
  hi = VFMA(hi, r, FN(splat)(1.0 / 362880));
  hi = VFMA(hi, r, FN(splat)(1.0 / 40320));
  hi = VFMA(hi, r, FN(splat)(1.0 / 5040));
  V lo = FN(splat)(1.0 / 720);
  lo = VFMA(lo, r, FN(splat)(1.0 / 120));
  lo = VFMA(lo, r, FN(splat)(1.0 / 24));
  lo = VFMA(lo, r, FN(splat)(1.0 / 6));
  lo = VFMA(lo, r, FN(splat)(0.5));
  lo = VFMA(lo, r, FN(splat)(1));
  lo = VFMA(lo, r, FN(splat)(1));
  V r2 = r * r, r3 = r2 * r, r7 = r3 * r3 * r;
  V p = VFMA(hi, r7, lo);
  // 2^k from the exponent bits, in two halves so neither overflows.
  VI ki = (VI)shifted - (VI)FN(splat)(shift);
  VI ha = ki >> 1, hb = ki - ha;
  V result = p * (V)((ha + 1023) << 52) * (V)((hb + 1023) << 52);
  result = FN(select)(v < -708.3, FN(splat)(0), result);
  result = FN(select)(v > 709.7, FN(splat)(__builtin_inf()), result);
  return FN(select)(v != v, v, result);
}

/// tanh as the Cephes library computes it: x + x·x²·P(x²)/Q(x²) for
/// |x| < 0.625, 1 − 2/(e^{2|x|} + 1) with the sign of x beyond (|x|
/// clamped at 20, where tanh is 1 in Double); within 3 ulp.
INLINE V FN(vtanh)(V v) {
  VI sign = (VI)FN(splat)(-0.0);
  V a = (V)((VI)v & ~sign), z = v * v;
  V p = FN(splat)(-9.64399179425052238628e-1);
  p = VFMA(p, z, FN(splat)(-9.92877231001918586564e1));
  p = VFMA(p, z, FN(splat)(-1.61468768441708447952e3));
  V q = z + 1.12811678491632931402e2;
  q = VFMA(q, z, FN(splat)(2.23548839060100448583e3));
  q = VFMA(q, z, FN(splat)(4.84406305325125486048e3));
  V e = FN(vexp)(2 * FN(clamp)(a, 0, 20));
  // One division for both branches: z·P/Q where |x| < 0.625, 2/(e + 1)
  // beyond, each lane with the operands of its own branch.
  VI isSmall = a < 0.625;
  V r = FN(select)(isSmall, z * p, FN(splat)(2)) / FN(select)(isSmall, q, e + 1);
  V y = FN(select)(isSmall, VFMA(v, r, v), 1 - r);
  y = (V)(((VI)y & ~sign) | ((VI)v & sign));   // the sign of x, −0 included
  return FN(select)(v != v, v, y);
}

#endif

/// Applies `body` to whole vectors, then to the tail through a padded
/// vector, so every element goes through the same arithmetic.
#define RBP_VECTOR_MAP(count, body)                                   \
  do {                                                                \
    long i_ = 0;                                                      \
    for (; i_ + W <= (count); i_ += W) body(i_, W);                   \
    if (i_ < (count)) body(i_, (count) - i_);                         \
  } while (0)

INLINE V FN(load_part)(const T *p, long n) {
  if (n == W) return FN(load)(p);
  V v = FN(splat)(0);
  for (long j = 0; j < n; j++) v[j] = p[j];
  return v;
}
INLINE void FN(store_part)(T *p, V v, long n) {
  if (n == W) { FN(store)(p, v); return; }
  for (long j = 0; j < n; j++) p[j] = v[j];
}

/// f(v) (kind 0 tanh, 1 logistic).
INLINE V FN(value)(int kind, V v) { return kind == 0 ? FN(vtanh)(v) : 1 / (1 + FN(vexp)(-v)); }

/// y = f(v) and s = f'(v) from y.
INLINE void FN(value_slope)(int kind, V v, V *y, V *s) {
  *y = FN(value)(kind, v);
  *s = kind == 0 ? 1 - *y * *y : *y * (1 - *y);
}

void FN(activate)(int kind, const T *z, T *x, T *d, long count) {
#define ACTIVATE_BLOCK(i, n)                                          \
  {                                                                   \
    V y, s;                                                           \
    FN(value_slope)(kind, FN(load_part)(z + (i), (n)), &y, &s);       \
    FN(store_part)(x + (i), y, (n));                                  \
    if (d) FN(store_part)(d + (i), s, (n));                           \
  }
  RBP_VECTOR_MAP(count, ACTIVATE_BLOCK);
#undef ACTIVATE_BLOCK
}

/// A trajectory's step with inputs fed straight to the units, after its
/// product: for each of `rows` rows (z, x and d rows `count` apart),
/// x = f(z + t) and d = f'(z + t) with the drive t = b + u, where u is
/// the row's input (at u + r·ldu, the first `nu` units; t = b beyond
/// them). z + t rounds as the product's β = 1 update of a C holding b + u
/// does, so the bits are those of `activate` on that C.
void FN(activate_drive)(int kind, const T *z, const T *b, const T *u, long ldu, long nu, T *x, T *d, long rows,
                        long count) {
  for (long r = 0; r < rows; r++) {
    const T *zr = z + r * count, *ur = u + r * ldu;
    T *xr = x + r * count, *dr = d + r * count;
#define DRIVE_BLOCK(i, n)                                             \
  {                                                                   \
    V t = FN(load_part)(b + (i), (n));                                \
    if ((i) + (n) <= nu) {                                            \
      t = t + FN(load_part)(ur + (i), (n));                           \
    } else if ((i) < nu) {                                            \
      V withInput = t + FN(load_part)(ur + (i), nu - (i));            \
      for (long j_ = 0; j_ < nu - (i); j_++) t[j_] = withInput[j_];   \
    }                                                                 \
    V y, s;                                                           \
    FN(value_slope)(kind, FN(load_part)(zr + (i), (n)) + t, &y, &s);  \
    FN(store_part)(xr + (i), y, (n));                                 \
    FN(store_part)(dr + (i), s, (n));                                 \
  }
    RBP_VECTOR_MAP(count, DRIVE_BLOCK);
#undef DRIVE_BLOCK
  }
}

/// The running maxima of a pass's change: |d| into `worst` (NaN kept
/// aside in `nan`, which max would drop), |y| into `scale`.
INLINE void FN(track_change)(V d, V y, V *worst, V *scale, V *nan) {
  d = FN(select)(d < 0, -d, d);
  y = FN(select)(y < 0, -y, y);
  *nan = FN(select)(d != d, d, *nan);
  *worst = FN(select)(d > *worst, d, *worst);
  *scale = FN(select)(y > *scale, y, *scale);
}

/// The largest lane of `v`, whose lanes are ≥ 0 or −0 (absolute values,
/// no NaN): for those, the order of the bit patterns as signed integers is
/// the order of the numbers, and an integer maximum reduces in a tree of
/// vector steps (a floating one reduces lane after lane). + 0 makes a −0
/// maximum +0.
INLINE T FN(largest_magnitude)(V v) {
  __typeof__(((VI){0})[0]) bits = __builtin_reduce_max((VI)v);
  T value;
  __builtin_memcpy(&value, &bits, sizeof value);
  return value + (T)0;
}

/// out[0] = the largest lane of `worst`, NaN when a lane of `nan` is NaN;
/// out[1] = the largest lane of `scale`.
INLINE void FN(finish_change)(V worst, V scale, V nan, T *out) {
  int isNaN = __builtin_reduce_or((VI)(nan != nan)) != 0;
  out[0] = isNaN ? (T)__builtin_nan("") : FN(largest_magnitude)(worst);
  out[1] = FN(largest_magnitude)(scale);
}

/// out[0] = max |u − v| (NaN when any difference is NaN), out[1] = max |u|,
/// over `count` elements: the change and the scale a solver's pass tests.
void FN(max_difference)(const T *u, const T *v, long count, T *out) {
  V worst = FN(splat)(0), scale = FN(splat)(0), nan = FN(splat)(0);
#define MAXDIFF_BLOCK(i, n)                                           \
  {                                                                   \
    V a = FN(load_part)(u + (i), (n));                                \
    FN(track_change)(a - FN(load_part)(v + (i), (n)), a, &worst, &scale, &nan); \
  }
  RBP_VECTOR_MAP(count, MAXDIFF_BLOCK);
#undef MAXDIFF_BLOCK
  FN(finish_change)(worst, scale, nan, out);
}

/// s = d ⊙ (v + g), or d ⊙ v when g is NULL; s may be v or g.
void FN(adjoint_step)(const T *d, const T *v, const T *g, T *s, long count) {
  if (g) {
#define ADJOINT_BLOCK(i, n)                                           \
  FN(store_part)(s + (i), FN(load_part)(d + (i), (n)) *               \
                 (FN(load_part)(v + (i), (n)) + FN(load_part)(g + (i), (n))), (n));
    RBP_VECTOR_MAP(count, ADJOINT_BLOCK);
#undef ADJOINT_BLOCK
  } else {
#define ADJOINT_BLOCK(i, n)                                           \
  FN(store_part)(s + (i), FN(load_part)(d + (i), (n)) * FN(load_part)(v + (i), (n)), (n));
    RBP_VECTOR_MAP(count, ADJOINT_BLOCK);
#undef ADJOINT_BLOCK
  }
}

/// out[j] += scale · a[r·n + j] for r = 0, 1, …, rows − 1 in that order,
/// for j < n: one product and one sum per element, as a scalar loop does,
/// with eight vectors of `out` held in registers across the rows.
void FN(add_scaled_rows)(const T *a, long rows, long n, T scale, T *out) {
  enum { CHUNK = 8 };
  V sc = FN(splat)(scale);
  for (long j0 = 0; j0 < n; j0 += CHUNK * W) {
    long cols = n - j0 < CHUNK * W ? n - j0 : CHUNK * W;
    V acc[CHUNK];
#pragma clang loop unroll(full)
    for (int c = 0; c < CHUNK; c++) {
      long len = cols - c * W;
      acc[c] = len > 0 ? FN(load_part)(out + j0 + c * W, len < W ? len : W) : FN(splat)(0);
    }
    if (cols == CHUNK * W) {
      for (long r = 0; r < rows; r++) {
        const T *row = a + r * n + j0;
#pragma clang loop unroll(full)
        for (int c = 0; c < CHUNK; c++) acc[c] = acc[c] + sc * FN(load)(row + c * W);
      }
    } else {
      for (long r = 0; r < rows; r++) {
        const T *row = a + r * n + j0;
        for (int c = 0; c < CHUNK; c++) {
          long len = cols - c * W;
          if (len <= 0) break;
          acc[c] = acc[c] + sc * FN(load_part)(row + c * W, len < W ? len : W);
        }
      }
    }
#pragma clang loop unroll(full)
    for (int c = 0; c < CHUNK; c++) {
      long len = cols - c * W;
      if (len > 0) FN(store_part)(out + j0 + c * W, acc[c], len < W ? len : W);
    }
  }
}

/// Σ_k ½ (x_k − y_k)² in double over `count` elements, and g_k = x_k − y_k
/// (in T) when g is not NULL. Element k goes to running sum k mod 8 (a
/// vector of eight doubles, which the compiler splits across registers as
/// wide as it has); the sums are added in a fixed order at the end, so the
/// value is the same on every instruction set. A row of fewer than eight
/// (a network's few outputs, the common case) has one element per running
/// sum: those sums are the squares themselves, kept in scalars, and the
/// others zeros, so the same additions give the same bits; written apart
/// because the general loop's `sums[k % 8]` on a vector made a row of two
/// outputs cost six times as much without AVX-512.
INLINE double FN(mean_squared_row)(const T *x, const T *y, T *g, long count) {
  if (count < 8) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (long k = 0; k < count; k++) {
      if (g) g[k] = x[k] - y[k];
      double d = (double)x[k] - (double)y[k];
      s[k] = 0.5 * d * d;
    }
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
  }
  typedef double D8 __attribute__((vector_size(64)));
  typedef T T8 __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T)), may_alias));
  D8 sums = {0, 0, 0, 0, 0, 0, 0, 0};
  long k = 0;
  for (; k + 8 <= count; k += 8) {
    T8 xv = *(const T8 *)(x + k), yv = *(const T8 *)(y + k);
    if (g) *(T8 *)(g + k) = xv - yv;
    D8 d = __builtin_convertvector(xv, D8) - __builtin_convertvector(yv, D8);
    sums = sums + 0.5 * d * d;
  }
  for (; k < count; k++) {
    if (g) g[k] = x[k] - y[k];
    double d = (double)x[k] - (double)y[k];
    sums[k % 8] = sums[k % 8] + 0.5 * d * d;
  }
  return ((sums[0] + sums[4]) + (sums[2] + sums[6])) + ((sums[1] + sums[5]) + (sums[3] + sums[7]));
}

/// `mean_squared_row` over `rows` rows (strides ldx, ldy, ldg; g may be
/// NULL), the rows' values added in order into a double that starts at 0.
double FN(mean_squared)(const T *x, long ldx, const T *y, long ldy, T *g, long ldg, long rows, long count) {
  double total = 0;
  for (long r = 0; r < rows; r++)
    total += FN(mean_squared_row)(x + r * ldx, y + r * ldy, g ? g + r * ldg : 0, count);
  return total;
}

/// A row's running maxima across calls, for a pass that visits the row's
/// units in several blocks: the `worst`, `scale` and `nan` vectors of
/// `track_change` at acc, acc + CHANGE_LANES and acc + 2·CHANGE_LANES
/// (CHANGE_LANES: the lanes of the widest vector, so the layout is the same
/// for every instruction set; a narrower one uses the first W lanes).
#define CHANGE_LANES (64 / (long)sizeof(T))

/// The maxima a row starts from: its accumulators, or zero without them.
INLINE void FN(begin_change)(const T *acc, V *worst, V *scale, V *nan) {
  if (acc) {
    *worst = FN(load)(acc), *scale = FN(load)(acc + CHANGE_LANES), *nan = FN(load)(acc + 2 * CHANGE_LANES);
  } else {
    *worst = *scale = *nan = FN(splat)(0);
  }
}

/// The maxima a row ends with: back into its accumulators, or reduced into
/// out[0], out[1] without them.
INLINE void FN(end_change)(T *acc, T *out, V worst, V scale, V nan) {
  if (acc) {
    FN(store)(acc, worst), FN(store)(acc + CHANGE_LANES, scale), FN(store)(acc + 2 * CHANGE_LANES, nan);
  } else {
    FN(finish_change)(worst, scale, nan, out);
  }
}

/// Row r's accumulators (at acc + 3·CHANGE_LANES·r) reduced into out[2r],
/// out[2r+1], as one call over all of the row's units would give them.
void FN(finish_changes)(const T *acc, long rows, T *out) {
  for (long r = 0; r < rows; r++) {
    const T *a = acc + 3 * CHANGE_LANES * r;
    FN(finish_change)(FN(load)(a), FN(load)(a + CHANGE_LANES), FN(load)(a + 2 * CHANGE_LANES), out + 2 * r);
  }
}

/// s = d ⊙ (v + g) as `adjoint_step` computes it, and in the same pass
/// the maxima of |s − previous| (NaN when a difference is NaN) and of |s|
/// (see `end_change`): one pass of the adjoint relaxation on a row and
/// its change. v and previous are read before s is written, so s may be
/// either.
INLINE void FN(adjoint_change_row)(const T *d, const T *v, const T *g, T *s, const T *previous, long count, T *acc,
                                   T *out) {
  V worst, scale, nan;
  FN(begin_change)(acc, &worst, &scale, &nan);
#define CHANGE_BLOCK(i, n)                                            \
  {                                                                   \
    V before = FN(load_part)(previous + (i), (n));                    \
    V y = FN(load_part)(d + (i), (n)) *                               \
          (FN(load_part)(v + (i), (n)) + FN(load_part)(g + (i), (n)));\
    FN(store_part)(s + (i), y, (n));                                  \
    FN(track_change)(y - before, y, &worst, &scale, &nan);            \
  }
  RBP_VECTOR_MAP(count, CHANGE_BLOCK);
#undef CHANGE_BLOCK
  FN(end_change)(acc, out, worst, scale, nan);
}

/// `adjoint_change_row` over `rows` rows `ld` apart: row r's maxima into
/// its accumulators (acc + 3·CHANGE_LANES·r) when acc is not NULL, else
/// into out[2r], out[2r+1].
void FN(adjoint_change)(const T *d, const T *v, const T *g, T *s, const T *previous, long ld, long rows, long count,
                        T *acc, T *out) {
  for (long r = 0; r < rows; r++) {
    long o = r * ld;
    FN(adjoint_change_row)(d + o, v + o, g + o, s + o, previous + o, count, acc ? acc + 3 * CHANGE_LANES * r : 0,
                           out + 2 * r);
  }
}

/// fx = f(z) as `activate` computes it (kind 0 tanh, 1 logistic), and in
/// the same pass the maxima of |fx − x| (NaN when a difference is NaN)
/// and of |fx|, as `max_difference(fx, x)` gives them (see `end_change`):
/// one pass of a fixed-point iteration on a row and its change. With an
/// addend a, z + a replaces z first (in z) and fx = f(z + a): the bits of
/// a product's β = 1 update of a C holding a. x is read before fx is
/// written, so fx may be x.
INLINE void FN(activate_change_row)(int kind, T *z, const T *a, const T *x, T *fx, long count, T *acc, T *out) {
  V worst, scale, nan;
  FN(begin_change)(acc, &worst, &scale, &nan);
#define CHANGE_BLOCK(i, n)                                            \
  {                                                                   \
    V v = FN(load_part)(z + (i), (n));                                \
    if (a) {                                                          \
      v = v + FN(load_part)(a + (i), (n));                            \
      FN(store_part)(z + (i), v, (n));                                \
    }                                                                 \
    V before = FN(load_part)(x + (i), (n));                           \
    V y = FN(value)(kind, v);                                         \
    FN(store_part)(fx + (i), y, (n));                                 \
    V d = y - before;                                                 \
    for (long j_ = (n); j_ < W; j_++) d[j_] = y[j_] = 0; /* f(0) of the padding */ \
    FN(track_change)(d, y, &worst, &scale, &nan);                     \
  }
  RBP_VECTOR_MAP(count, CHANGE_BLOCK);
#undef CHANGE_BLOCK
  FN(end_change)(acc, out, worst, scale, nan);
}

/// `activate_change_row` over `rows` rows `ld` apart (z, a, x and fx
/// alike; a may be NULL): row r's maxima into its accumulators (acc +
/// 3·CHANGE_LANES·r) when acc is not NULL, else into out[2r], out[2r+1].
void FN(activate_change)(int kind, T *z, const T *a, const T *x, T *fx, long ld, long rows, long count, T *acc,
                         T *out) {
  for (long r = 0; r < rows; r++) {
    long o = r * ld;
    FN(activate_change_row)(kind, z + o, a ? a + o : 0, x + o, fx + o, count, acc ? acc + 3 * CHANGE_LANES * r : 0,
                            out + 2 * r);
  }
}

// MARK: - Packing B

// Lanes per vector as a preprocessor number (W is a C expression), for the
// shuffle masks below.
#if IS_F32
#define WL (VBYTES / 4)
#else
#define WL (VBYTES / 8)
#endif

/// The interleave of the low (ILO) and high (IHI) halves of two vectors,
/// lane by lane: ILO(a, b) = a0 b0 a1 b1 …
#if WL == 2
#define ILO(a, b) __builtin_shufflevector(a, b, 0, 2)
#define IHI(a, b) __builtin_shufflevector(a, b, 1, 3)
#elif WL == 4
#define ILO(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define IHI(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#elif WL == 8
#define ILO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define IHI(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#elif WL == 16
#define ILO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define IHI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#else
#error "pack_b: unsupported vector width"
#endif

/// Transposes the W×W block in r[0..<W] (row i in r[i]): log2(W) rounds in
/// which rows i and i + W/2 become the interleaves 2i and 2i + 1 of the
/// next round.
INLINE void FN(transpose)(V *r) {
#pragma clang loop unroll(full)
  for (long half = 1; half < W; half *= 2) {
    V t[W];
#pragma clang loop unroll(full)
    for (long i = 0; i < W / 2; i++) {
      t[2 * i] = ILO(r[i], r[i + W / 2]);
      t[2 * i + 1] = IHI(r[i], r[i + W / 2]);
    }
#pragma clang loop unroll(full)
    for (long i = 0; i < W; i++) r[i] = t[i];
  }
}

/// Packs one k×NR panel of op(B), NR = 2W, zero past column `cols`:
/// panel[q·NR + j] = op(B)[q, j], where op(B) is B (trans 0, row q at
/// b + q·ldb) or Bᵀ (trans 1, column j of op(B) is the row at b + j·ldb).
/// A copy: the bits of the elements are those of B.
void FN(pack_b)(const T *b, long ldb, int trans, long k, long cols, T *panel) {
  const long NR = 2 * W;
  if (!trans) {
    for (long q = 0; q < k; q++) {
      const T *row = b + q * ldb;
      T *out = panel + q * NR;
      if (cols == NR) {
        FN(store)(out, FN(load)(row));
        FN(store)(out + W, FN(load)(row + W));
      } else {
        long first = cols < W ? cols : W;
        FN(store)(out, FN(load_part)(row, first));
        FN(store)(out + W, cols > W ? FN(load_part)(row + W, cols - W) : FN(splat)(0));
      }
    }
    return;
  }
  // Bᵀ: W×W blocks of B (W of its rows, W depth steps each) transposed in
  // registers; rows past `cols` are zeros.
  long q = 0;
  for (; q + W <= k; q += W) {
#pragma clang loop unroll(full)
    for (long h = 0; h < 2; h++) {
      V r[W];
#pragma clang loop unroll(full)
      for (long i = 0; i < W; i++) {
        long j = h * W + i;
        r[i] = j < cols ? FN(load)(b + j * ldb + q) : FN(splat)(0);
      }
      FN(transpose)(r);
#pragma clang loop unroll(full)
      for (long i = 0; i < W; i++) FN(store)(panel + (q + i) * NR + h * W, r[i]);
    }
  }
  for (; q < k; q++)
    for (long j = 0; j < NR; j++) panel[q * NR + j] = j < cols ? b[j * ldb + q] : 0;
}
#undef ILO
#undef IHI
#undef WL

void FN(exp)(const T *x, T *y, long count) {
#define EXP_BLOCK(i, n) FN(store_part)(y + (i), FN(vexp)(FN(load_part)(x + (i), (n))), (n));
  RBP_VECTOR_MAP(count, EXP_BLOCK);
#undef EXP_BLOCK
}
#undef VI
#undef RBP_VECTOR_MAP

#undef FN
#undef V
#undef VU
#undef W
#undef INLINE
