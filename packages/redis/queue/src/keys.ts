/**
 * Every Redis key (and the pub/sub channel) of the queue and the outbox. All share the
 * namespace's hash tag (`{<namespace>}`), so the scripts run on Redis Cluster, and every
 * script receives the keys it touches in KEYS — keys of a capability or an agent included.
 */

/** The queue keys of one namespace. */
export interface QueueKeys {
  /** Hash: task id → record: spec JSON, a newline, payload JSON; immutable (`lua/includes/store.lua`). */
  readonly tasks: string;
  /** Hash: task id → state line: state, counters, times, lease (see `lua/includes/store.lua`). */
  readonly state: string;
  /** Hash: `<task id>|e`, `|p`, `|c` → error JSON, progress JSON, cancel reason. */
  readonly notes: string;
  /** Hash: task id → result JSON. */
  readonly results: string;
  /** Counter: FIFO sequence and dead-letter order. */
  readonly seq: string;
  /** Sorted set: leased task ids scored by lease deadline. */
  readonly leases: string;
  /** Sorted set: non-terminal task ids with a total deadline, scored by it. */
  readonly deadlines: string;
  /** List: terminal task ids in completion order (retention trims from the head). */
  readonly terminal: string;
  /** Sorted set: dead-lettered task ids in completion order. */
  readonly dead: string;
  /** Hash: idempotency key → task id. */
  readonly idempotency: string;
  /** Hash: batch id → `{createdAt, taskIds}`. */
  readonly batches: string;
  /** Stream: the event outbox (shared with `@mcpmas/redis-registry`). */
  readonly events: string;
  /** String: the current leader, written by `@mcpmas/leader-election`. */
  readonly leader: string;
  /** Counter: the leadership epoch, written by `@mcpmas/leader-election`. */
  readonly epoch: string;
  /** Set: every capability that ever had a delayed task (the leader's delayed-task sweep walks it). */
  readonly capabilities: string;
  /** Pub/sub channel of wake-ups (not a key). */
  readonly signals: string;
  /**
   * Sorted set, every score 0: one member `<byte length of agent id>:<agent id>|<task id>` per
   * leased task, so an agent's tasks are one lexicographic range ({@link heldPrefix}) and a
   * script never needs a key named after an agent.
   */
  readonly held: string;
  /** Hash: waiter id → `origin|expiresAt|max|nonce|agentId`, an agent waiting for work (`leaseWait`). */
  readonly waiters: string;
  /** Sorted set: queued task ids of one capability, scored by priority then sequence. */
  ready(capability: string): string;
  /** Sorted set: delayed task ids of one capability, scored by the time they become due. */
  delayed(capability: string): string;
  /** List: ids of the waiters waiting for tasks of one capability, oldest first. */
  waiting(capability: string): string;
}

/** Builds the queue keys of `namespace`. */
export function queueKeys(namespace = 'mcpmas'): QueueKeys {
  const tag = `{${namespace}}`;
  return {
    tasks: `${tag}:tasks`,
    state: `${tag}:state`,
    notes: `${tag}:notes`,
    results: `${tag}:results`,
    seq: `${tag}:seq`,
    leases: `${tag}:leases`,
    deadlines: `${tag}:deadlines`,
    terminal: `${tag}:finished`,
    dead: `${tag}:dead`,
    idempotency: `${tag}:idempotency`,
    batches: `${tag}:batches`,
    events: `${tag}:events`,
    leader: `${tag}:leader`,
    epoch: `${tag}:leader:epoch`,
    capabilities: `${tag}:capabilities`,
    signals: `${tag}:signals`,
    ready: (capability) => `${tag}:ready:${capability}`,
    delayed: (capability) => `${tag}:delayed:${capability}`,
    held: `${tag}:held`,
    waiters: `${tag}:waiters`,
    waiting: (capability) => `${tag}:waiting:${capability}`,
  };
}

/** The seventeen keys every state-changing queue script receives first, in KEYS order. */
export function commonKeys(keys: QueueKeys): string[] {
  return [
    keys.tasks,
    keys.results,
    keys.seq,
    keys.leases,
    keys.deadlines,
    keys.terminal,
    keys.dead,
    keys.idempotency,
    keys.batches,
    keys.events,
    keys.leader,
    keys.epoch,
    keys.capabilities,
    keys.state,
    keys.notes,
    keys.held,
    keys.waiters,
  ];
}

/**
 * Where an agent's members of {@link QueueKeys.held} start: `<byte length>:<agent id>|`. The
 * length makes the prefix of one agent never the prefix of another's.
 */
export function heldPrefix(agentId: string): string {
  return `${Buffer.byteLength(agentId)}:${agentId}|`;
}
