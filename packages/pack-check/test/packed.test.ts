/**
 * The published packages as a user gets them: every public `@mcpmas/*` package is packed
 * (`pnpm pack`, so `workspace:` versions become real ones and only `files` ship), installed into
 * a fresh project outside the monorepo, and used from there:
 *
 * - its types compile under `strict` with `skipLibCheck: false`, through every subpath of
 *   every `exports` map (a `.d.ts` that names a module the package does not depend on fails
 *   here, while the monorepo, where every dev dependency is at hand, compiles);
 * - every entry point loads in node, by `import` and by `require` (node ≥ 20.19 loads ES
 *   modules for CommonJS code), installed without hoisting (`hoist=false`), so a package that
 *   imports something it does not declare fails to load;
 * - every source and declaration map points at a source file the package ships;
 * - a hub on HTTP and WebSocket, an agent and a client, written against the installed
 *   packages as their READMEs show, run a task.
 *
 * Needs the packages built (`pnpm test` builds first) and the npm registry, which installing
 * the repository needed too. Takes about a minute.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  packageManager: string;
  devDependencies: Record<string, string>;
};

interface Manifest {
  name: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  devDependencies?: Record<string, string>;
}

/** Every publishable workspace package: directory and manifest. */
function publicPackages(): Array<{ dir: string; manifest: Manifest }> {
  const found: Array<{ dir: string; manifest: Manifest }> = [];
  const visit = (dir: string, depth: number) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'node_modules') continue;
      const pkgDir = join(dir, entry.name);
      const file = join(pkgDir, 'package.json');
      if (existsSync(file)) {
        const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
        if (!manifest.private) found.push({ dir: pkgDir, manifest });
      } else if (depth > 0) visit(pkgDir, depth - 1);
    }
  };
  visit(join(root, 'packages'), 1);
  return found.sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}

/** pnpm, as the repository pins it: the one on PATH when it is that version, else through npx. */
async function pnpmCommand(): Promise<string[]> {
  const want = rootManifest.packageManager.split('@')[1]!;
  try {
    const { stdout } = await run('pnpm', ['--version']);
    if (stdout.trim() === want) return ['pnpm'];
  } catch {
    // not on PATH
  }
  return ['npx', '-y', `pnpm@${want}`];
}

async function sh(command: string[], cwd: string, timeout = 120_000): Promise<string> {
  try {
    const { stdout, stderr } = await run(command[0]!, command.slice(1), {
      cwd,
      timeout,
      maxBuffer: 32 * 1024 * 1024,
      env: { ...process.env, CI: 'true', npm_config_update_notifier: 'false' },
    });
    return stdout + stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

const packages = publicPackages();
let project = '';

beforeAll(async () => {
  for (const { dir, manifest } of packages) {
    if (!existsSync(join(dir, 'dist'))) {
      throw new Error(`${manifest.name} is not built (no ${dir}/dist): run pnpm build first`);
    }
  }
  project = mkdtempSync(join(tmpdir(), 'mcpmas-pack-'));
  const tarballs = join(project, 'tarballs');
  const pnpm = await pnpmCommand();
  // Four at a time: each pack is a short node process.
  const queue = [...packages];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await sh([...pnpm, 'pack', '--pack-destination', tarballs], next.dir);
      }
    }),
  );
  const files = new Map(
    readdirSync(tarballs).map((file) => [
      file.replace(/-\d+\.\d+\.\d+\.tgz$/, ''),
      `file:${join(tarballs, file)}`,
    ]),
  );
  const tarball = (name: string) => {
    const file = files.get(name.replace('@', '').replace('/', '-'));
    if (!file) throw new Error(`no tarball for ${name}`);
    return file;
  };
  const mcpmas = Object.fromEntries(packages.map(({ manifest }) => [manifest.name, tarball(manifest.name)]));
  const testkitDev = packages.find((p) => p.manifest.name === '@mcpmas/testkit')!.manifest.devDependencies!;
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      {
        name: 'mcpmas-pack-check-consumer',
        private: true,
        type: 'module',
        dependencies: {
          ...mcpmas,
          // What `@mcpmas/testkit/smtp` asks its users to add (optional peers), with their types.
          mailparser: testkitDev.mailparser,
          'smtp-server': testkitDev['smtp-server'],
          '@types/mailparser': testkitDev['@types/mailparser'],
          '@types/smtp-server': testkitDev['@types/smtp-server'],
          typescript: rootManifest.devDependencies.typescript,
          '@types/node': rootManifest.devDependencies['@types/node'],
        },
        // The packages' dependencies on each other resolve to these tarballs, not the registry.
        pnpm: { overrides: mcpmas },
      },
      null,
      2,
    ),
  );
  // No hoisting: a package sees only what it declares, as under any strict installer.
  writeFileSync(
    join(project, '.npmrc'),
    'hoist=false\nauto-install-peers=true\nstrict-peer-dependencies=false\n',
  );
  await sh(
    [...pnpm, 'install', '--ignore-scripts', '--prefer-offline', '--no-frozen-lockfile'],
    project,
    300_000,
  );
}, 360_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

/** The testkit's suites and Redis helpers use jest's globals as they load: inside jest only. */
const jestOnly = new Set(['@mcpmas/testkit', '@mcpmas/testkit/redis']);

/** Every subpath of every package's `exports` map, as an import specifier. */
function entryPoints(): string[] {
  const specifiers: string[] = [];
  for (const { manifest } of packages) {
    for (const subpath of Object.keys(manifest.exports ?? { '.': '' })) {
      if (subpath.endsWith('.json')) continue;
      specifiers.push(subpath === '.' ? manifest.name : `${manifest.name}${subpath.slice(1)}`);
    }
  }
  return specifiers;
}

describe('the packed packages, installed outside the monorepo', () => {
  it('compile under strict settings with skipLibCheck off, through every entry point', async () => {
    const specifiers = entryPoints();
    expect(specifiers.length).toBeGreaterThan(packages.length - 1);
    writeFileSync(
      join(project, 'entries.ts'),
      `${specifiers.map((s, i) => `import * as m${i} from '${s}';`).join('\n')}\n` +
        `export const counts = [${specifiers.map((_, i) => `Object.keys(m${i}).length`).join(', ')}];\n`,
    );
    writeFileSync(join(project, 'smoke.ts'), SMOKE);
    // CommonJS code compiled by TypeScript (`.cts`): its imports become require() calls.
    writeFileSync(
      join(project, 'commonjs.cts'),
      "import { createMemoryBackend } from '@mcpmas/core';\n" +
        "import { HttpTransport } from '@mcpmas/adapter-http';\n" +
        'console.log(typeof createMemoryBackend().queue.submit, typeof HttpTransport);\n',
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          types: ['node'],
          outDir: 'out',
        },
        files: ['entries.ts', 'smoke.ts', 'commonjs.cts'],
      }),
    );
    await sh(['node', join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project);
  }, 120_000);

  it('load in node, every entry point exporting something', async () => {
    const specifiers = entryPoints().filter((s) => !jestOnly.has(s));
    const script = `const counts = {};\nfor (const s of ${JSON.stringify(specifiers)}) counts[s] = Object.keys(await import(s)).length;\nconsole.log(JSON.stringify(counts));`;
    writeFileSync(join(project, 'load.mjs'), script);
    const out = await sh(['node', 'load.mjs'], project);
    const counts = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
    expect(Object.keys(counts)).toEqual(specifiers);
    expect(Object.entries(counts).filter(([, n]) => n === 0)).toEqual([]);
  }, 60_000);

  it('load through require() too, for CommonJS code (node 20.19 and later)', async () => {
    const specifiers = entryPoints().filter((s) => !jestOnly.has(s));
    const script = `const counts = {};\nfor (const s of ${JSON.stringify(specifiers)}) counts[s] = Object.keys(require(s)).length;\nconsole.log(JSON.stringify(counts));`;
    writeFileSync(join(project, 'require.cjs'), script);
    expect((await sh(['node', 'out/commonjs.cjs'], project)).trim()).toBe('function function');
    const out = await sh(['node', 'require.cjs'], project);
    const counts = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
    expect(Object.keys(counts)).toEqual(specifiers);
    expect(Object.entries(counts).filter(([, n]) => n === 0)).toEqual([]);
  }, 60_000);

  it('ship the sources their source maps and declaration maps point to', () => {
    const missing: string[] = [];
    let maps = 0;
    for (const { manifest } of packages) {
      const dir = realpathSync(join(project, 'node_modules', ...manifest.name.split('/')));
      const walk = (folder: string) => {
        for (const entry of readdirSync(folder, { withFileTypes: true })) {
          const path = join(folder, entry.name);
          if (entry.isDirectory()) walk(path);
          else if (entry.name.endsWith('.map')) {
            maps += 1;
            const { sources } = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[] };
            for (const source of sources) {
              if (!existsSync(join(folder, source))) missing.push(`${relative(dir, path)} -> ${source}`);
            }
          }
        }
      };
      walk(join(dir, 'dist'));
    }
    expect(maps).toBeGreaterThan(packages.length);
    expect(missing).toEqual([]);
  });

  it('run a task: a hub on HTTP and WebSocket, an agent over WebSocket, a client over HTTP', async () => {
    const out = await sh(['node', 'out/smoke.js'], project, 60_000);
    expect(out).toContain('succeeded {"echo":"hello"} over http, run by an agent on ws');
  }, 60_000);
});

/** The consumer's program, written against the installed packages only. */
const SMOKE = `import { HttpServerAdapter, HttpTransport } from '@mcpmas/adapter-http';
import { WsServerAdapter, WsTransport } from '@mcpmas/adapter-ws';
import { ModelAgent } from '@mcpmas/agent';
import { HubClient } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';

const http = new HttpServerAdapter({ port: 0 });
const ws = new WsServerAdapter({ port: 0 });
const hub = new Hub({ adapters: [http, ws] });
await hub.start();
const agent = new ModelAgent({
  transport: new WsTransport({ url: ws.address().url }),
  name: 'echo',
  skills: [{ id: 'echo', name: 'Echo' }],
  handler: (task) => ({ echo: task.payload }),
});
await agent.start();
const transport = new HttpTransport({ baseUrl: http.address().url });
await transport.start();
const client = new HubClient(transport);
const { task } = await client.submit({ capability: 'echo', payload: 'hello' });
const done = await client.get({ taskId: task.id, waitMs: 10_000 });
console.log(done.task.state, JSON.stringify(done.task.result), 'over http, run by an agent on ws');
await transport.stop();
await agent.stop();
await hub.stop();
`;
