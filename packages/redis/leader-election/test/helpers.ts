/**
 * Redis for tests: every test works in its own namespace and deletes its keys afterwards
 * (never FLUSHALL). Without Redis the tests are skipped with a visible message, except under
 * `CI=true`, where a missing Redis fails the run.
 */

import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from '@jest/globals';
import { requireService, uniquePrefix } from '@mcpmas/testkit';
import { Redis } from 'ioredis';

/** The Redis the tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function ping(): Promise<void> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } finally {
    probe.disconnect();
  }
}

/** True when Redis answers; throws under CI when it does not. */
export const redisUp = await requireService(
  `Redis at ${REDIS_URL}`,
  ping,
  'start Redis on 127.0.0.1:6379 (redis-server --daemonize yes) or set REDIS_URL=redis://host:port',
);

/** `describe` when Redis is up; otherwise a visibly skipped block naming how to enable it. */
export function describeRedis(name: string, body: () => void): void {
  if (redisUp) describe(name, body);
  else describe.skip(`${name} (needs Redis: set REDIS_URL)`, () => it('needs Redis', () => undefined));
}

/** A fresh namespace for one test. */
export const freshNamespace = (label = 'test') => uniquePrefix(`mcpmas-${label}`);

/** A plain client for assertions and clean-up. */
export function adminClient(): Redis {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  client.on('error', () => undefined);
  return client;
}

/** Deletes every key of a namespace (`{ns}:*`). */
export async function dropNamespace(client: Redis, namespace: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `{${namespace}}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

/** Kills the server side of the connection named `name` (CLIENT KILL ID …). */
export async function killConnection(admin: Redis, name: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  let killed = 0;
  for (const line of list.split('\n')) {
    const id = /\bid=(\d+)/.exec(line)?.[1];
    if (id && new RegExp(`\\bname=${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`).test(line)) {
      await admin.client('KILL', 'ID', id);
      killed += 1;
    }
  }
  return killed;
}

/**
 * A TCP proxy in front of Redis that a test can freeze (bytes stop flowing, as on a hung
 * network) or cut (every connection reset), without touching other clients of the server.
 */
export class RedisProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private frozen = false;

  /** Starts listening on a free port; resolves with the URL clients should use. */
  async start(): Promise<string> {
    const target = new URL(REDIS_URL);
    this.server = createServer((client) => {
      const upstream = connect({ host: target.hostname, port: Number(target.port || 6379) });
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.frozen) {
        client.pause();
        upstream.pause();
      }
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `redis://127.0.0.1:${port}`;
  }

  /** Holds every byte in both directions (as a hung network does) until {@link RedisProxy.thaw}. */
  freeze(): void {
    this.frozen = true;
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
    }
  }

  thaw(): void {
    this.frozen = false;
    for (const [a, b] of this.pairs) {
      a.pipe(b);
      b.pipe(a);
    }
  }

  /** Resets every proxied connection (clients reconnect through the proxy). */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
