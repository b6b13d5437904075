import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

// The built CLI (the root `pnpm test` builds first). Start-up refusals only: the full
// hub + agent round trip over real processes is in apps/central-agent/test/cli.test.ts.
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/cli.js');
let cwd: string;

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'mcpmas-agent-cli-'));
});
afterAll(() => {
  rmSync(cwd, { recursive: true, force: true });
});

function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mcpmas-agent ${args.join(' ')} did not exit\n${stdout}\n${stderr}`));
    }, 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

describe('mcpmas-agent start-up', () => {
  it('exits 2 naming a bad value and where it came from', async () => {
    const { code, stderr, stdout } = await runCli([], { MCPMAS_CONCURRENCY: '0' });
    expect(code).toBe(2);
    expect(stderr).toContain('config error: concurrency (MCPMAS_CONCURRENCY): must be at least 1');
    expect(stdout).toBe('');
  });

  it('exits 2 for a missing model with the openai handler, read from .env', async () => {
    writeFileSync(join(cwd, '.env'), 'MCPMAS_HANDLER=openai\n');
    try {
      const { code, stderr } = await runCli([]);
      expect(code).toBe(2);
      expect(stderr).toContain(
        'config error: openaiModel (--openai-model / MCPMAS_OPENAI_MODEL): required when handler is openai',
      );
    } finally {
      rmSync(join(cwd, '.env'));
    }
  });

  it('exits 2 for an unknown config-file key', async () => {
    writeFileSync(join(cwd, 'agent.json'), JSON.stringify({ hubURL: 'http://127.0.0.1:1' }));
    const { code, stderr } = await runCli(['--config', 'agent.json']);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown setting "hubURL"');
    expect(stderr).toContain('(did you mean "hubUrl"?)');
  });

  it('stops with 0 on SIGTERM while the hub is still unreachable', async () => {
    const child = spawn(process.execPath, [CLI, '--hub-url', 'http://127.0.0.1:1'], {
      cwd,
      env: { PATH: process.env.PATH ?? '' },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    while (!stdout.includes('connecting to hub')) await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('"msg":"agent exited"');
  });

  it('--help lists every setting and exits 0', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: mcpmas-agent');
    expect(stdout).toContain('--openai-model <model>');
    expect(stdout).toContain('env: MCPMAS_OPENAI_API_KEY, OPENAI_API_KEY');
  });
});
