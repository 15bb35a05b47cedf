/** Small helpers for the benchmark figures. */

export const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/** p50 / p95 / p99 / max of the values (ms), rounded to 0.1. */
export const percentiles = (values: Float64Array | number[]) => {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => {
    if (sorted.length === 0) return null;
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return round(sorted[i] as number, 1);
  };
  return { p50: at(50), p95: at(95), p99: at(99), max: at(100) };
};

/** A growable list of numbers without per-item allocation. */
export class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(v: number) {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  values() {
    return this.data.subarray(0, this.length);
  }
}

/** ratio a / b, 2 decimals, or null. */
export const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : round(a / b, 2);
