/**
 * `@mcpmas/redis-registry`: the mcpmas agent registry on Redis — records, heartbeats in a
 * sorted set, fenced eviction that writes its event in the same script.
 *
 * @packageDocumentation
 */
export { DEFAULT_REDIS_OPTIONS, type RedisConnectionOptions } from '@mcpmas/redis-common';
export { ScriptCode, type ScriptErrorContext, scriptError } from './errors.js';
export { type RegistryKeys, registryKeys } from './keys.js';
export { RedisRegistry, type RedisRegistryOptions } from './registry.js';
export type { RedisClient } from './scripts.js';
