/**
 * `@mcpmas/redis-queue`: the mcpmas task queue and event outbox on Redis, and
 * {@link createRedisBackend}, which bundles them with `@mcpmas/redis-registry` and
 * `@mcpmas/leader-election` into a hub backend.
 *
 * @packageDocumentation
 */

export { DEFAULT_REDIS_OPTIONS, type RedisConnectionOptions } from '@mcpmas/redis-common';
export { createRedisBackend, type RedisBackendOptions } from './backend.js';
export { ScriptCode, type ScriptErrorContext, scriptError } from './errors.js';
export { commonKeys, type QueueKeys, queueKeys } from './keys.js';
export {
  eventIdFromStreamId,
  RedisOutbox,
  type RedisOutboxOptions,
  streamIdFromEventId,
} from './outbox.js';
export { type RedisQueueOptions, RedisTaskQueue } from './queue.js';
export type { RedisClient } from './scripts.js';
