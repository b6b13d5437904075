/**
 * Malformed traffic at /mcp: every bad request gets a JSON-RPC error with the right HTTP
 * status, and the hub keeps serving.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEFAULT_MCP_MAX_BATCH } from '../src/index.js';
import { KEYS, raw, startHub, type TestHub } from './helpers.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({ bodyLimit: 64 * 1024 });
});
afterAll(async () => {
  await hub.close();
});

const legacy = { 'mcp-protocol-version': '2025-06-18' };
const call = (id: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'list_agents', arguments: {} },
});

/** The single JSON-RPC message of a reply, whether sent as JSON or as one SSE event. */
function messageOf(text: string): {
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
} {
  const data = text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? 'null');
  return JSON.parse(data);
}

async function stillServing(): Promise<void> {
  const reply = await raw(hub.mcpUrl, JSON.stringify(call(99)), {
    headers: { ...legacy, authorization: `Bearer ${KEYS.admin}` },
  });
  expect(reply.status).toBe(200);
  expect(messageOf(reply.text)).toMatchObject({ id: 99, result: { structuredContent: { agents: [] } } });
}

describe('invalid JSON-RPC', () => {
  const cases: Array<[string, string, number, number]> = [
    ['garbage', '{"jsonrpc": "2.0", "id": 1, "method": ', 400, -32700],
    ['an empty body', '', 400, -32700],
    ['binary noise', '\u0000\u0001\u00ff\u00fe', 400, -32700],
    ['a message without jsonrpc', JSON.stringify({ id: 1, method: 'tools/list' }), 400, -32600],
    ['a message without method', JSON.stringify({ jsonrpc: '2.0', id: 1 }), 400, -32600],
    ['a bare number', '42', 400, -32600],
    ['a wrong jsonrpc version', JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'tools/list' }), 400, -32600],
    ['an empty batch', '[]', 400, -32600],
    [
      'a batch over the limit',
      JSON.stringify(Array.from({ length: DEFAULT_MCP_MAX_BATCH + 1 }, (_, i) => call(i))),
      400,
      -32600,
    ],
  ];
  for (const [what, body, status, code] of cases) {
    it(`answers ${what} with HTTP ${status} and JSON-RPC ${code}`, async () => {
      const reply = await raw(hub.mcpUrl, body, { headers: legacy });
      expect(reply.status).toBe(status);
      expect(reply.json).toMatchObject({ jsonrpc: '2.0', error: { code, message: expect.any(String) } });
      await stillServing();
    });
  }

  it('refuses JSON nested too deeply, naming where: the body by itself, a tool argument by its tool', async () => {
    const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
    const submit = (id: number, payload: string) =>
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"submit_task","arguments":{"capability":"x","payload":${payload}}}}`;
    const headers = { ...legacy, authorization: `Bearer ${KEYS.admin}` };
    // Deeper than any recursive serialiser copes with (the SDK serialises the body again).
    const hostile = await raw(hub.mcpUrl, submit(5, nested(20_000)), { headers });
    expect(hostile.status).toBe(400);
    expect(hostile.json).toMatchObject({
      jsonrpc: '2.0',
      id: 5,
      error: {
        code: -32600,
        message: expect.stringMatching(
          /^Invalid Request: params\.arguments\.payload(\.0)+: nested deeper than 38 levels/,
        ),
      },
    });
    // One level past the limit of task JSON: the tool refuses it, naming the field.
    const over = messageOf((await raw(hub.mcpUrl, submit(6, nested(31)), { headers })).text);
    expect(over).toMatchObject({
      id: 6,
      result: {
        isError: true,
        structuredContent: {
          error: {
            code: 'VALIDATION',
            message: expect.stringMatching(/payload(\.0)+: nested deeper than 30 levels/),
          },
        },
      },
    });
    await stillServing();
  });

  it('answers an unknown method with -32601', async () => {
    const reply = await raw(hub.mcpUrl, JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'no/such' }), {
      headers: legacy,
    });
    expect(messageOf(reply.text)).toMatchObject({ id: 5, error: { code: -32601 } });
    await stillServing();
  });

  it('serves a small batch of valid messages', async () => {
    const reply = await raw(hub.mcpUrl, JSON.stringify([call(1), call(2)]), {
      headers: { ...legacy, authorization: `Bearer ${KEYS.admin}` },
    });
    expect(reply.status).toBe(200);
    expect(reply.text).toMatch(/"id":1/);
    expect(reply.text).toMatch(/"id":2/);
  });

  it('refuses an oversized body by its Content-Length with 413, before reading it', async () => {
    const body = JSON.stringify({
      ...call(1),
      params: { name: 'x', arguments: { pad: 'y'.repeat(70 * 1024) } },
    });
    const reply = await raw(hub.mcpUrl, body, { headers: legacy });
    expect(reply.status).toBe(413);
    expect(reply.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
    await stillServing();
  });

  it('refuses an oversized chunked body (no Content-Length) with 413', async () => {
    const chunks = Array.from({ length: 80 }, () => 'z'.repeat(1024));
    const res = await fetch(hub.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...legacy,
      },
      body: Readable.toWeb(Readable.from(chunks)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: -32600 } });
    await stillServing();
  });

  it('refuses a body that is not JSON by content type with 415', async () => {
    const reply = await raw(hub.mcpUrl, JSON.stringify(call(1)), {
      headers: { ...legacy, 'content-type': 'text/plain' },
    });
    expect(reply.status).toBe(415);
    await stillServing();
  });
});

describe('HTTP methods of a stateless endpoint', () => {
  for (const method of ['GET', 'DELETE', 'PUT', 'PATCH']) {
    it(`answers ${method} with 405 and a JSON-RPC error`, async () => {
      const reply = await raw(hub.mcpUrl, undefined, { method, headers: { accept: 'text/event-stream' } });
      expect(reply.status).toBe(405);
      expect(reply.json).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
      expect(reply.headers.get('allow')).toMatch(/POST/);
    });
  }

  it('never hands out a session id', async () => {
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    };
    const reply = await raw(hub.mcpUrl, JSON.stringify(init));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('mcp-session-id')).toBeNull();
  });
});
