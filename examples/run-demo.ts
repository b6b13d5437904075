/**
 * The mcpmas demo, in one process and on the in-memory backend: one hub serving all four
 * protocols at once — HTTP/REST and MCP (Streamable HTTP at /mcp) on one HTTP port, WebSocket
 * and gRPC on ports of their own — one echo agent per protocol, and one client per protocol
 * that each submit a batch of tasks with mixed priorities. It waits for every result, prints
 * what ran where in the order the tasks finished, then shuts everything down and exits 0.
 *
 *   pnpm demo            # builds the packages, then runs this file with tsx
 */
import { createGrpcClient, GrpcServerAdapter, GrpcTransport } from '@mcpmas/adapter-grpc';
import { createHttpClient, HttpServerAdapter, HttpTransport } from '@mcpmas/adapter-http';
import { createMcpClient, type McpHttpEndpoint, McpTransport, mountMcp } from '@mcpmas/adapter-mcp';
import { createWsClient, WsServerAdapter, WsTransport } from '@mcpmas/adapter-ws';
import { createEchoHandler, type EchoResult, ModelAgent } from '@mcpmas/agent';
import {
  type AgentCommInterface,
  type HubClient,
  type LeasedTask,
  Priority,
  type TaskView,
} from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';

/** If anything keeps the process alive after the demo, say so and fail instead of hanging. */
const watchdog = setTimeout(() => {
  console.error('demo: still running 60 s after start; something did not shut down');
  process.exit(1);
}, 60_000);
watchdog.unref();

type PriorityName = keyof typeof Priority;
type Protocol = 'http' | 'ws' | 'grpc' | 'mcp';
const PROTOCOLS: Protocol[] = ['http', 'ws', 'grpc', 'mcp'];

/** The work: what each task asks for, how urgent it is, and which protocol submits it. */
const TASKS: Array<{ label: string; priority: PriorityName; text: string; via: Protocol }> = [
  { label: 'weekly-report', priority: 'normal', text: 'summarise the weekly report', via: 'http' },
  { label: 'pager-alert', priority: 'urgent', text: 'triage the pager alert', via: 'ws' },
  { label: 'translate-faq', priority: 'low', text: 'translate the FAQ to French', via: 'grpc' },
  { label: 'customer-reply', priority: 'high', text: 'draft a reply to the customer', via: 'mcp' },
  { label: 'tag-photos', priority: 'low', text: 'tag the holiday photos', via: 'http' },
  { label: 'fraud-check', priority: 'urgent', text: 'check the flagged payment', via: 'grpc' },
  { label: 'meeting-notes', priority: 'normal', text: 'clean up the meeting notes', via: 'ws' },
  { label: 'release-notes', priority: 'high', text: 'write the release notes', via: 'http' },
  { label: 'archive-logs', priority: 'low', text: 'archive last month of logs', via: 'mcp' },
  { label: 'sales-forecast', priority: 'normal', text: 'update the sales forecast', via: 'grpc' },
  { label: 'security-patch', priority: 'high', text: 'review the security patch', via: 'ws' },
  { label: 'newsletter', priority: 'normal', text: 'proofread the newsletter', via: 'mcp' },
];

/** One agent per protocol, each a little different in speed. */
const AGENT_DELAY_MS: Record<Protocol, number> = { http: 250, ws: 150, grpc: 200, mcp: 300 };

// The hub: HTTP with MCP mounted on the same server, WebSocket and gRPC on free ports.
let mcpEndpoint: McpHttpEndpoint | undefined;
const http = new HttpServerAdapter({
  host: '127.0.0.1',
  port: 0,
  mount: (app) => {
    mcpEndpoint = mountMcp(app, hub.dispatcher);
  },
});
const ws = new WsServerAdapter({ host: '127.0.0.1', port: 0, path: '/ws' });
const grpc = new GrpcServerAdapter({ host: '127.0.0.1', port: 0 });
const hub = new Hub({ adapters: [http, ws, grpc] });

const agents: ModelAgent[] = [];
const clients: HubClient[] = [];

async function main(): Promise<void> {
  await hub.start();
  const urls: Record<Protocol, string> = {
    http: http.address().url,
    ws: ws.address().url,
    grpc: `grpc://${grpc.address().address}`,
    mcp: `${http.address().url}/mcp`,
  };
  console.log('hub on the in-memory backend, serving:');
  for (const p of PROTOCOLS) console.log(`  ${p.padEnd(4)}  ${urls[p]}`);

  // One client per protocol; each submits its share of the tasks as one batch, before any
  // agent is connected, so the hub's priority order decides who gets what first.
  const client: Record<Protocol, HubClient> = {
    http: createHttpClient({ baseUrl: urls.http }),
    ws: await createWsClient({ url: urls.ws }),
    grpc: await createGrpcClient({ address: grpc.address().address }),
    mcp: await createMcpClient({ url: urls.mcp }),
  };
  clients.push(...Object.values(client));
  const submittedOver = new Map<string, Protocol>();
  await Promise.all(
    PROTOCOLS.map(async (p) => {
      const mine = TASKS.filter((t) => t.via === p);
      const batch = await client[p].submitBatch({
        tasks: mine.map((t) => ({
          capability: 'echo',
          payload: t.text,
          priority: t.priority,
          metadata: { label: t.label },
        })),
      });
      for (const { taskId } of batch.tasks) submittedOver.set(taskId, p);
      console.log(`${p} client submitted ${mine.length} tasks (batch ${batch.batchId})`);
    }),
  );

  // One echo agent per protocol, named after it.
  const picked: string[] = [];
  const transports: Record<Protocol, () => AgentCommInterface> = {
    http: () => new HttpTransport({ baseUrl: urls.http }),
    ws: () => new WsTransport({ url: urls.ws }),
    grpc: () => new GrpcTransport({ address: grpc.address().address }),
    mcp: () => new McpTransport({ url: urls.mcp }),
  };
  const names = new Map<string, string>();
  await Promise.all(
    PROTOCOLS.map(async (p) => {
      const agent = new ModelAgent({
        transport: transports[p](),
        name: `${p}-agent`,
        skills: [{ id: 'echo', name: 'Echo', description: 'Returns its payload' }],
        handler: createEchoHandler({ delayMs: AGENT_DELAY_MS[p] }),
        concurrency: 1,
        pollWaitMs: 5000,
        drainTimeoutMs: 5000,
      });
      agent.on('task', (task: LeasedTask) => picked.push(task.taskId));
      agents.push(agent);
      await agent.start();
      names.set(agent.agentId, `${p}-agent`);
    }),
  );
  // The protocol each agent registered over, as the hub's registry records it.
  const { agents: registered } = await client.http.agentsStatus();
  const agentProtocol = new Map(registered.map((a) => [a.id, a.protocol ?? '?']));
  console.log(`agents connected: ${registered.map((a) => `${a.name} (${a.protocol})`).join(', ')}\n`);

  // Each client waits for its own tasks' results (task.get with waitMs, long-poll).
  const finished: TaskView[] = [];
  await Promise.all(
    [...submittedOver].map(async ([taskId, p]) => {
      const { task } = await client[p].get({ taskId, waitMs: 30_000 });
      if (task.state !== 'succeeded') throw new Error(`task ${taskId} ended ${task.state}`);
      finished.push(task);
    }),
  );
  finished.sort((a, b) => (a.completedAt ?? 0) - (b.completedAt ?? 0));

  printTable(
    ['done', 'picked', 'task', 'priority', 'submitted over', 'run by', 'result'],
    finished.map((task, i) => {
      const result = task.result as EchoResult;
      return [
        String(i + 1),
        String(picked.indexOf(task.id) + 1),
        String(task.metadata.label),
        priorityName(task.priority),
        submittedOver.get(task.id)!,
        `${names.get(result.agentId) ?? result.agentId} over ${agentProtocol.get(result.agentId)}`,
        `echo: ${String(result.echo)}`,
      ];
    }),
  );

  const perAgent = PROTOCOLS.map((p) => {
    const count = finished.filter((t) => names.get((t.result as EchoResult).agentId) === `${p}-agent`).length;
    return `${p}-agent ${count}`;
  });
  console.log(`\ntasks per agent: ${perAgent.join(', ')}`);
  console.log('Rows are in completion order; "picked" is the order in which agents received their tasks.');
  console.log('The hub hands out higher priorities first, in submission order within a priority, whatever');
  console.log('protocol a task was submitted over or an agent is connected by.');
}

function priorityName(value: number): string {
  const entry = Object.entries(Priority).find(([, v]) => v === value);
  return entry ? entry[0] : String(value);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
}

async function shutdown(): Promise<void> {
  // Agents first (they drain and unregister), then the clients, then MCP's calls and the hub.
  await Promise.all(agents.map((agent) => agent.stop()));
  await Promise.all(clients.map((c) => c.transport.stop()));
  await mcpEndpoint?.close();
  await hub.stop();
}

try {
  await main();
  await shutdown();
  console.log('\nshut down cleanly');
} catch (error) {
  console.error('demo failed:', error);
  await shutdown().catch(() => undefined);
  process.exitCode = 1;
}
