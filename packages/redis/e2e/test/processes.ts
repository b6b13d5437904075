/**
 * Real child processes for the multi-process tests: the hub and agent fixtures run with
 * `node --import tsx`, print JSON lines on stdout, and are killed by the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
/** The tsx ESM loader, resolved from this package, so the fixtures run as TypeScript. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A JSON line a fixture printed. */
export type Line = Record<string, unknown>;

/** One fixture process and what it printed. */
export class Fixture {
  readonly lines: Line[] = [];
  stderr = '';
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<string>;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let buffer = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.lines.push({ ...(JSON.parse(text) as Line), receivedAt: Date.now() });
        } catch {
          this.stderr += `${text}\n`;
        }
      }
      for (const wake of this.waiters) wake();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      // Keep the tail only: a failing test prints it.
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        for (const wake of this.waiters) wake();
        resolve(signal ?? String(code));
      }),
    );
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first line (from `from` on) that satisfies `match`, waiting up to `timeoutMs`. */
  async waitFor(match: (line: Line) => boolean, timeoutMs: number, from = 0): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.slice(from).find(match);
      if (found) return found;
      if (!this.alive)
        throw new Error(`${this.name} exited before printing the line; stderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${this.name}: no matching line within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** Sends `signal` (SIGKILL by default: a crash) and waits for the process to end. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.alive) this.child.kill(signal);
    await this.exited;
  }
}

const started: Fixture[] = [];

/** Starts `fixtures/<script>.ts` with its config in `env`; `preload` adds more `--import`s. */
export function startFixture(
  name: string,
  script: 'hub' | 'agent',
  env: Record<string, string>,
  preload: string[] = [],
): Fixture {
  const args = [
    '--import',
    TSX,
    ...preload.flatMap((p) => ['--import', new URL(p, import.meta.url).href]),
    here(`fixtures/${script}.ts`),
  ];
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const fixture = new Fixture(name, child);
  started.push(fixture);
  return fixture;
}

/** Kills every fixture still running. */
export async function killAll(): Promise<void> {
  await Promise.all(started.splice(0).map((f) => f.kill()));
}

/** Reads a JSON-lines file (missing: empty). */
export function readLines<T = Line>(file: string): T[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
}
