/** Prometheus metrics of one hub, on a registry of its own (never the global one). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The hub's metric set. */
export class HubMetrics {
  readonly registry = new Registry();
  readonly calls: Counter<'operation' | 'protocol' | 'outcome'>;
  readonly duration: Histogram<'operation' | 'protocol'>;
  readonly leader: Gauge;
  readonly evictions: Counter;
  readonly requeued: Counter<'reason'>;
  readonly dead: Counter;
  readonly delivered: Gauge<'channel'>;
  readonly deliveryFailures: Gauge<'channel'>;

  constructor(hubId: string) {
    this.registry.setDefaultLabels({ hub: hubId });
    const registers = [this.registry];
    this.calls = new Counter({
      name: 'mcpmas_operations_total',
      help: 'Operations handled, by operation, protocol and outcome (ok or an error code)',
      labelNames: ['operation', 'protocol', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'mcpmas_operation_duration_seconds',
      help: 'Operation latency, including long-poll waits',
      labelNames: ['operation', 'protocol'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
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
}
