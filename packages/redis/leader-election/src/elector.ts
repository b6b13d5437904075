/**
 * {@link LeaderElector} on Redis: `SET leader value NX PX ttl` to lead, a renew-if-owner script
 * every `renewIntervalMs`, release-if-owner on stop, and an `INCR` epoch as the fencing token
 * that every leader-only write carries.
 */
import {
  ConfigError,
  DEFAULT_ELECTOR_OPTIONS,
  type ElectorOptions,
  type LeaderElector,
  type LeaderFence,
  type LeadershipState,
  newToken,
} from '@mcpmas/core';
import {
  type Connection,
  checkNamespace,
  closeClient,
  connectionError,
  openConnection,
  type RedisConnectionOptions,
} from '@mcpmas/redis-common';
import { type LeaderKeys, leaderKeys, leaderValue, parseLeaderValue } from './keys.js';
import { loadScript, type RedisClient } from './scripts.js';

const scripts = {
  acquire: loadScript('acquireLeadership-2'),
  renew: loadScript('renewLeadership-2'),
  release: loadScript('releaseLeadership-1'),
};

/** Options of {@link RedisLeaderElector}. */
export interface RedisElectorOptions extends RedisConnectionOptions, Partial<ElectorOptions> {
  /** Called with every Redis error met while campaigning or renewing (leadership is dropped). */
  onError?: (error: unknown) => void;
}

/**
 * One hub's elector. Leadership is reported lost at once — before the lease could expire in
 * Redis — when a renew fails, when Redis errors or disconnects, or when no renew has
 * succeeded for most of the lease (a hung connection), so a hub never runs leader duties
 * while another hub may already lead.
 */
export class RedisLeaderElector implements LeaderElector {
  private readonly options: ElectorOptions;
  private readonly connection: Connection;
  private readonly keys: LeaderKeys;
  private readonly value: string;
  private readonly listeners = new Set<(state: LeadershipState) => void>();
  private readonly onError: ((error: unknown) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private epoch: number | null = null;
  private inFlight: Promise<void> | undefined;
  private readonly onClose = () => this.set(null);

  constructor(
    readonly hubId: string,
    options: RedisElectorOptions = {},
  ) {
    const { onError, ttlMs, renewIntervalMs } = options;
    this.options = {
      ttlMs: ttlMs ?? DEFAULT_ELECTOR_OPTIONS.ttlMs,
      renewIntervalMs: renewIntervalMs ?? DEFAULT_ELECTOR_OPTIONS.renewIntervalMs,
    };
    if (!(this.options.renewIntervalMs > 0)) throw new ConfigError('renewIntervalMs must be greater than 0');
    if (this.options.renewIntervalMs >= this.options.ttlMs) {
      throw new ConfigError('renewIntervalMs must be less than ttlMs');
    }
    if (!hubId) throw new ConfigError('hubId must not be empty');
    this.onError = onError;
    this.keys = leaderKeys(checkNamespace(options.namespace ?? 'mcpmas'));
    this.value = leaderValue(newToken(), hubId);
    this.connection = openConnection(options, `mcpmas:elector:${hubId}`);
  }

  /** The Redis client this elector talks through. */
  get client(): RedisClient {
    return this.connection.client;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.connection.client.on('close', this.onClose);
    this.timer = setInterval(() => void this.tick(), this.options.renewIntervalMs);
    this.timer.unref();
    await this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.connection.client.off('close', this.onClose);
    // Let a round in flight finish, but do not hang on a dead connection.
    if (this.inFlight) {
      await Promise.race([this.inFlight, new Promise((r) => setTimeout(r, this.options.ttlMs).unref())]);
    }
    const wasLeader = this.epoch !== null;
    this.set(null);
    if (wasLeader) {
      await scripts.release.run(this.connection.client, [this.keys.leader], [this.value]).catch(() => {
        // The lease expires on its own within ttlMs.
      });
    }
  }

  /** Stops and closes the connection if this elector opened it. */
  async close(): Promise<void> {
    await this.stop();
    if (this.connection.owned) await closeClient(this.connection.client);
  }

  isLeader(): boolean {
    return this.epoch !== null;
  }

  fence(): LeaderFence | null {
    return this.epoch === null ? null : { hubId: this.hubId, epoch: this.epoch };
  }

  async leader(): Promise<LeaderFence | null> {
    let values: Array<string | null>;
    try {
      values = await this.connection.client.mget(this.keys.leader, this.keys.epoch);
    } catch (error) {
      throw connectionError(error);
    }
    const [holder, epoch] = values;
    const parsed = holder ? parseLeaderValue(holder) : null;
    if (!parsed || !epoch) return null;
    return { hubId: parsed.hubId, epoch: Number(epoch) };
  }

  onChange(listener: (state: LeadershipState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One campaign or renew round; rounds never overlap. */
  private tick(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.round().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async round(): Promise<void> {
    const sentAt = performance.now();
    const args = [this.value, this.options.ttlMs];
    const keys = [this.keys.leader, this.keys.epoch];
    try {
      if (this.epoch !== null) {
        const epoch = Number(await scripts.renew.run(this.connection.client, keys, args));
        if (!this.timer) return;
        if (epoch > 0 && epoch === this.epoch) {
          this.armWatchdog(sentAt);
          return;
        }
        // The lease was lost (expired and maybe taken): stop leader duties now, then campaign.
        this.set(null);
      }
      const epoch = Number(await scripts.acquire.run(this.connection.client, keys, args));
      if (!this.timer) return;
      if (epoch > 0) {
        this.armWatchdog(sentAt);
        this.set(epoch);
      } else {
        this.set(null);
      }
    } catch (error) {
      this.set(null);
      this.onError?.(error);
    }
  }

  /**
   * The lease in Redis runs at most `ttlMs` from when the renew was sent. Drop leadership a
   * little before that if no later renew succeeds — a renew stuck on a dead connection
   * must not leave this hub acting as leader. Measured on the monotonic clock, so wall-clock
   * skew does not matter.
   */
  private armWatchdog(sentAt: number): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    const margin = Math.min(this.options.ttlMs / 10, 1000);
    const remaining = sentAt + this.options.ttlMs - margin - performance.now();
    this.watchdog = setTimeout(() => this.set(null), Math.max(0, remaining));
    this.watchdog.unref();
  }

  private set(epoch: number | null): void {
    if (epoch === null && this.watchdog) {
      clearTimeout(this.watchdog);
      this.watchdog = undefined;
    }
    if (epoch === this.epoch) return;
    this.epoch = epoch;
    const state: LeadershipState = { isLeader: epoch !== null, epoch };
    for (const listener of this.listeners) listener(state);
  }
}
