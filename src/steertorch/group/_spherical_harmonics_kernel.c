/* CPU kernel of the real spherical harmonics of _spherical_harmonics.py (e3nn's basis, order and phase), compiled on
 * first use by _spherical_harmonics_kernel.py through steertorch._native (twice: REAL float / double, SUF the suffix
 * of the exported names). Per point, with (x, y, z) the point (divided by its norm r when `normalize`) and the
 * component-normalised recurrence of the Python file (polar axis y, azimuthal plane x' + i y' = z + i x):
 *
 *   V_0 = s                      (s = 1, or 0 at a zero point when normalize: every degree is then 0)
 *   V_1 = sqrt(3) s (x, y, z)
 *   V_l^{-l} = c_l (lo z + hi x),  V_l^{-(l-1)} = e_l y lo,  V_l^{l-1} = e_l y hi,  V_l^{l} = c_l (hi z - lo x)
 *   V_l^m = a_lm y V_{l-1}^m - b_lm r2 V_{l-2}^m                      (|m| <= l - 2; r2 = 1 when normalize)
 *
 * with lo, hi = V_{l-1}^{-(l-1)}, V_{l-1}^{l-1}, c_l = sqrt((2l+1)/(2l)), e_l = sqrt(2l+1) and a, b the tables of the
 * caller. Output block k (degree l_k, column col_k of a row of ld_out) is scale[l_k] V_{l_k}; the constant degree 0
 * is scale[0] (+ 0 y: a NaN point stays visible).
 *
 * The backward carries the three partial derivatives of every V through the same recurrence (forward mode) and
 * contracts them with the output gradient as it goes, G = sum_k scale[l_k] grad_k . dV_{l_k}; with normalize the
 * gradient of the point is (G - u (u . G)) / r (the recurrence with r2 = 1 equals the harmonic on the sphere only,
 * and the projection keeps the part tangent to it), and 0 at a zero point. Points are taken BLK at a time in
 * per-thread buffers [2l + 1][BLK] (structure of arrays: the loops over the block vectorise); threads take
 * contiguous ranges of points. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(n) CAT(n, SUF)

typedef REAL real;
#define BLK 32
#define SQRT(v) _Generic((real)0, float: sqrtf, default: sqrt)(v)

typedef struct {
  int64_t n0, n1, lmax, normalize, nb, ld_out;
  const int64_t *blocks; /* [nb][2]: degree, column */
  const real *x, *scale, *ta, *tb, *grad; /* ta, tb: [(lmax + 1) * (lmax + 1)], entry l * (lmax + 1) + |m| */
  real *out, *gx;
  int status;
} job_t;

/* the block's points (normalised when asked), r (norm, when normalize), the seed s */
static void load_points(const job_t *j, int64_t n0, int nb, real *restrict px, real *restrict py, real *restrict pz,
                        real *restrict pr, real *restrict seed) {
  const real *x = j->x + 3 * n0;
  for (int b = 0; b < nb; ++b) {
    px[b] = x[3 * b];
    py[b] = x[3 * b + 1];
    pz[b] = x[3 * b + 2];
  }
  for (int b = nb; b < BLK; ++b) px[b] = py[b] = pz[b] = 0;
  if (j->normalize) {
    for (int b = 0; b < BLK; ++b) { /* branch-free: the loop vectorises */
      const real r2 = px[b] * px[b] + py[b] * py[b] + pz[b] * pz[b];
      const real r = SQRT(r2 > 0 ? r2 : 1);
      const real inv = r2 > 0 ? 1 / r : 0;
      pr[b] = r2 > 0 ? r : 0;
      seed[b] = r2 > 0 ? 1 : 0;
      px[b] *= inv;
      py[b] *= inv;
      pz[b] *= inv;
    }
  } else {
    for (int b = 0; b < BLK; ++b) {
      pr[b] = px[b] * px[b] + py[b] * py[b] + pz[b] * pz[b]; /* r2 */
      seed[b] = 1;
    }
  }
}

/* the recurrence's constants: a, b [(lmax + 1)^2] (entry l * (lmax + 1) + |m|), c (sectoral) and e (edge) [lmax + 1],
 * V_0 = s0 seed; unscaled (component normalisation) or with scale(l) / scale(l - 1), scale(l) / scale(l - 2) folded in */
typedef struct { real *a, *b, *c, *e; real s0; } coef_t;

/* the constants in `mem` (4 (lmax + 1)^2 reals), folded with `scale` unless it is null */
static coef_t make_coef(const job_t *j, real *mem, const real *scale) {
  const int64_t lmax = j->lmax, stride = lmax + 1;
  coef_t f = {mem, mem + stride * stride, mem + 2 * stride * stride, mem + 3 * stride * stride, 1};
  for (int64_t l = 1; l <= lmax; ++l) {
    const double r1 = scale ? (double)scale[l] / scale[l - 1] : 1;
    const double r2 = scale && l >= 2 ? (double)scale[l] / scale[l - 2] : 1;
    f.c[l] = (l == 1 ? sqrt(3.0) : sqrt((2.0 * l + 1) / (2.0 * l))) * r1;
    f.e[l] = sqrt(2.0 * l + 1) * r1;
    for (int64_t m = 0; m <= l - 2; ++m) {
      f.a[l * stride + m] = j->ta[l * stride + m] * r1;
      f.b[l * stride + m] = j->tb[l * stride + m] * r2;
    }
  }
  if (scale) f.s0 = scale[0];
  return f;
}

/* degree l (>= 2) of V from degrees l - 1 (prev, 2l - 1 rows) and l - 2 (prev2, 2l - 3 rows) */
static void step_value(const job_t *j, const coef_t *f, int64_t l, const real *restrict px, const real *restrict py,
                       const real *restrict pz, const real *restrict r2, const real *restrict prev,
                       const real *restrict prev2, real *restrict cur) {
  const real c = f->c[l], e = f->e[l];
  const real *lo = prev, *hi = prev + (2 * l - 2) * BLK;
  for (int b = 0; b < BLK; ++b) {
    cur[b] = c * (lo[b] * pz[b] + hi[b] * px[b]);
    cur[BLK + b] = e * py[b] * lo[b];
    cur[(2 * l - 1) * BLK + b] = e * py[b] * hi[b];
    cur[2 * l * BLK + b] = c * (hi[b] * pz[b] - lo[b] * px[b]);
  }
  const int64_t stride = j->lmax + 1;
  for (int64_t k = 0; k <= 2 * l - 4; ++k) {
    const int64_t m = k - (l - 2) < 0 ? (l - 2) - k : k - (l - 2);
    const real a = f->a[l * stride + m], bb = f->b[l * stride + m];
    const real *p = prev + (k + 1) * BLK, *q = prev2 + k * BLK;
    real *o = cur + (k + 2) * BLK;
    if (j->normalize)
      for (int b = 0; b < BLK; ++b) o[b] = a * py[b] * p[b] - bb * q[b];
    else
      for (int b = 0; b < BLK; ++b) o[b] = a * py[b] * p[b] - bb * r2[b] * q[b];
  }
}

static void first_degrees(const coef_t *f, int64_t lmax, const real *restrict px, const real *restrict py,
                          const real *restrict pz, const real *restrict seed, real *restrict v0, real *restrict v1) {
  for (int b = 0; b < BLK; ++b) v0[b] = f->s0 * seed[b];
  if (lmax >= 1)
    for (int b = 0; b < BLK; ++b) {
      const real c = f->c[1] * v0[b];
      v1[b] = c * px[b];
      v1[BLK + b] = c * py[b];
      v1[2 * BLK + b] = c * pz[b];
    }
}

/* The forward computes every degree of a block of BLK points in a buffer V[(l + 1)^2][BLK] (structure of arrays: the
 * recurrence runs as vector operations over the points, with no dependence between the lanes), scales it, and writes
 * it transposed: TW x TW tiles (TW points by TW entries of a row) are transposed in registers by log2(TW) rounds of
 * two-vector shuffles, each round exchanging one bit of the row and the column index, and stored as TW row pieces;
 * the entries of a row past the last whole tile are written one by one. */
typedef real vec __attribute__((vector_size(VL * sizeof(real))));
static inline vec vload(const real *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(real *p, vec v) { memcpy(p, &v, sizeof v); }

#define TW VL /* the tile width (8 doubles with 512-bit vectors measured no faster) */
typedef real tvec __attribute__((vector_size(TW * sizeof(real))));
static inline tvec tload(const real *p) { tvec v; memcpy(&v, p, sizeof v); return v; }
static inline void tstore(real *p, tvec v) { memcpy(p, &v, sizeof v); }
#if TW == 8
#define SWAP(a, b, h) do { tvec t_ = a; \
    if (h == 4) { a = __builtin_shufflevector(t_, b, 0, 1, 2, 3, 8, 9, 10, 11); \
                  b = __builtin_shufflevector(t_, b, 4, 5, 6, 7, 12, 13, 14, 15); } \
    if (h == 2) { a = __builtin_shufflevector(t_, b, 0, 1, 8, 9, 4, 5, 12, 13); \
                  b = __builtin_shufflevector(t_, b, 2, 3, 10, 11, 6, 7, 14, 15); } \
    if (h == 1) { a = __builtin_shufflevector(t_, b, 0, 8, 2, 10, 4, 12, 6, 14); \
                  b = __builtin_shufflevector(t_, b, 1, 9, 3, 11, 5, 13, 7, 15); } } while (0)
#elif TW == 4
#define SWAP(a, b, h) do { tvec t_ = a; \
    if (h == 2) { a = __builtin_shufflevector(t_, b, 0, 1, 4, 5); b = __builtin_shufflevector(t_, b, 2, 3, 6, 7); } \
    if (h == 1) { a = __builtin_shufflevector(t_, b, 0, 4, 2, 6); b = __builtin_shufflevector(t_, b, 1, 5, 3, 7); } \
  } while (0)
#else
#error "the tile width must be 4 or 8"
#endif
/* half tiles (TW / 2 points by TW / 2 entries) for the entries past the last whole tile */
#define HL (TW / 2)
typedef real hvec __attribute__((vector_size(HL * sizeof(real))));
static inline hvec hload(const real *p) { hvec v; memcpy(&v, p, sizeof v); return v; }
static inline void hstore(real *p, hvec v) { memcpy(p, &v, sizeof v); }
#if HL == 4
#define HSWAP(a, b, h) do { hvec t_ = a; \
    if (h == 2) { a = __builtin_shufflevector(t_, b, 0, 1, 4, 5); b = __builtin_shufflevector(t_, b, 2, 3, 6, 7); } \
    if (h == 1) { a = __builtin_shufflevector(t_, b, 0, 4, 2, 6); b = __builtin_shufflevector(t_, b, 1, 5, 3, 7); } \
  } while (0)
#else
#define HSWAP(a, b, h) do { hvec t_ = a; \
    a = __builtin_shufflevector(t_, b, 0, 2); b = __builtin_shufflevector(t_, b, 1, 3); } while (0)
#endif

/* Writes run at least PF_DIST bytes behind a prefetch for writing of the output (PREFETCHW with -march=native):
 * the output's cache lines are requested before the stores reach them, which the hardware's own prefetchers did
 * not do soon enough once the output had left the caches (docs/performance.md). A prefetch past the output is
 * harmless. */
#define PF_DIST 2048
/* rows b < nb of dst (leading dimension ld): dst[b * ld + k] = v[k * BLK + b], k < n */
static void write_transposed(const real *restrict v, int64_t n, int nb, real *restrict dst, int64_t ld) {
  const int64_t whole = n / TW * TW, tile_bytes = (int64_t)(TW * ld * sizeof(real));
  const int64_t ahead = tile_bytes > PF_DIST ? tile_bytes : PF_DIST;
  for (int b0 = 0; b0 < nb; b0 += TW) {
    { /* the next rows, a tile or at least PF_DIST bytes ahead */
      const char *next = (const char *)(dst + (int64_t)b0 * ld) + ahead;
      for (int64_t off = 0; off < tile_bytes; off += 64) __builtin_prefetch(next + off, 1, 3);
    }
    if (b0 + TW <= nb) {
      for (int64_t k0 = 0; k0 < whole; k0 += TW) {
        tvec r[TW];
        for (int i = 0; i < TW; ++i) r[i] = tload(v + (k0 + i) * BLK + b0);
        for (int h = TW / 2; h >= 1; h /= 2)
          for (int i = 0; i < TW; ++i)
            if (!(i & h)) SWAP(r[i], r[(i + h) & (TW - 1)], h);
        for (int i = 0; i < TW; ++i) tstore(dst + (int64_t)(b0 + i) * ld + k0, r[i]);
      }
    } else {
      for (int b = b0; b < nb; ++b)
        for (int64_t k = 0; k < whole; ++k) dst[b * ld + k] = v[k * BLK + b];
    }
  }
  int64_t done = whole;
  if (n - whole >= HL) {
    for (int b0 = 0; b0 + HL <= nb; b0 += HL) {
      hvec r[HL];
      for (int i = 0; i < HL; ++i) r[i] = hload(v + (whole + i) * BLK + b0);
      for (int h = HL / 2; h >= 1; h /= 2)
        for (int i = 0; i < HL; ++i)
          if (!(i & h)) HSWAP(r[i], r[(i + h) & (HL - 1)], h);
      for (int i = 0; i < HL; ++i) hstore(dst + (int64_t)(b0 + i) * ld + whole, r[i]);
    }
    for (int b = nb / HL * HL; b < nb; ++b)
      for (int64_t k = whole; k < whole + HL; ++k) dst[b * ld + k] = v[k * BLK + b];
    done = whole + HL;
  }
  for (int b = 0; b < nb; ++b)
    for (int64_t k = done; k < n; ++k) dst[b * ld + k] = v[k * BLK + b];
}

#if defined(__AVX__) && (VL == 4 || VL == 8)
/* Degrees 2 and 3 (normalised or not) are computed VL points at a time in registers and written straight from
 * them: the blocked path above stores every value into its buffer before the transposed write, and those stores
 * queue behind the output's (each waiting for its cache line), so the computation of a block could not overlap
 * the writing of the one before (measured: compute and write added up). Both precisions use 32-byte vectors
 * here (double VL = 4, float VL = 8); same operations in the same order, so the same values bit for bit. */
#include <immintrin.h>
#define REGISTER_PATH 1
typedef long long ivec __attribute__((vector_size(VL * sizeof(real))));

/* x, y, z of VL points from their 3 VL interleaved coordinates */
static inline void deinterleave(const real *p, vec *x, vec *y, vec *z) {
  const vec a = vload(p), b = vload(p + VL), c = vload(p + 2 * VL);
#if VL == 4
  *x = __builtin_shufflevector(__builtin_shufflevector(a, b, 0, 3, 6, 7), c, 0, 1, 2, 5);
  *y = __builtin_shufflevector(__builtin_shufflevector(a, b, 1, 4, 7, 7), c, 0, 1, 2, 6);
  *z = __builtin_shufflevector(__builtin_shufflevector(a, b, 2, 5, 5, 5), c, 0, 1, 4, 7);
#else
  *x = __builtin_shufflevector(__builtin_shufflevector(a, b, 0, 3, 6, 9, 12, 15, 0, 0), c, 0, 1, 2, 3, 4, 5, 10, 13);
  *y = __builtin_shufflevector(__builtin_shufflevector(a, b, 1, 4, 7, 10, 13, 0, 0, 0), c, 0, 1, 2, 3, 4, 8, 11, 14);
  *z = __builtin_shufflevector(__builtin_shufflevector(a, b, 2, 5, 8, 11, 14, 0, 0, 0), c, 0, 1, 2, 3, 4, 9, 12, 15);
#endif
}

static inline vec vsqrt(vec a) {
  return _Generic((real)0, double: (vec)_mm256_sqrt_pd((__m256d)a), default: (vec)_mm256_sqrt_ps((__m256)a));
}

/* degrees 0..L (a constant: the loops unroll, V stays in registers) of the points [n0, n1), a multiple of VL of
 * them, into whole rows of (L + 1)^2 entries */
static inline __attribute__((always_inline)) void register_rows(const job_t *j, const coef_t *f, const int L,
                                                                int64_t n0, int64_t n1) {
  const int nr = (L + 1) * (L + 1), whole = nr / TW * TW;
  const int64_t stride = j->lmax + 1;
  const vec one = (vec){0} + 1;
  for (int64_t n = n0; n < n1; n += VL) {
    vec x, y, z, r2 = one, s = one;
    deinterleave(j->x + 3 * n, &x, &y, &z);
    if (j->normalize) { /* as load_points: 1 / r and seed 1 where r2 > 0, else 0 (NaN stays NaN through x) */
      const vec q = x * x + y * y + z * z;
      const ivec positive = q > 0;
      const vec inv = (vec)((ivec)(one / vsqrt(q)) & positive);
      s = (vec)((ivec)one & positive);
      x *= inv;
      y *= inv;
      z *= inv;
    } else {
      r2 = x * x + y * y + z * z;
    }
    vec v[(L + 1) * (L + 1)];
    v[0] = f->s0 * s;
    const vec c1 = f->c[1] * v[0];
    v[1] = c1 * x;
    v[2] = c1 * y;
    v[3] = c1 * z;
    for (int l = 2; l <= L; ++l) { /* step_value's recurrence */
      const vec *prev = v + (l - 1) * (l - 1), *prev2 = v + (l - 2) * (l - 2);
      vec *cur = v + l * l;
      const real c = f->c[l], e = f->e[l];
      const vec lo = prev[0], hi = prev[2 * l - 2];
      cur[0] = c * (lo * z + hi * x);
      cur[1] = e * y * lo;
      cur[2 * l - 1] = e * y * hi;
      cur[2 * l] = c * (hi * z - lo * x);
      for (int k = 0; k <= 2 * l - 4; ++k) {
        const int m = k - (l - 2) < 0 ? (l - 2) - k : k - (l - 2);
        const real a = f->a[l * stride + m], bb = f->b[l * stride + m];
        cur[k + 2] = j->normalize ? a * y * prev[k + 1] - bb * prev2[k] : a * y * prev[k + 1] - bb * r2 * prev2[k];
      }
    }
    v[0] = f->s0 + 0 * y; /* the constant (the seed was 0 at x = 0) */
    real *dst = j->out + n * nr;
    for (int off = 0; off < VL * nr * (int)sizeof(real); off += 64) /* see PF_DIST */
      __builtin_prefetch((const char *)dst + PF_DIST + off, 1, 3);
#if VL == 8
    if (nr == 4) { /* degree 1 in float: 8 rows of 4 entries, two rows per vector (two 4 x 4 transposes) */
      const vec t0 = __builtin_shufflevector(v[0], v[1], 0, 8, 1, 9, 4, 12, 5, 13);
      const vec t1 = __builtin_shufflevector(v[0], v[1], 2, 10, 3, 11, 6, 14, 7, 15);
      const vec t2 = __builtin_shufflevector(v[2], v[3], 0, 8, 1, 9, 4, 12, 5, 13);
      const vec t3 = __builtin_shufflevector(v[2], v[3], 2, 10, 3, 11, 6, 14, 7, 15);
      const vec r0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13); /* rows 0 and 4 */
      const vec r1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15); /* rows 1 and 5 */
      const vec r2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13); /* rows 2 and 6 */
      const vec r3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15); /* rows 3 and 7 */
      vstore(dst, __builtin_shufflevector(r0, r1, 0, 1, 2, 3, 8, 9, 10, 11));
      vstore(dst + 8, __builtin_shufflevector(r2, r3, 0, 1, 2, 3, 8, 9, 10, 11));
      vstore(dst + 16, __builtin_shufflevector(r0, r1, 4, 5, 6, 7, 12, 13, 14, 15));
      vstore(dst + 24, __builtin_shufflevector(r2, r3, 4, 5, 6, 7, 12, 13, 14, 15));
      continue;
    }
#endif
    for (int k0 = 0; k0 < whole; k0 += TW) { /* write_transposed's tiles, from registers */
      tvec r[TW];
      for (int i = 0; i < TW; ++i) r[i] = v[k0 + i];
      for (int h = TW / 2; h >= 1; h /= 2)
        for (int i = 0; i < TW; ++i)
          if (!(i & h)) SWAP(r[i], r[(i + h) & (TW - 1)], h);
      for (int i = 0; i < TW; ++i) tstore(dst + i * nr + k0, r[i]);
    }
    for (int k = whole; k < nr; ++k)
      for (int i = 0; i < VL; ++i) dst[i * nr + k] = v[k][i];
  }
}
#endif

static void *forward_thread(void *arg) {
  job_t *j = arg;
  const int64_t lmax = j->lmax, n_row = (lmax + 1) * (lmax + 1);
  real *mem = malloc(sizeof(real) * (BLK * (5 + 2 * n_row) + 4 * n_row));
  if (!mem) {
    j->status = 1;
    return 0;
  }
  real *px = mem, *py = px + BLK, *pz = py + BLK, *pr = pz + BLK, *seed = pr + BLK, *v = seed + BLK,
       *rows = v + n_row * BLK;
  const coef_t f = make_coef(j, rows + n_row * BLK, j->scale); /* the normalisation folded in */
  /* the requested blocks: written straight into the output when they are the degrees 0..lmax in order */
  int whole = j->nb == lmax + 1 && j->ld_out == n_row;
  for (int64_t k = 0; whole && k < j->nb; ++k) whole = j->blocks[2 * k] == k && j->blocks[2 * k + 1] == k * k;
#ifndef REGISTER_PATH
  if (whole && lmax == 1) { /* degrees 0 and 1 in order: one pass, point by point (no tiles for 4 entries), with
                             * load_points' arithmetic (the same values as the blocked path) */
    const real c0 = f.s0;
    for (int64_t n = j->n0; n < j->n1; ++n) {
      real x = j->x[3 * n], y = j->x[3 * n + 1], z = j->x[3 * n + 2], seed1 = 1;
      if (j->normalize) {
        const real r2 = x * x + y * y + z * z;
        const real inv = r2 > 0 ? 1 / SQRT(r2 > 0 ? r2 : 1) : 0;
        seed1 = r2 > 0 ? 1 : 0;
        x *= inv;
        y *= inv;
        z *= inv;
      }
      const real c1 = f.c[1] * (f.s0 * seed1);
      real *out = j->out + 4 * n;
      out[0] = c0 + 0 * y;
      out[1] = c1 * x;
      out[2] = c1 * y;
      out[3] = c1 * z;
    }
    free(mem);
    return 0;
  }
#endif
  int64_t start = j->n0;
#ifdef REGISTER_PATH
  if (whole && lmax >= 1 && lmax <= 3) { /* whole groups of VL points in registers, the rest blocked below */
    start = j->n0 + (j->n1 - j->n0) / VL * VL;
    if (lmax == 1)
      register_rows(j, &f, 1, j->n0, start);
    else if (lmax == 2)
      register_rows(j, &f, 2, j->n0, start);
    else
      register_rows(j, &f, 3, j->n0, start);
  }
#endif
  for (int64_t n0 = start; n0 < j->n1; n0 += BLK) {
    const int nb = j->n1 - n0 < BLK ? (int)(j->n1 - n0) : BLK;
    load_points(j, n0, nb, px, py, pz, pr, seed);
    first_degrees(&f, lmax, px, py, pz, seed, v, v + BLK);
    for (int64_t l = 2; l <= lmax; ++l)
      step_value(j, &f, l, px, py, pz, pr, v + (l - 1) * (l - 1) * BLK, v + (l - 2) * (l - 2) * BLK,
                 v + l * l * BLK);
    for (int b = 0; b < BLK; ++b) v[b] = f.s0 + 0 * py[b]; /* the constant (the seed was 0 at x = 0) */
    if (whole) {
      write_transposed(v, n_row, nb, j->out + n0 * j->ld_out, j->ld_out);
    } else {
      write_transposed(v, n_row, nb, rows, n_row);
      for (int b = 0; b < nb; ++b)
        for (int64_t k = 0; k < j->nb; ++k) {
          const int64_t l = j->blocks[2 * k];
          memcpy(j->out + (n0 + b) * j->ld_out + j->blocks[2 * k + 1], rows + b * n_row + l * l,
                 sizeof(real) * (2 * l + 1));
        }
    }
  }
  free(mem);
  return 0;
}

/* V and its partials (vx, vy, vz: rows like V) of degree l >= 2, from those of l - 1 and l - 2 */
static void step_grad(const job_t *j, const coef_t *f, int64_t l, const real *restrict px, const real *restrict py,
                      const real *restrict pz, const real *restrict r2, real *const prev[4], real *const prev2[4],
                      real *const cur[4]) {
  step_value(j, f, l, px, py, pz, r2, prev[0], prev2[0], cur[0]);
  const real c = f->c[l], e = f->e[l];
  const int64_t top = (2 * l - 2) * BLK;
  const real *lo = prev[0], *hi = prev[0] + top;
  for (int t = 1; t <= 3; ++t) { /* d/dx, d/dy, d/dz */
    const real *dlo = prev[t], *dhi = prev[t] + top;
    real *o = cur[t];
    for (int b = 0; b < BLK; ++b) {
      real m0 = c * (dlo[b] * pz[b] + dhi[b] * px[b]);
      real m1 = e * py[b] * dlo[b];
      real m2 = e * py[b] * dhi[b];
      real m3 = c * (dhi[b] * pz[b] - dlo[b] * px[b]);
      if (t == 1) {
        m0 += c * hi[b];
        m3 -= c * lo[b];
      } else if (t == 2) {
        m1 += e * lo[b];
        m2 += e * hi[b];
      } else {
        m0 += c * lo[b];
        m3 += c * hi[b];
      }
      o[b] = m0;
      o[BLK + b] = m1;
      o[(2 * l - 1) * BLK + b] = m2;
      o[2 * l * BLK + b] = m3;
    }
  }
  const int64_t stride = j->lmax + 1;
  for (int64_t k = 0; k <= 2 * l - 4; ++k) {
    const int64_t m = k - (l - 2) < 0 ? (l - 2) - k : k - (l - 2);
    const real a = f->a[l * stride + m], bb = f->b[l * stride + m];
    const real *p = prev[0] + (k + 1) * BLK, *q = prev2[0] + k * BLK;
    const real *coord[3] = {px, py, pz};
    for (int t = 1; t <= 3; ++t) {
      const real *dp = prev[t] + (k + 1) * BLK, *dq = prev2[t] + k * BLK, *u = coord[t - 1];
      real *o = cur[t] + (k + 2) * BLK;
      if (j->normalize) {
        if (t == 2)
          for (int b = 0; b < BLK; ++b) o[b] = a * (p[b] + py[b] * dp[b]) - bb * dq[b];
        else
          for (int b = 0; b < BLK; ++b) o[b] = a * py[b] * dp[b] - bb * dq[b];
      } else {
        if (t == 2)
          for (int b = 0; b < BLK; ++b) o[b] = a * (p[b] + py[b] * dp[b]) - bb * (r2[b] * dq[b] + 2 * u[b] * q[b]);
        else
          for (int b = 0; b < BLK; ++b) o[b] = a * py[b] * dp[b] - bb * (r2[b] * dq[b] + 2 * u[b] * q[b]);
      }
    }
  }
}

/* G += sum over the output blocks of degree l of grad . dV (V with the normalisation folded in) */
static void gather_degree(const job_t *j, int64_t n0, int nb, int64_t l, real *const v[4], real *restrict gsum) {
  const int64_t ld = j->ld_out, d = 2 * l + 1;
  for (int64_t k = 0; k < j->nb; ++k) {
    if (j->blocks[2 * k] != l) continue;
    const real *g = j->grad + n0 * ld + j->blocks[2 * k + 1];
    for (int b = 0; b < nb; ++b) {
      real sx = 0, sy = 0, sz = 0;
      for (int64_t i = 0; i < d; ++i) {
        const real gi = g[b * ld + i];
        sx += gi * v[1][i * BLK + b];
        sy += gi * v[2][i * BLK + b];
        sz += gi * v[3][i * BLK + b];
      }
      gsum[b] += sx;
      gsum[BLK + b] += sy;
      gsum[2 * BLK + b] += sz;
    }
  }
}

static void *backward_thread(void *arg) {
  job_t *j = arg;
  const int64_t lmax = j->lmax, rows = 2 * lmax + 1;
  real *mem = malloc(sizeof(real) * (BLK * (12 * rows + 8) + 4 * (lmax + 1) * (lmax + 1)));
  if (!mem) {
    j->status = 1;
    return 0;
  }
  real *px = mem, *py = px + BLK, *pz = py + BLK, *pr = pz + BLK, *seed = pr + BLK, *gsum = seed + BLK;
  real *buf[3][4];
  for (int s = 0; s < 3; ++s)
    for (int t = 0; t < 4; ++t) buf[s][t] = gsum + 3 * BLK + (4 * s + t) * rows * BLK;
  const coef_t f = make_coef(j, gsum + 3 * BLK + 12 * rows * BLK, j->scale); /* the normalisation folded in */
  const real d1 = lmax >= 1 ? f.c[1] * f.s0 : 0;
  for (int64_t n0 = j->n0; n0 < j->n1; n0 += BLK) {
    const int nb = j->n1 - n0 < BLK ? (int)(j->n1 - n0) : BLK;
    load_points(j, n0, nb, px, py, pz, pr, seed);
    for (int b = 0; b < 3 * BLK; ++b) gsum[b] = 0;
    first_degrees(&f, lmax, px, py, pz, seed, buf[0][0], buf[1][0]);
    for (int t = 1; t <= 3; ++t) { /* dV_0 = 0, dV_1 = c_1 s0 seed I */
      for (int b = 0; b < BLK; ++b) buf[0][t][b] = 0;
      if (lmax >= 1)
        for (int i = 0; i < 3; ++i)
          for (int b = 0; b < BLK; ++b) buf[1][t][i * BLK + b] = i == t - 1 ? d1 * seed[b] : 0;
    }
    if (lmax >= 1) gather_degree(j, n0, nb, 1, buf[1], gsum);
    for (int64_t l = 2; l <= lmax; ++l) {
      step_grad(j, &f, l, px, py, pz, pr, buf[(l - 1) % 3], buf[(l - 2) % 3], buf[l % 3]);
      gather_degree(j, n0, nb, l, buf[l % 3], gsum);
    }
    real *gx = j->gx + 3 * n0;
    for (int b = 0; b < nb; ++b) {
      real gx0 = gsum[b], gy0 = gsum[BLK + b], gz0 = gsum[2 * BLK + b];
      if (j->normalize) {
        if (pr[b] > 0) {
          const real dot = px[b] * gx0 + py[b] * gy0 + pz[b] * gz0, inv = 1 / pr[b];
          gx0 = (gx0 - px[b] * dot) * inv;
          gy0 = (gy0 - py[b] * dot) * inv;
          gz0 = (gz0 - pz[b] * dot) * inv;
        } else {
          gx0 = gy0 = gz0 = 0;
        }
      }
      gx[3 * b] = gx0;
      gx[3 * b + 1] = gy0;
      gx[3 * b + 2] = gz0;
    }
  }
  free(mem);
  return 0;
}

static int run(job_t proto, int64_t n, int n_threads, void *(*fn)(void *)) {
  if (n <= 0) return 0;
  if (n_threads < 1) n_threads = 1;
  job_t *jobs = malloc(sizeof(job_t) * n_threads);
  pthread_t *threads = malloc(sizeof(pthread_t) * n_threads);
  if (!jobs || !threads) {
    free(jobs);
    free(threads);
    return 1;
  }
  /* ranges in whole blocks of BLK points */
  const int64_t nblocks = (n + BLK - 1) / BLK;
  for (int k = 0; k < n_threads; ++k) {
    jobs[k] = proto;
    jobs[k].n0 = nblocks * k / n_threads * BLK;
    jobs[k].n1 = nblocks * (k + 1) / n_threads * BLK;
    if (jobs[k].n1 > n) jobs[k].n1 = n;
    if (jobs[k].n0 > n) jobs[k].n0 = n;
    jobs[k].status = 0;
  }
  int started = 1;
  for (int k = 1; k < n_threads; ++k, ++started)
    if (pthread_create(&threads[k], 0, fn, &jobs[k])) break;
  for (int k = started; k < n_threads; ++k) fn(&jobs[k]); /* threads that did not start: run here */
  fn(&jobs[0]);
  int status = 0;
  for (int k = 1; k < started; ++k) pthread_join(threads[k], 0);
  for (int k = 0; k < n_threads; ++k) status |= jobs[k].status;
  free(jobs);
  free(threads);
  return status;
}

int NAME(st_sh_forward)(int64_t n, const real *x, int64_t lmax, int64_t normalize, const real *scale,
                        const real *ta, const real *tb, const int64_t *blocks, int64_t nb, int64_t ld_out, real *out,
                        int n_threads) {
  job_t j = {0};
  j.lmax = lmax, j.normalize = normalize, j.nb = nb, j.ld_out = ld_out, j.blocks = blocks;
  j.x = x, j.scale = scale, j.ta = ta, j.tb = tb, j.out = out;
  return run(j, n, n_threads, forward_thread);
}

int NAME(st_sh_backward)(int64_t n, const real *x, int64_t lmax, int64_t normalize, const real *scale,
                         const real *ta, const real *tb, const int64_t *blocks, int64_t nb, int64_t ld_out,
                         const real *grad, real *gx, int n_threads) {
  job_t j = {0};
  j.lmax = lmax, j.normalize = normalize, j.nb = nb, j.ld_out = ld_out, j.blocks = blocks;
  j.x = x, j.scale = scale, j.ta = ta, j.tb = tb, j.grad = grad, j.gx = gx;
  return run(j, n, n_threads, backward_thread);
}
