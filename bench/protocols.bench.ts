/**
 * pnpm bench:protocols — for each protocol (HTTP, WebSocket, gRPC, MCP):
 *
 * - reference: a bare echo server of the same protocol (node:http + undici; ws; a grpc-js
 *   generic unary method; the MCP SDK stack with an echo handler instead of the hub), measured
 *   in the same process: p50/p99 of one call, throughput with 64 calls in flight, CPU per call.
 * - hub: one task round trip — a client submits, an agent on the same protocol runs it (echo)
 *   and reports, the client's waiting `task.get` returns — p50/p99, tasks/s with 64 in flight,
 *   and CPU per protocol call (every call the hub's dispatcher served, counted by a plugin).
 *
 * Client, agent and servers share this process, for the reference as for the hub, so "CPU per
 * call" counts both ends alike. Targets (issue 4): hub CPU per call ≤ 2× the echo's on ws, HTTP
 * and gRPC; ws end-to-end p50 < 1 ms on the memory backend.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { GrpcServerAdapter, GrpcTransport } from '@mcpmas/adapter-grpc';
import { HttpServerAdapter, HttpTransport } from '@mcpmas/adapter-http';
import { createMcpHttpHandler, McpTransport, mountMcp } from '@mcpmas/adapter-mcp';
import { WsServerAdapter, WsTransport } from '@mcpmas/adapter-ws';
import { ModelAgent } from '@mcpmas/agent';
import { type AgentCommInterface, createMemoryBackend, HubClient } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import express from 'express';
import { Pool } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { percentile, row, since } from './stats.js';

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 300);
const TOTAL = Number(process.env.BENCH_TOTAL ?? 2000);
const IN_FLIGHT = 64;
const ONLY = process.env.BENCH_PROTOCOLS?.split(',');

interface Figures {
  p50: number;
  p99: number;
  perSecond: number;
  cpuUsPerCall: number;
}

type Call = () => Promise<unknown>;

/** Sequential latency, then throughput and CPU per call with IN_FLIGHT concurrent loops. */
async function measure(call: Call, callsPerOp: () => number): Promise<Figures> {
  for (let i = 0; i < 50; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const start = process.hrtime.bigint();
    await call();
    samples.push(since(start));
  }
  let next = 0;
  const before = callsPerOp();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next++ < TOTAL) await call();
    }),
  );
  const seconds = since(start) / 1000;
  const used = process.cpuUsage(cpu);
  const calls = callsPerOp() - before;
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    perSecond: TOTAL / seconds,
    cpuUsPerCall: (used.user + used.system) / calls,
  };
}

// ---------------------------------------------------------------------------------------
// Bare echo servers

async function echoHttp(): Promise<{ call: Call; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.concat(chunks)),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    connections: IN_FLIGHT,
  });
  const body = JSON.stringify({ capability: 'echo', payload: { n: 1 } });
  return {
    call: async () =>
      (
        await pool.request({
          method: 'POST',
          path: '/echo',
          body,
          headers: { 'content-type': 'application/json' },
        })
      ).body.json(),
    close: async () => {
      await pool.close();
      await new Promise((r) => server.close(r));
    },
  };
}

async function echoWs(): Promise<{ call: Call; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (s) => s.on('message', (data) => s.send(data)));
  await new Promise((r) => wss.once('listening', r));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await new Promise((r) => ws.once('open', r));
  const pending = new Map<number, (v: unknown) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id: number };
    pending.get(msg.id)?.(msg);
    pending.delete(msg.id);
  });
  let id = 0;
  return {
    call: () =>
      new Promise((resolve) => {
        const n = ++id;
        pending.set(n, resolve);
        ws.send(
          JSON.stringify({ type: 'call', id: n, op: 'echo', req: { capability: 'echo', payload: { n: 1 } } }),
        );
      }),
    close: async () => {
      ws.close();
      await new Promise((r) => wss.close(r));
    },
  };
}

async function echoGrpc(): Promise<{ call: Call; close(): Promise<void> }> {
  const json = {
    serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
    deserialize: (b: Buffer) => JSON.parse(b.toString()),
  };
  const definition = {
    echo: {
      path: '/bench.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: json.serialize,
      requestDeserialize: json.deserialize,
      responseSerialize: json.serialize,
      responseDeserialize: json.deserialize,
    },
  } satisfies grpc.ServiceDefinition;
  const server = new grpc.Server();
  server.addService(definition, {
    echo: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const Client = grpc.makeGenericClientConstructor(definition, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    echo(req: unknown, cb: (e: Error | null, v: unknown) => void): void;
    close(): void;
  };
  return {
    call: () =>
      new Promise((resolve, reject) =>
        client.echo({ capability: 'echo', payload: { n: 1 } }, (e, v) => (e ? reject(e) : resolve(v))),
      ),
    close: async () => {
      client.close();
      await new Promise<void>((r) => server.tryShutdown(() => r()));
    },
  };
}

async function echoMcp(): Promise<{ call: Call; close(): Promise<void> }> {
  // The same MCP SDK stack the hub uses, with an echo in place of the dispatcher.
  const endpoint = createMcpHttpHandler(async (_op, request) => ({ task: request }));
  const app = express();
  app.post('/mcp', endpoint.handler);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const transport = new McpTransport({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
  });
  await transport.start();
  return {
    call: () => transport.sendMessage('task.get', { taskId: 'echo' }),
    close: async () => {
      await transport.stop();
      await endpoint.close();
      await new Promise((r) => server.close(r));
    },
  };
}

// ---------------------------------------------------------------------------------------
// The hub

async function hubRoundTrip(protocol: string): Promise<Figures> {
  let calls = 0;
  const http = new HttpServerAdapter({ port: 0, mount: (app) => void mountMcp(app, hub.dispatcher) });
  const ws = new WsServerAdapter({ port: 0 });
  const grpcServer = new GrpcServerAdapter({ port: 0 });
  const hub: Hub = new Hub({
    adapters: [http, ws, grpcServer],
    backend: createMemoryBackend({ queue: { resultTtlMs: 5_000, maxTerminalTasks: 10_000 } }),
    plugins: [
      {
        name: 'count',
        around: (_call, next) => {
          calls += 1;
          return next();
        },
      },
    ],
  });
  await hub.start();
  const transport = (): AgentCommInterface => {
    switch (protocol) {
      case 'http':
        return new HttpTransport({ baseUrl: http.address().url, connections: IN_FLIGHT * 2 });
      case 'ws':
        return new WsTransport({ url: ws.address().url });
      case 'grpc':
        return new GrpcTransport({ address: grpcServer.address().address });
      default:
        return new McpTransport({ url: `${http.address().url}/mcp` });
    }
  };
  const agent = new ModelAgent({
    transport: transport(),
    name: `bench-${protocol}`,
    skills: [{ id: 'echo', name: 'Echo' }],
    concurrency: IN_FLIGHT,
    pollWaitMs: 5000,
    handler: (task) => task.payload,
  });
  await agent.start();
  const clientTransport = transport();
  await clientTransport.start();
  const client = new HubClient(clientTransport);
  const figures = await measure(
    async () => {
      const { task } = await client.submit({ capability: 'echo', payload: { n: 1 } });
      const done = await client.get({ taskId: task.id, waitMs: 10_000 });
      if (done.task.state !== 'succeeded') throw new Error(`task ended ${done.task.state}`);
    },
    () => calls,
  );
  await agent.stop();
  await clientTransport.stop();
  await hub.stop();
  return figures;
}

async function main() {
  console.log(
    `mcpmas bench:protocols — node ${process.version}; ${SEQUENTIAL} sequential, ${TOTAL} at ${IN_FLIGHT} in flight\n`,
  );
  const widths = [30, 9, 9, 10, 12, 11];
  console.log(row(['', 'p50 ms', 'p99 ms', 'per s', 'CPU µs/call', 'CPU ratio'], widths));
  const echoes: Record<string, () => Promise<{ call: Call; close(): Promise<void> }>> = {
    http: echoHttp,
    ws: echoWs,
    grpc: echoGrpc,
    mcp: echoMcp,
  };
  for (const protocol of Object.keys(echoes)) {
    if (ONLY && !ONLY.includes(protocol)) continue;
    const echo = await echoes[protocol]!();
    let echoCalls = 0;
    const raw = await measure(
      async () => {
        echoCalls += 1;
        await echo.call();
      },
      () => echoCalls,
    );
    await echo.close();
    const hub = await hubRoundTrip(protocol);
    console.log(
      row(
        [
          `${protocol}: bare echo (reference)`,
          raw.p50,
          raw.p99,
          Math.round(raw.perSecond),
          raw.cpuUsPerCall,
          '1.00',
        ],
        widths,
      ),
    );
    console.log(
      row(
        [
          `${protocol}: hub task round trip`,
          hub.p50,
          hub.p99,
          Math.round(hub.perSecond),
          hub.cpuUsPerCall,
          (hub.cpuUsPerCall / raw.cpuUsPerCall).toFixed(2),
        ],
        widths,
      ),
    );
  }
  console.log(
    '\nper s: echo calls or hub tasks per second; CPU per call: process CPU / protocol calls served.',
  );
}

await main();
