/**
 * The contracts every backend, adapter, notifier and plugin implements. Memory and Redis
 * backends honour the same interfaces and pass the same `@mcpmas/testkit` suites.
 */
import type {
  AgentView,
  BatchView,
  LeasedTask,
  OperationName,
  Progress,
  Scope,
  Skill,
  SubmitTask,
  TaskError,
  TaskState,
  TaskView,
} from './schemas.js';

// ---------------------------------------------------------------------------------------
// Registry

/** An agent as stored by a {@link Registry}. */
export interface AgentRecord {
  id: string;
  name: string;
  skills: Skill[];
  metadata: Record<string, unknown>;
  protocol?: string;
  registeredAt: number;
  lastHeartbeat: number;
  load?: { running: number; capacity: number };
}

/** What `register` stores. */
export interface AgentRegistration {
  id: string;
  name: string;
  skills: Skill[];
  metadata?: Record<string, unknown>;
  protocol?: string;
}

/**
 * Agent records and heartbeats. Finding stale agents is a range query, never a scan of every
 * agent on each heartbeat.
 */
export interface Registry {
  /** Adds or refreshes an agent (refresh keeps `registeredAt`); appends `agent.registered`. */
  register(agent: AgentRegistration): Promise<AgentRecord>;
  /** Records liveness. Throws `NotFoundError` for an unknown (or evicted) agent. */
  heartbeat(agentId: string, load?: { running: number; capacity: number }): Promise<AgentRecord>;
  /** Removes an agent; appends `agent.unregistered`. False if it was not registered. */
  unregister(agentId: string): Promise<boolean>;
  get(agentId: string): Promise<AgentRecord | null>;
  list(): Promise<AgentRecord[]>;
  /** Ids of agents whose last heartbeat is at least `olderThanMs` old (backend clock). */
  stale(olderThanMs: number): Promise<string[]>;
  /**
   * Leader only: removes a stale agent and appends `agent.evicted` with what happened to its
   * tasks. False if the agent is gone or heart-beated again since it was found stale.
   */
  evict(agentId: string, olderThanMs: number, released: ReleasedTasks, fence?: LeaderFence): Promise<boolean>;
  /** The backend's clock (Redis `TIME` on Redis), in epoch milliseconds. */
  now(): Promise<number>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Queue

/** Exponential backoff: `baseMs * 2^(n-1)`, capped at `maxMs`, plus up to `jitter` × delay. */
export interface BackoffOptions {
  /** @default 1000 */
  baseMs: number;
  /** @default 60000 */
  maxMs: number;
  /** Fraction of the delay added at random, 0..1. @default 0.2 */
  jitter: number;
}

/** Queue behaviour shared by every backend. */
export interface QueueOptions {
  /** Lease duration when a task names none. @default 30000 */
  defaultTimeoutMs: number;
  /** Crash budget when a task names none. @default 3 */
  defaultMaxAttempts: number;
  /** Error-retry budget when a task names none. @default 0 */
  defaultMaxRetries: number;
  /** Backoff before a task lost to a crash (eviction, lease expiry) runs again. */
  crashBackoff: BackoffOptions;
  /** Backoff before a task that reported a retryable error runs again. */
  errorBackoff: BackoffOptions;
  /** How long terminal tasks (and their results) are kept. @default 3600000 */
  resultTtlMs: number;
  /** Most terminal tasks kept; the oldest are removed first. @default 100000 */
  maxTerminalTasks: number;
}

/** Identifies a lease: only the holder of the current token may report. */
export interface LeaseRef {
  taskId: string;
  agentId: string;
  leaseToken: string;
}

/** The outcome an agent reports. */
export type TaskOutcome = { status: 'succeeded'; result?: unknown } | { status: 'failed'; error: TaskError };

/** What happened to the tasks of an agent that left or was evicted, or of expired leases. */
export interface ReleasedTasks {
  /** Back in the queue with `attempts + 1`. */
  requeued: string[];
  /** Crash budget spent: moved to the dead-letter set. */
  dead: string[];
}

/** A task submission after validation and defaults. */
export type TaskSubmission = SubmitTask & { batchId?: string };

/**
 * A wake-up: work became runnable, or a task reached a terminal state. One `available` may
 * stand for several tasks (a queue may send one per batch): the dispatcher wakes one
 * long-poll per signal, and a long-poll that leases all it asked for wakes the next.
 */
export type QueueSignal =
  | { type: 'available'; capability: string }
  | { type: 'terminal'; taskId: string; state: TaskState; agentId?: string };

/** What {@link TaskQueue.leaseWait} is asked for. */
export interface LeaseWaitRequest {
  agentId: string;
  /** Capabilities to lease from; none leases nothing. */
  capabilities: string[];
  /** Most tasks to lease; below 1 leases nothing, at once. */
  max: number;
  /** Longest wait in milliseconds when nothing is runnable; 0 only looks. */
  waitMs: number;
  /** Ends the wait early, leasing nothing more. */
  signal?: AbortSignal;
}

/**
 * The priority queue with leases. Higher priority first, FIFO within a priority; every
 * multi-step change is atomic.
 */
export interface TaskQueue {
  submit(task: TaskSubmission): Promise<{ task: TaskView; created: boolean }>;
  /** All tasks are stored, or none. A known `batchId` returns the existing batch. */
  submitBatch(batch: {
    tasks: SubmitTask[];
    batchId?: string;
    metadata?: Record<string, unknown>;
  }): Promise<{ batchId: string; created: boolean; tasks: Array<{ taskId: string; state: TaskState }> }>;
  getBatch(batchId: string): Promise<BatchView | null>;
  /** Leases up to `max` of the most urgent runnable tasks of these capabilities. Never waits. */
  lease(request: { agentId: string; capabilities: string[]; max: number }): Promise<LeasedTask[]>;
  /** Records progress and extends the lease. `ConflictError` unless `ref` holds the lease. */
  progress(ref: LeaseRef, progress?: Progress): Promise<{ taskId: string; leaseDeadline: number }>;
  /** Records the outcome. `ConflictError` for a late, stale or duplicate report. */
  complete(ref: LeaseRef, outcome: TaskOutcome): Promise<TaskView>;
  /**
   * Optional: {@link TaskQueue.complete} and then {@link TaskQueue.lease} for the same agent,
   * in one call — one round trip on a networked backend, as a worker that reports a result
   * and asks for more work needs. Nothing is leased when the report is refused (the error is
   * the one `complete` throws). `next.max` 0 only completes.
   */
  completeAndLease?(
    ref: LeaseRef,
    outcome: TaskOutcome,
    next: { capabilities: string[]; max: number },
  ): Promise<{ task: TaskView; leased: LeasedTask[] }>;
  /**
   * Optional: a long-poll. Leases like {@link TaskQueue.lease}; when nothing is runnable,
   * waits up to `waitMs` and the next task of these capabilities is leased to this caller by
   * the step that makes it runnable — on a networked backend one hop fewer than a wake-up
   * followed by a lease. Resolves `[]` when the time is up, `signal` aborts or the queue
   * closes; nothing leased to a wait that ends unanswered is lost (an aborted wait gives it
   * back to the queue). Without it, the dispatcher waits for `available` signals and leases:
   * each signal wakes the oldest long-poll of its capability, which then leases — a wake-up
   * and a lease, two round trips on a networked backend, where this takes one.
   */
  leaseWait?(request: LeaseWaitRequest): Promise<LeasedTask[]>;
  get(taskId: string): Promise<TaskView | null>;
  /** Cancels queued, delayed or leased work. `ConflictError` if already terminal. */
  cancel(taskId: string, reason?: string): Promise<TaskView>;
  /** Task ids currently leased by an agent. */
  leasedBy(agentId: string): Promise<string[]>;
  /**
   * Returns an agent's leased tasks to the queue (`attempts + 1`) or to the dead-letter set.
   * `unregistered` requeues at once; `evicted` applies the crash backoff.
   */
  releaseAgent(
    agentId: string,
    reason: 'evicted' | 'unregistered',
    fence?: LeaderFence,
  ): Promise<ReleasedTasks>;
  /** Leader duty: leases past their deadline are released as crashes. */
  expireLeases(fence?: LeaderFence): Promise<ReleasedTasks>;
  /** Leader duty: delayed tasks that are due become runnable. Returns their ids. */
  promoteDelayed(fence?: LeaderFence): Promise<string[]>;
  /** Leader duty: tasks past their total deadline become `timed_out`. Returns their ids. */
  expireDeadlines(fence?: LeaderFence): Promise<string[]>;
  /** Leader duty: removes terminal tasks past the retention time or count. Returns how many. */
  trimResults(fence?: LeaderFence): Promise<number>;
  /** Dead-lettered tasks, oldest first. */
  deadLetters(limit?: number): Promise<TaskView[]>;
  /** Wake-ups for long-polls and result waits (cross-hub on distributed backends). */
  subscribe(listener: (signal: QueueSignal) => void): () => void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Leader election

/** Proof of leadership passed to leader-only writes; a stale epoch is refused. */
export interface LeaderFence {
  hubId: string;
  epoch: number;
}

/** Leadership as seen by one hub. */
export interface LeadershipState {
  isLeader: boolean;
  /** The fencing epoch while leader. */
  epoch: number | null;
}

/** Elects one leader among hubs sharing a backend. */
export interface LeaderElector {
  readonly hubId: string;
  /** Starts campaigning and renewing. */
  start(): Promise<void>;
  /** Stops; releases leadership if held. */
  stop(): Promise<void>;
  isLeader(): boolean;
  /** The fence to pass to leader-only writes, or null when not leader. */
  fence(): LeaderFence | null;
  /** Who leads now, as the backend sees it. */
  leader(): Promise<LeaderFence | null>;
  onChange(listener: (state: LeadershipState) => void): () => void;
}

// ---------------------------------------------------------------------------------------
// Events and notifications

/** Lifecycle event types. */
export type HubEventType =
  | 'agent.registered'
  | 'agent.unregistered'
  | 'agent.evicted'
  | 'task.dead'
  | 'task.timed_out'
  | 'leader.changed';

/** A lifecycle event as stored in the outbox and delivered to notifiers. */
export interface HubEvent {
  /** Unique, ordered within one outbox. */
  id: string;
  type: HubEventType;
  /** Backend time in epoch milliseconds. */
  at: number;
  data: Record<string, unknown>;
}

/**
 * Durable outbox: events are appended in the same atomic step as the change they report and
 * delivered per channel until acknowledged.
 */
export interface EventOutbox {
  append(type: HubEventType, data: Record<string, unknown>, fence?: LeaderFence): Promise<HubEvent>;
  /** The oldest events the channel has not acknowledged, in order. */
  read(channel: string, max: number): Promise<HubEvent[]>;
  ack(channel: string, eventIds: string[]): Promise<void>;
  /** Unacknowledged count for a channel. */
  pending(channel: string): Promise<number>;
  close(): Promise<void>;
}

/** Delivers events to one outside channel. Throw to have the event retried. */
export interface Notifier {
  /** Unique channel name; the outbox tracks acknowledgements under it. */
  readonly name: string;
  notify(event: HubEvent): Promise<void>;
  /**
   * Optional batch path: delivers `events`, in order, as one unit (e.g. one digest mail).
   * Resolves once every event is delivered; throw to have them all retried. When present,
   * the hub's delivery loop calls it instead of `notify`.
   */
  notifyBatch?(events: HubEvent[]): Promise<void>;
  /**
   * With `notifyBatch`: the delivery loop lets a burst gather for `windowMs` after it first
   * sees a pending event, then hands over up to `maxEvents` at once.
   */
  readonly batching?: NotifierBatching;
  close?(): Promise<void>;
}

/** How a batch-capable {@link Notifier} wants bursts grouped. */
export interface NotifierBatching {
  /** How long a burst may gather before it is delivered. */
  windowMs: number;
  /** Most events in one batch. */
  maxEvents: number;
}

// ---------------------------------------------------------------------------------------
// Backend bundle

/** Everything the hub needs from storage. One object shared by all hubs of a deployment. */
export interface Backend {
  readonly kind: string;
  registry: Registry;
  queue: TaskQueue;
  outbox: EventOutbox;
  createElector(hubId: string, options?: Partial<ElectorOptions>): LeaderElector;
  /**
   * Leader only, optional: evicts an agent whose last heartbeat is at least `olderThanMs` old
   * (backend clock) in ONE atomic step — staleness re-checked, its leased tasks requeued
   * (`attempts + 1`, crash backoff) or dead-lettered, the agent removed and `agent.evicted`
   * appended — so a crash can never leave a requeue without its event or the other way round.
   * `evicted: false` (and nothing changed) when the agent is gone or heart-beated again.
   * `ConflictError` for a stale fence. Without it the hub falls back to
   * {@link TaskQueue.releaseAgent} then {@link Registry.evict}.
   */
  evictAgent?(
    agentId: string,
    olderThanMs: number,
    fence?: LeaderFence,
  ): Promise<{ evicted: boolean } & ReleasedTasks>;
  close(): Promise<void>;
}

/** Leader election timing. */
export interface ElectorOptions {
  /** Leadership lease. @default 10000 */
  ttlMs: number;
  /** Renew and campaign interval; must be well under `ttlMs`. @default 3000 */
  renewIntervalMs: number;
}

// ---------------------------------------------------------------------------------------
// Calls, auth, plugins

/** The authenticated caller. */
export interface Principal {
  keyId: string;
  scopes: Scope[];
}

/** Per-call context every adapter fills from its native request. */
export interface CallContext {
  /** `http`, `ws`, `grpc`, `mcp`, `stdio`, `inproc`, … */
  protocol: string;
  /** The raw API key presented, if any. */
  credentials?: string;
  /** Set by the dispatcher once authenticated. */
  principal?: Principal;
  /** Aborted when the caller goes away; ends waits early. */
  signal?: AbortSignal;
  /** W3C traceparent of the inbound request. */
  traceparent?: string;
  remoteAddress?: string;
  requestId?: string;
}

/** One operation call as plugins see it. */
export interface OperationCall {
  operation: OperationName;
  request: unknown;
  context: CallContext;
}

/** A hook may return a replacement value, nothing (observe), or throw to reject. */
export type PluginHook<T> = (value: T, context: CallContext) => T | undefined | Promise<T | undefined>;

/** Hook points of the task and agent lifecycle. */
export interface PluginHooks {
  register?: PluginHook<AgentRegistration>;
  heartbeat?: PluginHook<{ agentId: string; load?: { running: number; capacity: number } }>;
  submit?: PluginHook<SubmitTask>;
  /** A task about to be handed to an agent. */
  dispatch?: PluginHook<LeasedTask>;
  result?: PluginHook<LeaseRef & TaskOutcome>;
  /** Observe only. */
  evict?: (event: { agentId: string } & ReleasedTasks) => void | Promise<void>;
}

/**
 * A plugin wraps every operation (`around`) and/or hooks lifecycle points. Plugins run in the
 * order added and can be enabled and disabled at run time.
 */
export interface Plugin {
  readonly name: string;
  around?(call: OperationCall, next: () => Promise<unknown>): Promise<unknown>;
  hooks?: PluginHooks;
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Transports

/** A message pushed by the hub to a connected peer (push-capable transports only). */
export type InboundMessage =
  | { type: 'task'; task: LeasedTask }
  | { type: 'cancel'; taskId: string; reason?: string }
  | { type: 'event'; name: string; data: unknown };

/** What a transport can do; the testkit skips (visibly) what is declared absent. */
export interface TransportFeatures {
  /** The hub can push messages (`receiveMessage` works). */
  push: boolean;
}

/**
 * The seed's adapter contract, the client face of every protocol. `sendMessage(target,
 * content)` performs operation `target` with request `content` and resolves with the reply.
 */
export interface AgentCommInterface {
  /** Protocol name, e.g. `http`. */
  readonly protocol: string;
  readonly features: TransportFeatures;
  start(): Promise<void>;
  stop(): Promise<void>;
  sendMessage(target: OperationName, content: unknown, options?: { signal?: AbortSignal }): Promise<unknown>;
  /** Registers the handler for hub-pushed messages. Throws `UnsupportedError` without push. */
  receiveMessage(handler: (message: InboundMessage) => void | Promise<void>): void;
  /**
   * Push transports only: lets the hub push up to `credits` more tasks to `agentId` (credits
   * add up; each pushed task uses one). The transport keeps the unused balance and grants it
   * again after a reconnect, so an agent never has to poll.
   */
  grantCredits?(agentId: string, credits: number): void;
}

/** A protocol server bound to a dispatcher. */
export interface ServerAdapter {
  readonly protocol: string;
  start(dispatcher: Dispatcher): Promise<void>;
  stop(): Promise<void>;
}

/** The protocol-neutral entry point: every adapter calls this and nothing else. */
export interface Dispatcher {
  dispatch(operation: string, request: unknown, context: CallContext): Promise<unknown>;
  /** Wake-ups, for push transports. */
  subscribe(listener: (signal: QueueSignal) => void): () => void;
  /** Ends every pending wait; later calls fail with `UnavailableError`. */
  close(): void;
}

/** A view used by `agents.status`. */
export type { AgentView };
