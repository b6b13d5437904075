import { describe, expect, it } from '@jest/globals';
import { MAX_JSON_DEPTH } from '@mcpmas/core';
import { proto } from '../src/index.js';
import { HUB_SERVICE, serializer } from '../src/serialize.js';

const task = {
  id: 'task_1',
  capability: 'echo',
  state: 4,
  priority: 0,
  payload: { n: 1, text: 'é'.repeat(300), list: [1, 'two', null, true] },
  result: { ok: true },
  error: undefined,
  progress: undefined,
  attempts: 1,
  errorRetries: 0,
  maxAttempts: 3,
  maxRetries: 0,
  timeoutMs: 30_000,
  agentId: 'agent_1',
  batchId: undefined,
  idempotencyKey: undefined,
  metadata: { tag: 'x' },
  traceparent: undefined,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_001,
  availableAt: 1_700_000_000_000,
  leaseDeadline: undefined,
  deadlineAt: undefined,
  completedAt: 1_700_000_000_002,
  cancelReason: undefined,
} as proto.GetTaskReply['task'];

describe('shared-writer serialisers', () => {
  it('write the same bytes as the generated serialisers, for every Hub method', () => {
    for (const [method, definition] of Object.entries(proto.HubService)) {
      const fast = HUB_SERVICE[method as keyof typeof proto.HubService];
      expect(fast.path).toBe(definition.path);
      expect(fast.responseDeserialize).toBe(definition.responseDeserialize);
      const reply = definition.responseDeserialize(Buffer.alloc(0));
      expect(fast.responseSerialize(reply as never)).toEqual(definition.responseSerialize(reply as never));
      const request = definition.requestDeserialize(Buffer.alloc(0));
      expect(fast.requestSerialize(request as never)).toEqual(definition.requestSerialize(request as never));
    }
    const reply = { task };
    const bytes = HUB_SERVICE.getTask.responseSerialize(reply);
    expect(bytes).toEqual(proto.HubService.getTask.responseSerialize(reply));
    expect(proto.GetTaskReply.decode(bytes).task?.payload).toEqual(task?.payload);
  });

  it('never lets a later message overwrite an earlier one', () => {
    const encode = HUB_SERVICE.getTask.responseSerialize;
    const first = encode({ task: { ...task!, id: 'task_first' } });
    const copy = Buffer.from(first);
    // Larger, then smaller messages through the same shared writer.
    encode({ task: { ...task!, id: 'task_second', payload: 'x'.repeat(5000) } });
    encode({ task: { ...task!, id: 't' } });
    expect(first).toEqual(copy);
    expect(proto.GetTaskReply.decode(first).task?.id).toBe('task_first');
  });

  it('recovers after an encode that threw half-way', () => {
    const broken = serializer<{ fail: boolean }>({
      encode(message, writer) {
        writer!.uint32(10).string('half a message');
        if (message.fail) throw new Error('cannot encode');
        return writer!;
      },
    });
    expect(() => broken({ fail: true })).toThrow('cannot encode');
    const reply = { task };
    expect(HUB_SERVICE.getTask.responseSerialize(reply)).toEqual(
      proto.HubService.getTask.responseSerialize(reply),
    );
  });

  it('encodes a message larger than the kept buffer, and small ones after it', () => {
    const big = { task: { ...task!, payload: 'y'.repeat(200_000) } };
    const bytes = HUB_SERVICE.getTask.responseSerialize(big);
    expect(bytes.length).toBeGreaterThan(200_000);
    expect(proto.GetTaskReply.decode(bytes).task?.payload).toBe(big.task.payload);
    const small = { task };
    expect(HUB_SERVICE.getTask.responseSerialize(small)).toEqual(
      proto.HubService.getTask.responseSerialize(small),
    );
  });
});

describe('task JSON at the deepest the hub accepts (MAX_JSON_DEPTH)', () => {
  /** `levels` containers, one inside the next, objects or arrays. */
  const nested = (levels: number, kind: 'object' | 'array'): unknown => {
    let value: unknown = 'core';
    for (let i = 0; i < levels; i++) value = kind === 'object' ? { in: value } : [value];
    return value;
  };
  const roundTrip = <T>(
    type: { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T },
    message: T,
  ) => type.decode(type.encode(message).finish());

  it.each(['object', 'array'] as const)(
    'decodes within the generated decoders’ recursion limit in the deepest envelopes (%s)',
    (kind) => {
      const json = nested(MAX_JSON_DEPTH, kind);
      const metadata = { key: nested(MAX_JSON_DEPTH, kind) };
      const view = { ...task, payload: json, result: json, metadata, progress: { percent: 1, data: json } };
      const leased = {
        taskId: 't',
        capability: 'c',
        payload: json,
        priority: 0,
        attempt: 1,
        leaseToken: 'x',
        leaseDeadline: 1,
        metadata,
      };
      const server = proto.ServerMessage.fromPartial({ reply: { id: 1, leaseTasks: { tasks: [leased] } } });
      expect(roundTrip(proto.ServerMessage, server)).toEqual(server);
      const viewed = proto.ServerMessage.fromPartial({ reply: { id: 2, getTask: { task: view } } });
      expect(roundTrip(proto.ServerMessage, viewed)).toEqual(viewed);
      const pushed = proto.ServerMessage.fromPartial({ task: leased });
      expect(roundTrip(proto.ServerMessage, pushed)).toEqual(pushed);
      const batch = proto.ClientMessage.fromPartial({
        call: { id: 3, submitBatch: { tasks: [{ capability: 'c', payload: json, metadata }], metadata } },
      });
      expect(roundTrip(proto.ClientMessage, batch)).toEqual(batch);
      const failed = proto.ClientMessage.fromPartial({
        call: {
          id: 4,
          reportResult: {
            taskId: 't',
            agentId: 'a',
            leaseToken: 'x',
            failed: { message: 'm', details: json },
          },
        },
      });
      expect(roundTrip(proto.ClientMessage, failed)).toEqual(failed);
    },
  );
});
