import { afterAll, describe, expect, it } from '@jest/globals';
import { HttpServerAdapter, HttpTransport } from '@mcpmas/adapter-http';
import { type CallContext, createMemoryBackend } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import { delay, eventually } from '@mcpmas/testkit';
import { FailoverTransport, ModelAgent } from '../src/index.js';

const ctx: CallContext = { protocol: 'test' };

describe('FailoverTransport', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('moves to the next endpoint when the primary dies mid-run and back when it returns; every task completes once', async () => {
    const backend = createMemoryBackend({ queue: { crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 } } });
    const primary = new HttpServerAdapter({ port: 0 });
    const secondary = new HttpServerAdapter({ port: 0 });
    const hub = new Hub({
      backend,
      adapters: [primary, secondary],
      heartbeat: { intervalMs: 100, timeoutMs: 3000 },
    });
    await hub.start();
    cleanup.push(() => hub.stop());
    const primaryPort = primary.address().port;
    const endpoints = [
      new HttpTransport({ baseUrl: primary.address().url, timeoutMs: 5000 }),
      new HttpTransport({ baseUrl: secondary.address().url, timeoutMs: 5000 }),
    ];
    const switches: string[] = [];
    const transport = new FailoverTransport(endpoints, {
      probeIntervalMs: 100,
      onSwitch: (from, to) =>
        switches.push(
          `${endpoints.indexOf(from as HttpTransport)}->${endpoints.indexOf(to as HttpTransport)}`,
        ),
    });
    const ran = new Map<number, number>();
    const agent = new ModelAgent({
      transport,
      name: 'failover-agent',
      skills: [{ id: 'work', name: 'Work' }],
      concurrency: 2,
      pollWaitMs: 200,
      reconnect: { baseMs: 20, maxMs: 100, jitter: 0 },
      handler: async (task) => {
        const n = task.payload as number;
        ran.set(n, (ran.get(n) ?? 0) + 1);
        await delay(20);
        return { n };
      },
    });
    await agent.start();
    cleanup.push(() => agent.stop());

    const submit = async (from: number, count: number) => {
      const ids: string[] = [];
      for (let i = from; i < from + count; i++)
        ids.push((await hub.dispatcher.call('task.submit', { capability: 'work', payload: i }, ctx)).task.id);
      return ids;
    };
    const ids = await submit(0, 20);
    await eventually(() => ran.size >= 5, 5000);
    // Kill the primary endpoint mid-run.
    await primary.stop();
    ids.push(...(await submit(20, 20)));
    await eventually(async () => {
      const states = await Promise.all(
        ids.map(async (taskId) => (await hub.dispatcher.call('task.get', { taskId }, ctx)).task.state),
      );
      return states.every((s) => s === 'succeeded');
    }, 15_000);
    expect(transport.current).toBe(endpoints[1]);
    expect(switches).toEqual(['0->1']);

    // Bring the primary back on the same port: the agent returns to it.
    const revived = new HttpServerAdapter({ port: primaryPort });
    await revived.start(hub.dispatcher);
    cleanup.push(() => revived.stop());
    await eventually(() => transport.current === endpoints[0], 5000);
    expect(switches).toEqual(['0->1', '1->0']);
    const more = await submit(40, 5);
    for (const taskId of more) {
      expect((await hub.dispatcher.call('task.get', { taskId, waitMs: 10_000 }, ctx)).task.state).toBe(
        'succeeded',
      );
    }
    // Every task ran to success exactly once as far as the hub is concerned.
    expect([...ran.keys()].sort((a, b) => a - b)).toEqual([...Array(45).keys()]);
  });
});

describe('FailoverTransport start', () => {
  it('starts when only some endpoints can, and refuses when none can', async () => {
    const { UnavailableError } = await import('@mcpmas/core');
    const make = (ok: boolean) => ({
      protocol: ok ? 'good' : 'bad',
      features: { push: false },
      started: false,
      async start() {
        if (!ok) throw new UnavailableError('hub unreachable');
        this.started = true;
      },
      async stop() {},
      async sendMessage() {
        return {};
      },
      receiveMessage() {},
    });
    const bad = make(false);
    const good = make(true);
    const transport = new FailoverTransport([bad, good], { probeIntervalMs: 60_000 });
    await transport.start();
    expect(transport.current).toBe(good);
    await transport.stop();
    await expect(new FailoverTransport([make(false), make(false)]).start()).rejects.toThrow(
      'hub unreachable',
    );
  });
});
