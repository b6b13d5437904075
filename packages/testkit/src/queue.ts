/**
 * `queueSuite`: the task semantics every {@link TaskQueue} must honour — memory and Redis
 * alike. Each test gets a fresh queue from the factory.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  ConflictError,
  createDispatcher,
  type EventOutbox,
  type HubEvent,
  type LeaderFence,
  type LeasedTask,
  MemoryRegistry,
  NotFoundError,
  type QueueOptions,
  type QueueSignal,
  type TaskQueue,
} from '@mcpmas/core';
import { delay, eventually } from './services.js';

/** What a queue factory returns. */
export interface QueueHarness {
  queue: TaskQueue;
  /** The outbox the queue appends `task.dead` / `task.timed_out` to, when it has one. */
  outbox?: EventOutbox;
  /** A valid leader fence, for backends that require one on leader-only calls. */
  fence?: () => LeaderFence | undefined;
  close(): Promise<void>;
}

/** Creates a fresh, empty queue with the given options. */
export type QueueFactory = (options: Partial<QueueOptions>) => Promise<QueueHarness>;

const noBackoff = { baseMs: 0, maxMs: 0, jitter: 0 };
/** Options that make timing-dependent rules fast and deterministic. */
const FAST: Partial<QueueOptions> = { crashBackoff: noBackoff, errorBackoff: noBackoff };

async function allEvents(outbox: EventOutbox): Promise<HubEvent[]> {
  return outbox.read(`suite-${Math.random()}`, 10_000);
}

/** Runs the queue conformance suite against `factory`. */
/** Optional capabilities of the queue under test; a capability not declared is shown as skipped. */
export interface QueueSuiteFeatures {
  /** The queue implements `TaskQueue.completeAndLease`. @default false */
  completeAndLease?: boolean;
  /** The queue implements `TaskQueue.leaseWait`. @default false */
  leaseWait?: boolean;
}

export function queueSuite(name: string, factory: QueueFactory, features: QueueSuiteFeatures = {}): void {
  describe(`queueSuite: ${name}`, () => {
    let harness: QueueHarness | undefined;
    const open = async (options: Partial<QueueOptions> = FAST) => {
      harness = await factory({ ...FAST, ...options });
      return harness;
    };
    afterEach(async () => {
      await harness?.close();
      harness = undefined;
    });
    const fence = () => harness?.fence?.();
    const leaseOne = async (queue: TaskQueue, agentId = 'agent-1', capabilities = ['echo']) => {
      const [task] = await queue.lease({ agentId, capabilities, max: 1 });
      return task;
    };
    const ref = (t: LeasedTask, agentId = 'agent-1') => ({
      taskId: t.taskId,
      agentId,
      leaseToken: t.leaseToken,
    });

    describe('ordering', () => {
      it('hands out higher priority first and first-in-first-out within a priority', async () => {
        const { queue } = await open();
        const ids: Record<string, string> = {};
        for (const [label, priority] of [
          ['low1', -5],
          ['mid1', 0],
          ['high1', 10],
          ['mid2', 0],
          ['high2', 10],
          ['low2', -5],
        ] as const) {
          ids[label] = (await queue.submit({ capability: 'echo', payload: label, priority })).task.id;
        }
        const order: unknown[] = [];
        for (let t = await leaseOne(queue); t; t = await leaseOne(queue)) order.push(t.payload);
        expect(order).toEqual(['high1', 'high2', 'mid1', 'mid2', 'low1', 'low2']);
      });

      it('leases up to max tasks at once, most urgent first', async () => {
        const { queue } = await open();
        for (let i = 0; i < 5; i++) await queue.submit({ capability: 'echo', payload: i, priority: i });
        const tasks = await queue.lease({ agentId: 'a', capabilities: ['echo'], max: 3 });
        expect(tasks.map((t) => t.payload)).toEqual([4, 3, 2]);
        expect(new Set(tasks.map((t) => t.leaseToken)).size).toBe(3);
      });
    });

    describe('capability routing', () => {
      it('gives an agent only tasks of capabilities it asks for', async () => {
        const { queue } = await open();
        await queue.submit({ capability: 'translate', payload: 't' });
        await queue.submit({ capability: 'summarise', payload: 's' });
        expect(await leaseOne(queue, 'a', ['echo'])).toBeUndefined();
        expect((await leaseOne(queue, 'a', ['summarise']))?.payload).toBe('s');
        expect(await leaseOne(queue, 'a', ['summarise'])).toBeUndefined();
        expect((await leaseOne(queue, 'a', ['translate']))?.payload).toBe('t');
      });

      it('across several capabilities picks the globally most urgent task', async () => {
        const { queue } = await open();
        await queue.submit({ capability: 'a', payload: 'a-low', priority: 1 });
        await queue.submit({ capability: 'b', payload: 'b-high', priority: 5 });
        await queue.submit({ capability: 'a', payload: 'a-high', priority: 5 });
        const order = [];
        for (let t = await leaseOne(queue, 'x', ['a', 'b']); t; t = await leaseOne(queue, 'x', ['a', 'b']))
          order.push(t.payload);
        expect(order).toEqual(['b-high', 'a-high', 'a-low']);
      });
    });

    describe('leases', () => {
      it('records the lease on the task and lists it under the agent', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({
          capability: 'echo',
          payload: { n: 1 },
          timeoutMs: 5000,
          metadata: { k: 'v' },
        });
        const leased = (await leaseOne(queue))!;
        expect(leased).toMatchObject({
          taskId: task.id,
          payload: { n: 1 },
          attempt: 1,
          timeoutMs: 5000,
          metadata: { k: 'v' },
        });
        expect(leased.leaseDeadline).toBeGreaterThan(task.createdAt);
        const view = await queue.get(task.id);
        expect(view).toMatchObject({ state: 'leased', agentId: 'agent-1' });
        expect(JSON.stringify(view)).not.toContain(leased.leaseToken);
        expect(await queue.leasedBy('agent-1')).toEqual([task.id]);
      });

      it('accepts the result only from the holder of the current token', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', payload: 1 });
        const leased = (await leaseOne(queue))!;
        await expect(
          queue.complete({ ...ref(leased), leaseToken: 'forged' }, { status: 'succeeded' }),
        ).rejects.toBeInstanceOf(ConflictError);
        await expect(queue.complete(ref(leased, 'agent-2'), { status: 'succeeded' })).rejects.toBeInstanceOf(
          ConflictError,
        );
        const done = await queue.complete(ref(leased), { status: 'succeeded', result: { ok: 1 } });
        expect(done).toMatchObject({ id: task.id, state: 'succeeded', result: { ok: 1 } });
        expect(await queue.leasedBy('agent-1')).toEqual([]);
      });

      it('rejects a duplicate result and never overwrites the terminal state', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', payload: 1 });
        const leased = (await leaseOne(queue))!;
        await queue.complete(ref(leased), { status: 'succeeded', result: 'first' });
        const again = queue.complete(ref(leased), { status: 'succeeded', result: 'second' });
        await expect(again).rejects.toBeInstanceOf(ConflictError);
        // The agent that reported first learns it was its own report that landed; others do not.
        await expect(again).rejects.toMatchObject({ details: { state: 'succeeded', sameAgent: true } });
        await expect(queue.complete(ref(leased, 'agent-2'), { status: 'succeeded' })).rejects.toMatchObject({
          details: { state: 'succeeded', sameAgent: false },
        });
        await expect(
          queue.complete(ref(leased), { status: 'failed', error: { message: 'x' } }),
        ).rejects.toBeInstanceOf(ConflictError);
        expect(await queue.get(task.id)).toMatchObject({ state: 'succeeded', result: 'first' });
      });

      it('rejects a late result after the lease expired and the task was leased again', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', payload: 1, timeoutMs: 100 });
        const first = (await leaseOne(queue, 'slow'))!;
        await delay(150);
        const released = await queue.expireLeases(fence());
        expect(released.requeued).toEqual([task.id]);
        await expect(queue.progress(ref(first, 'slow'))).rejects.toBeInstanceOf(ConflictError);
        const second = (await leaseOne(queue, 'fast'))!;
        expect(second.attempt).toBe(2);
        await expect(
          queue.complete(ref(first, 'slow'), { status: 'succeeded', result: 'late' }),
        ).rejects.toBeInstanceOf(ConflictError);
        await queue.complete(ref(second, 'fast'), { status: 'succeeded', result: 'on time' });
        await expect(
          queue.complete(ref(first, 'slow'), { status: 'succeeded', result: 'late' }),
        ).rejects.toMatchObject({ details: { state: 'succeeded', sameAgent: false } });
        expect(await queue.get(task.id)).toMatchObject({
          state: 'succeeded',
          result: 'on time',
          attempts: 1,
        });
      });

      it('extends the lease on progress and keeps the latest progress', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', timeoutMs: 300 });
        const leased = (await leaseOne(queue))!;
        await delay(200);
        const p = await queue.progress(ref(leased), { percent: 50, message: 'half' });
        expect(p.leaseDeadline).toBeGreaterThan(leased.leaseDeadline);
        await delay(200);
        // 400 ms after the lease began, past the original deadline but not the extended one.
        expect((await queue.expireLeases(fence())).requeued).toEqual([]);
        expect(await queue.get(task.id)).toMatchObject({
          state: 'leased',
          progress: { percent: 50, message: 'half' },
        });
      });

      it('extends the lease on a progress without a payload, keeping the last progress', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', timeoutMs: 5000 });
        const leased = (await leaseOne(queue))!;
        const first = await queue.progress(ref(leased), { percent: 10 });
        await delay(20);
        const second = await queue.progress(ref(leased));
        expect(second.leaseDeadline).toBeGreaterThan(first.leaseDeadline);
        expect(await queue.get(task.id)).toMatchObject({
          state: 'leased',
          leaseDeadline: second.leaseDeadline,
          progress: { percent: 10 },
        });
        await queue.complete(ref(leased), { status: 'succeeded', result: 'ok' });
        expect(await queue.get(task.id)).toMatchObject({
          state: 'succeeded',
          result: 'ok',
          progress: { percent: 10 },
        });
      });

      it('refuses reports for unknown tasks with NotFoundError', async () => {
        const { queue } = await open();
        const r = { taskId: 'task_missing', agentId: 'a', leaseToken: 'x' };
        await expect(queue.complete(r, { status: 'succeeded' })).rejects.toBeInstanceOf(NotFoundError);
        await expect(queue.progress(r)).rejects.toBeInstanceOf(NotFoundError);
        expect(await queue.get('task_missing')).toBeNull();
      });
    });

    describe('requeue and dead letters', () => {
      it('requeues at once with attempts + 1 when the agent unregisters', async () => {
        const { queue } = await open({ crashBackoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
        const { task } = await queue.submit({ capability: 'echo', payload: 1 });
        await leaseOne(queue, 'leaver');
        const released = await queue.releaseAgent('leaver', 'unregistered');
        expect(released).toEqual({ requeued: [task.id], dead: [] });
        expect(await queue.get(task.id)).toMatchObject({ state: 'queued', attempts: 1 });
        expect((await leaseOne(queue, 'other'))?.taskId).toBe(task.id);
      });

      it('requeues with attempts + 1 and the crash backoff when the agent is evicted', async () => {
        const { queue } = await open({ crashBackoff: { baseMs: 200, maxMs: 200, jitter: 0 } });
        const { task } = await queue.submit({ capability: 'echo', payload: 1 });
        await leaseOne(queue, 'gone');
        expect(await queue.releaseAgent('gone', 'evicted', fence())).toEqual({
          requeued: [task.id],
          dead: [],
        });
        expect(await queue.get(task.id)).toMatchObject({ state: 'delayed', attempts: 1 });
        expect(await leaseOne(queue, 'other')).toBeUndefined();
        await delay(250);
        await queue.promoteDelayed(fence());
        expect((await leaseOne(queue, 'other'))?.taskId).toBe(task.id);
      });

      it('only releases the evicted agent’s own tasks', async () => {
        const { queue } = await open();
        await queue.submit({ capability: 'echo', payload: 'a' });
        await queue.submit({ capability: 'echo', payload: 'b' });
        const mine = (await leaseOne(queue, 'gone'))!;
        const theirs = (await leaseOne(queue, 'alive'))!;
        expect((await queue.releaseAgent('gone', 'evicted', fence())).requeued).toEqual([mine.taskId]);
        expect(await queue.get(theirs.taskId)).toMatchObject({ state: 'leased', agentId: 'alive' });
      });

      it('moves a task to the dead-letter set once its crash budget is spent', async () => {
        const h = await open();
        const { queue } = h;
        const { task } = await queue.submit({ capability: 'echo', payload: 1, maxAttempts: 2 });
        await leaseOne(queue, 'a1');
        expect((await queue.releaseAgent('a1', 'evicted', fence())).requeued).toEqual([task.id]);
        await queue.promoteDelayed(fence());
        await leaseOne(queue, 'a2');
        expect(await queue.releaseAgent('a2', 'evicted', fence())).toEqual({ requeued: [], dead: [task.id] });
        expect(await queue.get(task.id)).toMatchObject({ state: 'dead', attempts: 2 });
        expect((await queue.deadLetters()).map((t) => t.id)).toEqual([task.id]);
        expect(await leaseOne(queue, 'a3')).toBeUndefined();
        if (h.outbox) {
          const dead = (await allEvents(h.outbox)).filter((e) => e.type === 'task.dead');
          expect(dead.map((e) => e.data.taskId)).toEqual([task.id]);
        }
      });

      it('counts an expired lease against the crash budget', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', maxAttempts: 1, timeoutMs: 100 });
        await leaseOne(queue);
        await delay(150);
        expect(await queue.expireLeases(fence())).toEqual({ requeued: [], dead: [task.id] });
        expect((await queue.get(task.id))?.state).toBe('dead');
      });
    });

    describe('retry budgets', () => {
      it('retries a retryable error within maxRetries, then fails', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', maxRetries: 1, maxAttempts: 1 });
        const first = (await leaseOne(queue))!;
        const retried = await queue.complete(ref(first), {
          status: 'failed',
          error: { message: 'flaky', retryable: true },
        });
        expect(retried).toMatchObject({ id: task.id, state: 'queued', errorRetries: 1, attempts: 0 });
        const second = (await leaseOne(queue))!;
        expect(second.attempt).toBe(2);
        const failed = await queue.complete(ref(second), {
          status: 'failed',
          error: { message: 'flaky again', retryable: true },
        });
        expect(failed).toMatchObject({ state: 'failed', errorRetries: 1, error: { message: 'flaky again' } });
      });

      it('fails at once on a non-retryable error even with retries left', async () => {
        const { queue } = await open();
        await queue.submit({ capability: 'echo', maxRetries: 5 });
        const leased = (await leaseOne(queue))!;
        const failed = await queue.complete(ref(leased), {
          status: 'failed',
          error: { message: 'bad input', code: 'E_INPUT' },
        });
        expect(failed).toMatchObject({ state: 'failed', errorRetries: 0, error: { code: 'E_INPUT' } });
      });

      it('keeps crash and error budgets separate', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', maxRetries: 2, maxAttempts: 2 });
        // One error retry does not spend the crash budget…
        await queue.complete(ref((await leaseOne(queue))!), {
          status: 'failed',
          error: { message: 'e', retryable: true },
        });
        // …and one crash does not spend the error budget.
        await leaseOne(queue, 'crasher');
        await queue.releaseAgent('crasher', 'unregistered');
        expect(await queue.get(task.id)).toMatchObject({ state: 'queued', attempts: 1, errorRetries: 1 });
        await queue.complete(ref((await leaseOne(queue))!), {
          status: 'failed',
          error: { message: 'e', retryable: true },
        });
        expect(await queue.get(task.id)).toMatchObject({ state: 'queued', attempts: 1, errorRetries: 2 });
        await leaseOne(queue, 'crasher');
        expect((await queue.releaseAgent('crasher', 'unregistered')).dead).toEqual([task.id]);
      });

      it('waits out the error backoff before running again', async () => {
        const { queue } = await open({ errorBackoff: { baseMs: 250, maxMs: 250, jitter: 0 } });
        await queue.submit({ capability: 'echo', maxRetries: 1 });
        const first = (await leaseOne(queue))!;
        const retried = await queue.complete(ref(first), {
          status: 'failed',
          error: { message: 'e', retryable: true },
        });
        expect(retried.state).toBe('delayed');
        expect(retried.availableAt - retried.updatedAt).toBeGreaterThanOrEqual(250);
        expect(await leaseOne(queue)).toBeUndefined();
        await delay(300);
        await queue.promoteDelayed(fence());
        expect((await leaseOne(queue))?.taskId).toBe(first.taskId);
      });
    });

    describe('submission', () => {
      it('returns the existing task for a known idempotency key', async () => {
        const { queue } = await open();
        const a = await queue.submit({ capability: 'echo', payload: 1, idempotencyKey: 'k-1' });
        const b = await queue.submit({ capability: 'echo', payload: 2, idempotencyKey: 'k-1' });
        expect(a.created).toBe(true);
        expect(b.created).toBe(false);
        expect(b.task.id).toBe(a.task.id);
        expect(b.task.payload).toBe(1);
        expect((await queue.lease({ agentId: 'x', capabilities: ['echo'], max: 10 })).length).toBe(1);
      });

      it('stores a batch whole, reports its aggregate status and dedupes by batch id', async () => {
        const { queue } = await open();
        const batch = await queue.submitBatch({
          batchId: 'b-1',
          tasks: [
            { capability: 'echo', payload: 1, priority: 1 },
            { capability: 'echo', payload: 2, priority: 2 },
            { capability: 'other', payload: 3 },
          ],
        });
        expect(batch).toMatchObject({ batchId: 'b-1', created: true });
        expect(batch.tasks).toHaveLength(3);
        const again = await queue.submitBatch({
          batchId: 'b-1',
          tasks: [{ capability: 'echo', payload: 9 }],
        });
        expect(again.created).toBe(false);
        expect(again.tasks.map((t) => t.taskId)).toEqual(batch.tasks.map((t) => t.taskId));
        const leased = (await leaseOne(queue))!;
        expect(leased.batchId).toBe('b-1');
        await queue.complete(ref(leased), { status: 'succeeded' });
        const view = await queue.getBatch('b-1');
        expect(view).toMatchObject({
          batchId: 'b-1',
          total: 3,
          done: false,
          counts: { succeeded: 1, queued: 2 },
        });
        expect(await queue.getBatch('nope')).toBeNull();
      });

      it('holds a delayed task until it is due', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', delayMs: 200 });
        expect(task.state).toBe('delayed');
        expect(await leaseOne(queue)).toBeUndefined();
        await delay(250);
        await queue.promoteDelayed(fence());
        expect((await leaseOne(queue))?.taskId).toBe(task.id);
      });

      it('times out a task whose total deadline passes', async () => {
        const h = await open();
        const { task } = await h.queue.submit({ capability: 'echo', deadlineMs: 100 });
        await delay(150);
        expect(await h.queue.expireDeadlines(fence())).toEqual([task.id]);
        expect((await h.queue.get(task.id))?.state).toBe('timed_out');
        expect(await leaseOne(h.queue)).toBeUndefined();
        if (h.outbox) {
          expect(
            (await allEvents(h.outbox)).some((e) => e.type === 'task.timed_out' && e.data.taskId === task.id),
          ).toBe(true);
        }
      });

      it('does not share mutable state with callers', async () => {
        const { queue } = await open();
        const payload = { list: [1, 2] };
        const { task } = await queue.submit({ capability: 'echo', payload });
        payload.list.push(3);
        (task.payload as { list: number[] }).list.push(4);
        expect((await queue.get(task.id))?.payload).toEqual({ list: [1, 2] });
      });
    });

    describe('cancel', () => {
      it('cancels a queued task so it is never leased', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo' });
        expect(await queue.cancel(task.id, 'not needed')).toMatchObject({
          state: 'cancelled',
          cancelReason: 'not needed',
        });
        expect(await leaseOne(queue)).toBeUndefined();
      });

      it('cancels a running task and refuses its later result', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo' });
        const leased = (await leaseOne(queue))!;
        expect((await queue.cancel(task.id)).state).toBe('cancelled');
        await expect(queue.complete(ref(leased), { status: 'succeeded' })).rejects.toBeInstanceOf(
          ConflictError,
        );
        await expect(queue.progress(ref(leased))).rejects.toBeInstanceOf(ConflictError);
        expect(await queue.leasedBy('agent-1')).toEqual([]);
        expect((await queue.get(task.id))?.state).toBe('cancelled');
      });

      it('refuses to cancel a terminal task and names unknown ones', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo' });
        await queue.complete(ref((await leaseOne(queue))!), { status: 'succeeded' });
        await expect(queue.cancel(task.id)).rejects.toBeInstanceOf(ConflictError);
        await expect(queue.cancel('task_nope')).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    describe('result retention', () => {
      it('removes terminal tasks once the retention time passes', async () => {
        const { queue } = await open({ resultTtlMs: 100 });
        const { task } = await queue.submit({ capability: 'echo', idempotencyKey: 'keep-1' });
        const open1 = await queue.submit({ capability: 'other' });
        await queue.complete(ref((await leaseOne(queue))!), { status: 'succeeded', result: 'r' });
        expect(await queue.trimResults(fence())).toBe(0);
        await delay(150);
        expect(await queue.trimResults(fence())).toBe(1);
        expect(await queue.get(task.id)).toBeNull();
        expect((await queue.get(open1.task.id))?.state).toBe('queued');
        // The idempotency key is released with the task.
        expect((await queue.submit({ capability: 'echo', idempotencyKey: 'keep-1' })).created).toBe(true);
      });

      it('keeps at most maxTerminalTasks, dropping the oldest first', async () => {
        const { queue } = await open({ maxTerminalTasks: 2 });
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          ids.push((await queue.submit({ capability: 'echo', payload: i })).task.id);
          await queue.complete(ref((await leaseOne(queue))!), { status: 'succeeded', result: i });
        }
        expect(await queue.trimResults(fence())).toBe(1);
        expect(await queue.get(ids[0]!)).toBeNull();
        expect((await queue.get(ids[2]!))?.result).toBe(2);
      });

      it('forgets a batch once the last of its tasks is removed, not before', async () => {
        const { queue } = await open({ maxTerminalTasks: 1 });
        const { tasks } = await queue.submitBatch({
          batchId: 'b-trim',
          tasks: [
            { capability: 'echo', payload: 1 },
            { capability: 'echo', payload: 2 },
          ],
        });
        for (let i = 0; i < 2; i++) {
          await queue.complete(ref((await leaseOne(queue))!), { status: 'succeeded' });
        }
        expect(await queue.trimResults(fence())).toBe(1);
        expect(await queue.getBatch('b-trim')).toMatchObject({
          total: 2,
          counts: { succeeded: 1, expired: 1 },
        });
        await queue.submit({ capability: 'echo' });
        await queue.complete(ref((await leaseOne(queue))!), { status: 'succeeded' });
        expect(await queue.trimResults(fence())).toBe(1);
        expect(await queue.get(tasks[1]!.taskId)).toBeNull();
        expect(await queue.getBatch('b-trim')).toBeNull();
      });
    });

    describe('signals and waits', () => {
      it('signals available work and terminal states', async () => {
        const { queue } = await open();
        const signals: QueueSignal[] = [];
        const off = queue.subscribe((s) => signals.push(s));
        const { task } = await queue.submit({ capability: 'echo' });
        await eventually(() => signals.some((s) => s.type === 'available' && s.capability === 'echo'));
        await queue.complete(ref((await leaseOne(queue))!), { status: 'succeeded' });
        await eventually(() =>
          signals.some((s) => s.type === 'terminal' && s.taskId === task.id && s.state === 'succeeded'),
        );
        off();
      });

      it('a long-polling task.next returns promptly when work arrives, and empty after its wait', async () => {
        const { queue } = await open();
        const registry = new MemoryRegistry();
        const dispatcher = createDispatcher({ registry, queue });
        const ctx = { protocol: 'test' };
        try {
          await dispatcher.call(
            'agent.register',
            { agentId: 'poller', name: 'p', skills: [{ id: 'echo', name: 'Echo' }] },
            ctx,
          );
          const started = Date.now();
          const empty = await dispatcher.call('task.next', { agentId: 'poller', waitMs: 200 }, ctx);
          expect(empty.tasks).toEqual([]);
          expect(Date.now() - started).toBeGreaterThanOrEqual(190);

          const t0 = Date.now();
          const waiting = dispatcher.call('task.next', { agentId: 'poller', waitMs: 10_000 }, ctx);
          await delay(50);
          const { task } = await dispatcher.call('task.submit', { capability: 'echo', payload: 'wake' }, ctx);
          const got = await waiting;
          expect(got.tasks.map((t) => t.taskId)).toEqual([task.id]);
          expect(Date.now() - t0).toBeLessThan(2000);
        } finally {
          dispatcher.close();
        }
      });

      it('a waiting task.get returns promptly when the result arrives', async () => {
        const { queue } = await open();
        const dispatcher = createDispatcher({ registry: new MemoryRegistry(), queue });
        const ctx = { protocol: 'test' };
        try {
          const { task } = await dispatcher.call('task.submit', { capability: 'echo' }, ctx);
          const t0 = Date.now();
          const waiting = dispatcher.call('task.get', { taskId: task.id, waitMs: 10_000 }, ctx);
          await delay(50);
          await queue.complete(ref((await leaseOne(queue))!), { status: 'succeeded', result: 'done' });
          expect((await waiting).task).toMatchObject({ state: 'succeeded', result: 'done' });
          expect(Date.now() - t0).toBeLessThan(2000);
          const quick = await dispatcher.call('task.get', { taskId: task.id, waitMs: 10_000 }, ctx);
          expect(quick.task.state).toBe('succeeded');
        } finally {
          dispatcher.close();
        }
      });
    });

    describe('lease with a wait', () => {
      const itHas = features.leaseWait ? it : it.skip;
      const call = (queue: TaskQueue) => {
        if (!queue.leaseWait) throw new Error('the queue declares leaseWait but lacks it');
        return queue.leaseWait.bind(queue);
      };
      /** Starts a wait and gives a networked queue time to register it before the next step. */
      const waitFor = async (
        queue: TaskQueue,
        agentId: string,
        options: { capabilities?: string[]; max?: number; waitMs?: number; signal?: AbortSignal } = {},
      ) => {
        let settled = false;
        const wait = call(queue)({
          agentId,
          capabilities: options.capabilities ?? ['echo'],
          max: options.max ?? 1,
          waitMs: options.waitMs ?? 10_000,
          ...(options.signal ? { signal: options.signal } : {}),
        }).finally(() => {
          settled = true;
        });
        await delay(100);
        return { wait, settled: () => settled };
      };

      /** Submits a task and checks that a moment later it is still queued: no ended wait took it. */
      const staysQueued = async (queue: TaskQueue, capability = 'echo') => {
        const { task } = await queue.submit({ capability });
        await delay(100);
        expect((await queue.get(task.id))?.state).toBe('queued');
      };

      itHas('leases what is runnable at once, most urgent first, without waiting', async () => {
        const { queue } = await open();
        await queue.submit({ capability: 'x', priority: 1 });
        const { task: urgent } = await queue.submit({ capability: 'y', priority: 5 });
        const started = Date.now();
        const leased = await call(queue)({
          agentId: 'agent-1',
          capabilities: ['x', 'y'],
          max: 1,
          waitMs: 10_000,
        });
        expect(Date.now() - started).toBeLessThan(2000);
        expect(leased.map((t) => t.taskId)).toEqual([urgent.id]);
      });

      itHas('leases a task submitted during the wait to the waiting agent', async () => {
        const { queue } = await open();
        const { wait } = await waitFor(queue, 'agent-1', { max: 2 });
        const { task } = await queue.submit({ capability: 'echo', payload: { n: 1 } });
        const leased = await wait;
        expect(leased).toEqual([expect.objectContaining({ taskId: task.id, payload: { n: 1 }, attempt: 1 })]);
        expect(await queue.get(task.id)).toMatchObject({ state: 'leased', agentId: 'agent-1' });
        expect(await queue.leasedBy('agent-1')).toEqual([task.id]);
        await queue.complete(ref(leased[0]!), { status: 'succeeded' });
        expect((await queue.get(task.id))?.state).toBe('succeeded');
      });

      itHas('leases nothing, at once, for max 0 or no capabilities; a later task stays queued', async () => {
        const { queue } = await open();
        const started = Date.now();
        expect(
          await call(queue)({ agentId: 'agent-1', capabilities: ['echo'], max: 0, waitMs: 5000 }),
        ).toEqual([]);
        expect(await call(queue)({ agentId: 'agent-1', capabilities: [], max: 1, waitMs: 5000 })).toEqual([]);
        expect(Date.now() - started).toBeLessThan(2000);
        await staysQueued(queue);
      });

      itHas('resolves [] when the time is up, and a task submitted afterwards stays queued', async () => {
        const { queue } = await open();
        const started = Date.now();
        expect(
          await call(queue)({ agentId: 'agent-1', capabilities: ['echo'], max: 1, waitMs: 300 }),
        ).toEqual([]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(290);
        await staysQueued(queue);
      });

      itHas('ends at once when aborted, and a task submitted afterwards stays queued', async () => {
        const { queue } = await open();
        const controller = new AbortController();
        const { wait } = await waitFor(queue, 'agent-1', { signal: controller.signal });
        const started = Date.now();
        controller.abort();
        expect(await wait).toEqual([]);
        expect(Date.now() - started).toBeLessThan(2000);
        await staysQueued(queue);
      });

      itHas('serves one waiter per task, oldest first, and leaves the others waiting', async () => {
        const { queue } = await open();
        const waits = [];
        for (const agentId of ['w1', 'w2', 'w3', 'w4']) waits.push(await waitFor(queue, agentId));
        const { tasks } = await queue.submitBatch({
          tasks: [1, 2, 3].map((n) => ({ capability: 'echo', payload: n })),
        });
        const got = await Promise.all(waits.slice(0, 3).map((w) => w.wait));
        expect(got.map((leased) => leased.map((t) => t.taskId))).toEqual(tasks.map((t) => [t.taskId]));
        expect(await Promise.all(tasks.map(async (t) => (await queue.get(t.taskId))?.agentId))).toEqual([
          'w1',
          'w2',
          'w3',
        ]);
        // The fourth is still waiting, and gets the next task.
        await delay(100);
        expect(waits[3]!.settled()).toBe(false);
        const { task } = await queue.submit({ capability: 'echo', payload: 4 });
        expect((await waits[3]!.wait).map((t) => t.taskId)).toEqual([task.id]);
      });

      itHas('gives a waiter the most urgent task of a batch, not the first', async () => {
        const { queue } = await open();
        const { wait } = await waitFor(queue, 'agent-1');
        const { tasks } = await queue.submitBatch({
          tasks: [
            { capability: 'echo', priority: 1, payload: 'low' },
            { capability: 'echo', priority: 9, payload: 'high' },
          ],
        });
        expect(await wait).toEqual([expect.objectContaining({ taskId: tasks[1]!.taskId, payload: 'high' })]);
        expect((await queue.get(tasks[0]!.taskId))?.state).toBe('queued');
      });

      itHas('serves a waiter of several capabilities once', async () => {
        const { queue } = await open();
        const { wait } = await waitFor(queue, 'agent-1', { capabilities: ['x', 'y'] });
        const { task } = await queue.submit({ capability: 'y' });
        expect((await wait).map((t) => t.taskId)).toEqual([task.id]);
        await staysQueued(queue, 'x');
      });

      itHas('leases a requeued task to a waiting agent, with the attempt counted', async () => {
        const { queue } = await open();
        const { task } = await queue.submit({ capability: 'echo', payload: 'again' });
        await leaseOne(queue, 'agent-1');
        const { wait } = await waitFor(queue, 'agent-2');
        await queue.releaseAgent('agent-1', 'unregistered');
        expect(await wait).toEqual([
          expect.objectContaining({ taskId: task.id, payload: 'again', attempt: 2 }),
        ]);
        expect(await queue.get(task.id)).toMatchObject({ state: 'leased', agentId: 'agent-2', attempts: 1 });
      });

      itHas('ends waits when the queue closes', async () => {
        const { queue } = await open();
        const { wait } = await waitFor(queue, 'agent-1');
        const started = Date.now();
        await queue.close();
        expect(await wait.catch(() => [])).toEqual([]);
        expect(Date.now() - started).toBeLessThan(2000);
      });
    });

    describe('complete and lease in one call', () => {
      const itHas = features.completeAndLease ? it : it.skip;
      const call = (queue: TaskQueue) => {
        if (!queue.completeAndLease) throw new Error('the queue declares completeAndLease but lacks it');
        return queue.completeAndLease.bind(queue);
      };

      itHas('records the outcome and leases the next most urgent task for the same agent', async () => {
        const { queue } = await open();
        const { task: first } = await queue.submit({ capability: 'echo', payload: 'first', priority: 5 });
        const { task: low } = await queue.submit({ capability: 'echo', payload: 'low', priority: 0 });
        const { task: high } = await queue.submit({ capability: 'other', payload: 'high', priority: 9 });
        const leased = (await leaseOne(queue))!;
        expect(leased.taskId).toBe(first.id);
        const { task, leased: next } = await call(queue)(
          ref(leased),
          { status: 'succeeded', result: { ok: 1 } },
          { capabilities: ['echo', 'other'], max: 5 },
        );
        expect(task).toMatchObject({ id: first.id, state: 'succeeded', result: { ok: 1 } });
        expect(next.map((t) => t.taskId)).toEqual([high.id, low.id]);
        expect(next[0]).toMatchObject({ payload: 'high', capability: 'other', attempt: 1 });
        expect((await queue.leasedBy('agent-1')).sort()).toEqual([high.id, low.id].sort());
        // The new leases are real: their tokens report, the old one is spent.
        await queue.complete(ref(next[0]!), { status: 'succeeded' });
        await expect(queue.complete(ref(leased), { status: 'succeeded' })).rejects.toBeInstanceOf(
          ConflictError,
        );
        // max 0 only completes.
        const last = await call(queue)(
          ref(next[1]!),
          { status: 'succeeded' },
          { capabilities: ['echo'], max: 0 },
        );
        expect(last).toEqual({
          task: expect.objectContaining({ id: low.id, state: 'succeeded' }),
          leased: [],
        });
      });

      itHas('leases nothing when the report is refused', async () => {
        const { queue } = await open();
        await queue.submit({ capability: 'echo', payload: 1 });
        const { task: waiting } = await queue.submit({ capability: 'echo', payload: 2 });
        const leased = (await leaseOne(queue))!;
        await expect(
          call(queue)(
            { ...ref(leased), leaseToken: 'not-the-token' },
            { status: 'succeeded' },
            { capabilities: ['echo'], max: 1 },
          ),
        ).rejects.toBeInstanceOf(ConflictError);
        expect((await queue.get(waiting.id))?.state).toBe('queued');
        expect((await queue.get(leased.taskId))?.state).toBe('leased');
      });

      itHas(
        'hands a task that failed with a retryable error back to the queue, ready to lease again',
        async () => {
          const { queue } = await open();
          const { task } = await queue.submit({ capability: 'echo', maxRetries: 1 });
          const leased = (await leaseOne(queue))!;
          const { task: after, leased: next } = await call(queue)(
            ref(leased),
            { status: 'failed', error: { message: 'flaky', retryable: true } },
            { capabilities: ['echo'], max: 1 },
          );
          expect(after).toMatchObject({ id: task.id, state: 'queued', errorRetries: 1 });
          expect(next.map((t) => [t.taskId, t.attempt])).toEqual([[task.id, 2]]);
        },
      );
    });
  });
}
