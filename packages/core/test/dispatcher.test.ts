import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type CallContext,
  createDispatcher,
  createMemoryBackend,
  ForbiddenError,
  type HubDispatcher,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  PluginHost,
  type TaskQueue,
  UnavailableError,
  ValidationError,
} from '../src/index.js';

const ctx: CallContext = { protocol: 'test' };
const skills = [{ id: 'echo', name: 'Echo' }];

/**
 * `queue` counting its `lease` calls; with `fallback`, without `leaseWait` (the dispatcher then
 * waits for `available` signals and leases); with `coarse`, sending only the first `available`
 * of each turn, as a queue that signals once per batch does.
 */
function observed(queue: TaskQueue, fallback: boolean, coarse: boolean) {
  let leases = 0;
  let quiet = false;
  const subscribe: TaskQueue['subscribe'] = (listener) =>
    queue.subscribe((signal) => {
      if (signal.type === 'available') {
        if (quiet) return;
        quiet = true;
        queueMicrotask(() => {
          quiet = false;
        });
      }
      listener(signal);
    });
  const proxy = new Proxy(queue, {
    get(target, property) {
      if (property === 'leaseWait' && fallback) return undefined;
      if (property === 'subscribe' && coarse) return subscribe;
      if (property === 'lease') {
        return (...args: Parameters<TaskQueue['lease']>) => {
          leases += 1;
          return target.lease(...args);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { queue: proxy, leases: () => leases };
}

describe('dispatcher', () => {
  let dispatcher: HubDispatcher | undefined;
  const make = (
    options: Partial<Parameters<typeof createDispatcher>[0]> = {},
    fallback = false,
    coarse = false,
  ) => {
    const backend = createMemoryBackend();
    const { queue, leases } = observed(backend.queue, fallback, coarse);
    dispatcher = createDispatcher({ registry: backend.registry, queue, ...options });
    return { backend, dispatcher, leases };
  };
  afterEach(() => dispatcher?.close());

  it('refuses unknown operations by name', async () => {
    const { dispatcher } = make();
    await expect(dispatcher.dispatch('task.explode', {}, ctx)).rejects.toThrow(
      /unknown operation "task.explode"/,
    );
    await expect(dispatcher.dispatch('task.explode', {}, ctx)).rejects.toBeInstanceOf(NotFoundError);
  });

  it.each([
    ['task.submit', { capability: 'echo', priority: 5000 }, /priority/],
    ['task.submit', { capability: 'echo', timeoutMs: 'soon' }, /timeoutMs/],
    ['task.submit', {}, /capability/],
    ['task.submit', { capability: 'echo', traceparent: 'nope' }, /traceparent/],
    ['task.submit_batch', { tasks: [] }, /at least one task/],
    [
      'task.submit_batch',
      { tasks: [{ capability: 'echo' }, { capability: 'echo', maxAttempts: 0 }] },
      /tasks\.1\.maxAttempts/,
    ],
    ['agent.register', { name: 'x', skills: [] }, /skills/],
    ['agent.register', { name: 'x', skills: [{ id: 'a b', name: 'A' }] }, /skills\.0\.id/],
    ['task.next', { agentId: 'a', waitMs: -1 }, /waitMs/],
    ['task.result', { taskId: 't', agentId: 'a', leaseToken: 'x', status: 'maybe' }, /status/],
    ['task.result', { taskId: 't', agentId: 'a', leaseToken: 'x', status: 'failed' }, /error/],
    ['task.get', { taskId: 't', waitMs: 10_000_000 }, /waitMs/],
    ['agents.status', { verbose: true }, /unknown field\(s\): verbose/],
  ])('%s rejects %j naming the field', async (op, request, pattern) => {
    const { dispatcher } = make();
    const call = dispatcher.dispatch(op, request, ctx);
    await expect(call).rejects.toBeInstanceOf(ValidationError);
    await expect(call).rejects.toThrow(pattern);
  });

  it('applies size limits to payloads, metadata and results', async () => {
    const { dispatcher } = make({
      limits: { maxPayloadBytes: 100, maxResultBytes: 50, maxMetadataBytes: 30 },
    });
    await expect(
      dispatcher.call('task.submit', { capability: 'echo', payload: 'x'.repeat(200) }, ctx),
    ).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(
      dispatcher.call('task.submit', { capability: 'echo', metadata: { note: 'y'.repeat(40) } }, ctx),
    ).rejects.toThrow(/metadata is \d+ bytes; the limit is 30/);
    await expect(
      dispatcher.call(
        'task.submit_batch',
        { tasks: [{ capability: 'echo' }, { capability: 'echo', payload: 'x'.repeat(200) }] },
        ctx,
      ),
    ).rejects.toThrow(/tasks\.1\.payload/);
    await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, ctx);
    const { task } = await dispatcher.call('task.submit', { capability: 'echo', payload: 'ok' }, ctx);
    const [leased] = (await dispatcher.call('task.next', { agentId: 'a' }, ctx)).tasks;
    const big = dispatcher.call(
      'task.result',
      {
        taskId: task.id,
        agentId: 'a',
        leaseToken: leased!.leaseToken,
        status: 'succeeded',
        result: 'z'.repeat(60),
      },
      ctx,
    );
    await expect(big).rejects.toBeInstanceOf(PayloadTooLargeError);
    // Refused, not half-applied: the lease still stands and a proper result is accepted.
    const ok = await dispatcher.call(
      'task.result',
      { taskId: task.id, agentId: 'a', leaseToken: leased!.leaseToken, status: 'succeeded', result: 'fine' },
      ctx,
    );
    expect(ok.task.state).toBe('succeeded');
  });

  it('leases only capabilities the agent declared, and knows unknown agents', async () => {
    const { dispatcher } = make();
    await expect(dispatcher.call('task.next', { agentId: 'ghost' }, ctx)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, ctx);
    await expect(
      dispatcher.call('task.next', { agentId: 'a', capabilities: ['translate'] }, ctx),
    ).rejects.toThrow(/did not declare translate/);
    await expect(dispatcher.call('agent.unregister', { agentId: 'ghost' }, ctx)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('chooses an agent id when none is given and reports heartbeat timing', async () => {
    const { dispatcher } = make({ heartbeat: { intervalMs: 1000, timeoutMs: 4000 } });
    const reply = await dispatcher.call('agent.register', { name: 'anon', skills }, ctx);
    expect(reply.agentId).toMatch(/^agent_/);
    expect(reply).toMatchObject({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 4000 });
    const status = await dispatcher.call('agents.status', {}, ctx);
    expect(status.agents.map((a) => a.id)).toEqual([reply.agentId]);
    expect(status.agents[0]).toMatchObject({ protocol: 'test', status: 'alive' });
  });

  it('shows an agent as suspect once its heartbeat is older than suspectAfterMs', async () => {
    const { dispatcher } = make({ heartbeat: { intervalMs: 20, timeoutMs: 1000, suspectAfterMs: 50 } });
    await dispatcher.call('agent.register', { agentId: 'quiet', name: 'q', skills }, ctx);
    await new Promise((r) => setTimeout(r, 80));
    expect((await dispatcher.call('agents.status', {}, ctx)).agents[0]!.status).toBe('suspect');
    await dispatcher.call('agent.heartbeat', { agentId: 'quiet' }, ctx);
    expect((await dispatcher.call('agents.status', {}, ctx)).agents[0]!.status).toBe('alive');
  });

  it('fails a task a dispatch plugin refuses instead of leaving it leased', async () => {
    const plugins = new PluginHost([
      {
        name: 'no-secrets',
        hooks: {
          dispatch: (t) => {
            if ((t.payload as { secret?: boolean }).secret) throw new Error('secret payloads stay home');
            return undefined;
          },
        },
      },
    ]);
    const { dispatcher } = make({ plugins });
    await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, ctx);
    const { task } = await dispatcher.call(
      'task.submit',
      { capability: 'echo', payload: { secret: true } },
      ctx,
    );
    expect((await dispatcher.call('task.next', { agentId: 'a' }, ctx)).tasks).toEqual([]);
    const view = (await dispatcher.call('task.get', { taskId: task.id }, ctx)).task;
    expect(view).toMatchObject({
      state: 'failed',
      error: { message: expect.stringContaining('secret payloads stay home') },
    });
  });

  it('hides unexpected errors from callers behind a reference, and reports them whole', async () => {
    const reported: Array<{ error: unknown; operation: string; ref: string }> = [];
    const plugins = new PluginHost([
      {
        name: 'flaky-store',
        around: async (call, next) => {
          if (call.operation === 'agents.status')
            throw new Error('connect ECONNREFUSED 10.0.0.7:5432 (user=admin)');
          if (call.operation === 'task.cancel') throw new ForbiddenError('cancelling is switched off here');
          return next();
        },
      },
    ]);
    const { dispatcher } = make({
      plugins,
      onInternalError: (error, info) => reported.push({ error, ...info }),
    });
    const error = (await dispatcher.call('agents.status', {}, ctx).catch((e) => e)) as InternalError;
    expect(error).toBeInstanceOf(InternalError);
    expect(error.message).toMatch(/^internal error \(ref err_[\w-]+\)$/);
    expect(JSON.stringify(error.toJSON())).not.toMatch(/ECONNREFUSED|admin|10\.0\.0\.7/);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ operation: 'agents.status', ref: error.details?.ref });
    expect((reported[0]!.error as Error).message).toContain('ECONNREFUSED');
    // An mcpmas error is meant for the caller: it arrives as it is, and is not reported.
    await expect(dispatcher.call('task.cancel', { taskId: 'task_x' }, ctx)).rejects.toThrow(
      'cancelling is switched off here',
    );
    expect(reported).toHaveLength(1);
  });

  describe.each([
    ['the queue’s own long-poll (leaseWait)', false],
    ['the dispatcher’s fallback for a queue without leaseWait', true],
  ])('long-polls through %s', (_label, fallback) => {
    it('ends waits on close and refuses later calls', async () => {
      const { dispatcher } = make({}, fallback);
      await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, ctx);
      const t0 = Date.now();
      const waiting = dispatcher.call('task.next', { agentId: 'a', waitMs: 30_000 }, ctx);
      await new Promise((r) => setTimeout(r, 50));
      dispatcher.close();
      expect((await waiting).tasks).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(2000);
      await expect(dispatcher.call('agents.status', {}, ctx)).rejects.toBeInstanceOf(UnavailableError);
    });

    it('ends a long-poll early when the caller aborts', async () => {
      const { dispatcher } = make({}, fallback);
      await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, ctx);
      const controller = new AbortController();
      const t0 = Date.now();
      const waiting = dispatcher.call(
        'task.next',
        { agentId: 'a', waitMs: 30_000 },
        { ...ctx, signal: controller.signal },
      );
      setTimeout(() => controller.abort(), 50);
      expect((await waiting).tasks).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(2000);
    });

    it('keeps a long-poll waiting when the task that woke it went to another agent', async () => {
      // No fallback re-check within the test: a wake-up lost after the empty look would hang it.
      const { dispatcher } = make({ pollFallbackMs: 60_000 }, fallback);
      await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, ctx);
      await dispatcher.call('agent.register', { agentId: 'b', name: 'b', skills }, ctx);
      const settled = new Set<string>();
      const poll = (agentId: string) =>
        dispatcher.call('task.next', { agentId, waitMs: 30_000 }, ctx).then((reply) => {
          settled.add(agentId);
          return reply;
        });
      const a = poll('a');
      const b = poll('b');
      await new Promise((r) => setTimeout(r, 20));
      const first = await dispatcher.call('task.submit', { capability: 'echo', payload: 1 }, ctx);
      await new Promise((r) => setTimeout(r, 50));
      // One took the task; the other (woken for nothing by the fallback, not woken by the queue's
      // own long-poll) must still be waiting.
      expect(settled.size).toBe(1);
      const second = await dispatcher.call('task.submit', { capability: 'echo', payload: 2 }, ctx);
      const t0 = Date.now();
      const replies = await Promise.all([a, b]);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(replies.flatMap((r) => r.tasks.map((t) => t.taskId)).sort()).toEqual(
        [first.task.id, second.task.id].sort(),
      );
    });

    /** Registers `ids` and starts a long-poll for each, oldest first; resolves once all wait. */
    const pollAll = async (
      dispatcher: HubDispatcher,
      ids: string[],
      max = 1,
      signals: AbortSignal[] = [],
    ) => {
      for (const agentId of ids) {
        await dispatcher.call('agent.register', { agentId, name: agentId, skills }, ctx);
      }
      const polls = ids.map((agentId, i) =>
        dispatcher.call('task.next', { agentId, waitMs: 30_000, max }, { ...ctx, signal: signals[i] }),
      );
      await new Promise((r) => setTimeout(r, 20));
      return polls;
    };
    const settledWithin = <T>(promises: Promise<T>[], ms: number) =>
      Promise.race([
        Promise.all(promises),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not settled in ${ms} ms`)), ms)),
      ]);

    it('wakes one waiting long-poll per runnable task, not all of them', async () => {
      const { dispatcher, leases } = make({ pollFallbackMs: 60_000 }, fallback);
      const ids = Array.from({ length: 8 }, (_, i) => `a${i}`);
      const settled: string[] = [];
      const polls = (await pollAll(dispatcher, ids)).map((poll, i) =>
        poll.then((reply) => {
          settled.push(ids[i]!);
          return reply;
        }),
      );
      const before = leases();
      const { task } = await dispatcher.call('task.submit', { capability: 'echo' }, ctx);
      await new Promise((r) => setTimeout(r, 50));
      // The fallback wakes the oldest, which takes the task and, having leased its most, wakes
      // the next, which finds nothing and waits again: two looks, where waking all made 15.
      // The queue's own long-poll leases by itself.
      expect(leases() - before).toBe(fallback ? 2 : 0);
      expect(settled).toEqual(['a0']);
      expect((await polls[0]!).tasks.map((t) => t.taskId)).toEqual([task.id]);
      // The other seven still wait, and each of seven more tasks reaches one of them.
      await dispatcher.call(
        'task.submit_batch',
        { tasks: ids.slice(1).map(() => ({ capability: 'echo' })) },
        ctx,
      );
      const replies = await settledWithin(polls.slice(1), 1000);
      expect(replies.map((r) => r.tasks.length)).toEqual(Array(7).fill(1));
      expect(leases() - before).toBe(fallback ? 2 + 7 : 0);
    });

    it('passes what a long-poll leasing up to max leaves to the next one', async () => {
      const { dispatcher } = make({ pollFallbackMs: 60_000 }, fallback);
      const [a, b] = await pollAll(dispatcher, ['a', 'b'], 2);
      await dispatcher.call(
        'task.submit_batch',
        { tasks: [1, 2, 3].map((payload) => ({ capability: 'echo', payload })) },
        ctx,
      );
      const [first, second] = await settledWithin([a!, b!], 1000);
      expect(first!.tasks.map((t) => t.payload)).toEqual([1, 2]);
      expect(second!.tasks.map((t) => t.payload)).toEqual([3]);
    });

    it('reaches every waiting long-poll when one signal stands for a whole batch', async () => {
      const { dispatcher } = make({ pollFallbackMs: 60_000 }, fallback, true);
      const polls = await pollAll(dispatcher, ['a', 'b', 'c', 'd', 'e', 'f']);
      const tasks = [1, 2, 3, 4, 5].map((payload) => ({ capability: 'echo', payload }));
      await dispatcher.call('task.submit_batch', { tasks }, ctx);
      const replies = await settledWithin(polls.slice(0, 5), 1000);
      expect(replies.flatMap((r) => r.tasks.map((t) => t.payload)).sort()).toEqual([1, 2, 3, 4, 5]);
      dispatcher.close();
      expect((await polls[5]!).tasks).toEqual([]);
    });

    it('gives the task to the next long-poll when the woken one leaves at that moment', async () => {
      const { dispatcher } = make({ pollFallbackMs: 60_000 }, fallback);
      const leaving = new AbortController();
      const [a, b] = await pollAll(dispatcher, ['a', 'b'], 1, [leaving.signal]);
      // Listeners run after the wake-up: `a` (the oldest) has been woken when its caller goes.
      const stop = dispatcher.subscribe((signal) => {
        if (signal.type === 'available') leaving.abort();
      });
      const { task } = await dispatcher.call('task.submit', { capability: 'echo' }, ctx);
      stop();
      const [left, next] = await settledWithin([a!, b!], 1000);
      expect(left!.tasks).toEqual([]);
      expect(next!.tasks.map((t) => t.taskId)).toEqual([task.id]);
    });
  });

  it('answers a waiting task.get with the final state once the task ends', async () => {
    const { dispatcher } = make({ pollFallbackMs: 60_000 });
    await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, ctx);
    const { task } = await dispatcher.call('task.submit', { capability: 'echo' }, ctx);
    const t0 = Date.now();
    const waiting = dispatcher.call('task.get', { taskId: task.id, waitMs: 30_000 }, ctx);
    const [leased] = (await dispatcher.call('task.next', { agentId: 'a' }, ctx)).tasks;
    await dispatcher.call(
      'task.result',
      { taskId: task.id, agentId: 'a', leaseToken: leased!.leaseToken, status: 'succeeded', result: 7 },
      ctx,
    );
    const { task: done } = await waiting;
    expect(done).toMatchObject({ state: 'succeeded', result: 7 });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('takes the traceparent from the call context when the request has none', async () => {
    const { dispatcher } = make();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const { task } = await dispatcher.call('task.submit', { capability: 'echo' }, { ...ctx, traceparent });
    expect(task.traceparent).toBe(traceparent);
  });
});

describe('dispatcher trace context', () => {
  it('drops an invalid inbound traceparent instead of copying it into tasks', async () => {
    const backend = createMemoryBackend();
    const d = createDispatcher({ registry: backend.registry, queue: backend.queue });
    const { task } = await d.call(
      'task.submit',
      { capability: 'echo' },
      { protocol: 'test', traceparent: 'not-a-trace' },
    );
    expect(task.traceparent).toBeUndefined();
    d.close();
  });
});
