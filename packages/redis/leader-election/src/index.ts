/**
 * `@mcpmas/leader-election`: one leader among mcpmas hubs sharing a Redis, with an epoch
 * fencing token for leader-only writes.
 *
 * @packageDocumentation
 */
export { DEFAULT_REDIS_OPTIONS, type RedisConnectionOptions } from '@mcpmas/redis-common';
export { type RedisElectorOptions, RedisLeaderElector } from './elector.js';
export { type LeaderKeys, leaderKeys, leaderValue, parseLeaderValue } from './keys.js';
export type { RedisClient } from './scripts.js';
