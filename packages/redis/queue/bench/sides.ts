/**
 * The two sides of `bench:queue` (queue.bench.ts) and `bench:instructions` (instructions.ts):
 * mcpmas and BullMQ, each as a throughput run (submit → lease → complete with a number of
 * workers, unbatched or batched) and a one-at-a-time latency run, against REDIS_URL. Each run
 * returns tasks/s, latency percentiles, commands per task and Redis and client CPU per task.
 */
import type { LeasedTask, TaskOutcome } from '@mcpmas/core';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
// The built package, as users run it (the root script builds first).
import { RedisTaskQueue } from '../dist/index.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
export const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 2000);
/** Tasks of the unmeasured warm-up run each side gets before a comparison (0: none). */
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 20_000);
const ok: TaskOutcome = { status: 'succeeded', result: 1 };
export const RUN = `bench-${process.pid}-${Date.now().toString(36)}`;

// Count every command any ioredis client in this process sends (BullMQ uses the same ioredis).
let commands = 0;
const send = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<typeof send>) {
  commands += 1;
  return send.apply(this, args);
} as typeof send;

export interface Result {
  label: string;
  tasksPerSec: number;
  p50: number;
  p99: number;
  commandsPerTask: number;
  /** Redis main-thread CPU per task, µs (INFO cpu). */
  redisUs: number;
  /** This process's CPU per task, µs (both sides: producers and workers). */
  clientUs: number;
}

/** Where a run starts: time, commands sent, Redis and client CPU. */
interface Mark {
  at: number;
  commands: number;
  redisUs: number;
  client: NodeJS.CpuUsage;
}

const admin = new Redis(REDIS_URL);
/** Closes the connection the CPU figures are read on. */
export async function closeAdmin(): Promise<void> {
  await admin.quit();
}
async function redisCpuUs(): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread')) * 1e6;
}
async function mark(): Promise<Mark> {
  const redisUs = await redisCpuUs();
  return { at: performance.now(), commands, redisUs, client: process.cpuUsage() };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

async function summarise(label: string, start: Mark, latencies: number[], tasks: number): Promise<Result> {
  const elapsed = performance.now() - start.at;
  const client = process.cpuUsage(start.client);
  const sent = commands - start.commands;
  const redisUs = (await redisCpuUs()) - start.redisUs;
  latencies.sort((a, b) => a - b);
  return {
    label,
    tasksPerSec: (tasks / elapsed) * 1000,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    commandsPerTask: sent / tasks,
    redisUs: redisUs / tasks,
    clientUs: (client.user + client.system) / tasks,
  };
}

export async function dropKeys(pattern: string): Promise<void> {
  const admin = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await admin.unlink(...keys);
  } while (cursor !== '0');
  await admin.quit();
}

/** How {@link produce} submits: a batch of tasks from..from+n-1, or task i alone, and their ids. */
interface Producer<B, O> {
  batch(from: number, n: number): Promise<B>;
  batchIds(reply: B): Iterable<string>;
  one(i: number): Promise<O>;
  oneId(reply: O): string;
}

/**
 * Submits `count` tasks as both sides' producers do: in batches of 500 when `concurrency` is 0,
 * else one at a time from `concurrency` loops. Each task's submit time goes into `submittedAt`.
 * The queue's own promise is awaited directly, so wrapping adds no step between a submit's
 * reply and the next submit (the calls made in one tick are grouped into one script call).
 */
async function produce<B, O>(
  count: number,
  concurrency: number,
  submittedAt: Map<string, number>,
  producer: Producer<B, O>,
): Promise<void> {
  if (concurrency === 0) {
    for (let from = 0; from < count; from += 500) {
      const at = performance.now();
      const reply = await producer.batch(from, Math.min(500, count - from));
      for (const id of producer.batchIds(reply)) submittedAt.set(id, at);
    }
    return;
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const at = performance.now();
        const reply = await producer.one(i);
        submittedAt.set(producer.oneId(reply), at);
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------
// mcpmas

export async function mcpmasThroughput(workers: number, batched: boolean, count = TASKS): Promise<Result> {
  const namespace = `${RUN}-m-${workers}-${batched ? 'b' : 'u'}`;
  const queue = new RedisTaskQueue({ url: REDIS_URL, namespace });
  const signals = new Set<() => void>();
  queue.subscribe((s) => {
    if (s.type === 'available') for (const wake of signals) wake();
  });
  await queue.ready();
  await queue.client.ping();
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  let done = 0;
  const start = await mark();
  const started = start.at;

  const idle = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        signals.delete(wake);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(wake, 50);
      signals.add(wake);
    });
  // Like a BullMQ worker: the result of the last task of a batch goes out together with the
  // request for the next batch (completeAndLease), so an agent under load needs one call per
  // task instead of two.
  const worker = async (i: number) => {
    const agentId = `w${i}`;
    const next = { capabilities: ['bench'], max: batched ? 20 : 1 };
    const finished = (t: LeasedTask) => {
      latencies.push(performance.now() - (submittedAt.get(t.taskId) ?? started));
      done += 1;
    };
    let tasks: LeasedTask[] = [];
    while (done < count) {
      if (tasks.length === 0) tasks = await queue.lease({ agentId, ...next });
      if (tasks.length === 0) {
        await idle();
        continue;
      }
      const last = tasks[tasks.length - 1]!;
      await Promise.all(
        tasks.slice(0, -1).map(async (t) => {
          await queue.complete({ taskId: t.taskId, agentId, leaseToken: t.leaseToken }, ok);
          finished(t);
        }),
      );
      const reply = await queue.completeAndLease(
        { taskId: last.taskId, agentId, leaseToken: last.leaseToken },
        ok,
        next,
      );
      finished(last);
      tasks = reply.leased;
    }
  };
  const producer = () =>
    produce(count, batched ? 0 : workers, submittedAt, {
      batch: (from, n) =>
        queue.submitBatch({
          tasks: Array.from({ length: n }, (_, j) => ({ capability: 'bench', payload: { i: from + j } })),
        }),
      batchIds: (reply) => reply.tasks.map((t) => t.taskId),
      one: (i) => queue.submit({ capability: 'bench', payload: { i } }),
      oneId: (reply) => reply.task.id,
    });
  await Promise.all([producer(), ...Array.from({ length: workers }, (_, i) => worker(i))]);
  const result = await summarise(
    `mcpmas  ${workers} workers ${batched ? 'batched  ' : 'unbatched'}`,
    start,
    latencies,
    count,
  );
  await queue.close();
  await dropKeys(`{${namespace}}:*`);
  return result;
}

export async function mcpmasLatency(count = LATENCY_SAMPLES): Promise<Result> {
  const namespace = `${RUN}-m-latency`;
  const client = new RedisTaskQueue({ url: REDIS_URL, namespace });
  const agent = new RedisTaskQueue({ url: REDIS_URL, namespace });
  const stopping = new AbortController();
  const waiters = new Map<string, () => void>();
  const finishedEarly = new Set<string>();
  client.subscribe((s) => {
    if (s.type !== 'terminal') return;
    const done = waiters.get(s.taskId);
    if (done) done();
    else finishedEarly.add(s.taskId);
  });
  await client.ready();
  // The idle worker long-polls as the hub's `task.next` does: a task submitted meanwhile is
  // leased to it by the submit script and pushed, with no wake-up and lease in between. Like
  // a BullMQ worker (and the throughput runs' completeAndLease), it reports a result and asks
  // for the next task in one call.
  const next = { capabilities: ['bench'], max: 1, waitMs: 30_000, signal: stopping.signal };
  const loop = (async () => {
    let [t] = await agent.leaseWait({ agentId: 'solo', ...next });
    while (!stopping.signal.aborted) {
      if (!t) {
        [t] = await agent.leaseWait({ agentId: 'solo', ...next });
        continue;
      }
      const reply = await agent.completeAndWait(
        { taskId: t.taskId, agentId: 'solo', leaseToken: t.leaseToken },
        { status: 'succeeded' },
        next,
      );
      t = reply.leased[0];
    }
  })();
  const latencies: number[] = [];
  const start = await mark();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const { task } = await client.submit({ capability: 'bench', payload: { i } });
    if (!finishedEarly.delete(task.id)) {
      await new Promise<void>((resolve) => waiters.set(task.id, resolve));
      waiters.delete(task.id);
    }
    latencies.push(performance.now() - t0);
  }
  const result = await summarise('mcpmas  one at a time        ', start, latencies, count);
  stopping.abort();
  await loop;
  await client.close();
  await agent.close();
  await dropKeys(`{${namespace}}:*`);
  return result;
}

// ---------------------------------------------------------------------------------------
// BullMQ

function bullConnection() {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

export async function bullThroughput(workers: number, batched: boolean, count = TASKS): Promise<Result> {
  const name = `bench-${workers}-${batched ? 'b' : 'u'}`;
  const prefix = `${RUN}-bull`;
  const connection = bullConnection();
  const queue = new Queue(name, { connection, prefix });
  await queue.waitUntilReady();
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => {
    finish = r;
  });
  const start = await mark();
  const started = start.at;
  const worker = new Worker(
    name,
    async (job) => {
      latencies.push(performance.now() - (submittedAt.get(job.id!) ?? started));
      return 1;
    },
    { connection, prefix, concurrency: workers },
  );
  worker.on('completed', () => {
    done += 1;
    if (done === count) finish();
  });
  await produce(count, batched ? 0 : workers, submittedAt, {
    batch: (from, n) =>
      queue.addBulk(Array.from({ length: n }, (_, j) => ({ name: 'bench', data: { i: from + j } }))),
    batchIds: (jobs) => jobs.map((job) => job.id!),
    one: (i) => queue.add('bench', { i }),
    oneId: (job) => job.id!,
  });
  await all;
  const result = await summarise(
    `BullMQ  ${workers} workers ${batched ? 'batched  ' : 'unbatched'}`,
    start,
    latencies,
    count,
  );
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return result;
}

export async function bullLatency(count = LATENCY_SAMPLES): Promise<Result> {
  const name = 'bench-latency';
  const prefix = `${RUN}-bull`;
  const connection = bullConnection();
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  const worker = new Worker(name, async () => 1, { connection, prefix, concurrency: 1 });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
  const latencies: number[] = [];
  const start = await mark();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const job = await queue.add('bench', { i });
    await job.waitUntilFinished(events);
    latencies.push(performance.now() - t0);
  }
  const result = await summarise('BullMQ  one at a time        ', start, latencies, count);
  await worker.close();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return result;
}

// ---------------------------------------------------------------------------------------

export const fmt = (r: Result, base?: Result) =>
  `${r.label}  ${r.tasksPerSec.toFixed(0).padStart(7)} tasks/s  p50 ${r.p50.toFixed(2).padStart(8)} ms  p99 ${r.p99
    .toFixed(2)
    .padStart(8)} ms  ${r.commandsPerTask.toFixed(2).padStart(5)} cmds/task  CPU/task: Redis ${r.redisUs
    .toFixed(1)
    .padStart(5)} µs, client ${r.clientUs.toFixed(1).padStart(5)} µs${
    base
      ? `  ×${(r.tasksPerSec / base.tasksPerSec).toFixed(2)} throughput, p50 ×${(r.p50 / base.p50).toFixed(2)} of BullMQ`
      : ''
  }`;
