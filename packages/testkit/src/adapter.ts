/**
 * `adapterSuite`: every protocol adapter (server binding + client transport) must carry every
 * operation with the same semantics, errors and auth. The suite owns the hub side: a memory
 * backend and a dispatcher with the {@link TEST_API_KEYS}; the factory binds its server to
 * that dispatcher and hands back client transports.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type AgentCommInterface,
  ApiKeyAuthenticator,
  type Backend,
  ConflictError,
  createDispatcher,
  createMemoryBackend,
  type Dispatcher,
  ForbiddenError,
  HubClient,
  type HubDispatcher,
  type InboundMessage,
  MAX_JSON_DEPTH,
  McpmasError,
  NotFoundError,
  OPERATION_NAMES,
  type OperationName,
  operations,
  PayloadTooLargeError,
  type Scope,
  type TransportFeatures,
  UnauthenticatedError,
  ValidationError,
} from '@mcpmas/core';
import { delay, eventually } from './services.js';

/** API keys the suite's hub accepts, one per role. */
export const TEST_API_KEYS = {
  admin: 'test-admin-key-0001',
  submitter: 'test-submit-key-0002',
  reader: 'test-reader-key-0003',
  agent: 'test-agent-key-00004',
  canceller: 'test-cancel-key-0005',
} as const;

/** The largest payload the suite's hub accepts, so oversize checks stay cheap. */
export const TEST_MAX_PAYLOAD_BYTES = 64 * 1024;

/** What an adapter factory returns. */
export interface AdapterHarness {
  /** A new, not yet started client transport to the factory's server. */
  connect(options?: { apiKey?: string }): AgentCommInterface;
  /** Stops the server and releases every socket. */
  close(): Promise<void>;
}

/** Binds a server of the protocol under test to `dispatcher`. */
export type AdapterFactory = (dispatcher: Dispatcher) => Promise<AdapterHarness>;

/**
 * Runs the adapter conformance suite. `declared` states up front what the transport can do
 * (jest decides what to skip before any server starts); the suite then checks the transport
 * reports exactly that.
 */
export function adapterSuite(
  name: string,
  factory: AdapterFactory,
  declared: Partial<TransportFeatures> = {},
): void {
  const declaredFeatures: TransportFeatures = { push: false, ...declared };
  describe(`adapterSuite: ${name}`, () => {
    let backend: Backend;
    let dispatcher: HubDispatcher;
    let harness: AdapterHarness;
    const transports: AgentCommInterface[] = [];

    const client = async (apiKey: string = TEST_API_KEYS.admin) => {
      const transport = harness.connect({ apiKey });
      transports.push(transport);
      await transport.start();
      return new HubClient(transport);
    };
    const skills = (...ids: string[]) => ids.map((id) => ({ id, name: id }));
    let seq = 0;
    /** A capability no other test uses, so tests cannot take each other's tasks. */
    const cap = () => `cap-${name.replace(/[^a-z0-9]/gi, '')}-${++seq}`;

    beforeAll(async () => {
      backend = createMemoryBackend({ queue: { crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 } } });
      dispatcher = createDispatcher({
        registry: backend.registry,
        queue: backend.queue,
        auth: new ApiKeyAuthenticator([
          { id: 'admin', key: TEST_API_KEYS.admin, scopes: ['admin'] },
          { id: 'submitter', key: TEST_API_KEYS.submitter, scopes: ['task:submit', 'task:read'] },
          { id: 'reader', key: TEST_API_KEYS.reader, scopes: ['task:read'] },
          { id: 'agent', key: TEST_API_KEYS.agent, scopes: ['agent:connect'] },
          { id: 'canceller', key: TEST_API_KEYS.canceller, scopes: ['task:cancel'] },
        ]),
        limits: { maxPayloadBytes: TEST_MAX_PAYLOAD_BYTES },
      });
      harness = await factory(dispatcher);
    });

    afterAll(async () => {
      for (const t of transports) await t.stop().catch(() => undefined);
      dispatcher?.close();
      await harness?.close();
      await backend?.close();
    });

    it('runs a task end to end: register, submit, next, progress, result, get', async () => {
      const c = await client();
      const capability = cap();
      const reg = await c.register({
        name: 'suite agent',
        skills: skills(capability),
        metadata: { suite: true },
      });
      expect(reg.agentId).toEqual(expect.any(String));
      expect(reg.heartbeatIntervalMs).toBeGreaterThan(0);
      await c.heartbeat({ agentId: reg.agentId, load: { running: 0, capacity: 1 } });
      const { task } = await c.submit({ capability, payload: { text: 'hi', n: [1, 2] }, priority: 'high' });
      expect(task).toMatchObject({ state: 'queued', priority: 10, payload: { text: 'hi', n: [1, 2] } });
      const { tasks } = await c.next({ agentId: reg.agentId });
      expect(tasks).toHaveLength(1);
      const leased = tasks[0]!;
      expect(leased).toMatchObject({ taskId: task.id, payload: { text: 'hi', n: [1, 2] }, attempt: 1 });
      const progress = await c.progress({
        taskId: task.id,
        agentId: reg.agentId,
        leaseToken: leased.leaseToken,
        progress: { percent: 40 },
      });
      expect(progress.leaseDeadline).toBeGreaterThanOrEqual(leased.leaseDeadline);
      const running = await c.get({ taskId: task.id });
      expect(running.task).toMatchObject({
        state: 'leased',
        progress: { percent: 40 },
        agentId: reg.agentId,
      });
      const done = await c.result({
        taskId: task.id,
        agentId: reg.agentId,
        leaseToken: leased.leaseToken,
        status: 'succeeded',
        result: { echoed: 'hi' },
      });
      expect(done.task).toMatchObject({ state: 'succeeded', result: { echoed: 'hi' } });
      expect((await c.get({ taskId: task.id })).task.result).toEqual({ echoed: 'hi' });
      const status = await c.agentsStatus({});
      const me = status.agents.find((a) => a.id === reg.agentId);
      expect(me).toMatchObject({
        name: 'suite agent',
        status: 'alive',
        load: { running: 0, capacity: 1 },
        leasedTasks: 0,
      });
      const left = await c.unregister({ agentId: reg.agentId });
      expect(left).toMatchObject({ agentId: reg.agentId, requeued: [] });
    });

    it('hands out tasks by priority, then in submission order', async () => {
      const c = await client();
      const capability = cap();
      const { agentId } = await c.register({ name: 'p', skills: skills(capability) });
      for (const [p, label] of [
        [0, 'n1'],
        [100, 'u'],
        [0, 'n2'],
        [-10, 'l'],
      ] as const) {
        await c.submit({ capability, payload: label, priority: p });
      }
      const { tasks } = await c.next({ agentId, max: 10 });
      expect(tasks.map((t) => t.payload)).toEqual(['u', 'n1', 'n2', 'l']);
    });

    it('submits a batch atomically and reports its status', async () => {
      const c = await client();
      const capability = cap();
      const batch = await c.submitBatch({
        tasks: [
          { capability, payload: 1 },
          { capability, payload: 2 },
        ],
        metadata: { origin: 'suite' },
      });
      expect(batch.tasks).toHaveLength(2);
      const view = await c.getBatch({ batchId: batch.batchId });
      expect(view).toMatchObject({ total: 2, done: false, counts: { queued: 2 } });
      const before = (await backend.queue.lease({ agentId: 'probe', capabilities: [capability], max: 100 }))
        .length;
      expect(before).toBe(2);
      // One bad task rejects the whole batch: nothing of it is stored.
      const other = cap();
      const bad = c.submitBatch({
        tasks: [
          { capability: other, payload: 1 },
          { capability: other, priority: 'extreme' as never },
        ],
      });
      await expect(bad).rejects.toBeInstanceOf(ValidationError);
      await expect(bad).rejects.toThrow(/tasks\.1\.priority/);
      expect(await backend.queue.lease({ agentId: 'probe', capabilities: [other], max: 100 })).toEqual([]);
    });

    it('long-polls task.next: returns promptly when a task arrives, empty when the wait ends', async () => {
      const c = await client();
      const capability = cap();
      const { agentId } = await c.register({ name: 'poller', skills: skills(capability) });
      const t0 = Date.now();
      expect((await c.next({ agentId, waitMs: 300 })).tasks).toEqual([]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
      const t1 = Date.now();
      const waiting = c.next({ agentId, waitMs: 20_000 });
      await delay(100);
      const submitter = await client(TEST_API_KEYS.submitter);
      const { task } = await submitter.submit({ capability, payload: 'wake up' });
      const got = await waiting;
      expect(got.tasks.map((t) => t.taskId)).toEqual([task.id]);
      expect(Date.now() - t1).toBeLessThan(5000);
    });

    it('waits in task.get until the task is terminal', async () => {
      const c = await client();
      const capability = cap();
      const { agentId } = await c.register({ name: 'w', skills: skills(capability) });
      const { task } = await c.submit({ capability, payload: 'x' });
      const t0 = Date.now();
      const waiting = c.get({ taskId: task.id, waitMs: 20_000 });
      await delay(100);
      const [leased] = (await c.next({ agentId })).tasks;
      await c.result({
        taskId: task.id,
        agentId,
        leaseToken: leased!.leaseToken,
        status: 'failed',
        error: { message: 'nope', code: 'E_X' },
      });
      const { task: final } = await waiting;
      expect(final).toMatchObject({ state: 'failed', error: { message: 'nope', code: 'E_X' } });
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('cancels queued and running work; the running agent’s result is refused', async () => {
      const c = await client();
      const capability = cap();
      const { agentId } = await c.register({ name: 'c', skills: skills(capability) });
      const queued = (await c.submit({ capability, payload: 'q', priority: -1 })).task;
      const running = (await c.submit({ capability, payload: 'r', priority: 1 })).task;
      const [leased] = (await c.next({ agentId })).tasks;
      expect(leased!.taskId).toBe(running.id);
      expect((await c.cancel({ taskId: queued.id, reason: 'changed my mind' })).task).toMatchObject({
        state: 'cancelled',
        cancelReason: 'changed my mind',
      });
      expect((await c.cancel({ taskId: running.id })).task.state).toBe('cancelled');
      const late = c.result({
        taskId: running.id,
        agentId,
        leaseToken: leased!.leaseToken,
        status: 'succeeded',
        result: 1,
      });
      await expect(late).rejects.toBeInstanceOf(ConflictError);
      expect((await c.next({ agentId })).tasks).toEqual([]);
    });

    it('carries errors across the wire as typed errors that name the problem', async () => {
      const c = await client();
      const capability = cap();
      const missing = c.get({ taskId: 'task_does_not_exist' });
      await expect(missing).rejects.toBeInstanceOf(NotFoundError);
      await expect(missing).rejects.toMatchObject({ code: 'NOT_FOUND', retryable: false });
      await expect(c.heartbeat({ agentId: 'agent-never-registered' })).rejects.toBeInstanceOf(NotFoundError);
      const wrongType = c.submit({ capability, payload: 1, priority: 1.5 as never });
      await expect(wrongType).rejects.toBeInstanceOf(ValidationError);
      await expect(wrongType).rejects.toThrow(/priority/);
      const unknownField = c.submit({ capability, colour: 'red' } as never);
      await expect(unknownField).rejects.toThrow(/colour/);
      await expect(c.submit({ capability: 'bad capability!' })).rejects.toThrow(/capability/);
      const huge = 'x'.repeat(TEST_MAX_PAYLOAD_BYTES + 10);
      await expect(c.submit({ capability, payload: huge })).rejects.toBeInstanceOf(PayloadTooLargeError);
      const { agentId } = await c.register({ name: 'e', skills: skills(capability) });
      const { task } = await c.submit({ capability });
      const [leased] = (await c.next({ agentId })).tasks;
      await c.result({ taskId: task.id, agentId, leaseToken: leased!.leaseToken, status: 'succeeded' });
      const duplicate = c.result({
        taskId: task.id,
        agentId,
        leaseToken: leased!.leaseToken,
        status: 'succeeded',
      });
      await expect(duplicate).rejects.toBeInstanceOf(ConflictError);
      await expect(duplicate).rejects.toThrow(/already succeeded/);
    });

    it('refuses free-form JSON nested too deeply, naming where, and keeps what came before', async () => {
      const c = await client();
      const capability = cap();
      /** `levels` objects, one inside the next, around `inner`. */
      const nested = (levels: number, inner: unknown = 'core') => {
        let value = inner;
        for (let i = 0; i < levels; i++) value = { in: value };
        return value;
      };
      const tooDeep = c.submit({ capability, payload: nested(MAX_JSON_DEPTH + 1) });
      await expect(tooDeep).rejects.toBeInstanceOf(ValidationError);
      await expect(tooDeep).rejects.toThrow(/payload(\.in)+: nested deeper than/);
      const { agentId } = await c.register({ name: 'deep', skills: skills(capability) });
      const { task } = await c.submit({ capability, payload: nested(MAX_JSON_DEPTH) });
      const [leased] = (await c.next({ agentId })).tasks;
      expect(leased!.payload).toEqual(nested(MAX_JSON_DEPTH));
      const ref = { taskId: task.id, agentId, leaseToken: leased!.leaseToken };
      const badDetails = c.result({
        ...ref,
        status: 'failed',
        error: { message: 'm', details: nested(MAX_JSON_DEPTH + 1) },
      });
      await expect(badDetails).rejects.toThrow(/error\.details(\.in)+: nested deeper than/);
      await expect(c.progress({ ...ref, progress: { data: nested(MAX_JSON_DEPTH + 1) } })).rejects.toThrow(
        /progress\.data(\.in)+: nested deeper than/,
      );
      // Nothing was half-applied: the lease still holds and a good report lands.
      await c.result({ ...ref, status: 'succeeded', result: nested(MAX_JSON_DEPTH - 1, [1]) });
      expect((await c.get({ taskId: task.id })).task).toMatchObject({
        state: 'succeeded',
        result: nested(MAX_JSON_DEPTH - 1, [1]),
      });
    });

    it('refuses, before sending, a request its transport cannot encode, naming where', async () => {
      const c = await client();
      const capability = cap();
      let deep: unknown = 'core';
      for (let i = 0; i < 20_000; i++) deep = [deep];
      const tooDeep = c.submit({ capability, payload: { list: deep } });
      await expect(tooDeep).rejects.toBeInstanceOf(ValidationError);
      await expect(tooDeep).rejects.toThrow(/^invalid request: payload\.list(\.0)+: nested deeper than/);
      const loop: Record<string, unknown> = { name: 'loop' };
      loop.self = loop;
      await expect(c.submit({ capability, metadata: { loop } })).rejects.toThrow(
        /^invalid request: metadata\.loop\.self: the value contains itself/,
      );
      // The client still works.
      expect((await c.submit({ capability, payload: 1 })).task.state).toBe('queued');
    });

    it('enforces API keys and scopes the same way on every operation', async () => {
      const capability = cap();
      const noKey = harness.connect({});
      transports.push(noKey);
      await noKey.start();
      await expect(new HubClient(noKey).submit({ capability })).rejects.toBeInstanceOf(UnauthenticatedError);
      await expect((await client('wrong-key-wrong-key')).agentsStatus()).rejects.toBeInstanceOf(
        UnauthenticatedError,
      );

      const submitter = await client(TEST_API_KEYS.submitter);
      const reader = await client(TEST_API_KEYS.reader);
      const agent = await client(TEST_API_KEYS.agent);
      const canceller = await client(TEST_API_KEYS.canceller);
      const { task } = await submitter.submit({ capability });
      await expect(reader.submit({ capability })).rejects.toBeInstanceOf(ForbiddenError);
      await expect(agent.submit({ capability })).rejects.toBeInstanceOf(ForbiddenError);
      await expect(submitter.register({ name: 'x', skills: skills(capability) })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      await expect(submitter.cancel({ taskId: task.id })).rejects.toThrow(/task:cancel/);
      await expect(agent.get({ taskId: task.id })).rejects.toBeInstanceOf(ForbiddenError);
      expect((await reader.get({ taskId: task.id })).task.id).toBe(task.id);
      const { agentId } = await agent.register({ name: 'scoped', skills: skills(capability) });
      expect((await agent.next({ agentId })).tasks.map((t) => t.taskId)).toEqual([task.id]);
      expect((await canceller.cancel({ taskId: task.id })).task.state).toBe('cancelled');
    });

    it('auth matrix: every operation refuses a missing key and enforces its scope for every role', async () => {
      const samples: Record<OperationName, unknown> = {
        'agent.register': { name: 'matrix', skills: skills('matrix-cap') },
        'agent.heartbeat': { agentId: 'matrix-ghost' },
        'agent.unregister': { agentId: 'matrix-ghost' },
        'task.submit': { capability: 'matrix-cap' },
        'task.submit_batch': { tasks: [{ capability: 'matrix-cap' }] },
        'batch.get': { batchId: 'matrix-batch' },
        'task.next': { agentId: 'matrix-ghost' },
        'task.progress': { taskId: 'matrix-task', agentId: 'matrix-ghost', leaseToken: 'x' },
        'task.result': {
          taskId: 'matrix-task',
          agentId: 'matrix-ghost',
          leaseToken: 'x',
          status: 'succeeded',
        },
        'task.get': { taskId: 'matrix-task' },
        'task.cancel': { taskId: 'matrix-task' },
        'agents.status': {},
      };
      const roles: Array<[keyof typeof TEST_API_KEYS, Scope[]]> = [
        ['admin', ['admin']],
        ['submitter', ['task:submit', 'task:read']],
        ['reader', ['task:read']],
        ['agent', ['agent:connect']],
        ['canceller', ['task:cancel']],
      ];
      const outcome = async (transport: AgentCommInterface, op: OperationName) => {
        try {
          await transport.sendMessage(op, samples[op]);
          return 'allowed';
        } catch (error) {
          if (error instanceof UnauthenticatedError) return 'unauthenticated';
          if (error instanceof ForbiddenError) return 'forbidden';
          return 'allowed'; // past auth: not found, conflict, validation… are about the request
        }
      };
      const anonymous = harness.connect({});
      transports.push(anonymous);
      await anonymous.start();
      const seen: string[] = [];
      const expected: string[] = [];
      for (const op of OPERATION_NAMES) {
        seen.push(`anonymous ${op} ${await outcome(anonymous, op)}`);
        expected.push(`anonymous ${op} unauthenticated`);
      }
      for (const [role, scopes] of roles) {
        const transport = harness.connect({ apiKey: TEST_API_KEYS[role] });
        transports.push(transport);
        await transport.start();
        for (const op of OPERATION_NAMES) {
          const required = operations[op].scope;
          seen.push(`${role} ${op} ${await outcome(transport, op)}`);
          expected.push(
            `${role} ${op} ${scopes.includes('admin') || scopes.includes(required) ? 'allowed' : 'forbidden'}`,
          );
        }
      }
      expect(seen).toEqual(expected);
    });

    it('carries the W3C traceparent from the submit to the agent', async () => {
      const c = await client();
      const capability = cap();
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const { agentId } = await c.register({ name: 't', skills: skills(capability) });
      await c.submit({ capability, traceparent });
      expect((await c.next({ agentId })).tasks[0]?.traceparent).toBe(traceparent);
    });

    it('requeues an unregistering agent’s tasks at once', async () => {
      const c = await client();
      const capability = cap();
      const first = await c.register({ name: 'leaver', skills: skills(capability) });
      const second = await c.register({ name: 'stayer', skills: skills(capability) });
      const { task } = await c.submit({ capability });
      await c.next({ agentId: first.agentId });
      expect((await c.unregister({ agentId: first.agentId })).requeued).toEqual([task.id]);
      const [again] = (await c.next({ agentId: second.agentId })).tasks;
      expect(again).toMatchObject({ taskId: task.id, attempt: 2 });
    });

    describe('push (transports that declare features.push)', () => {
      if (!declaredFeatures.push) {
        console.warn(`SKIPPED: adapterSuite ${name}: the transport declares no push; push tests are skipped`);
      }
      (declaredFeatures.push ? it : it.skip)(
        'pushes a task to a registered, idle agent without a poll',
        async () => {
          const transport = harness.connect({ apiKey: TEST_API_KEYS.admin });
          transports.push(transport);
          const received: InboundMessage[] = [];
          transport.receiveMessage((m) => {
            received.push(m);
          });
          await transport.start();
          const c = new HubClient(transport);
          const capability = cap();
          const { agentId } = await c.register({ name: 'pushed', skills: skills(capability) });
          expect(typeof transport.grantCredits).toBe('function');
          transport.grantCredits!(agentId, 1);
          const { task } = await c.submit({ capability, payload: 'pushed' });
          const msg = await eventually(() => received.find((m) => m.type === 'task'), 5000);
          expect(msg).toMatchObject({ type: 'task', task: { taskId: task.id, payload: 'pushed' } });
          // One credit, one task: a second submit stays queued until the agent grants more.
          const second = (await c.submit({ capability, payload: 'second' })).task;
          await delay(300);
          expect(received.filter((m) => m.type === 'task')).toHaveLength(1);
          expect((await c.get({ taskId: second.id })).task.state).toBe('queued');
          transport.grantCredits!(agentId, 1);
          await eventually(
            () => received.some((m) => m.type === 'task' && m.task.taskId === second.id),
            5000,
          );
        },
      );
    });

    it('declares its features honestly', () => {
      const transport = harness.connect();
      expect(transport.features).toEqual(declaredFeatures);
      expect(typeof transport.features.push).toBe('boolean');
      if (!transport.features.push) {
        expect(() => transport.receiveMessage(() => undefined)).toThrow(McpmasError);
      }
    });
  });
}
