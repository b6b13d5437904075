import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { exitOf, killAll, ROOT, run } from './processes.js';

// Runs `examples/run-demo.ts` (what `pnpm demo` runs after building) as a child process.
const tsxCli = join(
  dirname(createRequire(join(ROOT, 'package.json')).resolve('tsx/package.json')),
  'dist/cli.mjs',
);

afterAll(async () => {
  await killAll();
});

const LABELS = [
  'weekly-report',
  'pager-alert',
  'translate-faq',
  'customer-reply',
  'tag-photos',
  'fraud-check',
  'meeting-notes',
  'release-notes',
  'archive-logs',
  'sales-forecast',
  'security-patch',
  'newsletter',
];
const PROTOCOLS = ['http', 'ws', 'grpc', 'mcp'];

describe('pnpm demo', () => {
  it('submits tasks over all four protocols, runs them on one agent per protocol, prints who ran what, then exits 0', async () => {
    const demo = run(join(ROOT, 'examples/run-demo.ts'), [], { cwd: ROOT, argv0: [tsxCli] });
    const code = await exitOf(demo, 45_000);
    const output = demo.stdout.join('\n');
    expect({ code, stderr: demo.stderr.includes('demo failed') ? demo.stderr : '' }).toEqual({
      code: 0,
      stderr: '',
    });

    // The hub lists one URL per protocol.
    expect(output).toMatch(/^ {2}http {2}http:\/\/127\.0\.0\.1:\d+$/m);
    expect(output).toMatch(/^ {2}ws {4}ws:\/\/127\.0\.0\.1:\d+\/ws$/m);
    expect(output).toMatch(/^ {2}grpc {2}grpc:\/\/127\.0\.0\.1:\d+$/m);
    expect(output).toMatch(/^ {2}mcp {3}http:\/\/127\.0\.0\.1:\d+\/mcp$/m);

    const row =
      /^(\d+)\s+(\d+)\s+(\S+)\s+(urgent|high|normal|low)\s+(http|ws|grpc|mcp)\s+(\w+)-agent over (\w+)\s+echo: (.+)$/;
    const rows = demo.stdout.map((line) => row.exec(line)).filter((m) => m !== null);
    expect(rows.map((m) => m[3]).sort()).toEqual([...LABELS].sort());
    // Completion order is numbered 1..12, and every task was picked exactly once.
    expect(rows.map((m) => Number(m[1]))).toEqual(LABELS.map((_, i) => i + 1));
    expect(rows.map((m) => Number(m[2])).sort((a, b) => a - b)).toEqual(LABELS.map((_, i) => i + 1));
    // Tasks were submitted over every protocol, three each.
    for (const p of PROTOCOLS) expect(rows.filter((m) => m[5] === p)).toHaveLength(3);
    // Each agent is named after its protocol and registered over it; all four took part.
    for (const m of rows) expect(m[6]).toBe(m[7]);
    expect(new Set(rows.map((m) => m[7]))).toEqual(new Set(PROTOCOLS));
    // Urgent tasks are picked before anything else.
    const urgentPicks = rows.filter((m) => m[4] === 'urgent').map((m) => Number(m[2]));
    expect(urgentPicks.sort()).toEqual([1, 2]);
    expect(output).toContain('shut down cleanly');
  }, 60_000);
});
