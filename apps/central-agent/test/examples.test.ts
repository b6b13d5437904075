import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exitOf, HUB_CLI, killAll, type Proc, ROOT, run, waitForLog } from './processes.js';

// The examples as a user runs them (`tsx examples/<file>.ts`), as child processes against one
// `mcpmas-hub` process: the <protocol>-agent examples run the tasks the send-<protocol>-task
// examples submit, each over its own protocol.
const tsxCli = join(
  dirname(createRequire(join(ROOT, 'package.json')).resolve('tsx/package.json')),
  'dist/cli.mjs',
);
const PROTOCOLS = ['http', 'ws', 'grpc', 'mcp'] as const;
type Protocol = (typeof PROTOCOLS)[number];
const KEY = 'examples-secret-123';

let cwd: string;
let hub: Proc;
let urls: Record<Protocol, string>;

const example = (name: string, args: string[]) =>
  run(join(ROOT, 'examples', `${name}.ts`), args, { cwd: ROOT, argv0: [tsxCli] });

/** Waits for a line of plain output containing `text`. */
async function waitForLine(proc: Proc, text: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = proc.stdout.find((l) => l.includes(text));
    if (line !== undefined) return line;
    if (proc.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no line with "${text}"\nstdout:\n${proc.stdout.join('\n')}\nstderr:\n${proc.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'mcpmas-examples-'));
  hub = run(HUB_CLI, ['--port', '0', '--grpc-port', '0'], {
    cwd,
    env: { MCPMAS_API_KEYS: `examples:${KEY}:admin` },
  });
  urls = (await waitForLog(hub, 'hub ready')).urls as Record<Protocol, string>;
});

afterAll(async () => {
  await killAll();
  rmSync(cwd, { recursive: true, force: true });
});

describe('examples against a running mcpmas-hub', () => {
  it('each <protocol>-agent runs what each send-<protocol>-task submits, and prints the result', async () => {
    const agents = PROTOCOLS.map((p) =>
      example(`${p}-agent`, [
        '--url',
        urls[p],
        '--api-key',
        KEY,
        '--name',
        `example-${p}`,
        '--skills',
        `ex-${p}`,
      ]),
    );
    await Promise.all(agents.map((agent) => waitForLine(agent, 'registered as')));

    const senders = PROTOCOLS.map((p) =>
      example(`send-${p}-task`, [
        '--url',
        urls[p],
        '--api-key',
        KEY,
        '--capability',
        `ex-${p}`,
        '--priority',
        'high',
        `{"hello":"${p}"}`,
      ]),
    );
    const codes = await Promise.all(senders.map((sender) => exitOf(sender, 20_000)));
    PROTOCOLS.forEach((p, i) => {
      const output = senders[i]!.stdout.join('\n');
      expect({ protocol: p, code: codes[i], stderr: senders[i]!.stderr }).toEqual({
        protocol: p,
        code: 0,
        stderr: '',
      });
      expect(output).toMatch(
        new RegExp(`^submitted \\S+ over ${p} \\(capability ex-${p}, priority 10\\)`, 'm'),
      );
      expect(output).toContain('state: succeeded');
      expect(output).toContain(`"hello": "${p}"`);
    });
    // The task ran on the agent example of the same protocol.
    await Promise.all(agents.map((agent) => waitForLine(agent, 'succeeded')));

    for (const agent of agents) agent.child.kill('SIGTERM');
    expect(await Promise.all(agents.map((agent) => exitOf(agent)))).toEqual([0, 0, 0, 0]);
  }, 60_000);

  it('a send example exits 1 when the task cannot be submitted (wrong key)', async () => {
    const sender = example('send-grpc-task', ['--url', urls.grpc, '--api-key', 'wrong-key-123', 'x']);
    expect(await exitOf(sender, 20_000)).toBe(1);
    expect(sender.stderr).toContain('request failed: UNAUTHENTICATED');
  }, 30_000);
});
