// Pure curve transforms for the dashboard charts (no DOM; unit-tested from mocha via tsx):
//  - minMaxDownsample: per-x-bucket min/max decimation that keeps every bucket's extremes (spikes survive),
//    always keeps the first and last point, and returns the points in x order;
//  - emaDebiased: TensorBoard's "classic" smoothing, an EMA divided by 1 − w^t so the start is not pulled
//    towards 0; constant series pass through unchanged (TensorBoard #786).

export interface XY {
  xs: number[];
  ys: number[];
}

/**
 * Decimates (xs, ys) (xs ascending) to at most about `maxPoints` points: the x range [xs[lo], xs[hi−1]] is cut into
 * maxPoints/2 equal buckets and each bucket contributes its minimum and its maximum (one point when they coincide),
 * in x order. Points with a non-finite x or y are dropped. Returns copies; the input is not changed.
 */
export function minMaxDownsample(xs: ArrayLike<number>, ys: ArrayLike<number>, maxPoints: number, lo = 0, hi = Math.min(xs.length, ys.length)): XY {
  lo = Math.max(0, lo);
  hi = Math.min(hi, xs.length, ys.length);
  const out: XY = { xs: [], ys: [] };
  if (hi <= lo) return out;
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  if (hi - lo <= Math.max(2, maxPoints)) {
    for (let i = lo; i < hi; i++) {
      if (Number.isFinite(xs[i]) && Number.isFinite(ys[i])) {
        out.xs.push(xs[i]);
        out.ys.push(ys[i]);
      }
    }
    return out;
  }
  // first and last finite points
  let first = lo;
  while (first < hi && !(Number.isFinite(xs[first]) && Number.isFinite(ys[first]))) first++;
  let last = hi - 1;
  while (last > first && !(Number.isFinite(xs[last]) && Number.isFinite(ys[last]))) last--;
  if (first >= hi) return out;
  const x0 = xs[first];
  const span = xs[last] - x0;
  const scale = span > 0 ? buckets / span : 0;
  let bucket = -1;
  let iMin = -1;
  let iMax = -1;
  const emit = (i: number) => {
    out.xs.push(xs[i]);
    out.ys.push(ys[i]);
  };
  const flush = () => {
    if (iMin < 0) return;
    if (iMin === iMax) emit(iMin);
    else if (iMin < iMax) {
      emit(iMin);
      emit(iMax);
    } else {
      emit(iMax);
      emit(iMin);
    }
  };
  emit(first);
  for (let i = first + 1; i < last; i++) {
    const x = xs[i];
    const y = ys[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const b = Math.min(buckets - 1, Math.floor((x - x0) * scale));
    if (b !== bucket) {
      flush();
      bucket = b;
      iMin = iMax = i;
    } else {
      if (y < ys[iMin]) iMin = i;
      if (y > ys[iMax]) iMax = i;
    }
  }
  flush();
  if (last > first) emit(last);
  return out;
}

/** Index of the first element ≥ x in an ascending array (binary search). */
export function lowerBound(xs: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Exponential moving average with debiasing: s_t = (w·e_{t−1} + (1−w)·y_t) / (1 − w^t), counting only finite values
 * (non-finite ones pass through). w in [0, 1); w ≤ 0 or a constant series returns a copy of the input.
 */
export function emaDebiased(ys: ArrayLike<number>, weight: number): number[] {
  const n = ys.length;
  const out = new Array<number>(n);
  const w = Math.min(Math.max(weight, 0), 0.999);
  let constant = true;
  let firstFinite: number | undefined;
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) continue;
    if (firstFinite === undefined) firstFinite = y;
    else if (y !== firstFinite) {
      constant = false;
      break;
    }
  }
  if (w === 0 || constant) {
    for (let i = 0; i < n; i++) out[i] = ys[i];
    return out;
  }
  let last = 0;
  let count = 0;
  let wPow = 1;
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      out[i] = y;
      continue;
    }
    last = last * w + (1 - w) * y;
    count++;
    wPow *= w;
    out[i] = last / (1 - wPow);
  }
  return out;
}
