/**
 * A stock MCP client lists and calls the hub's tools: the MCP Inspector CLI from the npm
 * registry (`@modelcontextprotocol/inspector`, `--cli` mode), run as a child process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TOOL_NAMES } from '../src/index.js';
import { KEYS, startHub, type TestHub } from './helpers.js';

const require = createRequire(import.meta.url);
const manifestPath = require.resolve('@modelcontextprotocol/inspector/package.json');
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};
const inspectorBin = join(dirname(manifestPath), manifest.bin['mcp-inspector']!);

let hub: TestHub;
let home: string;
beforeAll(async () => {
  hub = await startHub();
  home = mkdtempSync(join(tmpdir(), 'mcpmas-inspector-'));
});
afterAll(async () => {
  await hub.close();
  rmSync(home, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mcp-inspector --cli <hub> …` and collects its output. */
function inspector(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [inspectorBin, '--cli', hub.mcpUrl, ...args],
      {
        timeout: 60_000,
        // Keep the Inspector's catalog and config out of the real home directory.
        env: { ...process.env, HOME: home, MCP_CATALOG_PATH: join(home, 'mcp.json') },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const auth = ['--header', `Authorization: Bearer ${KEYS.admin}`];

describe(`MCP Inspector CLI ${manifest.version}`, () => {
  it('lists every tool with its input and output schema', async () => {
    const run = await inspector('--method', 'tools/list');
    expect(run.code).toBe(0);
    const { tools } = JSON.parse(run.stdout) as {
      tools: Array<{ name: string; inputSchema: { type: string }; outputSchema?: { type: string } }>;
    };
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
    for (const tool of tools) {
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.outputSchema?.type).toBe('object');
    }
  }, 60_000);

  it('calls submit_task and get_task_result with an API key', async () => {
    const submitted = await inspector(
      '--method',
      'tools/call',
      '--tool-name',
      'submit_task',
      '--tool-arg',
      'capability=inspected',
      '--tool-arg',
      'payload={"from":"inspector"}',
      '--tool-arg',
      'priority=high',
      ...auth,
    );
    expect(submitted.code).toBe(0);
    const { structuredContent } = JSON.parse(submitted.stdout) as {
      structuredContent: { task: { id: string; state: string; priority: number; payload: unknown } };
    };
    expect(structuredContent.task).toMatchObject({
      state: 'queued',
      priority: 10,
      payload: { from: 'inspector' },
    });
    expect((await hub.backend.queue.get(structuredContent.task.id))?.capability).toBe('inspected');

    const got = await inspector(
      '--method',
      'tools/call',
      '--tool-name',
      'get_task_result',
      '--tool-arg',
      `taskId=${structuredContent.task.id}`,
      ...auth,
    );
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({
      structuredContent: { task: { id: structuredContent.task.id } },
    });
  }, 60_000);

  it('sees a refused call as a tool error naming UNAUTHENTICATED', async () => {
    const run = await inspector('--method', 'tools/call', '--tool-name', 'list_agents');
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/UNAUTHENTICATED/);
    expect(run.stdout + run.stderr).toMatch(/isError/);
  }, 60_000);

  it('reads the agent list resource', async () => {
    const run = await inspector('--method', 'resources/read', '--uri', 'mcpmas://agents', ...auth);
    expect(run.code).toBe(0);
    const { contents } = JSON.parse(run.stdout) as { contents: Array<{ text: string }> };
    expect(JSON.parse(contents[0]!.text)).toHaveProperty('agents');
  }, 60_000);
});
