import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type CallContext,
  ConfigError,
  createMemoryBackend,
  type HubEvent,
  type Notifier,
} from '@mcpmas/core';
import { delay, eventually } from '@mcpmas/testkit';
import { Hub, type HubOptions } from '../src/index.js';

const ctx: CallContext = { protocol: 'test' };
const skills = [{ id: 'echo', name: 'Echo' }];
const fast: HubOptions = {
  heartbeat: { intervalMs: 50, timeoutMs: 250 },
  sweepIntervalMs: 30,
  elector: { ttlMs: 400, renewIntervalMs: 50 },
  delivery: { pollIntervalMs: 20, retry: { baseMs: 20, maxMs: 50, jitter: 0 } },
};

/** A notifier that records what it got and can be told to fail. */
class RecordingNotifier implements Notifier {
  readonly events: HubEvent[] = [];
  failNext = 0;
  attempts = 0;
  constructor(readonly name: string) {}
  async notify(event: HubEvent): Promise<void> {
    this.attempts += 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('receiver answered 500');
    }
    this.events.push(event);
  }
}

describe('Hub', () => {
  const hubs: Hub[] = [];
  const start = async (options: HubOptions) => {
    const hub = new Hub({ ...fast, ...options });
    hubs.push(hub);
    await hub.start();
    return hub;
  };
  afterEach(async () => {
    for (const hub of hubs.splice(0)) await hub.stop();
  });

  it('evicts a silent agent, requeues its task with attempts + 1 and records the event', async () => {
    const hub = await start({
      backend: createMemoryBackend({ queue: { crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 } } }),
    });
    await eventually(() => hub.isLeader());
    const d = hub.dispatcher;
    await d.call('agent.register', { agentId: 'silent', name: 's', skills }, ctx);
    await d.call('agent.register', { agentId: 'healthy', name: 'h', skills }, ctx);
    const { task } = await d.call('task.submit', { capability: 'echo', payload: 1 }, ctx);
    await d.call('task.next', { agentId: 'silent' }, ctx);
    // The healthy agent keeps heart-beating; the silent one does not.
    const beat = setInterval(() => void d.call('agent.heartbeat', { agentId: 'healthy' }, ctx), 40);
    try {
      await eventually(
        async () => (await d.call('agents.status', {}, ctx)).agents.every((a) => a.id !== 'silent'),
        3000,
      );
    } finally {
      clearInterval(beat);
    }
    expect((await d.call('agents.status', {}, ctx)).agents.map((a) => a.id)).toEqual(['healthy']);
    expect((await d.call('task.get', { taskId: task.id }, ctx)).task).toMatchObject({
      state: 'queued',
      attempts: 1,
    });
    const events = await hub.backend.outbox.read('test', 100);
    const evicted = events.filter((e) => e.type === 'agent.evicted');
    expect(evicted).toHaveLength(1);
    expect(evicted[0]!.data).toMatchObject({ agentId: 'silent', requeued: [task.id], dead: [] });
    expect((await hub.metricsText()).body).toMatch(/mcpmas_agents_evicted_total\{hub="[^"]+"\} 1/);
  });

  it('tells evict hooks about evictions', async () => {
    const seen: unknown[] = [];
    const hub = await start({ plugins: [{ name: 'watch', hooks: { evict: (e) => void seen.push(e) } }] });
    await hub.dispatcher.call('agent.register', { agentId: 'gone', name: 'g', skills }, ctx);
    await eventually(() => seen.length > 0, 3000);
    expect(seen).toEqual([{ agentId: 'gone', requeued: [], dead: [] }]);
  });

  it('runs leader duties on one hub only and hands them over when the leader stops', async () => {
    const backend = createMemoryBackend();
    const a = await start({ backend, hubId: 'hub-a' });
    const b = await start({ backend, hubId: 'hub-b' });
    await eventually(() => a.isLeader() || b.isLeader());
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    expect(follower.isLeader()).toBe(false);
    expect(await follower.sweep()).toEqual({
      evicted: [],
      requeued: [],
      dead: [],
      promoted: 0,
      timedOut: 0,
      trimmed: 0,
    });
    const status = await follower.dispatcher.call('agents.status', {}, ctx);
    expect(status.leader?.hubId).toBe(leader.hubId);
    await leader.stop();
    await eventually(() => follower.isLeader(), 2000);
    const changes = (await backend.outbox.read('test', 100)).filter((e) => e.type === 'leader.changed');
    expect(changes.map((e) => e.data.hubId)).toEqual([leader.hubId, follower.hubId]);
    expect(changes[1]!.data.epoch as number).toBeGreaterThan(changes[0]!.data.epoch as number);
  });

  it('retries a failing notifier until it succeeds and delivers each event once', async () => {
    const webhook = new RecordingNotifier('webhook');
    webhook.failNext = 3;
    const email = new RecordingNotifier('email');
    const hub = await start({ notifiers: [webhook, email] });
    await hub.dispatcher.call('agent.register', { agentId: 'a1', name: 'a', skills }, ctx);
    const delivered = (n: RecordingNotifier) => n.events.filter((e) => e.type === 'agent.registered');
    await eventually(() => delivered(webhook).length === 1 && delivered(email).length === 1, 3000);
    await delay(200);
    expect(delivered(webhook)).toHaveLength(1);
    expect(webhook.attempts).toBeGreaterThanOrEqual(4);
    const status = hub.deliveryStatus().find((c) => c.channel === 'webhook')!;
    expect(status.failures).toBe(0);
    expect(status.lastError).toBe('receiver answered 500');
    expect(await hub.backend.outbox.pending('webhook')).toBe(0);
  });

  it('lets the next leader deliver what the old leader had not', async () => {
    const backend = createMemoryBackend();
    const downstream = new RecordingNotifier('webhook');
    downstream.failNext = 1_000_000;
    const first = await start({ backend, hubId: 'first', notifiers: [downstream] });
    await eventually(() => first.isLeader());
    await first.dispatcher.call('agent.register', { agentId: 'x', name: 'x', skills }, ctx);
    await eventually(() => downstream.attempts > 0);
    await first.stop();
    const healthy = new RecordingNotifier('webhook');
    const second = await start({ backend, hubId: 'second', notifiers: [healthy] });
    await eventually(() => second.isLeader(), 2000);
    await eventually(
      () => healthy.events.some((e) => e.type === 'agent.registered' && e.data.agentId === 'x'),
      3000,
    );
    expect(downstream.events).toEqual([]);
  });

  it('ends long-polls on stop and stops only once', async () => {
    const hub = await start({});
    await hub.dispatcher.call('agent.register', { agentId: 'p', name: 'p', skills }, ctx);
    const t0 = Date.now();
    const waiting = hub.dispatcher.call('task.next', { agentId: 'p', waitMs: 30_000 }, ctx);
    await delay(30);
    await hub.stop();
    await hub.stop();
    expect((await waiting).tasks).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('exposes health and Prometheus metrics', async () => {
    const hub = await start({ hubId: 'metrics-hub' });
    await hub.dispatcher.call('agents.status', {}, ctx);
    await hub.dispatcher.dispatch('agents.status', { bogus: 1 }, ctx).catch(() => undefined);
    const { contentType, body } = await hub.metricsText();
    expect(contentType).toMatch(/text\/plain/);
    expect(body).toContain(
      'mcpmas_operations_total{operation="agents.status",protocol="test",outcome="ok",hub="metrics-hub"} 1',
    );
    expect(body).toContain('outcome="VALIDATION"');
    expect(body).toMatch(
      /mcpmas_operation_duration_seconds_count\{hub="metrics-hub",operation="agents.status",protocol="test"\} 2\n/,
    );
    expect(await hub.health()).toMatchObject({ status: 'ok', hubId: 'metrics-hub', backend: 'memory' });
  });

  it('counts calls between scrapes exactly once, and unknown operations under one label', async () => {
    const hub = await start({ hubId: 'count-hub' });
    const line = (operation: string, outcome: string, n: number) =>
      `mcpmas_operations_total{operation="${operation}",protocol="test",outcome="${outcome}",hub="count-hub"} ${n}`;
    await hub.dispatcher.call('agents.status', {}, ctx);
    expect((await hub.metricsText()).body).toContain(line('agents.status', 'ok', 1));
    await hub.dispatcher.call('agents.status', {}, ctx);
    await hub.dispatcher.call('agents.status', {}, ctx);
    expect((await hub.metricsText()).body).toContain(line('agents.status', 'ok', 3));
    expect((await hub.metricsText()).body).toContain(line('agents.status', 'ok', 3));
    // A client can send any operation name; the metric must not grow a series per name.
    for (const name of ['no.such', 'another.one']) {
      await hub.dispatcher.dispatch(name, {}, ctx).catch(() => undefined);
    }
    const { body } = await hub.metricsText();
    expect(body).toContain(line('unknown', 'NOT_FOUND', 2));
    expect(body).not.toContain('no.such');
  });

  it('refuses inconsistent configuration naming the setting', () => {
    expect(() => new Hub({ heartbeat: { intervalMs: 5000, timeoutMs: 1000 } })).toThrow(
      'heartbeat.timeoutMs must be greater than heartbeat.intervalMs',
    );
    expect(() => new Hub({ notifiers: [new RecordingNotifier('x'), new RecordingNotifier('x')] })).toThrow(
      ConfigError,
    );
    expect(() => new Hub({ sweepIntervalMs: 1 })).toThrow(/sweepIntervalMs/);
  });
});
