/**
 * The one table between core operations and the `mcpmas.v1.Hub` service: for each operation
 * its RPC, and the four translations (client: request → protobuf, reply ← protobuf; server:
 * request ← protobuf, reply → protobuf). The same entry serves the unary RPC and the
 * `Call`/`Reply` oneof field of the `StreamMessages` channel, which share the method's name.
 *
 * Protobuf has no "absent" for repeated fields and no `undefined` JSON value, so an empty
 * list decodes as absent and an unset `google.protobuf.Value` as `undefined`, matching the
 * JSON the other protocols carry.
 */
import type { LeasedTask as CoreLeasedTask, OperationName, SerializedError } from '@mcpmas/core';
import type {
  AgentsStatusReply,
  Batch,
  CancelTaskReply,
  GetTaskReply,
  HeartbeatReply,
  HubService,
  LeaseTasksReply,
  RegisterReply,
  ReportProgressReply,
  ReportResultReply,
  SubmitBatchReply,
  SubmitTaskReply,
  SubmitTaskRequest,
  UnregisterReply,
} from './generated/mcpmas/v1/hub.js';
import {
  type Agent,
  AgentStatus,
  type LeasedTask,
  type Progress,
  type Error as ProtoError,
  type Skill,
  type Task,
  type TaskError,
  type TaskRef,
  TaskState,
} from './generated/mcpmas/v1/types.js';

/** A JSON object as the core sees requests and replies. */
type Json = Record<string, unknown>;

/** Method names of the `Hub` service (also the `Call`/`Reply` oneof field names). */
export type HubMethod = keyof typeof HubService;

/** How one operation travels over gRPC. */
export interface OperationCodec {
  /** The RPC (and the stream oneof field). */
  method: HubMethod;
  /** Client: a core request → the protobuf request. */
  encodeRequest(request: Json): unknown;
  /** Server: the protobuf request → a core request. */
  decodeRequest(message: never): Json;
  /** Server: a core reply → the protobuf reply. */
  encodeReply(reply: Json): unknown;
  /** Client: the protobuf reply → a core reply. */
  decodeReply(message: never): Json;
}

// ---------------------------------------------------------------------------------------
// Helpers

/**
 * A copy of `value`, then the fields of `extra` (as `{ ...value, ...extra }` would be), without
 * the keys whose value is `undefined`, so absent stays absent. Copies rather than `delete`s:
 * deleting keys turns an object into a slow dictionary, and the core validates and reads
 * every request once more after this. It also stands in for `{ ...value, newKey }`: in V8
 * such a spread gets a hidden class of its own on every call (and every reader of it goes
 * megamorphic), while a copy built key by key shares one.
 */
function compact<T extends Json>(value: T, extra?: Json): T {
  const out: Json = {};
  for (const key in value) {
    const v = value[key];
    if (v !== undefined) out[key] = v;
  }
  if (extra) {
    for (const key in extra) {
      const v = extra[key];
      if (v !== undefined) out[key] = v;
      else if (Object.hasOwn(out, key)) delete out[key];
    }
  }
  return out as T;
}

/** An empty repeated field means "absent". */
function list<T>(values: T[] | undefined): T[] | undefined {
  return values && values.length > 0 ? values : undefined;
}

const STATE_TO_PROTO: Record<string, TaskState> = {
  queued: TaskState.TASK_STATE_QUEUED,
  delayed: TaskState.TASK_STATE_DELAYED,
  leased: TaskState.TASK_STATE_LEASED,
  succeeded: TaskState.TASK_STATE_SUCCEEDED,
  failed: TaskState.TASK_STATE_FAILED,
  cancelled: TaskState.TASK_STATE_CANCELLED,
  timed_out: TaskState.TASK_STATE_TIMED_OUT,
  dead: TaskState.TASK_STATE_DEAD,
};
const STATE_FROM_PROTO = new Map(Object.entries(STATE_TO_PROTO).map(([k, v]) => [v, k]));

function stateToProto(state: unknown): TaskState {
  return STATE_TO_PROTO[String(state)] ?? TaskState.TASK_STATE_UNSPECIFIED;
}
function stateFromProto(state: TaskState): string {
  return STATE_FROM_PROTO.get(state) ?? 'unspecified';
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const optNum = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const obj = (v: unknown): Json | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

// Records -------------------------------------------------------------------------------

function skillToProto(s: unknown): Skill {
  const v = obj(s) ?? {};
  return {
    id: str(v.id),
    name: str(v.name),
    description: optStr(v.description),
    tags: arr(v.tags).map(String),
  };
}
function skillFromProto(s: Skill): Json {
  return compact({ id: s.id, name: s.name, description: s.description, tags: list(s.tags) });
}

function taskErrorToProto(e: unknown): TaskError | undefined {
  const v = obj(e);
  if (!v) return undefined;
  return {
    message: str(v.message),
    code: optStr(v.code),
    retryable: typeof v.retryable === 'boolean' ? v.retryable : undefined,
    details: v.details,
  };
}
function taskErrorFromProto(e: TaskError | undefined): Json | undefined {
  if (!e) return undefined;
  return compact({ message: e.message, code: e.code, retryable: e.retryable, details: e.details });
}

function progressToProto(p: unknown): Progress | undefined {
  const v = obj(p);
  if (!v) return undefined;
  return { percent: optNum(v.percent), message: optStr(v.message), data: v.data };
}
function progressFromProto(p: Progress | undefined): Json | undefined {
  if (!p) return undefined;
  return compact({ percent: p.percent, message: p.message, data: p.data });
}

function taskToProto(t: unknown): Task {
  const v = obj(t) ?? {};
  return {
    id: str(v.id),
    capability: str(v.capability),
    state: stateToProto(v.state),
    priority: num(v.priority),
    payload: v.payload,
    result: v.result,
    error: taskErrorToProto(v.error),
    progress: progressToProto(v.progress),
    attempts: num(v.attempts),
    errorRetries: num(v.errorRetries),
    maxAttempts: num(v.maxAttempts),
    maxRetries: num(v.maxRetries),
    timeoutMs: num(v.timeoutMs),
    agentId: optStr(v.agentId),
    batchId: optStr(v.batchId),
    idempotencyKey: optStr(v.idempotencyKey),
    metadata: obj(v.metadata) ?? {},
    traceparent: optStr(v.traceparent),
    createdAt: num(v.createdAt),
    updatedAt: num(v.updatedAt),
    availableAt: num(v.availableAt),
    leaseDeadline: optNum(v.leaseDeadline),
    deadlineAt: optNum(v.deadlineAt),
    completedAt: optNum(v.completedAt),
    cancelReason: optStr(v.cancelReason),
  };
}
function taskFromProto(t: Task | undefined): Json | undefined {
  if (!t) return undefined;
  return compact({
    ...t,
    state: stateFromProto(t.state),
    error: taskErrorFromProto(t.error),
    progress: progressFromProto(t.progress),
    metadata: t.metadata ?? {},
  });
}

/** A leased task as protobuf (shared with the push streams). */
export function leasedToProto(t: CoreLeasedTask | Json): LeasedTask {
  const v = t as Json;
  return {
    taskId: str(v.taskId),
    capability: str(v.capability),
    payload: v.payload,
    priority: num(v.priority),
    attempt: num(v.attempt),
    leaseToken: str(v.leaseToken),
    leaseDeadline: num(v.leaseDeadline),
    timeoutMs: num(v.timeoutMs),
    metadata: obj(v.metadata) ?? {},
    traceparent: optStr(v.traceparent),
    batchId: optStr(v.batchId),
  };
}
/** A leased task from protobuf. */
export function leasedFromProto(t: LeasedTask): CoreLeasedTask {
  return compact({ ...t, metadata: t.metadata ?? {} }) as unknown as CoreLeasedTask;
}

function refToProto(r: unknown): TaskRef {
  const v = obj(r) ?? {};
  return { taskId: str(v.taskId), state: stateToProto(v.state) };
}
function refFromProto(r: TaskRef): Json {
  return { taskId: r.taskId, state: stateFromProto(r.state) };
}

function agentToProto(a: unknown): Agent {
  const v = obj(a) ?? {};
  const load = obj(v.load);
  return {
    id: str(v.id),
    name: str(v.name),
    skills: arr(v.skills).map(skillToProto),
    metadata: obj(v.metadata) ?? {},
    protocol: optStr(v.protocol),
    status: v.status === 'suspect' ? AgentStatus.AGENT_STATUS_SUSPECT : AgentStatus.AGENT_STATUS_ALIVE,
    registeredAt: num(v.registeredAt),
    lastHeartbeat: num(v.lastHeartbeat),
    load: load ? { running: num(load.running), capacity: num(load.capacity) } : undefined,
    leasedTasks: num(v.leasedTasks),
  };
}
function agentFromProto(a: Agent): Json {
  return compact({
    ...a,
    skills: a.skills.map(skillFromProto),
    metadata: a.metadata ?? {},
    status: a.status === AgentStatus.AGENT_STATUS_SUSPECT ? 'suspect' : 'alive',
    load: a.load ? { running: a.load.running, capacity: a.load.capacity } : undefined,
  });
}

/** The serialised mcpmas error as protobuf (stream replies and error messages). */
export function errorToProto(e: SerializedError): ProtoError {
  return { code: e.code, message: e.message, retryable: e.retryable, details: e.details };
}
/** The serialised mcpmas error from protobuf. */
export function errorFromProto(e: ProtoError): Json {
  return compact({ code: e.code, message: e.message, retryable: e.retryable, details: e.details });
}

function submitToProto(t: unknown): SubmitTaskRequest {
  const v = obj(t) ?? {};
  return {
    capability: str(v.capability),
    payload: v.payload,
    priorityValue: typeof v.priority === 'number' ? v.priority : undefined,
    priorityName: typeof v.priority === 'string' ? v.priority : undefined,
    timeoutMs: optNum(v.timeoutMs),
    maxAttempts: optNum(v.maxAttempts),
    maxRetries: optNum(v.maxRetries),
    idempotencyKey: optStr(v.idempotencyKey),
    delayMs: optNum(v.delayMs),
    deadlineMs: optNum(v.deadlineMs),
    metadata: obj(v.metadata),
    traceparent: optStr(v.traceparent),
  };
}
function submitFromProto(t: SubmitTaskRequest): Json {
  const { priorityValue, priorityName, ...rest } = t;
  return compact(rest, { priority: priorityValue ?? priorityName });
}

// ---------------------------------------------------------------------------------------
// The table

/** Each operation of the core's table and how it travels over gRPC. */
export const CODECS: { readonly [Op in OperationName]: OperationCodec } = {
  'agent.register': {
    method: 'register',
    encodeRequest: (r) => ({
      agentId: optStr(r.agentId),
      name: str(r.name),
      skills: arr(r.skills).map(skillToProto),
      metadata: obj(r.metadata),
      protocol: optStr(r.protocol),
    }),
    decodeRequest: (m: { skills: Skill[] } & Json) => compact({ ...m, skills: m.skills.map(skillFromProto) }),
    encodeReply: (r) => r,
    decodeReply: (m: RegisterReply) => ({ ...m }),
  },
  'agent.heartbeat': {
    method: 'heartbeat',
    encodeRequest: (r) => {
      const load = obj(r.load);
      return {
        agentId: str(r.agentId),
        load: load ? { running: num(load.running), capacity: num(load.capacity) } : undefined,
      };
    },
    decodeRequest: (m: Json) => compact(m),
    encodeReply: (r) => r,
    decodeReply: (m: HeartbeatReply) => ({ ...m }),
  },
  'agent.unregister': {
    method: 'unregister',
    encodeRequest: (r) => ({ agentId: str(r.agentId) }),
    decodeRequest: (m: Json) => ({ ...m }),
    encodeReply: (r) => r,
    decodeReply: (m: UnregisterReply) => ({ ...m }),
  },
  'task.submit': {
    method: 'submitTask',
    encodeRequest: submitToProto,
    decodeRequest: submitFromProto,
    encodeReply: (r) => ({ task: taskToProto(r.task), created: r.created === true }),
    decodeReply: (m: SubmitTaskReply) => ({ task: taskFromProto(m.task), created: m.created }),
  },
  'task.submit_batch': {
    method: 'submitBatch',
    encodeRequest: (r) => ({
      tasks: arr(r.tasks).map(submitToProto),
      batchId: optStr(r.batchId),
      metadata: obj(r.metadata),
    }),
    decodeRequest: (m: { tasks: SubmitTaskRequest[] } & Json) =>
      compact({ ...m, tasks: m.tasks.map(submitFromProto) }),
    encodeReply: (r) => ({
      batchId: str(r.batchId),
      created: r.created === true,
      tasks: arr(r.tasks).map(refToProto),
    }),
    decodeReply: (m: SubmitBatchReply) => ({ ...m, tasks: m.tasks.map(refFromProto) }),
  },
  'batch.get': {
    method: 'getBatch',
    encodeRequest: (r) => ({ batchId: str(r.batchId) }),
    decodeRequest: (m: Json) => ({ ...m }),
    encodeReply: (r) => ({ ...r, tasks: arr(r.tasks).map(refToProto) }),
    decodeReply: (m: Batch) => ({ ...m, tasks: m.tasks.map(refFromProto) }),
  },
  'task.next': {
    method: 'leaseTasks',
    encodeRequest: (r) => ({
      agentId: str(r.agentId),
      capabilities: arr(r.capabilities).map(String),
      max: optNum(r.max),
      waitMs: optNum(r.waitMs),
    }),
    decodeRequest: (m: { capabilities: string[] } & Json) =>
      compact({ ...m, capabilities: list(m.capabilities) }),
    encodeReply: (r) => ({ tasks: arr(r.tasks).map((t) => leasedToProto(t as Json)) }),
    decodeReply: (m: LeaseTasksReply) => ({ tasks: m.tasks.map(leasedFromProto) }),
  },
  'task.progress': {
    method: 'reportProgress',
    encodeRequest: (r) => ({
      taskId: str(r.taskId),
      agentId: str(r.agentId),
      leaseToken: str(r.leaseToken),
      progress: progressToProto(r.progress),
    }),
    decodeRequest: (m: { progress?: Progress } & Json) =>
      compact({ ...m, progress: progressFromProto(m.progress) }),
    encodeReply: (r) => r,
    decodeReply: (m: ReportProgressReply) => ({ ...m }),
  },
  'task.result': {
    method: 'reportResult',
    encodeRequest: (r) => ({
      taskId: str(r.taskId),
      agentId: str(r.agentId),
      leaseToken: str(r.leaseToken),
      succeeded: r.status === 'succeeded' ? { result: r.result } : undefined,
      failed: r.status === 'failed' ? taskErrorToProto(r.error) : undefined,
    }),
    decodeRequest: (m: { succeeded?: { result: unknown }; failed?: TaskError } & Json) => {
      const { succeeded, failed, ...ref } = m;
      if (succeeded) return compact(ref, { status: 'succeeded', result: succeeded.result });
      if (failed) return compact(ref, { status: 'failed', error: taskErrorFromProto(failed) });
      return { ...ref };
    },
    encodeReply: (r) => ({ task: taskToProto(r.task) }),
    decodeReply: (m: ReportResultReply) => ({ task: taskFromProto(m.task) }),
  },
  'task.get': {
    method: 'getTask',
    encodeRequest: (r) => ({ taskId: str(r.taskId), waitMs: optNum(r.waitMs) }),
    decodeRequest: (m: Json) => compact(m),
    encodeReply: (r) => ({ task: taskToProto(r.task) }),
    decodeReply: (m: GetTaskReply) => ({ task: taskFromProto(m.task) }),
  },
  'task.cancel': {
    method: 'cancelTask',
    encodeRequest: (r) => ({ taskId: str(r.taskId), reason: optStr(r.reason) }),
    decodeRequest: (m: Json) => compact(m),
    encodeReply: (r) => ({ task: taskToProto(r.task) }),
    decodeReply: (m: CancelTaskReply) => ({ task: taskFromProto(m.task) }),
  },
  'agents.status': {
    method: 'agentsStatus',
    encodeRequest: (r) => ({ capability: optStr(r.capability) }),
    decodeRequest: (m: Json) => compact(m),
    encodeReply: (r) => ({
      agents: arr(r.agents).map(agentToProto),
      serverTime: num(r.serverTime),
      leader: obj(r.leader)
        ? { hubId: str(obj(r.leader)!.hubId), epoch: num(obj(r.leader)!.epoch) }
        : undefined,
    }),
    decodeReply: (m: AgentsStatusReply) => ({
      agents: m.agents.map(agentFromProto),
      serverTime: m.serverTime,
      leader: m.leader ? { ...m.leader } : null,
    }),
  },
};

/** The operation served by a `Hub` method. */
export const OPERATION_BY_METHOD: ReadonlyMap<string, OperationName> = new Map(
  (Object.entries(CODECS) as Array<[OperationName, OperationCodec]>).map(([op, c]) => [c.method, op]),
);
