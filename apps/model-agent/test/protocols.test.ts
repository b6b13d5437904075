import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GrpcServerAdapter } from '@mcpmas/adapter-grpc';
import { HttpServerAdapter } from '@mcpmas/adapter-http';
import { type McpHttpEndpoint, mountMcp } from '@mcpmas/adapter-mcp';
import { WsServerAdapter } from '@mcpmas/adapter-ws';
import { type CallContext, createMemoryBackend, type ServerAdapter } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import { pino } from 'pino';
import { type AgentProtocol, loadAgentConfig, type RunningAgent, startAgent } from '../src/index.js';

// In-process: one hub serving HTTP, MCP, WebSocket and gRPC, and agents started from
// configurations exactly as the CLI starts them, one protocol (or a list of URLs) each.
const ctx: CallContext = { protocol: 'test' };
const quiet = pino({ level: 'silent' });
let hub: Hub;
let mcp: McpHttpEndpoint | undefined;
let urls: Record<AgentProtocol, string>;
const running: RunningAgent[] = [];

function newHub(adapters: ServerAdapter[]): Hub {
  return new Hub({ backend: createMemoryBackend(), adapters, logger: quiet });
}

/** A loopback port nothing listens on (bound, then freed). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  const http = new HttpServerAdapter({
    port: 0,
    mount: (app) => {
      mcp = mountMcp(app, hub.dispatcher);
    },
  });
  const ws = new WsServerAdapter({ port: 0, path: '/ws' });
  const grpc = new GrpcServerAdapter({ port: 0 });
  hub = newHub([http, ws, grpc]);
  await hub.start();
  urls = {
    http: http.address().url,
    ws: ws.address().url,
    grpc: `grpc://${grpc.address().address}`,
    mcp: `${http.address().url}/mcp`,
  };
});

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await mcp?.close();
  await hub.stop();
});

async function agentFor(argv: string[]): Promise<RunningAgent> {
  const { config } = loadAgentConfig([...argv, '--poll-wait-ms', '500'], {}, process.cwd());
  const agent = await startAgent(config, { logger: quiet });
  running.push(agent);
  return agent;
}

async function runTask(capability: string, payload: unknown, on: Hub = hub) {
  const { task } = await on.dispatcher.call('task.submit', { capability, payload }, ctx);
  return (await on.dispatcher.call('task.get', { taskId: task.id, waitMs: 10_000 }, ctx)).task;
}

describe('an agent on each protocol', () => {
  it.each(['http', 'ws', 'grpc', 'mcp'] as const)('%s', async (protocol) => {
    const agent = await agentFor(['--hub-url', urls[protocol], '--skills', `on-${protocol}`]);
    const { agents } = await hub.dispatcher.call('agents.status', {}, ctx);
    expect(agents.find((a) => a.id === agent.agentId)).toMatchObject({ protocol });
    const task = await runTask(`on-${protocol}`, { protocol });
    expect(task).toMatchObject({
      state: 'succeeded',
      result: { echo: { protocol }, agentId: agent.agentId },
    });
    await agent.stop();
    const after = await hub.dispatcher.call('agents.status', {}, ctx);
    expect(after.agents.map((a) => a.id)).not.toContain(agent.agentId);
  });

  it('an explicit protocol setting agrees with the URL', async () => {
    const agent = await agentFor(['--hub-url', urls.mcp, '--protocol', 'mcp', '--skills', 'explicit-mcp']);
    const { agents } = await hub.dispatcher.call('agents.status', {}, ctx);
    expect(agents.find((a) => a.id === agent.agentId)).toMatchObject({ protocol: 'mcp' });
    await agent.stop();
  });
});

describe('several hub URLs: failover in order of preference', () => {
  it('with the first endpoint dead, the agent registers and works over the second', async () => {
    const dead = await freePort();
    const agent = await agentFor([
      '--hub-url',
      `http://127.0.0.1:${dead},${urls.grpc}`,
      '--skills',
      'failover-1',
      '--failover-probe-ms',
      '200',
    ]);
    const { agents } = await hub.dispatcher.call('agents.status', {}, ctx);
    expect(agents.find((a) => a.id === agent.agentId)).toMatchObject({ protocol: 'grpc' });
    const task = await runTask('failover-1', 'via grpc');
    expect(task).toMatchObject({ state: 'succeeded', result: { echo: 'via grpc', agentId: agent.agentId } });
    await agent.stop();
  });

  it('moves to another hub when its hub goes away, without losing the tasks', async () => {
    // A second hub on a port of its own; the agent prefers it, then it stops.
    const port = await freePort();
    const second = newHub([new HttpServerAdapter({ port })]);
    await second.start();
    const agent = await agentFor([
      '--hub-url',
      `http://127.0.0.1:${port},${urls.ws}`,
      '--skills',
      'failover-2',
      '--failover-probe-ms',
      '200',
      '--request-timeout-ms',
      '2000',
    ]);
    expect(await runTask('failover-2', 'first', second)).toMatchObject({ state: 'succeeded' });
    await second.stop();
    const task = await runTask('failover-2', 'second');
    expect(task).toMatchObject({ state: 'succeeded', result: { echo: 'second', agentId: agent.agentId } });
    await agent.stop();
  });
});

describe('MCP with the hub not up yet', () => {
  it('keeps retrying instead of failing at start, and registers once the hub answers', async () => {
    const port = await freePort();
    const { config } = loadAgentConfig(
      ['--hub-url', `http://127.0.0.1:${port}/mcp`, '--skills', 'late', '--poll-wait-ms', '500'],
      {},
      process.cwd(),
    );
    const starting = startAgent(config, { logger: quiet });
    await new Promise((r) => setTimeout(r, 300));
    let mounted: McpHttpEndpoint | undefined;
    let late: Hub | undefined;
    const http = new HttpServerAdapter({
      port,
      mount: (app) => {
        mounted = mountMcp(app, late!.dispatcher);
      },
    });
    late = newHub([http]);
    await late.start();
    try {
      const agent = await starting;
      running.push(agent);
      expect(await runTask('late', 'hello', late)).toMatchObject({
        state: 'succeeded',
        result: { agentId: agent.agentId },
      });
      await agent.stop();
    } finally {
      await mounted?.close();
      await late.stop();
    }
  }, 20_000);
});

describe('gRPC over TLS', () => {
  let dir: string;
  let cert: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpmas-agent-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore', timeout: 10_000 },
      );
      cert = join(dir, 'cert.pem');
    } catch {
      cert = undefined; // no openssl: the test below says so
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('connects to grpcs:// trusting the CA file it is given', async () => {
    if (!cert) {
      console.warn('skipped: openssl is not available to make a test certificate');
      return;
    }
    const grpc = new GrpcServerAdapter({
      port: 0,
      tls: { cert: readFileSync(cert), key: readFileSync(join(dir, 'key.pem')) },
    });
    const tlsHub = newHub([grpc]);
    await tlsHub.start();
    try {
      const agent = await agentFor([
        '--hub-url',
        `grpcs://${grpc.address().address}`,
        '--grpc-tls-ca',
        cert,
        '--skills',
        'secure',
      ]);
      expect(await runTask('secure', 'over tls', tlsHub)).toMatchObject({
        state: 'succeeded',
        result: { echo: 'over tls', agentId: agent.agentId },
      });
      await agent.stop();
    } finally {
      await tlsHub.stop();
    }
  });
});
