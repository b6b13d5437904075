/**
 * In-memory {@link TaskQueue}: the embedded default. Honours every rule of the design's task
 * semantics; every method body runs synchronously, so each change is atomic within the process.
 */
import { setImmediate as serveSoon } from 'node:timers';
import { ConflictError, NotFoundError } from '../errors.js';
import { Heap } from '../heap.js';
import type {
  EventOutbox,
  LeaderFence,
  LeaseRef,
  LeaseWaitRequest,
  QueueOptions,
  QueueSignal,
  ReleasedTasks,
  TaskOutcome,
  TaskQueue,
  TaskSubmission,
} from '../interfaces.js';
import type { BatchView, LeasedTask, Progress, SubmitTask, TaskState, TaskView } from '../schemas.js';
import { isTerminal } from '../schemas.js';
import { backoffDelay, cloneJson, DEFAULT_BACKOFF, newId, newToken } from '../util.js';
import type { FenceCheck } from './elector.js';

/** Queue defaults shared by every backend. */
export const DEFAULT_QUEUE_OPTIONS: QueueOptions = {
  defaultTimeoutMs: 30_000,
  defaultMaxAttempts: 3,
  defaultMaxRetries: 0,
  crashBackoff: DEFAULT_BACKOFF,
  errorBackoff: DEFAULT_BACKOFF,
  resultTtlMs: 3_600_000,
  maxTerminalTasks: 100_000,
};

interface TaskRecord extends TaskView {
  leaseToken?: string;
  /** Position within its priority; a new one on every requeue so stale heap entries are skipped. */
  seq: number;
}

interface ReadyEntry {
  priority: number;
  seq: number;
  id: string;
}

interface BatchRecord {
  createdAt: number;
  taskIds: string[];
}

/** A long-poll of {@link MemoryTaskQueue.leaseWait} waiting for work. */
interface LeaseWaiter {
  agentId: string;
  capabilities: string[];
  max: number;
  /** Ends the wait with `tasks`: withdraws the waiter and resolves its promise. */
  settle(tasks: LeasedTask[]): void;
}

/** Options of {@link MemoryTaskQueue}. */
export interface MemoryQueueOptions extends Partial<QueueOptions> {
  /** Where `task.dead` and `task.timed_out` events go. */
  outbox?: EventOutbox;
  /** Time source. @default Date.now */
  clock?: () => number;
  /** Checks leader fences on leader-only calls. */
  fenceCheck?: FenceCheck;
  /** Random source for backoff jitter. */
  random?: () => number;
}

const readyFirst = (a: ReadyEntry, b: ReadyEntry) =>
  a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);

/** The embedded in-memory task queue. */
export class MemoryTaskQueue implements TaskQueue {
  private readonly options: QueueOptions;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly outbox: EventOutbox | undefined;
  private readonly fenceCheck: FenceCheck | undefined;
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly ready = new Map<string, Heap<ReadyEntry>>();
  private readonly delayed = new Heap<{ at: number; id: string; seq: number }>((a, b) => a.at < b.at);
  private readonly leasedByAgent = new Map<string, Set<string>>();
  private readonly idempotency = new Map<string, string>();
  /** Non-terminal tasks that have a total deadline. */
  private readonly withDeadline = new Set<string>();
  private readonly batches = new Map<string, BatchRecord>();
  /** Terminal task ids in completion order, for retention. */
  private readonly terminalOrder: string[] = [];
  private terminalHead = 0;
  private readonly listeners = new Set<(signal: QueueSignal) => void>();
  /** Long-polls waiting for work, per capability, oldest first (insertion order). */
  private readonly waiting = new Map<string, Set<LeaseWaiter>>();
  /** Capabilities that got runnable work while waiters wait, served once the call ends. */
  private readonly toServe = new Set<string>();
  private seq = 0;
  private closed = false;

  constructor(options: MemoryQueueOptions = {}) {
    const { outbox, clock, fenceCheck, random, ...rest } = options;
    this.options = { ...DEFAULT_QUEUE_OPTIONS, ...stripUndefined(rest) };
    this.clock = clock ?? Date.now;
    this.random = random ?? Math.random;
    this.outbox = outbox;
    this.fenceCheck = fenceCheck;
  }

  async submit(task: TaskSubmission): Promise<{ task: TaskView; created: boolean }> {
    const existing = this.byIdempotencyKey(task.idempotencyKey);
    if (existing) return { task: toView(existing), created: false };
    const record = this.create(task, this.clock());
    this.enqueue(record);
    return { task: toView(record), created: true };
  }

  async submitBatch(batch: { tasks: SubmitTask[]; batchId?: string; metadata?: Record<string, unknown> }) {
    const known = batch.batchId ? this.batches.get(batch.batchId) : undefined;
    if (known) {
      return { batchId: batch.batchId!, created: false, tasks: this.refs(known.taskIds) };
    }
    const batchId = batch.batchId ?? newId('batch');
    const now = this.clock();
    // Everything is validated before this point and nothing below can throw, so the batch is
    // stored whole or not at all.
    const ids: string[] = [];
    for (const input of batch.tasks) {
      const existing = this.byIdempotencyKey(input.idempotencyKey);
      if (existing) {
        ids.push(existing.id);
        continue;
      }
      const record = this.create(Object.assign({}, input, { batchId }), now);
      this.enqueue(record);
      ids.push(record.id);
    }
    this.batches.set(batchId, { createdAt: now, taskIds: ids });
    return { batchId, created: true, tasks: this.refs(ids) };
  }

  async getBatch(batchId: string): Promise<BatchView | null> {
    const batch = this.batches.get(batchId);
    if (!batch) return null;
    const tasks = this.refs(batch.taskIds);
    const counts: Record<string, number> = {};
    for (const t of tasks) counts[t.state] = (counts[t.state] ?? 0) + 1;
    const expired = batch.taskIds.length - tasks.length;
    if (expired > 0) counts.expired = expired;
    return {
      batchId,
      createdAt: batch.createdAt,
      total: batch.taskIds.length,
      counts,
      done: tasks.every((t) => isTerminal(t.state)),
      tasks,
    };
  }

  async lease(request: { agentId: string; capabilities: string[]; max: number }): Promise<LeasedTask[]> {
    return this.leaseNow(request);
  }

  /**
   * Leases like {@link MemoryTaskQueue.lease}; when nothing is runnable, waits up to `waitMs`,
   * and a task of these capabilities made runnable meanwhile (by a submit, a requeue, a
   * delayed task coming due) is leased to the oldest waiting caller at the end of that turn
   * of the event loop, unless a caller that does not wait took it first. One waiter is served
   * per runnable task, so a hundred idle agents cost a submit no more than one does. Resolves
   * `[]` at once for `max` below 1 or no capabilities, and when the time is up, `signal`
   * aborts, the agent is released (evicted or unregistered) or the queue closes.
   */
  async leaseWait(request: LeaseWaitRequest): Promise<LeasedTask[]> {
    const max = Math.floor(request.max);
    if (!(max >= 1) || request.capabilities.length === 0) return [];
    const leased = this.leaseNow({ agentId: request.agentId, capabilities: request.capabilities, max });
    const { signal } = request;
    if (leased.length > 0 || !(request.waitMs > 0) || signal?.aborted || this.closed) return leased;
    return new Promise<LeasedTask[]>((resolve) => {
      const waiter: LeaseWaiter = {
        agentId: request.agentId,
        capabilities: [...new Set(request.capabilities)],
        max,
        settle: (tasks) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          for (const cap of waiter.capabilities) {
            const waiters = this.waiting.get(cap);
            waiters?.delete(waiter);
            if (waiters?.size === 0) this.waiting.delete(cap);
          }
          resolve(tasks);
        },
      };
      const onAbort = () => waiter.settle([]);
      const timer = setTimeout(onAbort, request.waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      for (const cap of waiter.capabilities) {
        let waiters = this.waiting.get(cap);
        if (!waiters) {
          waiters = new Set();
          this.waiting.set(cap, waiters);
        }
        waiters.add(waiter);
      }
    });
  }

  /** The body of {@link MemoryTaskQueue.lease}, synchronous. */
  private leaseNow(request: { agentId: string; capabilities: string[]; max: number }): LeasedTask[] {
    const now = this.clock();
    this.promoteDue(now);
    const out: LeasedTask[] = [];
    while (out.length < request.max) {
      const record = this.popBest(request.capabilities);
      if (!record) break;
      if (record.deadlineAt !== undefined && record.deadlineAt <= now) {
        this.finish(record, 'timed_out', now);
        continue;
      }
      record.state = 'leased';
      record.agentId = request.agentId;
      record.leaseToken = newToken();
      record.leaseDeadline = now + record.timeoutMs;
      record.updatedAt = now;
      this.agentSet(request.agentId).add(record.id);
      const leased: LeasedTask = {
        taskId: record.id,
        capability: record.capability,
        payload: cloneJson(record.payload),
        priority: record.priority,
        attempt: record.attempts + record.errorRetries + 1,
        leaseToken: record.leaseToken,
        leaseDeadline: record.leaseDeadline,
        timeoutMs: record.timeoutMs,
        metadata: cloneJson(record.metadata),
      };
      if (record.traceparent) leased.traceparent = record.traceparent;
      if (record.batchId) leased.batchId = record.batchId;
      out.push(leased);
    }
    return out;
  }

  async progress(ref: LeaseRef, progress?: Progress) {
    const record = this.holder(ref);
    const now = this.clock();
    if (progress) record.progress = cloneJson(progress);
    record.leaseDeadline = now + record.timeoutMs;
    record.updatedAt = now;
    return { taskId: record.id, leaseDeadline: record.leaseDeadline };
  }

  async complete(ref: LeaseRef, outcome: TaskOutcome): Promise<TaskView> {
    const record = this.holder(ref);
    const now = this.clock();
    this.leasedByAgent.get(ref.agentId)?.delete(record.id);
    if (outcome.status === 'succeeded') {
      record.result = cloneJson(outcome.result);
      record.error = undefined;
      this.finish(record, 'succeeded', now);
    } else if (outcome.error.retryable && record.errorRetries < record.maxRetries) {
      record.errorRetries += 1;
      record.error = cloneJson(outcome.error);
      this.requeue(record, now, backoffDelay(record.errorRetries, this.options.errorBackoff, this.random));
    } else {
      record.error = cloneJson(outcome.error);
      this.finish(record, 'failed', now);
    }
    return toView(record);
  }

  async completeAndLease(
    ref: LeaseRef,
    outcome: TaskOutcome,
    next: { capabilities: string[]; max: number },
  ): Promise<{ task: TaskView; leased: LeasedTask[] }> {
    const task = await this.complete(ref, outcome);
    const leased =
      next.max > 0
        ? await this.lease({ agentId: ref.agentId, capabilities: next.capabilities, max: next.max })
        : [];
    return { task, leased };
  }

  async get(taskId: string): Promise<TaskView | null> {
    const record = this.tasks.get(taskId);
    return record ? toView(record) : null;
  }

  async cancel(taskId: string, reason?: string): Promise<TaskView> {
    const record = this.tasks.get(taskId);
    if (!record) throw new NotFoundError(`unknown task ${taskId}`, { details: { taskId } });
    if (isTerminal(record.state)) {
      throw new ConflictError(`task ${taskId} is already ${record.state}`, {
        details: { taskId, state: record.state },
      });
    }
    if (record.state === 'leased' && record.agentId)
      this.leasedByAgent.get(record.agentId)?.delete(record.id);
    if (reason !== undefined) record.cancelReason = reason;
    this.finish(record, 'cancelled', this.clock());
    return toView(record);
  }

  async leasedBy(agentId: string): Promise<string[]> {
    return [...(this.leasedByAgent.get(agentId) ?? [])];
  }

  async releaseAgent(
    agentId: string,
    reason: 'evicted' | 'unregistered',
    fence?: LeaderFence,
  ): Promise<ReleasedTasks> {
    return this.releaseAgentNow(agentId, reason, fence);
  }

  /**
   * {@link MemoryTaskQueue.releaseAgent}, synchronously, so the memory backend can release
   * and evict in one step (`Backend.evictAgent`).
   */
  releaseAgentNow(agentId: string, reason: 'evicted' | 'unregistered', fence?: LeaderFence): ReleasedTasks {
    if (reason === 'evicted') this.fenceCheck?.(fence);
    // A departed agent's long-polls end first: nothing released below may be leased to them.
    this.settleWaiters((w) => w.agentId === agentId);
    const ids = this.leasedByAgent.get(agentId);
    this.leasedByAgent.delete(agentId);
    const released: ReleasedTasks = { requeued: [], dead: [] };
    const now = this.clock();
    for (const id of ids ?? []) {
      const record = this.tasks.get(id);
      if (record?.state !== 'leased') continue;
      this.crash(record, now, reason === 'unregistered' ? 0 : undefined, released, reason);
    }
    return released;
  }

  async expireLeases(fence?: LeaderFence): Promise<ReleasedTasks> {
    this.fenceCheck?.(fence);
    const now = this.clock();
    const released: ReleasedTasks = { requeued: [], dead: [] };
    for (const [agentId, ids] of this.leasedByAgent) {
      for (const id of ids) {
        const record = this.tasks.get(id);
        if (record?.state !== 'leased' || (record.leaseDeadline ?? Infinity) > now) continue;
        ids.delete(id);
        this.crash(record, now, undefined, released, 'lease_expired');
      }
      if (ids.size === 0) this.leasedByAgent.delete(agentId);
    }
    return released;
  }

  async promoteDelayed(fence?: LeaderFence): Promise<string[]> {
    this.fenceCheck?.(fence);
    return this.promoteDue(this.clock());
  }

  async expireDeadlines(fence?: LeaderFence): Promise<string[]> {
    this.fenceCheck?.(fence);
    const now = this.clock();
    const expired: string[] = [];
    for (const id of this.withDeadline) {
      const record = this.tasks.get(id);
      if (!record || isTerminal(record.state) || record.deadlineAt === undefined || record.deadlineAt > now)
        continue;
      if (record.state === 'leased' && record.agentId)
        this.leasedByAgent.get(record.agentId)?.delete(record.id);
      this.finish(record, 'timed_out', now);
      expired.push(record.id);
    }
    return expired;
  }

  async trimResults(fence?: LeaderFence): Promise<number> {
    this.fenceCheck?.(fence);
    const now = this.clock();
    let removed = 0;
    while (this.terminalHead < this.terminalOrder.length) {
      const id = this.terminalOrder[this.terminalHead]!;
      const record = this.tasks.get(id);
      const live = this.terminalOrder.length - this.terminalHead;
      const expired = !record || (record.completedAt ?? 0) + this.options.resultTtlMs <= now;
      if (!expired && live <= this.options.maxTerminalTasks) break;
      this.terminalHead += 1;
      if (record) {
        this.remove(record);
        removed += 1;
      }
    }
    if (this.terminalHead > 1024 && this.terminalHead * 2 > this.terminalOrder.length) {
      this.terminalOrder.splice(0, this.terminalHead);
      this.terminalHead = 0;
    }
    return removed;
  }

  async deadLetters(limit = 100): Promise<TaskView[]> {
    const out: TaskView[] = [];
    for (let i = this.terminalHead; i < this.terminalOrder.length && out.length < limit; i++) {
      const record = this.tasks.get(this.terminalOrder[i]!);
      if (record?.state === 'dead') out.push(toView(record));
    }
    return out;
  }

  subscribe(listener: (signal: QueueSignal) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.settleWaiters(() => true);
  }

  // -------------------------------------------------------------------------------------

  private create(input: TaskSubmission, now: number): TaskRecord {
    const delay = input.delayMs ?? 0;
    // Every field is present from the start (unset ones as `undefined`, which views leave
    // out) and cleared by assigning `undefined`, never `delete`: all records then share one
    // shape, and reading and copying them stays on V8's fast paths.
    const record: TaskRecord = {
      id: newId('task'),
      capability: input.capability,
      state: delay > 0 ? 'delayed' : 'queued',
      priority: input.priority ?? 0,
      payload: cloneJson(input.payload ?? null),
      result: undefined,
      error: undefined,
      progress: undefined,
      attempts: 0,
      errorRetries: 0,
      maxAttempts: input.maxAttempts ?? this.options.defaultMaxAttempts,
      maxRetries: input.maxRetries ?? this.options.defaultMaxRetries,
      timeoutMs: input.timeoutMs ?? this.options.defaultTimeoutMs,
      agentId: undefined,
      batchId: input.batchId || undefined,
      idempotencyKey: input.idempotencyKey || undefined,
      metadata: cloneJson(input.metadata ?? {}),
      traceparent: input.traceparent || undefined,
      createdAt: now,
      updatedAt: now,
      availableAt: now + delay,
      leaseDeadline: undefined,
      deadlineAt: input.deadlineMs !== undefined ? now + input.deadlineMs : undefined,
      completedAt: undefined,
      cancelReason: undefined,
      leaseToken: undefined,
      seq: 0,
    };
    if (input.idempotencyKey) this.idempotency.set(input.idempotencyKey, record.id);
    if (input.deadlineMs !== undefined) this.withDeadline.add(record.id);
    this.tasks.set(record.id, record);
    return record;
  }

  private byIdempotencyKey(key: string | undefined): TaskRecord | undefined {
    if (!key) return undefined;
    const id = this.idempotency.get(key);
    return id ? this.tasks.get(id) : undefined;
  }

  /** Puts a queued or delayed record where `lease` finds it. */
  private enqueue(record: TaskRecord): void {
    record.seq = ++this.seq;
    if (record.state === 'delayed') {
      this.delayed.push({ at: record.availableAt, id: record.id, seq: record.seq });
      return;
    }
    let heap = this.ready.get(record.capability);
    if (!heap) {
      heap = new Heap(readyFirst);
      this.ready.set(record.capability, heap);
    }
    heap.push({ priority: record.priority, seq: record.seq, id: record.id });
    if (this.waiting.has(record.capability)) {
      // Served at the end of this turn of the event loop, after the whole change (a batch's
      // most urgent task goes first) and after every other request that arrived with it: a
      // waiter asking for several tasks gets what this turn made runnable in one go. node's
      // own setImmediate, not the global: a test's fake timers must not hold up serving.
      if (this.toServe.size === 0) serveSoon(() => this.serveWaiters());
      this.toServe.add(record.capability);
    }
    this.emit({ type: 'available', capability: record.capability });
  }

  /**
   * Leases runnable tasks to the oldest waiters of each capability in {@link toServe}, each
   * waiter getting up to its `max` of its own capabilities' most urgent tasks, until the
   * capability has no runnable task or no waiter left.
   */
  private serveWaiters(): void {
    for (const cap of this.toServe) {
      this.toServe.delete(cap);
      for (;;) {
        const waiters = this.waiting.get(cap);
        const heap = this.ready.get(cap);
        if (!waiters || !heap || !this.liveTop(heap)) break;
        const waiter = waiters.values().next().value as LeaseWaiter;
        const tasks = this.leaseNow(waiter);
        // Empty only when every runnable task was past its deadline (now timed out): wait on.
        if (tasks.length === 0) break;
        waiter.settle(tasks);
      }
    }
  }

  /** Ends, with nothing leased, every wait `which` selects. */
  private settleWaiters(which: (waiter: LeaseWaiter) => boolean): void {
    const ended = new Set<LeaseWaiter>();
    for (const waiters of this.waiting.values()) for (const w of waiters) if (which(w)) ended.add(w);
    for (const w of ended) w.settle([]);
  }

  private promoteDue(now: number): string[] {
    const promoted: string[] = [];
    for (let top = this.delayed.peek(); top && top.at <= now; top = this.delayed.peek()) {
      this.delayed.pop();
      const record = this.tasks.get(top.id);
      if (record?.state !== 'delayed' || record.seq !== top.seq) continue;
      record.state = 'queued';
      record.updatedAt = now;
      this.enqueue(record);
      promoted.push(record.id);
    }
    return promoted;
  }

  private popBest(capabilities: string[]): TaskRecord | undefined {
    for (;;) {
      let best: Heap<ReadyEntry> | undefined;
      for (const cap of capabilities) {
        const heap = this.ready.get(cap);
        const top = heap && this.liveTop(heap);
        if (top && (!best || readyFirst(top, best.peek()!))) best = heap;
      }
      if (!best) return undefined;
      const entry = best.pop()!;
      const record = this.tasks.get(entry.id);
      if (record?.state === 'queued' && record.seq === entry.seq) return record;
    }
  }

  /** Drops heap entries of tasks that were cancelled, expired or requeued since. */
  private liveTop(heap: Heap<ReadyEntry>): ReadyEntry | undefined {
    for (let top = heap.peek(); top; top = heap.peek()) {
      const record = this.tasks.get(top.id);
      if (record?.state === 'queued' && record.seq === top.seq) return top;
      heap.pop();
    }
    return undefined;
  }

  private holder(ref: LeaseRef): TaskRecord {
    const record = this.tasks.get(ref.taskId);
    if (!record) throw new NotFoundError(`unknown task ${ref.taskId}`, { details: { taskId: ref.taskId } });
    if (record.state !== 'leased' || record.leaseToken !== ref.leaseToken || record.agentId !== ref.agentId) {
      throw staleLease(record, ref);
    }
    return record;
  }

  /** A lost run: back to the queue with attempts + 1, or dead once the crash budget is spent. */
  private crash(
    record: TaskRecord,
    now: number,
    delayMs: number | undefined,
    released: ReleasedTasks,
    reason: string,
  ) {
    record.attempts += 1;
    record.leaseToken = undefined;
    record.leaseDeadline = undefined;
    if (record.attempts >= record.maxAttempts) {
      this.finish(record, 'dead', now);
      released.dead.push(record.id);
      void this.outbox?.append('task.dead', {
        taskId: record.id,
        capability: record.capability,
        attempts: record.attempts,
        agentId: record.agentId,
        reason,
      });
      return;
    }
    this.requeue(
      record,
      now,
      delayMs ?? backoffDelay(record.attempts, this.options.crashBackoff, this.random),
    );
    released.requeued.push(record.id);
  }

  private requeue(record: TaskRecord, now: number, delayMs: number): void {
    record.leaseToken = undefined;
    record.leaseDeadline = undefined;
    record.state = delayMs > 0 ? 'delayed' : 'queued';
    record.availableAt = now + delayMs;
    record.updatedAt = now;
    this.enqueue(record);
  }

  private finish(record: TaskRecord, state: TaskState, now: number): void {
    const agentId = record.agentId;
    record.state = state;
    record.updatedAt = now;
    record.completedAt = now;
    record.leaseToken = undefined;
    record.leaseDeadline = undefined;
    this.withDeadline.delete(record.id);
    this.terminalOrder.push(record.id);
    if (state === 'timed_out') {
      void this.outbox?.append('task.timed_out', {
        taskId: record.id,
        capability: record.capability,
        agentId,
      });
    }
    this.emit({ type: 'terminal', taskId: record.id, state, ...(agentId ? { agentId } : {}) });
  }

  private remove(record: TaskRecord): void {
    this.tasks.delete(record.id);
    if (record.idempotencyKey && this.idempotency.get(record.idempotencyKey) === record.id) {
      this.idempotency.delete(record.idempotencyKey);
    }
    if (record.batchId) {
      const batch = this.batches.get(record.batchId);
      if (batch && !this.anyLeft(batch.taskIds)) this.batches.delete(record.batchId);
    }
  }

  /**
   * Whether any of `ids` is still kept. From the newest back: tasks go oldest first, so for a
   * batch being trimmed this stops at once, where a scan from the front would pass every task
   * already gone (n²/2 lookups over a batch of n).
   */
  private anyLeft(ids: string[]): boolean {
    for (let i = ids.length - 1; i >= 0; i--) if (this.tasks.has(ids[i]!)) return true;
    return false;
  }

  private refs(ids: string[]): Array<{ taskId: string; state: TaskState }> {
    const out: Array<{ taskId: string; state: TaskState }> = [];
    for (const id of ids) {
      const record = this.tasks.get(id);
      if (record) out.push({ taskId: id, state: record.state });
    }
    return out;
  }

  private agentSet(agentId: string): Set<string> {
    let set = this.leasedByAgent.get(agentId);
    if (!set) {
      set = new Set();
      this.leasedByAgent.set(agentId, set);
    }
    return set;
  }

  private emit(signal: QueueSignal): void {
    for (const listener of this.listeners) listener(signal);
  }
}

/**
 * The conflict raised when a report does not hold the current lease. `details.sameAgent` says
 * whether the task's last holder is the reporting agent: with a terminal state that matches
 * the report, an agent retrying a report whose reply it never got learns its first attempt
 * landed.
 */
export function staleLease(
  task: { id: string; state: TaskState; agentId?: string },
  ref: LeaseRef,
): ConflictError {
  const why = isTerminal(task.state)
    ? `task ${task.id} is already ${task.state}`
    : task.state === 'leased'
      ? `lease token for task ${task.id} is stale (the task was re-leased)`
      : `task ${task.id} is not leased (state ${task.state}); the lease expired or was released`;
  return new ConflictError(why, {
    details: {
      taskId: task.id,
      state: task.state,
      agentId: ref.agentId,
      sameAgent: task.agentId === ref.agentId,
    },
  });
}

/**
 * The public copy of a record: one pass that leaves out the lease token, the heap position and
 * unset fields, and deep-copies only the JSON-valued ones (payload, result, error, progress,
 * metadata).
 */
function toView(record: TaskRecord): TaskView {
  const view: Record<string, unknown> = {};
  for (const key in record) {
    if (key === 'leaseToken' || key === 'seq') continue;
    const value = record[key as keyof TaskRecord];
    if (value === undefined) continue;
    view[key] = value !== null && typeof value === 'object' ? cloneJson(value) : value;
  }
  return view as TaskView;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
