import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createGrpcClient } from '@mcpmas/adapter-grpc';
import { createHttpClient } from '@mcpmas/adapter-http';
import { createMcpClient } from '@mcpmas/adapter-mcp';
import { createWsClient } from '@mcpmas/adapter-ws';
import type { HubClient } from '@mcpmas/core';
import { AGENT_CLI, exitOf, HUB_CLI, killAll, type Proc, run, waitForLog } from './processes.js';

// Real processes: the built mcpmas-hub and mcpmas-agent talking HTTP on loopback.
const ADMIN_KEY = 'admin-secret-123';
const AGENT_KEY = 'agent-secret-123';
const API_KEYS = `admin:${ADMIN_KEY}:admin,workers:${AGENT_KEY}:agent:connect`;

const PROTOCOLS = ['http', 'ws', 'grpc', 'mcp'] as const;
type Protocol = (typeof PROTOCOLS)[number];

/** A loopback port nothing listens on (bound, then freed). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let cwd: string;
let hub: Proc;
let url: string;
let client: HubClient;

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'mcpmas-cli-'));
  hub = run(
    HUB_CLI,
    ['--port', '0', '--grpc-port', '0', '--heartbeat-interval-ms', '500', '--heartbeat-timeout-ms', '3000'],
    {
      cwd,
      env: { MCPMAS_API_KEYS: API_KEYS },
    },
  );
  const ready = await waitForLog(hub, 'hub ready');
  url = String(ready.url);
  client = createHttpClient({ baseUrl: url, apiKey: ADMIN_KEY });
});

afterAll(async () => {
  await client?.transport.stop();
  await killAll();
  rmSync(cwd, { recursive: true, force: true });
});

async function agentIds(): Promise<string[]> {
  const response = await fetch(`${url}/agent_status`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { agents: Array<{ id: string }> };
  return body.agents.map((a) => a.id);
}

describe('mcpmas-hub and mcpmas-agent as processes', () => {
  it('the hub logs one ready line with its bound URL and masks the keys', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toMatch(/:0$/);
    const loaded = hub.logs.find((log) => log.msg === 'configuration loaded')!;
    expect(loaded).toMatchObject({ name: 'mcpmas-hub', config: { apiKeys: '***', port: 0 } });
    expect(JSON.stringify(hub.logs)).not.toContain(ADMIN_KEY);
    expect(hub.logs.filter((log) => log.msg === 'hub ready')).toHaveLength(1);
  });

  it('an agent runs a task submitted over HTTP, then unregisters and exits 0 on SIGTERM', async () => {
    const agent = run(AGENT_CLI, ['--hub-url', url, '--skills', 'echo,shout', '--poll-wait-ms', '1000'], {
      cwd,
      env: { MCPMAS_API_KEY: AGENT_KEY, MCPMAS_AGENT_NAME: 'cli-agent', MCPMAS_CONCURRENCY: '2' },
    });
    const ready = await waitForLog(agent, 'agent ready');
    expect(ready).toMatchObject({
      name: 'cli-agent',
      skills: ['echo', 'shout'],
      handler: 'echo',
      concurrency: 2,
    });
    const agentId = String(ready.agentId);
    expect(await agentIds()).toContain(agentId);

    const { task } = await client.submit({
      capability: 'shout',
      payload: { hello: 'world' },
      priority: 'high',
    });
    const done = await client.get({ taskId: task.id, waitMs: 10_000 });
    expect(done.task.state).toBe('succeeded');
    expect(done.task.result).toEqual({ echo: { hello: 'world' }, agentId, attempt: 1 });
    await waitForLog(agent, 'task finished', 5000, (log) => log.taskId === task.id);

    agent.child.kill('SIGTERM');
    expect(await exitOf(agent)).toBe(0);
    expect(agent.logs.some((log) => log.msg === 'agent stopped')).toBe(true);
    expect(await agentIds()).not.toContain(agentId);
  });

  it('one hub process serves all four protocols: a client and an agent process on each', async () => {
    const ready = hub.logs.find((log) => log.msg === 'hub ready')!;
    const urls = ready.urls as Record<Protocol, string>;
    const port = new URL(url).port;
    expect(ready.protocols).toEqual(PROTOCOLS);
    expect(urls).toEqual({
      http: url,
      ws: `ws://127.0.0.1:${port}/ws`,
      grpc: expect.stringMatching(/^grpc:\/\/127\.0\.0\.1:\d+$/),
      mcp: `${url}/mcp`,
    });
    expect(urls.grpc).not.toMatch(/:(0|50051)$/);

    // One agent process per protocol, each with a skill of its own.
    const agents = PROTOCOLS.map((p) =>
      run(AGENT_CLI, ['--hub-url', urls[p], '--skills', `echo-${p}`, '--poll-wait-ms', '1000'], {
        cwd,
        env: { MCPMAS_API_KEY: AGENT_KEY, MCPMAS_AGENT_NAME: `${p}-agent` },
      }),
    );
    const readies = await Promise.all(agents.map((agent) => waitForLog(agent, 'agent ready')));
    PROTOCOLS.forEach((p, i) => {
      expect(readies[i]).toMatchObject({ name: `${p}-agent`, protocol: p, hubUrl: urls[p] });
    });

    // One client per protocol: each submits a task for every protocol's agent and waits for it.
    const clients: Record<Protocol, HubClient> = {
      http: client,
      ws: await createWsClient({ url: urls.ws, apiKey: ADMIN_KEY }),
      grpc: await createGrpcClient({ address: urls.grpc.slice('grpc://'.length), apiKey: ADMIN_KEY }),
      mcp: await createMcpClient({ url: urls.mcp, apiKey: ADMIN_KEY }),
    };
    try {
      const { agents: registered } = await clients.grpc.agentsStatus();
      PROTOCOLS.forEach((p, i) => {
        expect(registered.find((a) => a.id === readies[i]!.agentId)).toMatchObject({ protocol: p });
      });
      const results = await Promise.all(
        PROTOCOLS.flatMap((via) =>
          PROTOCOLS.map(async (to) => {
            const { task } = await clients[via].submit({ capability: `echo-${to}`, payload: { via, to } });
            const done = await clients[via].get({ taskId: task.id, waitMs: 10_000 });
            return { via, to, task: done.task };
          }),
        ),
      );
      for (const { via, to, task } of results) {
        const agentId = readies[PROTOCOLS.indexOf(to)]!.agentId;
        expect(task).toMatchObject({ state: 'succeeded', result: { echo: { via, to }, agentId } });
      }
    } finally {
      for (const p of ['ws', 'grpc', 'mcp'] as const) await clients[p].transport.stop();
    }
    for (const agent of agents) agent.child.kill('SIGTERM');
    expect(await Promise.all(agents.map((agent) => exitOf(agent)))).toEqual([0, 0, 0, 0]);
  }, 30_000);

  it('an agent given two hub URLs, the first dead, fails over to the second and works', async () => {
    const dead = await deadPort();
    const urls = hub.logs.find((log) => log.msg === 'hub ready')!.urls as Record<Protocol, string>;
    const agent = run(
      AGENT_CLI,
      [
        '--hub-url',
        `grpc://127.0.0.1:${dead},${urls.ws}`,
        '--skills',
        'failover',
        '--poll-wait-ms',
        '1000',
        '--failover-probe-ms',
        '500',
      ],
      { cwd, env: { MCPMAS_API_KEY: AGENT_KEY } },
    );
    const switched = await waitForLog(agent, 'hub endpoint switched');
    expect(switched).toMatchObject({ fromProtocol: 'grpc', toProtocol: 'ws', to: urls.ws });
    const ready = await waitForLog(agent, 'agent ready');
    expect(ready).toMatchObject({
      protocol: 'ws',
      hubUrl: urls.ws,
      endpoints: [`grpc://127.0.0.1:${dead}`, urls.ws],
    });
    const { task } = await client.submit({ capability: 'failover', payload: 'still here' });
    const done = await client.get({ taskId: task.id, waitMs: 10_000 });
    expect(done.task).toMatchObject({
      state: 'succeeded',
      result: { echo: 'still here', agentId: ready.agentId },
    });
    agent.child.kill('SIGTERM');
    expect(await exitOf(agent)).toBe(0);
  }, 30_000);

  it('an agent whose key the hub refuses exits 1', async () => {
    const agent = run(AGENT_CLI, ['--hub-url', url, '--api-key', 'wrong-key-123'], { cwd });
    expect(await exitOf(agent)).toBe(1);
    const fatal = await waitForLog(agent, 'agent failed to start');
    expect(JSON.stringify(fatal)).toContain('invalid API key');
  });

  it('a bad hub setting exits 2 naming the setting', async () => {
    const bad = run(HUB_CLI, ['--port', '0', '--grpc-port', '0'], {
      cwd,
      env: { MCPMAS_HEARTBEAT_INTERVAL_MS: '5000', MCPMAS_HEARTBEAT_TIMEOUT_MS: '4000' },
    });
    expect(await exitOf(bad)).toBe(2);
    expect(bad.stderr).toContain(
      'config error: heartbeatTimeoutMs (MCPMAS_HEARTBEAT_TIMEOUT_MS): must be greater than heartbeatIntervalMs',
    );
    expect(bad.stdout.join('')).toBe('');
  });

  it('an unknown flag exits 2', async () => {
    const bad = run(HUB_CLI, ['--porr', '1'], { cwd });
    expect(await exitOf(bad)).toBe(2);
    expect(bad.stderr).toContain('config error: unknown flag --porr (did you mean --port?)');
  });

  it('a port already in use exits 2 naming it', async () => {
    const port = new URL(url).port;
    const clash = run(HUB_CLI, ['--port', port, '--grpc-port', '0'], { cwd });
    expect(await exitOf(clash)).toBe(2);
    expect(JSON.stringify(clash.logs)).toContain(`cannot listen on 127.0.0.1:${port}`);
  });

  it('--help lists the settings and exits 0', async () => {
    const help = run(HUB_CLI, ['--help'], { cwd });
    expect(await exitOf(help)).toBe(0);
    const text = help.stdout.join('\n');
    expect(text).toContain('Usage: mcpmas-hub');
    expect(text).toContain('--heartbeat-timeout-ms <int>');
    expect(text).toContain('env: MCPMAS_REDIS_URL, REDIS_URL');
  });

  it('the hub stops cleanly on SIGTERM', async () => {
    hub.child.kill('SIGTERM');
    expect(await exitOf(hub)).toBe(0);
    expect(hub.logs.some((log) => log.msg === 'hub stopped')).toBe(true);
  });
});
