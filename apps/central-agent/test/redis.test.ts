import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createHttpClient } from '@mcpmas/adapter-http';
import { probeTcp, requireService, uniquePrefix } from '@mcpmas/testkit';
import { Redis } from 'ioredis';
import { AGENT_CLI, exitOf, HUB_CLI, killAll, run, waitForLog } from './processes.js';

// Two mcpmas-hub processes sharing one Redis (REDIS_URL), each test run on its own namespace.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const { hostname, port } = new URL(REDIS_URL);
const available = await requireService(
  'Redis',
  () => probeTcp(hostname, Number(port || 6379)),
  'start redis-server, or set REDIS_URL',
);
const namespace = uniquePrefix('cli');
const cwd = mkdtempSync(join(tmpdir(), 'mcpmas-redis-cli-'));

afterAll(async () => {
  await killAll();
  rmSync(cwd, { recursive: true, force: true });
  if (!available) return;
  // Leave nothing behind: remove this run's keys only.
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${namespace}}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  await redis.quit();
});

(available ? describe : describe.skip)('mcpmas-hub with REDIS_URL', () => {
  it('two hubs share one queue: a task submitted on one runs on an agent of the other', async () => {
    const env = (hubId: string) => ({ REDIS_URL, MCPMAS_NAMESPACE: namespace, MCPMAS_HUB_ID: hubId });
    const hubA = run(HUB_CLI, ['--port', '0', '--grpc-port', '0'], { cwd, env: env('hub-a') });
    const hubB = run(HUB_CLI, ['--port', '0', '--grpc-port', '0'], { cwd, env: env('hub-b') });
    const [readyA, readyB] = await Promise.all([
      waitForLog(hubA, 'hub ready'),
      waitForLog(hubB, 'hub ready'),
    ]);
    expect(readyA).toMatchObject({ backend: 'redis', hubId: 'hub-a' });
    expect(readyB).toMatchObject({ backend: 'redis', hubId: 'hub-b' });

    const agent = run(
      AGENT_CLI,
      ['--hub-url', String(readyA.url), '--name', 'redis-agent', '--poll-wait-ms', '1000'],
      {
        cwd,
      },
    );
    const agentId = String((await waitForLog(agent, 'agent ready')).agentId);

    const client = createHttpClient({ baseUrl: String(readyB.url) });
    try {
      const { agents } = await client.agentsStatus();
      expect(agents.map((a) => a.id)).toContain(agentId);
      const { task } = await client.submit({ capability: 'echo', payload: 'across hubs' });
      const done = await client.get({ taskId: task.id, waitMs: 10_000 });
      expect(done.task).toMatchObject({ state: 'succeeded', result: { echo: 'across hubs', agentId } });
    } finally {
      await client.transport.stop();
    }

    agent.child.kill('SIGTERM');
    expect(await exitOf(agent)).toBe(0);
    hubA.child.kill('SIGTERM');
    hubB.child.kill('SIGTERM');
    expect(await Promise.all([exitOf(hubA), exitOf(hubB)])).toEqual([0, 0]);
  }, 30_000);
});
