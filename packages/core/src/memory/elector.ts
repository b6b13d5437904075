/**
 * In-process leader election. Hubs that share one {@link MemoryElectionGroup} (one backend
 * object) compete for a lease exactly as Redis hubs do: acquire when free or expired, renew
 * while held, release on stop, and a new epoch on every change of leader.
 */
import { ConfigError, ConflictError } from '../errors.js';
import type { ElectorOptions, LeaderElector, LeaderFence, LeadershipState } from '../interfaces.js';
import { newToken } from '../util.js';

/** Default election timing. */
export const DEFAULT_ELECTOR_OPTIONS: ElectorOptions = { ttlMs: 10_000, renewIntervalMs: 3_000 };

/** Throws `ConflictError` when a fence is not the current leadership. */
export type FenceCheck = (fence: LeaderFence | undefined) => void;

/** The shared lease that in-process electors compete for. */
export class MemoryElectionGroup {
  private holder: { hubId: string; token: string; expiresAt: number } | null = null;
  private epochCounter = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  /** Acquires or renews; returns the epoch when `hubId` leads afterwards, else null. */
  tryAcquire(hubId: string, token: string, ttlMs: number): number | null {
    const now = this.clock();
    if (this.holder && this.holder.expiresAt > now && this.holder.token !== token) return null;
    if (!this.holder || this.holder.token !== token) {
      this.epochCounter += 1;
      this.holder = { hubId, token, expiresAt: now + ttlMs };
    } else {
      this.holder.expiresAt = now + ttlMs;
    }
    return this.epochCounter;
  }

  /** Releases only if `token` still holds the lease. */
  release(token: string): void {
    if (this.holder?.token === token) this.holder = null;
  }

  current(): LeaderFence | null {
    if (!this.holder || this.holder.expiresAt <= this.clock()) return null;
    return { hubId: this.holder.hubId, epoch: this.epochCounter };
  }

  /** Refuses a write whose fence is not the live leadership. No fence means "not leader-only". */
  readonly check: FenceCheck = (fence) => {
    if (!fence) return;
    const current = this.current();
    if (!current || current.epoch !== fence.epoch || current.hubId !== fence.hubId) {
      throw new ConflictError(`leader fence epoch ${fence.epoch} of hub ${fence.hubId} is stale`, {
        details: { fence, current },
      });
    }
  };
}

/** One hub's elector within a {@link MemoryElectionGroup}. */
export class MemoryLeaderElector implements LeaderElector {
  private readonly options: ElectorOptions;
  private readonly token = newToken();
  private timer: NodeJS.Timeout | undefined;
  private epoch: number | null = null;
  private readonly listeners = new Set<(state: LeadershipState) => void>();

  constructor(
    readonly hubId: string,
    private readonly group: MemoryElectionGroup,
    options: Partial<ElectorOptions> = {},
  ) {
    this.options = { ...DEFAULT_ELECTOR_OPTIONS, ...options };
    if (this.options.renewIntervalMs >= this.options.ttlMs) {
      throw new ConfigError('elector.renewIntervalMs must be less than elector.ttlMs');
    }
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.renewIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.group.release(this.token);
    this.set(null);
  }

  isLeader(): boolean {
    return this.epoch !== null;
  }

  fence(): LeaderFence | null {
    return this.epoch === null ? null : { hubId: this.hubId, epoch: this.epoch };
  }

  async leader(): Promise<LeaderFence | null> {
    return this.group.current();
  }

  onChange(listener: (state: LeadershipState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private tick(): void {
    this.set(this.group.tryAcquire(this.hubId, this.token, this.options.ttlMs));
  }

  private set(epoch: number | null): void {
    if (epoch === this.epoch) return;
    this.epoch = epoch;
    const state = { isLeader: epoch !== null, epoch };
    for (const listener of this.listeners) listener(state);
  }
}
