/**
 * Test helpers for the CLIs as real processes: spawn with a clean environment, read their
 * JSON log lines, wait for a line or for the exit, and kill whatever is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The built CLIs (the root `pnpm test` builds first). */
export const HUB_CLI = join(ROOT, 'apps/central-agent/dist/cli.js');
export const AGENT_CLI = join(ROOT, 'apps/model-agent/dist/cli.js');

/** A spawned process with its output collected. */
export interface Proc {
  child: ChildProcess;
  stdout: string[];
  stderr: string;
  /** Every stdout line that parsed as JSON. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
}

const spawned: Proc[] = [];

/**
 * Spawns `node <script> ...args` in `cwd` with only PATH and `env`: no MCPMAS_* variable of the
 * test run leaks in, and no `.env` of the repository is read.
 */
export function run(
  script: string,
  args: string[],
  options: { env?: Record<string, string>; cwd: string; argv0?: string[] },
): Proc {
  const child = spawn(process.execPath, [...(options.argv0 ?? []), script, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: Proc = {
    child,
    stdout: [],
    stderr: '',
    logs: [],
    exited: new Promise((resolveExit) => {
      child.once('exit', (code, signal) => resolveExit(code ?? signal ?? -1));
    }),
  };
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      proc.stdout.push(line);
      try {
        proc.logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not a log line (e.g. --help text).
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    proc.stderr += chunk;
  });
  spawned.push(proc);
  return proc;
}

/** Waits for a JSON log line with this `msg` (and matching `where`), or fails after `timeoutMs`. */
export async function waitForLog(
  proc: Proc,
  msg: string,
  timeoutMs = 10_000,
  where: (log: Record<string, unknown>) => boolean = () => true,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | string | undefined;
  void proc.exited.then((code) => {
    exitCode = code;
  });
  for (;;) {
    const found = proc.logs.find((log) => log.msg === msg && where(log));
    if (found) return found;
    if (exitCode !== undefined || Date.now() > deadline) {
      throw new Error(
        `no "${msg}" log line (exit: ${exitCode ?? 'still running'})\nstdout:\n${proc.stdout.join('\n')}\nstderr:\n${proc.stderr}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The exit code, or a failure if the process is still running after `timeoutMs`. */
export async function exitOf(proc: Proc, timeoutMs = 15_000): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`process still running after ${timeoutMs} ms\n${proc.stdout.join('\n')}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([proc.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every process spawned by {@link run} that is still running. */
export async function killAll(): Promise<void> {
  await Promise.all(
    spawned.splice(0).map(async (proc) => {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }),
  );
}
