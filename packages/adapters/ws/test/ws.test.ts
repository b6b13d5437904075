import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { ModelAgent } from '@mcpmas/agent';
import { ApiKeyAuthenticator, HubClient, UnavailableError } from '@mcpmas/core';
import { eventually } from '@mcpmas/testkit';
import { WebSocketServer } from 'ws';
import { WsServerAdapter, WsTransport } from '../src/index.js';
import { createHub, delay, freePort, type RawClient, rawClient, skills, type TestHub } from './helpers.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function startServer(hub: TestHub, options: ConstructorParameters<typeof WsServerAdapter>[0] = {}) {
  const server = new WsServerAdapter({ port: 0, ...options });
  await server.start(hub.dispatcher);
  cleanups.push(() => server.stop());
  return server;
}

async function raw(url: string, options = {}): Promise<RawClient> {
  const client = await rawClient(url, options);
  cleanups.push(() => client.close());
  return client;
}

describe('ws frames: garbage gets a protocol-correct error and the hub stays up', () => {
  it('answers each kind of bad frame and keeps serving', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await startServer(hub, { maxPayloadBytes: 64 * 1024 });
    const { url } = server.address();
    const c = await raw(url);
    const hello = await c.next((f) => f.type === 'hello');
    expect(hello).toMatchObject({ protocol: 'mcpmas-ws/1', maxPayloadBytes: 64 * 1024 });

    c.socket.send('{not json');
    expect(await c.next((f) => f.type === 'error')).toMatchObject({
      error: { code: 'VALIDATION', message: expect.stringMatching(/invalid JSON/) },
    });
    c.frames.length = 0;
    c.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.next((f) => f.type === 'error')).error).toMatchObject({
      message: expect.stringMatching(/binary/),
    });
    c.frames.length = 0;
    c.socket.send(JSON.stringify([1, 2]));
    expect((await c.next((f) => f.type === 'error')).error).toMatchObject({ code: 'VALIDATION' });
    c.frames.length = 0;
    c.socket.send(JSON.stringify({ type: 'call', op: 'agents.status', req: {} }));
    expect((await c.next((f) => f.type === 'error')).error).toMatchObject({
      message: expect.stringMatching(/"id"/),
    });
    c.frames.length = 0;
    c.socket.send(JSON.stringify({ type: 'launch', id: 7 }));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({
      id: 7,
      error: { code: 'VALIDATION', message: expect.stringMatching(/unknown frame type "launch"/) },
    });
    // A field the frame type does not have (a typo of "req", say) is named, not ignored.
    c.socket.send(
      JSON.stringify({ type: 'call', id: 'typo', op: 'task.submit', request: { capability: 'x' } }),
    );
    expect(await c.next((f) => f.type === 'error' && f.id === 'typo')).toMatchObject({
      error: {
        code: 'VALIDATION',
        message: 'unknown field(s) in a call frame: "request"; it has type, id, op, req, traceparent',
      },
    });
    c.socket.send(JSON.stringify({ type: 'abort', id: 'typo2', reason: 'x' }));
    expect(await c.next((f) => f.type === 'error' && f.id === 'typo2')).toMatchObject({
      error: { message: expect.stringMatching(/unknown field\(s\) in an abort frame: "reason"/) },
    });
    c.socket.send(JSON.stringify({ type: 'call', id: 'a', op: 'task.explode', req: {} }));
    expect(await c.next((f) => f.type === 'reply' && f.id === 'a')).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND', message: expect.stringMatching(/task\.explode/) },
    });
    c.socket.send(JSON.stringify({ type: 'call', id: 'b', op: 'task.submit', req: { capability: 7 } }));
    expect(await c.next((f) => f.type === 'reply' && f.id === 'b')).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION', message: expect.stringMatching(/capability/) },
    });
    // Nested deeper than any recursive serialiser copes with: refused, naming where.
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    c.socket.send(
      `{"type":"call","id":"deep","op":"task.submit","req":{"capability":"x","payload":${deep}}}`,
    );
    expect(await c.next((f) => f.type === 'reply' && f.id === 'deep')).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION', message: expect.stringMatching(/payload(\.0)+: nested deeper than 30/) },
    });
    c.frames.length = 0;
    c.socket.send(JSON.stringify({ type: 'credits', id: 9, agentId: 'a', credits: -1 }));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ id: 9, error: { code: 'VALIDATION' } });
    c.frames.length = 0;
    // Credits for an agent the hub does not know: the lease fails and says which agent.
    c.socket.send(JSON.stringify({ type: 'credits', agentId: 'nobody-here', credits: 1 }));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({
      error: { code: 'NOT_FOUND', details: { agentId: 'nobody-here' } },
    });

    // Too big: the socket is closed with 1009, nothing else.
    c.socket.send(
      JSON.stringify({ type: 'call', id: 'big', op: 'task.submit', req: { payload: 'x'.repeat(70_000) } }),
    );
    expect(await c.closed).toBe(1009);

    // The hub is still up for everyone else.
    const transport = new WsTransport({ url });
    cleanups.push(() => transport.stop());
    await transport.start();
    expect((await new HubClient(transport).agentsStatus()).agents).toEqual([]);
  });

  it('refuses an oversized call on the client before sending it', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await startServer(hub, { maxPayloadBytes: 8 * 1024 });
    const transport = new WsTransport({ url: server.address().url });
    cleanups.push(() => transport.stop());
    await transport.start();
    await eventually(() => transport.connected);
    await delay(50);
    const client = new HubClient(transport);
    await expect(client.submit({ capability: 'c', payload: 'x'.repeat(10_000) })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect((await client.agentsStatus()).agents).toEqual([]);
  });
});

describe('ws auth and context', () => {
  it('reads the key from the Bearer header, x-api-key or ?api_key=, and passes it on every call', async () => {
    const key = 'ws-secret-key-1';
    const hub = createHub({ auth: new ApiKeyAuthenticator([{ id: 'k', key, scopes: ['admin'] }]) });
    cleanups.push(() => hub.close());
    const server = await startServer(hub);
    const { url } = server.address();
    for (const transport of [
      new WsTransport({ url, apiKey: key }),
      new WsTransport({ url, headers: { 'x-api-key': key } }),
      new WsTransport({ url: `${url}?api_key=${key}` }),
    ]) {
      cleanups.push(() => transport.stop());
      await transport.start();
      await new HubClient(transport).agentsStatus();
    }
    const seen = hub.contexts.filter((c) => c.operation === 'agents.status');
    expect(seen).toHaveLength(3);
    for (const { context } of seen) {
      expect(context).toMatchObject({ protocol: 'ws', credentials: key, principal: { keyId: 'k' } });
    }
    const anonymous = new WsTransport({ url });
    cleanups.push(() => anonymous.stop());
    await anonymous.start();
    await expect(new HubClient(anonymous).agentsStatus()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('attaches to an existing HTTP server at /ws and leaves its routes alone', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const http = createServer((_req, res) => res.end('plain http'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => http.close(resolve)));
    const server = new WsServerAdapter({ server: http });
    await server.start(hub.dispatcher);
    cleanups.push(() => server.stop());
    const { port } = http.address() as AddressInfo;
    const transport = new WsTransport({ url: `ws://127.0.0.1:${port}/ws` });
    cleanups.push(() => transport.stop());
    await transport.start();
    expect((await new HubClient(transport).agentsStatus()).agents).toEqual([]);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('plain http');
  });
});

describe('ws push', () => {
  it('pushes a cancel for a task cancelled while leased to an agent on this socket', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await startServer(hub);
    const c = await raw(server.address().url);
    c.socket.send(
      JSON.stringify({ type: 'call', id: 1, op: 'agent.register', req: { name: 'a', skills: skills('cx') } }),
    );
    const reg = await c.next((f) => f.type === 'reply' && f.id === 1);
    const agentId = (reg.res as { agentId: string }).agentId;
    c.socket.send(JSON.stringify({ type: 'credits', agentId, credits: 1 }));
    const { task } = await hub.dispatcher.call('task.submit', { capability: 'cx' }, { protocol: 'test' });
    expect(await c.next((f) => f.type === 'task')).toMatchObject({ agentId, task: { taskId: task.id } });
    await hub.dispatcher.call('task.cancel', { taskId: task.id }, { protocol: 'test' });
    expect(await c.next((f) => f.type === 'cancel')).toMatchObject({ agentId, taskId: task.id });
  });

  it('backpressure: stops leasing for a socket that does not read, resumes when it drains', async () => {
    const hub = createHub({ dispatcher: { limits: { maxPayloadBytes: 128 * 1024 } } });
    cleanups.push(() => hub.close());
    const maxBufferedBytes = 64 * 1024;
    const server = await startServer(hub, { maxBufferedBytes, pushWaitMs: 200 });
    const c = await raw(server.address().url);
    c.socket.send(
      JSON.stringify({
        type: 'call',
        id: 1,
        op: 'agent.register',
        req: { name: 'slow', skills: skills('bp') },
      }),
    );
    const agentId = ((await c.next((f) => f.type === 'reply' && f.id === 1)).res as { agentId: string })
      .agentId;
    const total = 400;
    const payload = 'p'.repeat(48 * 1024);
    for (let i = 0; i < total; i++) {
      await hub.dispatcher.call(
        'task.submit',
        { capability: 'bp', payload: { i, payload } },
        { protocol: 'test' },
      );
    }
    // The client stops reading: the kernel buffers fill, then the hub's send buffer.
    c.socket.pause();
    c.socket.send(JSON.stringify({ type: 'credits', agentId, credits: total }));
    await eventually(() => server.stats().congested === 1, 10_000);
    const leased = async () => (await hub.backend.queue.leasedBy(agentId)).length;
    await delay(300);
    const first = await leased();
    await delay(700);
    // No lease while congested, and the buffer stays within one lease batch of the limit.
    expect(await leased()).toBe(first);
    expect(first).toBeLessThan(total);
    expect(server.stats().bufferedBytes).toBeLessThan(maxBufferedBytes + 17 * (payload.length + 1024));
    c.socket.resume();
    await eventually(() => c.frames.filter((f) => f.type === 'task').length === total, 20_000);
    expect(await leased()).toBe(total);
  });
});

describe('ws liveness and reconnect', () => {
  it('terminates a socket that misses a pong', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await startServer(hub, { pingIntervalMs: 100 });
    const c = await raw(server.address().url, { autoPong: false });
    const t0 = Date.now();
    expect(await c.closed).toBe(1006);
    expect(Date.now() - t0).toBeLessThan(2000);
    await eventually(() => server.stats().connections === 0);
  });

  it('rejects calls pending on a dropped socket with a retryable UnavailableError', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await startServer(hub);
    const transport = new WsTransport({ url: server.address().url, reconnect: false });
    cleanups.push(() => transport.stop());
    await transport.start();
    const client = new HubClient(transport);
    const { agentId } = await client.register({ name: 'x', skills: skills('drop') });
    const waiting = client.next({ agentId, waitMs: 20_000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await delay(100);
    await server.stop();
    const error = await waiting;
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({ retryable: true });
  });

  it('a ModelAgent survives a hub restart on the same port: re-registers, no task lost', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const port = await freePort();
    let server = new WsServerAdapter({ port });
    await server.start(hub.dispatcher);
    cleanups.push(() => server.stop());
    const transport = new WsTransport({
      url: `ws://127.0.0.1:${port}/`,
      reconnect: { baseMs: 50, maxMs: 200, jitter: 0 },
    });
    const agent = new ModelAgent({
      transport,
      name: 'survivor',
      skills: skills('rs'),
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
      (await hub.dispatcher.call('task.submit', { capability: 'rs', payload: n }, { protocol: 'test' })).task
        .id;
    const ids = [await submit(1), await submit(2), await submit(3)];
    await delay(50);
    // Tasks are running on the agent when the hub goes away.
    await server.stop();
    ids.push(await submit(4), await submit(5));
    await delay(300);
    server = new WsServerAdapter({ port });
    await server.start(hub.dispatcher);
    ids.push(await submit(6));
    for (const [i, id] of ids.entries()) {
      const { task } = await hub.dispatcher.call(
        'task.get',
        { taskId: id, waitMs: 10_000 },
        { protocol: 'test' },
      );
      expect(task).toMatchObject({ state: 'succeeded', result: { echoed: i + 1 } });
    }
    const registrations = hub.contexts.filter((c) => c.operation === 'agent.register');
    expect(registrations.length).toBeGreaterThanOrEqual(2);
    await eventually(() => agent.getStats().succeeded === 6);
    expect(agent.getStats().rejected).toBe(0);
  });
});

afterAll(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

describe('ws transport credits', () => {
  it('sends the credits granted in one tick as one frame per agent', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
    const frames: unknown[] = [];
    wss.on('connection', (socket) => socket.on('message', (data) => frames.push(JSON.parse(String(data)))));
    const transport = new WsTransport({ url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` });
    await transport.start();
    cleanups.push(() => transport.stop());
    await eventually(() => transport.connected);
    // As an agent does when several results are acknowledged in one tick.
    for (let i = 0; i < 5; i++) transport.grantCredits('agent-a', 1);
    transport.grantCredits('agent-b', 2);
    await eventually(() => frames.length >= 2);
    await delay(50);
    expect(frames).toEqual([
      { type: 'credits', agentId: 'agent-a', credits: 5 },
      { type: 'credits', agentId: 'agent-b', credits: 2 },
    ]);
    transport.grantCredits('agent-a', 1);
    await eventually(() => frames.length === 3);
    expect(frames[2]).toEqual({ type: 'credits', agentId: 'agent-a', credits: 1 });
  });
});
