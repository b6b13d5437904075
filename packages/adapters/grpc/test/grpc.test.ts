import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { ModelAgent } from '@mcpmas/agent';
import {
  type CallContext,
  createDispatcher,
  createMemoryBackend,
  ErrorCode,
  HubClient,
  type HubDispatcher,
  type OperationName,
  PluginHost,
  TimeoutError,
} from '@mcpmas/core';
import { eventually } from '@mcpmas/testkit';
import {
  ERROR_TRAILER,
  GRPC_STATUS_BY_CODE,
  GrpcServerAdapter,
  GrpcTransport,
  health,
  proto,
} from '../src/index.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const skills = (...ids: string[]) => ids.map((id) => ({ id, name: id }));
const ctx: CallContext = { protocol: 'test' };

interface Hub {
  dispatcher: HubDispatcher;
  contexts: Array<{ operation: OperationName; context: CallContext; ms?: number }>;
}

function createHub(slow: Partial<Record<OperationName, number>> = {}): Hub {
  const backend = createMemoryBackend({ queue: { crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 } } });
  const contexts: Hub['contexts'] = [];
  const plugins = new PluginHost([
    {
      name: 'recorder',
      around: async (call, next) => {
        const entry: Hub['contexts'][number] = { operation: call.operation, context: call.context };
        contexts.push(entry);
        const t0 = Date.now();
        const extra = slow[call.operation];
        if (extra) await delay(extra);
        try {
          return await next();
        } finally {
          entry.ms = Date.now() - t0;
        }
      },
    },
  ]);
  const dispatcher = createDispatcher({ registry: backend.registry, queue: backend.queue, plugins });
  cleanups.push(async () => {
    dispatcher.close();
    await backend.close();
  });
  return { dispatcher, contexts };
}

async function startServer(hub: Hub, options: ConstructorParameters<typeof GrpcServerAdapter>[0] = {}) {
  const server = new GrpcServerAdapter({ port: 0, ...options });
  await server.start(hub.dispatcher);
  cleanups.push(() => server.stop());
  return server;
}

/** A generic grpc-js client to call the generated service definitions directly. */
function rawClient(address: string): Client {
  const client = new Client(address, credentials.createInsecure());
  cleanups.push(() => client.close());
  return client;
}

function unary<Req, Res>(
  client: Client,
  def: {
    path: string;
    requestSerialize: (v: Req) => Buffer;
    responseDeserialize: (b: Buffer) => Res;
  },
  request: Req,
  options: { deadline?: number; metadata?: Metadata } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      options.metadata ?? new Metadata(),
      options.deadline ? { deadline: options.deadline } : {},
      (error: ServiceError | null, value?: Res) => (error ? reject(error) : resolve(value as Res)),
    );
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('grpc status mapping', () => {
  it('maps every core error code through one table and sends the exact error in a trailer', async () => {
    expect(GRPC_STATUS_BY_CODE).toMatchObject({
      [ErrorCode.Validation]: status.INVALID_ARGUMENT,
      [ErrorCode.Unauthenticated]: status.UNAUTHENTICATED,
      [ErrorCode.Forbidden]: status.PERMISSION_DENIED,
      [ErrorCode.NotFound]: status.NOT_FOUND,
      [ErrorCode.Conflict]: status.FAILED_PRECONDITION,
      [ErrorCode.PayloadTooLarge]: status.RESOURCE_EXHAUSTED,
      [ErrorCode.RateLimited]: status.RESOURCE_EXHAUSTED,
      [ErrorCode.Unavailable]: status.UNAVAILABLE,
      [ErrorCode.Timeout]: status.DEADLINE_EXCEEDED,
      [ErrorCode.Unsupported]: status.UNIMPLEMENTED,
      [ErrorCode.Internal]: status.INTERNAL,
    });
    const hub = createHub();
    const server = await startServer(hub);
    const client = rawClient(server.address().address);
    const error = (await unary(client, proto.HubService.getTask, { taskId: 'nope' }).catch(
      (e) => e,
    )) as ServiceError;
    expect(error.code).toBe(status.NOT_FOUND);
    const trailer = JSON.parse(String(error.metadata.get(ERROR_TRAILER)[0]));
    expect(trailer).toMatchObject({
      code: 'NOT_FOUND',
      retryable: false,
      message: expect.stringMatching(/nope/),
    });
  });
});

describe('grpc deadlines', () => {
  it('a call deadline aborts the hub-side wait (ctx.signal) and fails with DEADLINE_EXCEEDED', async () => {
    const hub = createHub();
    const server = await startServer(hub);
    const client = rawClient(server.address().address);
    const { task } = await hub.dispatcher.call('task.submit', { capability: 'dl' }, ctx);
    const t0 = Date.now();
    const error = (await unary(
      client,
      proto.HubService.getTask,
      { taskId: task.id, waitMs: 20_000 },
      { deadline: Date.now() + 300 },
    ).catch((e) => e)) as ServiceError;
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(3000);
    const seen = await eventually(() =>
      hub.contexts.find((c) => c.operation === 'task.get' && c.ms !== undefined),
    );
    expect(seen.context.signal?.aborted).toBe(true);
    expect(seen.ms).toBeLessThan(3000);
  });

  it('a client cancel ends the hub-side wait of a call that is already waiting', async () => {
    const hub = createHub();
    const server = await startServer(hub);
    const client = rawClient(server.address().address);
    const { task } = await hub.dispatcher.call('task.submit', { capability: 'cancel-me' }, ctx);
    const def = proto.HubService.getTask;
    const call = client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      { taskId: task.id, waitMs: 20_000 },
      new Metadata(),
      {},
      () => undefined,
    );
    // The call listens for cancel only once it waits: cancel after it started waiting.
    await eventually(() => hub.contexts.find((c) => c.operation === 'task.get'));
    await delay(50);
    call.cancel();
    const seen = await eventually(() =>
      hub.contexts.find((c) => c.operation === 'task.get' && c.ms !== undefined),
    );
    expect(seen.context.signal?.aborted).toBe(true);
    expect(seen.ms).toBeLessThan(3000);
  });

  it('the transport rejects with a TimeoutError when its deadline passes', async () => {
    const hub = createHub({ 'agents.status': 1500 });
    const server = await startServer(hub);
    const transport = new GrpcTransport({ address: server.address().address, deadlineMs: 200 });
    cleanups.push(() => transport.stop());
    await transport.start();
    await expect(new HubClient(transport).agentsStatus()).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe('grpc garbage on the wire', () => {
  /** Sends one raw gRPC request over HTTP/2 and returns the grpc-status it ends with. */
  async function rawCall(
    address: string,
    path: string,
    body: Buffer,
  ): Promise<{ status: number; message: string }> {
    const session = http2Connect(`http://${address}`);
    cleanups.push(() => session.close());
    return new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let headers: Record<string, unknown> = {};
      req.on('response', (h) => {
        headers = h;
      });
      req.on('trailers', (t) => {
        resolve({
          status: Number(t['grpc-status']),
          message: decodeURIComponent(String(t['grpc-message'] ?? '')),
        });
      });
      req.on('end', () => {
        if (headers['grpc-status'] !== undefined)
          resolve({
            status: Number(headers['grpc-status']),
            message: decodeURIComponent(String(headers['grpc-message'] ?? '')),
          });
      });
      req.on('error', reject);
      req.resume();
      req.end(body);
    });
  }

  function frame(message: Buffer, declared = message.length): Buffer {
    const head = Buffer.alloc(5);
    head.writeUInt8(0, 0);
    head.writeUInt32BE(declared, 1);
    return Buffer.concat([head, message]);
  }

  it('answers garbage bytes, truncated protobufs and unknown methods with an error status; the server stays up', async () => {
    const hub = createHub();
    const server = await startServer(hub);
    const { address } = server.address();
    const garbage = await rawCall(
      address,
      '/mcpmas.v1.Hub/SubmitTask',
      frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])),
    );
    expect(garbage).toMatchObject({
      status: status.INVALID_ARGUMENT,
      message: expect.stringMatching(/\/mcpmas\.v1\.Hub\/SubmitTask is not a valid protobuf message: \S/),
    });
    const valid = Buffer.from(
      proto.SubmitTaskRequest.encode(
        proto.SubmitTaskRequest.fromPartial({ capability: 'c', metadata: { a: 'b'.repeat(50) } }),
      ).finish(),
    );
    const truncated = await rawCall(
      address,
      '/mcpmas.v1.Hub/SubmitTask',
      frame(valid.subarray(0, valid.length - 10)),
    );
    expect(truncated).toMatchObject({
      status: status.INVALID_ARGUMENT,
      message: expect.stringMatching(/not a valid protobuf message/),
    });
    const shortFrame = await rawCall(address, '/mcpmas.v1.Hub/SubmitTask', frame(valid, valid.length + 100));
    expect(shortFrame.status).not.toBe(status.OK);
    // A payload nested deeper than any recursive decoder copes with, built by hand:
    // google.protobuf.Value { list_value (6): ListValue { values (1): Value { ... } } }.
    const varint = (n: number) => {
      const out: number[] = [];
      for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80);
      out.push(n);
      return Buffer.from(out);
    };
    const field = (tag: number, body: Buffer) =>
      Buffer.concat([Buffer.from([tag]), varint(body.length), body]);
    let value = Buffer.from([0x08, 0x00]); // null_value
    for (let i = 0; i < 20_000; i++) value = field(0x32, field(0x0a, value));
    const deep = Buffer.concat([
      Buffer.from(
        proto.SubmitTaskRequest.encode(proto.SubmitTaskRequest.fromPartial({ capability: 'c' })).finish(),
      ),
      field(0x12, value), // payload (2)
    ]);
    expect(await rawCall(address, '/mcpmas.v1.Hub/SubmitTask', frame(deep))).toEqual({
      status: status.INVALID_ARGUMENT,
      message:
        'invalid request: the message sent to /mcpmas.v1.Hub/SubmitTask is not a valid protobuf message: nested deeper than the 100 messages a protobuf decoder accepts',
    });
    const unknown = await rawCall(address, '/mcpmas.v1.Hub/Explode', frame(valid));
    expect(unknown.status).toBe(status.UNIMPLEMENTED);
    const notGrpc = await rawCall(address, '/mcpmas.v1.Hub/SubmitTask', Buffer.from('hello, is this HTTP?'));
    expect(notGrpc.status).not.toBe(status.OK);

    // A message over the size limit is refused by grpc-js itself.
    const small = await startServer(hub, { maxMessageBytes: 4096 });
    const t = new GrpcTransport({ address: small.address().address });
    cleanups.push(() => t.stop());
    await t.start();
    await expect(
      new HubClient(t).submit({ capability: 'c', payload: 'x'.repeat(10_000) }),
    ).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });

    // Still serving.
    const transport = new GrpcTransport({ address });
    cleanups.push(() => transport.stop());
    await transport.start();
    expect((await new HubClient(transport).submit({ capability: 'c' })).task.state).toBe('queued');
  });
});

describe('grpc health', () => {
  it('reports SERVING for the server and the hub service, NOT_FOUND for others', async () => {
    const hub = createHub();
    const server = await startServer(hub);
    const client = rawClient(server.address().address);
    for (const service of ['', 'mcpmas.v1.Hub']) {
      expect(await unary(client, health.HealthService.check, { service })).toEqual({
        status: health.HealthCheckResponse_ServingStatus.SERVING,
      });
    }
    const error = (await unary(client, health.HealthService.check, { service: 'nope' }).catch(
      (e) => e,
    )) as ServiceError;
    expect(error.code).toBe(status.NOT_FOUND);
  });
});

describe('grpc streams', () => {
  it('NextTask streams tasks as they arrive, at most max_in_flight unfinished, and cancel notices', async () => {
    const hub = createHub();
    const server = await startServer(hub);
    const client = rawClient(server.address().address);
    const { agentId } = await hub.dispatcher.call('agent.register', { name: 's', skills: skills('ns') }, ctx);
    const def = proto.HubService.nextTask;
    const stream = client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, {
      agentId,
      capabilities: [],
      maxInFlight: 2,
    });
    cleanups.push(() => stream.cancel());
    const pushes: proto.TaskPush[] = [];
    stream.on('data', (p: proto.TaskPush) => pushes.push(p));
    stream.on('error', () => undefined);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await hub.dispatcher.call('task.submit', { capability: 'ns', payload: i }, ctx)).task.id);
    await eventually(() => pushes.filter((p) => p.task).length === 2);
    await delay(300);
    expect(pushes.filter((p) => p.task)).toHaveLength(2);
    const first = pushes[0]!.task!;
    expect(first).toMatchObject({ taskId: ids[0], payload: 0 });
    await hub.dispatcher.call(
      'task.result',
      { taskId: first.taskId, agentId, leaseToken: first.leaseToken, status: 'succeeded' },
      ctx,
    );
    await eventually(() => pushes.filter((p) => p.task).length === 3);
    await hub.dispatcher.call('task.cancel', { taskId: ids[2]! }, ctx);
    await eventually(() => pushes.find((p) => p.cancel?.taskId === ids[2]));
  });

  it('StreamMessages carries calls with ids, credit grants and pushes; bad messages get errors', async () => {
    const hub = createHub();
    const server = await startServer(hub);
    const client = rawClient(server.address().address);
    const def = proto.HubService.streamMessages;
    const stream = client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize);
    cleanups.push(() => stream.cancel());
    const got: proto.ServerMessage[] = [];
    stream.on('data', (m: proto.ServerMessage) => got.push(m));
    stream.on('error', () => undefined);
    stream.write(
      proto.ClientMessage.fromPartial({
        call: { id: 1, register: { name: 'bidi', skills: [{ id: 'bd', name: 'bd', tags: [] }] } },
      }),
    );
    const reg = await eventually(() => got.find((m) => m.reply?.id === 1));
    const agentId = reg.reply!.register!.agentId;
    stream.write(proto.ClientMessage.fromPartial({ call: { id: 2, getTask: { taskId: 'missing' } } }));
    expect((await eventually(() => got.find((m) => m.reply?.id === 2))).reply!.error).toMatchObject({
      code: 'NOT_FOUND',
    });
    stream.write(proto.ClientMessage.fromPartial({ call: { id: 3 } }));
    expect((await eventually(() => got.find((m) => m.reply?.id === 3))).reply!.error).toMatchObject({
      code: 'VALIDATION',
    });
    stream.write(proto.ClientMessage.fromPartial({ credits: { agentId, credits: 0 } }));
    expect((await eventually(() => got.find((m) => m.error))).error).toMatchObject({ code: 'VALIDATION' });
    stream.write(proto.ClientMessage.fromPartial({ credits: { agentId, credits: 1 } }));
    const { task } = await hub.dispatcher.call(
      'task.submit',
      { capability: 'bd', payload: { x: [1, null] } },
      ctx,
    );
    const pushed = await eventually(() => got.find((m) => m.task));
    expect(pushed).toMatchObject({ agentId, task: { taskId: task.id, payload: { x: [1, null] } } });
  });
});

describe('grpc calls on the agent channel', () => {
  /** A transport whose StreamMessages channel is open (credits granted), and its agent. */
  async function agentTransport(address: string, options: { deadlineMs?: number } = {}) {
    const transport = new GrpcTransport({ address, ...options });
    cleanups.push(() => transport.stop());
    await transport.start();
    const client = new HubClient(transport);
    const { agentId } = await client.register({ name: 'chan', skills: skills('chan') });
    transport.grantCredits(agentId, 1);
    return { transport, client, agentId };
  }
  /** The hub-side context of the latest `operation` once it ended. */
  const ended = (hub: Hub, operation: OperationName) =>
    eventually(() => hub.contexts.findLast((c) => c.operation === operation && c.ms !== undefined));

  it('sends calls on the open channel with ids (unary before it opens), with the same replies and errors', async () => {
    const hub = createHub();
    const server = await startServer(hub);
    const { transport, client, agentId } = await agentTransport(server.address().address);
    // register went as a unary RPC: the hub gave its context no request id.
    expect((await ended(hub, 'agent.register')).context.requestId).toBeUndefined();
    await client.heartbeat({ agentId });
    // On the channel the request id is the call's id.
    expect((await ended(hub, 'agent.heartbeat')).context.requestId).toMatch(/^\d+$/);
    const { task } = await client.submit({ capability: 'other', payload: { n: [1, null] } });
    expect((await client.get({ taskId: task.id })).task).toMatchObject({
      id: task.id,
      payload: { n: [1, null] },
    });
    expect((await ended(hub, 'task.get')).context.requestId).toMatch(/^\d+$/);
    const missing = await client.get({ taskId: 'task_missing' }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: ErrorCode.NotFound });
    // A call over 64 KiB goes as its own unary RPC (it cannot break the channel), then calls
    // are back on the channel.
    const big = 'x'.repeat(70 * 1024);
    const { task: large } = await client.submit({ capability: 'other', payload: big });
    expect((await ended(hub, 'task.submit')).context.requestId).toBeUndefined();
    expect((await client.get({ taskId: large.id })).task.payload).toBe(big);
    expect((await ended(hub, 'task.get')).context.requestId).toMatch(/^\d+$/);
    // A pushed task and its report, on the same channel.
    const pushed = new Promise<string>((resolve) => {
      transport.receiveMessage((m) => {
        if (m.type === 'task') resolve(m.task.leaseToken);
      });
    });
    const { task: work } = await client.submit({ capability: 'chan' });
    const leaseToken = await pushed;
    await client.result({ taskId: work.id, agentId, leaseToken, status: 'succeeded', result: 7 });
    expect((await hub.dispatcher.call('task.get', { taskId: work.id }, ctx)).task).toMatchObject({
      state: 'succeeded',
      result: 7,
    });
  });

  it('ends a call on its deadline or when its caller aborts, and tells the hub to stop waiting', async () => {
    const hub = createHub({ 'agents.status': 1500 });
    const server = await startServer(hub);
    const { client } = await agentTransport(server.address().address, { deadlineMs: 300 });
    const t0 = Date.now();
    await expect(client.agentsStatus()).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - t0).toBeLessThan(1400);
    expect((await ended(hub, 'agents.status')).context.signal?.aborted).toBe(true);

    const { task } = await hub.dispatcher.call('task.submit', { capability: 'never' }, ctx);
    const caller = new AbortController();
    const waiting = client
      .get({ taskId: task.id, waitMs: 20_000 }, { signal: caller.signal })
      .catch((e: unknown) => e);
    await eventually(() => hub.contexts.find((c) => c.operation === 'task.get'));
    await delay(50);
    caller.abort();
    const error = await waiting;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).retryable).toBe(false);
    const seen = await ended(hub, 'task.get');
    expect(seen.context.signal?.aborted).toBe(true);
    expect(seen.ms).toBeLessThan(3000);
  });

  it('fails the calls in flight when the channel breaks, as a dropped connection does; the transport recovers', async () => {
    const hub = createHub({ 'agents.status': 1500 });
    const port = await freePort();
    const server = await startServer(hub, { port, shutdownGraceMs: 0 });
    const { transport, client, agentId } = await agentTransport(`127.0.0.1:${port}`, { deadlineMs: 5000 });
    await client.heartbeat({ agentId });
    const inFlight = client.agentsStatus().catch((e: unknown) => e);
    await eventually(() => hub.contexts.find((c) => c.operation === 'agents.status'));
    await server.stop();
    const error = await inFlight;
    expect(error).toMatchObject({ code: ErrorCode.Unavailable, retryable: true });
    // Stopping the transport ends its calls the same way.
    const again = await startServer(hub, { port });
    expect(again.address().address).toContain(String(port));
    await eventually(
      async () =>
        (await client.heartbeat({ agentId }).then(
          () => true,
          () => false,
        )) === true,
    );
    const last = client.agentsStatus().catch((e: unknown) => e);
    await delay(100);
    await transport.stop();
    expect(await last).toMatchObject({ code: ErrorCode.Unavailable });
  });
});

describe('grpc reconnect', () => {
  it('a ModelAgent survives a hub restart on the same port: re-registers, no task lost', async () => {
    const hub = createHub();
    const port = await freePort();
    let server = new GrpcServerAdapter({ port });
    await server.start(hub.dispatcher);
    cleanups.push(() => server.stop());
    const transport = new GrpcTransport({
      address: `127.0.0.1:${port}`,
      reconnect: { baseMs: 50, maxMs: 200, jitter: 0 },
    });
    const agent = new ModelAgent({
      transport,
      name: 'survivor',
      skills: skills('gr'),
      concurrency: 2,
      reconnect: { baseMs: 50, maxMs: 200, jitter: 0 },
      handler: async (task) => {
        await delay(150);
        return { echoed: task.payload };
      },
    });
    await agent.start();
    cleanups.push(() => agent.stop());
    const submit = async (n: number) =>
      (await hub.dispatcher.call('task.submit', { capability: 'gr', payload: n }, ctx)).task.id;
    const ids = [await submit(1), await submit(2), await submit(3)];
    await delay(50);
    await server.stop();
    ids.push(await submit(4), await submit(5));
    await delay(300);
    server = new GrpcServerAdapter({ port });
    await server.start(hub.dispatcher);
    ids.push(await submit(6));
    for (const [i, id] of ids.entries()) {
      const { task } = await hub.dispatcher.call('task.get', { taskId: id, waitMs: 10_000 }, ctx);
      expect(task).toMatchObject({ state: 'succeeded', result: { echoed: i + 1 } });
    }
    expect(hub.contexts.filter((c) => c.operation === 'agent.register').length).toBeGreaterThanOrEqual(2);
    await eventually(() => agent.getStats().succeeded === 6);
    expect(agent.getStats().rejected).toBe(0);
  });
});

describe('grpc TLS', () => {
  it('serves and calls over TLS with a private CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpmas-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
    } catch {
      console.warn('SKIPPED: grpc TLS test: openssl is not available to make a test certificate');
      return;
    }
    const cert = readFileSync(join(dir, 'cert.pem'));
    const key = readFileSync(join(dir, 'key.pem'));
    const hub = createHub();
    const server = await startServer(hub, { tls: { cert, key } });
    const transport = new GrpcTransport({ address: `localhost:${server.address().port}`, tls: { ca: cert } });
    cleanups.push(() => transport.stop());
    await transport.start();
    expect((await new HubClient(transport).agentsStatus()).agents).toEqual([]);
    const plain = new GrpcTransport({ address: server.address().address, deadlineMs: 2000 });
    cleanups.push(() => plain.stop());
    await plain.start();
    await expect(new HubClient(plain).agentsStatus()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
