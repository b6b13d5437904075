/**
 * Delivers outbox events to notifiers. Each channel reads its own unacknowledged events in
 * order, acknowledges them only after its notifier succeeded, and backs off on failure, so an
 * event survives a notifier outage and (with a durable outbox) a hub crash. Only the leader
 * runs it; a new leader resumes from what was not acknowledged.
 *
 * A notifier with `notifyBatch` and `batching` (e-mail digests) gets bursts: once the channel
 * sees a pending event it waits `batching.windowMs` and then hands over up to
 * `batching.maxEvents` events in one call, acknowledged together.
 *
 * A notifier that refuses work for a while (a WebHook endpoint disabled after repeated
 * failures) throws an error whose `details.disabledUntil` is an epoch-ms time: the channel is
 * shown as `disabled` and is not retried before then.
 */
import {
  type BackoffOptions,
  backoffDelay,
  type EventOutbox,
  fromUnknown,
  type HubEvent,
  type Notifier,
} from '@mcpmas/core';
import { type Logger, silentLogger } from './logger.js';

/** Options of {@link DeliveryLoop}. */
export interface DeliveryOptions {
  /** Events read per channel per round (per-event channels). @default 50 */
  batchSize: number;
  /** How often each channel looks for new events. @default 250 */
  pollIntervalMs: number;
  /** Backoff after a failed delivery. @default 500 ms doubling to 30 s */
  retry: BackoffOptions;
  /**
   * Longest one `notify` (or `notifyBatch`) may take before it counts as failed and is
   * retried; a hung endpoint must not stall its channel forever. @default 60000
   */
  notifyTimeoutMs: number;
}

/**
 * What a channel is doing: `idle` (nothing pending or not yet run), `delivering`,
 * `batching` (a burst is gathering), `retrying` (backing off after a failure), `disabled`
 * (the notifier refuses work until `disabledUntil`), `stopped` (this hub is not delivering).
 */
export type ChannelState = 'idle' | 'delivering' | 'batching' | 'retrying' | 'disabled' | 'stopped';

/** Delivery state of one channel, for status pages and metrics. */
export interface ChannelStatus {
  channel: string;
  state: ChannelState;
  /** Events acknowledged by this hub since it started. */
  delivered: number;
  /** Unacknowledged events as last seen (a lower bound when more than one batch is waiting). */
  pending: number;
  /** Consecutive failures of the current event. */
  failures: number;
  lastError?: string;
  lastErrorAt?: number;
  lastDeliveredAt?: number;
  /** When the next attempt is due after a failure. */
  retryAt?: number;
  /** Set while the notifier reports itself disabled. */
  disabledUntil?: number;
}

/** Default delivery options. */
export const DEFAULT_DELIVERY: DeliveryOptions = {
  batchSize: 50,
  pollIntervalMs: 250,
  retry: { baseMs: 500, maxMs: 30_000, jitter: 0.2 },
  notifyTimeoutMs: 60_000,
};

/** Fans outbox events out to notifiers while running. */
export class DeliveryLoop {
  private readonly options: DeliveryOptions;
  private readonly status = new Map<string, ChannelStatus>();
  /** Bumped on every start and stop, so a round left over from an earlier run never reschedules. */
  private generation = 0;
  private running = false;
  private timers = new Set<NodeJS.Timeout>();
  private inFlight = new Set<Promise<void>>();
  /** When the gathering window of a batching channel closes. */
  private readonly windowEnds = new Map<string, number>();

  constructor(
    private readonly outbox: EventOutbox,
    private readonly notifiers: Notifier[],
    options: Partial<DeliveryOptions> = {},
    private readonly logger: Logger = silentLogger,
  ) {
    this.options = { ...DEFAULT_DELIVERY, ...options };
    for (const n of notifiers) {
      this.status.set(n.name, { channel: n.name, state: 'stopped', delivered: 0, pending: 0, failures: 0 });
    }
  }

  /** Starts delivering (the hub calls this on gaining leadership). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const generation = ++this.generation;
    for (const notifier of this.notifiers) {
      this.state(notifier).state = 'idle';
      this.schedule(notifier, 0, generation);
    }
  }

  /** Stops after the deliveries in flight finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.generation += 1;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.windowEnds.clear();
    await Promise.allSettled([...this.inFlight]);
    if (!this.running) for (const s of this.status.values()) s.state = 'stopped';
  }

  /** Per-channel delivery state. */
  channels(): ChannelStatus[] {
    return [...this.status.values()].map((s) => ({ ...s }));
  }

  private state(notifier: Notifier): ChannelStatus {
    return this.status.get(notifier.name)!;
  }

  private schedule(notifier: Notifier, ms: number, generation: number): void {
    if (!this.running || generation !== this.generation) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (generation !== this.generation) return;
      const round = this.round(notifier, generation).then(
        (next) => this.schedule(notifier, next, generation),
        (error: unknown) => {
          // The outbox itself failed (e.g. Redis down): keep polling.
          this.logger.error({ channel: notifier.name, err: String(error) }, 'outbox read failed');
          this.schedule(notifier, this.options.pollIntervalMs, generation);
        },
      );
      this.inFlight.add(round);
      void round.finally(() => this.inFlight.delete(round));
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Delivers what is pending for one channel; returns the delay before the next round. */
  private async round(notifier: Notifier, generation: number): Promise<number> {
    const batching = notifier.notifyBatch && notifier.batching ? notifier.batching : undefined;
    return batching ? this.batchRound(notifier, batching, generation) : this.eventRound(notifier, generation);
  }

  private async eventRound(notifier: Notifier, generation: number): Promise<number> {
    const state = this.state(notifier);
    const max = this.options.batchSize;
    const events = await this.outbox.read(notifier.name, max);
    state.pending = events.length;
    if (events.length === 0) {
      state.state = 'idle';
      return this.options.pollIntervalMs;
    }
    for (const event of events) {
      if (generation !== this.generation) return 0;
      state.state = 'delivering';
      const failed = await this.attempt(notifier, [event], () => notifier.notify(event));
      if (failed !== undefined) return failed;
      state.pending = Math.max(0, state.pending - 1);
    }
    if (events.length === max) {
      state.pending = await this.outbox.pending(notifier.name);
      return 0;
    }
    state.state = 'idle';
    return this.options.pollIntervalMs;
  }

  private async batchRound(
    notifier: Notifier,
    batching: NonNullable<Notifier['batching']>,
    generation: number,
  ): Promise<number> {
    const state = this.state(notifier);
    const windowEnd = this.windowEnds.get(notifier.name);
    if (windowEnd === undefined) {
      const peek = await this.outbox.read(notifier.name, 1);
      if (peek.length === 0) {
        state.state = 'idle';
        state.pending = 0;
        return this.options.pollIntervalMs;
      }
      // A burst has begun: let the rest of it reach the outbox before reading.
      state.state = 'batching';
      this.windowEnds.set(notifier.name, Date.now() + batching.windowMs);
      return batching.windowMs;
    }
    const wait = windowEnd - Date.now();
    if (wait > 0) return wait;
    const events = await this.outbox.read(notifier.name, batching.maxEvents);
    if (generation !== this.generation) return 0;
    state.pending = events.length;
    if (events.length === 0) {
      this.windowEnds.delete(notifier.name);
      state.state = 'idle';
      return this.options.pollIntervalMs;
    }
    state.state = 'delivering';
    const failed = await this.attempt(notifier, events, () => notifier.notifyBatch!(events));
    // On failure the window stays closed, so the retry goes out as soon as the backoff ends.
    if (failed !== undefined) return failed;
    this.windowEnds.delete(notifier.name);
    if (events.length === batching.maxEvents) {
      // More of the same burst is waiting: send it at once, without a new window.
      this.windowEnds.set(notifier.name, Date.now());
      state.pending = await this.outbox.pending(notifier.name);
      return 0;
    }
    state.pending = 0;
    state.state = 'idle';
    return this.options.pollIntervalMs;
  }

  /**
   * Runs one delivery; on success acknowledges `events` and returns undefined, on failure
   * records it and returns the delay before the retry.
   */
  private async attempt(
    notifier: Notifier,
    events: HubEvent[],
    deliver: () => Promise<void>,
  ): Promise<number | undefined> {
    const state = this.state(notifier);
    try {
      await withTimeout(deliver(), this.options.notifyTimeoutMs, notifier.name);
    } catch (error) {
      const normalised = fromUnknown(error);
      state.failures += 1;
      state.lastError = normalised.message;
      state.lastErrorAt = Date.now();
      const disabledUntil = normalised.details?.disabledUntil;
      let wait = backoffDelay(state.failures, this.options.retry);
      if (typeof disabledUntil === 'number' && disabledUntil > Date.now()) {
        state.state = 'disabled';
        state.disabledUntil = disabledUntil;
        wait = disabledUntil - Date.now();
      } else {
        state.state = 'retrying';
        delete state.disabledUntil;
      }
      state.retryAt = Date.now() + wait;
      this.logger.warn(
        {
          channel: notifier.name,
          eventIds: events.map((e) => e.id),
          failures: state.failures,
          err: state.lastError,
          state: state.state,
        },
        'notification failed; will retry',
      );
      return wait;
    }
    await this.outbox.ack(
      notifier.name,
      events.map((e) => e.id),
    );
    state.delivered += events.length;
    state.failures = 0;
    state.lastDeliveredAt = Date.now();
    delete state.retryAt;
    delete state.disabledUntil;
    return undefined;
  }
}

function withTimeout(promise: Promise<void>, ms: number, channel: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`notifier "${channel}" did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
