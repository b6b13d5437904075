/**
 * The model-agent runtime: connects through any {@link AgentCommInterface}, registers,
 * heartbeats on its own timer, pulls tasks with bounded concurrency, reports progress and
 * results, survives lost connections (backoff, then re-register), and drains on shutdown.
 */
import { EventEmitter } from 'node:events';
import {
  type AgentCommInterface,
  type BackoffOptions,
  backoffDelay,
  ErrorCode,
  fromUnknown,
  HubClient,
  type InboundMessage,
  type LeasedTask,
  type McpmasError,
  type Progress,
  type Skill,
  sleep,
  type TaskError,
} from '@mcpmas/core';

/** Throw from a handler to fail a task with a code, and optionally ask for a retry. */
export class TaskFailure extends Error {
  readonly retryable: boolean;
  readonly code: string | undefined;
  readonly details: unknown;

  constructor(
    message: string,
    options: { retryable?: boolean; code?: string; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaskFailure';
    this.retryable = options.retryable ?? false;
    this.code = options.code;
    this.details = options.details;
  }
}

/** What a handler gets besides the task. */
export interface TaskContext {
  agentId: string;
  /** 1 on the first run; higher on retries. */
  attempt: number;
  /** Aborted when the task is cancelled, its lease is lost, or the agent stops without draining. */
  signal: AbortSignal;
  /** Reports progress and extends the lease. Rejects (and aborts `signal`) if the lease is gone. */
  progress(progress: Progress): Promise<void>;
}

/** The work: return a JSON-serialisable result, or throw to fail the task. */
export type TaskHandler = (task: LeasedTask, context: TaskContext) => unknown | Promise<unknown>;

/** Logging surface (pino-compatible). */
export interface AgentLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: AgentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Options of {@link ModelAgent}. */
export interface ModelAgentOptions {
  /** The connection to the hub (any protocol). */
  transport: AgentCommInterface;
  name: string;
  skills: Skill[];
  /** Keep the same id across restarts to keep identity. @default chosen by the hub */
  agentId?: string;
  metadata?: Record<string, unknown>;
  handler: TaskHandler;
  /** Tasks run at once. @default 1 */
  concurrency?: number;
  /** Long-poll wait per `task.next`. @default 20000 */
  pollWaitMs?: number;
  /** Overrides the interval the hub asks for. */
  heartbeatIntervalMs?: number;
  /** Backoff while the hub is unreachable. @default 250 ms doubling to 10 s */
  reconnect?: Partial<BackoffOptions>;
  /** How long `stop()` waits for running tasks. @default 30000 */
  drainTimeoutMs?: number;
  /** How long a finished task's result is retried while the hub is unreachable. @default 60000 */
  reportRetryMs?: number;
  /** Stop gracefully on SIGTERM and SIGINT. @default false */
  handleSignals?: boolean;
  logger?: AgentLogger;
}

/** Counters of one agent. */
export interface AgentStats {
  running: number;
  succeeded: number;
  failed: number;
  /** Results the hub refused (late, cancelled or re-leased tasks). */
  rejected: number;
  reconnects: number;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * A model agent. Events: `registered` (agentId), `task` (LeasedTask), `result` (taskId,
 * outcome), `disconnected` (error), `reconnected`, `stopped`.
 */
export class ModelAgent extends EventEmitter {
  readonly client: HubClient;
  private id: string | undefined;
  private readonly options: Required<
    Omit<ModelAgentOptions, 'agentId' | 'metadata' | 'heartbeatIntervalMs' | 'reconnect'>
  > &
    Pick<ModelAgentOptions, 'agentId' | 'metadata' | 'heartbeatIntervalMs'>;
  private readonly reconnect: BackoffOptions;
  private readonly logger: AgentLogger;
  private readonly running = new Map<string, Running>();
  private readonly stats: AgentStats = { running: 0, succeeded: 0, failed: 0, rejected: 0, reconnects: 0 };
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatBusy = false;
  private pollAbort = new AbortController();
  private pollLoop: Promise<void> | undefined;
  private slotWaiter: (() => void) | undefined;
  private registering: Promise<void> | undefined;
  private connected = false;
  private everConnected = false;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private signalHandler: (() => void) | undefined;

  constructor(options: ModelAgentOptions) {
    super();
    if (!options.skills?.length) throw new TypeError('skills must list at least one skill');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new TypeError('concurrency must be a positive integer');
    this.options = {
      concurrency,
      pollWaitMs: 20_000,
      drainTimeoutMs: 30_000,
      reportRetryMs: 60_000,
      handleSignals: false,
      logger: silent,
      ...options,
    };
    this.reconnect = { baseMs: 250, maxMs: 10_000, jitter: 0.2, ...options.reconnect };
    this.logger = this.options.logger;
    this.client = new HubClient(options.transport);
  }

  /** True when the transport pushes tasks (no polling). */
  private get pushMode(): boolean {
    return this.options.transport.features.push && typeof this.options.transport.grantCredits === 'function';
  }

  /** The id the hub knows this agent by (after `start`). */
  get agentId(): string {
    if (!this.id) throw new Error('agent not registered yet; await start() first');
    return this.id;
  }

  /** Current counters. */
  getStats(): AgentStats {
    return { ...this.stats, running: this.running.size };
  }

  /** Connects, registers (retrying until the hub answers), then starts heartbeats and pulling. */
  async start(): Promise<void> {
    await this.options.transport.start();
    if (this.options.transport.features.push) {
      this.options.transport.receiveMessage((message) => this.onPush(message));
    }
    await this.ensureRegistered();
    if (this.pushMode) this.options.transport.grantCredits!(this.agentId, this.options.concurrency);
    else this.pollLoop = this.poll();
    if (this.options.handleSignals) {
      this.signalHandler = () => {
        this.logger.info({ agentId: this.id }, 'signal received; draining');
        void this.stop();
      };
      process.once('SIGTERM', this.signalHandler);
      process.once('SIGINT', this.signalHandler);
    }
  }

  /**
   * Stops pulling, waits up to `drainTimeoutMs` for running tasks to report, aborts the rest,
   * unregisters (the hub requeues anything still leased) and closes the transport.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    if (this.signalHandler) {
      process.off('SIGTERM', this.signalHandler);
      process.off('SIGINT', this.signalHandler);
    }
    this.pollAbort.abort();
    this.slotWaiter?.();
    await this.pollLoop?.catch(() => undefined);
    const drained = Promise.all([...this.running.values()].map((r) => r.done));
    const timer = new Promise<'timeout'>((r) =>
      setTimeout(r, this.options.drainTimeoutMs, 'timeout').unref(),
    );
    if ((await Promise.race([drained, timer])) === 'timeout') {
      this.logger.warn(
        { agentId: this.id, running: this.running.size },
        'drain timed out; aborting running tasks',
      );
      for (const r of this.running.values()) r.controller.abort(new Error('agent stopping'));
      await Promise.race([drained, sleep(1000)]);
    }
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.id && this.connected) {
      await this.client
        .unregister({ agentId: this.id }, { signal: AbortSignal.timeout(5000) })
        .catch((error: unknown) => this.logger.warn({ err: String(error) }, 'unregister failed'));
    }
    await this.options.transport.stop();
    this.logger.info({ agentId: this.id, ...this.getStats() }, 'agent stopped');
    this.emit('stopped');
  }

  // -------------------------------------------------------------------------------------

  /** Registers (or re-registers with the same id), retrying with backoff while unreachable. */
  private ensureRegistered(): Promise<void> {
    this.registering ??= (async () => {
      for (let attempt = 1; !this.stopping; attempt++) {
        try {
          const reply = await this.client.register({
            ...((this.id ?? this.options.agentId) ? { agentId: this.id ?? this.options.agentId } : {}),
            name: this.options.name,
            skills: this.options.skills,
            ...(this.options.metadata ? { metadata: this.options.metadata } : {}),
            protocol: this.options.transport.protocol,
          });
          this.id = reply.agentId;
          this.startHeartbeat(this.options.heartbeatIntervalMs ?? reply.heartbeatIntervalMs);
          this.markConnected();
          this.logger.info({ agentId: this.id, protocol: this.options.transport.protocol }, 'registered');
          this.emit('registered', this.id);
          return;
        } catch (error) {
          const err = fromUnknown(error);
          if (!isTransient(err) && attempt === 1 && !this.id) throw err;
          this.markDisconnected(err);
          await sleep(backoffDelay(attempt, this.reconnect), this.pollAbort.signal).catch(() => undefined);
        }
      }
    })().finally(() => {
      this.registering = undefined;
    });
    return this.registering;
  }

  private startHeartbeat(intervalMs: number): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    // A timer of its own: a busy handler never delays a heartbeat (only a blocked event loop can).
    this.heartbeatTimer = setInterval(() => void this.beat(), intervalMs);
    this.heartbeatTimer.unref();
  }

  private async beat(): Promise<void> {
    if (this.heartbeatBusy || !this.id || this.stopping) return;
    this.heartbeatBusy = true;
    try {
      await this.client.heartbeat(
        { agentId: this.id, load: { running: this.running.size, capacity: this.options.concurrency } },
        { signal: AbortSignal.timeout(10_000) },
      );
      this.markConnected();
    } catch (error) {
      const err = fromUnknown(error);
      if (err.code === ErrorCode.NotFound) {
        this.logger.warn(
          { agentId: this.id },
          'hub no longer knows this agent (evicted?); registering again',
        );
        void this.ensureRegistered();
      } else {
        this.markDisconnected(err);
      }
    } finally {
      this.heartbeatBusy = false;
    }
  }

  private async poll(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const free = this.options.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.slotWaiter = resolve;
        });
        this.slotWaiter = undefined;
        continue;
      }
      try {
        const { tasks } = await this.client.next(
          { agentId: this.agentId, max: free, waitMs: this.options.pollWaitMs },
          { signal: this.pollAbort.signal },
        );
        failures = 0;
        this.markConnected();
        for (const task of tasks) this.run(task);
      } catch (error) {
        if (this.stopping) break;
        const err = fromUnknown(error);
        failures += 1;
        if (err.code === ErrorCode.NotFound) {
          await this.ensureRegistered();
          continue;
        }
        this.markDisconnected(err);
        if (!isTransient(err)) this.logger.error({ err: err.message, code: err.code }, 'task.next refused');
        await sleep(backoffDelay(failures, this.reconnect), this.pollAbort.signal).catch(() => undefined);
        // The hub may have evicted us while we could not reach it.
        if (isTransient(err) && !this.stopping) await this.ensureRegistered();
      }
    }
  }

  private onPush(message: InboundMessage): void {
    if (message.type === 'task') {
      if (this.running.has(message.task.taskId)) return;
      this.run(message.task);
    } else if (message.type === 'cancel') {
      this.running
        .get(message.taskId)
        ?.controller.abort(new Error(`task cancelled: ${message.reason ?? 'by the hub'}`));
    }
  }

  private run(task: LeasedTask): void {
    const controller = new AbortController();
    const agentId = this.agentId;
    const ref = { taskId: task.taskId, agentId, leaseToken: task.leaseToken };
    const context: TaskContext = {
      agentId,
      attempt: task.attempt,
      // Read on first use: node makes an AbortController's signal only when it is asked for,
      // and most handlers never look (about 0.6 µs a task saved).
      get signal() {
        return controller.signal;
      },
      progress: async (progress) => {
        try {
          await this.client.progress({ taskId: ref.taskId, agentId, leaseToken: ref.leaseToken, progress });
        } catch (error) {
          const err = fromUnknown(error);
          if (err.code === ErrorCode.Conflict || err.code === ErrorCode.NotFound) controller.abort(err);
          throw err;
        }
      },
    };
    this.emit('task', task);
    const done = (async () => {
      let outcome: { status: 'succeeded'; result?: unknown } | { status: 'failed'; error: TaskError };
      try {
        const result = await this.options.handler(task, context);
        outcome = result === undefined ? { status: 'succeeded' } : { status: 'succeeded', result };
      } catch (error) {
        outcome = { status: 'failed', error: toTaskError(error) };
      }
      await this.report(ref, outcome);
    })()
      .catch((error: unknown) =>
        this.logger.error({ taskId: task.taskId, err: String(error) }, 'task run failed'),
      )
      .finally(() => {
        this.running.delete(task.taskId);
        this.slotWaiter?.();
        // In push mode a finished task frees one slot: let the hub push one more.
        if (this.pushMode && !this.stopping && this.id) this.options.transport.grantCredits!(this.id, 1);
      });
    this.running.set(task.taskId, { controller, done });
  }

  private async report(
    ref: { taskId: string; agentId: string; leaseToken: string },
    outcome: { status: 'succeeded'; result?: unknown } | { status: 'failed'; error: TaskError },
  ): Promise<void> {
    const giveUpAt = Date.now() + this.options.reportRetryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        // Object.assign, not a spread: in V8 a spread of two objects gets a hidden class of its
        // own on every call.
        await this.client.result(Object.assign({}, ref, outcome));
        if (outcome.status === 'succeeded') this.stats.succeeded += 1;
        else this.stats.failed += 1;
        this.emit('result', ref.taskId, outcome);
        return;
      } catch (error) {
        const err = fromUnknown(error);
        if (attempt > 1 && landedEarlier(err, outcome.status)) {
          // An earlier attempt reached the hub, but its reply was lost with the connection.
          if (outcome.status === 'succeeded') this.stats.succeeded += 1;
          else this.stats.failed += 1;
          this.logger.info(
            { taskId: ref.taskId },
            'the hub had this result already: an earlier attempt landed',
          );
          this.emit('result', ref.taskId, outcome);
          return;
        }
        if (!isTransient(err) || Date.now() > giveUpAt) {
          this.stats.rejected += 1;
          this.logger.warn({ taskId: ref.taskId, code: err.code, err: err.message }, 'result not accepted');
          this.emit('rejected', ref.taskId, err);
          return;
        }
        this.markDisconnected(err);
        await sleep(backoffDelay(attempt, this.reconnect));
      }
    }
  }

  private markConnected(): void {
    if (this.connected) return;
    this.connected = true;
    if (this.everConnected) this.emit('reconnected');
    this.everConnected = true;
  }

  private markDisconnected(error: McpmasError): void {
    if (!isTransient(error) || !this.connected) return;
    this.connected = false;
    this.stats.reconnects += 1;
    this.logger.warn({ agentId: this.id, err: error.message }, 'lost connection to hub; retrying');
    this.emit('disconnected', error);
  }
}

/**
 * True when a retried report is refused because the task already ended as reported, last held
 * by this agent: the earlier attempt, whose reply was lost, is the one that landed.
 */
function landedEarlier(error: McpmasError, status: 'succeeded' | 'failed'): boolean {
  const details = error.details as { state?: unknown; sameAgent?: unknown } | undefined;
  return error.code === ErrorCode.Conflict && details?.state === status && details.sameAgent === true;
}

/** Errors worth waiting out: the hub is unreachable, busy or shutting down. */
function isTransient(error: McpmasError): boolean {
  return error.retryable || error.code === ErrorCode.Unavailable || error.code === ErrorCode.Timeout;
}

function toTaskError(error: unknown): TaskError {
  if (error instanceof TaskFailure) {
    const out: TaskError = { message: error.message || 'task failed', retryable: error.retryable };
    if (error.code) out.code = error.code;
    if (error.details !== undefined) out.details = error.details;
    return out;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: (message || 'task failed').slice(0, 4000), code: 'HANDLER_ERROR' };
}
