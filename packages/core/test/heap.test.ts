import { describe, expect, it } from '@jest/globals';
import { Heap } from '../src/index.js';

describe('Heap', () => {
  it('pops in comparator order for random input', () => {
    const heap = new Heap<number>((a, b) => a < b);
    const values = Array.from({ length: 500 }, (_, i) => (i * 7919) % 503);
    for (const v of values) heap.push(v);
    expect(heap.size).toBe(500);
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    expect(out).toEqual([...values].sort((a, b) => a - b));
    expect(heap.peek()).toBeUndefined();
  });
});
