/* CPU kernels of the tensor products whose second input has multiplicity 1 (features times spherical harmonics;
 * weights shared, or per sample: row z of a [z, numel] tensor, ld_w = numel), compiled on first use by
 * _tensor_product_kernel.py (twice: REAL float / double, VL its vector width, SUF the suffix of the exported names).
 * Two connection modes, each forward and backward: "uvw" (st_tp_*) and "uvu" (st_tpuvu_*, depthwise).
 *
 * "uvw": the math of _tensor_product_plan.py; per sample z (W: that sample's row with per-sample weights):
 *
 *   A[c]            = sum_j y[z, j] cg[j, c]                        (cg: the plan's stacked Clebsch-Gordan matrix)
 *   T_p[k, u]       = sum_i A[acol + k * ak + i] x[z, xs + u * d1 + i]              (one path p: a -> o)
 *   out[z, os + w * d_o + k] = sum_{p -> o} sum_u T_p[k, u] W[w_off + u * mul_out + w]
 *
 * and for the backward, with g the output gradient in the same layout and gT_p[k, u] = sum_w g[k, w] W_p[u, w]:
 *   gx[z, xs + u * d1 + i] = sum_{p from a} sum_k A_p[k, i] gT_p[k, u],   gA_p[k, i] = sum_u gT_p[k, u] x_a[u, i],
 *   gy[z, j] = sum_c gA[c] cg[j, c],   gW_p[u, w] = sum_z sum_k T_p[k, u] g[k, w].
 *
 * A path with d1 < d_o ("early") mixes the channels first, X_p[i, w] = sum_u x_a[u, i] W_p[u, w], then contracts
 * with A_p (d1 instead of d_o products per channel pair); its backward goes through gX_p[i, w] = sum_k A_p[k, i] g[k, w].
 *
 * "uvu" (one weight per channel and path, the product of a tensor field network's convolution; A as above, the
 * columns of path p at acol + k * d1 + i):
 *
 *   out[z, os + u * d_o + k] = sum_{p -> o} W[w_off + u] sum_i A[acol + k * d1 + i] x[z, xs + u * d1 + i]
 *
 * and, with H_p[i, u] = sum_k A_p[k, i] g[k, u]:  gx_a[u, i] += W_p[u] H_p[i, u],  gW_p[u] = sum_i x_a[u, i] H_p[i, u]
 * (summed over z when shared),  gA_p[k, i] = sum_u g[k, u] W_p[u] x_a[u, i],  gy = cg gA as above.
 *
 * Every sample is independent: threads take contiguous ranges of samples; each accumulates its own weight gradient
 * (uvw: over blocks of BLOCK samples held in registers), summed at the end. Intermediates live in per-thread buffers
 * of a few KB (no batch-sized temporary); T is recomputed in the backward. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(n) CAT(n, SUF)

typedef REAL real;
typedef real vec __attribute__((vector_size(VL * sizeof(real))));

#define MAXD 16 /* largest 2l + 1 of an input or output block (l <= 7); the Python side checks it */

typedef struct { int64_t a, d1, mul1, acol, ak, o, d_o, mul_out, w_off, early; } path_t;
typedef struct { int64_t xs, d1, mul, xt; } in_t;
typedef struct { int64_t os, d_o, mul, p0, p1; } out_t;
typedef struct { int64_t a, d1, mul, acol, o, d_o, w_off; } upath_t; /* a "uvu" path (mul: of input, output, W) */

typedef struct job {
  int64_t z0, z1, n_in, n_out, n_paths, d_y, n_a, ld_x, ld_y, ld_out, numel, xt_len, t_len, g_len, ld_w;
  const path_t *paths; const in_t *ins; const out_t *outs;
  const real *x, *y, *w, *wt, *cg, *grad;
  real *out, *gx, *gy, *gw;
  int status;
  const upath_t *upaths; /* "uvu" */
  void (*range)(struct job *); /* what a thread runs on [z0, z1) */
} job_t;

static inline vec vload(const real *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(real *p, vec v) { memcpy(p, &v, sizeof v); }
static inline real hsum(vec v) { real s = 0; for (int l = 0; l < VL; ++l) s += v[l]; return s; }

/* A = y cg for one sample */
static void amat(const real *restrict yz, const real *restrict cg, real *restrict a, int64_t d_y, int64_t n_a) {
  for (int64_t c = 0; c < n_a; ++c) a[c] = 0;
  for (int64_t j = 0; j < d_y; ++j) {
    const real yj = yz[j];
    const real *row = cg + j * n_a;
    for (int64_t c = 0; c < n_a; ++c) a[c] += yj * row[c];
  }
}

/* gy[j] = sum_c cg[j, c] ga[c]: the gradient of y of one sample from that of A */
static void gy_row(const real *restrict cg, const real *restrict ga, real *restrict gyz, int64_t d_y, int64_t n_a) {
  for (int64_t j = 0; j < d_y; ++j) {
    const real *row = cg + j * n_a;
    vec acc = {0};
    int64_t c = 0;
    for (; c + VL <= n_a; c += VL) acc += vload(row + c) * vload(ga + c);
    real tot = hsum(acc);
    for (; c < n_a; ++c) tot += row[c] * ga[c];
    gyz[j] = tot;
  }
}

/* from e3nn's layout [mul, d] to [d, mul] (to_rows) or back: dst[i * mul + u] = src[u * d + i] */
static inline __attribute__((always_inline)) void transpose_d(real *restrict dst, const real *restrict src,
                                                              int64_t mul, int64_t d, int to_rows) {
  for (int64_t u = 0; u < mul; ++u)
    for (int64_t i = 0; i < d; ++i) {
      if (to_rows) dst[i * mul + u] = src[u * d + i];
      else dst[u * d + i] = src[i * mul + u];
    }
}

static void transpose(real *dst, const real *src, int64_t mul, int64_t d, int to_rows) {
  switch (d) {
    case 1: memcpy(dst, src, sizeof(real) * mul); break;
    case 3: transpose_d(dst, src, mul, 3, to_rows); break;
    case 5: transpose_d(dst, src, mul, 5, to_rows); break;
    case 7: transpose_d(dst, src, mul, 7, to_rows); break;
    default: transpose_d(dst, src, mul, d, to_rows);
  }
}

/* xt[i * mul + u] = x[u * d1 + i] for every input block */
static void transpose_in(const job_t *jb, const real *restrict xz, real *restrict xt) {
  for (int64_t n = 0; n < jb->n_in; ++n) {
    const in_t b = jb->ins[n];
    transpose(xt + b.xt, xz + b.xs, b.mul, b.d1, 1);
  }
}

/* t[k * mul + u] (+)= sum_i a[k * ak + i] xt[i * mul + u] */
static inline __attribute__((always_inline)) void contract(const real *restrict a, int64_t ak, const real *restrict xt,
                                                           real *restrict t, int64_t d_o, int64_t d1, int64_t mul,
                                                           int add) {
  const int64_t nv = mul / VL * VL;
  for (int64_t u = 0; u < nv; u += VL) {
    vec xv[MAXD];
    for (int64_t i = 0; i < d1; ++i) xv[i] = vload(xt + i * mul + u);
    for (int64_t k = 0; k < d_o; ++k) {
      const real *ar = a + k * ak;
      vec s = ar[0] * xv[0];
      for (int64_t i = 1; i < d1; ++i) s += ar[i] * xv[i];
      if (add) s += vload(t + k * mul + u);
      vstore(t + k * mul + u, s);
    }
  }
  for (int64_t u = nv; u < mul; ++u)
    for (int64_t k = 0; k < d_o; ++k) {
      real s = add ? t[k * mul + u] : 0;
      for (int64_t i = 0; i < d1; ++i) s += a[k * ak + i] * xt[i * mul + u];
      t[k * mul + u] = s;
    }
}

static void contract_any(const real *a, int64_t ak, const real *xt, real *t, int64_t d_o, int64_t d1, int64_t mul,
                         int add) {
  switch (d1) {
    case 1: contract(a, ak, xt, t, d_o, 1, mul, add); break;
    case 3: contract(a, ak, xt, t, d_o, 3, mul, add); break;
    case 5: contract(a, ak, xt, t, d_o, 5, mul, add); break;
    case 7: contract(a, ak, xt, t, d_o, 7, mul, add); break;
    default: contract(a, ak, xt, t, d_o, d1, mul, add);
  }
}

/* acc[k * n + c] (+)= sum_r t[k * m + r] b[r * n + c]: the channel mixing (t = T, b = W: n = mul_out) and the
   gradient of T (t = g, b = W^T: n = mul1). The accumulators of cc column vectors of all d_o rows stay in
   registers: d_o * cc independent sums, enough to hide the latency of the multiply-adds. */
static inline __attribute__((always_inline)) void mix_cols(const real *restrict t, int64_t m, const real *restrict b,
                                                           int64_t n, real *restrict acc, int64_t d_o, int first,
                                                           int64_t c, const int cc) {
  vec s[MAXD][4];
  for (int64_t k = 0; k < d_o; ++k)
    for (int j = 0; j < cc; ++j) s[k][j] = first ? (vec){0} : vload(acc + k * n + c + j * VL);
  for (int64_t r = 0; r < m; ++r) {
    vec bv[4];
    for (int j = 0; j < cc; ++j) bv[j] = vload(b + r * n + c + j * VL);
    for (int64_t k = 0; k < d_o; ++k) {
      const real tk = t[k * m + r];
      for (int j = 0; j < cc; ++j) s[k][j] += tk * bv[j];
    }
  }
  for (int64_t k = 0; k < d_o; ++k)
    for (int j = 0; j < cc; ++j) vstore(acc + k * n + c + j * VL, s[k][j]);
}

static inline __attribute__((always_inline)) void mix(const real *restrict t, int64_t m, const real *restrict b,
                                                      int64_t n, real *restrict acc, int64_t d_o, int first) {
  int64_t c = 0;
  if (d_o <= 3) {
    for (; c + 4 * VL <= n; c += 4 * VL) mix_cols(t, m, b, n, acc, d_o, first, c, 4);
  } else if (d_o <= 5) {
    for (; c + 2 * VL <= n; c += 2 * VL) mix_cols(t, m, b, n, acc, d_o, first, c, 2);
  }
  for (; c + VL <= n; c += VL) mix_cols(t, m, b, n, acc, d_o, first, c, 1);
  for (; c < n; ++c)
    for (int64_t k = 0; k < d_o; ++k) {
      real s = first ? 0 : acc[k * n + c];
      for (int64_t r = 0; r < m; ++r) s += t[k * m + r] * b[r * n + c];
      acc[k * n + c] = s;
    }
}

static void mix_any(const real *t, int64_t m, const real *b, int64_t n, real *acc, int64_t d_o, int first) {
  switch (d_o) {
    case 1: mix(t, m, b, n, acc, 1, first); break;
    case 3: mix(t, m, b, n, acc, 3, first); break;
    case 5: mix(t, m, b, n, acc, 5, first); break;
    case 7: mix(t, m, b, n, acc, 7, first); break;
    default: mix(t, m, b, n, acc, d_o, first);
  }
}

/* gw[u * n + c] (+)= sum_s sum_k t[s * ts + k * m + u] g[s * gs + k * n + c]: the weight gradient of a block of
   samples (init: gw is written, not added to). A tile of U rows and CC column vectors of gw stays in registers over
   the whole sum. */
static inline __attribute__((always_inline)) void outer_tile(const real *restrict t, int64_t ts,
    const real *restrict g, int64_t gs, int64_t nb, int64_t rows, int64_t m, int64_t n, real *restrict gw, int64_t u,
    int64_t c, const int U, const int CC, int init) {
  vec acc[4][2];
  for (int i = 0; i < U; ++i)
    for (int j = 0; j < CC; ++j) acc[i][j] = init ? (vec){0} : vload(gw + (u + i) * n + c + j * VL);
  for (int64_t s = 0; s < nb; ++s)
    for (int64_t k = 0; k < rows; ++k) {
      const real *gr = g + s * gs + k * n + c, *tr = t + s * ts + k * m + u;
      vec gv[2];
      for (int j = 0; j < CC; ++j) gv[j] = vload(gr + j * VL);
      for (int i = 0; i < U; ++i) {
        const real tv = tr[i];
        for (int j = 0; j < CC; ++j) acc[i][j] += tv * gv[j];
      }
    }
  for (int i = 0; i < U; ++i)
    for (int j = 0; j < CC; ++j) vstore(gw + (u + i) * n + c + j * VL, acc[i][j]);
}

static void outer_block(const real *t, int64_t ts, const real *g, int64_t gs, int64_t nb, int64_t rows, int64_t m,
                        int64_t n, real *gw, int init) {
  int64_t c = 0;
  for (; c + 2 * VL <= n; c += 2 * VL) {
    int64_t u = 0;
    for (; u + 4 <= m; u += 4) outer_tile(t, ts, g, gs, nb, rows, m, n, gw, u, c, 4, 2, init);
    for (; u < m; ++u) outer_tile(t, ts, g, gs, nb, rows, m, n, gw, u, c, 1, 2, init);
  }
  for (; c + VL <= n; c += VL) {
    int64_t u = 0;
    for (; u + 4 <= m; u += 4) outer_tile(t, ts, g, gs, nb, rows, m, n, gw, u, c, 4, 1, init);
    for (; u < m; ++u) outer_tile(t, ts, g, gs, nb, rows, m, n, gw, u, c, 1, 1, init);
  }
  for (; c < n; ++c)
    for (int64_t u = 0; u < m; ++u) {
      real acc = init ? 0 : gw[u * n + c];
      for (int64_t s = 0; s < nb; ++s)
        for (int64_t k = 0; k < rows; ++k) acc += t[s * ts + k * m + u] * g[s * gs + k * n + c];
      gw[u * n + c] = acc;
    }
}

/* the sums over the lanes of VL vectors, as one vector */
#if defined(__clang__)
#define SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#if VL == 8 /* float */
typedef int32_t lane_t __attribute__((vector_size(VL * sizeof(real))));
#else /* double */
typedef int64_t lane_t __attribute__((vector_size(VL * sizeof(real))));
#endif
#define SHUF(a, b, ...) __builtin_shuffle(a, b, (lane_t){__VA_ARGS__})
#endif
static inline vec reduce_lanes(const vec *v) {
#if VL == 8
#define PAIR(a, b) (SHUF(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + SHUF(a, b, 1, 3, 9, 11, 5, 7, 13, 15))
  const vec t0 = PAIR(PAIR(v[0], v[1]), PAIR(v[2], v[3])), t1 = PAIR(PAIR(v[4], v[5]), PAIR(v[6], v[7]));
  return SHUF(t0, t1, 0, 1, 2, 3, 8, 9, 10, 11) + SHUF(t0, t1, 4, 5, 6, 7, 12, 13, 14, 15);
#elif VL == 4
#define PAIR(a, b) (SHUF(a, b, 0, 4, 2, 6) + SHUF(a, b, 1, 5, 3, 7))
  const vec t0 = PAIR(v[0], v[1]), t1 = PAIR(v[2], v[3]);
  return SHUF(t0, t1, 0, 1, 4, 5) + SHUF(t0, t1, 2, 3, 6, 7);
#else
  vec r;
  for (int l = 0; l < VL; ++l) r[l] = hsum(v[l]);
  return r;
#endif
#undef PAIR
}

/* out[k * nu + u] (+)= sum_c g[k * nc + c] b[u * nc + c]: the product with b transposed (per-sample weights, whose
   transpose is not worth making): VL rows of b at a time, their dot products summed over lanes together */
static void mix_t(const real *restrict g, int64_t nc, const real *restrict b, int64_t nu, real *restrict out,
                  int64_t d, int add) {
  const int64_t cv = nc / VL * VL;
  for (int64_t k = 0; k < d; ++k) {
    const real *gk = g + k * nc;
    int64_t u = 0;
    for (; u + VL <= nu; u += VL) {
      vec acc[VL];
      for (int l = 0; l < VL; ++l) acc[l] = (vec){0};
      for (int64_t c = 0; c < cv; c += VL) {
        const vec gv = vload(gk + c);
        for (int l = 0; l < VL; ++l) acc[l] += vload(b + (u + l) * nc + c) * gv;
      }
      vec r = reduce_lanes(acc);
      for (int64_t c = cv; c < nc; ++c)
        for (int l = 0; l < VL; ++l) r[l] += gk[c] * b[(u + l) * nc + c];
      if (add) r += vload(out + k * nu + u);
      vstore(out + k * nu + u, r);
    }
    for (; u < nu; ++u) {
      real acc = add ? out[k * nu + u] : 0;
      for (int64_t c = 0; c < nc; ++c) acc += gk[c] * b[u * nc + c];
      out[k * nu + u] = acc;
    }
  }
}

/* gxt[i * mul + u] += sum_k a[k * ak + i] gt[k * mul + u];  ga[k * ak + i] = sum_u gt[k * mul + u] xt[i * mul + u] */
static inline __attribute__((always_inline)) void contract_back_d(const real *restrict a, int64_t ak,
    const real *restrict gt, const real *restrict xt, real *restrict gxt, real *restrict ga, int64_t d_o, int64_t d1,
    int64_t mul) {
  const int64_t nv = mul / VL * VL;
  if (gxt) {
    for (int64_t u = 0; u < nv; u += VL) {
      vec s[MAXD];
      for (int64_t i = 0; i < d1; ++i) s[i] = vload(gxt + i * mul + u);
      for (int64_t k = 0; k < d_o; ++k) {
        const vec gv = vload(gt + k * mul + u);
        for (int64_t i = 0; i < d1; ++i) s[i] += a[k * ak + i] * gv;
      }
      for (int64_t i = 0; i < d1; ++i) vstore(gxt + i * mul + u, s[i]);
    }
    for (int64_t u = nv; u < mul; ++u)
      for (int64_t i = 0; i < d1; ++i) {
        real s = gxt[i * mul + u];
        for (int64_t k = 0; k < d_o; ++k) s += a[k * ak + i] * gt[k * mul + u];
        gxt[i * mul + u] = s;
      }
  }
  if (ga) {
    for (int64_t k = 0; k < d_o; ++k)
      for (int64_t i = 0; i < d1; ++i) {
        const real *gk = gt + k * mul, *xi = xt + i * mul;
        vec s = {0};
        for (int64_t u = 0; u < nv; u += VL) s += vload(gk + u) * vload(xi + u);
        real tot = hsum(s);
        for (int64_t u = nv; u < mul; ++u) tot += gk[u] * xi[u];
        ga[k * ak + i] = tot;
      }
  }
}

static void contract_back(const real *a, int64_t ak, const real *gt, const real *xt, real *gxt, real *ga, int64_t d_o,
                          int64_t d1, int64_t mul) {
  switch (d1 * 100 + d_o) {
#define CASE(D1, DO) case D1 * 100 + DO: contract_back_d(a, ak, gt, xt, gxt, ga, DO, D1, mul); break;
    CASE(1, 1) CASE(1, 3) CASE(1, 5) CASE(1, 7) CASE(3, 1) CASE(3, 3) CASE(3, 5) CASE(3, 7)
    CASE(5, 1) CASE(5, 3) CASE(5, 5) CASE(5, 7) CASE(7, 1) CASE(7, 3) CASE(7, 5) CASE(7, 7)
#undef CASE
    default: contract_back_d(a, ak, gt, xt, gxt, ga, d_o, d1, mul);
  }
}

static void forward_range(job_t *jb) {
  real *a = malloc(sizeof(real) * (jb->n_a + jb->xt_len + jb->t_len + jb->g_len + 1));
  if (!a) { jb->status = 1; return; }
  real *xt = a + jb->n_a, *tb = xt + jb->xt_len, *acc = tb + jb->t_len;
  for (int64_t z = jb->z0; z < jb->z1; ++z) {
    const real *xz = jb->x + z * jb->ld_x;
    real *oz = jb->out + z * jb->ld_out;
    const real *wz = jb->w + z * jb->ld_w;  /* ld_w = 0: shared weights */
    amat(jb->y + z * jb->ld_y, jb->cg, a, jb->d_y, jb->n_a);
    transpose_in(jb, xz, xt);
    for (int64_t o = 0; o < jb->n_out; ++o) {
      const out_t ob = jb->outs[o];
      if (ob.p0 == ob.p1) { memset(oz + ob.os, 0, sizeof(real) * ob.d_o * ob.mul); continue; }
      for (int64_t n = ob.p0; n < ob.p1; ++n) {
        const path_t p = jb->paths[n];
        const real *xa = xt + jb->ins[p.a].xt;
        if (p.early) {  /* d1 < d_o: mix the channels first, X[i, w] = sum_u x[u, i] W[u, w] */
          mix_any(xa, p.mul1, wz + p.w_off, p.mul_out, tb, p.d1, 1);
          contract_any(a + p.acol, p.ak, tb, acc, p.d_o, p.d1, p.mul_out, n != ob.p0);
        } else {
          contract_any(a + p.acol, p.ak, xa, tb, p.d_o, p.d1, p.mul1, 0);
          mix_any(tb, p.mul1, wz + p.w_off, p.mul_out, acc, p.d_o, n == ob.p0);
        }
      }
      transpose(oz + ob.os, acc, ob.mul, ob.d_o, 0);
    }
  }
  free(a);
}

#define BLOCK 8 /* samples whose weight gradients are summed in registers before gw is read and written */

static void backward_range(job_t *jb) {
  const int64_t na = jb->n_a, nx = jb->xt_len, ng = jb->ld_out, nt = jb->t_len;
  real *buf = malloc(sizeof(real) * (BLOCK * (na + nx + ng + nt) + na + nx + 2 * nt + 1));
  if (!buf) { jb->status = 1; return; }
  real *ab = buf, *xtb = ab + BLOCK * na, *gkb = xtb + BLOCK * nx, *tbb = gkb + BLOCK * ng;
  real *ga = tbb + BLOCK * nt, *gxt = ga + na, *gtb = gxt + nx, *tb = gtb + nt;
  const int need_xt = jb->gw || jb->gy, shared = jb->ld_w == 0;
  for (int64_t z0 = jb->z0; z0 < jb->z1; z0 += BLOCK) {
    const int64_t nb = jb->z1 - z0 < BLOCK ? jb->z1 - z0 : BLOCK;
    for (int64_t s = 0; s < nb; ++s) {  /* A, x and the output gradient in rows, for the block */
      const int64_t z = z0 + s;
      amat(jb->y + z * jb->ld_y, jb->cg, ab + s * na, jb->d_y, na);
      if (need_xt) transpose_in(jb, jb->x + z * jb->ld_x, xtb + s * nx);
      for (int64_t o = 0; o < jb->n_out; ++o) {
        const out_t ob = jb->outs[o];
        if (ob.p0 < ob.p1) transpose(gkb + s * ng + ob.os, jb->grad + z * jb->ld_out + ob.os, ob.mul, ob.d_o, 1);
      }
    }
    /* gradients of x and y (and of per-sample weights), sample by sample */
    for (int64_t s = 0; (jb->gx || jb->gy || (jb->gw && !shared)) && s < nb; ++s) {
      const int64_t z = z0 + s;
      const real *a = ab + s * na, *xt = xtb + s * nx, *wz = jb->w + z * jb->ld_w;
      real *gwz = jb->gw && !shared ? jb->gw + z * jb->ld_w : 0;
      if (jb->gx) memset(gxt, 0, sizeof(real) * nx);
      for (int64_t o = 0; o < jb->n_out; ++o) {
        const out_t ob = jb->outs[o];
        const real *gk = gkb + s * ng + ob.os;
        for (int64_t n = ob.p0; n < ob.p1; ++n) {
          const path_t p = jb->paths[n];
          const real *xa = xt + jb->ins[p.a].xt;
          real *gxa = jb->gx ? gxt + jb->ins[p.a].xt : 0, *gap = jb->gy ? ga + p.acol : 0;
          if (p.early) {  /* gX[i, w] = sum_k A[k, i] g[k, w]; gA[k, i] = sum_w g[k, w] X[i, w] */
            if (gap) mix_any(xa, p.mul1, wz + p.w_off, p.mul_out, tb, p.d1, 1);
            memset(gtb, 0, sizeof(real) * p.d1 * p.mul_out);
            contract_back(a + p.acol, p.ak, gk, tb, gtb, gap, p.d_o, p.d1, p.mul_out);
            if (gxa && shared) mix_any(gtb, p.mul_out, jb->wt + p.w_off, p.mul1, gxa, p.d1, 0);
            if (gxa && !shared) mix_t(gtb, p.mul_out, wz + p.w_off, p.mul1, gxa, p.d1, 1);
            if (gwz) {  /* gW[u, w] = sum_i x[u, i] gX[i, w] */
              outer_block(xa, 0, gtb, 0, 1, p.d1, p.mul1, p.mul_out, gwz + p.w_off, 1);
            }
            continue;
          }
          if (gxa || gap) {  /* gT[k, u] = sum_w g[k, w] W[u, w] */
            if (shared) mix_any(gk, p.mul_out, jb->wt + p.w_off, p.mul1, gtb, p.d_o, 1);
            else mix_t(gk, p.mul_out, wz + p.w_off, p.mul1, gtb, p.d_o, 0);
            contract_back(a + p.acol, p.ak, gtb, xa, gxa, gap, p.d_o, p.d1, p.mul1);
          }
          if (gwz) {  /* gW[u, w] = sum_k T[k, u] g[k, w] */
            contract_any(a + p.acol, p.ak, xa, tb, p.d_o, p.d1, p.mul1, 0);
            outer_block(tb, 0, gk, 0, 1, p.d_o, p.mul1, p.mul_out, gwz + p.w_off, 1);
          }
        }
      }
      if (jb->gx) {
        real *gxz = jb->gx + z * jb->ld_x;
        for (int64_t n = 0; n < jb->n_in; ++n) {
          const in_t b = jb->ins[n];
          transpose(gxz + b.xs, gxt + b.xt, b.mul, b.d1, 0);
        }
      }
      if (jb->gy) gy_row(jb->cg, ga, jb->gy + z * jb->ld_y, jb->d_y, na);
    }
    for (int64_t n = 0; jb->gw && shared && n < jb->n_paths; ++n) {  /* shared weights' gradients, for the block */
      const path_t p = jb->paths[n];
      const int64_t os = jb->outs[p.o].os, xo = jb->ins[p.a].xt;
      for (int64_t s = 0; s < nb; ++s) {
        real *t = tbb + s * nt;
        if (p.early) {  /* gW[u, w] += sum_i x[u, i] gX[i, w] */
          memset(t, 0, sizeof(real) * p.d1 * p.mul_out);
          contract_back(ab + s * na + p.acol, p.ak, gkb + s * ng + os, 0, t, 0, p.d_o, p.d1, p.mul_out);
        } else {  /* gW[u, w] += sum_k T[k, u] g[k, w] */
          contract_any(ab + s * na + p.acol, p.ak, xtb + s * nx + xo, t, p.d_o, p.d1, p.mul1, 0);
        }
      }
      if (p.early) outer_block(xtb + xo, nx, tbb, nt, nb, p.d1, p.mul1, p.mul_out, jb->gw + p.w_off, 0);
      else outer_block(tbb, nt, gkb + os, ng, nb, p.d_o, p.mul1, p.mul_out, jb->gw + p.w_off, 0);
    }
  }
  free(buf);
}

/* ------------------------------------------------------------------------------------------------ "uvu" */

/* acc[k * mul + u] (+)= w[u] sum_i a[k * d1 + i] xt[i * mul + u]: one path, vectorised over the channels u */
static inline __attribute__((always_inline)) void uvu_contract_d(const real *restrict a, const real *restrict xt,
    const real *restrict w, real *restrict acc, int64_t d_o, int64_t d1, int64_t mul, int add) {
  const int64_t nv = mul / VL * VL;
  for (int64_t u = 0; u < nv; u += VL) {
    vec xv[MAXD];
    for (int64_t i = 0; i < d1; ++i) xv[i] = vload(xt + i * mul + u);
    const vec wv = vload(w + u);
    for (int64_t k = 0; k < d_o; ++k) {
      const real *ar = a + k * d1;
      vec s = ar[0] * xv[0];
      for (int64_t i = 1; i < d1; ++i) s += ar[i] * xv[i];
      s *= wv;
      if (add) s += vload(acc + k * mul + u);
      vstore(acc + k * mul + u, s);
    }
  }
  for (int64_t u = nv; u < mul; ++u)
    for (int64_t k = 0; k < d_o; ++k) {
      real s = 0;
      for (int64_t i = 0; i < d1; ++i) s += a[k * d1 + i] * xt[i * mul + u];
      s *= w[u];
      acc[k * mul + u] = add ? acc[k * mul + u] + s : s;
    }
}

static void uvu_contract(const real *a, const real *xt, const real *w, real *acc, int64_t d_o, int64_t d1,
                         int64_t mul, int add) {
  switch (d1 * 100 + d_o) {
#define CASE(D1, DO) case D1 * 100 + DO: uvu_contract_d(a, xt, w, acc, DO, D1, mul, add); break;
    CASE(1, 1) CASE(1, 3) CASE(1, 5) CASE(1, 7) CASE(3, 1) CASE(3, 3) CASE(3, 5) CASE(3, 7)
    CASE(5, 1) CASE(5, 3) CASE(5, 5) CASE(5, 7) CASE(7, 1) CASE(7, 3) CASE(7, 5) CASE(7, 7)
#undef CASE
    default: uvu_contract_d(a, xt, w, acc, d_o, d1, mul, add);
  }
}

/* The backward of one path, with H[i, u] = sum_k a[k * d1 + i] g[k * mul + u]:
     gxt[i * mul + u] += w[u] H[i, u];   gw[u] (+)= sum_i xt[i * mul + u] H[i, u];
     ga[k * d1 + i] = sum_u g[k * mul + u] w[u] xt[i * mul + u]
   (each optional: null when not wanted; gw_add: accumulate into gw, else write it) */
static inline __attribute__((always_inline)) void uvu_back_d(const real *restrict a, const real *restrict g,
    const real *restrict xt, const real *restrict w, real *restrict gxt, real *restrict gw, real *restrict ga,
    int64_t d_o, int64_t d1, int64_t mul, int gw_add) {
  const int64_t nv = mul / VL * VL;
  vec gacc[MAXD * MAXD];
  if (ga)
    for (int64_t c = 0; c < d_o * d1; ++c) gacc[c] = (vec){0};
  for (int64_t u = 0; u < nv; u += VL) {
    const vec wv = vload(w + u);
    vec xv[MAXD], gv[MAXD];
    for (int64_t i = 0; i < d1; ++i) xv[i] = gw || ga ? vload(xt + i * mul + u) : (vec){0};  /* (xt: unset) */
    for (int64_t k = 0; k < d_o; ++k) gv[k] = vload(g + k * mul + u);
    if (gxt || gw) {
      vec gwv = {0};
      for (int64_t i = 0; i < d1; ++i) {
        vec h = a[i] * gv[0];
        for (int64_t k = 1; k < d_o; ++k) h += a[k * d1 + i] * gv[k];
        if (gxt) vstore(gxt + i * mul + u, vload(gxt + i * mul + u) + wv * h);
        if (gw) gwv += xv[i] * h;
      }
      if (gw) vstore(gw + u, gw_add ? vload(gw + u) + gwv : gwv);
    }
    if (ga)
      for (int64_t i = 0; i < d1; ++i) {
        const vec xw = wv * xv[i];
        for (int64_t k = 0; k < d_o; ++k) gacc[k * d1 + i] += gv[k] * xw;
      }
  }
  if (ga)
    for (int64_t c = 0; c < d_o * d1; ++c) ga[c] = hsum(gacc[c]);
  for (int64_t u = nv; u < mul; ++u) {
    real gws = 0;
    for (int64_t i = 0; i < d1; ++i) {
      real h = 0;
      for (int64_t k = 0; k < d_o; ++k) h += a[k * d1 + i] * g[k * mul + u];
      if (gxt) gxt[i * mul + u] += w[u] * h;
      if (gw) gws += xt[i * mul + u] * h;
      if (ga)
        for (int64_t k = 0; k < d_o; ++k) ga[k * d1 + i] += g[k * mul + u] * w[u] * xt[i * mul + u];
    }
    if (gw) gw[u] = gw_add ? gw[u] + gws : gws;
  }
}

static void uvu_back(const real *a, const real *g, const real *xt, const real *w, real *gxt, real *gw, real *ga,
                     int64_t d_o, int64_t d1, int64_t mul, int gw_add) {
  switch (d1 * 100 + d_o) {
#define CASE(D1, DO) case D1 * 100 + DO: uvu_back_d(a, g, xt, w, gxt, gw, ga, DO, D1, mul, gw_add); break;
    CASE(1, 1) CASE(1, 3) CASE(1, 5) CASE(1, 7) CASE(3, 1) CASE(3, 3) CASE(3, 5) CASE(3, 7)
    CASE(5, 1) CASE(5, 3) CASE(5, 5) CASE(5, 7) CASE(7, 1) CASE(7, 3) CASE(7, 5) CASE(7, 7)
#undef CASE
    default: uvu_back_d(a, g, xt, w, gxt, gw, ga, d_o, d1, mul, gw_add);
  }
}

static void uvu_forward_range(job_t *jb) {
  real *a = malloc(sizeof(real) * (jb->n_a + jb->xt_len + jb->g_len + 1));
  if (!a) { jb->status = 1; return; }
  real *xt = a + jb->n_a, *accb = xt + jb->xt_len;
  for (int64_t z = jb->z0; z < jb->z1; ++z) {
    real *oz = jb->out + z * jb->ld_out;
    const real *wz = jb->w + z * jb->ld_w;  /* ld_w = 0: shared weights */
    amat(jb->y + z * jb->ld_y, jb->cg, a, jb->d_y, jb->n_a);
    transpose_in(jb, jb->x + z * jb->ld_x, xt);
    for (int64_t o = 0; o < jb->n_out; ++o) {
      const out_t ob = jb->outs[o];
      if (ob.p0 == ob.p1) { memset(oz + ob.os, 0, sizeof(real) * ob.d_o * ob.mul); continue; }
      real *acc = ob.d_o == 1 ? oz + ob.os : accb;  /* (d_o = 1: the layouts agree) */
      for (int64_t n = ob.p0; n < ob.p1; ++n) {
        const upath_t p = jb->upaths[n];
        uvu_contract(a + p.acol, xt + jb->ins[p.a].xt, wz + p.w_off, acc, p.d_o, p.d1, p.mul, n != ob.p0);
      }
      if (ob.d_o > 1) transpose(oz + ob.os, acc, ob.mul, ob.d_o, 0);
    }
  }
  free(a);
}

static void uvu_backward_range(job_t *jb) {
  const int64_t na = jb->n_a, nx = jb->xt_len;
  real *buf = malloc(sizeof(real) * (2 * na + 2 * nx + jb->g_len + 1));
  if (!buf) { jb->status = 1; return; }
  real *a = buf, *ga = a + na, *xt = ga + na, *gxt = xt + nx, *gkb = gxt + nx;
  const int shared = jb->ld_w == 0;
  for (int64_t z = jb->z0; z < jb->z1; ++z) {
    const real *wz = jb->w + z * jb->ld_w, *gz = jb->grad + z * jb->ld_out;
    real *gwz = jb->gw ? jb->gw + z * jb->ld_w : 0;  /* shared: this thread's sum */
    amat(jb->y + z * jb->ld_y, jb->cg, a, jb->d_y, na);
    if (jb->gw || jb->gy) transpose_in(jb, jb->x + z * jb->ld_x, xt);
    if (jb->gx) memset(gxt, 0, sizeof(real) * nx);
    for (int64_t o = 0; o < jb->n_out; ++o) {
      const out_t ob = jb->outs[o];
      if (ob.p0 == ob.p1) continue;
      const real *gk = gz + ob.os;
      if (ob.d_o > 1) { transpose(gkb, gz + ob.os, ob.mul, ob.d_o, 1); gk = gkb; }
      for (int64_t n = ob.p0; n < ob.p1; ++n) {
        const upath_t p = jb->upaths[n];
        const int64_t xo = jb->ins[p.a].xt;
        uvu_back(a + p.acol, gk, xt + xo, wz + p.w_off, jb->gx ? gxt + xo : 0, gwz ? gwz + p.w_off : 0,
                 jb->gy ? ga + p.acol : 0, p.d_o, p.d1, p.mul, shared);
      }
    }
    if (jb->gx) {
      real *gxz = jb->gx + z * jb->ld_x;
      for (int64_t n = 0; n < jb->n_in; ++n) {
        const in_t b = jb->ins[n];
        transpose(gxz + b.xs, gxt + b.xt, b.mul, b.d1, 0);
      }
    }
    if (jb->gy) gy_row(jb->cg, ga, jb->gy + z * jb->ld_y, jb->d_y, na);
  }
  free(buf);
}

static void *thread_main(void *q) { job_t *jb = q; jb->range(jb); return 0; }

/* Runs proto.range on [0, z) on n_threads threads (the calling one included); returns 0 on success. With shared
   weights (ld_w = 0) a backward's threads accumulate their weight gradients apart, summed into proto.gw at the end. */
static int run(job_t proto, int64_t z, int n_threads, int backward) {
  if (n_threads < 1) n_threads = 1;
  if (n_threads > z) n_threads = z > 0 ? (int)z : 1;
  job_t *jobs = malloc(sizeof(job_t) * n_threads);
  pthread_t *threads = malloc(sizeof(pthread_t) * n_threads);
  real *gw_parts = 0;
  const int parts = backward && proto.gw && proto.ld_w == 0 && n_threads > 1;  /* per-sample: rows of their own */
  if (parts) gw_parts = calloc((size_t)(n_threads - 1) * proto.numel + 1, sizeof(real));
  if (!jobs || !threads || (parts && !gw_parts)) {
    free(jobs); free(threads); free(gw_parts);
    return 1;
  }
  int started = 1, status = 0;
  for (int k = 0; k < n_threads; ++k) {
    jobs[k] = proto;
    jobs[k].z0 = z * k / n_threads;
    jobs[k].z1 = z * (k + 1) / n_threads;
    if (k > 0 && gw_parts) jobs[k].gw = gw_parts + (size_t)(k - 1) * proto.numel;
  }
  for (int k = 1; k < n_threads; ++k, ++started)
    if (pthread_create(&threads[k], 0, thread_main, &jobs[k])) break;
  for (int k = started; k < n_threads; ++k) jobs[k].range(&jobs[k]);  /* threads that could not start: run here */
  jobs[0].range(&jobs[0]);
  for (int k = 1; k < started; ++k) pthread_join(threads[k], 0);
  for (int k = 0; k < n_threads; ++k) status |= jobs[k].status;
  if (gw_parts) {
    for (int k = 1; k < n_threads; ++k) {
      const real *part = jobs[k].gw;
      for (int64_t e = 0; e < proto.numel; ++e) proto.gw[e] += part[e];
    }
  }
  free(gw_parts); free(jobs); free(threads);
  return status;
}

/* sizes: n_in, n_out, n_paths, d_y, n_a, ld_x, ld_y, ld_out, numel, xt_len, t_len, g_len, ld_w (0: shared weights,
   else per-sample weights [z, ld_w]) */
int NAME(st_tp_forward)(int64_t z, const int64_t *sizes, const path_t *paths, const in_t *ins, const out_t *outs,
                        const real *x, const real *y, const real *w, const real *cg, real *out, int n_threads) {
  job_t j = {0, 0, sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5], sizes[6], sizes[7], sizes[8], sizes[9],
             sizes[10], sizes[11], sizes[12], paths, ins, outs, x, y, w, 0, cg, 0, out, 0, 0, 0, 0, 0, forward_range};
  return run(j, z, n_threads, 0);
}

/* gx, gy, gw may be null (not wanted); shared: gw (zeroed by the caller) accumulates; per-sample: each path's block
   of gw's rows is written (the caller zeroes the weights of no path) */
int NAME(st_tp_backward)(int64_t z, const int64_t *sizes, const path_t *paths, const in_t *ins, const out_t *outs,
                         const real *x, const real *y, const real *w, const real *cg, const real *grad, real *gx,
                         real *gy, real *gw, int n_threads) {
  real *wt = 0;
  if ((gx || gy) && sizes[12] == 0) {  /* each path's shared [mul1, mul_out] weights transposed, at the same offset */
    wt = malloc(sizeof(real) * (sizes[8] + 1));
    if (!wt) return 1;
    for (int64_t n = 0; n < sizes[2]; ++n) {
      const path_t p = paths[n];
      for (int64_t u = 0; u < p.mul1; ++u)
        for (int64_t c = 0; c < p.mul_out; ++c) wt[p.w_off + c * p.mul1 + u] = w[p.w_off + u * p.mul_out + c];
    }
  }
  job_t j = {0, 0, sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5], sizes[6], sizes[7], sizes[8], sizes[9],
             sizes[10], sizes[11], sizes[12], paths, ins, outs, x, y, w, wt, cg, grad, 0, gx, gy, gw, 0, 0,
             backward_range};
  const int status = run(j, z, n_threads, 1);
  free(wt);
  return status;
}

/* "uvu": the same sizes (t_len unused), paths upath_t, outs' p0 / p1 index paths; g_len >= d_o * mul of every output */
int NAME(st_tpuvu_forward)(int64_t z, const int64_t *sizes, const upath_t *paths, const in_t *ins, const out_t *outs,
                           const real *x, const real *y, const real *w, const real *cg, real *out, int n_threads) {
  job_t j = {.n_in = sizes[0], .n_out = sizes[1], .n_paths = sizes[2], .d_y = sizes[3], .n_a = sizes[4],
             .ld_x = sizes[5], .ld_y = sizes[6], .ld_out = sizes[7], .numel = sizes[8], .xt_len = sizes[9],
             .t_len = sizes[10], .g_len = sizes[11], .ld_w = sizes[12], .upaths = paths, .ins = ins, .outs = outs,
             .x = x, .y = y, .w = w, .cg = cg, .out = out, .range = uvu_forward_range};
  return run(j, z, n_threads, 0);
}

/* gx, gy, gw may be null (not wanted); shared: gw (zeroed by the caller) accumulates; per-sample: each path's
   weights in gw's rows are written (the caller zeroes the weights of no path) */
int NAME(st_tpuvu_backward)(int64_t z, const int64_t *sizes, const upath_t *paths, const in_t *ins,
                            const out_t *outs, const real *x, const real *y, const real *w, const real *cg,
                            const real *grad, real *gx, real *gy, real *gw, int n_threads) {
  job_t j = {.n_in = sizes[0], .n_out = sizes[1], .n_paths = sizes[2], .d_y = sizes[3], .n_a = sizes[4],
             .ld_x = sizes[5], .ld_y = sizes[6], .ld_out = sizes[7], .numel = sizes[8], .xt_len = sizes[9],
             .t_len = sizes[10], .g_len = sizes[11], .ld_w = sizes[12], .upaths = paths, .ins = ins, .outs = outs,
             .x = x, .y = y, .w = w, .cg = cg, .grad = grad, .gx = gx, .gy = gy, .gw = gw,
             .range = uvu_backward_range};
  return run(j, z, n_threads, 1);
}
