import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createGrpcClient } from '@mcpmas/adapter-grpc';
import { createHttpClient } from '@mcpmas/adapter-http';
import { createWsClient } from '@mcpmas/adapter-ws';
import { verifyWebhookSignature } from '@mcpmas/notifier-webhook';
import { pino } from 'pino';
import { loadHubConfig, startHub } from '../src/index.js';

// In-process: startHub composes what a configuration names, exactly as the CLI does.
const quiet = pino({ level: 'silent' });
let hooks: Server;
let hookUrl: string;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/events`;
});

afterAll(async () => {
  hooks.closeAllConnections();
  await new Promise((resolve) => hooks.close(resolve));
});

describe('startHub', () => {
  it('serves HTTP with the configured keys and delivers events to the configured notifiers', async () => {
    const notifiers = JSON.stringify([
      { type: 'webhook', name: 'test-hook', url: hookUrl, secret: 'hook-secret' },
    ]);
    const { config } = loadHubConfig(
      ['--port', '0', '--grpc-port', '0', '--sweep-interval-ms', '50'],
      { MCPMAS_API_KEYS: 'ops:ops-secret-123:admin', MCPMAS_NOTIFIERS: notifiers },
      process.cwd(),
    );
    const running = await startHub(config, { logger: quiet });
    const client = createHttpClient({ baseUrl: running.url, apiKey: 'ops-secret-123' });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const anonymous = await fetch(`${running.url}/agent_status`);
      expect(anonymous.status).toBe(401);
      const { agentId } = await client.register({ name: 'notified', skills: [{ id: 'echo', name: 'Echo' }] });

      const deadline = Date.now() + 10_000;
      while (!received.some((r) => r.body.includes(agentId)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
      const hook = received.find((r) => r.body.includes(agentId));
      expect(hook).toBeDefined();
      expect(JSON.parse(hook!.body)).toMatchObject({ type: 'agent.registered' });
      const header = (name: string) => String(hook!.headers[name]);
      expect(
        verifyWebhookSignature({
          secret: 'hook-secret',
          body: hook!.body,
          timestamp: header('x-mcpmas-timestamp'),
          signature: header('x-mcpmas-signature'),
        }),
      ).toBe(true);
      const health = (await (await fetch(`${running.url}/healthz`)).json()) as { notifications: unknown[] };
      expect(health.notifications).toEqual([expect.objectContaining({ channel: 'test-hook' })]);
    } finally {
      await client.transport.stop();
      await running.stop();
    }
  });

  it('stops cleanly twice and refuses a busy port with a ConfigError', async () => {
    const { config } = loadHubConfig(['--port', '0', '--grpc-port', '0'], {}, process.cwd());
    const first = await startHub(config, { logger: quiet });
    const port = Number(new URL(first.url).port);
    await expect(startHub({ ...config, port }, { logger: quiet })).rejects.toMatchObject({ code: 'CONFIG' });
    await first.stop();
    await first.stop();
  });

  it('logs a retryable refusal (the hub shutting down) as a warning, without a stack', async () => {
    const lines: Array<{ level: number; msg: string; code?: string; err?: unknown }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const { config } = loadHubConfig(['--port', '0', '--grpc-port', '0'], {}, process.cwd());
    const running = await startHub(config, { logger });
    try {
      // Between the dispatcher closing and the HTTP server stopping, calls get a 503.
      running.hub.dispatcher.close();
      const res = await fetch(`${running.url}/task`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ capability: 'echo' }),
      });
      expect(res.status).toBe(503);
      const refused = lines.filter((l) => l.msg === 'request refused');
      expect(refused).toEqual([
        expect.objectContaining({
          level: 40,
          code: 'UNAVAILABLE',
          err: expect.stringMatching(/shutting down|closed/),
        }),
      ]);
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    } finally {
      await running.stop();
    }
  });

  it('serves gRPC over TLS from certificate files, and names a missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpmas-hub-tls-'));
    try {
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
      } catch {
        console.warn('skipped: openssl is not available to make a test certificate');
        return;
      }
      const argv = ['--port', '0', '--grpc-port', '0', '--grpc-tls-key', join(dir, 'key.pem')];
      const missing = loadHubConfig([...argv, '--grpc-tls-cert', join(dir, 'nope.pem')], {}, dir).config;
      await expect(startHub(missing, { logger: quiet })).rejects.toMatchObject({
        code: 'CONFIG',
        message: expect.stringContaining(`grpcTlsCert: cannot read ${join(dir, 'nope.pem')}: no such file`),
      });
      const { config } = loadHubConfig([...argv, '--grpc-tls-cert', join(dir, 'cert.pem')], {}, dir);
      const running = await startHub(config, { logger: quiet });
      try {
        expect(running.urls.grpc).toMatch(/^grpcs:\/\/127\.0\.0\.1:\d+$/);
        const client = await createGrpcClient({
          address: running.urls.grpc!.slice('grpcs://'.length),
          tls: { ca: readFileSync(join(dir, 'cert.pem')) },
        });
        try {
          expect(await client.agentsStatus()).toMatchObject({ agents: [] });
        } finally {
          await client.transport.stop();
        }
      } finally {
        await running.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves only the protocols asked for, WebSocket on a port of its own', async () => {
    const { config } = loadHubConfig(
      ['--protocols', 'ws,grpc', '--ws-port', '0', '--grpc-port', '0'],
      {},
      process.cwd(),
    );
    const running = await startHub(config, { logger: quiet });
    try {
      expect(Object.keys(running.urls).sort()).toEqual(['grpc', 'ws']);
      expect(running.urls.ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
      expect(running.url).toBe(running.urls.ws);
      const client = await createWsClient({ url: running.urls.ws!, reconnect: false });
      try {
        expect(await client.agentsStatus()).toMatchObject({ agents: [] });
      } finally {
        await client.transport.stop();
      }
    } finally {
      await running.stop();
    }
  });
});
