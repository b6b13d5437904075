import { describe, expect, it } from '@jest/globals';
import { ConflictError, createDispatcher, type LeasedTask, MemoryRegistry } from '@mcpmas/core';
import { delay, eventually } from '@mcpmas/testkit';
import { describeRedis, killConnection, REDIS_URL } from '@mcpmas/testkit/redis';
import type { Redis } from 'ioredis';
import { createRedisBackend, type RedisTaskQueue } from '../src/index.js';
import { countEvalsha, queueHarness } from './helpers.js';

/** Makes `queue` drop every push it receives over pub/sub, as a lost message would be. */
function losePushes(queue: RedisTaskQueue): void {
  (queue as unknown as { deliverPush(message: string): void }).deliverPush = () => undefined;
}

describeRedis('RedisTaskQueue.leaseWait (tasks pushed to waiting agents)', () => {
  const h = queueHarness('leasewait');
  const hub = h.hub;
  const waiting = async (queue: RedisTaskQueue, capability: string) => ({
    records: await h.admin.hlen(queue.keys.waiters),
    entries: await h.admin.zcard(queue.keys.waiting(capability)),
  });
  /** Resolves once `records` waiters are registered in `queue`'s namespace for `capability`. */
  const untilWaiting = (queue: RedisTaskQueue, capability: string, records = 1) =>
    eventually(async () => (await waiting(queue, capability)).records === records, 2000, 5);

  it('pushes a task submitted on another hub to the agent waiting here: one script call on the waiting side', async () => {
    const a = hub('a');
    const b = hub('b');
    const calls = countEvalsha(b);
    const wait = b.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 5000 });
    await untilWaiting(b, 'echo');
    const { task } = await a.submit({ capability: 'echo', payload: { n: 1 } });
    const [leased, ...more] = await wait;
    expect(more).toEqual([]);
    expect(leased).toMatchObject({ taskId: task.id, capability: 'echo', payload: { n: 1 }, attempt: 1 });
    expect(calls.calls).toBe(1);
    // The lease is real: visible to every hub, and reportable with the pushed token.
    expect(await a.get(task.id)).toMatchObject({ state: 'leased', agentId: 'ag' });
    expect(await a.leasedBy('ag')).toEqual([task.id]);
    const done = await a.complete(
      { taskId: task.id, agentId: 'ag', leaseToken: leased!.leaseToken },
      {
        status: 'succeeded',
        result: 'ok',
      },
    );
    expect(done).toMatchObject({ state: 'succeeded', result: 'ok' });
    expect(await waiting(b, 'echo')).toEqual({ records: 0, entries: 0 });
    // Neither instance has signal listeners: neither receives the wake-up channel's traffic.
    expect(await h.admin.pubsub('NUMSUB', b.keys.signals)).toEqual([b.keys.signals, 0]);
  });

  it('hands a task submitted through the same queue instance over in the script reply', async () => {
    const q = hub('q');
    const wait = q.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 2, waitMs: 5000 });
    await untilWaiting(q, 'echo');
    const { task } = await q.submit({ capability: 'echo' });
    const leased = await wait;
    expect(leased.map((t) => t.taskId)).toEqual([task.id]);
    expect(await q.get(task.id)).toMatchObject({ state: 'leased', agentId: 'ag' });
  });

  it('leases what is runnable at once, most urgent first, without waiting', async () => {
    const q = hub('q');
    await q.submit({ capability: 'x', priority: 1 });
    const { task: urgent } = await q.submit({ capability: 'y', priority: 5 });
    const started = performance.now();
    const leased = await q.leaseWait({ agentId: 'ag', capabilities: ['x', 'y'], max: 1, waitMs: 5000 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(leased.map((t) => t.taskId)).toEqual([urgent.id]);
    expect(await waiting(q, 'x')).toEqual({ records: 0, entries: 0 });
  });

  it('resolves [] when the time is up, withdrawing its registration', async () => {
    const q = hub('q', { waitSliceMs: 100 });
    const started = performance.now();
    expect(await q.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 350 })).toEqual([]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(340);
    expect(await waiting(q, 'echo')).toEqual({ records: 0, entries: 0 });
    // A task submitted now is not leased to the finished wait.
    const { task } = await q.submit({ capability: 'echo' });
    expect(await q.get(task.id)).toMatchObject({ state: 'queued' });
  });

  it('renews its registration each slice, and a push during a later slice still arrives', async () => {
    const a = hub('a');
    const b = hub('b', { waitSliceMs: 100 });
    const wait = b.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 5000 });
    await delay(350);
    // Earlier slices' registrations are gone; only the current one is left.
    expect(await waiting(b, 'echo')).toEqual({ records: 1, entries: 1 });
    const { task } = await a.submit({ capability: 'echo' });
    expect((await wait).map((t) => t.taskId)).toEqual([task.id]);
  });

  it('ends at once when aborted, and a task submitted afterwards stays queued', async () => {
    const q = hub('q');
    const controller = new AbortController();
    const wait = q.leaseWait({
      agentId: 'ag',
      capabilities: ['echo'],
      max: 1,
      waitMs: 10_000,
      signal: controller.signal,
    });
    await untilWaiting(q, 'echo');
    const started = performance.now();
    controller.abort();
    expect(await wait).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await waiting(q, 'echo')).toEqual({ records: 0, entries: 0 });
    const { task } = await q.submit({ capability: 'echo' });
    expect(await q.get(task.id)).toMatchObject({ state: 'queued' });
  });

  it('picks up a push that pub/sub lost when its wait slice ends', async () => {
    const a = hub('a');
    const b = hub('b', { waitSliceMs: 300 });
    losePushes(b);
    const wait = b.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 10_000 });
    await untilWaiting(b, 'echo');
    const { task } = await a.submit({ capability: 'echo' });
    expect(await a.get(task.id)).toMatchObject({ state: 'leased', agentId: 'ag' });
    const started = performance.now();
    const leased = await wait;
    expect(performance.now() - started).toBeLessThan(2000);
    expect(leased.map((t) => t.taskId)).toEqual([task.id]);
    // The token it got is the one the push carried: the report is accepted.
    await a.complete(
      { taskId: task.id, agentId: 'ag', leaseToken: leased[0]!.leaseToken },
      { status: 'succeeded' },
    );
    expect(await a.get(task.id)).toMatchObject({ state: 'succeeded', attempts: 0 });
  });

  it('gives a lost push back to the queue, with no attempt counted, when the wait is aborted', async () => {
    const a = hub('a');
    const b = hub('b');
    losePushes(b);
    const controller = new AbortController();
    const wait = b.leaseWait({
      agentId: 'ag',
      capabilities: ['echo'],
      max: 1,
      waitMs: 10_000,
      signal: controller.signal,
    });
    await untilWaiting(b, 'echo');
    const { task } = await a.submit({ capability: 'echo' });
    expect(await a.get(task.id)).toMatchObject({ state: 'leased', agentId: 'ag' });
    controller.abort();
    expect(await wait).toEqual([]);
    expect(await a.get(task.id)).toMatchObject({ state: 'queued', attempts: 0 });
    expect(await a.leasedBy('ag')).toEqual([]);
    const [again] = await a.lease({ agentId: 'other', capabilities: ['echo'], max: 1 });
    expect(again).toMatchObject({ taskId: task.id, attempt: 1 });
  });

  it('never leases to a waiter whose queue instance is gone', async () => {
    const a = hub('a');
    const b = hub('b', { waitSliceMs: 5000 });
    void b
      .leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 10_000 })
      .catch(() => undefined);
    await untilWaiting(b, 'echo');
    // Gone without a word, as a killed process: its registration is still in Redis.
    (b as unknown as { subscriber: Redis }).subscriber.disconnect();
    await eventually(
      async () =>
        (
          (await h.admin.pubsub(
            'NUMSUB',
            `${b.keys.signals}:push:${(b as unknown as { origin: string }).origin}`,
          )) as [string, number]
        )[1] === 0,
      2000,
      5,
    );
    const { task } = await a.submit({ capability: 'echo' });
    expect(await a.get(task.id)).toMatchObject({ state: 'queued' });
    expect((await waiting(a, 'echo')).records).toBe(0);
  });

  it('keeps waiting through a dropped pub/sub connection: a task submitted meanwhile still arrives', async () => {
    const a = hub('a');
    const b = hub('b', { waitSliceMs: 200 });
    const wait = b.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 10_000 });
    await untilWaiting(b, 'echo');
    // Redis drops the waiting hub's subscriber (a network blip); ioredis reconnects it.
    expect(await killConnection(h.admin, `${h.namespace}:b:signals`)).toBe(1);
    const { task } = await a.submit({ capability: 'echo' });
    const started = performance.now();
    expect((await wait).map((t) => t.taskId)).toEqual([task.id]);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(await a.get(task.id)).toMatchObject({ state: 'leased', agentId: 'ag', attempts: 0 });
  });

  it('serves a waiter of several capabilities once, and forgets it in the other capabilities', async () => {
    const a = hub('a');
    const b = hub('b', { waitSliceMs: 100 });
    const wait = b.leaseWait({ agentId: 'ag', capabilities: ['x', 'y'], max: 1, waitMs: 5000 });
    await untilWaiting(b, 'x');
    const { task } = await a.submit({ capability: 'y' });
    expect((await wait).map((t) => t.taskId)).toEqual([task.id]);
    // Its entry under x is left behind; it neither takes the next x task nor lingers long.
    const { task: next } = await a.submit({ capability: 'x' });
    expect(await a.get(next.id)).toMatchObject({ state: 'queued' });
    expect(await waiting(a, 'x')).toEqual({ records: 0, entries: 0 });
  });

  it('serves waiters in order and pushes each its own task when a batch arrives', async () => {
    const a = hub('a');
    const b = hub('b');
    const waits: Array<Promise<LeasedTask[]>> = [];
    for (const agentId of ['w1', 'w2', 'w3']) {
      waits.push(b.leaseWait({ agentId, capabilities: ['echo'], max: 1, waitMs: 5000 }));
      await untilWaiting(b, 'echo', waits.length);
    }
    const { tasks } = await a.submitBatch({
      tasks: [1, 2, 3, 4].map((n) => ({ capability: 'echo', payload: n })),
    });
    const got = await Promise.all(waits);
    expect(got.map((leased) => leased.length)).toEqual([1, 1, 1]);
    expect(got.map((leased) => leased[0]!.taskId)).toEqual(tasks.slice(0, 3).map((t) => t.taskId));
    expect(await a.get(tasks[3]!.taskId)).toMatchObject({ state: 'queued' });
  });

  it('gives a waiter the most urgent task of a batch, not the first', async () => {
    const a = hub('a');
    const b = hub('b');
    const wait = b.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 5000 });
    await untilWaiting(b, 'echo');
    const { tasks } = await a.submitBatch({
      tasks: [
        { capability: 'echo', priority: 1, payload: 'low' },
        { capability: 'echo', priority: 9, payload: 'high' },
      ],
    });
    const [leased] = await wait;
    expect(leased).toMatchObject({ taskId: tasks[1]!.taskId, payload: 'high' });
    expect(await a.get(tasks[0]!.taskId)).toMatchObject({ state: 'queued' });
  });

  it('ends the waits of an agent that unregisters on another hub; the next task goes to one still waiting', async () => {
    const a = hub('a');
    const b = hub('b', { waitSliceMs: 100 });
    const gone = b.leaseWait({ agentId: 'gone', capabilities: ['echo'], max: 1, waitMs: 10_000 });
    await untilWaiting(b, 'echo');
    const other = b.leaseWait({ agentId: 'other', capabilities: ['echo'], max: 1, waitMs: 10_000 });
    await untilWaiting(b, 'echo', 2);
    const started = performance.now();
    await a.releaseAgent('gone', 'unregistered');
    // Submitted at once: the departed agent waited longest, but gets nothing.
    const { task } = await a.submit({ capability: 'echo' });
    expect((await other).map((t) => t.taskId)).toEqual([task.id]);
    // Its wait ends at its next renewal, and leaves nothing registered.
    expect(await gone).toEqual([]);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await waiting(b, 'echo')).toEqual({ records: 0, entries: 0 });
    const { task: next } = await a.submit({ capability: 'echo' });
    expect(await a.get(next.id)).toMatchObject({ state: 'queued' });
  });

  it('ends the waits of an evicted agent in the eviction step', async () => {
    const backend = createRedisBackend({ url: REDIS_URL, namespace: h.namespace });
    const elector = backend.createElector('hub-a');
    try {
      await elector.start();
      await backend.registry.register({ id: 'gone', name: 'G', skills: [{ id: 'echo', name: 'E' }] });
      const b = hub('b', { waitSliceMs: 100 });
      const gone = b.leaseWait({ agentId: 'gone', capabilities: ['echo'], max: 1, waitMs: 10_000 });
      await untilWaiting(b, 'echo');
      await delay(20);
      expect((await backend.evictAgent!('gone', 10, elector.fence()!)).evicted).toBe(true);
      const { task } = await backend.queue.submit({ capability: 'echo' });
      expect(await gone).toEqual([]);
      expect(await backend.queue.get(task.id)).toMatchObject({ state: 'queued' });
      expect(await h.admin.hlen(b.keys.waiters)).toBe(0);
    } finally {
      await elector.stop();
      await backend.close();
    }
  });

  it('ends waits when the queue closes', async () => {
    const q = hub('q');
    const wait = q.leaseWait({ agentId: 'ag', capabilities: ['echo'], max: 1, waitMs: 10_000 });
    await untilWaiting(q, 'echo');
    const started = performance.now();
    await q.close();
    expect(await wait.catch(() => [])).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  describe('completeAndWait', () => {
    it('reports, then waits and gets the next task pushed: one script call for both', async () => {
      const a = hub('a');
      const b = hub('b');
      await a.submit({ capability: 'echo', payload: 'first' });
      const [first] = await b.lease({ agentId: 'ag', capabilities: ['echo'], max: 1 });
      const calls = countEvalsha(b);
      const next = b.completeAndWait(
        { taskId: first!.taskId, agentId: 'ag', leaseToken: first!.leaseToken },
        { status: 'succeeded', result: 'ok' },
        { capabilities: ['echo'], max: 1, waitMs: 5000 },
      );
      await untilWaiting(b, 'echo');
      expect(await a.get(first!.taskId)).toMatchObject({ state: 'succeeded', result: 'ok' });
      const { task: second } = await a.submit({ capability: 'echo', payload: 'second' });
      const { task, leased } = await next;
      expect(task).toMatchObject({ id: first!.taskId, state: 'succeeded', result: 'ok', agentId: 'ag' });
      expect(leased.map((t) => [t.taskId, t.payload])).toEqual([[second.id, 'second']]);
      expect(calls.calls).toBe(1);
    });

    it('leases at once what is runnable, and reports a retryable failure of another capability', async () => {
      const q = hub('q');
      await q.submit({ capability: 'other', maxRetries: 1 });
      const [held] = await q.lease({ agentId: 'ag', capabilities: ['other'], max: 1 });
      const { task: ready } = await q.submit({ capability: 'echo' });
      const { task, leased } = await q.completeAndWait(
        { taskId: held!.taskId, agentId: 'ag', leaseToken: held!.leaseToken },
        { status: 'failed', error: { code: 'flaky', message: 'try again', retryable: true } },
        { capabilities: ['echo'], max: 1, waitMs: 5000 },
      );
      expect(task).toMatchObject({ id: held!.taskId, state: 'queued', errorRetries: 1 });
      // It waited for and leased only what it asked for.
      expect(leased.map((t) => t.taskId)).toEqual([ready.id]);
      expect(await q.get(held!.taskId)).toMatchObject({ state: 'queued' });
    });

    it('refuses a stale report with ConflictError: nothing leased, nobody waiting', async () => {
      const q = hub('q');
      const { task: submitted } = await q.submit({ capability: 'echo' });
      const [held] = await q.lease({ agentId: 'ag', capabilities: ['echo'], max: 1 });
      await q.submit({ capability: 'echo' });
      const calls = countEvalsha(q);
      await expect(
        q.completeAndWait(
          { taskId: submitted.id, agentId: 'ag', leaseToken: 'not-the-token' },
          { status: 'succeeded' },
          { capabilities: ['echo'], max: 1, waitMs: 5000 },
        ),
      ).rejects.toBeInstanceOf(ConflictError);
      // One script call: refused before it registered anything, so nothing to clean up.
      expect(calls.calls).toBe(1);
      expect(await q.get(submitted.id)).toMatchObject({ state: 'leased', agentId: 'ag' });
      expect(await q.leasedBy('ag')).toEqual([held!.taskId]);
      expect(await waiting(q, 'echo')).toEqual({ records: 0, entries: 0 });
    });

    it('without a wait it is completeAndLease', async () => {
      const q = hub('q');
      await q.submit({ capability: 'echo' });
      const [held] = await q.lease({ agentId: 'ag', capabilities: ['echo'], max: 1 });
      const started = performance.now();
      const { task, leased } = await q.completeAndWait(
        { taskId: held!.taskId, agentId: 'ag', leaseToken: held!.leaseToken },
        { status: 'succeeded' },
        { capabilities: ['echo'], max: 1, waitMs: 0 },
      );
      expect(performance.now() - started).toBeLessThan(1000);
      expect(task).toMatchObject({ state: 'succeeded' });
      expect(leased).toEqual([]);
    });
  });

  describe('through the dispatcher', () => {
    const ctx = { protocol: 'test' };
    it('a long-poll on hub B gets a task submitted on hub A by push', async () => {
      const registry = new MemoryRegistry();
      const a = hub('a');
      const b = hub('b');
      const calls = countEvalsha(b);
      const onB = createDispatcher({ registry, queue: b });
      const onA = createDispatcher({ registry, queue: a });
      try {
        await onB.call(
          'agent.register',
          { agentId: 'ag', name: 'ag', skills: [{ id: 'echo', name: 'E' }] },
          ctx,
        );
        const poll = onB.call('task.next', { agentId: 'ag', waitMs: 5000 }, ctx);
        await untilWaiting(b, 'echo');
        const before = calls.calls;
        const { task } = await onA.call('task.submit', { capability: 'echo', payload: 7 }, ctx);
        const { tasks } = await poll;
        expect(tasks.map((t) => t.taskId)).toEqual([task.id]);
        expect(calls.calls).toBe(before);
      } finally {
        onA.close();
        onB.close();
      }
    });

    it('closing the dispatcher ends its queue long-polls', async () => {
      const registry = new MemoryRegistry();
      const q = hub('q');
      const dispatcher = createDispatcher({ registry, queue: q });
      await dispatcher.call(
        'agent.register',
        { agentId: 'ag', name: 'ag', skills: [{ id: 'echo', name: 'E' }] },
        ctx,
      );
      const poll = dispatcher.call('task.next', { agentId: 'ag', waitMs: 10_000 }, ctx);
      await untilWaiting(q, 'echo');
      dispatcher.close();
      expect(await poll).toEqual({ tasks: [] });
      expect(await waiting(q, 'echo')).toEqual({ records: 0, entries: 0 });
    });
  });
});
