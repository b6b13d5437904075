/**
 * The queue, registry, outbox and elector on a real 3-node Redis Cluster that this test
 * starts on free ports (and stops afterwards). Runs where `redis-server` and `redis-cli` are
 * installed; skipped with a message otherwise (and under CI only when they are missing too).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisLeaderElector } from '@mcpmas/leader-election';
import { RedisRegistry } from '@mcpmas/redis-registry';
import { eventually, evictionSuite, queueSuite, registrySuite } from '@mcpmas/testkit';
import { freePort, freshNamespace } from '@mcpmas/testkit/redis';
import { Cluster } from 'ioredis';
import { createRedisBackend, RedisOutbox, RedisTaskQueue } from '../src/index.js';

const hasBinaries =
  spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;
if (!hasBinaries) console.warn('SKIPPED: the Redis Cluster tests need redis-server and redis-cli on PATH.');

const cluster = {
  dir: '',
  ports: [] as number[],
  clients: [] as Cluster[],
  connect(): Cluster {
    const client = new Cluster(
      this.ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { maxRetriesPerRequest: 3 } },
    );
    client.on('error', () => undefined);
    this.clients.push(client);
    return client;
  },
};

async function startCluster(): Promise<void> {
  cluster.dir = mkdtempSync(join(tmpdir(), 'mcpmas-cluster-'));
  // Below 55000: each node's cluster bus listens on port + 10000.
  cluster.ports = [await freePort(55_000), await freePort(55_000), await freePort(55_000)];
  for (const port of cluster.ports) {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(cluster.dir, `nodes-${port}.conf`),
        '--dir',
        cluster.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'yes',
        '--logfile',
        join(cluster.dir, `${port}.log`),
        '--pidfile',
        join(cluster.dir, `${port}.pid`),
      ],
      { stdio: 'ignore' },
    );
    await new Promise((resolve) => child.on('exit', resolve));
  }
  await eventually(
    () =>
      cluster.ports.every((p) =>
        spawnSync('redis-cli', ['-p', String(p), 'ping'])
          .stdout?.toString()
          .includes('PONG'),
      ),
    5000,
  );
  const created = spawnSync('redis-cli', [
    '--cluster',
    'create',
    ...cluster.ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  if (created.status !== 0) throw new Error(`cluster create failed: ${created.stderr}`);
  await eventually(
    () =>
      spawnSync('redis-cli', ['-p', String(cluster.ports[0]), 'cluster', 'info'])
        .stdout.toString()
        .includes('cluster_state:ok'),
    10_000,
    100,
  );
}

async function stopCluster(): Promise<void> {
  for (const client of cluster.clients) client.disconnect();
  for (const port of cluster.ports) spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
  if (cluster.dir) rmSync(cluster.dir, { recursive: true, force: true });
}

(hasBinaries ? describe : describe.skip)('on a 3-node Redis Cluster', () => {
  beforeAll(startCluster, 30_000);
  afterAll(stopCluster);

  /** Electors and keys of one namespace; the cluster is thrown away at the end. */
  const fixture = async (label: string) => {
    const namespace = freshNamespace(label);
    const elector = new RedisLeaderElector(`hub-${label}`, { redis: cluster.connect(), namespace });
    await elector.start();
    return { namespace, fence: () => elector.fence() ?? undefined, stop: () => elector.stop() };
  };

  queueSuite(
    'redis cluster',
    async (options) => {
      const f = await fixture('queue');
      const queue = new RedisTaskQueue({ ...options, redis: cluster.connect(), namespace: f.namespace });
      const outbox = new RedisOutbox({ redis: queue.client, namespace: f.namespace });
      return {
        queue,
        outbox,
        fence: f.fence,
        close: async () => {
          await queue.close();
          await f.stop();
        },
      };
    },
    { completeAndLease: true, leaseWait: true },
  );

  registrySuite('redis cluster', async () => {
    const f = await fixture('registry');
    const registry = new RedisRegistry({ redis: cluster.connect(), namespace: f.namespace });
    const outbox = new RedisOutbox({ redis: registry.client, namespace: f.namespace });
    return { registry, outbox, fence: f.fence, close: f.stop };
  });

  evictionSuite('redis cluster', async (queue) => {
    const backend = createRedisBackend({
      redis: cluster.connect(),
      namespace: freshNamespace('evict'),
      queue,
    });
    return { backend, close: () => backend.close() };
  });

  it('connects from a redis+cluster:// URL of two seed nodes and finds the third', async () => {
    const [a, b] = cluster.ports;
    const backend = createRedisBackend({
      url: `redis+cluster://127.0.0.1:${a},127.0.0.1:${b}`,
      namespace: freshNamespace('cluster-url'),
    });
    try {
      const { task } = await backend.queue.submit({ capability: 'echo', payload: 'x' });
      const [leased] = await backend.queue.lease({ agentId: 'a', capabilities: ['echo'], max: 1 });
      expect(leased?.taskId).toBe(task.id);
      const client = (backend.queue as RedisTaskQueue).client as Cluster;
      await eventually(() => client.nodes('master').length === 3);
    } finally {
      await backend.close();
    }
  });

  it('long-polls without pushes: a waiting agent gets a task another hub submits, by wake-up and lease', async () => {
    const namespace = freshNamespace('cluster-wait');
    const waiting = new RedisTaskQueue({ redis: cluster.connect(), namespace });
    const submitting = new RedisTaskQueue({ redis: cluster.connect(), namespace });
    try {
      const started = performance.now();
      const wait = waiting.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 100));
      const { task } = await submitting.submit({ capability: 'echo', payload: 'x' });
      expect((await wait).map((t) => t.taskId)).toEqual([task.id]);
      expect(performance.now() - started).toBeLessThan(5000);
      // No waiter registrations on Cluster.
      expect(await waiting.client.hlen(waiting.keys.waiters)).toBe(0);
      // The time runs out empty-handed too.
      expect(await waiting.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 300 })).toEqual(
        [],
      );
    } finally {
      await waiting.close();
      await submitting.close();
    }
  });

  it('spreads namespaces over the nodes but keeps each namespace on one slot', async () => {
    const client = cluster.connect();
    const slots = new Set<number>();
    for (const ns of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const queue = new RedisTaskQueue({ redis: client, namespace: ns });
      await queue.submit({ capability: 'echo' });
      await queue.lease({ agentId: 'x', capabilities: ['echo'], max: 1 });
      const keySlots = new Set(
        await Promise.all(
          [queue.keys.tasks, queue.keys.ready('echo'), queue.keys.held, queue.keys.waiting('echo')].map(
            async (key) => (await client.cluster('KEYSLOT', key)) as unknown as number,
          ),
        ),
      );
      expect(keySlots.size).toBe(1);
      slots.add([...keySlots][0]!);
      await queue.close();
    }
    expect(slots.size).toBeGreaterThan(1);
  });
});
