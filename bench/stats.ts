/** Small helpers shared by the benchmarks. */

/** The `p`-th percentile (0..100) of `samples` (milliseconds), by nearest rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Milliseconds since `start` (from `process.hrtime.bigint()`). */
export function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Formats a row of a fixed-width table. */
export function row(cells: Array<string | number>, widths: number[]): string {
  return cells
    .map((c, i) => {
      const text = typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(3)) : c;
      return i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!);
    })
    .join('  ');
}
