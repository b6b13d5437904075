/**
 * Several hubs and agents as real processes on a Redis this test owns (its own port, AOF on;
 * the shared Redis is never touched): agent and leader crashes, a hub whose clock is ten
 * minutes ahead, and a Redis restart mid-run. Every wait is bounded; every process and the
 * server are killed in `afterAll`.
 *
 * The fixtures import the workspace packages' built `dist/` (run `pnpm build` first; the
 * root `pnpm test` does).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpTransport } from '@mcpmas/adapter-http';
import { FailoverTransport } from '@mcpmas/agent';
import { HubClient, isTerminal, type SubmitTask, type TaskView } from '@mcpmas/core';
import { eventIdFromStreamId } from '@mcpmas/redis-queue';
import { delay, eventually, isCI } from '@mcpmas/testkit';
import { hasRedisServer, RedisServer } from '@mcpmas/testkit/redis';
import { Redis } from 'ioredis';
import type { AgentFixtureConfig } from './fixtures/agent.js';
import type { HubFixtureConfig } from './fixtures/hub.js';
import { type Fixture, killAll, readLines, startFixture } from './processes.js';

const HEARTBEAT_MS = 200;
const TIMEOUT_MS = 1000;
const TTL_MS = 1500;
const RENEW_MS = 300;
const SWEEP_MS = 100;
/** Hub C's clock runs this far ahead. */
const SKEW_MS = 10 * 60_000;
/** Time for a leadership line to travel from a hub to the test (10 ms poll + a pipe). */
const REPORT_SLACK_MS = 150;

const NAMESPACE = 'e2e';

interface Delivered {
  by: string;
  id: string;
  type: string;
  at: number;
  data: Record<string, unknown>;
}

const available = hasRedisServer();
if (!available) {
  if (isCI) throw new Error('the multi-process tests need redis-server on PATH in CI');
  console.warn('SKIPPED: the multi-process tests need redis-server on PATH.');
}

(available ? describe : describe.skip)('several hubs and agents as processes on one Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmas-e2e-'));
  const eventsFile = join(dir, 'events.jsonl');
  const resultsFile = join(dir, 'results.jsonl');
  const redis = new RedisServer({ appendonly: true });
  let admin: Redis;
  let client: HubClient;
  let transport: FailoverTransport;
  const hubs = new Map<string, Fixture>();
  const hubUrls = new Map<string, string>();
  const agents = new Map<string, Fixture>();

  const startHub = async (hubId: string, skewMs = 0) => {
    const config: HubFixtureConfig = {
      hubId,
      redisUrl: redis.url,
      namespace: NAMESPACE,
      eventsFile,
      heartbeatIntervalMs: HEARTBEAT_MS,
      heartbeatTimeoutMs: TIMEOUT_MS,
      electorTtlMs: TTL_MS,
      electorRenewMs: RENEW_MS,
      sweepIntervalMs: SWEEP_MS,
    };
    const hub = startFixture(
      hubId,
      'hub',
      { E2E_HUB: JSON.stringify(config), E2E_CLOCK_SKEW_MS: String(skewMs) },
      skewMs ? ['./fixtures/skew.ts'] : [],
    );
    hubs.set(hubId, hub);
    const ready = await hub.waitFor((l) => l.ready === true, 20_000);
    hubUrls.set(hubId, String(ready.url));
    return hub;
  };
  const startAgent = async (agentId: string, preferred: string[]) => {
    const config: AgentFixtureConfig = {
      agentId,
      hubs: preferred.map((id) => hubUrls.get(id)!),
      resultsFile,
      concurrency: 1,
    };
    const agent = startFixture(agentId, 'agent', { E2E_AGENT: JSON.stringify(config) });
    agents.set(agentId, agent);
    await agent.waitFor((l) => l.ready === true, 20_000);
    return agent;
  };

  const get = async (taskId: string): Promise<TaskView> => (await client.get({ taskId })).task;
  /** Submits, retrying through outages; the idempotency key makes retries safe. */
  const submit = async (task: SubmitTask & { idempotencyKey: string }): Promise<TaskView> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        return (await client.submit(task)).task;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await delay(100);
      }
    }
  };
  const terminal = (taskIds: string[], timeoutMs: number) =>
    eventually(
      async () => {
        const views = await Promise.all(taskIds.map(get));
        return views.every((v) => isTerminal(v.state)) ? views : null;
      },
      timeoutMs,
      100,
    );
  const holders = (taskIds: string[], timeoutMs = 5000) =>
    eventually(
      async () => {
        const views = await Promise.all(taskIds.map(get));
        return views.every((v) => v.state === 'leased') ? views.map((v) => v.agentId!) : null;
      },
      timeoutMs,
      20,
    );
  const delivered = () => readLines<Delivered>(eventsFile);
  const evictionsOf = (agentId: string) =>
    delivered().filter((e) => e.type === 'agent.evicted' && e.data.agentId === agentId);
  /** Ids of every event in the outbox stream, as event ids. */
  const outboxIds = async () =>
    (await admin.xrange(`{${NAMESPACE}}:events`, '-', '+')).map(([id]) => eventIdFromStreamId(id));
  /** Waits until every outbox event was delivered to the file. */
  const allDelivered = (timeoutMs = 5000) =>
    eventually(
      async () => {
        const seen = new Set(delivered().map((e) => e.id));
        return (await outboxIds()).every((id) => seen.has(id));
      },
      timeoutMs,
      50,
    );
  const noDuplicateDeliveries = () => {
    const ids = delivered().map((e) => e.id);
    expect(ids.length).toBe(new Set(ids).size);
  };
  /** The first `{"leader":true}` line any of `candidates` printed after `since`. */
  const nextLeader = (candidates: string[], since: number, timeoutMs = 5000) =>
    eventually(
      () => {
        for (const hubId of candidates) {
          const line = hubs.get(hubId)!.lines.find((l) => l.leader === true && Number(l.receivedAt) >= since);
          if (line) return { hubId, at: Number(line.receivedAt) };
        }
        return null;
      },
      timeoutMs,
      5,
    );
  const liveAgents = () => [...agents].filter(([, f]) => f.alive).map(([id]) => id);

  beforeAll(async () => {
    await redis.start();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 3 });
    admin.on('error', () => undefined);
    // Hub A starts alone, so it is the first leader.
    const a = await startHub('hub-a');
    await a.waitFor((l) => l.leader === true, 5000);
    await Promise.all([startHub('hub-b'), startHub('hub-c', SKEW_MS)]);
    transport = new FailoverTransport(
      ['hub-b', 'hub-c', 'hub-a'].map(
        (id) => new HttpTransport({ baseUrl: hubUrls.get(id)!, timeoutMs: 3000 }),
      ),
      { probeIntervalMs: 300 },
    );
    await transport.start();
    client = new HubClient(transport);
    await Promise.all([
      startAgent('agent-1', ['hub-a', 'hub-b', 'hub-c']),
      startAgent('agent-2', ['hub-a', 'hub-c', 'hub-b']),
      startAgent('agent-3', ['hub-b', 'hub-c', 'hub-a']),
      startAgent('agent-4', ['hub-c', 'hub-b', 'hub-a']),
      startAgent('agent-5', ['hub-b', 'hub-a', 'hub-c']),
    ]);
  }, 40_000);

  afterAll(async () => {
    await transport?.stop();
    await killAll();
    admin?.disconnect();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('requeues the tasks of a SIGKILLed agent, which then finish on another agent', async () => {
    const tasks = await Promise.all(
      [0, 1, 2].map((i) => submit({ capability: 'echo', payload: { ms: 1500 }, idempotencyKey: `s1-${i}` })),
    );
    const [victim] = await holders(tasks.map((t) => t.id));
    await agents.get(victim!)!.kill();

    const views = await terminal(
      tasks.map((t) => t.id),
      10_000,
    );
    expect(views.map((v) => v.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const [requeued, ...others] = views;
    expect(requeued).toMatchObject({ attempts: 1 });
    expect(requeued!.result).toMatchObject({ attempt: 2 });
    expect((requeued!.result as { agentId: string }).agentId).not.toBe(victim);
    for (const v of others) expect(v.attempts).toBe(0);

    await eventually(() => evictionsOf(victim!).length > 0, 5000, 50);
    const [eviction] = evictionsOf(victim!);
    expect(eviction!.data).toMatchObject({ requeued: [tasks[0]!.id], dead: [] });
    expect(eviction!.by).toBe('hub-a');
  }, 20_000);

  it('another hub leads within the lease TTL plus one renew interval after the leader is SIGKILLed; no eviction or notification is lost or doubled', async () => {
    expect((await client.call('agents.status', {})).leader?.hubId).toBe('hub-a');
    // Up to date before the crash, so what follows is the new leader's work.
    await allDelivered();
    const tasks = await Promise.all(
      [0, 1].map((i) => submit({ capability: 'echo', payload: { ms: 2500 }, idempotencyKey: `s2-${i}` })),
    );
    const [victim] = await holders(tasks.map((t) => t.id));

    const killedAt = Date.now();
    await Promise.all([hubs.get('hub-a')!.kill(), agents.get(victim!)!.kill()]);
    // Work keeps arriving during the failover.
    const during = await Promise.all(
      Array.from({ length: 10 }, (_, i) => submit({ capability: 'echo', idempotencyKey: `s2-during-${i}` })),
    );
    const leader = await nextLeader(['hub-b', 'hub-c'], killedAt);
    const failoverMs = leader.at - killedAt;
    console.info(
      `leader failover took ${failoverMs} ms (TTL ${TTL_MS} + renew ${RENEW_MS} ms; checked against that + ${REPORT_SLACK_MS} ms reporting slack)`,
    );
    expect(failoverMs).toBeLessThanOrEqual(TTL_MS + RENEW_MS + REPORT_SLACK_MS);

    const views = await terminal(
      [...tasks, ...during].map((t) => t.id),
      15_000,
    );
    expect(views.every((v) => v.state === 'succeeded')).toBe(true);
    expect(views[0]).toMatchObject({ attempts: 1 });
    expect((views[0]!.result as { agentId: string }).agentId).not.toBe(victim);

    // The dead agent is evicted exactly once, by the new leader, with its task.
    await eventually(() => evictionsOf(victim!).length > 0, 5000, 50);
    await allDelivered();
    expect(evictionsOf(victim!)).toHaveLength(1);
    expect(evictionsOf(victim!)[0]).toMatchObject({ by: leader.hubId, data: { requeued: [tasks[0]!.id] } });
    // Every event reached the notifier once, including the new leadership.
    noDuplicateDeliveries();
    expect(delivered().some((e) => e.type === 'leader.changed' && e.data.hubId === leader.hubId)).toBe(true);
  }, 25_000);

  it('a hub whose clock is ten minutes ahead leads correctly: leases and evictions follow Redis time', async () => {
    const status = await client.call('agents.status', {});
    if (status.leader?.hubId !== 'hub-c') {
      // Make the skewed hub the leader: crash the other one (a second failover).
      const killedAt = Date.now();
      await hubs.get(status.leader!.hubId)!.kill();
      const leader = await nextLeader(['hub-c'], killedAt);
      expect(leader.at - killedAt).toBeLessThanOrEqual(TTL_MS + RENEW_MS + REPORT_SLACK_MS);
    }
    await eventually(
      async () => (await client.call('agents.status', {})).leader?.hubId === 'hub-c',
      5000,
      50,
    );
    // The preload really moved hub C's clock.
    const ready = hubs.get('hub-c')!.lines.find((l) => l.ready === true)!;
    expect(Number(ready.clock) - Number(ready.receivedAt)).toBeGreaterThan(SKEW_MS - 5000);
    // Its view of time is Redis's, not its own clock's.
    const toC = new HttpTransport({ baseUrl: hubUrls.get('hub-c')!, timeoutMs: 3000 });
    await toC.start();
    try {
      const { serverTime } = await new HubClient(toC).call('agents.status', {});
      expect(Math.abs(serverTime - Date.now())).toBeLessThan(5000);
    } finally {
      await toC.stop();
    }

    const live = liveAgents();
    expect(live).toHaveLength(3);
    const long = await submit({
      capability: 'echo',
      payload: { ms: 2000 },
      timeoutMs: 10_000,
      idempotencyKey: 's3-long',
    });
    const expiring = await submit({
      capability: 'echo',
      payload: { ms: 1500 },
      timeoutMs: 400,
      maxAttempts: 2,
      idempotencyKey: 's3-expiring',
    });
    const busy = await holders([long.id, expiring.id]);
    const victim = live.find((id) => !busy.includes(id))!;
    const killedAt = Date.now();
    await agents.get(victim)!.kill();

    // Evicted after the heartbeat timeout by Redis time — not at once, as a clock ten minutes
    // ahead would have it, and not never.
    await eventually(() => evictionsOf(victim).length > 0, 5000, 20);
    const evictedAfter = Date.now() - killedAt;
    expect(evictedAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - HEARTBEAT_MS - 50);
    expect(evictionsOf(victim)[0]!.by).toBe('hub-c');

    const [longView, expiringView] = await terminal([long.id, expiring.id], 10_000);
    // The healthy lease ran to the end: no early expiry, no requeue.
    expect(longView).toMatchObject({ state: 'succeeded', attempts: 0 });
    // The short lease expired twice (never reported in 400 ms) and was dead-lettered.
    expect(expiringView).toMatchObject({ state: 'dead', attempts: 2 });

    await allDelivered();
    noDuplicateDeliveries();
    // Healthy agents were never evicted; each dead one exactly once.
    for (const id of agents.keys()) {
      expect([id, evictionsOf(id).length]).toEqual([id, agents.get(id)!.alive ? 0 : 1]);
    }
    expect((await client.call('agents.status', {})).agents.map((a) => a.id).sort()).toEqual(
      liveAgents().sort(),
    );
    // Event times are Redis time too.
    const fromC = delivered().filter((e) => e.by === 'hub-c');
    expect(fromC.length).toBeGreaterThan(0);
    for (const e of fromC) expect(Math.abs(e.at - Date.now())).toBeLessThan(30_000);
    expect(
      delivered()
        .filter((e) => e.type === 'task.dead')
        .map((e) => e.data.taskId),
    ).toEqual([expiring.id]);
  }, 25_000);

  it('survives a Redis restart mid-run: every submitted task reaches exactly one terminal state', async () => {
    await startHub('hub-d');
    const runId = async () => /run_id:(\w+)/.exec(await admin.info('server'))?.[1];
    const before = await runId();
    const ids: string[] = [];
    let restart: Promise<void> | undefined;
    let restarted = false;
    let submittedAfterRestart = 0;
    for (let i = 0; i < 40; i++) {
      if (i === 15) {
        restart = redis.restart(300).then(() => {
          restarted = true;
        });
      }
      const task = await submit({
        capability: 'echo',
        payload: { ms: 20 },
        // A lease whose reply was lost in the restart comes back after this, not 30 s.
        timeoutMs: 3000,
        idempotencyKey: `s4-${i}`,
      });
      ids.push(task.id);
      if (restarted) submittedAfterRestart += 1;
      await delay(15);
    }
    await restart;
    // It really was a new server, and part of the run came after it.
    expect(await runId()).not.toBe(before);
    expect(submittedAfterRestart).toBeGreaterThan(0);

    const views = await terminal(ids, 20_000);
    expect(views.filter((v) => v.state !== 'succeeded')).toEqual([]);
    // At most one accepted result per task: a second report was refused.
    const accepted = new Map<string, number>();
    for (const r of readLines<{ taskId: string }>(resultsFile)) {
      accepted.set(r.taskId, (accepted.get(r.taskId) ?? 0) + 1);
    }
    for (const id of ids) expect([id, accepted.get(id) ?? 0]).not.toEqual([id, 2]);
    expect(ids.every((id) => (accepted.get(id) ?? 0) <= 1)).toBe(true);

    // Hubs and agents are back on their own: a leader, and new work runs promptly.
    await eventually(async () => (await client.call('agents.status', {})).leader !== null, 5000, 50);
    const after = await submit({ capability: 'echo', idempotencyKey: 's4-after' });
    const [done] = await terminal([after.id], 5000);
    expect(done!.state).toBe('succeeded');
    // Nothing the outbox holds is lost (a crash between delivery and its acknowledgement may
    // deliver an event twice: delivery is at least once).
    await allDelivered(10_000);
  }, 40_000);
});
