/* CPU kernel of the cell-list radius search of _radius.py, compiled on first use by _radius_kernel.py through
 * steertorch._native (twice: REAL float / double, SUF the suffix of the exported names).
 *
 * Sources x [nx, d] and queries y [ny, d] (d <= 3; y may be x itself, `same`), with batch indices, are binned into
 * cubes of side `side` on a dense grid (dims[k] cells along axis k, one empty layer on each side, `per_batch` cells
 * per batch entry: the caller checks that the grid is small enough to be dense). st_radius_build sorts both sets by
 * cell with a stable counting sort (within a cell, by original index) and keeps cell-ordered copies of the
 * coordinates. Then two passes over the queries in cell order, threads taking contiguous ranges:
 *
 *   st_radius_count: counts[i] = #{ j in the 3^d cells around i : |x_j - y_i|^2 < r2 } (no j = i when `same` and
 *                    not `loop`)
 *   st_radius_fill:  the same pairs, sources sorted by index, written at offsets[i] (the exclusive prefix sum of the
 *                    counts in query order): out_q, out_s (and out_d2, the squared distances, when asked)
 *
 * so that the pairs come out sorted by (query, source), as the torch path gives them. Distances are computed in REAL
 * (the input's precision) and the cells in double, as the torch path. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(n) CAT(n, SUF)

typedef REAL real;

typedef struct {
  /* problem */
  int64_t nx, ny, d, same, loop, ncells, per_batch, noff;
  const real *x, *y;
  const int64_t *bx, *by, *dims, *strides, *offsets;
  const double *lo;
  double side;
  real r2;
  /* work (built by st_radius_build): cell_start [ncells + 1]; x_order [nx] (source of each cell-sorted slot);
   * xs [3][nx] (cell-sorted source coordinates, zero-padded); y_order [ny]; y_key [ny] (cell of each cell-sorted
   * query); ys [3][ny] (cell-sorted query coordinates; xs itself when same) */
  int64_t *cell_start, *x_order, *y_order, *y_key;
  real *xs, *ys;
  /* passes */
  int64_t *counts, *starts, *out_q, *out_s;
  real *out_d2;
  int64_t q0, q1;
  int fill, status;
} rjob_t;

static int64_t key_of(const rjob_t *j, const real *p, int64_t b) {
  int64_t key = b * j->per_batch;
  for (int64_t t = 0; t < 3; ++t) {
    int64_t c = 1;
    if (t < j->d) {
      const double f = floor(((double)p[t] - j->lo[t]) / j->side) + 1;
      c = f < 1 ? 1 : (f > (double)(j->dims[t] - 2) ? j->dims[t] - 2 : (int64_t)f);
    }
    key += c * j->strides[t];
  }
  return key;
}

/* stable counting sort of n points by cell: order[slot] = point, coordinates copied to sorted [3][n] (by slot),
 * keys (by slot) */
static int sort_by_cell(const rjob_t *j, const real *p, const int64_t *b, int64_t n, int64_t *start,
                        int64_t *order, real *sorted, int64_t *slot_key) {
  int64_t *key = malloc(sizeof(int64_t) * (n > 0 ? n : 1));
  if (!key) return 1;
  memset(start, 0, sizeof(int64_t) * (j->ncells + 1));
  for (int64_t i = 0; i < n; ++i) {
    key[i] = key_of(j, p + i * j->d, b[i]);
    start[key[i] + 1]++;
  }
  for (int64_t c = 0; c < j->ncells; ++c) start[c + 1] += start[c];
  for (int64_t i = 0; i < n; ++i) { /* start[c] runs through cell c's slots, then is restored below */
    const int64_t s = start[key[i]]++;
    order[s] = i;
    for (int64_t t = 0; t < 3; ++t) sorted[t * n + s] = t < j->d ? p[i * j->d + t] : 0;
    if (slot_key) slot_key[s] = key[i];
  }
  for (int64_t c = j->ncells; c > 0; --c) start[c] = start[c - 1];
  start[0] = 0;
  free(key);
  return 0;
}

int NAME(st_radius_build)(int64_t nx, int64_t ny, int64_t d, int64_t same, const real *x, const real *y,
                          const int64_t *bx, const int64_t *by, const double *lo, double side, const int64_t *dims,
                          const int64_t *strides, int64_t per_batch, int64_t ncells, int64_t *cell_start,
                          int64_t *x_order, real *xs, int64_t *y_order, int64_t *y_key, real *ys) {
  rjob_t j = {0};
  j.nx = nx, j.ny = ny, j.d = d, j.same = same, j.x = x, j.y = y, j.bx = bx, j.by = by, j.lo = lo, j.side = side;
  j.dims = dims, j.strides = strides, j.per_batch = per_batch, j.ncells = ncells;
  if (same) return sort_by_cell(&j, x, bx, nx, cell_start, x_order, xs, y_key);
  if (sort_by_cell(&j, x, bx, nx, cell_start, x_order, xs, 0)) return 1;
  int64_t *tmp = malloc(sizeof(int64_t) * (ncells + 1));
  if (!tmp) return 1;
  const int status = sort_by_cell(&j, y, by, ny, tmp, y_order, ys, y_key);
  free(tmp);
  return status;
}

typedef struct { int64_t j; real d2; } hit_t;

#define PREFETCH_AHEAD 8 /* queries */

/* the pairs of the query in slot qq (cell-sorted), counted or collected: the 3^d cells around it are 3^(d-1) runs of
 * three consecutive cells (the last axis is contiguous in the cell index), each a contiguous range of sorted sources;
 * the tests are branch-free (the ranges hold a handful of points, and a branch per point mispredicts) */
static int64_t query(const rjob_t *j, int64_t qq, real px, real py, real pz, int64_t self, hit_t *hits) {
  const real *sx = j->xs, *sy = j->xs + j->nx, *sz = j->xs + 2 * j->nx;
  const int64_t key = j->y_key[qq];
  int64_t n = 0;
  for (int64_t o = 0; o < j->noff; ++o) {
    const int64_t c = key + j->offsets[o];
    const int64_t s0 = j->cell_start[c - 1], s1 = j->cell_start[c + 2];
    if (!hits) {
      int64_t cnt = 0;
      for (int64_t s = s0; s < s1; ++s) {
        const real dx = sx[s] - px, dy = sy[s] - py, dz = sz[s] - pz;
        cnt += dx * dx + dy * dy + dz * dz < j->r2;
      }
      n += cnt;
    } else {
      for (int64_t s = s0; s < s1; ++s) {
        const real dx = sx[s] - px, dy = sy[s] - py, dz = sz[s] - pz;
        const real d2 = dx * dx + dy * dy + dz * dz;
        hits[n].j = s;
        hits[n].d2 = d2;
        n += (d2 < j->r2) & (s != self);
      }
    }
  }
  return hits || self < 0 ? n : n - 1; /* (counting: the query itself is one of them when it is excluded) */
}

static void *pass_thread(void *arg) {
  rjob_t *j = arg;
  /* room for every candidate of one query: the sources of its 3^(d-1) runs, at most the largest run each */
  int64_t cap = 0;
  hit_t *hits = 0;
  const real *ys = j->same ? j->xs : j->ys;
  const int64_t *y_order = j->same ? j->x_order : j->y_order;
  const int64_t excl = j->same && !j->loop;
  for (int64_t qq = j->q0; qq < j->q1; ++qq) {
    const int64_t qi = y_order[qq];
    const real px = ys[qq], py = ys[j->ny + qq], pz = ys[2 * j->ny + qq];
    const int64_t self = excl ? qq : -1;
    if (!j->fill) {
      j->counts[qi] = query(j, qq, px, py, pz, self, 0);
      continue;
    }
    /* the output of a query lands at a random place: prefetch where later queries will write */
    if (qq + 2 * PREFETCH_AHEAD < j->q1) __builtin_prefetch(j->starts + y_order[qq + 2 * PREFETCH_AHEAD], 0, 1);
    if (qq + PREFETCH_AHEAD < j->q1) {
      const int64_t later = j->starts[y_order[qq + PREFETCH_AHEAD]];
      __builtin_prefetch(j->out_q + later, 1, 1);
      __builtin_prefetch(j->out_s + later, 1, 1);
      if (j->out_d2) __builtin_prefetch(j->out_d2 + later, 1, 1);
    }
    int64_t need = 0;
    for (int64_t o = 0; o < j->noff; ++o) {
      const int64_t c = j->y_key[qq] + j->offsets[o];
      need += j->cell_start[c + 2] - j->cell_start[c - 1];
    }
    if (need > cap) {
      free(hits);
      cap = need > 2 * cap ? need : 2 * cap;
      hits = malloc(sizeof(hit_t) * cap);
      if (!hits) {
        j->status = 1;
        return 0;
      }
    }
    const int64_t n = query(j, qq, px, py, pz, self, hits);
    for (int64_t k = 0; k < n; ++k) hits[k].j = j->x_order[hits[k].j]; /* slot -> source index */
    for (int64_t k = 1; k < n; ++k) { /* insertion sort by source (a few dozen at the usual densities) */
      const hit_t h = hits[k];
      int64_t m = k;
      while (m > 0 && hits[m - 1].j > h.j) {
        hits[m] = hits[m - 1];
        --m;
      }
      hits[m] = h;
    }
    const int64_t at = j->starts[qi];
    for (int64_t k = 0; k < n; ++k) {
      j->out_q[at + k] = qi;
      j->out_s[at + k] = hits[k].j;
    }
    if (j->out_d2)
      for (int64_t k = 0; k < n; ++k) j->out_d2[at + k] = hits[k].d2;
  }
  free(hits);
  return 0;
}

static int run(rjob_t proto, int n_threads) {
  const int64_t n = proto.ny;
  if (n <= 0) return 0;
  if (n_threads < 1) n_threads = 1;
  rjob_t *jobs = malloc(sizeof(rjob_t) * n_threads);
  pthread_t *threads = malloc(sizeof(pthread_t) * n_threads);
  if (!jobs || !threads) {
    free(jobs);
    free(threads);
    return 1;
  }
  for (int k = 0; k < n_threads; ++k) {
    jobs[k] = proto;
    jobs[k].q0 = n * k / n_threads;
    jobs[k].q1 = n * (k + 1) / n_threads;
    jobs[k].status = 0;
  }
  int started = 1;
  for (int k = 1; k < n_threads; ++k, ++started)
    if (pthread_create(&threads[k], 0, pass_thread, &jobs[k])) break;
  for (int k = started; k < n_threads; ++k) pass_thread(&jobs[k]);
  pass_thread(&jobs[0]);
  int status = 0;
  for (int k = 1; k < started; ++k) pthread_join(threads[k], 0);
  for (int k = 0; k < n_threads; ++k) status |= jobs[k].status;
  free(jobs);
  free(threads);
  return status;
}

int NAME(st_radius_pass)(int64_t nx, int64_t ny, int64_t same, int64_t loop, real r2, const int64_t *offsets,
                         int64_t noff, const int64_t *cell_start, const int64_t *x_order, const real *xs,
                         const int64_t *y_order, const int64_t *y_key, const real *ys, int64_t *counts,
                         const int64_t *starts, int64_t *out_q, int64_t *out_s, real *out_d2, int n_threads) {
  rjob_t j = {0};
  j.nx = nx, j.ny = ny, j.same = same, j.loop = loop, j.r2 = r2, j.offsets = offsets, j.noff = noff;
  j.cell_start = (int64_t *)cell_start, j.x_order = (int64_t *)x_order, j.xs = (real *)xs;
  j.y_order = (int64_t *)y_order, j.y_key = (int64_t *)y_key, j.ys = (real *)ys;
  j.counts = counts, j.starts = (int64_t *)starts, j.out_q = out_q, j.out_s = out_s, j.out_d2 = out_d2;
  j.fill = counts == 0;
  return run(j, n_threads);
}
