/**
 * {@link HUB_SERVICE}: the generated `mcpmas.v1.Hub` service definition with cheaper
 * serialisers. The generated ones encode each message with a fresh `BinaryWriter`, whose
 * buffer grows by doubling (128, 256, 512 … bytes, each a new zeroed `ArrayBuffer`), then
 * copy the bytes out twice (`finish()` slices, `Buffer.from` copies again). A task reply is a
 * few hundred bytes, so that is four or five buffer allocations per message — a visible
 * share of the hub's CPU and garbage per call. These serialisers encode into one shared
 * writer that keeps its grown buffer, and wrap the one slice `finish()` returns without
 * copying it. The bytes on the wire are the same.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { ValidationError } from '@mcpmas/core';
import * as hub from './generated/mcpmas/v1/hub.js';

/** A generated message type, as far as encoding goes. */
interface MessageType<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/**
 * A writer whose buffer grew past this is not kept for the next message, so one large
 * message (up to the 4 MiB limit) does not pin its buffer for the life of the process.
 */
const KEEP_BYTES = 64 * 1024;

/** Encoding is synchronous and never re-entrant, so one writer serves every message. */
let shared = new BinaryWriter();

/**
 * A serialiser of `type` that reuses one shared writer. Each returned `Buffer` owns its
 * bytes (the slice `finish()` makes), so later messages never overwrite an earlier one.
 */
export function serializer<T>(type: MessageType<T>): (value: T) => Buffer {
  return (value) => {
    let bytes: Uint8Array;
    try {
      bytes = type.encode(value, shared).finish();
    } catch (error) {
      // An encode that threw half-way leaves the writer mid-message: start from a clean one.
      shared = new BinaryWriter();
      throw error;
    }
    if (bytes.byteLength > KEEP_BYTES) shared = new BinaryWriter();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

type HubDefinition = typeof hub.HubService;
type Method = keyof HubDefinition;
type RequestOfMethod<M extends Method> = Parameters<HubDefinition[M]['requestSerialize']>[0];
type ReplyOfMethod<M extends Method> = Parameters<HubDefinition[M]['responseSerialize']>[0];

/** Request and reply message types of every `Hub` method (type-checked against the service). */
const MESSAGES: {
  [M in Method]: [MessageType<RequestOfMethod<M>>, MessageType<ReplyOfMethod<M>>];
} = {
  register: [hub.RegisterRequest, hub.RegisterReply],
  heartbeat: [hub.HeartbeatRequest, hub.HeartbeatReply],
  unregister: [hub.UnregisterRequest, hub.UnregisterReply],
  submitTask: [hub.SubmitTaskRequest, hub.SubmitTaskReply],
  submitBatch: [hub.SubmitBatchRequest, hub.SubmitBatchReply],
  getBatch: [hub.GetBatchRequest, hub.Batch],
  leaseTasks: [hub.LeaseTasksRequest, hub.LeaseTasksReply],
  reportProgress: [hub.ReportProgressRequest, hub.ReportProgressReply],
  reportResult: [hub.ReportResultRequest, hub.ReportResultReply],
  getTask: [hub.GetTaskRequest, hub.GetTaskReply],
  cancelTask: [hub.CancelTaskRequest, hub.CancelTaskReply],
  agentsStatus: [hub.AgentsStatusRequest, hub.AgentsStatusReply],
  nextTask: [hub.NextTaskRequest, hub.TaskPush],
  streamMessages: [hub.ClientMessage, hub.ServerMessage],
};

/**
 * What the hub's request deserialisers give for bytes that are not a valid message (garbage,
 * a truncated message, nesting deeper than the decoder's stack): the handler answers
 * INVALID_ARGUMENT with {@link UndecodableMessage.error}, where a throwing deserialiser would
 * make grpc-js answer INTERNAL "Error deserializing request" and name nothing.
 */
export class UndecodableMessage {
  constructor(
    /** The method's path, e.g. `/mcpmas.v1.Hub/SubmitTask`. */
    readonly path: string,
    /** Why decoding failed. */
    readonly reason: string,
  ) {}

  /** The error the caller gets. */
  error(): ValidationError {
    const message = `the message sent to ${this.path} is not a valid protobuf message: ${this.reason}`;
    return new ValidationError(`invalid request: ${message}`, {
      details: { issues: [{ path: '', message }] },
    });
  }
}

/** `decode`, giving an {@link UndecodableMessage} instead of throwing. */
function deserializer<T>(path: string, decode: (bytes: Buffer) => T): (bytes: Buffer) => T {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      // The generated decoders stop at 100 nested messages, as C++'s and Java's do.
      const reason = /recursion limit|call stack/i.test(text)
        ? 'nested deeper than the 100 messages a protobuf decoder accepts'
        : text;
      return new UndecodableMessage(path, reason) as T;
    }
  };
}

function withSerializers(): HubDefinition {
  const out: Record<string, unknown> = {};
  for (const method of Object.keys(hub.HubService) as Method[]) {
    const [request, reply] = MESSAGES[method] as [MessageType<unknown>, MessageType<unknown>];
    const generated = hub.HubService[method];
    out[method] = {
      ...generated,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(
        generated.path,
        generated.requestDeserialize as (b: Buffer) => unknown,
      ),
      responseSerialize: serializer(reply),
    };
  }
  return out as HubDefinition;
}

/**
 * The `mcpmas.v1.Hub` service definition (paths, reply deserialisers) with the shared-writer
 * serialisers, and request deserialisers that give an {@link UndecodableMessage} for bytes
 * that do not decode.
 */
export const HUB_SERVICE: HubDefinition = withSerializers();
