/**
 * `redis+sentinel://` URLs: a Redis server and a Sentinel watching it, both owned by this test
 * (test-owned ports and files), and a backend that finds the master through the Sentinel and
 * follows a failover. Runs where `redis-server` is installed; skipped with a message otherwise.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '@mcpmas/testkit';
import { freePort, freshNamespace, hasRedisServer, RedisServer } from '@mcpmas/testkit/redis';
import { createRedisBackend } from '../src/index.js';

const available = hasRedisServer();
if (!available) console.warn('SKIPPED: the Redis Sentinel tests need redis-server on PATH.');

/** `redis-cli -p port args…`, its output trimmed. */
const cli = (port: number, ...args: string[]) =>
  spawnSync('redis-cli', ['-p', String(port), ...args])
    .stdout?.toString()
    .trim() ?? '';

(available ? describe : describe.skip)('redis+sentinel:// URLs', () => {
  const primary = new RedisServer({ appendonly: false });
  const replica = new RedisServer({ appendonly: false });
  const dir = mkdtempSync(join(tmpdir(), 'mcpmas-sentinel-'));
  let sentinel: ChildProcess | undefined;
  let sentinelPort = 0;

  beforeAll(async () => {
    await primary.start();
    await replica.start();
    cli(replica.port, 'replicaof', '127.0.0.1', String(primary.port));
    sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor mymaster 127.0.0.1 ${primary.port} 1`,
        'sentinel down-after-milliseconds mymaster 1000',
        'sentinel failover-timeout mymaster 5000',
        '',
      ].join('\n'),
    );
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    await eventually(
      () =>
        cli(sentinelPort, 'sentinel', 'get-master-addr-by-name', 'mymaster').includes(String(primary.port)),
      10_000,
      100,
    );
    await eventually(
      () => cli(replica.port, 'info', 'replication').includes('master_link_status:up'),
      10_000,
      100,
    );
  }, 30_000);

  afterAll(async () => {
    sentinel?.kill('SIGKILL');
    await primary.stop();
    await replica.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the master through the Sentinel, and follows it when the Sentinel fails over', async () => {
    const namespace = freshNamespace('sentinel');
    const backend = createRedisBackend({
      url: `redis+sentinel://127.0.0.1:${sentinelPort}/mymaster`,
      namespace,
    });
    try {
      const { task } = await backend.queue.submit({ capability: 'echo', payload: { n: 1 } });
      const [leased] = await backend.queue.lease({ agentId: 'a', capabilities: ['echo'], max: 1 });
      expect(leased?.taskId).toBe(task.id);
      await backend.queue.complete(
        { taskId: task.id, agentId: 'a', leaseToken: leased!.leaseToken },
        { status: 'succeeded', result: 'done' },
      );
      expect(await backend.queue.get(task.id)).toMatchObject({ state: 'succeeded', result: 'done' });

      // The replica becomes the master; the backend's next calls go there.
      // The replica has the finished task before it takes over.
      await eventually(
        () => cli(replica.port, 'hexists', `{${namespace}}:state`, task.id) === '1',
        10_000,
        50,
      );
      cli(sentinelPort, 'sentinel', 'failover', 'mymaster');
      await eventually(
        () =>
          cli(sentinelPort, 'sentinel', 'get-master-addr-by-name', 'mymaster').includes(String(replica.port)),
        15_000,
        100,
      );
      await eventually(() => cli(replica.port, 'role').startsWith('master'), 15_000, 100);
      // The old master is a replica now: a write there is refused (READONLY) and resent.
      await eventually(() => cli(primary.port, 'role').startsWith('slave'), 15_000, 100);
      const after = await eventually(async () => {
        try {
          return (await backend.queue.submit({ capability: 'echo', payload: { n: 2 } })).task;
        } catch {
          return undefined;
        }
      }, 20_000);
      expect(cli(replica.port, 'hexists', `{${namespace}}:state`, after.id)).toBe('1');
      expect((await backend.queue.get(task.id))?.state).toBe('succeeded');
    } finally {
      await backend.close();
    }
  }, 60_000);
});
