/**
 * pnpm bench:core — in-memory dispatcher throughput and one-task HTTP latency, each next to a
 * reference measured in the same process:
 *
 * 1. submit → lease → result through the dispatcher (validation, auth, plugins, wake-ups)
 *    vs. the same three steps straight on the memory queue: the dispatcher's overhead.
 * 2. one task over HTTP on loopback (submit, next, result, get: four requests) vs. four
 *    requests to a bare node:http JSON echo server: what the hub adds per round trip.
 * 3. many idle agents: 64 clients submitting and waiting for results through the dispatcher,
 *    served by 64 agents each long-polling `task.next` for one task at a time, vs. one agent
 *    doing the same: the CPU a task costs when many agents wait for work. A submit should
 *    hand its task to one waiting agent, not wake them all (the ratio stays near 1).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpServerAdapter, HttpTransport } from '@mcpmas/adapter-http';
import {
  type CallContext,
  createDispatcher,
  createMemoryBackend,
  HubClient,
  MemoryTaskQueue,
} from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import { Pool } from 'undici';
import { percentile, row, since } from './stats.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const HTTP_ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 1000);
const ctx: CallContext = { protocol: 'bench' };

async function rawQueue(n: number): Promise<number> {
  const queue = new MemoryTaskQueue({ resultTtlMs: 1, maxTerminalTasks: 1000 });
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await queue.submit({ capability: 'echo', payload: { i }, priority: i % 3 });
    const [t] = await queue.lease({ agentId: 'a', capabilities: ['echo'], max: 1 });
    await queue.complete(
      { taskId: t!.taskId, agentId: 'a', leaseToken: t!.leaseToken },
      { status: 'succeeded', result: { i } },
    );
    if (i % 1000 === 0) await queue.trimResults();
  }
  return n / (since(start) / 1000);
}

async function viaDispatcher(n: number): Promise<number> {
  const backend = createMemoryBackend({ queue: { resultTtlMs: 1, maxTerminalTasks: 1000 } });
  const d = createDispatcher({ registry: backend.registry, queue: backend.queue });
  await d.call(
    'agent.register',
    { agentId: 'a', name: 'bench', skills: [{ id: 'echo', name: 'Echo' }] },
    ctx,
  );
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await d.call('task.submit', { capability: 'echo', payload: { i }, priority: i % 3 }, ctx);
    const { tasks } = await d.call('task.next', { agentId: 'a' }, ctx);
    const t = tasks[0]!;
    await d.call(
      'task.result',
      { taskId: t.taskId, agentId: 'a', leaseToken: t.leaseToken, status: 'succeeded', result: { i } },
      ctx,
    );
    if (i % 1000 === 0) await backend.queue.trimResults();
  }
  const rate = n / (since(start) / 1000);
  d.close();
  return rate;
}

/**
 * CPU per task with 64 loops submitting and waiting on `task.get`, and `agents` agents
 * long-polling `task.next` for one task at a time, all through one dispatcher.
 */
async function idleAgents(n: number, agents: number): Promise<number> {
  const backend = createMemoryBackend({ queue: { resultTtlMs: 1, maxTerminalTasks: 1000 } });
  const d = createDispatcher({ registry: backend.registry, queue: backend.queue });
  let stopping = false;
  const loops = Array.from({ length: agents }, async (_, a) => {
    const agentId = `agent-${a}`;
    await d.call('agent.register', { agentId, name: 'bench', skills: [{ id: 'echo', name: 'Echo' }] }, ctx);
    while (!stopping) {
      const { tasks } = await d.call('task.next', { agentId, max: 1, waitMs: 1000 }, ctx);
      for (const t of tasks) {
        await d.call(
          'task.result',
          { taskId: t.taskId, agentId, leaseToken: t.leaseToken, status: 'succeeded', result: t.payload },
          ctx,
        );
      }
    }
  });
  let next = 0;
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next++ < n) {
        const { task } = await d.call('task.submit', { capability: 'echo', payload: { n: next } }, ctx);
        await d.call('task.get', { taskId: task.id, waitMs: 10_000 }, ctx);
        // A macrotask turn per task, as a server gets one per request: agents sit waiting.
        await new Promise((resolve) => setImmediate(resolve));
        if (next % 1000 === 0) await backend.queue.trimResults();
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  stopping = true;
  d.close();
  await Promise.all(loops);
  return (used.user + used.system) / n;
}

async function hubOverHttp(rounds: number): Promise<number[]> {
  const http = new HttpServerAdapter({ port: 0 });
  const hub = new Hub({ adapters: [http], backend: createMemoryBackend({ queue: { resultTtlMs: 1000 } }) });
  await hub.start();
  const transport = new HttpTransport({ baseUrl: http.address().url });
  await transport.start();
  const c = new HubClient(transport);
  const { agentId } = await c.register({ name: 'bench', skills: [{ id: 'echo', name: 'Echo' }] });
  const samples: number[] = [];
  for (let i = 0; i < rounds + 100; i++) {
    const start = process.hrtime.bigint();
    const { task } = await c.submit({ capability: 'echo', payload: { i } });
    const { tasks } = await c.next({ agentId });
    await c.result({
      taskId: task.id,
      agentId,
      leaseToken: tasks[0]!.leaseToken,
      status: 'succeeded',
      result: { i },
    });
    await c.get({ taskId: task.id });
    if (i >= 100) samples.push(since(start)); // the first 100 warm up
  }
  await transport.stop();
  await hub.stop();
  return samples;
}

async function bareHttp(rounds: number): Promise<number[]> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? Buffer.concat(chunks).toString() : '{}';
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ echo: JSON.parse(body) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 4 });
  const call = async (method: 'GET' | 'POST', body?: unknown) => {
    const res = await pool.request({
      method,
      path: '/echo',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return res.body.json();
  };
  const samples: number[] = [];
  for (let i = 0; i < rounds + 100; i++) {
    const start = process.hrtime.bigint();
    await call('POST', { capability: 'echo', payload: { i } });
    await call('POST', { agentId: 'a' });
    await call('POST', { status: 'succeeded', result: { i } });
    await call('GET');
    if (i >= 100) samples.push(since(start));
  }
  await pool.close();
  await new Promise((r) => server.close(r));
  return samples;
}

async function main() {
  console.log(`mcpmas bench:core — node ${process.version}, ${TASKS} tasks, ${HTTP_ROUNDS} HTTP rounds\n`);
  // Warm both paths once so the JIT treats them alike, then measure.
  await rawQueue(2000);
  await viaDispatcher(2000);
  const raw = await rawQueue(TASKS);
  const disp = await viaDispatcher(TASKS);
  const w = [46, 12, 10];
  console.log(row(['in-memory submit → lease → result', 'tasks/s', 'ratio'], w));
  console.log(row(['reference: memory queue, no dispatcher', Math.round(raw), '1.00'], w));
  console.log(row(['dispatcher (validation, auth, plugins)', Math.round(disp), (disp / raw).toFixed(2)], w));

  await idleAgents(2000, 64);
  await idleAgents(2000, 1);
  const oneAgent = await idleAgents(TASKS / 4, 1);
  const manyAgents = await idleAgents(TASKS / 4, 64);
  console.log(`\n${row(['64 clients waiting on results, CPU per task', 'µs', 'ratio'], w)}`);
  console.log(row(['reference: 1 agent long-polling', oneAgent, '1.00'], w));
  console.log(row(['64 agents long-polling', manyAgents, (manyAgents / oneAgent).toFixed(2)], w));

  const bare = await bareHttp(HTTP_ROUNDS);
  const hub = await hubOverHttp(HTTP_ROUNDS);
  const w2 = [46, 10, 10, 10];
  console.log(`\n${row(['one task over HTTP (4 requests), ms', 'p50', 'p99', 'p50 ratio'], w2)}`);
  console.log(
    row(['reference: bare node:http JSON echo ×4', percentile(bare, 50), percentile(bare, 99), '1.00'], w2),
  );
  console.log(
    row(
      [
        'hub: submit, next, result, get',
        percentile(hub, 50),
        percentile(hub, 99),
        (percentile(hub, 50) / percentile(bare, 50)).toFixed(2),
      ],
      w2,
    ),
  );
}

await main();
