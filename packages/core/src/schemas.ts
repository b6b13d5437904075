/**
 * Wire schemas for every operation of the hub (request and reply), and the records they
 * carry. TypeScript types are inferred from these; every protocol validates against them.
 * Requests are strict (unknown fields are rejected); replies are lenient (unknown fields
 * are stripped) so that an older client keeps working against a newer hub.
 */
import { z } from 'zod';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/;

/** Task, agent, batch and capability ids: 1–128 characters of letters, digits and `._:@/-`. */
export const IdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(ID_PATTERN, 'must start with a letter or digit and contain only letters, digits and . _ : @ / -');

/** Named priorities accepted wherever a number is. Higher runs first. */
export const Priority = { low: -10, normal: 0, high: 10, urgent: 100 } as const;
/** Lowest and highest numeric priority. */
export const PRIORITY_MIN = -1000;
/** @see PRIORITY_MIN */
export const PRIORITY_MAX = 1000;

/** A priority: an integer in [-1000, 1000] or one of `low`, `normal`, `high`, `urgent`. */
export const PrioritySchema = z
  .union([
    z.int().min(PRIORITY_MIN).max(PRIORITY_MAX),
    z.enum(['low', 'normal', 'high', 'urgent']).transform((name) => Priority[name]),
  ])
  .describe('integer -1000..1000 or low|normal|high|urgent; higher runs first');

/** Free-form JSON metadata attached to agents and tasks. */
export const MetadataSchema = z.record(z.string().max(128), z.unknown());

/** W3C trace context `traceparent` header value. */
export const TraceparentSchema = z
  .string()
  .regex(
    /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/,
    'must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)',
  );

/** A capability an agent declares: the seed's "skill". `id` is what tasks route on. */
export const SkillSchema = z.strictObject({
  id: IdSchema,
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).optional(),
});
/** @see SkillSchema */
export type Skill = z.output<typeof SkillSchema>;

/** Every state a task can be in. */
export const TASK_STATES = [
  'queued',
  'delayed',
  'leased',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'dead',
] as const;
/** A task state. */
export type TaskState = (typeof TASK_STATES)[number];
/** The five terminal states; a task reaches exactly one of them. */
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'dead',
]);
/** True for a terminal state. */
export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state);
}
/** @see TASK_STATES */
export const TaskStateSchema = z.enum(TASK_STATES);

/** An error reported by an agent for a task. */
export const TaskErrorSchema = z.strictObject({
  message: z.string().min(1).max(4000),
  code: z.string().max(128).optional(),
  /** When true and the task has error retries left, it runs again after a backoff. */
  retryable: z.boolean().optional(),
  details: z.unknown().optional(),
});
/** @see TaskErrorSchema */
export type TaskError = z.output<typeof TaskErrorSchema>;

/** Progress reported for a leased task. */
export const ProgressSchema = z.strictObject({
  percent: z.number().min(0).max(100).optional(),
  message: z.string().max(1000).optional(),
  data: z.unknown().optional(),
});
/** @see ProgressSchema */
export type Progress = z.output<typeof ProgressSchema>;

/** The public view of a task (never includes the lease token). */
export const TaskViewSchema = z.object({
  id: z.string(),
  capability: z.string(),
  state: TaskStateSchema,
  priority: z.number(),
  payload: z.unknown(),
  result: z.unknown().optional(),
  error: TaskErrorSchema.optional(),
  progress: ProgressSchema.optional(),
  /** Attempts lost to crashes: eviction, unregister, lease expiry. */
  attempts: z.number(),
  /** Retries spent on retryable errors reported by agents. */
  errorRetries: z.number(),
  maxAttempts: z.number(),
  maxRetries: z.number(),
  timeoutMs: z.number(),
  agentId: z.string().optional(),
  batchId: z.string().optional(),
  idempotencyKey: z.string().optional(),
  metadata: MetadataSchema,
  traceparent: z.string().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  availableAt: z.number(),
  leaseDeadline: z.number().optional(),
  deadlineAt: z.number().optional(),
  completedAt: z.number().optional(),
  cancelReason: z.string().optional(),
});
/** @see TaskViewSchema */
export type TaskView = z.output<typeof TaskViewSchema>;

/** A task handed to an agent: what it needs to run it and the token to report with. */
export const LeasedTaskSchema = z.object({
  taskId: z.string(),
  capability: z.string(),
  payload: z.unknown(),
  priority: z.number(),
  /** 1 for the first run; grows with every crash and error retry. */
  attempt: z.number(),
  leaseToken: z.string(),
  leaseDeadline: z.number(),
  timeoutMs: z.number(),
  metadata: MetadataSchema,
  traceparent: z.string().optional(),
  batchId: z.string().optional(),
});
/** @see LeasedTaskSchema */
export type LeasedTask = z.output<typeof LeasedTaskSchema>;

/** Liveness as seen by the hub. */
export const AGENT_STATUSES = ['alive', 'suspect'] as const;

/** The public view of an agent. */
export const AgentViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  skills: z.array(SkillSchema),
  metadata: MetadataSchema,
  protocol: z.string().optional(),
  status: z.enum(AGENT_STATUSES),
  registeredAt: z.number(),
  lastHeartbeat: z.number(),
  load: z.object({ running: z.number(), capacity: z.number() }).optional(),
  leasedTasks: z.number(),
});
/** @see AgentViewSchema */
export type AgentView = z.output<typeof AgentViewSchema>;

// ---------------------------------------------------------------------------------------
// Requests and replies, one pair per operation.

/** `agent.register`: add or refresh an agent. */
export const RegisterRequestSchema = z.strictObject({
  /** Omit to let the hub choose one; send the same id to refresh a registration. */
  agentId: IdSchema.optional(),
  name: z.string().min(1).max(200),
  skills: z.array(SkillSchema).min(1, 'an agent must declare at least one skill').max(256),
  metadata: MetadataSchema.optional(),
  protocol: z.string().max(32).optional(),
});
export const RegisterReplySchema = z.object({
  agentId: z.string(),
  registeredAt: z.number(),
  heartbeatIntervalMs: z.number(),
  heartbeatTimeoutMs: z.number(),
});

const LoadSchema = z.strictObject({
  running: z.int().min(0),
  capacity: z.int().min(1),
});

/** `agent.heartbeat`: liveness, optionally with load. */
export const HeartbeatRequestSchema = z.strictObject({ agentId: IdSchema, load: LoadSchema.optional() });
export const HeartbeatReplySchema = z.object({ agentId: z.string(), serverTime: z.number() });

/** `agent.unregister`: leave; leased tasks return to the queue at once. */
export const UnregisterRequestSchema = z.strictObject({ agentId: IdSchema });
export const UnregisterReplySchema = z.object({
  agentId: z.string(),
  requeued: z.array(z.string()),
  dead: z.array(z.string()),
});

/** Upper bound of any wait (long-poll) in milliseconds. */
export const MAX_WAIT_MS = 300_000;

/** One task as submitted. */
export const SubmitTaskSchema = z.strictObject({
  capability: IdSchema,
  payload: z.unknown().optional(),
  priority: PrioritySchema.optional(),
  /** Lease duration of one attempt; an agent must report progress or a result within it. */
  timeoutMs: z.int().min(100).max(86_400_000).optional(),
  /** Crash budget: runs lost to eviction, unregister or lease expiry before the task is dead. */
  maxAttempts: z.int().min(1).max(100).optional(),
  /** Error budget: retries after an agent reports a retryable error. */
  maxRetries: z.int().min(0).max(100).optional(),
  idempotencyKey: z.string().min(1).max(256).optional(),
  /** Run no sooner than this many ms from now. */
  delayMs: z
    .int()
    .min(0)
    .max(30 * 86_400_000)
    .optional(),
  /** Total time budget from submission; past it the task is `timed_out`. */
  deadlineMs: z
    .int()
    .min(1)
    .max(30 * 86_400_000)
    .optional(),
  metadata: MetadataSchema.optional(),
  traceparent: TraceparentSchema.optional(),
});
/** @see SubmitTaskSchema */
export type SubmitTask = z.output<typeof SubmitTaskSchema>;
export const SubmitRequestSchema = SubmitTaskSchema;
export const SubmitReplySchema = z.object({ task: TaskViewSchema, created: z.boolean() });

/** Most tasks in one batch. */
export const MAX_BATCH = 1000;
/** `task.submit_batch`: all tasks are accepted, or none. */
export const SubmitBatchRequestSchema = z.strictObject({
  tasks: z.array(SubmitTaskSchema).min(1, 'a batch needs at least one task').max(MAX_BATCH),
  /** Resubmitting with the same batch id returns the existing batch. */
  batchId: IdSchema.optional(),
  metadata: MetadataSchema.optional(),
});
const TaskRefSchema = z.object({ taskId: z.string(), state: TaskStateSchema });
export const SubmitBatchReplySchema = z.object({
  batchId: z.string(),
  created: z.boolean(),
  tasks: z.array(TaskRefSchema),
});

/** `batch.get`: a batch's tasks and aggregate status. */
export const BatchGetRequestSchema = z.strictObject({ batchId: IdSchema });
export const BatchViewSchema = z.object({
  batchId: z.string(),
  createdAt: z.number(),
  total: z.number(),
  counts: z.record(z.string(), z.number()),
  /** True once every task is terminal. */
  done: z.boolean(),
  tasks: z.array(TaskRefSchema),
});
/** @see BatchViewSchema */
export type BatchView = z.output<typeof BatchViewSchema>;
export const BatchGetReplySchema = BatchViewSchema;

/** `task.next`: lease the most urgent runnable task(s); optionally wait for one. */
export const NextRequestSchema = z.strictObject({
  agentId: IdSchema,
  /** Restrict to these of the agent's registered skills. */
  capabilities: z.array(IdSchema).min(1).max(256).optional(),
  max: z.int().min(1).max(100).optional(),
  waitMs: z.int().min(0).max(MAX_WAIT_MS).optional(),
});
export const NextReplySchema = z.object({ tasks: z.array(LeasedTaskSchema) });

const LeaseRefShape = { taskId: IdSchema, agentId: IdSchema, leaseToken: z.string().min(1).max(256) };

/** `task.progress`: progress for a leased task; also extends the lease. */
export const ProgressRequestSchema = z.strictObject({
  ...LeaseRefShape,
  progress: ProgressSchema.optional(),
});
export const ProgressReplySchema = z.object({ taskId: z.string(), leaseDeadline: z.number() });

/** `task.result`: success or failure for a leased task. */
export const ResultRequestSchema = z.discriminatedUnion('status', [
  z.strictObject({ ...LeaseRefShape, status: z.literal('succeeded'), result: z.unknown().optional() }),
  z.strictObject({ ...LeaseRefShape, status: z.literal('failed'), error: TaskErrorSchema }),
]);
export const ResultReplySchema = z.object({ task: TaskViewSchema });

/** `task.get`: status and result; `waitMs` waits until the task is terminal. */
export const GetRequestSchema = z.strictObject({
  taskId: IdSchema,
  waitMs: z.int().min(0).max(MAX_WAIT_MS).optional(),
});
export const GetReplySchema = z.object({ task: TaskViewSchema });

/** `task.cancel`: cancel queued, delayed or leased work. */
export const CancelRequestSchema = z.strictObject({
  taskId: IdSchema,
  reason: z.string().max(500).optional(),
});
export const CancelReplySchema = z.object({ task: TaskViewSchema });

/** `agents.status`: all agents with liveness. */
export const AgentsStatusRequestSchema = z.strictObject({ capability: IdSchema.optional() });
export const AgentsStatusReplySchema = z.object({
  agents: z.array(AgentViewSchema),
  serverTime: z.number(),
  leader: z.object({ hubId: z.string(), epoch: z.number() }).nullable(),
});

/** Permission scopes API keys carry. `admin` implies all others. */
export const SCOPES = ['task:submit', 'task:read', 'task:cancel', 'agent:connect', 'admin'] as const;
/** @see SCOPES */
export type Scope = (typeof SCOPES)[number];

/** Description of one operation: its schemas and the scope it needs. */
export interface OperationSpec {
  request: z.ZodType;
  reply: z.ZodType;
  scope: Scope;
  /** One-line description, shown in docs and tool listings. */
  summary: string;
}

/** The operation table: the one source every protocol translates. */
export const operations = {
  'agent.register': {
    request: RegisterRequestSchema,
    reply: RegisterReplySchema,
    scope: 'agent:connect',
    summary: 'Add or refresh an agent and its skills',
  },
  'agent.heartbeat': {
    request: HeartbeatRequestSchema,
    reply: HeartbeatReplySchema,
    scope: 'agent:connect',
    summary: 'Report liveness and load',
  },
  'agent.unregister': {
    request: UnregisterRequestSchema,
    reply: UnregisterReplySchema,
    scope: 'agent:connect',
    summary: 'Leave; leased tasks are requeued at once',
  },
  'task.submit': {
    request: SubmitRequestSchema,
    reply: SubmitReplySchema,
    scope: 'task:submit',
    summary: 'Submit one task',
  },
  'task.submit_batch': {
    request: SubmitBatchRequestSchema,
    reply: SubmitBatchReplySchema,
    scope: 'task:submit',
    summary: 'Submit many tasks atomically',
  },
  'batch.get': {
    request: BatchGetRequestSchema,
    reply: BatchGetReplySchema,
    scope: 'task:read',
    summary: 'A batch and its aggregate status',
  },
  'task.next': {
    request: NextRequestSchema,
    reply: NextReplySchema,
    scope: 'agent:connect',
    summary: 'Lease the most urgent runnable task(s), optionally waiting',
  },
  'task.progress': {
    request: ProgressRequestSchema,
    reply: ProgressReplySchema,
    scope: 'agent:connect',
    summary: 'Report progress on a leased task and extend its lease',
  },
  'task.result': {
    request: ResultRequestSchema,
    reply: ResultReplySchema,
    scope: 'agent:connect',
    summary: 'Report success or failure of a leased task',
  },
  'task.get': {
    request: GetRequestSchema,
    reply: GetReplySchema,
    scope: 'task:read',
    summary: 'Status and result of a task, optionally waiting until terminal',
  },
  'task.cancel': {
    request: CancelRequestSchema,
    reply: CancelReplySchema,
    scope: 'task:cancel',
    summary: 'Cancel queued or running work',
  },
  'agents.status': {
    request: AgentsStatusRequestSchema,
    reply: AgentsStatusReplySchema,
    scope: 'task:read',
    summary: 'All agents with liveness',
  },
} as const satisfies Record<string, OperationSpec>;

/** Name of an operation. */
export type OperationName = keyof typeof operations;
/** Every operation name. */
export const OPERATION_NAMES = Object.keys(operations) as OperationName[];
/** What a caller sends for an operation (before defaults and transforms). */
export type RequestOf<Op extends OperationName> = z.input<(typeof operations)[Op]['request']>;
/** A request after validation. */
export type ParsedRequestOf<Op extends OperationName> = z.output<(typeof operations)[Op]['request']>;
/** The reply of an operation. */
export type ReplyOf<Op extends OperationName> = z.output<(typeof operations)[Op]['reply']>;

/** True when `name` is an operation of the table. */
export function isOperationName(name: unknown): name is OperationName {
  return typeof name === 'string' && Object.hasOwn(operations, name);
}
