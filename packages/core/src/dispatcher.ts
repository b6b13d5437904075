/**
 * The protocol-neutral dispatcher: one function from (operation, request, context) to reply.
 * Every protocol server decodes its native request, calls {@link HubDispatcher.dispatch} and
 * encodes what comes back — nothing else. Auth, validation, size limits and plugins all
 * happen here, so they behave the same on every protocol.
 */
import { ApiKeyAuthenticator } from './auth.js';
import { isAborted, onAbort } from './context.js';
import {
  ErrorCode,
  fromUnknown,
  InternalError,
  McpmasError,
  NotFoundError,
  PayloadTooLargeError,
  UnavailableError,
  ValidationError,
  validationFromIssues,
} from './errors.js';
import type {
  AgentRecord,
  CallContext,
  Dispatcher,
  LeaderElector,
  QueueSignal,
  Registry,
  TaskQueue,
} from './interfaces.js';
import { jsonProblem, PROTO_KEY } from './json.js';
import { PluginHost } from './plugins.js';
import {
  type AgentView,
  isOperationName,
  isTerminal,
  type LeasedTask,
  type OperationName,
  operations,
  type ParsedRequestOf,
  type ReplyOf,
  type RequestOf,
  type SubmitTask,
  TraceparentSchema,
} from './schemas.js';
import { newId } from './util.js';

/** Size limits enforced on every protocol. */
export interface DispatcherLimits {
  /** Largest task payload (JSON bytes). @default 1048576 */
  maxPayloadBytes: number;
  /** Largest task result, error or progress report (JSON bytes). @default 1048576 */
  maxResultBytes: number;
  /** Largest metadata object (JSON bytes). @default 16384 */
  maxMetadataBytes: number;
}

/** Heartbeat timing told to agents and used for liveness. */
export interface HeartbeatOptions {
  /** How often agents should heartbeat. @default 5000 */
  intervalMs: number;
  /** Silence after which an agent is evicted. @default 15000 */
  timeoutMs: number;
  /** Silence after which an agent is shown as `suspect`. @default 2 × intervalMs */
  suspectAfterMs: number;
}

/** Options of {@link createDispatcher}. */
export interface DispatcherOptions {
  registry: Registry;
  queue: TaskQueue;
  /** Adds the current leader to `agents.status`. */
  elector?: LeaderElector;
  plugins?: PluginHost;
  /** With configured keys every call must authenticate; without, all calls are allowed. */
  auth?: ApiKeyAuthenticator;
  limits?: Partial<DispatcherLimits>;
  heartbeat?: Partial<HeartbeatOptions>;
  /**
   * A waiting long-poll re-checks this often even without a wake-up, so a lost wake-up
   * (e.g. a pub/sub message dropped during a reconnect) costs at most this much. Not used
   * with a queue that has its own `leaseWait` (its own option governs that). @default 1000
   */
  pollFallbackMs?: number;
  /**
   * Called with every error that is not an mcpmas error (a bug, a library's exception, a
   * plugin's plain `Error`), with a reference id. The caller only gets `internal error (ref
   * <id>)`: such messages can hold internals (paths, hosts, SQL) no client should see, so
   * this hook is where they are logged. Plugins that mean to refuse a call with a message
   * throw an `McpmasError` (e.g. `ForbiddenError`), which reaches the caller as it is.
   */
  onInternalError?: (error: unknown, info: { operation: string; ref: string }) => void;
}

/** Default size limits. */
export const DEFAULT_LIMITS: DispatcherLimits = {
  maxPayloadBytes: 1024 * 1024,
  maxResultBytes: 1024 * 1024,
  maxMetadataBytes: 16 * 1024,
};

/** Default heartbeat timing. */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = {
  intervalMs: 5000,
  timeoutMs: 15_000,
  suspectAfterMs: 10_000,
};

interface Waiter {
  /**
   * Wakes the waiter for `key` (none on close). `false` when it was no longer waiting (woken
   * already, timed out or aborted), so a wake-up meant for one waiter can go to the next.
   */
  wake: (key?: string) => boolean;
}

/** The dispatcher with typed helpers on top of {@link Dispatcher.dispatch}. */
export interface HubDispatcher extends Dispatcher {
  /** Typed form of `dispatch`. */
  call<Op extends OperationName>(
    operation: Op,
    request: RequestOf<Op>,
    context: CallContext,
  ): Promise<ReplyOf<Op>>;
  readonly plugins: PluginHost;
  readonly heartbeat: HeartbeatOptions;
  readonly limits: DispatcherLimits;
}

/** Creates the dispatcher over a registry and a queue. */
export function createDispatcher(options: DispatcherOptions): HubDispatcher {
  const { registry, queue, elector } = options;
  const plugins = options.plugins ?? new PluginHost();
  const auth = options.auth ?? new ApiKeyAuthenticator();
  const limits: DispatcherLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const hbInterval = options.heartbeat?.intervalMs ?? DEFAULT_HEARTBEAT.intervalMs;
  const heartbeat: HeartbeatOptions = {
    intervalMs: hbInterval,
    timeoutMs: options.heartbeat?.timeoutMs ?? Math.max(DEFAULT_HEARTBEAT.timeoutMs, hbInterval * 3),
    suspectAfterMs: options.heartbeat?.suspectAfterMs ?? hbInterval * 2,
  };
  const pollFallbackMs = options.pollFallbackMs ?? 1000;
  let closed = false;

  // One queue subscription fans wake-ups out to the waiters that care: a task's end to all
  // of its waiters; a runnable task to one long-poll of its capability (see task.next).
  const byCapability = new Map<string, Set<Waiter>>();
  const byTask = new Map<string, Set<Waiter>>();
  const external = new Set<(signal: QueueSignal) => void>();
  const unsubscribe = queue.subscribe((signal) => {
    if (signal.type === 'available') wakeOne(signal.capability);
    else {
      const set = byTask.get(signal.taskId);
      if (set) for (const w of set) w.wake(signal.taskId);
    }
    for (const listener of external) listener(signal);
  });
  /** Wakes the oldest long-poll still waiting for `capability`, if any. */
  function wakeOne(capability: string): void {
    const set = byCapability.get(capability);
    if (set) for (const w of set) if (w.wake(capability)) return;
  }

  /**
   * Resolves on a wake-up for any key (with `true`), or with `false` after `ms`, on abort, or
   * on close. A caller woken for its key may look once more without listening again first:
   * if that look comes up empty (another caller took the task), it must listen, then look.
   */
  function waitFor(
    index: Map<string, Set<Waiter>>,
    keys: string[],
    ms: number,
    context: CallContext,
  ): Waiting {
    let resolve!: (signalled: boolean) => void;
    const done = new Promise<boolean>((r) => {
      resolve = r;
    });
    let pending = true;
    let wokenFor: string | undefined;
    const settle = (signalled: boolean, key?: string) => {
      if (!pending) return false;
      pending = false;
      wokenFor = key;
      resolve(signalled);
      return true;
    };
    const waiter: Waiter = { wake: (key) => settle(true, key) };
    for (const key of keys) {
      let set = index.get(key);
      if (!set) {
        set = new Set();
        index.set(key, set);
      }
      set.add(waiter);
    }
    allWaiters.add(waiter);
    const timeUp = () => void settle(false);
    const timer = setTimeout(timeUp, ms);
    const stopListening = onAbort(context, timeUp);
    const cleanup = () => {
      clearTimeout(timer);
      stopListening();
      allWaiters.delete(waiter);
      for (const key of keys) {
        const set = index.get(key);
        set?.delete(waiter);
        if (set?.size === 0) index.delete(key);
      }
    };
    return { done, cleanup, wokenFor: () => wokenFor };
  }
  const allWaiters = new Set<Waiter>();
  /** Aborts the queue-side long-polls ({@link TaskQueue.leaseWait}) in progress, on close. */
  const queueWaits = new Set<AbortController>();

  /** A long-poll through the queue's own `leaseWait`, ended by the call's abort or by close. */
  async function leaseWaiting(
    leaseWait: NonNullable<TaskQueue['leaseWait']>,
    agentId: string,
    capabilities: string[],
    max: number,
    waitMs: number,
    context: CallContext,
  ): Promise<LeasedTask[]> {
    const controller = new AbortController();
    queueWaits.add(controller);
    const stopListening = onAbort(context, () => controller.abort());
    try {
      return await leaseWait({ agentId, capabilities, max, waitMs, signal: controller.signal });
    } finally {
      stopListening();
      queueWaits.delete(controller);
    }
  }

  /**
   * Free-form JSON (`what`: its field, a dotted path): plain JSON nested at most
   * `MAX_JSON_DEPTH` levels, refused naming where it is not (a walk that stops at the
   * limit, so a hostile value cannot exhaust the stack), then at most `max` bytes.
   */
  function checkJson(what: string, value: unknown, max: number): void {
    if (value === undefined) return;
    const problem = jsonProblem(value);
    if (problem) throw validationFromIssues([{ path: [what, ...problem.path], message: problem.message }]);
    const text = JSON.stringify(value);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: most values need no byte count.
    if (text === undefined || text.length * 3 <= max) return;
    const size = Buffer.byteLength(text);
    if (size > max) {
      throw new PayloadTooLargeError(`${what} is ${size} bytes; the limit is ${max}`, {
        details: { field: what, size, limit: max },
      });
    }
  }

  function checkTask(task: SubmitTask, path: string): void {
    checkJson(`${path}payload`, task.payload, limits.maxPayloadBytes);
    checkJson(`${path}metadata`, task.metadata, limits.maxMetadataBytes);
  }

  async function requireAgent(agentId: string): Promise<AgentRecord> {
    const agent = await registry.get(agentId);
    if (!agent) throw new NotFoundError(`unknown agent ${agentId}; register first`, { details: { agentId } });
    return agent;
  }

  async function toAgentView(agent: AgentRecord, now: number): Promise<AgentView> {
    const view: AgentView = {
      id: agent.id,
      name: agent.name,
      skills: agent.skills,
      metadata: agent.metadata,
      status: now - agent.lastHeartbeat >= heartbeat.suspectAfterMs ? 'suspect' : 'alive',
      registeredAt: agent.registeredAt,
      lastHeartbeat: agent.lastHeartbeat,
      leasedTasks: (await queue.leasedBy(agent.id)).length,
    };
    if (agent.protocol) view.protocol = agent.protocol;
    if (agent.load) view.load = agent.load;
    return view;
  }

  async function applyDispatchHooks(
    tasks: LeasedTask[],
    agentId: string,
    ctx: CallContext,
  ): Promise<LeasedTask[]> {
    if (!plugins.has('dispatch')) return tasks;
    const out: LeasedTask[] = [];
    for (const task of tasks) {
      try {
        out.push(await plugins.run('dispatch', task, ctx));
      } catch (error) {
        // A plugin refused to hand this task out: fail it rather than leave it leased to nobody.
        const err = fromUnknown(error);
        await queue
          .complete(
            { taskId: task.taskId, agentId, leaseToken: task.leaseToken },
            { status: 'failed', error: { message: `dispatch refused: ${err.message}`, code: err.code } },
          )
          .catch(() => undefined);
      }
    }
    return out;
  }

  type Handler<Op extends OperationName> = (
    req: ParsedRequestOf<Op>,
    ctx: CallContext,
  ) => Promise<ReplyOf<Op>>;
  const handlers: { [Op in OperationName]: Handler<Op> } = {
    'agent.register': async (req, ctx) => {
      const registration = await plugins.run(
        'register',
        {
          id: req.agentId ?? newId('agent'),
          name: req.name,
          skills: req.skills,
          metadata: req.metadata ?? {},
          ...(req.protocol ? { protocol: req.protocol } : { protocol: ctx.protocol }),
        },
        ctx,
      );
      checkJson('metadata', registration.metadata, limits.maxMetadataBytes);
      const record = await registry.register(registration);
      return {
        agentId: record.id,
        registeredAt: record.registeredAt,
        heartbeatIntervalMs: heartbeat.intervalMs,
        heartbeatTimeoutMs: heartbeat.timeoutMs,
      };
    },

    'agent.heartbeat': async (req, ctx) => {
      const beat = await plugins.run(
        'heartbeat',
        { agentId: req.agentId, ...(req.load ? { load: req.load } : {}) },
        ctx,
      );
      await registry.heartbeat(beat.agentId, beat.load);
      return { agentId: beat.agentId, serverTime: await registry.now() };
    },

    'agent.unregister': async (req) => {
      await requireAgent(req.agentId);
      const released = await queue.releaseAgent(req.agentId, 'unregistered');
      await registry.unregister(req.agentId);
      return { agentId: req.agentId, requeued: released.requeued, dead: released.dead };
    },

    'task.submit': async (req, ctx) => {
      checkTask(req, '');
      // Without submit hooks, skip the hook runner's promise and await: this is a hot path.
      let task = plugins.has('submit') ? await plugins.run('submit', req, ctx) : req;
      // Object.assign: a spread with a new key gets a hidden class of its own per call in V8.
      if (!task.traceparent && ctx.traceparent)
        task = Object.assign({}, task, { traceparent: ctx.traceparent });
      return queue.submit(task);
    },

    'task.submit_batch': async (req, ctx) => {
      checkJson('metadata', req.metadata, limits.maxMetadataBytes);
      const tasks: SubmitTask[] = [];
      for (const [i, task] of req.tasks.entries()) {
        checkTask(task, `tasks.${i}.`);
        let t = await plugins.run('submit', task, ctx);
        if (!t.traceparent && ctx.traceparent) t = Object.assign({}, t, { traceparent: ctx.traceparent });
        tasks.push(t);
      }
      return queue.submitBatch({
        tasks,
        ...(req.batchId ? { batchId: req.batchId } : {}),
        ...(req.metadata ? { metadata: req.metadata } : {}),
      });
    },

    'batch.get': async (req) => {
      const batch = await queue.getBatch(req.batchId);
      if (!batch)
        throw new NotFoundError(`unknown batch ${req.batchId}`, { details: { batchId: req.batchId } });
      return batch;
    },

    'task.next': async (req, ctx) => {
      const agent = await requireAgent(req.agentId);
      const declared = agent.skills.map((s) => s.id);
      let capabilities = declared;
      if (req.capabilities) {
        const unknown = req.capabilities.filter((c) => !declared.includes(c));
        if (unknown.length > 0) {
          throw new ValidationError(`capabilities: agent ${agent.id} did not declare ${unknown.join(', ')}`, {
            details: { issues: [{ path: 'capabilities', message: `not declared: ${unknown.join(', ')}` }] },
          });
        }
        capabilities = req.capabilities;
      }
      const max = req.max ?? 1;
      if (queue.leaseWait && (req.waitMs ?? 0) > 0 && !closed) {
        const leased = await leaseWaiting(
          queue.leaseWait.bind(queue),
          agent.id,
          capabilities,
          max,
          req.waitMs!,
          ctx,
        );
        return { tasks: leased.length > 0 ? await applyDispatchHooks(leased, agent.id, ctx) : [] };
      }
      const deadline = Date.now() + (req.waitMs ?? 0);
      // Listen before looking, so a task submitted in between still wakes us. A runnable task
      // wakes one long-poll, the oldest of its capability. That wake-up is spent when the
      // woken caller's next look, begun after it, leases fewer than `max` (nothing is left for
      // it); otherwise (it leased `max`, or it leaves first: aborted, closed, time up, an
      // error) the caller passes it to the next long-poll of that capability, so neither a
      // batch of tasks nor a caller gone at the wrong moment strands work.
      const wakeUps: string[] = [];
      try {
        for (;;) {
          const waiting: Waiting | undefined =
            deadline > Date.now() && !closed
              ? waitFor(byCapability, capabilities, Math.min(deadline - Date.now(), pollFallbackMs), ctx)
              : undefined;
          try {
            const leased = await queue.lease({ agentId: agent.id, capabilities, max });
            if (leased.length < max) wakeUps.length = 0;
            // A wake-up that came while that look was under way: it may have missed the task.
            const during = waiting?.wokenFor();
            if (during !== undefined) wakeUps.push(during);
            if (leased.length > 0) return { tasks: await applyDispatchHooks(leased, agent.id, ctx) };
            if (isAborted(ctx) || closed || !waiting) return { tasks: [] };
            if (wakeUps.length > 0) continue;
            const woken = (await waiting.done) ? waiting.wokenFor() : undefined;
            if (woken !== undefined) wakeUps.push(woken);
            if (isAborted(ctx) || closed) return { tasks: [] };
          } finally {
            waiting?.cleanup();
          }
        }
      } finally {
        for (const capability of wakeUps) wakeOne(capability);
      }
    },

    'task.progress': async (req) => {
      checkJson('progress', req.progress, limits.maxResultBytes);
      return queue.progress(
        { taskId: req.taskId, agentId: req.agentId, leaseToken: req.leaseToken },
        req.progress,
      );
    },

    'task.result': async (req, ctx) => {
      if (req.status === 'succeeded') checkJson('result', req.result, limits.maxResultBytes);
      else checkJson('error', req.error, limits.maxResultBytes);
      const report = plugins.has('result') ? await plugins.run('result', req, ctx) : req;
      const { taskId, agentId, leaseToken } = report;
      const outcome =
        report.status === 'succeeded'
          ? { status: 'succeeded' as const, result: report.result }
          : { status: 'failed' as const, error: report.error };
      return { task: await queue.complete({ taskId, agentId, leaseToken }, outcome) };
    },

    'task.get': async (req, ctx) => {
      const deadline = Date.now() + (req.waitMs ?? 0);
      // As in task.next: listen before looking, except right after the task's own wake-up.
      let listen = true;
      for (;;) {
        const remaining = deadline - Date.now();
        const waiting: Waiting | undefined =
          listen && remaining > 0 && !closed
            ? waitFor(byTask, [req.taskId], Math.min(remaining, pollFallbackMs), ctx)
            : undefined;
        try {
          const task = await queue.get(req.taskId);
          if (!task)
            throw new NotFoundError(`unknown task ${req.taskId}`, { details: { taskId: req.taskId } });
          if (isTerminal(task.state) || isAborted(ctx)) return { task };
          if (!waiting) {
            if (!listen && remaining > 0 && !closed) {
              listen = true;
              continue;
            }
            return { task };
          }
          listen = !(await waiting.done);
          if (isAborted(ctx) || closed) {
            const latest = await queue.get(req.taskId);
            if (latest) return { task: latest };
          }
        } finally {
          waiting?.cleanup();
        }
      }
    },

    'task.cancel': async (req) => ({ task: await queue.cancel(req.taskId, req.reason) }),

    'agents.status': async (req) => {
      const [records, now, leader] = await Promise.all([
        registry.list(),
        registry.now(),
        elector?.leader() ?? null,
      ]);
      const filtered = req.capability
        ? records.filter((a) => a.skills.some((s) => s.id === req.capability))
        : records;
      const agents = await Promise.all(filtered.map((a) => toAgentView(a, now)));
      agents.sort((a, b) => a.id.localeCompare(b.id));
      return {
        agents,
        serverTime: now,
        leader: leader ? { hubId: leader.hubId, epoch: leader.epoch } : null,
      };
    },
  };

  async function dispatch(operation: string, request: unknown, context: CallContext): Promise<unknown> {
    try {
      if (closed) throw new UnavailableError('the hub is shutting down');
      if (!isOperationName(operation)) {
        throw new NotFoundError(`unknown operation "${operation}"`, { details: { operation } });
      }
      const spec = operations[operation];
      // An invalid inbound traceparent is dropped, as W3C trace context asks, never copied into tasks.
      if (context.traceparent !== undefined && !TraceparentSchema.safeParse(context.traceparent).success) {
        delete context.traceparent;
      }
      if (auth.enabled) {
        const principal = auth.authenticate(context.credentials);
        auth.authorize(principal, spec.scope, operation);
        context.principal = principal;
      }
      const protoKey = metadataProtoKey(request);
      if (protoKey) throw validationFromIssues([{ path: protoKey, message: PROTO_KEY }]);
      const parsed = spec.request.safeParse(request ?? {});
      if (!parsed.success) throw validationFromIssues(parsed.error.issues);
      const handler = handlers[operation] as Handler<OperationName>;
      if (!plugins.hasAround()) return await handler(parsed.data as never, context);
      return await plugins.around({ operation, request: parsed.data, context }, () =>
        handler(parsed.data as never, context),
      );
    } catch (error) {
      throw publicError(error, operation);
    }
  }

  /** What the caller may see of `error`; anything unexpected is reported and replaced. */
  function publicError(error: unknown, operation: string): McpmasError {
    const err = fromUnknown(error);
    if (error instanceof McpmasError || err.code !== ErrorCode.Internal) return err;
    const ref = newId('err');
    try {
      options.onInternalError?.(error, { operation, ref });
    } catch {
      // A failing logger must not change the reply.
    }
    return new InternalError(`internal error (ref ${ref})`, { cause: error, details: { ref } });
  }

  return {
    dispatch,
    call: (operation, request, context) => dispatch(operation, request, context) as never,
    subscribe(listener) {
      external.add(listener);
      return () => external.delete(listener);
    },
    close() {
      closed = true;
      unsubscribe();
      for (const w of allWaiters) w.wake();
      for (const controller of queueWaits) controller.abort();
    },
    plugins,
    heartbeat,
    limits,
  };
}

/**
 * The path of a metadata key named `__proto__` in a request, if any. zod's record schema skips
 * such a key without a word (assigning it would set the prototype), so metadata would lose it
 * silently. Other free-form values reach checkJson with the key, which refuses it.
 */
function metadataProtoKey(request: unknown): Array<string | number> | undefined {
  const has = (value: unknown) =>
    value !== null &&
    typeof value === 'object' &&
    Object.hasOwn(value, 'metadata') &&
    (value as { metadata: unknown }).metadata !== null &&
    typeof (value as { metadata: unknown }).metadata === 'object' &&
    Object.hasOwn((value as { metadata: object }).metadata, '__proto__');
  if (has(request)) return ['metadata', '__proto__'];
  const tasks =
    request !== null && typeof request === 'object' ? (request as { tasks?: unknown }).tasks : undefined;
  if (Array.isArray(tasks)) {
    for (let i = 0; i < tasks.length; i++) if (has(tasks[i])) return ['tasks', i, 'metadata', '__proto__'];
  }
  return undefined;
}

interface Waiting {
  /** `true` when woken for one of the keys. */
  done: Promise<boolean>;
  cleanup: () => void;
  /** The key a wake-up came for, once one has (`undefined` before, or when woken by close). */
  wokenFor: () => string | undefined;
}
