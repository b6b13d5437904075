/**
 * `pnpm bench` (root: `pnpm bench:queue`): the Redis queue and BullMQ side by side, in one
 * process, against the same Redis. 20,000 tasks go submit → lease → complete with 10 and 50
 * concurrent workers, unbatched and with batched leases/submits, plus one-at-a-time latency
 * (submit until the completion is observed, one idle worker waiting in `leaseWait`). Prints tasks/s, p50/p99
 * and the ratio to BullMQ, and the Redis commands sent per task (each mcpmas call is one
 * EVALSHA, so for mcpmas that is also the round trips per task).
 *
 * BullMQ runs as its documentation recommends for throughput in one process: one `Worker`
 * with `concurrency` set to the worker count (not many Worker instances), connections with
 * `maxRetriesPerRequest: null`, `addBulk` for batches; it keeps completed jobs, as mcpmas keeps
 * results, so both do the same work per task. Its worker reports a result and fetches the next
 * job in one script (moveToFinished); mcpmas agents do the same with `completeAndLease`.
 *
 * Environment: REDIS_URL (default redis://127.0.0.1:6379), BENCH_TASKS (default 20000),
 * BENCH_RUNS (default 10u,10b,50u,50b,latency), BENCH_LATENCY_SAMPLES (default 2000),
 * BENCH_ROUNDS (default 3: each run repeated, the median printed), BENCH_WARMUP (default
 * 20000: tasks of the unmeasured run each side gets first; the latency run warms up with a
 * 40th of it), BENCH_ONLY=mcpmas (skip BullMQ, for profiling).
 *
 * The two sides are in sides.ts; instructions.ts (`pnpm bench:instructions`) runs them against
 * a Redis under callgrind and counts the instructions Redis executes per task instead.
 */

import {
  bullLatency,
  bullThroughput,
  closeAdmin,
  dropKeys,
  fmt,
  mcpmasLatency,
  mcpmasThroughput,
  REDIS_URL,
  type Result,
  RUN,
  TASKS,
  WARMUP,
} from './sides.js';

// BENCH_ONLY=mcpmas skips BullMQ (for profiling); BENCH_RUNS=10u,50b,latency picks runs.
// On a shared machine one pair of runs can land on either side of a neighbour's burst: each
// run is repeated BENCH_ROUNDS times (default 3), BullMQ and mcpmas alternating which goes
// first; the pair with the median ratio is printed, then every round's ratio.
const mcpmasOnly = process.env.BENCH_ONLY === 'mcpmas';
const runs = new Set((process.env.BENCH_RUNS ?? '10u,10b,50u,50b,latency').split(','));
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
console.log(
  `mcpmas Redis queue vs BullMQ — ${TASKS} tasks per run, ${rounds} round(s) each, Redis ${REDIS_URL}\n`,
);

/**
 * Runs one comparison `rounds` times and prints the median pair and each round's ratio. Each
 * side first runs once unmeasured (`warmup` tasks or samples): the first thousands of calls of
 * a fresh process are mostly V8 compiling the hot code and growing the heap, which would
 * weigh on whichever side and run came first.
 */
async function compare(
  bull: (count?: number) => Promise<Result>,
  mine: (count?: number) => Promise<Result>,
  latency: boolean,
  warmup: number,
) {
  const ratio = (m: Result, b: Result) => (latency ? m.p50 / b.p50 : m.tasksPerSec / b.tasksPerSec);
  if (warmup > 0) {
    if (!mcpmasOnly) await bull(warmup);
    await mine(warmup);
  }
  const pairs: Array<{ bull?: Result; mine: Result }> = [];
  for (let round = 0; round < rounds; round++) {
    if (mcpmasOnly) {
      pairs.push({ mine: await mine() });
    } else if (round % 2 === 0) {
      const b = await bull();
      pairs.push({ bull: b, mine: await mine() });
    } else {
      const m = await mine();
      pairs.push({ bull: await bull(), mine: m });
    }
  }
  if (mcpmasOnly) {
    for (const pair of pairs) console.log(fmt(pair.mine));
    return;
  }
  const ratios = pairs.map((pair) => ratio(pair.mine, pair.bull!));
  const median = [...pairs].sort((a, b) => ratio(a.mine, a.bull!) - ratio(b.mine, b.bull!))[
    (pairs.length - 1) >> 1
  ]!;
  console.log(fmt(median.bull!));
  console.log(fmt(median.mine, median.bull));
  if (pairs.length > 1) {
    const what = latency ? 'p50 ratio' : 'throughput ratio';
    console.log(`        ${what} of each round: ${ratios.map((r) => `×${r.toFixed(2)}`).join(', ')}`);
  }
}

for (const workers of [10, 50]) {
  for (const batched of [false, true]) {
    if (!runs.has(`${workers}${batched ? 'b' : 'u'}`)) continue;
    await compare(
      (count) => bullThroughput(workers, batched, count),
      (count) => mcpmasThroughput(workers, batched, count),
      false,
      WARMUP,
    );
  }
}
if (runs.has('latency')) await compare(bullLatency, mcpmasLatency, true, Math.ceil(WARMUP / 40));
console.log(
  '\nbatched = mcpmas leases up to 20 tasks per call; both submit in batches of 500 (addBulk / submitBatch).',
);
await dropKeys(`${RUN}*`);
await closeAdmin();
