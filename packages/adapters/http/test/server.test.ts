import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '@mcpmas/core';
import { HttpServerAdapter } from '../src/index.js';
import { delay, errorOf, type Raw, skills, startHub, type TestHub } from './helpers.js';

describe('HTTP server: every route over the wire', () => {
  let hub: TestHub;
  let raw: Raw;
  beforeAll(async () => {
    hub = await startHub({
      server: {
        metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'mcpmas_up 1\n' }),
        health: async () => ({ backend: 'memory' }),
        mount: (app) => {
          app.get('/extra', (_req, res) => {
            res.json({ mounted: true });
          });
          app.get('/extra/boom', () => {
            throw new Error('mounted route failed');
          });
        },
      },
    });
    raw = hub.raw;
  });
  afterAll(() => hub.close());

  it('runs the agent and client routes end to end', async () => {
    const reg = await raw('POST', '/agents/register', {
      body: { name: 'worker', skills: skills('echo'), metadata: { zone: 'a' } },
    });
    expect(reg.status).toBe(200);
    const agentId = (reg.json as { agentId: string }).agentId;
    expect(agentId).toEqual(expect.any(String));

    const beat = await raw('POST', `/agents/${agentId}/heartbeat`, {
      body: { load: { running: 0, capacity: 2 } },
    });
    expect(beat.status).toBe(200);
    expect(beat.json).toMatchObject({ agentId, serverTime: expect.any(Number) });

    const submit = await raw('POST', '/task', {
      body: { capability: 'echo', payload: { text: 'hi' }, priority: 5 },
    });
    expect(submit.status).toBe(200);
    const task = (submit.json as { task: { id: string }; created: boolean }).task;
    expect(submit.json).toMatchObject({ created: true, task: { state: 'queued', priority: 5 } });

    const status = await raw('GET', '/agent_status?capability=echo');
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({
      agents: [{ id: agentId, name: 'worker', protocol: 'http', load: { running: 0, capacity: 2 } }],
    });
    expect((await raw('GET', '/agent_status?capability=nobody')).json).toMatchObject({ agents: [] });
    expect((await raw('GET', '/agent_status')).status).toBe(200);

    const next = await raw('POST', `/agents/${agentId}/next_task`, { body: { max: 1 } });
    expect(next.status).toBe(200);
    const leased = (next.json as { tasks: Array<{ taskId: string; leaseToken: string }> }).tasks[0]!;
    expect(leased.taskId).toBe(task.id);

    const progress = await raw('POST', `/task/${task.id}/progress`, {
      body: { agentId, leaseToken: leased.leaseToken, progress: { percent: 50, message: 'half' } },
    });
    expect(progress.status).toBe(200);
    expect(progress.json).toMatchObject({ taskId: task.id, leaseDeadline: expect.any(Number) });

    const result = await raw('POST', `/task/${task.id}/result`, {
      body: { agentId, leaseToken: leased.leaseToken, status: 'succeeded', result: { text: 'hi' } },
    });
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({ task: { id: task.id, state: 'succeeded' } });

    const got = await raw('GET', `/task_result/${task.id}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({
      task: { state: 'succeeded', result: { text: 'hi' }, progress: { percent: 50 } },
    });

    const bye = await raw('POST', `/agents/${agentId}/unregister`);
    expect(bye.status).toBe(200);
    expect(bye.json).toEqual({ agentId, requeued: [], dead: [] });
  });

  it('submits a batch, reads it back, and cancels a task', async () => {
    const batch = await raw('POST', '/batch_task', {
      body: {
        batchId: 'batch-http-1',
        tasks: [{ capability: 'b' }, { capability: 'b', priority: 'urgent' }],
      },
    });
    expect(batch.status).toBe(200);
    const refs = (batch.json as { tasks: Array<{ taskId: string }> }).tasks;
    expect(batch.json).toMatchObject({ batchId: 'batch-http-1', created: true });
    expect(refs).toHaveLength(2);

    const cancel = await raw('POST', `/task/${refs[0]!.taskId}/cancel`, { body: { reason: 'not needed' } });
    expect(cancel.status).toBe(200);
    expect(cancel.json).toMatchObject({ task: { state: 'cancelled', cancelReason: 'not needed' } });
    // A cancel without a body at all is fine too.
    expect((await raw('POST', `/task/${refs[1]!.taskId}/cancel`)).status).toBe(200);

    const view = await raw('GET', '/batch/batch-http-1');
    expect(view.status).toBe(200);
    expect(view.json).toMatchObject({
      batchId: 'batch-http-1',
      total: 2,
      done: true,
      counts: { cancelled: 2 },
    });
  });

  it('reads a body without Content-Type as JSON, and +json types too', async () => {
    const plain = await raw('POST', '/task', { body: '{"capability":"untyped"}' });
    expect(plain.status).toBe(200);
    expect(plain.json).toMatchObject({ task: { capability: 'untyped' } });
    const vendor = await raw('POST', '/task', {
      body: '{"capability":"vendor"}',
      headers: { 'content-type': 'application/vnd.mcpmas+json; charset=utf-8' },
    });
    expect(vendor.status).toBe(200);
  });

  it('takes next_task parameters from the query, and wait_ms on task_result', async () => {
    const reg = await raw('POST', '/agents/register', { body: { name: 'q', skills: skills('qa', 'qb') } });
    const agentId = (reg.json as { agentId: string }).agentId;
    await raw('POST', '/task', { body: { capability: 'qa', payload: 1 } });
    const { task } = (await raw('POST', '/task', { body: { capability: 'qb', payload: 2 } })).json as {
      task: { id: string };
    };
    const next = await raw('POST', `/agents/${agentId}/next_task?wait_ms=0&max=5&capabilities=qb`);
    expect(next.status).toBe(200);
    expect((next.json as { tasks: Array<{ taskId: string }> }).tasks.map((t) => t.taskId)).toEqual([task.id]);

    const t0 = Date.now();
    const waited = await raw('GET', `/task_result/${task.id}?wait_ms=200`);
    expect(waited.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(waited.json).toMatchObject({ task: { state: 'leased' } });
  });

  it('fills the call context: protocol, credentials, traceparent, request id, remote address', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const reply = await raw('GET', '/agent_status', {
      headers: { authorization: 'Bearer key-from-bearer', traceparent, 'x-request-id': 'req-42' },
    });
    expect(reply.headers['x-request-id']).toBe('req-42');
    const seen = hub.contexts.at(-1)!;
    expect(seen.operation).toBe('agents.status');
    expect(seen.context).toMatchObject({
      protocol: 'http',
      credentials: 'key-from-bearer',
      traceparent,
      requestId: 'req-42',
      remoteAddress: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(seen.context.signal).toBeInstanceOf(AbortSignal);

    await raw('GET', '/agent_status', {
      headers: {
        'x-api-key': 'key-from-header',
        traceparent: 'not-a-traceparent',
        'x-request-id': 'bad id\t!',
      },
    });
    const second = hub.contexts.at(-1)!.context;
    expect(second.credentials).toBe('key-from-header');
    expect(second.traceparent).toBeUndefined();
    expect(second.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stamps the request traceparent on submitted tasks that carry none', async () => {
    const traceparent = '00-11111111111111111111111111111111-2222222222222222-01';
    const reply = await raw('POST', '/task', { body: { capability: 'trace' }, headers: { traceparent } });
    expect(reply.json).toMatchObject({ task: { traceparent } });
  });

  it('answers /healthz and /metrics', async () => {
    const health = await raw('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok', backend: 'memory' });
    const metrics = await raw('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.text).toBe('mcpmas_up 1\n');
  });

  it('serves mounted routes, and their errors as JSON', async () => {
    expect((await raw('GET', '/extra')).json).toEqual({ mounted: true });
    const boom = await raw('GET', '/extra/boom');
    expect(boom.status).toBe(500);
    expect(errorOf(boom)).toMatchObject({ code: 'INTERNAL', message: 'mounted route failed' });
  });

  it('answers OPTIONS with the allowed methods', async () => {
    const reply = await raw('OPTIONS', '/task_result/x');
    expect(reply.status).toBe(204);
    expect(reply.headers.allow).toBe('GET, HEAD');
  });

  it('ends a long-poll when its client disconnects', async () => {
    const reg = await raw('POST', '/agents/register', { body: { name: 'gone', skills: skills('gone') } });
    const agentId = (reg.json as { agentId: string }).agentId;
    const ended: number[] = [];
    hub.dispatcher.plugins.use({
      name: 'next-watcher',
      around: async (call, next) => {
        try {
          return await next();
        } finally {
          if (call.operation === 'task.next') ended.push(Date.now());
        }
      },
    });
    try {
      const req = httpRequest(`${hub.url}/agents/${agentId}/next_task?wait_ms=60000`, { method: 'POST' });
      req.on('error', () => undefined);
      req.end();
      await delay(150);
      expect(ended).toHaveLength(0);
      const t0 = Date.now();
      req.destroy();
      for (let i = 0; i < 50 && ended.length === 0; i++) await delay(20);
      expect(ended).toHaveLength(1);
      expect(ended[0]! - t0).toBeLessThan(1000);
      // Nobody is waiting any more: a new task stays queued rather than going to the dead socket.
      const { task } = (await raw('POST', '/task', { body: { capability: 'gone' } })).json as {
        task: { id: string };
      };
      await delay(50);
      expect(
        ((await raw('GET', `/task_result/${task.id}`)).json as { task: { state: string } }).task.state,
      ).toBe('queued');
    } finally {
      await hub.dispatcher.plugins.remove('next-watcher');
    }
  });

  it('answers a malformed HTTP request with a JSON 400, not a bare reply', async () => {
    const { port } = hub.server.address();
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk;
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toMatch(/content-type: application\/json/i);
    expect(text).toMatch(/"code":"VALIDATION"/);
  });
});

describe('HTTP server lifecycle', () => {
  it('reports its address and refuses a second start', async () => {
    const hub = await startHub({ server: { health: async () => Promise.reject(new Error('db down')) } });
    try {
      const address = hub.server.address();
      expect(address.host).toBe('127.0.0.1');
      expect(address.port).toBeGreaterThan(0);
      expect(address.url).toBe(`http://127.0.0.1:${address.port}`);
      await expect(hub.server.start(hub.dispatcher)).rejects.toThrow(/already started/);
      const health = await hub.raw('GET', '/healthz');
      expect(health.status).toBe(503);
      expect(errorOf(health)).toMatchObject({ code: 'UNAVAILABLE', message: 'health check failed: db down' });
      expect((await hub.raw('GET', '/metrics')).status).toBe(404);
    } finally {
      await hub.close();
    }
    expect(() => hub.server.address()).toThrow(/not started/);
  });

  it('validates its options, naming the setting', () => {
    expect(() => new HttpServerAdapter({ port: 70_000 })).toThrow(ConfigError);
    expect(() => new HttpServerAdapter({ port: 1.5 })).toThrow(/port must be an integer/);
    expect(() => new HttpServerAdapter({ host: '' })).toThrow(/host/);
    expect(() => new HttpServerAdapter({ shutdownGraceMs: -1 })).toThrow(/shutdownGraceMs/);
  });

  it('fails to start on a port in use with a ConfigError naming it', async () => {
    const hub = await startHub();
    try {
      const { port } = hub.server.address();
      const second = new HttpServerAdapter({ port });
      await expect(second.start(hub.dispatcher)).rejects.toThrow(
        new RegExp(`cannot listen on 127.0.0.1:${port}`),
      );
    } finally {
      await hub.close();
    }
  });

  it('stops gracefully: a pending long-poll gets its (empty) reply and stop is prompt', async () => {
    const hub = await startHub({ server: { shutdownGraceMs: 5000 } });
    const reg = await hub.raw('POST', '/agents/register', { body: { name: 's', skills: skills('s') } });
    const agentId = (reg.json as { agentId: string }).agentId;
    const polling = hub.raw('POST', `/agents/${agentId}/next_task`, { body: { waitMs: 60_000 } });
    await delay(100);
    const t0 = Date.now();
    await hub.server.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    const reply = await polling;
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ tasks: [] });
    expect(reply.headers.connection).toBe('close');
    await hub.server.stop(); // a second stop is a no-op
    await hub.close();
  });
});
