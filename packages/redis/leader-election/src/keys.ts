/**
 * Every Redis key of leader election. All share the namespace's hash tag, so they live in one
 * Cluster slot together with the queue and registry keys they fence.
 *
 * `@mcpmas/redis-queue` and `@mcpmas/redis-registry` read the same two keys to check fences;
 * their key builders spell them the same way.
 */

/** The keys of one namespace. */
export interface LeaderKeys {
  /** String `"<token> <hubId>"` of the current leader, expiring with the lease. */
  readonly leader: string;
  /** Integer incremented on every new leadership: the fencing epoch. */
  readonly epoch: string;
}

/** Builds the leader-election keys of `namespace`. */
export function leaderKeys(namespace = 'mcpmas'): LeaderKeys {
  const tag = `{${namespace}}`;
  return { leader: `${tag}:leader`, epoch: `${tag}:leader:epoch` };
}

/** The value stored in the leader key: the elector's private token, a space, then its hub id. */
export function leaderValue(token: string, hubId: string): string {
  return `${token} ${hubId}`;
}

/** Splits a leader key value into its token and hub id. */
export function parseLeaderValue(value: string): { token: string; hubId: string } | null {
  const space = value.indexOf(' ');
  if (space <= 0) return null;
  return { token: value.slice(0, space), hubId: value.slice(space + 1) };
}
