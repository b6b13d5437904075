/** Prometheus metrics of one hub, on a registry of its own (never the global one). */
import { isOperationName } from '@mcpmas/core';
import { Counter, Gauge, type Metric, Registry } from 'prom-client';

/** Upper bounds of `mcpmas_operation_duration_seconds`, in seconds. */
export const OPERATION_DURATION_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30,
];

/** What the hub has counted for one (operation, protocol) pair. */
interface OperationSeries {
  labels: { operation: string; protocol: string };
  /** Calls by outcome not yet added to the prom-client counter. */
  pending: Map<string, number>;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** One exposition line of a histogram, in the shape prom-client's registry formats. */
interface HistogramValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  /** Buckets carry `null` as prom-client's do; exemplars are not recorded. */
  exemplar?: null;
}

/**
 * `mcpmas_operation_duration_seconds`: a Prometheus histogram that prom-client's registry
 * serves like its own (same name, buckets, labels and text), but whose observations cost a
 * bucket search and two additions. prom-client's `Histogram.observe` validates and hashes the
 * label object on every call, which on a busy hub cost more than some of the calls measured.
 */
export class OperationDurationHistogram {
  readonly name = 'mcpmas_operation_duration_seconds';
  readonly help = 'Operation latency, including long-poll waits';
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(private readonly series: () => Iterable<OperationSeries>) {}

  /** The series with labels apart from `le`, as prom-client's registry formats histograms. */
  async getForPromString(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramValue[];
  }> {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, buckets, sum, count } of this.series()) {
      let cumulative = 0;
      OPERATION_DURATION_BUCKETS.forEach((le, i) => {
        cumulative += buckets[i]!;
        values.push({
          labels: { le },
          sharedLabels: labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      });
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: labels,
        value: count,
        metricName: bucket,
        exemplar: null,
      });
      values.push({ labels: {}, sharedLabels: labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: labels, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same with all labels together, as prom-client's `Histogram.get()` returns them. */
  async get() {
    const metric = await this.getForPromString();
    return {
      ...metric,
      values: metric.values.map(({ labels, sharedLabels, ...rest }) => ({
        ...rest,
        labels: { ...sharedLabels, ...labels },
      })),
    };
  }

  /** Zeroes every series (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    for (const series of this.series()) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

/** The hub's metric set. */
export class HubMetrics {
  readonly registry = new Registry();
  readonly calls: Counter<'operation' | 'protocol' | 'outcome'>;
  readonly duration: OperationDurationHistogram;
  readonly leader: Gauge;
  readonly evictions: Counter;
  readonly requeued: Counter<'reason'>;
  readonly dead: Counter;
  readonly delivered: Gauge<'channel'>;
  readonly deliveryFailures: Gauge<'channel'>;
  /** operation → protocol → series; operations outside the table share the label `unknown`. */
  private readonly series = new Map<string, Map<string, OperationSeries>>();

  constructor(hubId: string) {
    this.registry.setDefaultLabels({ hub: hubId });
    const registers = [this.registry];
    this.calls = new Counter({
      name: 'mcpmas_operations_total',
      help: 'Operations handled, by operation, protocol and outcome (ok or an error code)',
      labelNames: ['operation', 'protocol', 'outcome'],
      registers,
      // Counted in plain maps on the hot path (see `observe`) and added here, at scrape time.
      collect: () => this.flushCounts(),
    });
    this.duration = new OperationDurationHistogram(() => this.allSeries());
    // prom-client's `Metric` type lists its own classes only; its registry needs no more than
    // name, help, type, aggregator, get/getForPromString and reset, all of which this has.
    this.registry.registerMetric(this.duration as unknown as Metric);
    this.leader = new Gauge({ name: 'mcpmas_leader', help: '1 while this hub is the leader', registers });
    this.evictions = new Counter({
      name: 'mcpmas_agents_evicted_total',
      help: 'Agents evicted by this hub',
      registers,
    });
    this.requeued = new Counter({
      name: 'mcpmas_tasks_requeued_total',
      help: 'Tasks requeued by leader duties',
      labelNames: ['reason'],
      registers,
    });
    this.dead = new Counter({
      name: 'mcpmas_tasks_dead_total',
      help: 'Tasks dead-lettered by leader duties',
      registers,
    });
    this.delivered = new Gauge({
      name: 'mcpmas_notifications_delivered',
      help: 'Events delivered per notification channel since this hub started',
      labelNames: ['channel'],
      registers,
    });
    this.deliveryFailures = new Gauge({
      name: 'mcpmas_notification_failures',
      help: 'Consecutive delivery failures per channel',
      labelNames: ['channel'],
      registers,
    });
  }

  /**
   * Records one finished operation call: its outcome (`ok` or an error code) and duration.
   * Runs on every call, so it avoids prom-client's per-call label hashing: series are found
   * through two map lookups, durations go straight into their bucket, and outcome counts are
   * handed to the prom-client counter in bulk when scraped.
   */
  observe(operation: string, protocol: string, outcome: string, seconds: number): void {
    const series = this.seriesOf(isOperationName(operation) ? operation : 'unknown', protocol);
    series.pending.set(outcome, (series.pending.get(outcome) ?? 0) + 1);
    const bounds = OPERATION_DURATION_BUCKETS;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i += 1;
    series.buckets[i]! += 1;
    series.sum += seconds;
    series.count += 1;
  }

  private *allSeries(): Iterable<OperationSeries> {
    for (const byProtocol of this.series.values()) yield* byProtocol.values();
  }

  private seriesOf(operation: string, protocol: string): OperationSeries {
    let byProtocol = this.series.get(operation);
    if (!byProtocol) {
      byProtocol = new Map();
      this.series.set(operation, byProtocol);
    }
    let series = byProtocol.get(protocol);
    if (!series) {
      series = {
        labels: { operation, protocol },
        pending: new Map(),
        buckets: new Float64Array(OPERATION_DURATION_BUCKETS.length + 1),
        sum: 0,
        count: 0,
      };
      byProtocol.set(protocol, series);
    }
    return series;
  }

  private flushCounts(): void {
    for (const byProtocol of this.series.values()) {
      for (const { labels, pending } of byProtocol.values()) {
        for (const [outcome, n] of pending) this.calls.inc({ ...labels, outcome }, n);
        pending.clear();
      }
    }
  }
}
