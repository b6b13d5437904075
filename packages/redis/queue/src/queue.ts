/**
 * {@link TaskQueue} on Redis. Every state change is one Lua script (see `lua/`), so several
 * hubs can share one queue: one sorted set of ready tasks per capability scored by priority
 * then sequence, one of delayed tasks per capability scored by due time, leases in a sorted
 * set by deadline, one lexicographic set of (agent, task) pairs for what each agent holds, and
 * records in hashes. Time comes from Redis `TIME`; wake-ups go out over pub/sub from the same
 * scripts.
 */
import {
  type BatchView,
  DEFAULT_QUEUE_OPTIONS,
  InternalError,
  isTerminal,
  type LeaderFence,
  type LeasedTask,
  type LeaseRef,
  type LeaseWaitRequest,
  newId,
  newToken,
  PRIORITY_MAX,
  PRIORITY_MIN,
  type Progress,
  type QueueOptions,
  type QueueSignal,
  type ReleasedTasks,
  type SubmitTask,
  type TaskOutcome,
  type TaskQueue,
  type TaskState,
  type TaskSubmission,
  type TaskView,
  ValidationError,
} from '@mcpmas/core';
import {
  type Connection,
  checkNamespace,
  closeClient,
  connectionError,
  openConnection,
  type RedisConnectionOptions,
} from '@mcpmas/redis-common';
import { type RegistryKeys, registryKeys } from '@mcpmas/redis-registry';
import { ScriptCode, scriptError } from './errors.js';
import { commonKeys, heldPrefix, type QueueKeys, queueKeys } from './keys.js';
import { type LuaScript, loadScript, type RedisClient, type ScriptArg } from './scripts.js';

const scripts = {
  submit: loadScript('submitTask-17'),
  submitBatch: loadScript('submitBatch-17'),
  lease: loadScript('leaseTasks-17'),
  progress: loadScript('progressTask-17'),
  completeAndLease: loadScript('completeAndLease-17'),
  reportMany: loadScript('reportMany-17'),
  submitMany: loadScript('submitMany-17'),
  cancel: loadScript('cancelTask-17'),
  release: loadScript('releaseAgent-17'),
  evict: loadScript('evictAgent-21'),
  expireLeases: loadScript('expireLeases-17'),
  promote: loadScript('promoteDelayed-17'),
  expireDeadlines: loadScript('expireDeadlines-17'),
  trim: loadScript('trimResults-17'),
  readTasks: loadScript('readTasks-4'),
  readDeadLetters: loadScript('readDeadLetters-5'),
  readBatch: loadScript('readBatch-2'),
  leaseWait: loadScript('leaseWait-17'),
};

/** Options of {@link RedisTaskQueue}. */
export interface RedisQueueOptions extends RedisConnectionOptions, Partial<QueueOptions> {
  /**
   * Approximate length cap of the event stream the queue appends `task.dead` and
   * `task.timed_out` to (the outbox); 0 appends no events.
   * @default 10000
   */
  maxEvents?: number;
  /**
   * Most tasks one leader-duty script handles before yielding, so a large backlog never
   * blocks Redis for long; the method calls it again until the backlog is done.
   * @default 1000
   */
  sweepLimit?: number;
  /** Random source for backoff jitter seeds. @default Math.random */
  random?: () => number;
  /**
   * A long-poll ({@link RedisTaskQueue.leaseWait}) registers its agent as waiting for this
   * long at a time, then renews. It bounds how late a push that pub/sub lost still arrives,
   * and how long a queue instance that died mid-wait can still be handed tasks (which then
   * wait for their lease to expire).
   * @default 1000
   */
  waitSliceMs?: number;
}

/** Which capability and fence keys a script call declares. */
interface Declared {
  caps?: Iterable<string>;
  fence?: LeaderFence | undefined;
  /** Keys of other packages the script also touches, passed after the declared ones. */
  extra?: readonly string[];
}

/** The immutable part of a task as stored (`lua/includes/store.lua`); metadata kept as a string. */
interface Spec {
  id: string;
  capability: string;
  priority: number;
  maxAttempts: number;
  maxRetries: number;
  timeoutMs: number;
  metadata: string;
  idempotencyKey?: string;
  traceparent?: string;
  batchId?: string;
}

/** A task's state line, parsed. */
interface Hot {
  state: TaskState;
  attempts: number;
  errorRetries: number;
  createdAt: number;
  updatedAt: number;
  availableAt: number;
  leaseDeadline: number | undefined;
  completedAt: number | undefined;
  deadlineAt: number | undefined;
  leaseToken: string | undefined;
  agentId: string | undefined;
}

/** Entries per task in a script reply (`pushTask` in `lua/includes/store.lua`). */
const TASK_ENTRIES = 6;
/** Entries per leased task in a script reply: record and state line. */
const LEASED_ENTRIES = 2;

/** The Redis task queue. */
export class RedisTaskQueue implements TaskQueue {
  /** The keys this queue uses. */
  readonly keys: QueueKeys;
  /** The registry keys of the same namespace, for {@link RedisTaskQueue.evictAgent}. */
  private readonly registryKeys: RegistryKeys;
  private readonly options: QueueOptions;
  private readonly connection: Connection;
  private readonly common: string[];
  private readonly maxEvents: number;
  private readonly sweepLimit: number;
  private readonly random: () => number;
  /** Tags this instance's pub/sub messages so it skips its own (it delivers those at once). */
  private readonly origin = newToken();
  /** How this instance's own pub/sub messages start (`publishSignals` in `lua/includes/queue.lua`). */
  private readonly ownPrefix = `{"o":${JSON.stringify(this.origin)},`;
  private readonly listeners = new Set<(signal: QueueSignal) => void>();
  private subscriber: RedisClient | undefined;
  private subscribed: Promise<void> | undefined;
  /** The channel tasks leased to this instance's waiting agents are pushed on. */
  private readonly pushChannel: string;
  private pushSubscribed: Promise<void> | undefined;
  /** Long-polls waiting here, by waiter id (`leaseWait`). */
  private readonly waiters = new Map<string, LocalWaiter>();
  private readonly waitSliceMs: number;
  /**
   * On Redis Cluster a script cannot tell whether a waiter's queue instance still listens (a
   * node counts only its own subscribers): long-polls there wait for wake-ups and lease.
   */
  private readonly onCluster: boolean;
  /** Capability of tasks this process saw, to declare their keys up front. */
  private readonly capabilityOf = new BoundedMap<string, string>(50_000);
  /** Capabilities each agent last leased from here, to declare on release. */
  private readonly agentCapabilities = new BoundedMap<string, string[]>(10_000);
  private readonly connectionName: string;
  /** Submissions and reports made in the same tick, sent as one script call. */
  private readonly submits = new Batcher<PendingSubmit>((items) => this.flushSubmits(items));
  private readonly reports = new Batcher<PendingReport>((items) => this.flushReports(items));
  private closed = false;

  constructor(options: RedisQueueOptions = {}) {
    const {
      maxEvents,
      sweepLimit,
      random,
      waitSliceMs,
      redis,
      url,
      redisOptions,
      namespace,
      ...queueOptions
    } = options;
    this.options = { ...DEFAULT_QUEUE_OPTIONS, ...stripUndefined(queueOptions) };
    this.keys = queueKeys(checkNamespace(namespace ?? 'mcpmas'));
    this.registryKeys = registryKeys(namespace ?? 'mcpmas');
    this.common = commonKeys(this.keys);
    this.maxEvents = maxEvents ?? 10_000;
    this.sweepLimit = sweepLimit ?? 1000;
    this.random = random ?? Math.random;
    this.waitSliceMs = waitSliceMs ?? 1000;
    this.pushChannel = `${this.keys.signals}:push:${this.origin}`;
    this.connectionName = redisOptions?.connectionName ?? 'mcpmas:queue';
    this.connection = openConnection(options, this.connectionName);
    this.onCluster = 'nodes' in this.connection.client;
  }

  /** The Redis client this queue talks through. */
  get client(): RedisClient {
    return this.connection.client;
  }

  /**
   * Submits one task. Submissions made in the same tick (many clients at once) go to Redis
   * together in one script call; each is still created, or refused, on its own.
   */
  submit(task: TaskSubmission): Promise<{ task: TaskView; created: boolean }> {
    let prepared: { args: ScriptArg[]; spec: Spec; payload: string };
    try {
      prepared = this.taskArgs(task, newId('task'), task.batchId, '');
    } catch (error) {
      return Promise.reject(error);
    }
    // Fields spelled out: in V8 a spread copy given new keys gets a hidden class of its own on
    // every call, and the code reading it then takes the slow (megamorphic) path.
    return this.submits.add({
      args: prepared.args,
      spec: prepared.spec,
      payload: prepared.payload,
      resolve: noop,
      reject: noop,
    });
  }

  private async submitOne(item: PendingSubmit): Promise<{ task: TaskView; created: boolean }> {
    const reply = await this.exec(scripts.submit, { caps: [item.spec.capability] }, item.args);
    if (Number(reply[0]) < 0) throw scriptError(reply, {});
    return this.submitted(item, reply, 2);
  }

  /** The view of a submission from its reply at `reply[i]` (created flag, then the task). */
  private submitted(
    item: PendingSubmit,
    reply: readonly unknown[],
    i: number,
  ): { task: TaskView; created: boolean } {
    const created = reply[i] === 1;
    const view = created
      ? buildView(item.spec, parseHot(reply[i + 1] as string), item.payload, false, false, false, false)
      : toView(reply, i + 1);
    this.capabilityOf.set(view.id, view.capability);
    return { task: view, created };
  }

  private async flushSubmits(items: PendingSubmit[]): Promise<void> {
    if (items.length === 1) return settle(items[0]!, this.submitOne(items[0]!));
    const args: ScriptArg[] = [items.length];
    for (const item of items) args.push(...item.args);
    let reply: unknown[];
    try {
      reply = await this.exec(scripts.submitMany, { caps: items.map((item) => item.spec.capability) }, args);
      if (Number(reply[0]) < 0) throw scriptError(reply, {});
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    let i = 3;
    for (const item of items) {
      try {
        item.resolve(this.submitted(item, reply, i));
      } catch (error) {
        item.reject(error);
      }
      i += reply[i] === 1 ? 2 : 1 + TASK_ENTRIES;
    }
  }

  async submitBatch(batch: {
    tasks: SubmitTask[];
    batchId?: string;
    metadata?: Record<string, unknown>;
  }): Promise<{ batchId: string; created: boolean; tasks: Array<{ taskId: string; state: TaskState }> }> {
    const batchId = batch.batchId ?? newId('batch');
    const args: ScriptArg[] = [batchId, batch.tasks.length];
    batch.tasks.forEach((task, i) => {
      args.push(...this.taskArgs(task, newId('task'), batchId, `tasks.${i}.`).args);
    });
    const reply = await this.exec(scripts.submitBatch, { caps: batch.tasks.map((t) => t.capability) }, args);
    if (Number(reply[0]) < 0) throw scriptError(reply, {});
    return { batchId, created: reply[2] === 1, tasks: pairs(reply, 3) };
  }

  async getBatch(batchId: string): Promise<BatchView | null> {
    const reply = (await this.run(scripts.readBatch, [this.keys.batches, this.keys.state], [batchId])) as [
      number,
      number,
      ...string[],
    ];
    if (reply.length === 0) return null;
    const tasks = pairs(reply, 2);
    const counts: Record<string, number> = {};
    for (const t of tasks) counts[t.state] = (counts[t.state] ?? 0) + 1;
    const total = Number(reply[1]);
    if (total > tasks.length) counts.expired = total - tasks.length;
    return {
      batchId,
      createdAt: Number(reply[0]),
      total,
      counts,
      done: tasks.every((t) => isTerminal(t.state)),
      tasks,
    };
  }

  async lease(request: { agentId: string; capabilities: string[]; max: number }): Promise<LeasedTask[]> {
    const capabilities = [...new Set(request.capabilities)];
    if (request.max < 1 || capabilities.length === 0) return [];
    this.agentCapabilities.set(request.agentId, capabilities);
    const reply = await this.exec(scripts.lease, { caps: capabilities }, [
      request.agentId,
      Math.floor(request.max),
      newToken(),
    ]);
    return this.leasedFrom(reply, 2);
  }

  /**
   * A long-poll: leases up to `max` runnable tasks; when there are none, registers the agent
   * as waiting, and the next task of its capabilities is leased to it by the script that
   * makes it runnable and pushed here (`includes/queue.lua`) — submit, push, run, report,
   * without the wake-up and lease round trips in between. The registration is renewed every
   * `waitSliceMs`, each renewal ending the previous wait in the same script. A push that
   * pub/sub lost is picked up when its wait ends; when `signal` aborts or the queue closes,
   * whatever was pushed meanwhile goes back to the queue, with no attempt counted. When the
   * agent is evicted or unregisters (on any hub), its waits get nothing more and end at their
   * next renewal, resolving `[]`. On Redis Cluster, where a script cannot tell a live waiter
   * from a dead one, it waits for `available` wake-ups and leases instead.
   */
  async leaseWait(request: LeaseWaitRequest): Promise<LeasedTask[]> {
    const capabilities = [...new Set(request.capabilities)];
    const max = Math.floor(request.max);
    if (max < 1 || capabilities.length === 0) return [];
    if (!(request.waitMs > 0) || this.closed || request.signal?.aborted)
      return this.lease({ agentId: request.agentId, capabilities, max });
    if (this.onCluster)
      return this.pollWait(request.agentId, capabilities, max, request.waitMs, request.signal);
    return (await this.waitLoop(request.agentId, capabilities, max, request.waitMs, request.signal)).leased;
  }

  /**
   * {@link RedisTaskQueue.complete} and then {@link RedisTaskQueue.leaseWait} for the same
   * agent, the report going out in the wait's first script call — what a worker that reports
   * a result and waits for more work needs, in one round trip. A refused report throws its
   * `ConflictError` / `NotFoundError` and nothing is leased or waited for.
   */
  async completeAndWait(
    ref: LeaseRef,
    outcome: TaskOutcome,
    next: { capabilities: string[]; max: number; waitMs: number; signal?: AbortSignal },
  ): Promise<{ task: TaskView; leased: LeasedTask[] }> {
    const capabilities = [...new Set(next.capabilities)];
    const max = Math.floor(next.max);
    if (max < 1 || capabilities.length === 0 || !(next.waitMs > 0) || this.closed || next.signal?.aborted) {
      return this.completeAndLease(ref, outcome, { capabilities, max: Math.max(0, max) });
    }
    if (this.onCluster) {
      const reported = await this.completeAndLease(ref, outcome, { capabilities, max });
      if (reported.leased.length > 0) return reported;
      const leased = await this.pollWait(ref.agentId, capabilities, max, next.waitMs, next.signal);
      return { task: reported.task, leased };
    }
    const report = this.completeArgs(ref, outcome);
    const { leased, task } = await this.waitLoop(ref.agentId, capabilities, max, next.waitMs, next.signal, {
      ref,
      args: report,
    });
    return { task: task!, leased };
  }

  /**
   * The long-poll of {@link RedisTaskQueue.leaseWait}: registrations of `waitSliceMs` each,
   * every one ending the previous in the same script; `report` goes out with the first.
   */
  private async waitLoop(
    agentId: string,
    capabilities: string[],
    max: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    report?: { ref: LeaseRef; args: ScriptArg[] },
  ): Promise<{ leased: LeasedTask[]; task?: TaskView }> {
    this.agentCapabilities.set(agentId, capabilities);
    await this.ensurePushChannel();
    const deadline = performance.now() + waitMs;
    let reported: TaskView | undefined;
    const refused = new WeakSet<object>();
    /** One script call: the report (once), ends `previous` (`withdraw` in the Lua), leases, waits. */
    const step = async (previous: Wait | undefined, current: Wait | undefined, giveBack: boolean) => {
      const sending = report;
      report = undefined;
      const known = sending && this.capabilityOf.get(sending.ref.taskId);
      const declared = known && !capabilities.includes(known) ? [...capabilities, known] : capabilities;
      const reply = await this.exec(scripts.leaseWait, { caps: declared }, [
        agentId,
        current ? max : 0,
        current?.nonce ?? '',
        current?.id ?? '',
        current?.ttl ?? 0,
        previous?.id ?? '',
        previous?.nonce ?? '',
        giveBack ? 1 : 0,
        capabilities.length,
        ...capabilities,
        ...(sending ? [1, ...sending.args] : [0]),
      ]);
      if (Number(reply[0]) < 0) {
        // A refused report: the script stopped before anything else (nothing to clean up).
        const error = scriptError(reply, sending ? { ref: sending.ref } : {});
        refused.add(error);
        throw error;
      }
      if (Number(reply[2]) === -1) left = true;
      const leased = this.leasedFrom(reply, 2);
      if (sending) {
        reported = toView(reply, 3 + LEASED_ENTRIES * leased.length, sending.args);
        if (isTerminal(reported.state)) this.capabilityOf.delete(reported.id);
      }
      return leased;
    };
    const done = (leased: LeasedTask[]) => (reported ? { leased, task: reported } : { leased });
    /** Set when a step finds the agent left while its previous wait waited (count -1). */
    let left = false;
    // A wait that ended unanswered and is not withdrawn yet.
    let previous: Wait | undefined;
    for (;;) {
      const remaining = deadline - performance.now();
      if (remaining <= 0 || this.closed || signal?.aborted) break;
      const slice = Math.min(remaining, this.waitSliceMs);
      // The registration outlives the local wait a little, so the wait always ends (and
      // withdraws) before a script could take it for gone.
      const current: Wait = { id: newToken(), nonce: newToken(), ttl: Math.ceil(slice) + WAITER_GRACE_MS };
      const waiter: LocalWaiter = { pushed: undefined, wake: noop };
      this.waiters.set(current.id, waiter);
      let leased: LeasedTask[];
      try {
        leased = await step(previous, current, false);
      } catch (error) {
        this.waiters.delete(current.id);
        // Unless the script refused the report, either wait may be registered: end both, so
        // nothing is leased to a wait nobody reads (if that fails too, the registrations
        // expire within a slice).
        if (!refused.has(error as object)) {
          for (const wait of [previous, current]) {
            if (wait) void step(wait, undefined, true).catch(noop);
          }
        }
        throw error;
      }
      previous = undefined;
      if (left) {
        // The agent was evicted or unregistered meanwhile: its wait ends, nothing registered.
        this.waiters.delete(current.id);
        return done([]);
      }
      if (leased.length === 0 && !waiter.pushed) await waitForPush(waiter, slice, signal, () => this.closed);
      this.waiters.delete(current.id);
      if (leased.length > 0) return done(leased);
      if (waiter.pushed) return done(waiter.pushed);
      previous = current;
    }
    if (!previous) return done([]);
    // The last wait ended unanswered: withdraw it, taking what a lost push brought — or,
    // when the caller is gone, giving it back.
    return done(await step(previous, undefined, this.closed || signal?.aborted === true));
  }

  /**
   * The long-poll where tasks cannot be pushed (Redis Cluster): listen for `available`
   * wake-ups of these capabilities, lease, and wait for a wake-up or `waitSliceMs` before
   * looking again.
   */
  private async pollWait(
    agentId: string,
    capabilities: string[],
    max: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<LeasedTask[]> {
    const deadline = performance.now() + waitMs;
    const waiter: LocalWaiter = { pushed: undefined, wake: noop };
    let woken = false;
    const unsubscribe = this.subscribe((s) => {
      if (s.type === 'available' && capabilities.includes(s.capability)) {
        woken = true;
        waiter.wake();
      }
    });
    // Listed with the waits, so close() ends it too.
    const id = newToken();
    this.waiters.set(id, waiter);
    try {
      await this.subscribed;
      for (;;) {
        woken = false;
        const leased = await this.lease({ agentId, capabilities, max });
        const remaining = deadline - performance.now();
        if (leased.length > 0 || remaining <= 0 || this.closed || signal?.aborted) return leased;
        // A wake-up during the lease: look again at once.
        if (!woken)
          await waitForPush(waiter, Math.min(remaining, this.waitSliceMs), signal, () => this.closed);
        waiter.wake = noop;
      }
    } finally {
      this.waiters.delete(id);
      unsubscribe();
    }
  }

  /** Leased tasks from a reply: `reply[i]` is their count, then spec, state line, payload each. */
  private leasedFrom(reply: readonly unknown[], i: number): LeasedTask[] {
    const count = Number(reply[i]);
    const out: LeasedTask[] = [];
    for (let k = 0; k < count; k++) {
      const leased = toLeased(reply, i + 1 + LEASED_ENTRIES * k);
      this.capabilityOf.set(leased.taskId, leased.capability);
      out.push(leased);
    }
    return out;
  }

  async progress(ref: LeaseRef, progress?: Progress): Promise<{ taskId: string; leaseDeadline: number }> {
    const reply = await this.exec(scripts.progress, {}, [
      ref.taskId,
      ref.agentId,
      ref.leaseToken,
      progress ? JSON.stringify(progress) : '',
    ]);
    if (Number(reply[0]) < 0) throw scriptError(reply, { ref });
    return { taskId: ref.taskId, leaseDeadline: Number(reply[2]) };
  }

  /**
   * Records a leased task's outcome. Reports made in the same tick (many agents at once) go
   * to Redis together in one script call; each is applied, or refused, on its own.
   */
  complete(ref: LeaseRef, outcome: TaskOutcome): Promise<TaskView> {
    // Settled with the task itself: no second promise to take it out of a report's result.
    return this.report(ref, outcome, [], 0, false);
  }

  /** `complete` then `lease` for the same agent in one Lua script: one round trip. */
  completeAndLease(
    ref: LeaseRef,
    outcome: TaskOutcome,
    next: { capabilities: string[]; max: number },
  ): Promise<{ task: TaskView; leased: LeasedTask[] }> {
    const capabilities = [...new Set(next.capabilities)];
    const max = capabilities.length > 0 ? Math.max(0, Math.floor(next.max)) : 0;
    if (max > 0) this.agentCapabilities.set(ref.agentId, capabilities);
    return this.report(ref, outcome, capabilities, max, true);
  }

  /** A report; settles with its {@link Reported} result when `whole`, else with the task alone. */
  private report(
    ref: LeaseRef,
    outcome: TaskOutcome,
    capabilities: string[],
    max: number,
    whole: true,
  ): Promise<Reported>;
  private report(
    ref: LeaseRef,
    outcome: TaskOutcome,
    capabilities: string[],
    max: number,
    whole: false,
  ): Promise<TaskView>;
  private report(
    ref: LeaseRef,
    outcome: TaskOutcome,
    capabilities: string[],
    max: number,
    whole: boolean,
  ): Promise<Reported | TaskView> {
    let args: ScriptArg[];
    try {
      args = this.completeArgs(ref, outcome);
    } catch (error) {
      return Promise.reject(error);
    }
    args.push(max, max > 0 ? newToken() : '', max > 0 ? capabilities.length : 0);
    if (max > 0) args.push(...capabilities);
    return this.reports.add({
      ref,
      args,
      capabilities: max > 0 ? capabilities : [],
      whole,
      resolve: noop,
      reject: noop,
    });
  }

  /** Capabilities a report declares: where it leases from, and its task's when known. */
  private reportCaps(item: PendingReport): string[] {
    const known = this.capabilityOf.get(item.ref.taskId);
    return known && !item.capabilities.includes(known) ? [...item.capabilities, known] : item.capabilities;
  }

  private async reportOne(item: PendingReport, needed?: string[]): Promise<Reported | TaskView> {
    const caps = this.reportCaps(item);
    const reply = await this.exec(
      scripts.completeAndLease,
      { caps: needed ? [...caps, ...needed] : caps },
      item.args,
    );
    if (Number(reply[0]) < 0) throw scriptError(reply, { ref: item.ref });
    const result = this.reported(reply, 2, reply.length, item.args);
    return item.whole ? result : result.task;
  }

  /**
   * A report's task and new leases from `reply[i..end)`: the task, a count, the leases.
   * `args` are the report's arguments (the task's result is the one they carry).
   */
  private reported(reply: readonly unknown[], i: number, end: number, args: readonly ScriptArg[]): Reported {
    const task = toView(reply, i, args);
    if (isTerminal(task.state)) this.capabilityOf.delete(task.id);
    const leased: LeasedTask[] = [];
    for (let j = i + TASK_ENTRIES + 1; j + LEASED_ENTRIES <= end; j += LEASED_ENTRIES) {
      const t = toLeased(reply, j);
      this.capabilityOf.set(t.taskId, t.capability);
      leased.push(t);
    }
    return { task, leased };
  }

  private async flushReports(items: PendingReport[]): Promise<void> {
    if (items.length === 1) return settle(items[0]!, this.reportOne(items[0]!));
    const caps = new Set<string>();
    const args: ScriptArg[] = [items.length];
    for (const item of items) {
      for (const cap of this.reportCaps(item)) caps.add(cap);
      args.push(...item.args);
    }
    let reply: unknown[];
    try {
      reply = await this.exec(scripts.reportMany, { caps }, args);
      if (Number(reply[0]) < 0) throw scriptError(reply, {});
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    let i = 3;
    const again: Array<{ item: PendingReport; needed: string[] }> = [];
    for (const item of items) {
      const length = Number(reply[i]);
      const start = i + 1;
      i = start + length;
      const code = Number(reply[start]);
      if (code === ScriptCode.NeedKeys) {
        again.push({ item, needed: reply.slice(start + 2, i).map(String) });
      } else if (code < 0) {
        item.reject(scriptError(reply.slice(start, i), { ref: item.ref }));
      } else {
        try {
          const result = this.reported(reply, start + 1, i, item.args);
          item.resolve(item.whole ? result : result.task);
        } catch (error) {
          item.reject(error);
        }
      }
    }
    // Reports that needed keys nobody declared changed nothing: run each on its own, with
    // the keys it asked for.
    await Promise.all(again.map(({ item, needed }) => settle(item, this.reportOne(item, needed))));
  }

  async get(taskId: string): Promise<TaskView | null> {
    const reply = (await this.run(scripts.readTasks, this.storeKeys(), [taskId])) as unknown[];
    return reply.length === 0 ? null : toView(reply, 0);
  }

  async cancel(taskId: string, reason?: string): Promise<TaskView> {
    const capability = this.capabilityOf.get(taskId);
    const reply = await this.exec(scripts.cancel, { caps: capability ? [capability] : [] }, [
      taskId,
      reason === undefined ? 0 : 1,
      reason ?? '',
    ]);
    if (Number(reply[0]) < 0) throw scriptError(reply, { taskId });
    this.capabilityOf.delete(taskId);
    return toView(reply, 2);
  }

  async leasedBy(agentId: string): Promise<string[]> {
    const prefix = heldPrefix(agentId);
    let members: string[];
    try {
      members = await this.connection.client.zrangebylex(
        this.keys.held,
        `[${prefix}`,
        Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])]),
      );
    } catch (error) {
      throw connectionError(error);
    }
    return members.map((member) => member.slice(prefix.length));
  }

  async releaseAgent(
    agentId: string,
    reason: 'evicted' | 'unregistered',
    fence?: LeaderFence,
  ): Promise<ReleasedTasks> {
    // As in memory: only an eviction is leader-only; an agent may always unregister itself.
    const fenced = reason === 'evicted' ? fence : undefined;
    const backoff = this.options.crashBackoff;
    const reply = await this.exec(
      scripts.release,
      { caps: this.agentCapabilities.get(agentId) ?? [], fence: fenced },
      [agentId, reason, backoff.baseMs, backoff.maxMs, backoff.jitter],
    );
    if (Number(reply[0]) < 0) throw scriptError(reply, { ...(fenced ? { fence: fenced } : {}) });
    this.agentCapabilities.delete(agentId);
    return released(reply);
  }

  /**
   * Leader only: `Backend.evictAgent` — evicts a stale agent of the registry that shares this
   * namespace (`@mcpmas/redis-registry`) and requeues or dead-letters its tasks, with the
   * `agent.evicted` event, in one Lua script. `evicted: false` and nothing changed when the
   * agent is gone or heart-beated again; `ConflictError` for a stale fence.
   */
  async evictAgent(
    agentId: string,
    olderThanMs: number,
    fence?: LeaderFence,
  ): Promise<{ evicted: boolean } & ReleasedTasks> {
    const backoff = this.options.crashBackoff;
    const registry = this.registryKeys;
    const reply = await this.exec(
      scripts.evict,
      {
        caps: this.agentCapabilities.get(agentId) ?? [],
        fence,
        extra: [registry.agents, registry.registeredAt, registry.heartbeats, registry.load],
      },
      [agentId, olderThanMs, backoff.baseMs, backoff.maxMs, backoff.jitter],
    );
    if (Number(reply[0]) < 0) throw scriptError(reply, { ...(fence ? { fence } : {}) });
    const evicted = reply[2] === 1;
    if (evicted) this.agentCapabilities.delete(agentId);
    return { evicted, ...released(reply.slice(1)) };
  }

  async expireLeases(fence?: LeaderFence): Promise<ReleasedTasks> {
    const total: ReleasedTasks = { requeued: [], dead: [] };
    const backoff = this.options.crashBackoff;
    for (;;) {
      const reply = await this.exec(scripts.expireLeases, { fence }, [
        backoff.baseMs,
        backoff.maxMs,
        backoff.jitter,
        this.sweepLimit,
      ]);
      if (Number(reply[0]) < 0) throw scriptError(reply, { ...(fence ? { fence } : {}) });
      const batch = released(reply);
      total.requeued.push(...batch.requeued);
      total.dead.push(...batch.dead);
      if (batch.requeued.length + batch.dead.length < this.sweepLimit) return total;
    }
  }

  async promoteDelayed(fence?: LeaderFence): Promise<string[]> {
    let capabilities: string[];
    try {
      capabilities = await this.connection.client.smembers(this.keys.capabilities);
    } catch (error) {
      throw connectionError(error);
    }
    const promoted: string[] = [];
    for (;;) {
      const reply = await this.exec(scripts.promote, { caps: capabilities, fence }, [this.sweepLimit]);
      if (Number(reply[0]) < 0) throw scriptError(reply, { ...(fence ? { fence } : {}) });
      const ids = reply.slice(2).map(String);
      promoted.push(...ids);
      if (ids.length < this.sweepLimit) return promoted;
    }
  }

  async expireDeadlines(fence?: LeaderFence): Promise<string[]> {
    const expired: string[] = [];
    for (;;) {
      const reply = await this.exec(scripts.expireDeadlines, { fence }, [this.sweepLimit]);
      if (Number(reply[0]) < 0) throw scriptError(reply, { ...(fence ? { fence } : {}) });
      const ids = reply.slice(2).map(String);
      for (const id of ids) this.capabilityOf.delete(id);
      expired.push(...ids);
      if (ids.length < this.sweepLimit) return expired;
    }
  }

  async trimResults(fence?: LeaderFence): Promise<number> {
    let removed = 0;
    for (;;) {
      const reply = await this.exec(scripts.trim, { fence }, [
        this.options.resultTtlMs,
        this.options.maxTerminalTasks,
        this.sweepLimit,
      ]);
      if (Number(reply[0]) < 0) throw scriptError(reply, { ...(fence ? { fence } : {}) });
      removed += Number(reply[2]);
      if (reply[3] !== 1) return removed;
    }
  }

  async deadLetters(limit = 100): Promise<TaskView[]> {
    const reply = (await this.run(
      scripts.readDeadLetters,
      [this.keys.dead, ...this.storeKeys()],
      [limit],
    )) as unknown[];
    const out: TaskView[] = [];
    for (let i = 0; i + TASK_ENTRIES <= reply.length; i += TASK_ENTRIES) out.push(toView(reply, i));
    return out;
  }

  /**
   * Wake-ups from every process sharing this namespace. Signals caused by this instance are
   * delivered synchronously when its call completes; others arrive over a dedicated pub/sub
   * connection, opened on the first subscription and re-subscribed by ioredis after a
   * reconnect. A wake-up lost while disconnected costs a waiter at most its poll interval.
   */
  subscribe(listener: (signal: QueueSignal) => void): () => void {
    this.listeners.add(listener);
    const subscriber = this.ensureSubscriber();
    if (subscriber && !this.subscribed) {
      this.subscribed = subscriber.subscribe(this.keys.signals).then(
        () => undefined,
        () => undefined,
      );
    }
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the pub/sub connection is subscribed (immediately without subscribers). */
  async ready(): Promise<void> {
    await this.subscribed;
  }

  /** Closes the pub/sub connection, and the command connection if this queue opened it. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    for (const waiter of this.waiters.values()) waiter.wake();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) subscriber.disconnect();
    if (this.connection.owned) await closeClient(this.connection.client);
  }

  // -------------------------------------------------------------------------------------

  /** The pub/sub connection, opened on first use (none once closed). */
  private ensureSubscriber(): RedisClient | undefined {
    if (this.subscriber || this.closed) return this.subscriber;
    const client = this.connection.client;
    const name = `${this.connectionName}:signals`;
    const subscriber =
      'nodes' in client
        ? client.duplicate(undefined, { redisOptions: { connectionName: name } })
        : client.duplicate({ connectionName: name });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.pushChannel) this.deliverPush(message);
      else this.deliver(message, true);
    });
    this.subscriber = subscriber;
    return subscriber;
  }

  /** Subscribes to this instance's push channel (once; ioredis re-subscribes after a reconnect). */
  private ensurePushChannel(): Promise<void> {
    const subscriber = this.ensureSubscriber();
    if (!this.pushSubscribed && subscriber) {
      this.pushSubscribed = subscriber.subscribe(this.pushChannel).then(
        () => undefined,
        () => {
          // Not subscribed: pushes are picked up when each wait ends; try again next time.
          this.pushSubscribed = undefined;
        },
      );
    }
    return this.pushSubscribed ?? Promise.resolve();
  }

  /**
   * Hands tasks pushed to a waiter here (`pushTo` in `lua/includes/queue.lua`) to its
   * long-poll. A push for a wait that already ended is left alone: ending the wait took it
   * (or gave it back) in Redis.
   */
  private deliverPush(message: string): void {
    const parts = message.split('\n');
    const waiter = this.waiters.get(parts[0]!);
    if (!waiter) return;
    const count = Number(parts[1]);
    const agentId = parts.slice(2 + 3 * count).join('\n');
    const tasks: LeasedTask[] = [];
    try {
      for (let k = 0; k < count; k++) {
        const at = 2 + 3 * k;
        const leased = leasedTask(parts[at]!, parts[at + 2]! + agentId, parts[at + 1]!);
        this.capabilityOf.set(leased.taskId, leased.capability);
        tasks.push(leased);
      }
    } catch {
      // Not a push this version wrote: the wait's end picks its tasks up from Redis.
      return;
    }
    this.waiters.delete(parts[0]!);
    waiter.pushed = tasks;
    waiter.wake();
  }

  /**
   * Delivers a signal message; `remote` messages from this very instance were delivered
   * already. A script's reply carries its signals, then the pushes to waiters of this
   * instance, each after a record separator (`publishSignals` in `lua/includes/queue.lua`).
   */
  private deliver(message: string, remote = false): void {
    if (!remote && message.includes(PUSH_SEPARATOR)) {
      const [signals, ...pushes] = message.split(PUSH_SEPARATOR);
      for (const push of pushes) this.deliverPush(push);
      if (signals) this.deliver(signals);
      return;
    }
    // Own messages come back over pub/sub too; they were delivered already — skip the parse.
    if (remote && message.startsWith(this.ownPrefix)) return;
    let parsed: { o: string; s: QueueSignal[] };
    try {
      parsed = JSON.parse(message) as { o: string; s: QueueSignal[] };
    } catch {
      return;
    }
    if (remote && parsed.o === this.origin) return;
    for (const signal of parsed.s) {
      for (const listener of this.listeners) listener(signal);
    }
  }

  /**
   * Runs a state-changing script with the common KEYS/ARGV prologue. When the script replies
   * that it needs keys of capabilities that were not declared (it changed nothing),
   * they are declared and the script runs again.
   */
  private async exec(script: LuaScript, declared: Declared, args: readonly ScriptArg[]): Promise<unknown[]> {
    const caps = new Set(declared.caps ?? []);
    const fence = declared.fence;
    for (let round = 0; round < 5; round++) {
      const keys = [...this.common];
      for (const cap of caps) keys.push(this.keys.ready(cap), this.keys.delayed(cap), this.keys.waiting(cap));
      if (declared.extra) keys.push(...declared.extra);
      const argv: ScriptArg[] = [
        this.keys.signals,
        this.origin,
        fence?.hubId ?? '',
        fence ? String(fence.epoch) : '',
        this.maxEvents,
        Math.floor(this.random() * 2_147_483_647),
        caps.size,
        ...caps,
        ...args,
      ];
      const reply = (await this.run(script, keys, argv)) as unknown[];
      if (reply[0] === ScriptCode.NeedKeys) {
        for (const cap of reply.slice(2)) caps.add(String(cap));
        continue;
      }
      if (Number(reply[0]) >= 0 && typeof reply[1] === 'string' && reply[1] !== '') this.deliver(reply[1]);
      return reply;
    }
    throw new InternalError(`${script.name} kept asking for more keys`);
  }

  /** The four hashes a task is stored in, in the order the read scripts take them. */
  private storeKeys(): string[] {
    const k = this.keys;
    return [k.tasks, k.state, k.results, k.notes];
  }

  private async run(script: LuaScript, keys: string[], args: ScriptArg[]): Promise<unknown> {
    try {
      return await script.run(this.connection.client, keys, args);
    } catch (error) {
      throw connectionError(error);
    }
  }

  /**
   * The 11 arguments of a report (`lua/includes/complete.lua`); the result JSON is at
   * {@link REPORT_RESULT_ARG}.
   */
  private completeArgs(ref: LeaseRef, outcome: TaskOutcome): ScriptArg[] {
    const succeeded = outcome.status === 'succeeded';
    const hasResult = succeeded && outcome.result !== undefined;
    const backoff = this.options.errorBackoff;
    return [
      ref.taskId,
      ref.agentId,
      ref.leaseToken,
      outcome.status,
      hasResult ? 1 : 0,
      hasResult ? (JSON.stringify(outcome.result) ?? 'null') : '',
      succeeded ? '' : JSON.stringify(outcome.error),
      !succeeded && outcome.error.retryable ? 1 : 0,
      backoff.baseMs,
      backoff.maxMs,
      backoff.jitter,
    ];
  }

  /**
   * The 10 script arguments of one task (see `lua/includes/create.lua`), validated, its spec
   * (the immutable part) and its payload JSON.
   */
  private taskArgs(
    task: SubmitTask,
    id: string,
    batchId: string | undefined,
    path: string,
  ): { args: ScriptArg[]; spec: Spec; payload: string } {
    const priority = task.priority ?? 0;
    if (typeof task.capability !== 'string' || task.capability === '' || task.capability.includes('|')) {
      throw invalid(`${path}capability`, 'must be a non-empty string without "|"');
    }
    if (!Number.isInteger(priority) || priority < PRIORITY_MIN || priority > PRIORITY_MAX) {
      throw invalid(`${path}priority`, `must be an integer from ${PRIORITY_MIN} to ${PRIORITY_MAX}`);
    }
    const int = (field: string, value: number, min: number) => {
      if (!Number.isInteger(value) || value < min)
        throw invalid(`${path}${field}`, `must be an integer >= ${min}`);
      return value;
    };
    const spec: Spec = {
      id,
      capability: task.capability,
      priority,
      maxAttempts: int('maxAttempts', task.maxAttempts ?? this.options.defaultMaxAttempts, 1),
      maxRetries: int('maxRetries', task.maxRetries ?? this.options.defaultMaxRetries, 0),
      timeoutMs: int('timeoutMs', task.timeoutMs ?? this.options.defaultTimeoutMs, 1),
      metadata: JSON.stringify(task.metadata ?? {}),
    };
    if (task.idempotencyKey) spec.idempotencyKey = task.idempotencyKey;
    if (task.traceparent) spec.traceparent = task.traceparent;
    if (batchId) spec.batchId = batchId;
    const payload = JSON.stringify(task.payload ?? null) ?? 'null';
    const args: ScriptArg[] = [
      id,
      spec.capability,
      priority,
      spec.maxAttempts,
      spec.maxRetries,
      spec.timeoutMs,
      int('delayMs', task.delayMs ?? 0, 0),
      task.deadlineMs === undefined ? '' : int('deadlineMs', task.deadlineMs, 1),
      task.idempotencyKey ?? '',
      // The stored record: JSON text holds no raw newline, so the first one splits the two.
      `${JSON.stringify(spec)}\n${payload}`,
    ];
    return { args, spec, payload };
  }
}

function invalid(path: string, message: string): ValidationError {
  return new ValidationError(`invalid task: ${path}: ${message}`, {
    details: { issues: [{ path, message }] },
  });
}

/**
 * Parses a state line (`lua/includes/store.lua`); the agent id is last and may hold `|`. Read
 * field by field, numbers from their digits: no array of 14 substrings per line.
 */
function parseHot(line: string): Hot {
  const stateEnd = line.indexOf('|');
  hotAt = stateEnd < 0 ? line.length + 1 : stateEnd + 1;
  const state = (stateEnd < 0 ? line : line.slice(0, stateEnd)) as TaskState;
  const attempts = hotNumber(line, 0)!;
  const errorRetries = hotNumber(line, 0)!;
  skipHotField(line); // seq
  const createdAt = hotNumber(line, 0)!;
  const updatedAt = hotNumber(line, 0)!;
  const availableAt = hotNumber(line, 0)!;
  const leaseDeadline = hotNumber(line, undefined);
  const completedAt = hotNumber(line, undefined);
  const deadlineAt = hotNumber(line, undefined);
  skipHotField(line); // timeoutMs
  skipHotField(line); // notes
  const tokenAt = hotAt;
  skipHotField(line);
  const leaseToken = tokenAt < line.length ? line.slice(tokenAt, hotAt - 1) : '';
  return {
    state,
    attempts,
    errorRetries,
    createdAt,
    updatedAt,
    availableAt,
    leaseDeadline,
    completedAt,
    deadlineAt,
    leaseToken: leaseToken || undefined,
    agentId: (hotAt < line.length ? line.slice(hotAt) : '') || undefined,
  };
}

/** Where {@link parseHot} reads the next field of its line. */
let hotAt = 0;

/** Moves {@link hotAt} past the field it is at. */
function skipHotField(line: string): void {
  const end = line.indexOf('|', hotAt);
  hotAt = end < 0 ? line.length + 1 : end + 1;
}

/**
 * The number at {@link hotAt} (as `Number` reads its text), `empty` when the field is empty
 * (missing: `NaN`, or `undefined` when `empty` is); moves past it.
 */
function hotNumber(line: string, empty: number | undefined): number | undefined {
  const start = hotAt;
  if (start > line.length) return empty === undefined ? undefined : Number.NaN;
  let end = line.indexOf('|', start);
  if (end < 0) end = line.length;
  hotAt = end + 1;
  if (end === start) return empty;
  // Up to 15 digits are exact as doubles; anything else (a sign, more digits) the slow way.
  if (end - start > 15) return Number(line.slice(start, end));
  let n = 0;
  for (let i = start; i < end; i++) {
    const digit = line.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number(line.slice(start, end));
    n = n * 10 + digit;
  }
  return n;
}

type Stored = string | null | false;

function buildView(
  spec: Spec,
  hot: Hot,
  payload: string,
  result: Stored,
  error: Stored,
  progress: Stored,
  cancelReason: Stored,
): TaskView {
  const view: TaskView = {
    id: spec.id,
    capability: spec.capability,
    state: hot.state,
    priority: spec.priority,
    payload: JSON.parse(payload),
    attempts: hot.attempts,
    errorRetries: hot.errorRetries,
    maxAttempts: spec.maxAttempts,
    maxRetries: spec.maxRetries,
    timeoutMs: spec.timeoutMs,
    metadata: JSON.parse(spec.metadata),
    createdAt: hot.createdAt,
    updatedAt: hot.updatedAt,
    availableAt: hot.availableAt,
  };
  if (hot.agentId !== undefined) view.agentId = hot.agentId;
  if (spec.batchId !== undefined) view.batchId = spec.batchId;
  if (spec.idempotencyKey !== undefined) view.idempotencyKey = spec.idempotencyKey;
  if (spec.traceparent !== undefined) view.traceparent = spec.traceparent;
  if (hot.leaseDeadline !== undefined) view.leaseDeadline = hot.leaseDeadline;
  if (hot.deadlineAt !== undefined) view.deadlineAt = hot.deadlineAt;
  if (hot.completedAt !== undefined) view.completedAt = hot.completedAt;
  if (result) view.result = JSON.parse(result);
  if (error) view.error = JSON.parse(error);
  if (progress) view.progress = JSON.parse(progress);
  if (cancelReason !== false && cancelReason !== null) view.cancelReason = cancelReason;
  return view;
}

/**
 * The task at `reply[i..i+5]` (`pushTask` in `lua/includes/store.lua`). A report's reply gives
 * the result it carried as `1` rather than sending it back: `reported` is that report's
 * arguments (`completeArgs`), where the result JSON is.
 */
function toView(reply: readonly unknown[], i: number, reported?: readonly ScriptArg[]): TaskView {
  const record = reply[i] as string;
  const split = record.indexOf('\n');
  let result = reply[i + 2] as Stored | number;
  if (result === 1) {
    if (!reported)
      throw new InternalError('a task reply refers to a reported result, but there was no report');
    result = reported[REPORT_RESULT_ARG] as string;
  }
  return buildView(
    JSON.parse(record.slice(0, split)) as Spec,
    parseHot(reply[i + 1] as string),
    record.slice(split + 1),
    result as Stored,
    reply[i + 3] as Stored,
    reply[i + 4] as Stored,
    reply[i + 5] as Stored,
  );
}

/** The leased task at `reply[i..i+1]`: record (spec, newline, payload), state line. */
function toLeased(reply: readonly unknown[], i: number): LeasedTask {
  const record = reply[i] as string;
  const split = record.indexOf('\n');
  return leasedTask(record.slice(0, split), reply[i + 1] as string, record.slice(split + 1));
}

/** A leased task from its spec, state line and payload. */
function leasedTask(specJson: string, line: string, payload: string | null): LeasedTask {
  const spec = JSON.parse(specJson) as Spec;
  const hot = parseHot(line);
  const leased: LeasedTask = {
    taskId: spec.id,
    capability: spec.capability,
    payload: JSON.parse(payload ?? 'null'),
    priority: spec.priority,
    attempt: hot.attempts + hot.errorRetries + 1,
    leaseToken: hot.leaseToken!,
    leaseDeadline: hot.leaseDeadline!,
    timeoutMs: spec.timeoutMs,
    metadata: JSON.parse(spec.metadata),
  };
  if (spec.traceparent) leased.traceparent = spec.traceparent;
  if (spec.batchId) leased.batchId = spec.batchId;
  return leased;
}

function pairs(reply: readonly unknown[], from: number): Array<{ taskId: string; state: TaskState }> {
  const out: Array<{ taskId: string; state: TaskState }> = [];
  for (let i = from; i + 1 < reply.length; i += 2) {
    out.push({ taskId: String(reply[i]), state: String(reply[i + 1]) as TaskState });
  }
  return out;
}

function released(reply: readonly unknown[]): ReleasedTasks {
  const count = Number(reply[2]);
  const ids = reply.slice(3).map(String);
  return { requeued: ids.slice(0, count), dead: ids.slice(count) };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A Map that forgets its oldest entries past `max`. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }

  override set(key: K, value: V): this {
    // Deleted first, so a key set again moves to the newest end.
    this.delete(key);
    super.set(key, value);
    if (this.size > this.max) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return this;
  }
}

const noop = () => undefined;

/** Separates the pushes to this instance's waiters from the signals in a script reply. */
const PUSH_SEPARATOR = '\x1e';

/** How much longer a waiter's registration lasts in Redis than its wait here. */
const WAITER_GRACE_MS = 1000;

/** One registration of a waiting agent (`leaseWait`). */
interface Wait {
  id: string;
  /** Lease tokens of tasks pushed to it start with `<nonce>.`. */
  nonce: string;
  /** How long the registration lasts, ms. */
  ttl?: number;
}

/** A long-poll waiting in this process for a push. */
interface LocalWaiter {
  pushed: LeasedTask[] | undefined;
  wake(): void;
}

/** Resolves when `waiter` is woken (a push, or close), after `ms`, or when `signal` aborts. */
function waitForPush(
  waiter: LocalWaiter,
  ms: number,
  signal: AbortSignal | undefined,
  closed: () => boolean,
) {
  return new Promise<void>((resolve) => {
    if (closed()) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
    waiter.wake = done;
  });
}

/** Where a report's arguments (`completeArgs`) hold its result JSON. */
const REPORT_RESULT_ARG = 5;

/** Most calls one grouped script call carries (a larger group would hold Redis for longer). */
const MAX_GROUP = 64;

/** A call waiting in a {@link Batcher}. */
interface Pending<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

interface PendingSubmit extends Pending<{ task: TaskView; created: boolean }> {
  args: ScriptArg[];
  spec: Spec;
  payload: string;
}

/** What a report gives its caller: the task as reported, and the tasks leased next. */
interface Reported {
  task: TaskView;
  leased: LeasedTask[];
}

interface PendingReport extends Pending<Reported | TaskView> {
  ref: LeaseRef;
  args: ScriptArg[];
  /** Where the report leases from (empty: it leases nothing). */
  capabilities: string[];
  /** Settle with the whole {@link Reported} (completeAndLease), or with the task alone (complete). */
  whole: boolean;
}

/** Settles a pending call with the outcome of `work`. */
async function settle<T>(item: Pending<T>, work: Promise<T>): Promise<void> {
  try {
    item.resolve(await work);
  } catch (error) {
    item.reject(error);
  }
}

/**
 * Collects the calls made in one tick and hands them to `flush` together once the tick's
 * synchronous work and promise callbacks are done (`process.nextTick` runs after them), so
 * the calls that many clients or agents make at once cost one Redis round trip. A lone call
 * waits for nothing but the end of its own tick.
 */
class Batcher<Item extends Pending<never> | Pending<unknown>> {
  private items: Item[] = [];

  constructor(private readonly flush: (items: Item[]) => Promise<void>) {}

  add<T>(item: Item & Pending<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      item.resolve = resolve;
      item.reject = reject;
      if (this.items.push(item) === 1) process.nextTick(() => this.run());
    });
  }

  private run(): void {
    const items = this.items;
    this.items = [];
    for (let i = 0; i < items.length; i += MAX_GROUP) void this.flush(items.slice(i, i + MAX_GROUP));
  }
}
