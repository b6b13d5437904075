/**
 * `@mcpmas/testkit/redis`: Redis helpers for tests of the `@mcpmas/redis-*` packages and
 * anything built on them. Every test works in its own namespace and deletes its keys
 * afterwards (never `FLUSHALL`). Without Redis the tests are skipped with a visible message,
 * except under `CI=true`, where a missing Redis fails the run. Tests that must stop or
 * restart Redis start their own server ({@link RedisServer}) and never touch the shared one.
 *
 * Needs `ioredis` (an optional peer dependency of `@mcpmas/testkit`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { eventually, requireService, uniquePrefix } from './services.js';

/** The shared Redis the tests use: `REDIS_URL`, or the local default. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Resolves when the Redis at `url` answers PING within a second. */
export async function pingRedis(url = REDIS_URL): Promise<void> {
  const probe = new Redis(url, {
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

/** True when the shared Redis answers; under CI a missing Redis throws instead. */
export const redisUp = await requireService(
  `Redis at ${REDIS_URL}`,
  () => pingRedis(),
  'start Redis on 127.0.0.1:6379 (redis-server --daemonize yes) or set REDIS_URL=redis://host:port',
);

/** `describe` when Redis is up; otherwise a visibly skipped block naming how to enable it. */
export function describeRedis(name: string, body: () => void): void {
  if (redisUp) describe(name, body);
  else describe.skip(`${name} (needs Redis: set REDIS_URL)`, () => it('needs Redis', () => undefined));
}

/** A fresh namespace for one test. */
export const freshNamespace = (label = 'test'): string => uniquePrefix(`mcpmas-${label}`);

/** A plain client for assertions and clean-up; the caller quits it. */
export function adminClient(url = REDIS_URL): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 3 });
  client.on('error', () => undefined);
  return client;
}

/** Deletes every key of a namespace (`{ns}:*`) with SCAN + UNLINK. */
export async function dropNamespace(client: Redis, namespace: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `{${namespace}}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

/** Kills the server side of every connection named `name` (CLIENT KILL ID …); returns how many. */
export async function killConnection(admin: Redis, name: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  const pattern = new RegExp(`\\bname=${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
  let killed = 0;
  for (const line of list.split('\n')) {
    const id = /\bid=(\d+)/.exec(line)?.[1];
    if (id && pattern.test(line)) {
      await admin.client('KILL', 'ID', id);
      killed += 1;
    }
  }
  return killed;
}

/**
 * A free TCP port on 127.0.0.1. `below` bounds it (a cluster node also uses port + 10000
 * for its bus, which must stay a valid port).
 */
export async function freePort(below = 65_536): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (port < below) return port;
  }
}

/** True when `redis-server` is on PATH. */
export const hasRedisServer = (): boolean => spawnSync('redis-server', ['--version']).status === 0;

/** Options of {@link RedisServer}. */
export interface RedisServerOptions {
  /** Append-only file on, so a restart keeps every acknowledged write. @default true */
  appendonly?: boolean;
  /** Extra `redis-server` arguments. */
  args?: string[];
}

/**
 * A `redis-server` this test owns: its own free port and data directory, started and killed
 * by the test. `restart()` keeps the port and the data (with AOF, every write), as a real
 * Redis restart does.
 */
export class RedisServer {
  /** The port, chosen on the first start. */
  port = 0;
  /** The data directory (removed by {@link RedisServer.stop}). */
  readonly dir = mkdtempSync(join(tmpdir(), 'mcpmas-redis-'));
  private child: ChildProcess | undefined;

  constructor(private readonly options: RedisServerOptions = {}) {}

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (on the same port as before after a kill) and waits until it answers. */
  async start(): Promise<string> {
    if (this.child) throw new Error('this Redis server is already running');
    if (!this.port) this.port = await freePort();
    const appendonly = this.options.appendonly ?? true;
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        appendonly ? 'yes' : 'no',
        // Every write reaches the file before the reply, so a SIGKILL loses nothing.
        '--appendfsync',
        'always',
        ...(this.options.args ?? []),
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await eventually(() => pingRedis(this.url).then(() => true), 10_000, 50);
    return this.url;
  }

  /** Kills the server at once (SIGKILL by default, as a crash would). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  /** Kills the server and starts it again on the same port with the same data. */
  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.start();
  }

  /** Kills the server and removes its data directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A TCP proxy in front of Redis that a test can freeze (bytes stop flowing, as on a hung
 * network) or cut (every connection reset), without touching other clients of the server.
 */
export class RedisProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private frozen = false;

  /** A proxy in front of the Redis at `target`. */
  constructor(private readonly target = REDIS_URL) {}

  /** Starts listening on a free port; resolves with the URL clients should use. */
  async start(): Promise<string> {
    const target = new URL(this.target);
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
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
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

  /** Lets bytes flow again. */
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

  /** Cuts every connection and stops listening. */
  async stop(): Promise<void> {
    this.cut();
    const server = this.server;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
