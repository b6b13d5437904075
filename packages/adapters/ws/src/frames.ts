/**
 * The WebSocket frame protocol: JSON text frames with a `type`, and a request `id` on every
 * frame that belongs to a call. One module for both sides, so the server's parser and the
 * client's encoder cannot drift apart.
 */
import { IdSchema, type LeasedTask, type SerializedError, ValidationError } from '@mcpmas/core';

/** Protocol name and version announced in the `hello` frame. */
export const WS_PROTOCOL = 'mcpmas-ws/1';

/** A request id: a string of 1–128 characters or a safe integer, echoed in the reply. */
export type FrameId = string | number;

/** Client → hub: perform operation `op` with request `req`. */
export interface CallFrame {
  type: 'call';
  id: FrameId;
  op: string;
  req?: unknown;
  /** W3C traceparent of this call. */
  traceparent?: string;
}

/** Client → hub: give up on call `id` (its wait on the hub ends at once). */
export interface AbortFrame {
  type: 'abort';
  id: FrameId;
}

/** Client → hub: the hub may push up to `credits` more tasks to `agentId` (credits add up). */
export interface CreditsFrame {
  type: 'credits';
  agentId: string;
  credits: number;
  /** Narrows what is pushed to these of the agent's skills. */
  capabilities?: string[];
}

/** Every frame a client may send. */
export type ClientFrame = CallFrame | AbortFrame | CreditsFrame;

/** Hub → client, first frame on every connection. */
export interface HelloFrame {
  type: 'hello';
  protocol: typeof WS_PROTOCOL;
  /** Largest frame the hub reads; a larger one closes the connection with 1009. */
  maxPayloadBytes: number;
  /** The hub pings this often; a client may treat a longer silence as a dead connection. */
  pingIntervalMs: number;
}

/** Hub → client: the reply to call `id`. */
export type ReplyFrame =
  | { type: 'reply'; id: FrameId; ok: true; res: unknown }
  | { type: 'reply'; id: FrameId; ok: false; error: SerializedError };

/** Hub → client: a task leased to `agentId`, pushed because the agent granted credits. */
export interface TaskFrame {
  type: 'task';
  agentId: string;
  task: LeasedTask;
}

/** Hub → client: a task pushed to `agentId` was cancelled; stop working on it. */
export interface CancelFrame {
  type: 'cancel';
  agentId: string;
  taskId: string;
  reason?: string;
}

/** Hub → client: a failure not tied to a call (bad frame, refused credits); `id` when known. */
export interface ErrorFrame {
  type: 'error';
  id?: FrameId;
  error: SerializedError;
}

/** Every frame the hub sends. */
export type ServerFrame = HelloFrame | ReplyFrame | TaskFrame | CancelFrame | ErrorFrame;

/** Largest credit grant in one frame. */
export const MAX_CREDITS_PER_FRAME = 10_000;

/** True for a valid request id. */
export function isFrameId(value: unknown): value is FrameId {
  if (typeof value === 'number') return Number.isSafeInteger(value);
  return typeof value === 'string' && value.length > 0 && value.length <= 128;
}

/** A frame that failed to parse, with the id to answer under when one could be read. */
export class FrameError extends ValidationError {
  constructor(
    message: string,
    readonly id?: FrameId,
  ) {
    super(message, { details: { issues: [{ path: '', message }] } });
  }
}

/** The fields each client frame may have. */
const FRAME_FIELDS: Record<ClientFrame['type'], ReadonlySet<string>> = {
  call: new Set(['type', 'id', 'op', 'req', 'traceparent']),
  abort: new Set(['type', 'id']),
  credits: new Set(['type', 'id', 'agentId', 'credits', 'capabilities']),
};

/** Refuses a frame with a field its type does not have (a typo would otherwise be ignored). */
function refuseUnknownFields(frame: Record<string, unknown>, type: ClientFrame['type'], id?: FrameId): void {
  const allowed = FRAME_FIELDS[type];
  const unknown: string[] = [];
  for (const key in frame) {
    if (!allowed.has(key)) unknown.push(key);
  }
  if (unknown.length > 0) {
    const list = unknown.map((key) => JSON.stringify(key)).join(', ');
    throw new FrameError(
      `unknown field(s) in ${type === 'abort' ? 'an' : 'a'} ${type} frame: ${list}; it has ${[...allowed].join(', ')}`,
      id,
    );
  }
}

/**
 * Parses one text frame from a client. Throws a {@link FrameError} naming what is wrong (and
 * carrying the id when it could be read) for anything that is not a valid client frame.
 */
export function parseClientFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FrameError(`invalid JSON: ${(error as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new FrameError('a frame must be a JSON object with a "type"');
  }
  const frame = value as Record<string, unknown>;
  const id = isFrameId(frame.id) ? frame.id : undefined;
  switch (frame.type) {
    case 'call': {
      if (id === undefined) throw new FrameError('a call frame needs an "id": a string or an integer');
      refuseUnknownFields(frame, 'call', id);
      if (typeof frame.op !== 'string' || frame.op === '')
        throw new FrameError('a call frame needs an "op": the operation name', id);
      if (frame.traceparent !== undefined && typeof frame.traceparent !== 'string')
        throw new FrameError('"traceparent" must be a string', id);
      const call: CallFrame = { type: 'call', id, op: frame.op, req: frame.req };
      if (typeof frame.traceparent === 'string') call.traceparent = frame.traceparent;
      return call;
    }
    case 'abort':
      if (id === undefined) throw new FrameError('an abort frame needs the "id" of the call to abort');
      refuseUnknownFields(frame, 'abort', id);
      return { type: 'abort', id };
    case 'credits': {
      refuseUnknownFields(frame, 'credits', id);
      const agentId = IdSchema.safeParse(frame.agentId);
      if (!agentId.success) throw new FrameError('credits: "agentId" must be a valid agent id', id);
      const credits = frame.credits;
      if (typeof credits !== 'number' || !Number.isInteger(credits) || credits < 1) {
        throw new FrameError('credits: "credits" must be a positive integer', id);
      }
      if (credits > MAX_CREDITS_PER_FRAME) {
        throw new FrameError(`credits: "credits" must be at most ${MAX_CREDITS_PER_FRAME}`, id);
      }
      const out: CreditsFrame = { type: 'credits', agentId: agentId.data, credits };
      if (frame.capabilities !== undefined) {
        const caps = IdSchema.array().min(1).max(256).safeParse(frame.capabilities);
        if (!caps.success) throw new FrameError('credits: "capabilities" must be a list of skill ids', id);
        out.capabilities = caps.data;
      }
      return out;
    }
    default:
      throw new FrameError(
        typeof frame.type === 'string'
          ? `unknown frame type "${frame.type}"; expected call, abort or credits`
          : 'a frame needs a "type": call, abort or credits',
        id,
      );
  }
}
