/**
 * Every Redis key of the registry. All share the namespace's hash tag (`{<namespace>}`), so
 * the scripts run on Redis Cluster, and every script receives the keys it touches in KEYS.
 */

/** The registry keys of one namespace. */
export interface RegistryKeys {
  /** Hash: agent id → record JSON `{id, name, skills, metadata, protocol?}`. */
  readonly agents: string;
  /** Hash: agent id → epoch ms of its first registration (kept across refreshes). */
  readonly registeredAt: string;
  /** Sorted set: agent id scored by its last heartbeat, so stale agents are one range query. */
  readonly heartbeats: string;
  /** Hash: agent id → last reported load JSON. */
  readonly load: string;
  /** Stream: the event outbox, shared with `@mcpmas/redis-queue`. */
  readonly events: string;
  /** String: the current leader, written by `@mcpmas/leader-election`. */
  readonly leader: string;
  /** Counter: the leadership epoch, written by `@mcpmas/leader-election`. */
  readonly epoch: string;
}

/** Builds the registry keys of `namespace`. */
export function registryKeys(namespace = 'mcpmas'): RegistryKeys {
  const tag = `{${namespace}}`;
  return {
    agents: `${tag}:agents`,
    registeredAt: `${tag}:agents:registered`,
    heartbeats: `${tag}:heartbeats`,
    load: `${tag}:agents:load`,
    events: `${tag}:events`,
    leader: `${tag}:leader`,
    epoch: `${tag}:leader:epoch`,
  };
}
