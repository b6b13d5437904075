import { describe, expect, it } from '@jest/globals';
import { Histogram, Registry } from 'prom-client';
import { HubMetrics } from '../src/index.js';
import { OPERATION_DURATION_BUCKETS } from '../src/metrics.js';

/** The lines of one metric family in a Prometheus text exposition. */
function family(text: string, name: string): string {
  return text
    .split('\n\n')
    .filter((block) => block.includes(`# TYPE ${name} `))
    .join('\n\n')
    .trim();
}

describe('HubMetrics', () => {
  it('renders operation durations exactly as a prom-client Histogram would', async () => {
    const metrics = new HubMetrics('hub-a');
    const reference = new Registry();
    reference.setDefaultLabels({ hub: 'hub-a' });
    const histogram = new Histogram({
      name: 'mcpmas_operation_duration_seconds',
      help: 'Operation latency, including long-poll waits',
      labelNames: ['operation', 'protocol'],
      buckets: [...OPERATION_DURATION_BUCKETS],
      registers: [reference],
    });
    // On a bound, between bounds, above the last one; two protocols; sums exact in binary.
    const samples: Array<[string, string, number]> = [
      ['task.submit', 'http', 0.0005],
      ['task.submit', 'http', 0.00075],
      ['task.submit', 'ws', 0.25],
      ['task.get', 'ws', 64],
      ['task.get', 'ws', 0],
    ];
    for (const [operation, protocol, seconds] of samples) {
      metrics.observe(operation, protocol, 'ok', seconds);
      histogram.observe({ operation, protocol }, seconds);
    }
    const name = 'mcpmas_operation_duration_seconds';
    expect(family(await metrics.registry.metrics(), name)).toBe(family(await reference.metrics(), name));
    const json = async (registry: Registry) =>
      (await registry.getMetricsAsJSON()).find((metric) => metric.name === name);
    expect(await json(metrics.registry)).toEqual(await json(reference));
  });

  it('counts outcomes per operation and protocol', async () => {
    const metrics = new HubMetrics('hub-b');
    metrics.observe('task.result', 'grpc', 'ok', 0.001);
    metrics.observe('task.result', 'grpc', 'CONFLICT', 0.001);
    metrics.observe('task.result', 'grpc', 'ok', 0.001);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'mcpmas_operations_total{operation="task.result",protocol="grpc",outcome="ok",hub="hub-b"} 2',
    );
    expect(text).toContain(
      'mcpmas_operations_total{operation="task.result",protocol="grpc",outcome="CONFLICT",hub="hub-b"} 1',
    );
  });
});
