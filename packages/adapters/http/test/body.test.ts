/**
 * The operation routes' own request path: JSON bodies read without body-parser (size limit,
 * chunked, BOM), body-parser still behind compressed and non-UTF-8 bodies, and route lookup
 * that matches the way the router did.
 */
import { createServer, request as httpRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, createDispatcher, createMemoryBackend } from '@mcpmas/core';
import express from 'express';
import { createHttpApp, expressServerOptions, httpRequestListener } from '../src/index.js';
import { errorOf, startHub, type TestHub } from './helpers.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request with exactly these headers and this body (a stream is sent chunked). */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | string | Readable,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

const json = { 'content-type': 'application/json' };

describe('HTTP server: reading operation requests', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ server: { bodyLimit: '1kb' } });
  });
  afterAll(() => hub.close());

  it('reads a chunked body, and refuses one that grows over the limit with 413', async () => {
    const small = await send(hub.url, 'POST', '/task', json, Readable.from(['{"capability":', '"chunked"}']));
    expect(small.status).toBe(200);
    expect(JSON.parse(small.text)).toMatchObject({ task: { capability: 'chunked' } });
    const parts = ['{"capability":"big","payload":"', 'x'.repeat(800), 'y'.repeat(800), '"}'];
    const big = await send(hub.url, 'POST', '/task', json, Readable.from(parts));
    expect(big.status).toBe(413);
    expect(errorOf({ ...big, json: JSON.parse(big.text) })).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      message: 'request body is larger than the limit of 1024 bytes',
      details: { limit: 1024 },
    });
  });

  it('refuses a declared length over the limit with 413 naming both sizes', async () => {
    const body = JSON.stringify({ capability: 'big', payload: 'x'.repeat(2000) });
    const reply = await send(hub.url, 'POST', '/task', json, body);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.text).error.details).toEqual({ limit: 1024, size: Buffer.byteLength(body) });
    // The connection was read to the end and still serves.
    expect((await hub.raw('POST', '/task', { body: { capability: 'after' } })).status).toBe(200);
  });

  it('reads an empty chunked body as {} and ignores a UTF-8 byte order mark', async () => {
    const empty = await send(hub.url, 'POST', '/agents/register', json, Readable.from([]));
    expect(empty.status).toBe(400);
    expect(JSON.parse(empty.text).error.message).toMatch(/skills/);
    const bom = await send(hub.url, 'POST', '/task', json, `\uFEFF${JSON.stringify({ capability: 'bom' })}`);
    expect(bom.status).toBe(200);
  });

  it('names the parser’s problem for invalid JSON', async () => {
    const reply = await send(hub.url, 'POST', '/task', json, '{"capability": nope}');
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).error).toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(/^invalid JSON body: Unexpected token/),
    });
  });

  it('still reads gzip and UTF-16 bodies, through body-parser', async () => {
    const gzip = await send(
      hub.url,
      'POST',
      '/task',
      { ...json, 'content-encoding': 'gzip' },
      gzipSync(JSON.stringify({ capability: 'zipped' })),
    );
    expect(gzip.status).toBe(200);
    expect(JSON.parse(gzip.text)).toMatchObject({ task: { capability: 'zipped' } });
    const utf16 = await send(
      hub.url,
      'POST',
      '/task',
      { 'content-type': 'application/json; charset=utf-16le' },
      Buffer.from(JSON.stringify({ capability: 'wide' }), 'utf16le'),
    );
    expect(utf16.status).toBe(200);
    expect(JSON.parse(utf16.text)).toMatchObject({ task: { capability: 'wide' } });
  });

  it('names a compressed body that does not decompress, and keeps serving', async () => {
    const reply = await send(
      hub.url,
      'POST',
      '/task',
      { ...json, 'content-encoding': 'gzip' },
      '{"capability":"not zipped"}',
    );
    expect(reply.status).toBe(400);
    // zlib's message follows ("incorrect header check"); under jest, body-parser cannot tell
    // node's errors are Errors (another realm) and replaces it with "Bad Request".
    expect(JSON.parse(reply.text).error).toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(/^the request body does not decompress as its Content-Encoding says: /),
    });
    const cut = gzipSync(JSON.stringify({ capability: 'cut short', payload: 'x'.repeat(300) }));
    const truncated = await send(
      hub.url,
      'POST',
      '/task',
      { ...json, 'content-encoding': 'gzip' },
      cut.subarray(0, cut.length - 8),
    );
    expect(truncated.status).toBe(400);
    expect(JSON.parse(truncated.text).error.message).toMatch(
      /^the request body does not decompress as its Content-Encoding says: /,
    );
    expect((await hub.raw('POST', '/task', { body: { capability: 'after' } })).status).toBe(200);
  });

  it('matches routes as the router did: any case, one trailing slash, HEAD on GET routes', async () => {
    const { task } = JSON.parse((await send(hub.url, 'POST', '/TASK/', json, '{"capability":"r"}')).text);
    expect(task.capability).toBe('r');
    const got = await send(hub.url, 'GET', `/Task_Result/${encodeURIComponent(task.id)}/`, {});
    expect(got.status).toBe(200);
    expect(got.headers['x-request-id']).toEqual(expect.any(String));
    const head = await send(hub.url, 'HEAD', `/task_result/${task.id}`, {});
    expect({ status: head.status, text: head.text }).toEqual({ status: 200, text: '' });
    expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
    expect((await send(hub.url, 'GET', `/task_result/${task.id}//`, {})).status).toBe(404);
    expect((await send(hub.url, 'GET', '/task_result/', {})).status).toBe(404);
  });

  it('answers an operation with the reply headers express sent', async () => {
    const reply = await send(hub.url, 'GET', '/agent_status', { 'x-request-id': 'req-7' });
    expect(reply.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(reply.text)),
      'cache-control': 'no-store',
      'x-request-id': 'req-7',
    });
    expect(reply.headers['x-powered-by']).toBeUndefined();
    expect(reply.headers.etag).toBeUndefined();
  });
});

describe('createHttpApp', () => {
  it('refuses a body limit it cannot read', () => {
    expect(() => createHttpApp({} as never, { bodyLimit: 'lots' })).toThrow(ConfigError);
    expect(() => createHttpApp({} as never, { bodyLimit: 'lots' })).toThrow(/bodyLimit/);
  });

  it('uses a body an outer app has parsed already', async () => {
    const hub = await startHub();
    const outer = express();
    outer.use(express.json());
    outer.use('/api', createHttpApp(hub.dispatcher));
    const server = outer.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const reply = await send(url, 'POST', '/api/task', json, '{"capability":"outer"}');
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text)).toMatchObject({ task: { capability: 'outer' } });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await hub.close();
    }
  });
});

describe('expressServerOptions', () => {
  it('makes requests and responses with the app’s prototypes from birth, and express works as usual', async () => {
    const app = express();
    app.get('/x', (req, res) => {
      res.json({ header: req.get('x-a'), path: req.path });
    });
    const born: boolean[] = [];
    const server = createServer(expressServerOptions(app), (req, res) => {
      born.push(
        Object.getPrototypeOf(req) === app.request,
        Object.getPrototypeOf(res) === app.response,
        req instanceof IncomingMessage,
        res instanceof ServerResponse,
      );
      app(req, res);
    });
    server.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const reply = await send(url, 'GET', '/x', { 'x-a': 'b' });
      expect(JSON.parse(reply.text)).toEqual({ header: 'b', path: '/x' });
      expect(born).toEqual([true, true, true, true]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('expressServerOptions, then mounting', () => {
  it('keeps each app’s own prototypes when the app is mounted in another one afterwards', async () => {
    const inner = express();
    Object.assign(inner.response, { where: () => 'inner' });
    const options = expressServerOptions(inner);
    Object.assign(inner.request, { added: () => 'later' });
    const outer = express();
    inner.get('/x', (req, res) => {
      res.json({
        inner: req.app === inner && res.app === inner,
        where: (res as unknown as { where(): string }).where(),
        added: (req as unknown as { added(): string }).added(),
      });
    });
    outer.use('/in', inner);
    const server = createServer(options, outer);
    server.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const reply = await send(url, 'GET', '/in/x', {});
      expect(JSON.parse(reply.text)).toEqual({ inner: true, where: 'inner', added: 'later' });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('httpRequestListener', () => {
  it('is the app itself for an app createHttpApp did not make', () => {
    const app = express();
    expect(httpRequestListener(app)).toBe(app);
  });

  it('answers every request exactly as the express app does on its own', async () => {
    const backend = createMemoryBackend();
    const dispatcher = createDispatcher({ registry: backend.registry, queue: backend.queue });
    const shutdown = new AbortController();
    const app = createHttpApp(dispatcher, { bodyLimit: '1kb', signal: shutdown.signal });
    const servers = [
      createServer(expressServerOptions(app), httpRequestListener(app)),
      createServer(expressServerOptions(app), app),
      createServer(app),
    ];
    const urls: string[] = [];
    for (const server of servers) {
      server.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
    const id = { 'x-request-id': 'same-id' };
    const requests: Array<[string, string, Record<string, string>, string?]> = [
      ['POST', '/task', { ...json, ...id }, '{"capability": nope}'],
      ['POST', '/task', { ...json, ...id }, '{"capability":"x","bogus":1}'],
      ['POST', '/task', { ...json, ...id }, '{"capability":5,"priority":"soon"}'],
      ['POST', '/task', { ...json, ...id }, '[1]'],
      ['POST', '/task', { 'content-type': 'text/plain', ...id }, '{"capability":"x"}'],
      ['POST', '/task', { ...json, ...id }, JSON.stringify({ capability: 'x', payload: 'y'.repeat(2000) })],
      ['POST', '/task', { ...json, ...id, 'content-encoding': 'compress' }, '{}'],
      ['GET', '/task_result/%E0%A4%A', id],
      ['GET', '/task_result/unknown', id],
      ['GET', '/task_result/unknown?wait_ms=soon', id],
      ['GET', '/task_result/unknown?bogus=1', id],
      ['POST', '/task/unknown/cancel', { ...json, ...id }, '{"taskId":"other"}'],
      ['POST', '/agents/unknown/next_task', { ...json, ...id }, '{}'],
      ['DELETE', '/task', id],
      ['OPTIONS', '/task', id],
      ['GET', '/healthz', id],
      ['GET', '/metrics', id],
      ['GET', '/nowhere', id],
      ['GET', '/agent_status?capability=x', id],
      ['HEAD', '/agent_status', id],
      ['GET', '/agent_status', {}],
    ];
    const answer = async (url: string, [method, path, headers, body]: (typeof requests)[number]) => {
      const reply = await send(url, method, path, headers, body);
      const { date: _date, ...rest } = reply.headers;
      // A request without an id gets a fresh UUID each time.
      if (!headers['x-request-id']) rest['x-request-id'] = typeof rest['x-request-id'];
      return { status: reply.status, headers: rest, text: reply.text.replace(/"serverTime":\d+/, '') };
    };
    try {
      for (const request of requests) {
        const [fast, ...others] = await Promise.all(urls.map((url) => answer(url, request)));
        for (const other of others) expect({ request, ...fast }).toEqual({ request, ...other });
      }
      shutdown.abort();
      const [fast, ...others] = await Promise.all(urls.map((url) => answer(url, requests[18]!)));
      expect(fast).toMatchObject({ status: 503, headers: { connection: 'close' } });
      for (const other of others) expect(fast).toEqual(other);
    } finally {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      dispatcher.close();
    }
  });
});
