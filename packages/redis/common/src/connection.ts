/**
 * Connection handling shared by the `@mcpmas/redis-*` packages: take a client the caller
 * owns, or open one from a URL / ioredis options that survives Redis restarts.
 */
import { ConfigError, UnavailableError } from '@mcpmas/core';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './scripts.js';

/** How to reach Redis. Give `redis` to share a client, or `url` / `redisOptions` to open one. */
export interface RedisConnectionOptions {
  /**
   * An existing ioredis client — standalone, Sentinel-backed (`new Redis({ sentinels, name })`)
   * or `new Cluster([...])`. It is shared, never closed by `close()`.
   */
  redis?: RedisClient;
  /**
   * A `redis://` or `rediss://` URL, used when `redis` is not given.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /** ioredis options for the connection this package opens (merged over the defaults). */
  redisOptions?: RedisOptions;
  /**
   * Key namespace. Every key is `{<namespace>}:…`, one hash tag, so the scripts also run on
   * Redis Cluster. Deployments sharing one Redis use different namespaces.
   * @default 'mcpmas'
   */
  namespace?: string;
}

/** Default connection options: reconnect forever with a capped delay. */
export const DEFAULT_REDIS_OPTIONS: RedisOptions = {
  // Reconnect after 50 ms, 100 ms, … up to 2 s, forever: a restarted Redis is picked up again.
  retryStrategy: (times) => Math.min(times * 50, 2000),
  // Commands issued while disconnected wait for the reconnect, but fail after this many
  // reconnect attempts instead of hanging forever (ioredis' default is 20).
  maxRetriesPerRequest: 20,
};

/** A client plus whether this package opened it (and so must close it). */
export interface Connection {
  client: RedisClient;
  owned: boolean;
}

/** Resolves connection options to a client. */
export function openConnection(options: RedisConnectionOptions, connectionName?: string): Connection {
  if (options.redis) return { client: options.redis, owned: false };
  const redisOptions: RedisOptions = { ...DEFAULT_REDIS_OPTIONS, ...options.redisOptions };
  if (connectionName && !redisOptions.connectionName) redisOptions.connectionName = connectionName;
  const client = new Redis(options.url ?? 'redis://127.0.0.1:6379', redisOptions);
  // Connection errors surface on the commands that hit them; without a listener ioredis
  // would also print every reconnect failure as an unhandled error event.
  client.on('error', () => undefined);
  return { client, owned: true };
}

/** Closes a client: a graceful QUIT when connected, otherwise a plain disconnect. */
export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    const quit = client.quit().then(
      () => undefined,
      () => undefined,
    );
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
    await Promise.race([quit, timeout]);
  }
  client.disconnect();
}

/** Validates a namespace: it becomes a hash tag, so it cannot contain braces. */
export function checkNamespace(namespace: string): string {
  if (!namespace || /[{}\s]/.test(namespace)) {
    throw new ConfigError(`namespace "${namespace}" must be non-empty, without braces or spaces`);
  }
  return namespace;
}

/**
 * Turns a failure to reach Redis into a retryable {@link UnavailableError}; Redis replies
 * (script errors and the like) are left as they are.
 */
export function connectionError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  if (error.name === 'ReplyError') return error;
  return new UnavailableError(`Redis unavailable: ${error.message}`, { cause: error });
}
