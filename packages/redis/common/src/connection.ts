/**
 * Connection handling shared by the `@mcpmas/redis-*` packages: take a client the caller
 * owns, or open one from a URL / ioredis options that survives Redis restarts.
 */
import { ConfigError, UnavailableError } from '@mcpmas/core';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from './scripts.js';

/** How to reach Redis. Give `redis` to share a client, or `url` / `redisOptions` to open one. */
export interface RedisConnectionOptions {
  /**
   * An existing ioredis client — standalone, Sentinel-backed (`new Redis({ sentinels, name })`)
   * or `new Cluster([...])`. It is shared, never closed by `close()`.
   */
  redis?: RedisClient;
  /**
   * Where Redis is, used when `redis` is not given (see {@link parseRedisUrl}):
   * - `redis://[user:password@]host:port[/db]` — one server (`rediss://` for TLS);
   * - `redis+sentinel://[user:password@]host:port[,host:port…]/<master name>[/db]` — the
   *   master that these Sentinels name, followed across failovers (`rediss+sentinel://` for
   *   TLS to Redis; `?sentinelPassword=…` when the Sentinels need one);
   * - `redis+cluster://[user:password@]host:port[,host:port…]` — a Redis Cluster, found from
   *   these seed nodes (`rediss+cluster://` for TLS).
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

/** A Redis URL taken apart by {@link parseRedisUrl}. */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | {
      kind: 'sentinel';
      sentinels: Array<{ host: string; port: number }>;
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelPassword?: string;
      tls: boolean;
    }
  | {
      kind: 'cluster';
      nodes: Array<{ host: string; port: number }>;
      username?: string;
      password?: string;
      tls: boolean;
    };

const URL_FORMS =
  'redis://host:port[/db], redis+sentinel://host:port[,host:port…]/<master name>[/db] or redis+cluster://host:port[,host:port…] (rediss… for TLS)';

/**
 * Takes a Redis URL apart (the forms are listed at {@link RedisConnectionOptions.url}).
 * Throws a `ConfigError` naming what is wrong: an unknown scheme, no hosts, a bad port, a
 * Sentinel URL without a master name, a database on a Cluster.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const match = /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(.*)$/i.exec(url);
  if (!match) throw new ConfigError(`Redis URL "${redact(url)}" must be one of ${URL_FORMS}`);
  const [, scheme, mode, rest] = match as unknown as [string, string, string | undefined, string];
  if (!mode) return { kind: 'server', url };
  const tls = scheme.toLowerCase() === 'rediss';
  const kind = mode.toLowerCase() as 'sentinel' | 'cluster';
  const queryAt = rest.indexOf('?');
  const query = new URLSearchParams(queryAt >= 0 ? rest.slice(queryAt + 1) : '');
  const beforeQuery = queryAt >= 0 ? rest.slice(0, queryAt) : rest;
  const at = beforeQuery.lastIndexOf('@');
  const credentials = at >= 0 ? beforeQuery.slice(0, at) : '';
  const [hostList = '', ...path] = (at >= 0 ? beforeQuery.slice(at + 1) : beforeQuery).split('/');
  const where = `${kind} URL "${redact(url)}"`;
  const hosts = hostList
    .split(',')
    .filter((h) => h !== '')
    .map((entry) => {
      const hostPort = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
      const port = Number(hostPort?.[2] ?? (kind === 'sentinel' ? 26379 : 6379));
      if (!hostPort || !Number.isInteger(port) || port < 1 || port > 65_535) {
        throw new ConfigError(`${where}: "${entry}" is not host:port`);
      }
      return { host: hostPort[1]!.replace(/^\[|\]$/g, ''), port };
    });
  if (hosts.length === 0) throw new ConfigError(`${where} names no host`);
  const auth: { username?: string; password?: string } = {};
  if (credentials) {
    const colon = credentials.indexOf(':');
    const username = decodeURIComponent(colon >= 0 ? credentials.slice(0, colon) : '');
    const password = decodeURIComponent(colon >= 0 ? credentials.slice(colon + 1) : credentials);
    if (username) auth.username = username;
    if (password) auth.password = password;
  }
  const segments = path.filter((p) => p !== '');
  if (kind === 'cluster') {
    if (segments.length > 0)
      throw new ConfigError(`${where}: a Redis Cluster has no databases or names in the path`);
    return { kind, nodes: hosts, tls, ...auth };
  }
  const [name, dbText] = segments;
  if (!name) throw new ConfigError(`${where} needs the master name as its path, e.g. /mymaster`);
  const db = dbText === undefined ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || segments.length > 2) {
    throw new ConfigError(`${where}: the path must be /<master name>[/<db number>]`);
  }
  const sentinelPassword = query.get('sentinelPassword') ?? undefined;
  return {
    kind,
    sentinels: hosts,
    name: decodeURIComponent(name),
    db,
    tls,
    ...auth,
    ...(sentinelPassword ? { sentinelPassword } : {}),
  };
}

/** The URL with any password replaced, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:***@');
}

/** Resolves connection options to a client. */
export function openConnection(options: RedisConnectionOptions, connectionName?: string): Connection {
  if (options.redis) return { client: options.redis, owned: false };
  const redisOptions: RedisOptions = { ...DEFAULT_REDIS_OPTIONS, ...options.redisOptions };
  if (connectionName && !redisOptions.connectionName) redisOptions.connectionName = connectionName;
  const client = connect(parseRedisUrl(options.url ?? 'redis://127.0.0.1:6379'), redisOptions);
  // Connection errors surface on the commands that hit them; without a listener ioredis
  // would also print every reconnect failure as an unhandled error event.
  client.on('error', () => undefined);
  return { client, owned: true };
}

function connect(target: RedisTarget, redisOptions: RedisOptions): RedisClient {
  switch (target.kind) {
    case 'server':
      return new Redis(target.url, redisOptions);
    case 'sentinel':
      return new Redis({
        ...redisOptions,
        sentinels: target.sentinels,
        name: target.name,
        db: target.db,
        ...(target.username ? { username: target.username } : {}),
        ...(target.password ? { password: target.password } : {}),
        ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
        ...(target.tls ? { tls: {} } : {}),
      });
    case 'cluster':
      return new Cluster(target.nodes, {
        clusterRetryStrategy: redisOptions.retryStrategy,
        redisOptions: {
          ...redisOptions,
          ...(target.username ? { username: target.username } : {}),
          ...(target.password ? { password: target.password } : {}),
          ...(target.tls ? { tls: {} } : {}),
        },
      });
  }
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
