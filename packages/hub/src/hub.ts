/**
 * The hub (central agent): composes a backend, protocol servers, plugins and notifiers around
 * one dispatcher, and runs the leader-only duties on an interval.
 */
import { hostname } from 'node:os';
import {
  ApiKeyAuthenticator,
  type ApiKeyConfig,
  type Backend,
  ConfigError,
  createDispatcher,
  createMemoryBackend,
  type DispatcherLimits,
  type ElectorOptions,
  type HeartbeatOptions,
  type HubDispatcher,
  type LeaderElector,
  type LeaderFence,
  type Notifier,
  newId,
  type Plugin,
  PluginHost,
  type ReleasedTasks,
  type ServerAdapter,
} from '@mcpmas/core';
import { type ChannelStatus, DeliveryLoop, type DeliveryOptions } from './delivery.js';
import { type Logger, silentLogger } from './logger.js';
import { HubMetrics } from './metrics.js';

/** Options of {@link Hub}. */
export interface HubOptions {
  /** Unique per hub process. @default `<hostname>-<random>` */
  hubId?: string;
  /** Storage shared by every hub of a deployment. @default a new in-memory backend */
  backend?: Backend;
  /** Protocol servers to start. */
  adapters?: ServerAdapter[];
  plugins?: Plugin[];
  notifiers?: Notifier[];
  /** With keys, every call on every protocol must present one. @default none (open) */
  apiKeys?: ApiKeyConfig[];
  heartbeat?: Partial<HeartbeatOptions>;
  limits?: Partial<DispatcherLimits>;
  elector?: Partial<ElectorOptions>;
  delivery?: Partial<DeliveryOptions>;
  /** How often the leader sweeps (evictions, lease expiry, delayed tasks, retention). @default 1000 */
  sweepIntervalMs?: number;
  /** Long-poll re-check interval without a wake-up. @default 1000 */
  pollFallbackMs?: number;
  logger?: Logger;
}

/** What one leader sweep did. */
export interface SweepReport {
  evicted: string[];
  requeued: string[];
  dead: string[];
  promoted: number;
  timedOut: number;
  trimmed: number;
}

/** One hub process. */
export class Hub {
  readonly hubId: string;
  readonly backend: Backend;
  readonly dispatcher: HubDispatcher;
  readonly plugins: PluginHost;
  readonly metrics: HubMetrics;
  private readonly elector: LeaderElector;
  private readonly adapters: ServerAdapter[];
  private readonly delivery: DeliveryLoop;
  private readonly logger: Logger;
  private readonly ownsBackend: boolean;
  private readonly sweepIntervalMs: number;
  private readonly notifiers: Notifier[];
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;
  private started = false;
  private stopped = false;

  constructor(options: HubOptions = {}) {
    this.hubId = options.hubId ?? `${hostname()}-${newId().slice(0, 8)}`;
    this.ownsBackend = !options.backend;
    this.backend = options.backend ?? createMemoryBackend();
    this.logger = options.logger ?? silentLogger;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    if (this.sweepIntervalMs < 10) throw new ConfigError('sweepIntervalMs must be at least 10');
    this.notifiers = options.notifiers ?? [];
    const names = new Set<string>();
    for (const n of this.notifiers) {
      if (names.has(n.name))
        throw new ConfigError(`notifier name "${n.name}" is used twice; names must be unique`);
      names.add(n.name);
    }
    this.elector = this.backend.createElector(this.hubId, options.elector);
    this.plugins = new PluginHost(options.plugins ?? []);
    this.metrics = new HubMetrics(this.hubId);
    const dispatcher = createDispatcher({
      registry: this.backend.registry,
      queue: this.backend.queue,
      elector: this.elector,
      plugins: this.plugins,
      auth: new ApiKeyAuthenticator(options.apiKeys ?? []),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
      ...(options.pollFallbackMs ? { pollFallbackMs: options.pollFallbackMs } : {}),
      onInternalError: (error, { operation, ref }) =>
        this.logger.error({ err: error, operation, ref }, 'call failed with an unexpected error'),
    });
    const hb = dispatcher.heartbeat;
    if (hb.timeoutMs <= hb.intervalMs) {
      throw new ConfigError('heartbeat.timeoutMs must be greater than heartbeat.intervalMs');
    }
    this.dispatcher = this.instrument(dispatcher);
    this.adapters = options.adapters ?? [];
    this.delivery = new DeliveryLoop(this.backend.outbox, this.notifiers, options.delivery, this.logger);
    this.elector.onChange((state) => this.onLeadership(state.isLeader, state.epoch));
  }

  /** Starts the protocol servers, leader election and the sweep timer. */
  async start(): Promise<void> {
    if (this.started) throw new ConfigError('hub already started');
    this.started = true;
    for (const adapter of this.adapters) {
      await adapter.start(this.dispatcher);
      this.logger.info({ hubId: this.hubId, protocol: adapter.protocol }, 'protocol server started');
    }
    await this.elector.start();
    this.sweepTimer = setInterval(() => void this.tick(), this.sweepIntervalMs);
    this.sweepTimer.unref();
    this.logger.info({ hubId: this.hubId, backend: this.backend.kind }, 'hub started');
  }

  /**
   * Stops gracefully: ends long-polls, stops the servers, finishes the current sweep and
   * deliveries, gives up leadership, and closes what the hub created.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.dispatcher.close();
    for (const adapter of [...this.adapters].reverse()) {
      await adapter
        .stop()
        .catch((error: unknown) =>
          this.logger.error({ err: String(error), protocol: adapter.protocol }, 'adapter stop failed'),
        );
    }
    await this.sweeping?.catch(() => undefined);
    await this.delivery.stop();
    await this.elector.stop();
    await this.plugins.close();
    for (const n of this.notifiers) await n.close?.();
    if (this.ownsBackend) await this.backend.close();
    this.logger.info({ hubId: this.hubId }, 'hub stopped');
  }

  /** True while this hub leads. */
  isLeader(): boolean {
    return this.elector.isLeader();
  }

  /** Per-channel notification delivery state (this hub delivers only while leader). */
  deliveryStatus(): ChannelStatus[] {
    return this.delivery.channels();
  }

  /** Health summary for `/healthz`. */
  async health(): Promise<Record<string, unknown>> {
    return {
      status: this.stopped ? 'stopping' : 'ok',
      hubId: this.hubId,
      backend: this.backend.kind,
      leader: this.isLeader(),
      notifications: this.deliveryStatus(),
      plugins: this.plugins.list(),
    };
  }

  /** Prometheus text exposition of this hub's metrics. */
  async metricsText(): Promise<{ contentType: string; body: string }> {
    for (const c of this.delivery.channels()) {
      this.metrics.delivered.set({ channel: c.channel }, c.delivered);
      this.metrics.deliveryFailures.set({ channel: c.channel }, c.failures);
    }
    return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
  }

  /**
   * One round of leader duties. Runs only while leader; every write carries the fence, so a
   * hub that lost leadership mid-sweep cannot write. Exposed for tests and tooling.
   */
  async sweep(): Promise<SweepReport> {
    const report: SweepReport = { evicted: [], requeued: [], dead: [], promoted: 0, timedOut: 0, trimmed: 0 };
    const fence = this.elector.fence();
    if (!fence) return report;
    const { queue, registry } = this.backend;
    const timeoutMs = this.dispatcher.heartbeat.timeoutMs;
    for (const agentId of await registry.stale(timeoutMs)) {
      await this.evict(agentId, timeoutMs, fence, report);
    }
    const expired = await queue.expireLeases(fence);
    report.requeued.push(...expired.requeued);
    report.dead.push(...expired.dead);
    this.metrics.requeued.inc({ reason: 'lease_expired' }, expired.requeued.length);
    this.metrics.dead.inc(expired.dead.length);
    report.promoted = (await queue.promoteDelayed(fence)).length;
    report.timedOut = (await queue.expireDeadlines(fence)).length;
    report.trimmed = await queue.trimResults(fence);
    return report;
  }

  private async evict(
    agentId: string,
    timeoutMs: number,
    fence: LeaderFence,
    report: SweepReport,
  ): Promise<void> {
    const { queue, registry } = this.backend;
    let evicted: boolean;
    let released: ReleasedTasks;
    if (this.backend.evictAgent) {
      // One atomic step: the requeue and its `agent.evicted` event happen together or not at all.
      const outcome = await this.backend.evictAgent(agentId, timeoutMs, fence);
      evicted = outcome.evicted;
      released = { requeued: outcome.requeued, dead: outcome.dead };
    } else {
      released = await queue.releaseAgent(agentId, 'evicted', fence);
      evicted = await registry.evict(agentId, timeoutMs, released, fence);
    }
    report.requeued.push(...released.requeued);
    report.dead.push(...released.dead);
    this.metrics.requeued.inc({ reason: 'evicted' }, released.requeued.length);
    this.metrics.dead.inc(released.dead.length);
    if (!evicted) return;
    report.evicted.push(agentId);
    this.metrics.evictions.inc();
    this.logger.warn(
      { agentId, requeued: released.requeued.length, dead: released.dead.length },
      'agent evicted',
    );
    for (const error of await this.plugins.evicted({ agentId, ...released })) {
      this.logger.error({ agentId, err: String(error) }, 'evict hook failed');
    }
  }

  private tick(): void {
    if (this.sweeping || !this.elector.isLeader()) return;
    this.sweeping = this.sweep()
      .catch((error: unknown) => this.logger.error({ err: String(error) }, 'leader sweep failed'))
      .finally(() => {
        this.sweeping = undefined;
      });
  }

  private onLeadership(isLeader: boolean, epoch: number | null): void {
    this.metrics.leader.set(isLeader ? 1 : 0);
    if (isLeader && epoch !== null) {
      this.logger.info({ hubId: this.hubId, epoch }, 'became leader');
      void this.backend.outbox
        .append('leader.changed', { hubId: this.hubId, epoch }, { hubId: this.hubId, epoch })
        .catch((error: unknown) =>
          this.logger.error({ err: String(error) }, 'could not record leader.changed'),
        );
      if (!this.stopped) this.delivery.start();
    } else {
      this.logger.info({ hubId: this.hubId }, 'not leader');
      void this.delivery.stop();
    }
  }

  private instrument(dispatcher: HubDispatcher): HubDispatcher {
    const metrics = this.metrics;
    const dispatch: HubDispatcher['dispatch'] = async (operation, request, context) => {
      const start = performance.now();
      let outcome = 'ok';
      try {
        return await dispatcher.dispatch(operation, request, context);
      } catch (error) {
        outcome = (error as { code?: string }).code ?? 'INTERNAL';
        throw error;
      } finally {
        metrics.observe(operation, context.protocol, outcome, (performance.now() - start) / 1000);
      }
    };
    return {
      ...dispatcher,
      dispatch,
      call: (operation, request, context) => dispatch(operation, request, context) as never,
    };
  }
}
