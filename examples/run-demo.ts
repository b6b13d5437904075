/**
 * The mcpmas demo, in one process and on the in-memory backend: a hub serving HTTP on a free
 * port, three model agents connected over HTTP, and a client that submits one batch of tasks
 * with mixed priorities, waits for every result and prints who ran what, in the order the
 * tasks finished. Then everything shuts down and the process exits 0.
 *
 *   pnpm demo            # builds the packages, then runs this file with tsx
 */
import { createHttpClient, HttpServerAdapter, HttpTransport } from '@mcpmas/adapter-http';
import { createEchoHandler, type EchoResult, ModelAgent } from '@mcpmas/agent';
import { type LeasedTask, Priority, type TaskView } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';

/** If anything keeps the process alive after the demo, say so and fail instead of hanging. */
const watchdog = setTimeout(() => {
  console.error('demo: still running 60 s after start; something did not shut down');
  process.exit(1);
}, 60_000);
watchdog.unref();

type PriorityName = keyof typeof Priority;

/** The batch: what each task asks for and how urgent it is. */
const TASKS: Array<{ label: string; priority: PriorityName; text: string }> = [
  { label: 'weekly-report', priority: 'normal', text: 'summarise the weekly report' },
  { label: 'pager-alert', priority: 'urgent', text: 'triage the pager alert' },
  { label: 'translate-faq', priority: 'low', text: 'translate the FAQ to French' },
  { label: 'customer-reply', priority: 'high', text: 'draft a reply to the customer' },
  { label: 'tag-photos', priority: 'low', text: 'tag the holiday photos' },
  { label: 'fraud-check', priority: 'urgent', text: 'check the flagged payment' },
  { label: 'meeting-notes', priority: 'normal', text: 'clean up the meeting notes' },
  { label: 'release-notes', priority: 'high', text: 'write the release notes' },
  { label: 'archive-logs', priority: 'low', text: 'archive last month of logs' },
  { label: 'sales-forecast', priority: 'normal', text: 'update the sales forecast' },
  { label: 'security-patch', priority: 'high', text: 'review the security patch' },
  { label: 'newsletter', priority: 'normal', text: 'proofread the newsletter' },
];

/** Three agents of different speed and capacity share the work. */
const AGENTS = [
  { name: 'agent-alpha', concurrency: 1, delayMs: 250 },
  { name: 'agent-bravo', concurrency: 2, delayMs: 400 },
  { name: 'agent-charlie', concurrency: 1, delayMs: 150 },
];

const http = new HttpServerAdapter({ host: '127.0.0.1', port: 0 });
const hub = new Hub({ adapters: [http] });
const agents: ModelAgent[] = [];
let client: ReturnType<typeof createHttpClient> | undefined;

async function main(): Promise<void> {
  await hub.start();
  const { url } = http.address();
  console.log(`hub listening on ${url} (in-memory backend)`);

  const names = new Map<string, string>();
  // The order in which agents received their tasks (the hub leases by priority, then FIFO).
  const picked: string[] = [];
  for (const spec of AGENTS) {
    const agent = new ModelAgent({
      transport: new HttpTransport({ baseUrl: url }),
      name: spec.name,
      skills: [{ id: 'echo', name: 'Echo', description: 'Returns its payload' }],
      handler: createEchoHandler({ delayMs: spec.delayMs }),
      concurrency: spec.concurrency,
      pollWaitMs: 5000,
      drainTimeoutMs: 5000,
    });
    agent.on('task', (task: LeasedTask) => picked.push(task.taskId));
    await agent.start();
    agents.push(agent);
    names.set(agent.agentId, spec.name);
    console.log(`${spec.name} connected over HTTP (concurrency ${spec.concurrency}, id ${agent.agentId})`);
  }

  client = createHttpClient({ baseUrl: url });
  const batch = await client.submitBatch({
    tasks: TASKS.map((t) => ({
      capability: 'echo',
      payload: t.text,
      priority: t.priority,
      metadata: { label: t.label },
    })),
  });
  console.log(`\nsubmitted batch ${batch.batchId}: ${batch.tasks.length} tasks over HTTP\n`);

  // Wait for every result at once (task.get with waitMs), noting the order they arrive in.
  const finished: TaskView[] = [];
  await Promise.all(
    batch.tasks.map(async ({ taskId }) => {
      const { task } = await client!.get({ taskId, waitMs: 30_000 });
      if (task.state !== 'succeeded') throw new Error(`task ${taskId} ended ${task.state}`);
      finished.push(task);
    }),
  );
  finished.sort((a, b) => (a.completedAt ?? 0) - (b.completedAt ?? 0));

  printTable(
    ['done', 'picked', 'task', 'priority', 'result', 'agent'],
    finished.map((task, i) => {
      const result = task.result as EchoResult;
      return [
        String(i + 1),
        String(picked.indexOf(task.id) + 1),
        String(task.metadata.label),
        priorityName(task.priority),
        `echo: ${String(result.echo)}`,
        names.get(result.agentId) ?? result.agentId,
      ];
    }),
  );

  const perAgent = AGENTS.map((spec) => {
    const count = finished.filter((t) => names.get((t.result as EchoResult).agentId) === spec.name).length;
    return `${spec.name} ${count}`;
  });
  console.log(`\ntasks per agent: ${perAgent.join(', ')}`);
  console.log('Rows are in completion order; "picked" is the order in which agents received their tasks.');
  console.log('The hub hands out higher priorities first, in submission order within a priority, so the');
  console.log('urgent and high tasks are picked first even when a slower agent finishes them later.');
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
  // Agents first (they drain and unregister), then the client's sockets, then the hub.
  await Promise.all(agents.map((agent) => agent.stop()));
  await client?.transport.stop();
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
