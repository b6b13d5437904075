/**
 * `pnpm bench:instructions` (root: `pnpm bench:queue:instructions`): the work each side of
 * `bench:queue` gives Redis, counted in instructions rather than timed. It starts a private
 * `redis-server` under `valgrind --tool=callgrind` on a free loopback port, runs each of the
 * bench's runs for mcpmas and for BullMQ against it, and prints the instructions Redis executed
 * per task (every command, script and reply of the run, in Redis' process).
 *
 * Times on a shared machine vary by ±10–40% from run to run; instruction counts of the same
 * run come out within about 1% of each other, so a change to a Lua script can be judged
 * from one run. They leave out what instructions do not show (cache misses, system calls, the
 * wake-ups between processes), which the timed bench measures.
 *
 * Redis runs about 50 times slower under callgrind, so runs are short: BENCH_TASKS (default
 * 2000) tasks per throughput run and BENCH_LATENCY_SAMPLES (default 300) for one at a time;
 * BENCH_RUNS picks runs as in bench:queue (default 10u,10b,latency), BENCH_ONLY=mcpmas skips
 * BullMQ. The client groups calls more under a slow Redis, so commands per task come out
 * lower than in bench:queue: each row prints them. Needs `valgrind` and `redis-server` on
 * the PATH.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

process.env.BENCH_TASKS ??= '2000';
process.env.BENCH_LATENCY_SAMPLES ??= '300';
const runs = (process.env.BENCH_RUNS ?? '10u,10b,latency').split(',');
for (const run of runs) {
  if (run !== 'latency' && !/^[1-9][0-9]*[ub]$/.test(run)) {
    console.error(`unknown run "${run}" in BENCH_RUNS: use runs such as 10u, 50b, latency`);
    process.exit(2);
  }
}
const mcpmasOnly = process.env.BENCH_ONLY === 'mcpmas';

for (const tool of ['valgrind', 'callgrind_control', 'redis-server']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    console.error(
      `bench:instructions needs ${tool} on the PATH (Debian: apt-get install valgrind redis-server)`,
    );
    process.exit(2);
  }
}

/** A free loopback port (the kernel's pick, released for redis-server to take). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

const dir = mkdtempSync(join(tmpdir(), 'mcpmas-instructions-'));
const port = await freePort();
const redis: ChildProcess = spawn(
  'valgrind',
  [
    '--tool=callgrind',
    `--callgrind-out-file=${join(dir, 'callgrind.out')}`,
    'redis-server',
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
let valgrindLog = '';
redis.stderr!.on('data', (chunk: Buffer) => {
  valgrindLog += chunk.toString();
});
process.env.REDIS_URL = `redis://127.0.0.1:${port}`;

async function waitForRedis(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: null,
    });
    probe.on('error', () => {}); // refused until valgrind has Redis listening: tried again below
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      probe.disconnect();
    }
  }
  throw new Error(`redis-server under valgrind did not start on port ${port}:\n${valgrindLog}`);
}

/** Instructions Redis executes while `run` runs: callgrind's counters zeroed, then dumped. */
async function count<T>(run: () => Promise<T>): Promise<{ result: T; instructions: number }> {
  const pid = String(redis.pid);
  execFileSync('callgrind_control', ['--zero', pid], { stdio: 'ignore' });
  const result = await run();
  for (const file of readdirSync(dir)) rmSync(join(dir, file));
  execFileSync('callgrind_control', ['--dump', pid], { stdio: 'ignore' });
  const [dump] = readdirSync(dir);
  const totals = dump && /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, dump), 'utf8'));
  if (!totals) throw new Error(`no callgrind totals in ${dir}`);
  return { result, instructions: Number(totals[1]) };
}

try {
  await waitForRedis();
  // The bench's sides read REDIS_URL when loaded.
  const sides = await import('./sides.js');
  const version = execFileSync('redis-server', ['--version']).toString().trim().split(' ')[2] ?? '';
  console.log(
    `Redis instructions per task (callgrind, redis-server ${version.replace('v=', '')}): ` +
      `${sides.TASKS} tasks per throughput run, ${sides.LATENCY_SAMPLES} one at a time\n`,
  );
  const label = (run: string) =>
    run === 'latency'
      ? 'one at a time        '
      : `${run.slice(0, -1).padStart(2)} workers ${run.endsWith('b') ? 'batched  ' : 'unbatched'}`;
  const row = (side: string, run: string, instructions: number, tasks: number, commandsPerTask: number) =>
    `${side}  ${label(run)}  ${Math.round(instructions / tasks)
      .toLocaleString('en-US')
      .padStart(9)} instructions/task  ${commandsPerTask.toFixed(2).padStart(5)} cmds/task`;
  for (const run of runs) {
    const latency = run === 'latency';
    const workers = Number(run.slice(0, -1));
    const batched = run.endsWith('b');
    const tasks = latency ? sides.LATENCY_SAMPLES : sides.TASKS;
    // A few tasks first, uncounted: the first call of each script compiles it (EVAL).
    await (latency ? sides.mcpmasLatency(20) : sides.mcpmasThroughput(workers, batched, 200));
    if (!mcpmasOnly) await (latency ? sides.bullLatency(20) : sides.bullThroughput(workers, batched, 200));
    const mine = await count(() =>
      latency ? sides.mcpmasLatency() : sides.mcpmasThroughput(workers, batched),
    );
    if (mcpmasOnly) {
      console.log(row('mcpmas', run, mine.instructions, tasks, mine.result.commandsPerTask));
      continue;
    }
    const bull = await count(() => (latency ? sides.bullLatency() : sides.bullThroughput(workers, batched)));
    console.log(row('BullMQ', run, bull.instructions, tasks, bull.result.commandsPerTask));
    console.log(
      `${row('mcpmas', run, mine.instructions, tasks, mine.result.commandsPerTask)}  ×${(
        mine.instructions / bull.instructions
      ).toFixed(2)} of BullMQ's`,
    );
  }
  await sides.closeAdmin();
} finally {
  redis.kill('SIGTERM');
  await once(redis, 'exit');
  rmSync(dir, { recursive: true, force: true });
}
