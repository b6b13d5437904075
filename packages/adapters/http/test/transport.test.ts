import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  HubClient,
  InternalError,
  NotFoundError,
  TimeoutError,
  UnavailableError,
  UnsupportedError,
  ValidationError,
} from '@mcpmas/core';
import express from 'express';
import { createHttpApp, createHttpClient, HttpServerAdapter, HttpTransport } from '../src/index.js';
import { delay, skills, startHub, type TestHub } from './helpers.js';

/** A plain node server on 127.0.0.1:0 for behaviour no hub would show. */
async function plainServer(listener: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('HttpTransport', () => {
  let hub: TestHub;
  const transports: HttpTransport[] = [];
  const open = async (options: Partial<ConstructorParameters<typeof HttpTransport>[0]> = {}) => {
    const transport = new HttpTransport({ baseUrl: hub.url, ...options });
    transports.push(transport);
    await transport.start();
    return { transport, client: new HubClient(transport) };
  };

  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(async () => {
    for (const t of transports) await t.stop();
    await hub.close();
  });

  it('declares protocol http and no push', () => {
    const transport = new HttpTransport({ baseUrl: 'http://127.0.0.1:1' });
    expect(transport.protocol).toBe('http');
    expect(transport.features).toEqual({ push: false });
    expect(() => transport.receiveMessage(() => undefined)).toThrow(UnsupportedError);
  });

  it('refuses to send before start and after stop', async () => {
    const transport = new HttpTransport({ baseUrl: hub.url });
    await expect(transport.sendMessage('agents.status', {})).rejects.toThrow(InternalError);
    await transport.start();
    await expect(transport.sendMessage('agents.status', {})).resolves.toMatchObject({
      agents: expect.any(Array),
    });
    await transport.stop();
    await expect(transport.sendMessage('agents.status', {})).rejects.toThrow(/not started/);
    await transport.stop();
  });

  it('validates its options, naming the setting', () => {
    expect(() => new HttpTransport({ baseUrl: 'not a url' })).toThrow(ConfigError);
    expect(() => new HttpTransport({ baseUrl: 'ftp://hub' })).toThrow(
      /baseUrl must be an http: or https: URL/,
    );
    expect(() => new HttpTransport({ baseUrl: hub.url, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new HttpTransport({ baseUrl: hub.url, connections: 0 })).toThrow(/connections/);
  });

  it('sends the API key, extra headers and the caller’s signal to the hub', async () => {
    const { client } = await open({ apiKey: 'client-key-123', headers: { 'x-request-id': 'from-client' } });
    await client.agentsStatus();
    expect(hub.contexts.at(-1)!.context).toMatchObject({
      protocol: 'http',
      credentials: 'client-key-123',
      requestId: 'from-client',
    });
  });

  it('rebuilds hub errors as the matching error classes', async () => {
    const { client } = await open();
    const missing = await client.get({ taskId: 'task-nowhere' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({
      code: 'NOT_FOUND',
      retryable: false,
      details: { taskId: 'task-nowhere' },
    });
    const invalid = await client
      .submit({ capability: 'x', priority: 'whenever' as never })
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ValidationError);
    expect((invalid as ValidationError).details).toMatchObject({ issues: [{ path: 'priority' }] });
  });

  it('rejects locally what the URL cannot carry, without a round trip', async () => {
    const { transport } = await open();
    const seen = hub.contexts.length;
    await expect(transport.sendMessage('task.get', {})).rejects.toThrow(/taskId: is required/);
    await expect(transport.sendMessage('task.get', { taskId: 5 })).rejects.toBeInstanceOf(ValidationError);
    await expect(transport.sendMessage('task.explode' as never, {})).rejects.toBeInstanceOf(NotFoundError);
    expect(hub.contexts.length).toBe(seen);
  });

  it('long-polls next_task: returns promptly when a task is submitted', async () => {
    const { client } = await open();
    const { agentId } = await client.register({ name: 'lp', skills: skills('lp') });
    const t0 = Date.now();
    const waiting = client.next({ agentId, waitMs: 20_000 });
    await delay(150);
    const { task } = await client.submit({ capability: 'lp', payload: 'now' });
    const { tasks } = await waiting;
    expect(tasks.map((t) => t.taskId)).toEqual([task.id]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('does not count a long-poll’s wait against the request timeout', async () => {
    const { client } = await open({ timeoutMs: 200 });
    const { agentId } = await client.register({ name: 'slow', skills: skills('slow') });
    const t0 = Date.now();
    expect((await client.next({ agentId, waitMs: 600 })).tasks).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
  });

  it('lets the hub refuse an out-of-range waitMs by name instead of timing out locally', async () => {
    const { client } = await open({ timeoutMs: 200 });
    const { agentId } = await client.register({ name: 'huge', skills: skills('huge') });
    const error = await client.next({ agentId, waitMs: 10 ** 12 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/waitMs/);
  });

  it('honours the caller’s abort signal, and the hub stops waiting too', async () => {
    const { client } = await open();
    const { agentId } = await client.register({ name: 'ab', skills: skills('ab') });
    const controller = new AbortController();
    const t0 = Date.now();
    const waiting = client.next({ agentId, waitMs: 30_000 }, { signal: controller.signal });
    await delay(100);
    const serverSide = hub.contexts.at(-1)!;
    expect(serverSide.operation).toBe('task.next');
    controller.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ retryable: false });
    expect(Date.now() - t0).toBeLessThan(1000);
    for (let i = 0; i < 50 && !serverSide.context.signal?.aborted; i++) await delay(20);
    expect(serverSide.context.signal?.aborted).toBe(true);
    await expect(client.next({ agentId }, { signal: controller.signal })).rejects.toThrow(
      /aborted by the caller/,
    );
  });

  it('ends in-flight requests with UnavailableError when stopped', async () => {
    const { transport, client } = await open();
    const { agentId } = await client.register({ name: 'st', skills: skills('st') });
    const waiting = client.next({ agentId, waitMs: 30_000 }).catch((e: unknown) => e);
    await delay(100);
    await transport.stop();
    const error = await waiting;
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({ retryable: true });
  });

  it('ends requests still queued behind a busy connection: caller abort, timeout and stop', async () => {
    // One socket, held by a long-poll: every other request waits in undici's queue, unsent.
    const { transport, client } = await open({ connections: 1, timeoutMs: 300 });
    const { agentId } = await open().then(({ client: c }) => c.register({ name: 'q', skills: skills('q') }));
    const holding = client.next({ agentId, waitMs: 2_000 }).catch((e: unknown) => e);
    await delay(50);

    const controller = new AbortController();
    const t0 = Date.now();
    const aborted = client.agentsStatus({}, { signal: controller.signal }).catch((e: unknown) => e);
    const timedOut = client.agentsStatus().catch((e: unknown) => e);
    await delay(50);
    controller.abort();
    const abortError = await aborted;
    expect(abortError).toBeInstanceOf(TimeoutError);
    expect(abortError).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/aborted by the caller/),
    });
    expect(Date.now() - t0).toBeLessThan(250);
    const timeoutError = await timedOut;
    expect(timeoutError).toBeInstanceOf(TimeoutError);
    expect(timeoutError).toMatchObject({ retryable: true, message: expect.stringMatching(/within 300 ms/) });
    expect(Date.now() - t0).toBeLessThan(1_500);

    // The long-poll ends as usual, and neither abandoned request was sent in its place.
    const seen = hub.contexts.length;
    expect(await holding).toEqual({ tasks: [] });
    await delay(100);
    expect(hub.contexts.slice(seen).map((c) => c.operation)).not.toContain('agents.status');

    // The socket is free again; a request queued when the transport stops ends as unavailable.
    expect((await client.agentsStatus()).agents.length).toBeGreaterThan(0);
    const again = client.next({ agentId, waitMs: 2_000 }).catch((e: unknown) => e);
    await delay(50);
    const queued = client.agentsStatus().catch((e: unknown) => e);
    await transport.stop();
    expect(await again).toBeInstanceOf(UnavailableError);
    expect(await queued).toBeInstanceOf(UnavailableError);
  });

  it('maps a hub that cannot be reached to a retryable UnavailableError', async () => {
    const gone = new HttpServerAdapter({ port: 0 });
    await gone.start(hub.dispatcher);
    const { url } = gone.address();
    await gone.stop();
    const { client } = await open({ baseUrl: url });
    const error = await client.agentsStatus().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({ retryable: true, details: { code: 'ECONNREFUSED' } });
  });

  it('times out a request the hub never answers', async () => {
    const silent = await plainServer(() => undefined);
    try {
      const { client } = await open({ baseUrl: silent.url, timeoutMs: 200 });
      const t0 = Date.now();
      const error = await client.agentsStatus().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ retryable: true, message: expect.stringMatching(/within 200 ms/) });
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await silent.close();
    }
  });

  it('turns a foreign error page into an error by status, and a non-JSON 200 into a malformed reply', async () => {
    const foreign = await plainServer((req, res) => {
      if (req.url?.startsWith('/agent_status')) {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad Gateway</body></html>');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
      }
    });
    try {
      const { client } = await open({ baseUrl: foreign.url });
      const gateway = await client.agentsStatus().catch((e: unknown) => e);
      expect(gateway).toBeInstanceOf(UnavailableError);
      expect(gateway).toMatchObject({ details: { status: 502 }, message: expect.stringMatching(/HTTP 502/) });
      await expect(client.get({ taskId: 't' })).rejects.toThrow(/malformed reply/);
    } finally {
      await foreign.close();
    }
  });

  it('works with the app embedded under a path prefix', async () => {
    const outer = express();
    outer.use('/api/v1', createHttpApp(hub.dispatcher));
    const server = await plainServer(outer);
    try {
      const { client } = await open({ baseUrl: `${server.url}/api/v1/` });
      const { task } = await client.submit({ capability: 'prefixed' });
      expect((await client.get({ taskId: task.id })).task.capability).toBe('prefixed');
    } finally {
      await server.close();
    }
  });

  it('createHttpClient returns a ready HubClient', async () => {
    const client = createHttpClient({ baseUrl: hub.url });
    try {
      expect((await client.agentsStatus()).agents).toEqual(expect.any(Array));
    } finally {
      await client.transport.stop();
    }
  });
});
