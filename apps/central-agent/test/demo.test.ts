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
const AGENTS = ['agent-alpha', 'agent-bravo', 'agent-charlie'];

describe('pnpm demo', () => {
  it('prints every task of the batch with its result and the agent that ran it, then exits 0', async () => {
    const demo = run(join(ROOT, 'examples/run-demo.ts'), [], { cwd: ROOT, argv0: [tsxCli] });
    const code = await exitOf(demo, 45_000);
    const output = demo.stdout.join('\n');
    expect({ code, stderr: demo.stderr.includes('demo failed') ? demo.stderr : '' }).toEqual({
      code: 0,
      stderr: '',
    });

    const row = /^(\d+)\s+(\d+)\s+(\S+)\s+(urgent|high|normal|low)\s+echo: (.+?)\s+(agent-\w+)$/;
    const rows = demo.stdout.map((line) => row.exec(line)).filter((m) => m !== null);
    expect(rows.map((m) => m[3]).sort()).toEqual([...LABELS].sort());
    for (const m of rows) expect(AGENTS).toContain(m[6]);
    // Completion order is numbered 1..12, and every task was picked exactly once.
    expect(rows.map((m) => Number(m[1]))).toEqual(LABELS.map((_, i) => i + 1));
    expect(rows.map((m) => Number(m[2])).sort((a, b) => a - b)).toEqual(LABELS.map((_, i) => i + 1));
    // All three agents took part.
    expect(new Set(rows.map((m) => m[6])).size).toBe(3);
    expect(output).toContain('shut down cleanly');
  }, 60_000);
});
