import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createDispatcher,
  NotFoundError,
  OPERATION_NAMES,
  operations,
  TimeoutError,
  UnavailableError,
} from '@mcpmas/core';
import { eventually } from '@mcpmas/testkit';
import {
  Client,
  type FetchLike,
  ProtocolError,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import {
  MCP_TOOLS,
  McpTransport,
  TOOL_BY_OPERATION,
  TOOL_NAMES,
  toolInputSchema,
  toolOutputSchema,
} from '../src/index.js';
import { advertisedSchemas } from '../src/server.js';
import { delay, KEYS, raw, serveMcp, skills, startHub, type TestHub } from './helpers.js';

let hub: TestHub;
const clients: Client[] = [];
const transports: McpTransport[] = [];

beforeAll(async () => {
  hub = await startHub({ progressIntervalMs: 50 });
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const t of transports) await t.stop();
  await hub.close();
});

/** A stock SDK client (2025 handshake unless `modern`) with an optional API key. */
async function sdkClient(apiKey?: string, modern = false): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(hub.mcpUrl), {
    requestInit: { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} },
  });
  const client = new Client(
    { name: 'test', version: '1.0.0' },
    modern ? { versionNegotiation: { mode: 'auto' } } : {},
  );
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function mcpTransport(apiKey: string = KEYS.admin, extra: { fetch?: FetchLike; url?: string } = {}) {
  const t = new McpTransport({
    url: extra.url ?? hub.mcpUrl,
    apiKey,
    ...(extra.fetch ? { fetch: extra.fetch } : {}),
  });
  transports.push(t);
  await t.start();
  return t;
}

/** Whether `value` and every object inside it are frozen. */
function allFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(allFrozen);
}

describe('tools', () => {
  it('maps every core operation to exactly one tool', () => {
    expect(Object.keys(TOOL_BY_OPERATION).sort()).toEqual([...OPERATION_NAMES].sort());
    expect(new Set(TOOL_NAMES).size).toBe(OPERATION_NAMES.length);
    for (const name of TOOL_NAMES) expect(TOOL_BY_OPERATION[MCP_TOOLS[name].operation]).toBe(name);
  });

  it('lists every tool with input and output schemas derived from the core schemas', async () => {
    const client = await sdkClient();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
    for (const name of [
      'submit_task',
      'submit_batch',
      'get_task_result',
      'cancel_task',
      'list_agents',
      'register_agent',
      'heartbeat',
      'next_task',
      'report_progress',
      'complete_task',
    ]) {
      const tool = tools.find((t) => t.name === name);
      expect(tool?.inputSchema.type).toBe('object');
      expect(tool?.outputSchema?.type).toBe('object');
      expect(tool?.description).toMatch(/scope/);
    }
    const submit = tools.find((t) => t.name === 'submit_task')!;
    expect(submit.inputSchema.required).toEqual(['capability']);
    expect(submit.inputSchema).toMatchObject({ additionalProperties: false });
    expect(Object.keys(submit.inputSchema.properties ?? {})).toEqual(
      Object.keys(operations['task.submit'].request.shape),
    );
    const get = tools.find((t) => t.name === 'get_task_result')!;
    expect(get.inputSchema.properties).toHaveProperty('waitMs');
    expect(get.annotations?.readOnlyHint).toBe(true);
    const complete = tools.find((t) => t.name === 'complete_task')!;
    expect((complete.inputSchema as { oneOf?: unknown[] }).oneOf).toHaveLength(2);
    // Success is the reply, failure is `{ error }`: both are in the advertised output.
    const output = get.outputSchema as { anyOf: Array<{ required?: string[] }> };
    expect(output.anyOf.map((s) => s.required)).toEqual([['task'], ['error']]);
  });

  it('converts each tool schema once per process; every server shares the frozen result', async () => {
    for (const name of TOOL_NAMES) {
      const first = advertisedSchemas(name);
      expect(advertisedSchemas(name)).toBe(first);
      const input = first.input['~standard'].jsonSchema.input({ target: 'draft-2020-12' });
      const output = first.output['~standard'].jsonSchema.output({ target: 'draft-2020-12' });
      // The same schemas a fresh conversion gives, and nothing can change them.
      expect(input).toEqual(toolInputSchema(name));
      expect(output).toEqual(toolOutputSchema(name));
      expect(allFrozen(input) && allFrozen(output)).toBe(true);
      expect(() => {
        (input as Record<string, unknown>).type = 'string';
      }).toThrow(TypeError);
    }
    // Listed over two separate stateless requests (a server built for each): the same schemas.
    const [a, b] = [await sdkClient(), await sdkClient()];
    expect((await a.listTools()).tools).toEqual((await b.listTools()).tools);
  });

  it('returns the reply as structuredContent with a JSON text rendering', async () => {
    const client = await sdkClient(KEYS.admin);
    const result = await client.callTool({
      name: 'submit_task',
      arguments: { capability: 'render', payload: 7 },
    });
    expect(result.isError).toBeFalsy();
    const reply = result.structuredContent as { task: { id: string; payload: unknown } };
    expect(reply.task.payload).toBe(7);
    expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(reply);
    expect((await hub.backend.queue.get(reply.task.id))?.state).toBe('queued');
  });

  it('reports core errors as tool errors carrying the serialised error', async () => {
    const client = await sdkClient(KEYS.admin);
    const bad = await client.callTool({ name: 'submit_task', arguments: { capability: 'x', colour: 'red' } });
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent).toMatchObject({ error: { code: 'VALIDATION', retryable: false } });
    expect((bad.content[0] as { text: string }).text).toMatch(/^VALIDATION: .*colour/);
    const missing = await client.callTool({ name: 'get_task_result', arguments: { taskId: 'nope' } });
    expect(missing.structuredContent).toMatchObject({
      error: { code: 'NOT_FOUND', details: { taskId: 'nope' } },
    });
  });

  it('answers an unknown tool with a JSON-RPC error, not a tool error', async () => {
    const client = await sdkClient(KEYS.admin);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toMatchObject({
      code: -32602,
    });
  });
});

describe('auth', () => {
  it('refuses a call without a key, or with a wrong one, as a tool error UNAUTHENTICATED', async () => {
    for (const key of [undefined, 'not-a-key-at-all']) {
      const client = await sdkClient(key);
      const result = await client.callTool({ name: 'list_agents', arguments: {} });
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    }
  });

  it('refuses a call outside the key’s scopes as a tool error FORBIDDEN', async () => {
    const client = await sdkClient(KEYS.reader);
    const result = await client.callTool({ name: 'submit_task', arguments: { capability: 'x' } });
    expect(result.structuredContent).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await client.callTool({ name: 'list_agents', arguments: {} })).isError).toBeFalsy();
  });

  it('lets anyone list tools and resources: they describe the API, not hub state', async () => {
    const client = await sdkClient();
    expect((await client.listTools()).tools.length).toBe(TOOL_NAMES.length);
    expect((await client.listResources()).resources.length).toBeGreaterThan(0);
  });

  it('passes the bearer key, protocol, traceparent and request id to the dispatcher', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const body = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'list_agents', arguments: {} },
    };
    const reply = await raw(hub.mcpUrl, JSON.stringify(body), {
      headers: {
        authorization: `Bearer ${KEYS.admin}`,
        traceparent,
        'x-request-id': 'req-ctx-1',
        'mcp-protocol-version': '2025-06-18',
      },
    });
    expect(reply.status).toBe(200);
    const seen = hub.contexts.find((c) => c.context.requestId === 'req-ctx-1');
    expect(seen?.operation).toBe('agents.status');
    expect(seen?.context).toMatchObject({
      protocol: 'mcp',
      credentials: KEYS.admin,
      traceparent,
      principal: { keyId: 'admin' },
    });
    expect(seen?.context.remoteAddress).toMatch(/127\.0\.0\.1/);
  });
});

describe('resources', () => {
  it('lists the agent list and the task and batch templates', async () => {
    const client = await sdkClient(KEYS.admin);
    expect((await client.listResources()).resources.map((r) => r.uri)).toContain('mcpmas://agents');
    const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    expect(templates).toEqual(
      expect.arrayContaining(['mcpmas://tasks/{taskId}', 'mcpmas://batches/{batchId}']),
    );
  });

  it('reads agents, a task and a batch as JSON', async () => {
    const t = await mcpTransport();
    const { agentId } = (await t.sendMessage('agent.register', { name: 'res', skills: skills('res') })) as {
      agentId: string;
    };
    const { task } = (await t.sendMessage('task.submit', { capability: 'res', payload: 'r' })) as {
      task: { id: string };
    };
    const { batchId } = (await t.sendMessage('task.submit_batch', { tasks: [{ capability: 'res' }] })) as {
      batchId: string;
    };
    const client = await sdkClient(KEYS.admin);
    const read = async (uri: string) => {
      const { contents } = await client.readResource({ uri });
      expect(contents[0]).toMatchObject({ uri, mimeType: 'application/json' });
      return JSON.parse((contents[0] as { text: string }).text);
    };
    expect((await read('mcpmas://agents')).agents.map((a: { id: string }) => a.id)).toContain(agentId);
    expect((await read(`mcpmas://tasks/${task.id}`)).task).toMatchObject({ id: task.id, payload: 'r' });
    expect(await read(`mcpmas://batches/${batchId}`)).toMatchObject({ batchId, total: 1 });
  });

  it('answers a failed read with a JSON-RPC error carrying the serialised error', async () => {
    const client = await sdkClient(KEYS.admin);
    const missing = client.readResource({ uri: 'mcpmas://tasks/no-such-task' });
    await expect(missing).rejects.toBeInstanceOf(ProtocolError);
    await expect(missing).rejects.toMatchObject({ code: -32602, data: { error: { code: 'NOT_FOUND' } } });
    const anonymous = await sdkClient();
    await expect(anonymous.readResource({ uri: 'mcpmas://agents' })).rejects.toMatchObject({
      code: -32001,
      data: { error: { code: 'UNAUTHENTICATED' } },
    });
  });
});

describe('long-polls', () => {
  for (const modern of [false, true]) {
    it(`sends progress keep-alives while next_task waits, when asked (${modern ? '2026-07-28' : '2025'} era)`, async () => {
      const client = await sdkClient(KEYS.admin, modern);
      const capability = `keepalive-${modern}`;
      const reg = await client.callTool({
        name: 'register_agent',
        arguments: { name: 'k', skills: skills(capability) },
      });
      const { agentId } = reg.structuredContent as { agentId: string };
      const ticks: number[] = [];
      const result = await client.callTool(
        { name: 'next_task', arguments: { agentId, waitMs: 400 } },
        { onprogress: (p) => ticks.push(p.progress) },
      );
      expect(result.structuredContent).toEqual({ tasks: [] });
      expect(ticks.length).toBeGreaterThanOrEqual(3);
      expect(ticks).toEqual([...ticks].sort((a, b) => a - b));
      // Without a progress token the same wait answers with plain JSON.
      const quiet = await client.callTool({ name: 'next_task', arguments: { agentId, waitMs: 150 } });
      expect(quiet.structuredContent).toEqual({ tasks: [] });
    });
  }

  it('honours the caller’s abort signal: the call rejects and the hub stops waiting', async () => {
    const t = await mcpTransport();
    const { agentId } = (await t.sendMessage('agent.register', {
      name: 'a',
      skills: skills('abort-me'),
    })) as {
      agentId: string;
    };
    const controller = new AbortController();
    const t0 = Date.now();
    const waiting = t.sendMessage('task.next', { agentId, waitMs: 20_000 }, { signal: controller.signal });
    await delay(200);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - t0).toBeLessThan(3000);
    // The hub saw the client go away and ended the wait (the dispatcher's signal aborted).
    const aborted = await eventually(
      () =>
        hub.contexts.some(
          (c) =>
            c.operation === 'task.next' && c.context.signal?.aborted && (c.context.requestId ?? '') !== '',
        ),
      3000,
    );
    expect(aborted).toBe(true);
  });

  it('ends pending calls with UnavailableError when the transport stops', async () => {
    const t = new McpTransport({ url: hub.mcpUrl, apiKey: KEYS.admin });
    await t.start();
    const { agentId } = (await t.sendMessage('agent.register', { name: 's', skills: skills('stop-me') })) as {
      agentId: string;
    };
    const waiting = t.sendMessage('task.next', { agentId, waitMs: 20_000 });
    await delay(100);
    await t.stop();
    await expect(waiting).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe('statelessness', () => {
  it('serves one client across two hub instances on one backend, request by request', async () => {
    // A second hub instance sharing the first one's backend: no sessions, no stickiness.
    const other = createDispatcher({ registry: hub.backend.registry, queue: hub.backend.queue });
    const second = await serveMcp(other);
    try {
      const urls = [hub.mcpUrl, second.mcpUrl];
      const hits = [0, 0];
      let turn = 0;
      const roundRobin: FetchLike = (_input, init) => {
        const i = turn++ % 2;
        hits[i]! += 1;
        return fetch(urls[i]!, init);
      };
      const t = await mcpTransport(KEYS.admin, { fetch: roundRobin });
      const { agentId } = (await t.sendMessage('agent.register', { name: 'rr', skills: skills('rr') })) as {
        agentId: string;
      };
      const { task } = (await t.sendMessage('task.submit', { capability: 'rr', payload: 1 })) as {
        task: { id: string };
      };
      const { tasks } = (await t.sendMessage('task.next', { agentId })) as {
        tasks: Array<{ taskId: string; leaseToken: string }>;
      };
      await t.sendMessage('task.result', {
        taskId: task.id,
        agentId,
        leaseToken: tasks[0]!.leaseToken,
        status: 'succeeded',
        result: 'done',
      });
      expect(await t.sendMessage('task.get', { taskId: task.id })).toMatchObject({
        task: { state: 'succeeded', result: 'done' },
      });
      expect(hits[0]).toBeGreaterThanOrEqual(3);
      expect(hits[1]).toBeGreaterThanOrEqual(3);
    } finally {
      other.close();
      await second.close();
    }
  });

  it('rebuilds typed errors from tool errors', async () => {
    const t = await mcpTransport();
    await expect(t.sendMessage('task.get', { taskId: 'missing-task' })).rejects.toBeInstanceOf(NotFoundError);
  });
});
