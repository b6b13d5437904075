/**
 * {@link PushSession}: the protocol-neutral server side of push transports (WebSocket, gRPC
 * streams). Per connection it keeps a credit balance per agent, long-polls `task.next`
 * through the dispatcher while the balance is positive and hands each leased task to the
 * adapter's `send`, and turns the dispatcher's terminal signals into cancel notices for tasks
 * it pushed. An adapter only supplies `send` and `writable` and calls `grant`, `drained` and
 * `close`; auth, validation and plugins stay in the dispatcher, as for any other call.
 */
import { LazyCallContext } from './context.js';
import { ErrorCode, fromUnknown, type McpmasError } from './errors.js';
import type { CallContext, Dispatcher, InboundMessage } from './interfaces.js';
import type { LeasedTask } from './schemas.js';

/** Options of {@link PushSession}. */
export interface PushSessionOptions {
  dispatcher: Dispatcher;
  /** Context of every lease call (protocol, credentials, remote address); the session adds `signal`. */
  context: Omit<CallContext, 'signal' | 'principal'>;
  /** Delivers a push for `agentId` to the peer. Called synchronously, once per message. */
  send(message: InboundMessage, agentId: string): void;
  /**
   * False while the connection is congested: no new lease starts until {@link PushSession.drained}
   * is called, so a slow peer never makes the hub lease (and buffer) more work for it.
   * @default always true
   */
  writable?(): boolean;
  /**
   * A lease for `agentId` failed in a way a retry will not fix (unknown agent, bad key, missing
   * scope). Leasing for that agent pauses until its next grant; the balance is kept.
   */
  onError?(error: McpmasError, agentId: string): void;
  /**
   * Credit refill on completion: each pushed task that reaches a terminal state gives its agent
   * one credit back, so the balance works as "most tasks in flight" (gRPC `NextTask`).
   * Without it, the peer grants credits itself (WebSocket, gRPC `StreamMessages`). @default false
   */
  refillOnTerminal?: boolean;
  /** Long-poll wait of one lease call. @default 20000 */
  waitMs?: number;
  /**
   * Most tasks one lease call takes, however large the balance: it bounds how much one lease
   * can add to a connection's send buffer past the congestion check. @default 16
   */
  maxPerLease?: number;
  /** Largest balance one agent can hold; larger grants are capped. @default 1000 */
  maxCredits?: number;
  /** Pause after a transient lease failure (hub shutting down, backend down). @default 1000 */
  retryDelayMs?: number;
}

/** Default long-poll wait of one lease call. */
export const DEFAULT_PUSH_WAIT_MS = 20_000;
/** Default cap of one agent's credit balance. */
export const DEFAULT_MAX_CREDITS = 1000;

interface AgentLeasing {
  balance: number;
  capabilities: string[] | undefined;
  running: boolean;
}

/** Most tasks one lease call may ask for (the `task.next` schema's maximum). */
const MAX_PER_LEASE = 100;

/**
 * Leases and pushes tasks for the agents of one connection. Create one per connection and
 * `close()` it when the connection ends: that aborts the pending long-polls at once.
 */
export class PushSession {
  private readonly agents = new Map<string, AgentLeasing>();
  /** Pushed tasks not yet terminal → the agent they were leased to. */
  private readonly pushed = new Map<string, string>();
  /** What `close()` aborts: pending lease calls and retry pauses. */
  private readonly aborts = new Set<{ abort(): void }>();
  private drainWaiters: Array<() => void> = [];
  private readonly unsubscribe: () => void;
  private readonly waitMs: number;
  private readonly maxCredits: number;
  private readonly retryDelayMs: number;
  private readonly maxPerLease: number;
  private closed = false;

  constructor(private readonly options: PushSessionOptions) {
    this.waitMs = options.waitMs ?? DEFAULT_PUSH_WAIT_MS;
    this.maxCredits = options.maxCredits ?? DEFAULT_MAX_CREDITS;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.maxPerLease = Math.min(MAX_PER_LEASE, Math.max(1, options.maxPerLease ?? 16));
    this.unsubscribe = options.dispatcher.subscribe((signal) => {
      if (signal.type !== 'terminal') return;
      const agentId = this.pushed.get(signal.taskId);
      if (agentId === undefined) return;
      this.pushed.delete(signal.taskId);
      if (this.closed) return;
      if (signal.state === 'cancelled') this.options.send({ type: 'cancel', taskId: signal.taskId }, agentId);
      if (this.options.refillOnTerminal) this.grant(agentId, 1);
    });
  }

  /**
   * Lets the hub push up to `credits` more tasks to `agentId` (credits add up to `maxCredits`).
   * `capabilities` narrows what is leased, as in `task.next`.
   */
  grant(agentId: string, credits: number, options: { capabilities?: string[] } = {}): void {
    if (this.closed || !(credits > 0)) return;
    let agent = this.agents.get(agentId);
    if (!agent) {
      agent = { balance: 0, capabilities: undefined, running: false };
      this.agents.set(agentId, agent);
    }
    agent.balance = Math.min(this.maxCredits, agent.balance + Math.floor(credits));
    if (options.capabilities) agent.capabilities = options.capabilities;
    if (!agent.running) void this.lease(agentId, agent);
  }

  /** The unused credits of `agentId`. */
  balance(agentId: string): number {
    return this.agents.get(agentId)?.balance ?? 0;
  }

  /** Tasks pushed through this session that have not reached a terminal state. */
  get inFlight(): number {
    return this.pushed.size;
  }

  /** Forgets an agent (e.g. after it unregistered): its balance is dropped, its lease ends. */
  forget(agentId: string): void {
    const agent = this.agents.get(agentId);
    if (agent) agent.balance = 0;
    this.agents.delete(agentId);
  }

  /** Tells the session the connection drained: paused leasing resumes. */
  drained(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Ends every pending lease at once and stops pushing. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    for (const controller of this.aborts) controller.abort();
    this.drained();
    this.agents.clear();
    this.pushed.clear();
  }

  /** The context of one lease call: the session's, with a signal made only if something reads it. */
  private leaseContext(): LazyCallContext {
    return Object.assign(new LazyCallContext(this.options.context.protocol), this.options.context);
  }

  private writable(): boolean {
    return this.options.writable ? this.options.writable() : true;
  }

  private async lease(agentId: string, agent: AgentLeasing): Promise<void> {
    agent.running = true;
    let failures = 0;
    try {
      while (!this.closed && agent.balance > 0 && this.agents.get(agentId) === agent) {
        if (!this.writable()) {
          await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
          continue;
        }
        const context = this.leaseContext();
        this.aborts.add(context);
        let tasks: LeasedTask[];
        try {
          const request = {
            agentId,
            max: Math.min(agent.balance, this.maxPerLease),
            waitMs: this.waitMs,
            ...(agent.capabilities ? { capabilities: agent.capabilities } : {}),
          };
          const reply = (await this.options.dispatcher.dispatch('task.next', request, context)) as {
            tasks: LeasedTask[];
          };
          tasks = reply.tasks;
          failures = 0;
        } catch (error) {
          if (this.closed) return;
          const err = fromUnknown(error);
          if (!isTransient(err)) {
            this.options.onError?.(err, agentId);
            return;
          }
          failures += 1;
          await this.pause(this.retryDelayMs * Math.min(failures, 10));
          continue;
        } finally {
          this.aborts.delete(context);
        }
        for (const task of tasks) {
          agent.balance = Math.max(0, agent.balance - 1);
          // Once closed, a task leased in the last instant is not delivered; its lease expires
          // and the task returns to the queue (at-least-once).
          if (this.closed) continue;
          this.pushed.set(task.taskId, agentId);
          this.options.send({ type: 'task', task }, agentId);
        }
      }
    } finally {
      agent.running = false;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const controller = new AbortController();
      this.aborts.add(controller);
      const done = () => {
        clearTimeout(timer);
        this.aborts.delete(controller);
        resolve();
      };
      const timer = setTimeout(done, ms);
      controller.signal.addEventListener('abort', done, { once: true });
    });
  }
}

function isTransient(error: McpmasError): boolean {
  return error.retryable || error.code === ErrorCode.Unavailable || error.code === ErrorCode.Timeout;
}
