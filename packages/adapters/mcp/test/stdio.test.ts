/**
 * The stdio bridge (`mcpmas-mcp-stdio`) launched as a child process, as a desktop MCP host
 * would, and driven by the SDK client over stdio; it forwards every call to a hub over HTTP.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { TOOL_NAMES } from '../src/index.js';
import { KEYS, skills, startHub, type TestHub } from './helpers.js';

const bridgeEntry = fileURLToPath(new URL('../src/stdio.ts', import.meta.url));
let hub: TestHub;
const clients: Client[] = [];

beforeAll(async () => {
  hub = await startHub();
});
afterAll(async () => {
  // Closing the client closes the bridge's stdin; the bridge then exits.
  for (const client of clients) await client.close().catch(() => undefined);
  await hub.close();
});

/** Launches the bridge with the given environment and connects an SDK client to it. */
async function launch(env: Record<string, string>, modern = false): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    // The TypeScript entry through tsx, so the bridge under test is the current source.
    args: ['--import', 'tsx', bridgeEntry],
    env: { PATH: process.env.PATH ?? '', ...env },
    stderr: 'pipe',
  });
  const client = new Client(
    { name: 'desktop-host', version: '1.0.0' },
    modern ? { versionNegotiation: { mode: 'auto' } } : {},
  );
  clients.push(client);
  await client.connect(transport);
  return client;
}

describe('mcpmas-mcp-stdio', () => {
  for (const modern of [false, true]) {
    it(`serves the hub's tools and forwards calls over HTTP (${modern ? '2026-07-28' : '2025'} era)`, async () => {
      const client = await launch({ MCPMAS_HUB_URL: hub.url, MCPMAS_API_KEY: KEYS.admin }, modern);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());

      const capability = `stdio-${modern}`;
      const reg = await client.callTool({
        name: 'register_agent',
        arguments: { name: 'desk', skills: skills(capability) },
      });
      const { agentId } = reg.structuredContent as { agentId: string };
      const sub = await client.callTool({
        name: 'submit_task',
        arguments: { capability, payload: 'via stdio' },
      });
      const { task } = sub.structuredContent as { task: { id: string } };
      const next = await client.callTool({ name: 'next_task', arguments: { agentId, waitMs: 1000 } });
      const [leased] = (next.structuredContent as { tasks: Array<{ taskId: string; leaseToken: string }> })
        .tasks;
      expect(leased?.taskId).toBe(task.id);
      await client.callTool({
        name: 'complete_task',
        arguments: {
          taskId: task.id,
          agentId,
          leaseToken: leased!.leaseToken,
          status: 'succeeded',
          result: 42,
        },
      });
      const got = await client.callTool({ name: 'get_task_result', arguments: { taskId: task.id } });
      expect(got.structuredContent).toMatchObject({ task: { state: 'succeeded', result: 42 } });
      // The hub saw the calls arrive over HTTP with the bridge's key.
      const seen = hub.contexts.filter((c) => c.operation === 'task.submit' && c.context.protocol === 'http');
      expect(seen.at(-1)?.context.principal?.keyId).toBe('admin');

      const invalid = await client.callTool({
        name: 'submit_task',
        arguments: { capability: 'bad capability!' },
      });
      expect(invalid.structuredContent).toMatchObject({ error: { code: 'VALIDATION' } });

      const { contents } = await client.readResource({ uri: `mcpmas://tasks/${task.id}` });
      expect(JSON.parse((contents[0] as { text: string }).text).task.state).toBe('succeeded');
    }, 30_000);
  }

  it('passes the hub’s errors through as tool errors', async () => {
    const client = await launch({ MCPMAS_HUB_URL: hub.url, MCPMAS_API_KEY: 'wrong-key-wrong-key' });
    const refused = await client.callTool({ name: 'list_agents', arguments: {} });
    expect(refused).toMatchObject({
      isError: true,
      structuredContent: { error: { code: 'UNAUTHENTICATED' } },
    });
  }, 30_000);

  it('reports an unreachable hub as a retryable UNAVAILABLE tool error', async () => {
    const client = await launch({ MCPMAS_HUB_URL: 'http://127.0.0.1:9', MCPMAS_API_KEY: KEYS.admin });
    const result = await client.callTool({ name: 'list_agents', arguments: {} });
    expect(result.structuredContent).toMatchObject({ error: { code: 'UNAVAILABLE', retryable: true } });
  }, 30_000);
});
