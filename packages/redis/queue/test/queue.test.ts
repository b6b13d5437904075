import { readFileSync } from 'node:fs';
import { expect, it } from '@jest/globals';
import { ConflictError, createDispatcher, MemoryRegistry, type QueueSignal } from '@mcpmas/core';
import { RedisLeaderElector } from '@mcpmas/leader-election';
import { delay, eventually } from '@mcpmas/testkit';
import {
  adminClient,
  describeRedis,
  dropNamespace,
  freshNamespace,
  killConnection,
  REDIS_URL,
} from '@mcpmas/testkit/redis';
import type { Redis } from 'ioredis';
import { createRedisBackend, RedisOutbox } from '../src/index.js';
import { countEvalsha, queueHarness } from './helpers.js';

describeRedis('RedisTaskQueue', () => {
  const h = queueHarness('queue');
  const hub = h.hub;

  it('never hands one task to two of 20 concurrent leasers on separate connections', async () => {
    const producer = hub('producer');
    const total = 300;
    await producer.submitBatch({
      tasks: Array.from({ length: total }, (_, i) => ({
        capability: i % 2 ? 'a' : 'b',
        payload: i,
        priority: i % 5,
      })),
    });
    const leasers = Array.from({ length: 20 }, (_, i) => hub(`leaser-${i}`));
    const got = await Promise.all(
      leasers.map(async (queue, i) => {
        const mine: string[] = [];
        for (;;) {
          const tasks = await queue.lease({
            agentId: `agent-${i}`,
            capabilities: ['a', 'b'],
            max: 1 + (i % 4),
          });
          if (tasks.length === 0) return mine;
          mine.push(...tasks.map((t) => t.taskId));
        }
      }),
    );
    const all = got.flat();
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
  });

  it('wakes a subscriber on another connection for work and results', async () => {
    const hubA = hub('a');
    const hubB = hub('b');
    const seen: QueueSignal[] = [];
    hubA.subscribe((s) => seen.push(s));
    await hubA.ready();
    const { task } = await hubB.submit({ capability: 'echo' });
    await eventually(() => seen.some((s) => s.type === 'available' && s.capability === 'echo'), 2000, 5);
    const [leased] = await hubB.lease({ agentId: 'x', capabilities: ['echo'], max: 1 });
    await hubB.complete(
      { taskId: task.id, agentId: 'x', leaseToken: leased!.leaseToken },
      { status: 'succeeded' },
    );
    await eventually(
      () => seen.some((s) => s.type === 'terminal' && s.taskId === task.id && s.agentId === 'x'),
      2000,
      5,
    );
    // Each signal arrives once, even though hub A also hears its own pub/sub messages.
    const own: QueueSignal[] = [];
    hubB.subscribe((s) => own.push(s));
    await hubB.ready();
    await hubB.submit({ capability: 'solo' });
    await delay(100);
    expect(own.filter((s) => s.type === 'available' && s.capability === 'solo')).toHaveLength(1);
  });

  it('a long-poll on hub B returns promptly when hub A submits', async () => {
    const hubA = hub('a');
    const hubB = hub('b');
    const registry = new MemoryRegistry();
    const dispatcher = createDispatcher({ registry, queue: hubB, pollFallbackMs: 60_000 });
    const ctx = { protocol: 'test' };
    try {
      await hubB.ready();
      await dispatcher.call(
        'agent.register',
        { agentId: 'w', name: 'w', skills: [{ id: 'echo', name: 'E' }] },
        ctx,
      );
      const waiting = dispatcher.call('task.next', { agentId: 'w', waitMs: 10_000 }, ctx);
      await delay(50);
      const t0 = Date.now();
      const { task } = await hubA.submit({ capability: 'echo', payload: 'cross-hub' });
      const got = await waiting;
      expect(got.tasks.map((t) => t.taskId)).toEqual([task.id]);
      // Far below the poll fallback: the pub/sub wake-up did it.
      expect(Date.now() - t0).toBeLessThan(500);
    } finally {
      dispatcher.close();
    }
  });

  it('finishes work leased through another hub (keys it never saw are discovered)', async () => {
    const hubA = hub('a');
    const hubB = hub('b');
    const { task: retried } = await hubA.submit({ capability: 'cap-1', maxRetries: 1 });
    const { task: cancelled } = await hubA.submit({ capability: 'cap-2' });
    const { task: released } = await hubA.submit({ capability: 'cap-3' });
    const [l1] = await hubA.lease({ agentId: 'ag', capabilities: ['cap-1'], max: 1 });
    await hubA.lease({ agentId: 'ag', capabilities: ['cap-2'], max: 1 });
    await hubA.lease({ agentId: 'ag2', capabilities: ['cap-3'], max: 1 });
    const view = await hubB.complete(
      { taskId: retried.id, agentId: 'ag', leaseToken: l1!.leaseToken },
      { status: 'failed', error: { message: 'flaky', retryable: true } },
    );
    expect(view).toMatchObject({ state: 'queued', errorRetries: 1 });
    expect((await hubB.cancel(cancelled.id)).state).toBe('cancelled');
    expect(await hubA.leasedBy('ag')).toEqual([]);
    expect(await hubB.releaseAgent('ag2', 'unregistered')).toEqual({ requeued: [released.id], dead: [] });
    const again = await hubB.lease({ agentId: 'z', capabilities: ['cap-1', 'cap-3'], max: 5 });
    expect(again.map((t) => t.taskId).sort()).toEqual([retried.id, released.id].sort());
  });

  it('groups calls made in one tick into one script call, each with its own outcome', async () => {
    const queue = hub();
    const counted = countEvalsha(queue);
    // 30 submissions in one tick: one script call, 30 distinct tasks, and a known
    // idempotency key answers with the existing task in the same group.
    const first = await queue.submit({ capability: 'g', idempotencyKey: 'same', payload: { n: -1 } });
    counted.reset();
    const submitted = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) =>
        queue.submit({ capability: i % 2 ? 'g' : 'h', payload: { i } }),
      ),
      queue.submit({ capability: 'g', idempotencyKey: 'same', payload: { n: 99 } }),
    ]);
    expect(counted.calls).toBe(1);
    expect(new Set(submitted.map((s) => s.task.id)).size).toBe(31);
    expect(submitted[30]).toMatchObject({ created: false, task: { id: first.task.id, payload: { n: -1 } } });
    expect(submitted[7]).toMatchObject({
      created: true,
      task: { capability: 'g', payload: { i: 7 }, state: 'queued' },
    });
    expect(await queue.get(submitted[7]!.task.id)).toEqual(submitted[7]!.task);
    // Two new submissions with one idempotency key in the same group: one task.
    counted.reset();
    const twins = await Promise.all([
      queue.submit({ capability: 'h', idempotencyKey: 'twin', payload: 1 }),
      queue.submit({ capability: 'h', idempotencyKey: 'twin', payload: 2 }),
    ]);
    expect(counted.calls).toBe(1);
    expect(twins.map((t) => t.created)).toEqual([true, false]);
    expect(twins[1]!.task).toEqual(twins[0]!.task);
    const twin = twins[0]!.task.id;
    await queue.cancel(twin);

    const [a, b, c] = await queue.lease({ agentId: 'ag', capabilities: ['g'], max: 3 });
    const [d] = await queue.lease({ agentId: 'ag2', capabilities: ['h'], max: 1 });
    counted.reset();
    // One tick: a success that leases more (only from g), a stale token, an unknown task,
    // a retryable failure, and a plain success of another agent.
    const results = await Promise.allSettled([
      queue.completeAndLease(
        { taskId: a!.taskId, agentId: 'ag', leaseToken: a!.leaseToken },
        { status: 'succeeded', result: 'A' },
        { capabilities: ['g'], max: 2 },
      ),
      queue.complete({ taskId: b!.taskId, agentId: 'ag', leaseToken: 'forged' }, { status: 'succeeded' }),
      queue.complete({ taskId: 'task_missing', agentId: 'ag', leaseToken: 'x' }, { status: 'succeeded' }),
      queue.complete(
        { taskId: c!.taskId, agentId: 'ag', leaseToken: c!.leaseToken },
        { status: 'failed', error: { message: 'boom', retryable: false } },
      ),
      queue.complete(
        { taskId: d!.taskId, agentId: 'ag2', leaseToken: d!.leaseToken },
        { status: 'succeeded', result: { d: 1 } },
      ),
    ]);
    expect(counted.calls).toBe(1);
    const [ra, rb, rc, rd, re] = results;
    expect(ra.status).toBe('fulfilled');
    const next = ra.status === 'fulfilled' ? ra.value : undefined;
    expect(next?.task).toMatchObject({ id: a!.taskId, state: 'succeeded', result: 'A', agentId: 'ag' });
    expect(next?.leased).toHaveLength(2);
    expect(next?.leased.every((t) => t.capability === 'g')).toBe(true);
    expect(rb).toMatchObject({ status: 'rejected', reason: { code: 'CONFLICT' } });
    expect(rc).toMatchObject({ status: 'rejected', reason: { code: 'NOT_FOUND' } });
    expect(rd).toMatchObject({
      status: 'fulfilled',
      value: { state: 'failed', error: { message: 'boom' } },
    });
    expect(re).toMatchObject({
      status: 'fulfilled',
      value: { state: 'succeeded', result: { d: 1 } },
    });
    // The refused report changed nothing: b is still leased and can be completed.
    expect((await queue.get(b!.taskId))?.state).toBe('leased');
    await queue.complete(
      { taskId: b!.taskId, agentId: 'ag', leaseToken: b!.leaseToken },
      { status: 'succeeded' },
    );
    expect((await queue.leasedBy('ag')).sort()).toEqual(next!.leased.map((t) => t.taskId).sort());
  });

  it('grouped reports of several agents lease together: the most urgent first, each up to its max', async () => {
    const queue = hub();
    const counted = countEvalsha(queue);
    // Nine runnable tasks of mixed priority, and a more urgent one of another capability.
    const priorities = [0, 5, 1, 9, 0, 3, 7, 2, 0];
    const runnable = [];
    for (const [i, priority] of priorities.entries()) {
      runnable.push((await queue.submit({ capability: 'w', priority, payload: { i } })).task);
    }
    const { task: other } = await queue.submit({ capability: 'x', priority: 100 });
    const urgent = [...runnable].sort((a, b) => b.priority - a.priority || a.createdAt - b.createdAt);

    // Each agent holds one task (the five most urgent of w) and reports it in the same tick.
    const mine = [];
    for (const agentId of ['a1', 'a2', 'a3', 'a4', 'a5']) {
      const [l] = await queue.lease({ agentId, capabilities: ['w'], max: 1 });
      mine.push(l!);
    }
    const remaining = urgent.slice(5);
    counted.reset();
    const [r1, r2, r3, r4, r5] = await Promise.allSettled([
      queue.completeAndLease(
        { taskId: mine[0]!.taskId, agentId: 'a1', leaseToken: mine[0]!.leaseToken },
        { status: 'succeeded', result: 1 },
        { capabilities: ['w'], max: 2 },
      ),
      // Refused (forged token): it leases nothing, and the others are not held back.
      queue.completeAndLease(
        { taskId: mine[1]!.taskId, agentId: 'a2', leaseToken: 'forged' },
        { status: 'succeeded' },
        { capabilities: ['w'], max: 3 },
      ),
      queue.completeAndLease(
        { taskId: mine[2]!.taskId, agentId: 'a3', leaseToken: mine[2]!.leaseToken },
        { status: 'succeeded' },
        { capabilities: ['w', 'x'], max: 1 },
      ),
      queue.completeAndLease(
        { taskId: mine[3]!.taskId, agentId: 'a4', leaseToken: mine[3]!.leaseToken },
        { status: 'succeeded' },
        { capabilities: ['w'], max: 5 },
      ),
      queue.completeAndLease(
        { taskId: mine[4]!.taskId, agentId: 'a5', leaseToken: mine[4]!.leaseToken },
        { status: 'succeeded' },
        { capabilities: ['w'], max: 1 },
      ),
    ]);
    expect(counted.calls).toBe(1);
    expect(r2).toMatchObject({ status: 'rejected', reason: { code: 'CONFLICT' } });
    const got = [r1, r3, r4, r5].map((r) => (r.status === 'fulfilled' ? r.value : undefined)!);
    // The two-capability report takes the most urgent task of either (x, priority 100).
    expect(got[1]!.leased.map((t) => t.taskId)).toEqual([other.id]);
    // Four tasks of w are left: a1 gets the two most urgent, a4 the other two, a5 none.
    expect(got[0]!.leased.map((t) => t.taskId)).toEqual(remaining.slice(0, 2).map((t) => t.id));
    expect(got[2]!.leased.map((t) => t.taskId)).toEqual(remaining.slice(2, 4).map((t) => t.id));
    expect(got[3]!.leased).toEqual([]);
    expect(got.map((g) => g.task.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    // Each lease is held by its agent, with a token that works.
    expect((await queue.leasedBy('a1')).sort()).toEqual(
      remaining
        .slice(0, 2)
        .map((t) => t.id)
        .sort(),
    );
    expect((await queue.leasedBy('a4')).sort()).toEqual(
      remaining
        .slice(2, 4)
        .map((t) => t.id)
        .sort(),
    );
    for (const [agentId, leased] of [
      ['a1', got[0]!.leased],
      ['a3', got[1]!.leased],
      ['a4', got[2]!.leased],
    ] as const) {
      for (const t of leased) {
        expect(t.leaseToken).not.toBe('');
        const view = await queue.complete(
          { taskId: t.taskId, agentId, leaseToken: t.leaseToken },
          { status: 'succeeded' },
        );
        expect(view).toMatchObject({ state: 'succeeded', agentId });
      }
    }
    expect(await queue.lease({ agentId: 'z', capabilities: ['w', 'x'], max: 10 })).toEqual([]);
  });

  it('a report reply does not send the reported result back, and the task still shows it', async () => {
    const queue = hub();
    const client = queue.client as Redis;
    // Watch the replies of every EVALSHA (a wrapped evalsha takes ioredis' own path).
    const replies: string[] = [];
    const original = client.evalsha.bind(client);
    client.evalsha = (async (...args: Parameters<Redis['evalsha']>) => {
      const reply = await original(...args);
      replies.push(JSON.stringify(reply));
      return reply;
    }) as Redis['evalsha'];
    const big = { text: 'r'.repeat(50_000), n: [1, 2, 3] };
    const lease = async (agentId: string) => {
      await queue.submit({ capability: 'big', payload: { agentId } });
      const [t] = await queue.lease({ agentId, capabilities: ['big'], max: 1 });
      return { taskId: t!.taskId, agentId, leaseToken: t!.leaseToken };
    };
    const results: unknown[] = [];
    // completeAndLease alone, two reports grouped into reportMany, and completeAndWait.
    results.push(
      (
        await queue.completeAndLease(
          await lease('one'),
          { status: 'succeeded', result: big },
          { capabilities: ['big'], max: 0 },
        )
      ).task.result,
    );
    const [g1, g2] = [await lease('g1'), await lease('g2')];
    const grouped = await Promise.all([
      queue.complete(g1, { status: 'succeeded', result: big }),
      queue.complete(g2, { status: 'succeeded', result: 'small' }),
    ]);
    results.push(...grouped.map((t) => t.result));
    const waited = await queue.completeAndWait(
      await lease('w'),
      { status: 'succeeded', result: big },
      {
        capabilities: ['big'],
        max: 1,
        waitMs: 50,
      },
    );
    results.push(waited.task.result);
    expect(results).toEqual([big, big, 'small', big]);
    expect(replies.length).toBeGreaterThanOrEqual(3);
    expect(replies.filter((r) => r.includes('rrrrrrrrrr'))).toEqual([]);
    // Reading the task sends the result, as before.
    expect((await queue.get(g1.taskId))?.result).toEqual(big);
    expect(replies.some((r) => r.includes('rrrrrrrrrr'))).toBe(true);
  });

  it('a grouped report returns the same full view as a read on another hub', async () => {
    const hubA = hub('a');
    const hubB = hub('b');
    const submit = (n: number) =>
      hubA.submit({ capability: 'same', payload: { n, text: 'x'.repeat(n) }, metadata: { n } });
    const { task: near } = await submit(1);
    const { task: far } = await submit(2);
    const { task: big } = await submit(5000);
    const leased = await hubA.lease({ agentId: 'ag', capabilities: ['same'], max: 3 });
    const ref = (id: string) => {
      const t = leased.find((l) => l.taskId === id)!;
      return { taskId: id, agentId: 'ag', leaseToken: t.leaseToken };
    };
    const counted = countEvalsha(hubA);
    const views = await Promise.all([
      hubA.complete(ref(near.id), { status: 'succeeded', result: 'near' }),
      hubB.complete(ref(far.id), { status: 'succeeded', result: 'far' }),
      hubA.complete(ref(big.id), { status: 'succeeded', result: 'big' }),
    ]);
    expect(counted.calls).toBe(1);
    for (const view of views) expect(await hubB.get(view.id)).toEqual(view);
    expect(views[0]).toMatchObject({
      payload: { n: 1 },
      metadata: { n: 1 },
      result: 'near',
      capability: 'same',
    });
    expect(views[2]!.payload).toEqual({ n: 5000, text: 'x'.repeat(5000) });
  });

  it('grouped reports that need keys nobody declared are run again on their own', async () => {
    const hubA = hub('a');
    const hubB = hub('b');
    const { task: t1 } = await hubA.submit({ capability: 'far-1', maxRetries: 1 });
    const { task: t2 } = await hubA.submit({ capability: 'far-2', maxRetries: 1 });
    const [l1] = await hubA.lease({ agentId: 'ag', capabilities: ['far-1'], max: 1 });
    const [l2] = await hubA.lease({ agentId: 'ag', capabilities: ['far-2'], max: 1 });
    const counted = countEvalsha(hubB);
    // Hub B never saw far-1 or far-2; a retry must requeue into their ready sets.
    const retry = { status: 'failed' as const, error: { message: 'flaky', retryable: true } };
    const [v1, v2] = await Promise.all([
      hubB.complete({ taskId: t1.id, agentId: 'ag', leaseToken: l1!.leaseToken }, retry),
      hubB.complete({ taskId: t2.id, agentId: 'ag', leaseToken: l2!.leaseToken }, retry),
    ]);
    expect([v1.state, v2.state]).toEqual(['queued', 'queued']);
    // One grouped call, then each report on its own with the keys it asked for: 1 + 2.
    expect(counted.calls).toBe(3);
    const again = await hubA.lease({ agentId: 'z', capabilities: ['far-1', 'far-2'], max: 5 });
    expect(again.map((t) => t.taskId).sort()).toEqual([t1.id, t2.id].sort());
  });

  it('keeps progress, error and cancel notes through every path', async () => {
    const queue = hub();
    const { task } = await queue.submit({ capability: 'n', maxRetries: 1 });
    let [t] = await queue.lease({ agentId: 'ag', capabilities: ['n'], max: 1 });
    await queue.progress({ taskId: task.id, agentId: 'ag', leaseToken: t!.leaseToken }, { percent: 40 });
    // A retryable failure keeps the error and progress on the requeued task.
    const failed = await queue.complete(
      { taskId: task.id, agentId: 'ag', leaseToken: t!.leaseToken },
      { status: 'failed', error: { message: 'flaky', retryable: true } },
    );
    expect(failed).toMatchObject({ state: 'queued', error: { message: 'flaky' }, progress: { percent: 40 } });
    [t] = await queue.lease({ agentId: 'ag', capabilities: ['n'], max: 1 });
    expect(t).toMatchObject({ taskId: task.id, attempt: 2 });
    // Success clears the error of the earlier attempt.
    const done = await queue.complete(
      { taskId: task.id, agentId: 'ag', leaseToken: t!.leaseToken },
      { status: 'succeeded', result: 1 },
    );
    expect(done.error).toBeUndefined();
    expect(done).toMatchObject({ state: 'succeeded', result: 1, progress: { percent: 40 } });
    expect(await queue.get(task.id)).toEqual(done);
    // Progress only (no error): the fast path keeps it.
    const { task: second } = await queue.submit({ capability: 'n' });
    const [s] = await queue.lease({ agentId: 'ag', capabilities: ['n'], max: 1 });
    await queue.progress(
      { taskId: second.id, agentId: 'ag', leaseToken: s!.leaseToken },
      { message: 'half' },
    );
    expect(
      await queue.complete(
        { taskId: second.id, agentId: 'ag', leaseToken: s!.leaseToken },
        { status: 'succeeded' },
      ),
    ).toMatchObject({
      state: 'succeeded',
      progress: { message: 'half' },
    });
    const { task: third } = await queue.submit({ capability: 'n' });
    expect(await queue.cancel(third.id, 'not needed | really')).toMatchObject({
      state: 'cancelled',
      cancelReason: 'not needed | really',
    });
  });

  it('refuses leader-only writes with a stale fence and changes nothing', async () => {
    const queue = hub();
    const outbox = new RedisOutbox({ redis: queue.client, namespace: h.namespace });
    const elector = new RedisLeaderElector('hub-a', {
      redis: h.admin,
      namespace: h.namespace,
      ttlMs: 5000,
      renewIntervalMs: 1000,
    });
    await elector.start();
    const old = elector.fence()!;
    const { task } = await queue.submit({ capability: 'echo', timeoutMs: 100 });
    await queue.lease({ agentId: 'slow', capabilities: ['echo'], max: 1 });
    await delay(150);
    // A new leadership begins; the old epoch must be refused everywhere.
    await elector.stop();
    await elector.start();
    const current = elector.fence()!;
    expect(current.epoch).toBeGreaterThan(old.epoch);
    await expect(queue.expireLeases(old)).rejects.toBeInstanceOf(ConflictError);
    await expect(queue.releaseAgent('slow', 'evicted', old)).rejects.toBeInstanceOf(ConflictError);
    await expect(queue.promoteDelayed(old)).rejects.toBeInstanceOf(ConflictError);
    await expect(queue.expireDeadlines(old)).rejects.toBeInstanceOf(ConflictError);
    await expect(queue.trimResults(old)).rejects.toBeInstanceOf(ConflictError);
    await expect(outbox.append('leader.changed', {}, old)).rejects.toBeInstanceOf(ConflictError);
    await expect(queue.expireLeases({ hubId: 'hub-b', epoch: current.epoch })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await queue.get(task.id)).toMatchObject({ state: 'leased', agentId: 'slow' });
    expect(await queue.expireLeases(current)).toEqual({ requeued: [task.id], dead: [] });
    await elector.stop();
  });

  it('reloads its scripts after SCRIPT FLUSH', async () => {
    const queue = hub();
    await queue.submit({ capability: 'echo', payload: 1 });
    await h.admin.script('FLUSH');
    const { task } = await queue.submit({ capability: 'echo', payload: 2 });
    expect(task.state).toBe('queued');
    expect(await queue.lease({ agentId: 'a', capabilities: ['echo'], max: 5 })).toHaveLength(2);
  });

  it('recovers from killed command and subscriber connections, and wakes again', async () => {
    const hubA = hub('a');
    const hubB = hub('b');
    const seen: QueueSignal[] = [];
    hubA.subscribe((s) => seen.push(s));
    await hubA.ready();
    expect(await killConnection(h.admin, `${h.namespace}:a`)).toBe(1);
    expect(await killConnection(h.admin, `${h.namespace}:a:signals`)).toBe(1);
    // Commands retry through the reconnect.
    const { task } = await hubA.submit({ capability: 'echo' });
    expect(task.state).toBe('queued');
    // The subscriber re-subscribes by itself; a submit on hub B reaches hub A again.
    await eventually(
      async () => {
        await hubB.submit({ capability: 'after-kill' });
        return seen.some((s) => s.type === 'available' && s.capability === 'after-kill');
      },
      5000,
      100,
    );
  });

  it('writes the Redis clock as exact digits, milliseconds zero-padded (nowMs)', async () => {
    // The scripts build state lines from NOW_S, the digits nowMs returns beside the number.
    // Sample instants whose millisecond part needs padding (< 100): after each sample, wait
    // until just past the next whole second of the Redis clock.
    const source = `${readFileSync(new URL('../src/lua/includes/time.lua', import.meta.url), 'utf8')}
local n, s = nowMs()
local t = redis.call('TIME')
return { tostring(n), s, t[1], t[2] }`;
    let padded = 0;
    for (let i = 0; i < 20 && padded < 3; i++) {
      const [number, digits, seconds, micros] = (await h.admin.eval(source, 0)) as string[];
      expect(digits).toMatch(/^\d{13}$/);
      expect(Number(digits)).toBe(Number(number));
      // TIME read right after: the same millisecond or a later one.
      const after = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      expect(after - Number(digits)).toBeGreaterThanOrEqual(0);
      expect(after - Number(digits)).toBeLessThan(50);
      const millis = Number(digits) % 1000;
      if (millis < 100) padded += 1;
      await delay(1000 - millis + 5 + (i % 4) * 20);
    }
    expect(padded).toBe(3);
  });

  it('takes every time from the Redis clock, whatever the local clock says', async () => {
    const queue = hub();
    const realNow = Date.now;
    Date.now = () => realNow() - 15 * 60_000;
    try {
      const { task } = await queue.submit({ capability: 'echo', delayMs: 100, deadlineMs: 60_000 });
      expect(Math.abs(task.createdAt - realNow())).toBeLessThan(5000);
      await delay(150);
      const [leased] = await queue.lease({ agentId: 'a', capabilities: ['echo'], max: 1 });
      expect(leased?.taskId).toBe(task.id);
      expect(leased!.leaseDeadline - realNow()).toBeGreaterThan(25_000);
      expect(await queue.expireDeadlines()).toEqual([]);
    } finally {
      Date.now = realNow;
    }
  });

  it('sweeps a capability whose only delayed task is a retry waiting out its backoff', async () => {
    const queue = hub('q', { errorBackoff: { baseMs: 50, maxMs: 50, jitter: 0 } });
    const { task } = await queue.submit({ capability: 'retried', maxRetries: 1 });
    const [held] = await queue.lease({ agentId: 'a', capabilities: ['retried'], max: 1 });
    await queue.complete(
      { taskId: task.id, agentId: 'a', leaseToken: held!.leaseToken },
      { status: 'failed', error: { code: 'flaky', message: 'again', retryable: true } },
    );
    expect(await queue.get(task.id)).toMatchObject({ state: 'delayed' });
    await delay(80);
    // A fresh hub knows nothing of the capability: the leader's sweep finds it in Redis.
    expect(await hub('leader').promoteDelayed()).toEqual([task.id]);
    expect(await queue.get(task.id)).toMatchObject({ state: 'queued', errorRetries: 1 });
  });

  it('a many-task lease (bulk path) skips past-deadline and stale entries and spans rounds', async () => {
    const queue = hub('q');
    // 520 tasks, more than one bulk round (500), most urgent first by priority.
    const { tasks } = await queue.submitBatch({
      tasks: Array.from({ length: 520 }, (_, i) => ({ capability: 'bulk', payload: i, priority: i % 2 })),
    });
    const ids = tasks.map((t) => t.taskId);
    // Among the most urgent: two whose total deadline has passed, and one ready entry whose
    // task is gone (as after a crash between scripts of an older version).
    const expired = await Promise.all(
      [0, 1].map(
        async () => (await queue.submit({ capability: 'bulk', priority: 5, deadlineMs: 30 })).task.id,
      ),
    );
    await h.admin.zadd(queue.keys.ready('bulk'), 0, 'task_gone');
    await delay(60);
    const leased = await queue.lease({ agentId: 'a', capabilities: ['bulk'], max: 515 });
    expect(leased).toHaveLength(515);
    // Priority 1 (odd indexes) before priority 0, FIFO within each; tokens all distinct.
    const expected = [...ids.filter((_, i) => i % 2 === 1), ...ids.filter((_, i) => i % 2 === 0)].slice(
      0,
      515,
    );
    expect(leased.map((t) => t.taskId)).toEqual(expected);
    expect(new Set(leased.map((t) => t.leaseToken)).size).toBe(515);
    for (const id of expired) expect((await queue.get(id))?.state).toBe('timed_out');
    expect(await h.admin.zscore(queue.keys.ready('bulk'), 'task_gone')).toBeNull();
    // Each leased task is held by the agent with a lease deadline, and can be reported.
    expect(await h.admin.zcard(queue.keys.leases)).toBe(515);
    const sample = leased[514]!;
    expect(await queue.get(sample.taskId)).toMatchObject({ state: 'leased', agentId: 'a', attempts: 0 });
    await queue.complete(
      { taskId: sample.taskId, agentId: 'a', leaseToken: sample.leaseToken },
      { status: 'succeeded' },
    );
    const released = await queue.releaseAgent('a', 'unregistered');
    expect(released.requeued).toHaveLength(514);
    const rest = await queue.lease({ agentId: 'b', capabilities: ['bulk'], max: 600 });
    expect(rest).toHaveLength(519);
  });

  it('keeps every key under the namespace hash tag', async () => {
    const queue = hub();
    await queue.submit({ capability: 'echo', idempotencyKey: 'k', deadlineMs: 10_000 });
    await queue.submitBatch({ tasks: [{ capability: 'x', delayMs: 1000 }], batchId: 'b1' });
    await queue.lease({ agentId: 'a', capabilities: ['echo'], max: 1 });
    const keys = await h.admin.keys(`*${h.namespace}*`);
    expect(keys.length).toBeGreaterThan(8);
    for (const key of keys) expect(key.startsWith(`{${h.namespace}}:`)).toBe(true);
  });

  it('validates what it stores', async () => {
    const queue = hub();
    await expect(queue.submit({ capability: 'echo', priority: 5000 })).rejects.toThrow(/priority/);
    await expect(
      queue.submitBatch({ tasks: [{ capability: 'echo' }, { capability: 'echo', maxAttempts: 0 }] }),
    ).rejects.toThrow(/tasks\.1\.maxAttempts/);
    expect(await queue.lease({ agentId: 'a', capabilities: ['echo'], max: 5 })).toEqual([]);
  });
});

describeRedis('createRedisBackend', () => {
  it('bundles registry, queue, outbox and electors on one connection and cleans up', async () => {
    const namespace = freshNamespace('backend');
    const admin = adminClient();
    const backend = createRedisBackend({
      url: REDIS_URL,
      namespace,
      elector: { ttlMs: 1000, renewIntervalMs: 200 },
    });
    try {
      expect(backend.kind).toBe('redis');
      const elector = backend.createElector('hub-1');
      await elector.start();
      expect(elector.isLeader()).toBe(true);
      await backend.registry.register({ id: 'a1', name: 'A', skills: [{ id: 'echo', name: 'E' }] });
      const { task } = await backend.queue.submit({ capability: 'echo' });
      const [leased] = await backend.queue.lease({ agentId: 'a1', capabilities: ['echo'], max: 1 });
      const released = await backend.queue.releaseAgent('a1', 'evicted', elector.fence()!);
      expect(released.requeued).toEqual([task.id]);
      expect(leased?.taskId).toBe(task.id);
      expect(await backend.registry.evict('a1', 0, released, elector.fence()!)).toBe(true);
      const events = await backend.outbox.read('test', 10);
      expect(events.map((e) => e.type)).toEqual(['agent.registered', 'agent.evicted']);
      expect(events[1]!.data).toMatchObject({ agentId: 'a1', requeued: [task.id], dead: [] });
    } finally {
      await backend.close();
      await dropNamespace(admin, namespace);
      await admin.quit();
    }
  });
});
