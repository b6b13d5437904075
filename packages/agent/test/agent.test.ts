import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type AgentCommInterface,
  type CallContext,
  createMemoryBackend,
  InProcessTransport,
  type OperationName,
  UnavailableError,
} from '@mcpmas/core';
import { Hub, type HubOptions } from '@mcpmas/hub';
import { delay, eventually } from '@mcpmas/testkit';
import { ModelAgent, type ModelAgentOptions, TaskFailure } from '../src/index.js';

const ctx: CallContext = { protocol: 'test' };
const skills = [{ id: 'echo', name: 'Echo' }];

/** Wraps a transport; while `down` every call fails as a lost connection would. */
class FlakyTransport implements AgentCommInterface {
  down = false;
  readonly protocol = 'flaky';
  readonly features = { push: false };
  calls: string[] = [];
  constructor(private readonly inner: AgentCommInterface) {}
  start() {
    return this.inner.start();
  }
  stop() {
    return this.inner.stop();
  }
  async sendMessage(target: OperationName, content: unknown, options?: { signal?: AbortSignal }) {
    this.calls.push(target);
    if (this.down) {
      await delay(5);
      throw new UnavailableError('connection refused');
    }
    const reply = await this.inner.sendMessage(target, content, options);
    if (this.loseReplyOf.delete(target)) throw new UnavailableError('connection lost before the reply');
    return reply;
  }
  /** Operations whose next call reaches the hub but whose reply is lost, as on a broken connection. */
  readonly loseReplyOf = new Set<OperationName>();
  receiveMessage(): void {
    throw new Error('no push');
  }
}

describe('ModelAgent', () => {
  const hubs: Hub[] = [];
  const agents: ModelAgent[] = [];
  const startHub = async (options: HubOptions = {}) => {
    const hub = new Hub({
      heartbeat: { intervalMs: 50, timeoutMs: 400 },
      sweepIntervalMs: 25,
      elector: { ttlMs: 500, renewIntervalMs: 50 },
      backend: createMemoryBackend({
        queue: {
          crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 },
          errorBackoff: { baseMs: 0, maxMs: 0, jitter: 0 },
        },
      }),
      ...options,
    });
    hubs.push(hub);
    await hub.start();
    return hub;
  };
  const startAgent = async (
    hub: Hub,
    options: Partial<ModelAgentOptions> & Pick<ModelAgentOptions, 'handler'>,
    transport?: AgentCommInterface,
  ) => {
    const agent = new ModelAgent({
      transport: transport ?? new InProcessTransport(hub.dispatcher),
      name: 'test-agent',
      skills,
      pollWaitMs: 200,
      drainTimeoutMs: 2000,
      reconnect: { baseMs: 10, maxMs: 50, jitter: 0 },
      ...options,
    });
    agents.push(agent);
    await agent.start();
    return agent;
  };
  const submitAndWait = async (hub: Hub, payload: unknown, extra: Record<string, unknown> = {}) => {
    const { task } = await hub.dispatcher.call('task.submit', { capability: 'echo', payload, ...extra }, ctx);
    return (await hub.dispatcher.call('task.get', { taskId: task.id, waitMs: 10_000 }, ctx)).task;
  };

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    for (const h of hubs.splice(0)) await h.stop();
  });

  it('runs tasks across agents with bounded concurrency', async () => {
    const hub = await startHub();
    let running = 0;
    let peak = 0;
    const handler = async (task: { payload: unknown }, c: { agentId: string }) => {
      running += 1;
      peak = Math.max(peak, running);
      await delay(30);
      running -= 1;
      return { echo: task.payload, by: c.agentId };
    };
    const a = await startAgent(hub, { handler, concurrency: 2, agentId: 'agent-a' });
    const b = await startAgent(hub, { handler, concurrency: 2, agentId: 'agent-b' });
    const ids = [];
    for (let i = 0; i < 12; i++)
      ids.push((await hub.dispatcher.call('task.submit', { capability: 'echo', payload: i }, ctx)).task.id);
    const results = await Promise.all(
      ids.map((taskId) => hub.dispatcher.call('task.get', { taskId, waitMs: 10_000 }, ctx)),
    );
    expect(results.map((r) => r.task.state)).toEqual(Array(12).fill('succeeded'));
    expect(results.map((r) => (r.task.result as { echo: number }).echo)).toEqual([...Array(12).keys()]);
    expect(new Set(results.map((r) => (r.task.result as { by: string }).by))).toEqual(
      new Set(['agent-a', 'agent-b']),
    );
    expect(peak).toBeLessThanOrEqual(4);
    // The waiter can wake before the agent has seen the reply to its result call.
    await eventually(() => a.getStats().succeeded + b.getStats().succeeded === 12);
  });

  it('keeps heart-beating while a handler is busy for longer than the eviction timeout', async () => {
    const hub = await startHub();
    await startAgent(hub, {
      handler: async () => {
        await delay(1200);
        return 'slow but alive';
      },
    });
    const task = await submitAndWait(hub, 'x', { timeoutMs: 5000 });
    expect(task).toMatchObject({ state: 'succeeded', result: 'slow but alive', attempts: 0 });
  });

  it('reports progress, failures and retryable failures', async () => {
    const hub = await startHub();
    await startAgent(hub, {
      handler: async (task, c) => {
        const p = task.payload as { mode: string };
        if (p.mode === 'progress') {
          await c.progress({ percent: 50, message: 'half way' });
          const seen = (await hub.dispatcher.call('task.get', { taskId: task.taskId }, ctx)).task.progress;
          return { seen };
        }
        if (p.mode === 'boom') throw new Error('handler blew up');
        if (p.mode === 'flaky' && c.attempt === 1)
          throw new TaskFailure('try again', { retryable: true, code: 'E_FLAKY' });
        return { attempt: c.attempt };
      },
    });
    expect((await submitAndWait(hub, { mode: 'progress' })).result).toEqual({
      seen: { percent: 50, message: 'half way' },
    });
    expect(await submitAndWait(hub, { mode: 'boom' })).toMatchObject({
      state: 'failed',
      error: { message: 'handler blew up', code: 'HANDLER_ERROR' },
    });
    expect(await submitAndWait(hub, { mode: 'flaky' }, { maxRetries: 1 })).toMatchObject({
      state: 'succeeded',
      result: { attempt: 2 },
      errorRetries: 1,
    });
  });

  it('aborts a cancelled task at its next progress report and drops its result', async () => {
    const hub = await startHub();
    let aborted = false;
    const agent = await startAgent(hub, {
      handler: async (_task, c) => {
        for (let i = 0; i < 50; i++) {
          await delay(20);
          try {
            await c.progress({ percent: i });
          } catch {
            aborted = c.signal.aborted;
            return 'ignored';
          }
        }
        return 'finished';
      },
    });
    const { task } = await hub.dispatcher.call('task.submit', { capability: 'echo' }, ctx);
    await eventually(
      async () => (await hub.dispatcher.call('task.get', { taskId: task.id }, ctx)).task.state === 'leased',
    );
    await hub.dispatcher.call('task.cancel', { taskId: task.id }, ctx);
    await eventually(() => aborted, 3000);
    await eventually(() => agent.getStats().rejected === 1, 3000);
    expect((await hub.dispatcher.call('task.get', { taskId: task.id }, ctx)).task.state).toBe('cancelled');
  });

  it('counts a result whose reply was lost as delivered when its retry finds it landed', async () => {
    const hub = await startHub();
    const flaky = new FlakyTransport(new InProcessTransport(hub.dispatcher));
    const agent = await startAgent(hub, { handler: () => 'done', reportRetryMs: 5000 }, flaky);
    const results: string[] = [];
    const rejected: string[] = [];
    agent.on('result', (taskId: string) => results.push(taskId));
    agent.on('rejected', (taskId: string) => rejected.push(taskId));
    flaky.loseReplyOf.add('task.result');
    const task = await submitAndWait(hub, 1);
    expect(task).toMatchObject({ state: 'succeeded', result: 'done' });
    await eventually(() => results.length === 1, 3000);
    expect(flaky.calls.filter((c) => c === 'task.result')).toHaveLength(2);
    expect(results).toEqual([task.id]);
    expect(rejected).toEqual([]);
    expect(agent.getStats()).toMatchObject({ succeeded: 1, rejected: 0 });
  });

  it('registers again after the hub forgot it', async () => {
    const hub = await startHub();
    const agent = await startAgent(hub, { handler: () => 'ok', agentId: 'comeback' });
    await hub.backend.registry.unregister('comeback');
    await eventually(async () => (await hub.backend.registry.get('comeback')) !== null, 3000);
    expect(agent.agentId).toBe('comeback');
    expect((await submitAndWait(hub, 1)).state).toBe('succeeded');
  });

  it('rides out a lost connection, re-registers and loses no task', async () => {
    const hub = await startHub();
    const flaky = new FlakyTransport(new InProcessTransport(hub.dispatcher));
    const agent = await startAgent(hub, { handler: (t) => t.payload, agentId: 'rider' }, flaky);
    const disconnected = new Promise((r) => agent.once('disconnected', r));
    const reconnected = new Promise((r) => agent.once('reconnected', r));
    flaky.down = true;
    await disconnected;
    // Long enough to be evicted by the hub while unreachable.
    await delay(600);
    expect(await hub.backend.registry.get('rider')).toBeNull();
    const { task } = await hub.dispatcher.call(
      'task.submit',
      { capability: 'echo', payload: 'after the outage' },
      ctx,
    );
    flaky.down = false;
    await reconnected;
    const done = await hub.dispatcher.call('task.get', { taskId: task.id, waitMs: 10_000 }, ctx);
    expect(done.task).toMatchObject({ state: 'succeeded', result: 'after the outage' });
    expect(flaky.calls.filter((c) => c === 'agent.register').length).toBeGreaterThanOrEqual(2);
  });

  it('drains running tasks on stop, then unregisters', async () => {
    const hub = await startHub();
    const agent = await startAgent(hub, {
      handler: async () => {
        await delay(300);
        return 'drained';
      },
      agentId: 'drainer',
    });
    const { task } = await hub.dispatcher.call('task.submit', { capability: 'echo' }, ctx);
    await eventually(
      async () => (await hub.dispatcher.call('task.get', { taskId: task.id }, ctx)).task.state === 'leased',
    );
    await agent.stop();
    expect((await hub.dispatcher.call('task.get', { taskId: task.id }, ctx)).task).toMatchObject({
      state: 'succeeded',
      result: 'drained',
    });
    expect(await hub.backend.registry.get('drainer')).toBeNull();
  });

  it('gives up waiting after the drain timeout and lets the hub requeue the task', async () => {
    const hub = await startHub();
    const agent = await startAgent(hub, {
      handler: (_t, c) =>
        new Promise((_, reject) => c.signal.addEventListener('abort', () => reject(new Error('aborted')))),
      drainTimeoutMs: 100,
      agentId: 'stuck',
    });
    const { task } = await hub.dispatcher.call('task.submit', { capability: 'echo' }, ctx);
    await eventually(
      async () => (await hub.dispatcher.call('task.get', { taskId: task.id }, ctx)).task.state === 'leased',
    );
    await agent.stop();
    const view = (await hub.dispatcher.call('task.get', { taskId: task.id }, ctx)).task;
    // Either the abort's failure report or the unregister's requeue happened — never a lost lease.
    expect(['failed', 'queued']).toContain(view.state);
    expect(await hub.backend.registry.get('stuck')).toBeNull();
  });
});
