/**
 * Delivers outbox events to notifiers. Each channel reads its own unacknowledged events in
 * order, acknowledges each only after its notifier succeeded, and backs off on failure, so an
 * event survives a notifier outage and (with a durable outbox) a hub crash. Only the leader
 * runs it; a new leader resumes from what was not acknowledged.
 */
import {
  type BackoffOptions,
  backoffDelay,
  type EventOutbox,
  fromUnknown,
  type Notifier,
} from '@mcpmas/core';
import { type Logger, silentLogger } from './logger.js';

/** Options of {@link DeliveryLoop}. */
export interface DeliveryOptions {
  /** Events read per channel per round. @default 50 */
  batchSize: number;
  /** How often each channel looks for new events. @default 250 */
  pollIntervalMs: number;
  /** Backoff after a failed delivery. @default 500 ms doubling to 30 s */
  retry: BackoffOptions;
}

/** Delivery state of one channel, for status pages and metrics. */
export interface ChannelStatus {
  channel: string;
  delivered: number;
  /** Consecutive failures of the current event. */
  failures: number;
  lastError?: string;
  lastDeliveredAt?: number;
  /** When the next attempt is due after a failure. */
  retryAt?: number;
}

/** Default delivery options. */
export const DEFAULT_DELIVERY: DeliveryOptions = {
  batchSize: 50,
  pollIntervalMs: 250,
  retry: { baseMs: 500, maxMs: 30_000, jitter: 0.2 },
};

/** Fans outbox events out to notifiers while running. */
export class DeliveryLoop {
  private readonly options: DeliveryOptions;
  private readonly status = new Map<string, ChannelStatus>();
  private running = false;
  private timers = new Set<NodeJS.Timeout>();
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly outbox: EventOutbox,
    private readonly notifiers: Notifier[],
    options: Partial<DeliveryOptions> = {},
    private readonly logger: Logger = silentLogger,
  ) {
    this.options = { ...DEFAULT_DELIVERY, ...options };
    for (const n of notifiers) this.status.set(n.name, { channel: n.name, delivered: 0, failures: 0 });
  }

  /** Starts delivering (the hub calls this on gaining leadership). */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const notifier of this.notifiers) this.schedule(notifier, 0);
  }

  /** Stops after the deliveries in flight finish. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Per-channel delivery state. */
  channels(): ChannelStatus[] {
    return [...this.status.values()].map((s) => ({ ...s }));
  }

  private schedule(notifier: Notifier, ms: number): void {
    if (!this.running) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const round = this.round(notifier).then(
        (next) => this.schedule(notifier, next),
        () => this.schedule(notifier, this.options.pollIntervalMs),
      );
      this.inFlight.add(round);
      void round.finally(() => this.inFlight.delete(round));
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Delivers what is pending for one channel; returns the delay before the next round. */
  private async round(notifier: Notifier): Promise<number> {
    const state = this.status.get(notifier.name)!;
    const events = await this.outbox.read(notifier.name, this.options.batchSize);
    for (const event of events) {
      if (!this.running) return 0;
      try {
        await notifier.notify(event);
      } catch (error) {
        state.failures += 1;
        state.lastError = fromUnknown(error).message;
        const wait = backoffDelay(state.failures, this.options.retry);
        state.retryAt = Date.now() + wait;
        this.logger.warn(
          { channel: notifier.name, eventId: event.id, failures: state.failures, err: state.lastError },
          'notification failed; will retry',
        );
        return wait;
      }
      await this.outbox.ack(notifier.name, [event.id]);
      state.delivered += 1;
      state.failures = 0;
      state.lastDeliveredAt = Date.now();
      delete state.retryAt;
    }
    return events.length === this.options.batchSize ? 0 : this.options.pollIntervalMs;
  }
}
